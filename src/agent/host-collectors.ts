/**
 * The agent's host checks: `system.cpu.*`, `system.mem.*`, `system.load.*`, `system.disk.*`,
 * `system.net.*` and `system.uptime`, read from `/proc` where it exists (Linux) and from
 * Node's `os` module elsewhere, with the names and units of the Datadog Agent's system checks.
 *
 * CPU and network are deltas: the first collection only records a baseline, so they appear
 * from the second flush on.
 */
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import type { Series } from './series.js';

interface CpuTimes {
  user: number;
  system: number;
  idle: number;
  iowait: number;
  total: number;
}

const IGNORED_FILESYSTEMS = new Set([
  'proc',
  'sysfs',
  'devtmpfs',
  'devpts',
  'cgroup',
  'cgroup2',
  'securityfs',
  'pstore',
  'debugfs',
  'tracefs',
  'mqueue',
  'hugetlbfs',
  'fusectl',
  'configfs',
  'bpf',
  'autofs',
  'binfmt_misc',
  'nsfs',
  'rpc_pipefs',
  'squashfs',
]);

export class HostCollectors {
  private previousCpu: CpuTimes | null = null;
  private previousNet: { at: number; rcvd: number; sent: number } | null = null;

  constructor(private readonly procRoot = '/proc') {}

  /** Collects every host metric at `nowMs`; a failing collector is skipped, never fatal. */
  async collect(nowMs: number, host: string, tags: string[]): Promise<Series[]> {
    const ts = Math.floor(nowMs / 1000);
    const values: Array<[string, number, string[]?]> = [];
    const parts = await Promise.allSettled([this.cpu(), this.memory(), this.disks(), this.network(nowMs)]);
    for (const part of parts) if (part.status === 'fulfilled') values.push(...part.value);
    const [one, five, fifteen] = os.loadavg();
    values.push(['system.load.1', one!], ['system.load.5', five!], ['system.load.15', fifteen!]);
    values.push(['system.uptime', os.uptime()]);
    return values.map(([metric, value, extraTags]) => ({
      metric,
      points: [[ts, round(value)]],
      type: 'gauge',
      host,
      tags: extraTags ? [...tags, ...extraTags] : tags,
    }));
  }

  /** Percent of CPU time since the last call, over all cores. */
  private async cpu(): Promise<Array<[string, number]>> {
    const now = await this.cpuTimes();
    const before = this.previousCpu;
    this.previousCpu = now;
    if (before === null || now.total <= before.total) return [];
    const span = now.total - before.total;
    const pct = (field: keyof CpuTimes) => (100 * (now[field] - before[field])) / span;
    return [
      ['system.cpu.user', pct('user')],
      ['system.cpu.system', pct('system')],
      ['system.cpu.idle', pct('idle')],
      ['system.cpu.iowait', pct('iowait')],
    ];
  }

  private async cpuTimes(): Promise<CpuTimes> {
    const stat = await readFile(`${this.procRoot}/stat`, 'utf8').catch(() => null);
    const line = stat?.split('\n').find((l) => l.startsWith('cpu '));
    if (line) {
      // cpu user nice system idle iowait irq softirq steal guest guest_nice (USER_HZ ticks)
      const n = line.trim().split(/\s+/).slice(1).map(Number);
      const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = n;
      return { user: user + nice, system: system + irq + softirq, idle, iowait, total: user + nice + system + idle + iowait + irq + softirq + steal };
    }
    const totals = { user: 0, system: 0, idle: 0, iowait: 0, total: 0 };
    for (const cpu of os.cpus()) {
      const t = cpu.times;
      totals.user += t.user + t.nice;
      totals.system += t.sys + t.irq;
      totals.idle += t.idle;
      totals.total += t.user + t.nice + t.sys + t.irq + t.idle;
    }
    return totals;
  }

  /** Memory in MB, as the Datadog Agent reports it. */
  private async memory(): Promise<Array<[string, number]>> {
    const MB = 1024 * 1024;
    let total = os.totalmem();
    let free = os.freemem();
    let usable = free;
    const meminfo = await readFile(`${this.procRoot}/meminfo`, 'utf8').catch(() => null);
    if (meminfo !== null) {
      const kb = (name: string) => {
        const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(meminfo);
        return match ? Number(match[1]) * 1024 : undefined;
      };
      total = kb('MemTotal') ?? total;
      free = kb('MemFree') ?? free;
      usable = kb('MemAvailable') ?? free + (kb('Buffers') ?? 0) + (kb('Cached') ?? 0);
    }
    return [
      ['system.mem.total', total / MB],
      ['system.mem.free', free / MB],
      ['system.mem.used', (total - free) / MB],
      ['system.mem.usable', usable / MB],
      ['system.mem.pct_usable', total > 0 ? usable / total : 0],
    ];
  }

  /** Every mounted real file system, tagged `device:` and `mount:`; sizes in KB. */
  private async disks(): Promise<Array<[string, number, string[]]>> {
    const mounts = await readFile(`${this.procRoot}/mounts`, 'utf8').catch(() => null);
    const targets: Array<{ device: string; mount: string }> = [];
    if (mounts === null) targets.push({ device: 'root', mount: '/' });
    else {
      const seen = new Set<string>();
      for (const line of mounts.split('\n')) {
        const [device, mount, fstype] = line.split(' ');
        if (!device || !mount || !fstype || IGNORED_FILESYSTEMS.has(fstype) || seen.has(mount)) continue;
        seen.add(mount);
        // /proc/mounts escapes spaces as \040.
        targets.push({ device, mount: mount.replace(/\\040/g, ' ') });
        if (targets.length >= 64) break;
      }
    }
    const out: Array<[string, number, string[]]> = [];
    for (const { device, mount } of targets) {
      const fs = await statfs(mount).catch(() => null);
      if (fs === null || fs.blocks === 0) continue;
      const tags = [`device:${device}`, `mount:${mount}`];
      const KB = fs.bsize / 1024;
      const total = fs.blocks * KB;
      const free = fs.bavail * KB;
      const used = (fs.blocks - fs.bfree) * KB;
      out.push(
        ['system.disk.total', total, tags],
        ['system.disk.used', used, tags],
        ['system.disk.free', free, tags],
        ['system.disk.in_use', used + free > 0 ? used / (used + free) : 0, tags],
      );
    }
    return out;
  }

  /** Bytes per second over every interface but loopback, since the last call. */
  private async network(nowMs: number): Promise<Array<[string, number]>> {
    const dev = await readFile(`${this.procRoot}/net/dev`, 'utf8').catch(() => null);
    if (dev === null) return [];
    let rcvd = 0;
    let sent = 0;
    for (const line of dev.split('\n').slice(2)) {
      const [name, rest] = line.split(':');
      if (rest === undefined || name!.trim() === 'lo') continue;
      const fields = rest.trim().split(/\s+/).map(Number);
      rcvd += fields[0] ?? 0;
      sent += fields[8] ?? 0;
    }
    const before = this.previousNet;
    this.previousNet = { at: nowMs, rcvd, sent };
    if (before === null || nowMs <= before.at) return [];
    const seconds = (nowMs - before.at) / 1000;
    return [
      ['system.net.bytes_rcvd', Math.max(0, rcvd - before.rcvd) / seconds],
      ['system.net.bytes_sent', Math.max(0, sent - before.sent) / seconds],
    ];
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
