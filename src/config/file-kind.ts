/**
 * What a directory entry is, in words, for an error that says why it cannot be used where a
 * regular file belongs (the intake journal's files, pid locks).
 */
import type { Stats } from 'node:fs';

export function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a file';
}
