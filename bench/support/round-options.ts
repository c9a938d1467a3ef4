/**
 * The command-line options every rounds benchmark takes (`--seconds`, `--rounds`,
 * `--connections`), parsed once here so the benchmarks agree on names and defaults.
 */
import { parseArgs } from 'node:util';

export interface RoundOptions {
  seconds: number;
  rounds: number;
  connections: number;
  /** Options the benchmark declared in `extra`, as given (strings). */
  extra: Record<string, string | undefined>;
}

export function roundOptions(defaults: { seconds?: number; rounds?: number; connections?: number } = {}, extra: Record<string, string> = {}): RoundOptions {
  const { values } = parseArgs({
    strict: true,
    options: {
      seconds: { type: 'string', default: String(defaults.seconds ?? 5) },
      rounds: { type: 'string', default: String(defaults.rounds ?? 5) },
      connections: { type: 'string', default: String(defaults.connections ?? 20) },
      ...Object.fromEntries(Object.entries(extra).map(([name, fallback]) => [name, { type: 'string' as const, default: fallback }])),
    },
  });
  const number = (name: 'seconds' | 'rounds' | 'connections') => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, not ${String(values[name])}`);
    return value;
  };
  const extraValues: Record<string, string | undefined> = {};
  const given = values as Record<string, string | boolean | undefined>;
  for (const name of Object.keys(extra)) extraValues[name] = String(given[name]);
  return { seconds: number('seconds'), rounds: number('rounds'), connections: number('connections'), extra: extraValues };
}
