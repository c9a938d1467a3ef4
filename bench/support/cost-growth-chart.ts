/**
 * The SVG chart of bench/cost-growth.ts: intake throughput and server memory against the
 * number of distinct series (log scale), drawn by Vega-Lite (compiled to a Vega spec) and
 * rendered to SVG by Vega's headless view — a chart library, in plain Node, no browser and no
 * native code. bench/RESULTS.md shows the file.
 *
 * Vega and Vega-Lite are development dependencies loaded only here; when they are not
 * installed the chart is skipped with the reason, and the tables still carry every figure.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GrowthPoint {
  series: number;
  pointsPerSecond: number;
  rssMiB: number;
  peakMiB: number;
}

interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}
interface VegaView {
  toSVG(): Promise<string>;
  finalize(): void;
}
interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => VegaView;
}

/** The Vega-Lite spec: two panels sharing the log x axis. */
export function seriesGrowthSpec(points: readonly GrowthPoint[]): unknown {
  const x = { field: 'series', type: 'quantitative', scale: { type: 'log' }, axis: { title: 'distinct series', format: '~s' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'rekey server (SQLite, default flags): cost by distinct series',
    data: { values: points.map((p) => ({ series: p.series, 'points/s': p.pointsPerSecond, 'RSS (loaded)': p.rssMiB, 'peak RSS (VmHWM)': p.peakMiB })) },
    hconcat: [
      {
        title: 'Intake throughput',
        width: 300,
        height: 220,
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'points/s', type: 'quantitative', scale: { zero: true }, axis: { title: 'points/s (202)', format: '~s' } } },
      },
      {
        title: 'Server memory',
        width: 300,
        height: 220,
        transform: [{ fold: ['RSS (loaded)', 'peak RSS (VmHWM)'], as: ['measure', 'MiB'] }],
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'MiB', type: 'quantitative', scale: { zero: true }, axis: { title: 'MiB' } },
          color: { field: 'measure', type: 'nominal', legend: { orient: 'right', title: 'memory' } },
        },
      },
    ],
  };
}

/** Renders the chart to `dir/file`; says why not when Vega is not installed. */
export async function writeSeriesGrowthChart(
  points: readonly GrowthPoint[],
  dir: string,
  file: string,
): Promise<{ written: true; file: string } | { written: false; reason: string }> {
  let vega: VegaModule;
  let vegaLite: VegaLiteModule;
  try {
    // Names in variables: TypeScript must not require the (optional) packages' types to build.
    const vegaName = 'vega';
    const vegaLiteName = 'vega-lite';
    vega = (await import(vegaName)) as VegaModule;
    vegaLite = (await import(vegaLiteName)) as VegaLiteModule;
  } catch (error) {
    return { written: false, reason: `vega and vega-lite are not installed (${(error as Error).message.split('\n')[0]})` };
  }
  const view = new vega.View(vega.parse(vegaLite.compile(seriesGrowthSpec(points)).spec), { renderer: 'none' });
  try {
    const path = join(dir, file);
    writeFileSync(path, await view.toSVG());
    return { written: true, file: path };
  } finally {
    view.finalize();
  }
}
