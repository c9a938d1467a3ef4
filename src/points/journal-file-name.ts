/**
 * The names of the intake journal's files (point-journal.ts) and how a start claims the file of
 * a process that no longer runs, or one copied in by hand, by renaming it to carry its own pid:
 * of two processes starting at once on one directory, only one rename succeeds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export const SUFFIX = '.journal';

/**
 * A journal file's name: `<time>-<pid>-<rest>` as the writer named it, or
 * `<time>-<pid>-from<writer pid>.<rest>` once claimed (`claim`), or
 * `000000000000000-<pid>-fromhand.<label>` for a file copied in by hand once claimed; `rest`
 * ends in `.journal`. Time and pid are digits, as rekey writes them (Date.now(), process.pid).
 * A name that does not match was copied in by hand: it has no owner, so it is never skipped as
 * a live process's, and it is claimed like a dead process's file.
 */
export const JOURNAL_NAME = /^(\d+)-(\d+)-(from(?:\d+|hand)\.)?(.+)$/s;

/** The time field of a file copied in by hand, once claimed: it has no time of its own, and is read first, as the oldest. */
const HAND_TIME = '0'.repeat(15);
/**
 * The most bytes of a hand-named file's name kept in its claimed name. With the longest prefix
 * (15-digit time, a 7-digit pid — Linux's pid_max is at most 4,194,304 — and `fromhand.`) the
 * claimed name stays under NAME_MAX (255 bytes), however often it is claimed.
 */
const HAND_LABEL_BYTES = 200;

/** The longest file name most Linux file systems take, in bytes. */
const NAME_MAX = 255;

/** The `~<8 hex>` claim() adds when a name of its own pid is taken. */
const TAG_BYTES = 9;

/**
 * Renames a dead process's file to `<time>-<this pid>-from<writer pid>.<rest>`, or a file
 * copied in by hand (no `JOURNAL_NAME`) to `000000000000000-<this pid>-fromhand.<its name>`,
 * and returns the new path; throws ENOENT when another process claimed it first. The time
 * stays first, so files still sort oldest first; the name still ends in `.journal`; and the
 * writer's pid (or the hand-given name) stays in the name, so a claimed name is as unique as
 * the name the file had. A file claimed before (its claimer died too, as in a crash loop) keeps
 * its one `from<writer>` or `fromhand.`: only the claimer's pid changes. Adding a `from` per
 * claim grew the name until, some 20 crash loops later, the rename failed ENAMETOOLONG and the
 * server could not start; keeping the last claimer's pid instead could give two files one
 * name, and rename() would replace one with the other (a hostile try, 2026-12-02).
 *
 * Files copied in by hand are claimed too: read where they were, two servers starting at once
 * on one data directory both read and saved them (a hostile try, 2026-12-02). A hand-given name
 * longer than HAND_LABEL_BYTES keeps its start and gets a hash of the whole name, so two long
 * names that differ only at their end still get two claimed names.
 */
export function claim(dir: string, name: string, parts: RegExpExecArray | null): string {
  let claimed: string;
  if (parts === null) claimed = `${HAND_TIME}-${process.pid}-fromhand.${handLabel(name)}`;
  else {
    const [, time, pid, writer, rest] = parts;
    claimed = `${time}-${process.pid}-${writer ?? `from${pid}.`}${rest}`;
    // A long name shaped like rekey's but not given by it (rekey's are ~45 bytes): claimed like
    // a hand-named file, with a bounded name. Its claimed name overran NAME_MAX and the rename
    // failed ENAMETOOLONG at every start (a hostile try, 2026-12-02).
    if (Buffer.byteLength(claimed) > NAME_MAX - TAG_BYTES) claimed = `${HAND_TIME}-${process.pid}-fromhand.${handLabel(name)}`;
  }
  // Only this process gives names with its pid, so a name taken here stays taken until the
  // rename: one of this pid's earlier life (after a container restart) must not be replaced.
  while (existsSync(join(dir, claimed))) claimed = `${claimed.slice(0, -SUFFIX.length)}~${randomBytes(4).toString('hex')}${SUFFIX}`;
  renameSync(join(dir, name), join(dir, claimed));
  return join(dir, claimed);
}

/** A hand-given name as it is kept in its claimed name: whole, or its start, `~`, a hash of it and `.journal`. */
function handLabel(name: string): string {
  if (Buffer.byteLength(name) <= HAND_LABEL_BYTES) return name;
  const hash = `~${createHash('sha256').update(name).digest('hex').slice(0, 16)}${SUFFIX}`;
  let start = '';
  for (const char of name.slice(0, -SUFFIX.length)) {
    if (Buffer.byteLength(start + char) > HAND_LABEL_BYTES - hash.length) break;
    start += char;
  }
  return start + hash;
}
