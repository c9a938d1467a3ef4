/**
 * Replacing a file so that a crash at any moment leaves either the old or the new content,
 * never an empty or partial file: write a temp file in the same directory, fsync it, rename
 * it over the target (atomic within one file system), then fsync the directory so the rename
 * itself survives a power cut. The new file keeps the old one's mode and owner; if the owner
 * cannot be kept (not root), nothing is replaced.
 *
 * @example
 *   await writeFileAtomic('/etc/datadog-agent/datadog.yaml', bytes);
 */
import { constants, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { rekeyError } from '../errors.js';

export interface WriteAtomicOptions {
  /** Mode for the new file; default: the existing file's mode (0o600 for a new file). */
  mode?: number;
  /** Owner for the new file; default: the existing file's owner. */
  uid?: number;
  gid?: number;
}

export async function writeFileAtomic(file: string, data: Buffer, options: WriteAtomicOptions = {}): Promise<void> {
  const existing = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  const mode = options.mode ?? (existing ? existing.mode & 0o7777 : 0o600);
  const uid = options.uid ?? existing?.uid;
  const gid = options.gid ?? existing?.gid;
  const dir = dirname(file);
  const temp = join(dir, `.${basename(file)}.rekey-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  // 'wx': never follow or reuse an existing path; the mode is set at creation so the secret
  // is never readable by others, even for a moment.
  const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode & 0o700);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // after creation: the umask may have narrowed `mode`
    if (uid !== undefined && gid !== undefined && (uid !== process.getuid?.() || gid !== process.getgid?.())) {
      try {
        await handle.chown(uid, gid);
      } catch (error) {
        throw rekeyError(
          'CONFIG_WRITE_FAILED',
          { file, reason: `cannot keep its owner (uid ${uid}, gid ${gid}): run as root or as that user` },
          { cause: error },
        );
      }
    }
    await handle.sync();
    await handle.close();
    await fs.rename(temp, file);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dir);
}

/** fsync of a directory makes a rename in it durable; Windows cannot open directories, skip. */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
