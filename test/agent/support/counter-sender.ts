/**
 * DogStatsD load for the agent tests that count what was sent against what the intake stored:
 * packets of `linesPerPacket` `metric:1|c` lines, one every `intervalMs`, over UDP to 127.0.0.1.
 */
import dgram from 'node:dgram';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts sending until stopped; `sent` counts the lines (counts) sent. `port` may be a function,
 * read before each packet, for an agent that is restarted on a new port.
 */
export function counterSender(port: number | (() => number), metric: string, options: { linesPerPacket?: number; intervalMs?: number } = {}) {
  const { linesPerPacket = 1, intervalMs = 50 } = options;
  const portNow = typeof port === 'function' ? port : () => port;
  const socket = dgram.createSocket('udp4');
  const packet = Array.from({ length: linesPerPacket }, () => `${metric}:1|c`).join('\n');
  let sent = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await new Promise<void>((resolve) => socket.send(packet, portNow(), '127.0.0.1', () => resolve()));
      sent += linesPerPacket;
      await sleep(intervalMs);
    }
  })();
  return {
    get sent() {
      return sent;
    },
    /** Idempotent: also registered with t.after so a failing test never hangs. */
    async stop() {
      if (!running) return;
      running = false;
      await loop;
      await sleep(50);
      socket.close();
    },
  };
}
