/**
 * Whether a process with `pid` exists on this machine: `kill(pid, 0)` sends nothing and only
 * checks. EPERM means it exists but belongs to another user — still alive. Used wherever a file
 * names the process that owns it (temp files of atomic writes, journal segments, the drain
 * lock, the agent's pid file) to tell a live owner from one that was killed.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
