/**
 * Reads a V8 `.cpuprofile` (written by `node --cpu-prof`) and sums self time per function and
 * per origin (rekey's own files, each npm package, Node's internals, GC), so a benchmark can
 * print where a server's CPU goes and compare it with the floor's. Self time, not total: it
 * says which code burns the cycles, so the top entries are the candidates to optimise.
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The command-line options every profiling script takes (node:util parseArgs form). */
export const PROFILE_OPTIONS = {
  seconds: { type: 'string', default: '10' },
  connections: { type: 'string', default: '20' },
  top: { type: 'string', default: '25' },
  keep: { type: 'string' },
} as const;

/** The main thread's profile in `dir`: the largest (tsx's loader thread writes a small one of its own). */
export function mainThreadProfile(dir: string): string {
  const file = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(dir, name))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  return file;
}

/** Copies each directory's main-thread profile to `keep`/<name>.cpuprofile (with --keep), then removes the directories. */
export function keepAndRemoveProfiles(keep: string | undefined, dirs: Record<string, string>): void {
  if (keep !== undefined) {
    mkdirSync(keep, { recursive: true });
    for (const [name, dir] of Object.entries(dirs)) copyFileSync(mainThreadProfile(dir), join(keep, `${name}.cpuprofile`));
  }
  for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
}

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTimeEntry {
  /** `functionName file:line` (file relative to the repository or node_modules). */
  name: string;
  origin: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  share: number;
}

export interface ProfileSummary {
  /** Sampled time not idle: the process's on-CPU time, as the profiler saw it. */
  busyMs: number;
  functions: SelfTimeEntry[];
  origins: Array<{ origin: string; selfMs: number; share: number }>;
}

/** `…/node_modules/fastify/lib/route.js` → `fastify`; `…/dist/intake/x.js` → `rekey`; `node:internal/…` → `node`. */
export function originOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : 'node (native)';
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (packageMatch) return packageMatch[1]!;
  if (url.startsWith('node:')) return 'node';
  if (/\/(dist|src)\//.test(url)) return 'rekey';
  if (/\/bench\//.test(url)) return 'bench';
  return 'other';
}

function shortFile(url: string): string {
  const packageAt = url.lastIndexOf('node_modules/');
  if (packageAt !== -1) return url.slice(packageAt + 'node_modules/'.length);
  const repoAt = url.search(/\/(dist|src|bench)\//);
  if (repoAt !== -1) return url.slice(repoAt + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * A window in CLOCK_MONOTONIC microseconds — the clock of V8's sample timestamps and of
 * `process.hrtime()` in every process on the machine — so a benchmark can keep only the samples
 * taken while it measured (`monotonicMicros()` before and after), not start-up or warm-up.
 */
export interface SampleWindow {
  fromMicros: number;
  toMicros: number;
}

export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function summariseProfile(file: string, window?: SampleWindow): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window !== undefined && (at < window.fromMicros || at > window.toMicros)) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfMicros.set(profile.samples[i]!, (selfMicros.get(profile.samples[i]!) ?? 0) + delta);
  }
  const functions = new Map<string, { origin: string; micros: number }>();
  const origins = new Map<string, number>();
  let busy = 0;
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    busy += micros;
    const origin = originOf(frame);
    const name =
      frame.url === '' ? frame.functionName || '(anonymous)' : `${frame.functionName || '(anonymous)'} ${shortFile(frame.url)}:${frame.lineNumber + 1}`;
    const entry = functions.get(name) ?? { origin, micros: 0 };
    entry.micros += micros;
    functions.set(name, entry);
    origins.set(origin, (origins.get(origin) ?? 0) + micros);
  }
  const round = (micros: number) => Math.round(micros / 100) / 10;
  return {
    busyMs: round(busy),
    functions: [...functions]
      .map(([name, { origin, micros }]) => ({ name, origin, selfMs: round(micros), share: micros / busy }))
      .sort((a, b) => b.selfMs - a.selfMs),
    origins: [...origins].map(([origin, micros]) => ({ origin, selfMs: round(micros), share: micros / busy })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

/**
 * The share of the busy time (in `window`) spent in or under any frame `matches` accepts —
 * inclusive time, e.g. everything the intake's `authenticate` hook and what it calls cost.
 */
export function inclusiveShare(file: string, matches: (frame: CallFrame) => boolean, window?: SampleWindow): number {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile & { nodes: Array<ProfileNode & { children?: number[] }> };
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const underMatch = new Map<number, boolean>();
  const isUnder = (id: number): boolean => {
    const known = underMatch.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const parentId = parent.get(id);
    const result = matches(node.callFrame) || (parentId !== undefined && isUnder(parentId));
    underMatch.set(id, result);
    return result;
  };
  let busy = 0;
  let matched = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window !== undefined && (at < window.fromMicros || at > window.toMicros)) continue;
    const id = profile.samples[i]!;
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    busy += delta;
    if (isUnder(id)) matched += delta;
  }
  return busy === 0 ? 0 : matched / busy;
}
