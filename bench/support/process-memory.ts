/**
 * A process's memory as Linux accounts it (`/proc/<pid>/status`): VmRSS now and VmHWM, the
 * peak resident set since the process started — what an operator's monitoring and the OOM
 * killer see, not the V8 heap the process reports about itself.
 */
import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  /** Resident set now, in MiB. */
  rssMiB: number;
  /** Peak resident set since the process started ("high water mark"), in MiB. */
  peakMiB: number;
}

export function processMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]);
  };
  return { rssMiB: Math.round((kib('VmRSS') / 1024) * 10) / 10, peakMiB: Math.round((kib('VmHWM') / 1024) * 10) / 10 };
}
