/**
 * Payloads the upstream refused for good (400, 413 and other answers that a retry cannot
 * change): kept as one JSON file each in `<spool>/dead-letters/` for 7 days, so an operator can
 * see what was refused and why (`rekey upstream dead-letters`), and counted
 * (`rekey_relay_dead_letters_total`). Never the agent's key: it was dropped on arrival.
 */
import { mkdirSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpooledPayload } from './spool-record.js';

export const DEAD_LETTER_RETENTION_MS = 7 * 24 * 3600 * 1000;
export const DEAD_LETTERS_DIR_NAME = 'dead-letters';

export interface DeadLetter {
  id: string;
  orgId: string;
  path: string;
  receivedAt: string;
  refusedAt: string;
  /** The upstream's status, and the first KiB of its answer. */
  status: number;
  answer: string;
  headers: Array<[string, string]>;
  bodyBytes: number;
  /** The body as the agent sent it (still compressed), base64. */
  body: string;
}

export class DeadLetters {
  private readonly dir: string;

  constructor(
    spoolDir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = join(spoolDir, DEAD_LETTERS_DIR_NAME);
  }

  add(payload: SpooledPayload, status: number, answer: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const at = this.now();
    const letter: DeadLetter = {
      id: payload.id,
      orgId: payload.orgId,
      path: payload.path,
      receivedAt: new Date(payload.receivedAt).toISOString(),
      refusedAt: new Date(at).toISOString(),
      status,
      answer: answer.slice(0, 1024),
      headers: payload.headers,
      bodyBytes: payload.body.length,
      body: payload.body.toString('base64'),
    };
    writeFileSync(join(this.dir, `${String(at).padStart(15, '0')}-${payload.id}.json`), JSON.stringify(letter), { mode: 0o600 });
  }

  /** Deletes letters older than 7 days; returns how many. */
  sweep(): number {
    let deleted = 0;
    for (const name of this.names()) {
      const at = Number(name.split('-')[0]);
      if (Number.isFinite(at) && this.now() - at > DEAD_LETTER_RETENTION_MS) {
        try {
          unlinkSync(join(this.dir, name));
          deleted += 1;
        } catch {
          // Tried again at the next sweep.
        }
      }
    }
    return deleted;
  }

  /** Oldest first. */
  list(): DeadLetter[] {
    const letters: DeadLetter[] = [];
    for (const name of this.names()) {
      try {
        letters.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as DeadLetter);
      } catch {
        // A letter being written, or removed meanwhile.
      }
    }
    return letters;
  }

  count(): number {
    return this.names().length;
  }

  private names(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((name) => name.endsWith('.json') && statSync(join(this.dir, name)).isFile())
        .sort();
    } catch {
      return [];
    }
  }
}
