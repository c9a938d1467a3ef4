/**
 * `<run path>/open-buckets.json`: the DogStatsD buckets still open when the agent stopped
 * gracefully, so the next start continues them instead of starting them again at zero.
 *
 * Why: a bucket's points all carry the bucket's start as timestamp, and the intake keeps the
 * newest write of a point. If a restarted agent began an open bucket from zero, its total
 * (say 5000) would replace the count the stopped agent had sent for the same timestamp
 * (3000): 3000 counts lost. With the file, the restarted agent sends 8000, which replaces the
 * 3000 it had sent: every count once.
 *
 * The file is written atomically (src/config/atomic-write.ts) and consumed
 * exactly once: it is deleted as soon as it has been read, so a second start can never add
 * the same counts again.
 */
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../config/atomic-write.js';
import type { BucketSnapshot } from './dogstatsd-aggregator.js';

export const OPEN_BUCKETS_FILE = 'open-buckets.json';

/** Writes the snapshot; rejects when the run path refuses it. */
export async function saveOpenBuckets(runPath: string, snapshot: BucketSnapshot): Promise<void> {
  const file = join(runPath, OPEN_BUCKETS_FILE);
  await writeFileAtomic(file, JSON.stringify(snapshot), { mode: 0o600 });
}

/**
 * Reads and deletes the snapshot. Returns null when there is none; throws when it is
 * unreadable or cannot be deleted (then it must not be used: a later start would add it again).
 */
export async function takeOpenBuckets(runPath: string): Promise<BucketSnapshot | null> {
  const file = join(runPath, OPEN_BUCKETS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  await unlink(file);
  let snapshot: BucketSnapshot;
  try {
    snapshot = JSON.parse(text) as BucketSnapshot;
  } catch {
    // Not JSON.parse's message: it quotes the file's text, and a log must never carry a key.
    throw new Error(`${OPEN_BUCKETS_FILE} is not valid JSON (damaged); ignored`);
  }
  if (snapshot?.version !== 1 || !Array.isArray(snapshot.buckets)) throw new Error(`${OPEN_BUCKETS_FILE} has an unknown format`);
  return snapshot;
}
