/**
 * Live progress of a rotation on stderr (stdout stays clean for --json): on a TTY one status
 * line redrawn in place plus a line per failure; elsewhere a plain line per host event, which
 * reads well in CI logs.
 */
export interface Progress {
  hostEvent(host: string, event: string, detail?: string): void;
  counts(counts: { total: number; deployed: number; verified: number; failed: number }): void;
  message(text: string): void;
  close(): void;
}

export const silentProgress: Progress = {
  hostEvent: () => undefined,
  counts: () => undefined,
  message: () => undefined,
  close: () => undefined,
};

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) {
    return {
      hostEvent: (host, event, detail) => stream.write(`${host}: ${event}${detail ? ` (${detail})` : ''}\n`),
      counts: () => undefined,
      message: (text) => stream.write(`${text}\n`),
      close: () => undefined,
    };
  }
  let status = '';
  let lastDraw = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return; // at most 10 redraws a second
    lastDraw = now;
    stream.write(`\r\x1b[K${status}`);
  };
  const above = (line: string) => {
    stream.write(`\r\x1b[K${line}\n`);
    draw(true);
  };
  return {
    hostEvent: (host, event, detail) => {
      if (event === 'failed' || event === 'rolled back' || event === 'rollback failed') above(`✗ ${host}: ${event}${detail ? ` — ${detail}` : ''}`);
    },
    counts: ({ total, deployed, verified, failed }) => {
      const width = 24;
      const done = total === 0 ? width : Math.round(((verified + failed) / total) * width);
      status = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${verified}/${total} verified, ${deployed} deployed, ${failed} failed`;
      draw();
    },
    message: (text) => above(text),
    close: () => {
      draw(true);
      stream.write('\n');
    },
  };
}
