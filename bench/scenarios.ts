/**
 * The scenarios of issue 6. Each one runs weft and the plain promise baseline the same number of
 * times, alternating so that drift in machine load hits both alike, and returns its figures.
 *
 * Besides wall time, every run records the CPU time the bench process (worker, client and model
 * server) and the Temporal server spent per agent: on a shared machine, wall time moves with other
 * people's load, CPU time much less.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Worker } from '@temporalio/worker';
import type { StartOptions, WeftClient } from '../src/client/weft-client';
import type { CompiledScript, RunOutput } from '../src/types';
import type { BaselineRunner } from './baseline';
import type { BenchEnv } from './environment';
import {
  note,
  ownCpuMs,
  processCpuMs,
  processPeakRss,
  ROOT,
  RssSampler,
  spawnChildWorker,
  WEFT_BIN,
  WORKFLOW_BUNDLE,
} from './environment';
import type { BenchScripts } from './scripts';
import { BARRIER_IDEAL_MS, PIPELINE_IDEAL_MS, PIPELINE_ITEMS, recoveryPrompt } from './scripts';
import type { Stats } from './stats';
import { summarize } from './stats';

/** A target a figure's median must meet. */
export interface Target {
  op: '>=' | '<=';
  value: number;
}

/** One reported figure: weft's median and spread, its target, and the baseline's same figure. */
export interface Figure {
  /** Scenario id, e.g. `1` or `6a`. */
  id: string;
  name: string;
  unit: string;
  weft: Stats;
  target: Target;
  met: boolean;
  /** The plain promise runner's value of the same figure, when it has one. */
  baseline: Stats | null;
  /** weft's median time ÷ the baseline's median time for the same work; null without a baseline. */
  timeRatio: number | null;
  /** Supporting measurements: run durations, ideals, CPU per agent, history sizes. */
  detail: Record<string, unknown>;
}

/** What every scenario gets. */
export interface ScenarioContext {
  env: BenchEnv;
  scripts: BenchScripts;
  baseline: BaselineRunner | null;
  runs: number;
}

const execFileAsync = promisify(execFile);

function tag(): string {
  return randomBytes(3).toString('hex');
}

function meets(value: number, target: Target): boolean {
  return target.op === '>=' ? value >= target.value : value <= target.value;
}

function figure(
  id: string,
  name: string,
  unit: string,
  samples: number[],
  target: Target,
  extra: { baseline?: number[] | null; timeRatio?: number | null; detail?: Record<string, unknown> } = {},
): Figure {
  const weft = summarize(samples);
  return {
    id,
    name,
    unit,
    weft,
    target,
    met: meets(weft.median, target),
    baseline: extra.baseline ? summarize(extra.baseline) : null,
    timeRatio: extra.timeRatio ?? null,
    detail: extra.detail ?? {},
  };
}

/** Wall and CPU time of one measured piece of work. */
interface Measured {
  wallMs: number;
  /** CPU of this process: the in-process worker, the client and the model server (or the baseline). */
  benchCpuMs: number;
  /** CPU of the Temporal server; NaN when unknown. */
  serverCpuMs: number;
  /** 1-minute load average when the work started. */
  load: number;
}

async function measure<T>(env: BenchEnv, work: () => Promise<T>): Promise<Measured & { value: T }> {
  const load = os.loadavg()[0] ?? 0;
  const cpu0 = ownCpuMs();
  const server0 = env.serverPid === null ? null : processCpuMs(env.serverPid);
  const started = performance.now();
  const value = await work();
  const wallMs = performance.now() - started;
  const server1 = env.serverPid === null ? null : processCpuMs(env.serverPid);
  return {
    value,
    wallMs,
    benchCpuMs: ownCpuMs() - cpu0,
    serverCpuMs: server0 === null || server1 === null ? Number.NaN : server1 - server0,
    load,
  };
}

/** One finished weft run: wall time from just before `start` to the result at the client. */
interface TimedRun extends Measured {
  runId: string;
  /** The server's start-to-close time of the workflow, ms. */
  serverDurationMs: number;
}

/** Starts a script, waits for its result and checks that every agent answered. */
async function timedRun(
  env: BenchEnv,
  script: CompiledScript,
  options: StartOptions & { expectAgents: number },
  client: WeftClient = env.client,
  taskQueue?: string,
): Promise<TimedRun> {
  const runId = `${script.meta.name}-${tag()}`;
  const m = await measure(env, async () => {
    if (taskQueue === undefined) {
      await client.start(script, { ...options, runId });
    } else {
      await client.temporal.workflow.start(script.meta.name, {
        taskQueue,
        workflowId: runId,
        args: [client.runInput(script, options)],
      });
    }
    return (await client.temporal.workflow.getHandle(runId).result()) as RunOutput;
  });
  const output = m.value;
  const description = await client.temporal.workflow.getHandle(runId).describe();
  const serverDurationMs = (description.closeTime?.getTime() ?? Date.now()) - description.startTime.getTime();
  const failed = output.records.filter((r) => r.status !== 'completed');
  if (output.agents !== options.expectAgents || failed.length > 0) {
    throw new Error(
      `${runId}: expected ${options.expectAgents} completed agents, got ${output.agents} started and ` +
        `${failed.length} not completed (${failed[0]?.error ?? 'no error'})`,
    );
  }
  return {
    runId,
    wallMs: m.wallMs,
    benchCpuMs: m.benchCpuMs,
    serverCpuMs: m.serverCpuMs,
    load: m.load,
    serverDurationMs,
  };
}

const median = (xs: number[]): number => summarize(xs).median;
const fmtBase = (m: Measured | undefined, f: (m: Measured) => string | number): string =>
  m ? String(f(m)) : '-';
const ratio = (weft: number[], base: number[] | null): number | null =>
  base && base.length > 0 ? median(weft) / median(base) : null;

/** CPU per agent and machine load over a scenario's runs, for the figure's detail. */
function cpuDetail(weft: Measured[], base: Measured[], agents: number): Record<string, unknown> {
  const per = (xs: number[]) => summarize(xs.map((x) => x / agents));
  return {
    cpuMsPerAgent: {
      weftBenchProcess: per(weft.map((m) => m.benchCpuMs)),
      weftTemporalServer: per(weft.map((m) => m.serverCpuMs)),
      baselineProcess: base.length > 0 ? per(base.map((m) => m.benchCpuMs)) : null,
    },
    loadAverageAtRunStart: summarize([...weft, ...base].map((m) => m.load)),
  };
}

/** Small runs before measuring, so JIT, connections and the worker's sandbox are warm. */
export async function warmUp(ctx: ScenarioContext): Promise<void> {
  ctx.env.mock.setLatency(0);
  await timedRun(ctx.env, ctx.scripts.fanOut, {
    concurrency: 16,
    args: { n: 64, tag: tag() },
    expectAgents: 64,
  });
  await timedRun(ctx.env, ctx.scripts.chain, {
    concurrency: 16,
    args: { n: 20, tag: tag() },
    expectAgents: 20,
  });
  await ctx.baseline?.fanOut(64, 16, tag());
  ctx.env.mock.reset();
}

const FAN_OUT_N = 1000;
const FAN_OUT_CONCURRENCY = 16;
const FAN_OUT_LATENCY_MS = 200;
const FAN_OUT_IDEAL_MS = Math.ceil(FAN_OUT_N / FAN_OUT_CONCURRENCY) * FAN_OUT_LATENCY_MS;

/** Scenario 1: N=1000 agents, concurrency 16, model latency 200 ms, on the in-process worker. */
export async function fanOutScenario(
  ctx: ScenarioContext,
): Promise<{ figures: Figure[]; lastRunId: string }> {
  const n = FAN_OUT_N;
  ctx.env.mock.setLatency(FAN_OUT_LATENCY_MS);
  const weft: TimedRun[] = [];
  const base: Measured[] = [];
  const rssMiB: number[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    const sampler = new RssSampler();
    sampler.start(100);
    let run: TimedRun;
    try {
      run = await timedRun(ctx.env, ctx.scripts.fanOut, {
        concurrency: FAN_OUT_CONCURRENCY,
        args: { n, tag: tag() },
        expectAgents: n,
      });
    } finally {
      rssMiB.push(sampler.stop() / 2 ** 20);
    }
    weft.push(run);
    ctx.env.mock.reset();
    const baseline = ctx.baseline;
    if (baseline) base.push(await measure(ctx.env, () => baseline.fanOut(n, FAN_OUT_CONCURRENCY, tag())));
    ctx.env.mock.reset();
    note(
      `1 fan-out run ${r + 1}/${ctx.runs}: weft ${Math.round(run.wallMs)} ms (efficiency ${(FAN_OUT_IDEAL_MS / run.wallMs).toFixed(3)}), ` +
        `baseline ${fmtBase(base[r], (m) => Math.round(m.wallMs))} ms; load ${run.load.toFixed(1)}`,
    );
  }
  ctx.env.mock.setLatency(0);
  const weftMs = weft.map((m) => m.wallMs);
  const baseMs = ctx.baseline ? base.map((m) => m.wallMs) : null;
  return {
    lastRunId: weft[weft.length - 1]?.runId ?? '',
    figures: [
      figure(
        '1',
        'fan-out efficiency (ideal ÷ run duration), N=1000, C=16, L=200 ms',
        'ratio',
        weftMs.map((ms) => FAN_OUT_IDEAL_MS / ms),
        { op: '>=', value: 0.95 },
        {
          baseline: baseMs?.map((ms) => FAN_OUT_IDEAL_MS / ms) ?? null,
          timeRatio: ratio(weftMs, baseMs),
          detail: {
            idealMs: FAN_OUT_IDEAL_MS,
            weftDurationMs: summarize(weftMs),
            weftServerDurationMs: summarize(weft.map((m) => m.serverDurationMs)),
            baselineDurationMs: baseMs ? summarize(baseMs) : null,
            benchProcessPeakRssMiB: summarize(rssMiB),
            ...cpuDetail(weft, base, n),
          },
        },
      ),
    ],
  };
}

/**
 * Scenario 6b: the same fan-out on a fresh `weft worker` child process per repetition, whose peak
 * resident set size (the kernel's VmHWM, so no sample can miss the peak) is the worker's own memory.
 */
export async function memoryScenario(ctx: ScenarioContext): Promise<Figure[]> {
  const n = FAN_OUT_N;
  const peakMiB: number[] = [];
  const idleMiB: number[] = [];
  const wallMs: number[] = [];
  ctx.env.mock.setLatency(FAN_OUT_LATENCY_MS);
  try {
    for (let r = 0; r < ctx.runs; r++) {
      const taskQueue = `${ctx.env.taskQueue}-memory-${tag()}`;
      const worker = spawnChildWorker(ctx.env, taskQueue);
      try {
        await worker.ready;
        const pid = worker.process.pid ?? -1;
        idleMiB.push((processPeakRss(pid) ?? Number.NaN) / 2 ** 20);
        const run = await timedRun(
          ctx.env,
          ctx.scripts.fanOut,
          { concurrency: FAN_OUT_CONCURRENCY, args: { n, tag: tag() }, expectAgents: n },
          ctx.env.client,
          taskQueue,
        );
        const peak = processPeakRss(pid);
        if (peak === null) throw new Error('6b needs /proc/<pid>/status (Linux) to read the worker peak RSS');
        peakMiB.push(peak / 2 ** 20);
        wallMs.push(run.wallMs);
        note(
          `6b worker memory run ${r + 1}/${ctx.runs}: peak RSS ${Math.round(peak / 2 ** 20)} MiB ` +
            `(efficiency ${(FAN_OUT_IDEAL_MS / run.wallMs).toFixed(3)} on the child worker)`,
        );
      } finally {
        ctx.env.mock.reset();
        await worker.kill('SIGTERM');
      }
    }
  } finally {
    ctx.env.mock.setLatency(0);
  }
  return [
    figure(
      '6b',
      'worker peak RSS during scenario 1 (a fresh `weft worker` child process, kernel VmHWM)',
      'MiB',
      peakMiB,
      { op: '<=', value: 400 },
      {
        detail: {
          method:
            'node bin/weft.js worker as a child process per run; VmHWM from /proc/<pid>/status after the run',
          peakRssOnceReadyMiB: summarize(idleMiB),
          childWorkerEfficiency: summarize(wallMs.map((ms) => FAN_OUT_IDEAL_MS / ms)),
        },
      },
    ),
  ];
}

/** Scenario 2: 200 agents one after another, latency 0: weft's cost per agent beyond the model call. */
export async function chainScenario(ctx: ScenarioContext): Promise<Figure[]> {
  const n = 200;
  ctx.env.mock.setLatency(0);
  const weft: TimedRun[] = [];
  const base: Measured[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    const run = await timedRun(ctx.env, ctx.scripts.chain, {
      concurrency: 16,
      args: { n, tag: tag() },
      expectAgents: n,
    });
    weft.push(run);
    ctx.env.mock.reset();
    const baseline = ctx.baseline;
    if (baseline) base.push(await measure(ctx.env, () => baseline.chain(n, tag())));
    ctx.env.mock.reset();
    note(
      `2 chain run ${r + 1}/${ctx.runs}: weft ${(run.wallMs / n).toFixed(2)} ms/agent, ` +
        `baseline ${fmtBase(base[r], (m) => (m.wallMs / n).toFixed(2))} ms/call; load ${run.load.toFixed(1)}`,
    );
  }
  const weftMs = weft.map((m) => m.wallMs);
  const baseMs = base.map((m) => m.wallMs);
  const bareCallMs = baseMs.length > 0 ? median(baseMs) / n : 0;
  const perAgent = weftMs.map((ms) => ms / n);
  return [
    figure(
      '2',
      'sequential chain: orchestration overhead per agent (run ÷ 200 − bare model call), L=0',
      'ms',
      perAgent.map((ms) => ms - bareCallMs),
      { op: '<=', value: 10 },
      {
        baseline: ctx.baseline ? baseMs.map((ms) => ms / n) : null,
        timeRatio: ratio(weftMs, ctx.baseline ? baseMs : null),
        detail: {
          agents: n,
          weftMsPerAgent: summarize(perAgent),
          bareModelCallMs: bareCallMs,
          baselineNote: ctx.baseline
            ? 'the baseline figure is the bare model call time per agent'
            : 'no baseline: bare call taken as 0',
          ...cpuDetail(weft, base, n),
        },
      },
    ),
  ];
}

/** Scenario 3: 1000 agents, latency 0, concurrency 16: agents per second. */
export async function throughputScenario(ctx: ScenarioContext): Promise<Figure[]> {
  const n = 1000;
  const concurrency = 16;
  ctx.env.mock.setLatency(0);
  const weft: TimedRun[] = [];
  const base: Measured[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    const run = await timedRun(ctx.env, ctx.scripts.fanOut, {
      concurrency,
      args: { n, tag: tag() },
      expectAgents: n,
    });
    weft.push(run);
    ctx.env.mock.reset();
    const baseline = ctx.baseline;
    if (baseline) base.push(await measure(ctx.env, () => baseline.fanOut(n, concurrency, tag())));
    ctx.env.mock.reset();
    note(
      `3 throughput run ${r + 1}/${ctx.runs}: weft ${Math.round((n * 1000) / run.wallMs)} agents/s, ` +
        `baseline ${fmtBase(base[r], (m) => Math.round((n * 1000) / m.wallMs))} agents/s; load ${run.load.toFixed(1)}`,
    );
  }
  const weftMs = weft.map((m) => m.wallMs);
  const baseMs = ctx.baseline ? base.map((m) => m.wallMs) : null;
  return [
    figure(
      '3',
      'throughput, N=1000, C=16, L=0',
      'agents/s',
      weftMs.map((ms) => (n * 1000) / ms),
      { op: '>=', value: 150 },
      {
        baseline: baseMs?.map((ms) => (n * 1000) / ms) ?? null,
        timeRatio: ratio(weftMs, baseMs),
        detail: {
          weftDurationMs: summarize(weftMs),
          baselineDurationMs: baseMs ? summarize(baseMs) : null,
          ...cpuDetail(weft, base, n),
        },
      },
    ),
  ];
}

/** Scenario 4: the seed's 3 items × 2 stages, as pipeline() and as two parallel() barriers. */
export async function pipelineScenario(ctx: ScenarioContext): Promise<Figure[]> {
  ctx.env.mock.setLatency(0);
  const pipeMs: number[] = [];
  const barrierMs: number[] = [];
  const basePipeMs: number[] = [];
  const baseBarrierMs: number[] = [];
  const args = () => ({ items: PIPELINE_ITEMS, tag: tag() });
  for (let r = 0; r < ctx.runs; r++) {
    const pipe = await timedRun(ctx.env, ctx.scripts.pipeline, {
      concurrency: 16,
      args: args(),
      expectAgents: 6,
    });
    const barrier = await timedRun(ctx.env, ctx.scripts.barrier, {
      concurrency: 16,
      args: args(),
      expectAgents: 6,
    });
    pipeMs.push(pipe.wallMs);
    barrierMs.push(barrier.wallMs);
    if (ctx.baseline) {
      basePipeMs.push(await ctx.baseline.pipeline(PIPELINE_ITEMS, tag()));
      baseBarrierMs.push(await ctx.baseline.barrier(PIPELINE_ITEMS, tag()));
    }
    ctx.env.mock.reset();
    note(
      `4 pipeline vs barrier run ${r + 1}/${ctx.runs}: pipeline ${Math.round(pipe.wallMs)} ms, barrier ${Math.round(barrier.wallMs)} ms`,
    );
  }
  const hasBase = ctx.baseline !== null;
  return [
    figure(
      '4',
      'pipeline wall ÷ barrier wall, 3 items × 2 stages (seed 004 §4), uneven stage latencies',
      'ratio',
      pipeMs.map((ms, i) => ms / (barrierMs[i] as number)),
      { op: '<=', value: 1 },
      {
        baseline: hasBase ? basePipeMs.map((ms, i) => ms / (baseBarrierMs[i] as number)) : null,
        timeRatio: ratio(pipeMs, hasBase ? basePipeMs : null),
        detail: {
          stageLatenciesMs: PIPELINE_ITEMS.map((i) => ({
            item: i.id,
            review: i.reviewMs,
            verify: i.verifyMs,
          })),
          pipelineIdealMs: PIPELINE_IDEAL_MS,
          barrierIdealMs: BARRIER_IDEAL_MS,
          weftPipelineMs: summarize(pipeMs),
          weftBarrierMs: summarize(barrierMs),
          baselinePipelineMs: hasBase ? summarize(basePipeMs) : null,
          baselineBarrierMs: hasBase ? summarize(baseBarrierMs) : null,
          barrierTimeRatio: ratio(barrierMs, hasBase ? baseBarrierMs : null),
          timeRatioNote: 'timeRatio is for the pipeline design; barrierTimeRatio for the barrier design',
        },
      },
    ),
  ];
}

/** The agents' heartbeat timeout (src/workflows/interpreter.ts); a dead worker's agents wait this long. */
export const HEARTBEAT_TIMEOUT_S = 15;

/** When the first retried attempt of the run's agents started, per the server (epoch seconds). */
async function firstRetryStart(client: WeftClient, runId: string): Promise<number> {
  const history = await client.temporal.workflow.getHandle(runId).fetchHistory();
  const starts = (history.events ?? [])
    .filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 0) > 1)
    .map((e) => Number(e.eventTime?.seconds ?? 0) + (e.eventTime?.nanos ?? 0) / 1e9);
  return starts.length > 0 ? Math.min(...starts) : Number.NaN;
}

/**
 * Scenario 5: a `weft worker` process is killed (SIGKILL) while agents are at the model; a new one
 * is started at once. The figure is the time from the kill to the first retried agent's request at
 * the model server.
 */
export async function recoveryScenario(ctx: ScenarioContext & { recoveryRuns: number }): Promise<Figure[]> {
  const n = 4;
  const latencyMs = 3_000;
  const seconds: number[] = [];
  const newWorkerReadyS: number[] = [];
  const retryStartedS: number[] = [];
  const runDurationS: number[] = [];
  const client = ctx.env.client;
  for (let r = 0; r < ctx.recoveryRuns; r++) {
    const taskQueue = `${ctx.env.taskQueue}-recovery-${tag()}`;
    const runTag = tag();
    const prompts = new Set(Array.from({ length: n }, (_, i) => recoveryPrompt(latencyMs, runTag, i)));
    ctx.env.mock.reset();
    const first = spawnChildWorker(ctx.env, taskQueue);
    let second: ReturnType<typeof spawnChildWorker> | null = null;
    try {
      await first.ready;
      const started = Date.now();
      const runId = `bench-recovery-${runTag}`;
      await client.temporal.workflow.start(ctx.scripts.recovery.meta.name, {
        taskQueue,
        workflowId: runId,
        args: [
          client.runInput(ctx.scripts.recovery, { concurrency: n, args: { n, latencyMs, tag: runTag } }),
        ],
      });
      // Kill as soon as every agent is at the model: their requests are in the log, not yet answered.
      const deadline = Date.now() + 30_000;
      while (ctx.env.mock.requests.filter((q) => prompts.has(q.prompt) && q.status === 0).length < n) {
        if (Date.now() > deadline)
          throw new Error(`recovery: agents never reached the model\n${first.stderr()}`);
        await sleep(5);
      }
      const inFlightAt = Date.now();
      await first.kill('SIGKILL');
      const killedAt = Date.now();
      second = spawnChildWorker(ctx.env, taskQueue);
      await second.ready;
      const readyAt = Date.now();
      while (!ctx.env.mock.requests.some((q) => prompts.has(q.prompt) && q.at >= killedAt)) {
        if (Date.now() - killedAt > 120_000)
          throw new Error(`recovery: no agent was retried\n${second.stderr()}`);
        await sleep(5);
      }
      const retried = ctx.env.mock.requests.filter((q) => prompts.has(q.prompt) && q.at >= killedAt);
      const firstRetry = Math.min(...retried.map((q) => q.at));
      const output = (await client.temporal.workflow.getHandle(runId).result()) as RunOutput;
      if (output.agents !== n || output.records.some((rec) => rec.status !== 'completed')) {
        throw new Error(`recovery: run ${runId} did not complete every agent`);
      }
      seconds.push((firstRetry - killedAt) / 1000);
      newWorkerReadyS.push((readyAt - killedAt) / 1000);
      retryStartedS.push((await firstRetryStart(client, runId)) - killedAt / 1000);
      runDurationS.push((Date.now() - started) / 1000);
      note(
        `5 recovery run ${r + 1}/${ctx.recoveryRuns}: first retried agent at the model ${((firstRetry - killedAt) / 1000).toFixed(2)} s after the kill ` +
          `(killed ${killedAt - inFlightAt} ms after the agents reached the model; new worker ready after ${((readyAt - killedAt) / 1000).toFixed(2)} s)`,
      );
    } finally {
      await first.kill('SIGKILL');
      await second?.kill('SIGTERM');
    }
  }
  ctx.env.mock.reset();
  return [
    figure(
      '5',
      'recovery: kill -9 of the worker to the first retried agent at the model, on a new worker',
      's',
      seconds,
      { op: '<=', value: HEARTBEAT_TIMEOUT_S + 2 },
      {
        detail: {
          agentsInFlight: n,
          heartbeatTimeoutS: HEARTBEAT_TIMEOUT_S,
          newWorkerReadyS: summarize(newWorkerReadyS),
          retryAttemptStartedAfterKillS: summarize(retryStartedS),
          runDurationS: summarize(runDurationS),
          worker: 'node bin/weft.js worker (child process), killed with SIGKILL',
        },
      },
    ),
  ];
}

/** Runs `weft replay <runId> --json` as a user would and returns the duration it reports, ms. */
async function weftReplayCli(env: BenchEnv, runId: string): Promise<number> {
  const { stdout } = await execFileAsync(process.execPath, [WEFT_BIN, 'replay', runId, '--json'], {
    cwd: ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: env.address, WEFT_PAYLOAD_DIR: env.payloadDir },
  });
  const report = JSON.parse(stdout) as { ok: boolean; durationMs: number; error: string | null };
  if (!report.ok) throw new Error(`weft replay ${runId} failed: ${report.error}`);
  return report.durationMs;
}

/** Scenario 6a: replaying a 1000-agent history with the prebundled workflow code. */
export async function replayScenario(ctx: ScenarioContext, runId: string): Promise<Figure[]> {
  const history = await ctx.env.client.temporal.workflow.getHandle(runId).fetchHistory();
  const events = history.events ?? [];
  const agents = events.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent',
  ).length;
  const bytes = Buffer.byteLength(JSON.stringify(history));
  const ms: number[] = [];
  const cliMs: number[] = [];
  for (let r = 0; r < ctx.runs; r++) {
    // tsx turns Node's source-map support on for this process; with it, every stack the workflow
    // sandbox captures (the SDK records one per promise) is mapped twice. A worker or `weft replay`
    // runs without it, so the replay is timed without it too.
    const sourceMaps = process.sourceMapsEnabled;
    process.setSourceMapsEnabled(false);
    const started = performance.now();
    try {
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: WORKFLOW_BUNDLE }, dataConverter: ctx.env.dataConverter },
        history,
        runId,
      );
    } finally {
      ms.push(performance.now() - started);
      process.setSourceMapsEnabled(sourceMaps);
    }
    cliMs.push(await weftReplayCli(ctx.env, runId));
    note(
      `6a replay run ${r + 1}/${ctx.runs}: ${Math.round(ms[r] as number)} ms in process, ` +
        `\`weft replay\` reports ${Math.round(cliMs[r] as number)} ms (${events.length} events)`,
    );
  }
  return [
    figure(
      '6a',
      `replay of a ${agents}-agent history (replay worker start included)`,
      's',
      ms.map((x) => x / 1000),
      { op: '<=', value: 1.5 },
      {
        detail: {
          runId,
          agents,
          events: events.length,
          historyJsonBytes: bytes,
          method:
            'Worker.runReplayHistory with dist/workflow-bundle.js in the bench process, source maps off',
          weftReplayCliDurationMs: summarize(cliMs),
        },
      },
    ),
  ];
}
