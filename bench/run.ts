/**
 * `npm run bench`: measures weft's own overhead against the ideal schedule and against a plain
 * in-process promise runner (issue 6), on a throwaway Temporal dev server and the local model
 * server. Progress goes to stderr; the results table (or, with --json, one JSON object) to stdout.
 */
import { writeFileSync } from 'node:fs';
import { quietTemporalLogs } from '../src/cli/temporal-runtime';
import { BaselineRunner } from './baseline';
import { checkBuild, describeMachine, note, startBenchEnv } from './environment';
import type { BenchOptions } from './options';
import { parseBenchArgs, USAGE } from './options';
import type { BenchReport } from './report';
import { toJson, toMarkdown, toText } from './report';
import type { Figure, ScenarioContext } from './scenarios';
import {
  chainScenario,
  fanOutScenario,
  memoryScenario,
  pipelineScenario,
  recoveryScenario,
  replayScenario,
  throughputScenario,
  warmUp,
} from './scenarios';
import { compileBenchScripts } from './scripts';

async function bench(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const build = checkBuild();
  // The worker's and replayer's INFO lines would drown the progress notes.
  quietTemporalLogs('ERROR');
  const env = await startBenchEnv({ devConfig: options.devConfig, workerOptions: options.workerOptions });
  // Ctrl-C must not leave the throwaway server (a detached process) running.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    note(`${signal}: stopping the bench server and workers`);
    void env.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const figures: Figure[] = [];
  try {
    const machine = describeMachine(env.temporalCliPath);
    const ctx: ScenarioContext = {
      env,
      scripts: compileBenchScripts(),
      baseline: options.noBaseline ? null : new BaselineRunner(env.mock.url),
      runs: options.runs,
    };
    note('warming up');
    await warmUp(ctx);
    const want = options.only;
    if (want.has('1')) {
      const fanOut = await fanOutScenario(ctx);
      figures.push(...fanOut.figures);
      if (want.has('6a')) figures.push(...(await replayScenario(ctx, fanOut.lastRunId)));
    }
    if (want.has('6b')) figures.push(...(await memoryScenario(ctx)));
    if (want.has('2')) figures.push(...(await chainScenario(ctx)));
    if (want.has('3')) figures.push(...(await throughputScenario(ctx)));
    if (want.has('4')) figures.push(...(await pipelineScenario(ctx)));
    if (want.has('5'))
      figures.push(...(await recoveryScenario({ ...ctx, recoveryRuns: options.recoveryRuns })));
    const order = ['1', '2', '3', '4', '5', '6a', '6b'];
    figures.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
    return {
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine,
      build,
      options: {
        runs: options.runs,
        recoveryRuns: options.recoveryRuns,
        quick: options.quick,
        only: [...options.only],
        baseline: !options.noBaseline,
        devConfig: options.devConfig,
        workerOptions: options.workerOptions,
      },
      figures,
      allMet: figures.every((f) => f.met),
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!stopping) await env.close();
  }
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const report = await bench(options);
  const json = JSON.stringify(toJson(report), null, 2);
  if (options.out) writeFileSync(options.out, `${json}\n`);
  if (options.json) process.stdout.write(`${json}\n`);
  else if (options.markdown) process.stdout.write(`${toMarkdown(report)}\n`);
  else process.stdout.write(`${toText(report)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
