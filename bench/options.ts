import { parseArgs } from 'node:util';

/** Scenario ids, in the order the issue numbers them. */
export const SCENARIO_IDS = ['1', '2', '3', '4', '5', '6a', '6b'] as const;
/** One scenario id. */
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** What `npm run bench -- ...` asked for. */
export interface BenchOptions {
  /** Print one JSON object with every figure on stdout (progress stays on stderr). */
  json: boolean;
  /** Print the results as the markdown table docs/benchmarks.md uses. */
  markdown: boolean;
  /** Repetitions of each scenario (weft and baseline alike). */
  runs: number;
  /** Repetitions of the recovery scenario, which takes ~20 s each. */
  recoveryRuns: number;
  quick: boolean;
  /** Scenarios to run; 6a replays a scenario 1 history, so it implies 1. */
  only: Set<ScenarioId>;
  /** Skip the plain promise baseline. */
  noBaseline: boolean;
  /** Also write the JSON report to this file. */
  out: string | null;
  /** Extra `--dynamic-config-value` settings for the throwaway dev server, for experiments. */
  devConfig: Record<string, string | number | boolean>;
  /** Extra Temporal worker options (JSON values), for tuning experiments. */
  workerOptions: Record<string, unknown>;
}

/** `--help` text. */
export const USAGE = `usage: npm run bench -- [options]

  --json              print one JSON object with every figure on stdout
  --markdown          print the results as a markdown table (docs/benchmarks.md)
  --runs N            repetitions per scenario (default 5; 1 with --quick)
  --recovery-runs N   repetitions of scenario 5 (default: --runs; 1 with --quick)
  --quick             fewer repetitions, for a check in under 3 minutes
  --only LIST         scenarios to run, e.g. 1,3 or 2,6a (6a implies 1)
  --no-baseline       skip the plain promise runner
  --out FILE          also write the JSON report to FILE
  --dev-config K=V    extra dev server dynamic config (repeatable), for experiments
  --worker-option K=V extra Temporal worker option, V as JSON (repeatable), for experiments
`;

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got "${raw}"`);
  return n;
}

function parseValue(raw: string): string | number | boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw !== '' && Number.isFinite(Number(raw))) return Number(raw);
  return raw;
}

function keyValue(flag: string, raw: string): [string, string] {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new Error(`${flag} needs KEY=VALUE, got "${raw}"`);
  return [raw.slice(0, eq), raw.slice(eq + 1)];
}

/** Parses the bench's command line; throws with a one-line reason on a bad flag. */
export function parseBenchArgs(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      runs: { type: 'string' },
      'recovery-runs': { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-baseline': { type: 'boolean', default: false },
      out: { type: 'string' },
      'dev-config': { type: 'string', multiple: true },
      'worker-option': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const only = new Set<ScenarioId>();
  if (values.only) {
    for (const part of values.only.split(',').map((s) => s.trim().toLowerCase())) {
      if (part === '') continue;
      const id =
        part === '6'
          ? null
          : (SCENARIO_IDS as readonly string[]).includes(part)
            ? (part as ScenarioId)
            : undefined;
      if (id === undefined)
        throw new Error(`--only: unknown scenario "${part}" (known: ${SCENARIO_IDS.join(', ')})`);
      if (id === null) {
        only.add('6a');
        only.add('6b');
      } else only.add(id);
    }
    // The replayed history is a scenario 1 run's.
    if (only.has('6a')) only.add('1');
  } else {
    for (const id of SCENARIO_IDS) only.add(id);
  }
  const devConfig: Record<string, string | number | boolean> = {};
  for (const raw of values['dev-config'] ?? []) {
    const [k, v] = keyValue('--dev-config', raw);
    devConfig[k] = parseValue(v);
  }
  const workerOptions: Record<string, unknown> = {};
  for (const raw of values['worker-option'] ?? []) {
    const [k, v] = keyValue('--worker-option', raw);
    try {
      workerOptions[k] = JSON.parse(v);
    } catch {
      workerOptions[k] = v;
    }
  }
  return {
    json: values.json ?? false,
    markdown: values.markdown ?? false,
    runs: values.runs ? positiveInt('--runs', values.runs) : quick ? 1 : 5,
    recoveryRuns: values['recovery-runs']
      ? positiveInt('--recovery-runs', values['recovery-runs'])
      : quick
        ? 1
        : values.runs
          ? positiveInt('--runs', values.runs)
          : 5,
    quick,
    only,
    noBaseline: values['no-baseline'] ?? false,
    out: values.out ?? null,
    devConfig,
    workerOptions,
  };
}
