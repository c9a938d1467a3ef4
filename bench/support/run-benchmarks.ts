/**
 * Runs the benchmarks under `bench/` one after another and renders `bench/RESULTS.md`.
 *
 * Each benchmark is an ordinary script (`node --import tsx bench/<name>.ts`) that writes
 * `bench/results/<name>.json`; they run sequentially because they measure this machine and
 * must not compete for its two cores. A failing benchmark is recorded and the others still
 * run, so one broken script does not hide every other figure.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { isStoredBenchResult } from './bench-result.js';

export interface BenchRun {
  file: string;
  name: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** The last lines of the script's output, kept when it fails. */
  tail: string;
}

/**
 * Benchmark scripts: `<name>.ts` directly in `dir` whose source names its own result
 * (`<name>.json`, or `'<name>'` as in `writeBenchResult('<name>', …)`). Helpers that live
 * beside them (a bench server, shared support, `.d.ts` shims) do not, and are not run.
 * Sorted by name.
 */
export function discoverBenchmarks(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts') && name !== 'run-all.ts')
    .filter((name) => {
      const file = join(dir, name);
      if (!statSync(file).isFile()) return false;
      const base = basename(name, '.ts');
      const source = readFileSync(file, 'utf8');
      return source.includes(`${base}.json`) || source.includes(`'${base}'`) || source.includes(`"${base}"`);
    })
    .sort()
    .map((name) => join(dir, name));
}

/** Runs one benchmark as a child process, its output passed through, bounded by `timeoutMs`. */
export function runBenchmark(file: string, options: { cwd: string; timeoutMs: number; quiet?: boolean }): Promise<BenchRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer, stream: NodeJS.WriteStream) => {
      if (!options.quiet) stream.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', (chunk: Buffer) => keep(chunk, process.stdout));
    child.stderr.on('data', (chunk: Buffer) => keep(chunk, process.stderr));
    const timer = setTimeout(() => {
      tail += `\n(bench/run-all: killed after ${options.timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ file, name: basename(file, '.ts'), exitCode, signal, durationMs: Date.now() - started, tail: tail.split('\n').slice(-15).join('\n') });
    });
  });
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on the machine skews every figure. */
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()} ${arch()}`,
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

interface ResultFile {
  name: string;
  mtime: Date;
  data: unknown;
  error?: string;
}

function readResults(resultsDir: string): ResultFile[] {
  let names: string[];
  try {
    names = readdirSync(resultsDir)
      .filter((name) => name.endsWith('.json'))
      .sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const file = join(resultsDir, name);
    const mtime = statSync(file).mtime;
    try {
      return { name: basename(name, '.json'), mtime, data: JSON.parse(readFileSync(file, 'utf8')) as unknown };
    } catch (error) {
      return { name: basename(name, '.json'), mtime, data: undefined, error: (error as Error).message };
    }
  });
}

/** Table cells must not break the markdown table. */
function cell(value: unknown): string {
  return String(value).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Number(value.toPrecision(4)).toString();
}

/**
 * Flattens a benchmark's own JSON into `path → value` rows (numbers, booleans, short
 * strings), for benchmarks that do not use writeBenchResult. Arrays of objects are labelled
 * by a `dialect`/`name`/`scenario` field when they have one, so rows stay readable.
 */
export function flatten(value: unknown, path = '', rows: Array<[string, string]> = []): Array<[string, string]> {
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) {
      if (value.length <= 12) rows.push([path, value.map(String).join(', ')]);
      else rows.push([path, `(${value.length} values)`]);
      return rows;
    }
    value.forEach((item, index) => {
      const label =
        typeof item === 'object' && item !== null
          ? ((item as Record<string, unknown>)['dialect'] ??
            (item as Record<string, unknown>)['name'] ??
            (item as Record<string, unknown>)['scenario'] ??
            index)
          : index;
      flatten(item, path ? `${path}[${String(label)}]` : `[${String(label)}]`, rows);
    });
    return rows;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, path ? `${path}.${key}` : key, rows);
    return rows;
  }
  if (typeof value === 'number') rows.push([path, formatNumber(value)]);
  else if (typeof value === 'boolean') rows.push([path, value ? 'yes' : 'no']);
  else if (typeof value === 'string' && value.length <= 120) rows.push([path, value]);
  return rows;
}

/** Renders RESULTS.md from the machine, the runs of this invocation (if any) and every results file. */
export function renderResults(options: { resultsDir: string; machine: MachineInfo; date: Date; runs: BenchRun[]; command: string }): string {
  const { machine, runs } = options;
  const lines: string[] = [
    '# Benchmark results',
    '',
    `Generated by \`${options.command}\` (bench/run-all.ts) on ${options.date.toISOString()}. Do not edit by hand.`,
    '',
    '## Machine',
    '',
    `- CPU: ${machine.cpuModel}, ${machine.cores} cores`,
    `- Memory: ${machine.memoryGiB} GiB`,
    `- Node.js: ${machine.node}`,
    `- OS: ${machine.os}`,
    `- Load average at the start (1, 5, 15 min): ${machine.loadAverage.join(', ')}${(machine.loadAverage[0] ?? 0) > machine.cores ? ' — the machine was busy with other work; figures are pessimistic' : ''}`,
    '',
  ];
  if (runs.length > 0) {
    lines.push('## Runs', '', '| benchmark | result | duration |', '|---|---|---|');
    for (const run of runs) {
      const result = run.exitCode === 0 ? 'ok' : `FAILED (${run.signal ?? `exit ${run.exitCode}`})`;
      lines.push(`| \`bench/${run.name}.ts\` | ${result} | ${(run.durationMs / 1000).toFixed(1)} s |`);
    }
    lines.push('');
    for (const run of runs.filter((r) => r.exitCode !== 0)) {
      lines.push(`### ${run.name} failed`, '', '```', run.tail.trim(), '```', '');
    }
  }
  if (runs.length === 0)
    lines.push('No benchmark ran in this invocation: the figures below are those recorded in `bench/results/`, each with its own date.', '');
  lines.push('## Figures', '');
  const results = readResults(options.resultsDir);
  if (results.length === 0) lines.push('No results yet: run `npm run bench`.', '');
  const ranAt = runs.length > 0 ? Math.min(...runs.map((r) => Date.now() - r.durationMs)) : undefined;
  for (const result of results) {
    lines.push(`### ${result.name}`, '');
    const ran = runs.find((r) => r.name === result.name);
    if (ran && ran.exitCode !== 0) lines.push('> This benchmark failed in this run; the figures below are from an earlier run.', '');
    else if (runs.length > 0 && !ran) lines.push('> No benchmark script of this name ran; these figures are from an earlier run.', '');
    else if (ranAt !== undefined && result.mtime.getTime() < ranAt - 1000 && ran)
      lines.push('> The file was not rewritten by this run; the figures may be stale.', '');
    const data = result.data as Record<string, unknown> | undefined;
    if (result.error !== undefined) {
      lines.push(`The results file is not valid JSON: ${result.error}`, '');
      continue;
    }
    if (typeof data?.['at'] === 'string') lines.push(`Measured ${data['at']}${typeof data['node'] === 'string' ? ` with Node.js ${data['node']}` : ''}.`, '');
    if (isStoredBenchResult(data)) {
      lines.push('| figure | value | goal | met |', '|---|---|---|---|');
      for (const f of data.figures) {
        const met = f.met === undefined ? '' : f.met ? 'yes' : '**no**';
        lines.push(`| ${cell(f.name)} | ${formatNumber(f.value)} ${cell(f.unit)} | ${cell(f.goal ?? '')} | ${met} |`);
      }
      lines.push('');
      for (const table of data.tables ?? []) {
        lines.push(`**${cell(table.title)}**`, '', `| ${table.columns.map(cell).join(' | ')} |`, `|${table.columns.map(() => '---').join('|')}|`);
        for (const row of table.rows) lines.push(`| ${row.map((value) => (typeof value === 'number' ? formatNumber(value) : cell(value))).join(' | ')} |`);
        lines.push('');
        if (table.note !== undefined) lines.push(table.note, '');
      }
      for (const chart of data.charts ?? []) lines.push(`![${cell(chart.title)}](results/${encodeURI(chart.file)})`, '');
    } else {
      const rows = flatten(data).filter(([path]) => !['at', 'node', 'bench', 'benchmark'].includes(path));
      const goals = rows.filter(([path]) => /goal|met\b|_met|target/i.test(path));
      if (goals.length > 0) {
        lines.push('Goal:', '');
        for (const [path, value] of goals) lines.push(`- \`${path}\`: ${value}`);
        lines.push('');
      }
      lines.push('| figure | value |', '|---|---|');
      for (const [path, value] of rows.filter((row) => !goals.includes(row))) lines.push(`| \`${cell(path)}\` | ${cell(value)} |`);
      lines.push('');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
