/** Renders bench results: a plain table for the terminal, markdown for docs/benchmarks.md. */
import type { MachineInfo } from './environment';
import type { Figure } from './scenarios';
import { round, roundStats } from './stats';

/** Everything one `npm run bench` measured. */
export interface BenchReport {
  startedAt: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  build: { bundleBuiltAt: string; stale: boolean };
  options: {
    runs: number;
    recoveryRuns: number;
    quick: boolean;
    only: string[];
    baseline: boolean;
    devConfig: Record<string, unknown>;
    workerOptions: Record<string, unknown>;
  };
  figures: Figure[];
  allMet: boolean;
}

/** The report with figures rounded, as `--json` prints it. */
export function toJson(report: BenchReport): unknown {
  return {
    ...report,
    figures: report.figures.map((f) => ({
      ...f,
      weft: roundStats(f.weft, 3),
      baseline: f.baseline ? roundStats(f.baseline, 3) : null,
      timeRatio: f.timeRatio === null ? null : round(f.timeRatio, 3),
      detail: roundDeep(f.detail),
    })),
  };
}

function roundDeep(value: unknown): unknown {
  if (typeof value === 'number') return round(value, 3);
  if (Array.isArray(value)) return value.map(roundDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundDeep(v)]));
  }
  return value;
}

function digitsFor(unit: string): number {
  return unit === 'ratio' ? 3 : unit === 's' ? 2 : unit === 'ms' ? 2 : 0;
}

function fmt(value: number, unit: string): string {
  return round(value, digitsFor(unit)).toFixed(digitsFor(unit));
}

/** A value with its unit; ratios go bare. */
function withUnit(text: string, unit: string): string {
  return unit === 'ratio' ? text : `${text} ${unit}`;
}

interface Row {
  id: string;
  figure: string;
  median: string;
  spread: string;
  target: string;
  met: string;
  baseline: string;
  ratio: string;
}

function rows(report: BenchReport): Row[] {
  return report.figures.map((f) => ({
    id: f.id,
    figure: `${f.name}`,
    median: withUnit(fmt(f.weft.median, f.unit), f.unit),
    spread: `${fmt(f.weft.min, f.unit)} – ${fmt(f.weft.max, f.unit)}`,
    target: withUnit(`${f.target.op === '>=' ? '≥' : '≤'} ${f.target.value}`, f.unit),
    met: f.met ? 'yes' : 'NO',
    baseline: f.baseline ? withUnit(fmt(f.baseline.median, f.unit), f.unit) : 'n/a',
    ratio: f.timeRatio === null ? 'n/a' : `${f.timeRatio.toFixed(2)}×`,
  }));
}

const HEADERS: Row = {
  id: '#',
  figure: 'Figure',
  median: 'Median',
  spread: 'Spread (min – max)',
  target: 'Target',
  met: 'Met?',
  baseline: 'Baseline median',
  ratio: 'Time weft/baseline',
};

/** A markdown table of every figure. */
export function toMarkdown(report: BenchReport): string {
  const keys = Object.keys(HEADERS) as Array<keyof Row>;
  const line = (r: Row) => `| ${keys.map((k) => r[k].replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(HEADERS), `|${keys.map(() => '---').join('|')}|`, ...rows(report).map(line)].join('\n');
}

/** A plain-text table for the terminal. */
export function toText(report: BenchReport): string {
  const keys: Array<keyof Row> = ['id', 'median', 'spread', 'target', 'met', 'baseline', 'ratio', 'figure'];
  const all = [HEADERS, ...rows(report)];
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const lines = all.map((r) =>
    keys
      .map((k, i) => r[k].padEnd(widths[i] as number))
      .join('  ')
      .trimEnd(),
  );
  const m = report.machine;
  return [
    ...lines,
    '',
    `runs: ${report.options.runs} (recovery ${report.options.recoveryRuns}); ${report.durationS.toFixed(0)} s in all; ` +
      `${m.nproc} cores, ${m.memoryGiB} GiB, node ${m.node}, ${m.temporalCli.split('\n')[0]}`,
    report.allMet ? 'every target met' : 'some targets NOT met',
  ].join('\n');
}
