/**
 * Defining Stratus-style workflows and tasks (S701).
 */
import { ConfigError } from '../errors';
import type { Agent } from './agent';
import type {
  AdversarialVerifyOptions,
  AdversarialVerifyResult,
  FanOutAndSynthesizeOptions,
  FanOutAndSynthesizeResult,
  GenerateAndFilterOptions,
  GenerateAndFilterResult,
  LoopUntilDoneOptions,
  LoopUntilDoneResult,
  TournamentOptions,
  TournamentResult,
} from './patterns';
import type {
  PhaseOptions,
  SynthesizeOptions,
  WorkflowTask,
  WorkflowTaskResult,
  WorkflowUsage,
} from './types';

/**
 * What `run(ctx, args)` gets (S701, S702): phases, synthesis, logging and the pattern helpers.
 * Every agent task runs durably on Temporal; `run` itself runs in the caller's process.
 *
 * @example
 * ```ts
 * const audit = workflow({
 *   name: 'parallel-audit',
 *   run: async (ctx, files: string[]) => {
 *     const findings = await ctx.phase('review', files.map((f) => workflowTask({ id: f, agent: reviewer, input: `Audit ${f}` })));
 *     ctx.log(`${findings.length} files reviewed`);
 *     return (await ctx.synthesize(synthesizer, findings.map((r) => r.output).join('\n\n'))).output;
 *   },
 * });
 * ```
 */
export interface WorkflowRuntimeContext {
  /** The session workflow's id in Temporal. */
  readonly runId: string;
  /** The workflow's name. */
  readonly workflowName: string;
  /** Aborted when the run is cancelled. */
  readonly signal: AbortSignal;
  /** Work done so far in this run. */
  usage(): WorkflowUsage & { totalCostUsd: number };
  /**
   * Runs a group of tasks with bounded concurrency and returns their results in task order.
   * With `failFast` (the default) a failed task stops the phase and it throws `TaskFailedError`.
   * A spent budget or `maxTasks` makes it throw `BudgetExceededError` / `LimitError` once the
   * tasks already running have ended; a cancelled run makes it throw `RunCancelledError`.
   */
  phase(name: string, tasks: readonly WorkflowTask[], options?: PhaseOptions): Promise<WorkflowTaskResult[]>;
  /** Runs one agent on `input` and adds its usage to the run; throws `TaskFailedError` when it fails. */
  synthesize(agent: Agent, input: unknown, options?: SynthesizeOptions): Promise<WorkflowTaskResult>;
  /** Adds a line to the run's log (the result's `logs`, the session's history, `onLog`). */
  log(message: string): void;
  /** Fan out tasks in one phase, then synthesize their results. */
  fanOutAndSynthesize(options: FanOutAndSynthesizeOptions): Promise<FanOutAndSynthesizeResult>;
  /** Ask a verifier to refute each finding; keep those a majority of votes could not refute. */
  adversarialVerify(options: AdversarialVerifyOptions): Promise<AdversarialVerifyResult>;
  /** Several generators produce candidates; a filter agent accepts only the strong ones. */
  generateAndFilter(options: GenerateAndFilterOptions): Promise<GenerateAndFilterResult>;
  /** Several agents attempt the same task; a judge compares them pairwise, round by round. */
  tournament(options: TournamentOptions): Promise<TournamentResult>;
  /** Repeats a phase until a condition holds, or `maxIterations` passes. */
  loopUntilDone(options: LoopUntilDoneOptions): Promise<LoopUntilDoneResult>;
}

/**
 * What `workflow()` takes.
 *
 * @example
 * ```ts
 * const config: WorkflowConfig<string[], string> = { name: 'audit', run: async (ctx, files) => files.join(',') };
 * ```
 */
export interface WorkflowConfig<Args = unknown, Output = unknown> {
  /** Names the run everywhere: its events, its session's memo and summary, the start of its id. */
  name: string;
  description?: string;
  /** Upper bound of every phase's concurrency in this workflow. */
  maxConcurrency?: number;
  run: (ctx: WorkflowRuntimeContext, args: Args) => Promise<Output> | Output;
}

/**
 * A Stratus-style workflow definition (S701).
 *
 * @example
 * ```ts
 * const def: WorkflowDefinition<string[], string> = workflow({ name: 'audit', run: async () => 'ready' });
 * ```
 */
export interface WorkflowDefinition<Args = unknown, Output = unknown> {
  readonly kind: 'stratus-workflow';
  readonly name: string;
  readonly description: string | null;
  readonly maxConcurrency: number | null;
  run(ctx: WorkflowRuntimeContext, args: Args): Promise<Output> | Output;
}

/** Temporal workflow ids and memo values stay readable with names of this shape. */
const NAME = /^[\w.:-][\w .:-]{0,199}$/;

/**
 * Defines a workflow: a name and a `run(ctx, args)` function that owns the phases, loops, fan-out
 * and synthesis (S701). Run it with `runWorkflow()` or `streamWorkflow()`.
 *
 * @example
 * ```ts
 * export default workflow({
 *   name: 'auth-audit',
 *   description: 'Audit every route for missing auth checks',
 *   maxConcurrency: 8,
 *   run: async (ctx, routes: string[]) => {
 *     const results = await ctx.phase('inspect', routes.map((r) => workflowTask({ id: r, agent: auditor, input: `Inspect ${r}` })));
 *     return results.map((r) => r.output);
 *   },
 * });
 * ```
 */
export function workflow<Args = unknown, Output = unknown>(
  config: WorkflowConfig<Args, Output>,
): WorkflowDefinition<Args, Output> {
  if (typeof config?.name !== 'string' || !NAME.test(config.name)) {
    throw new ConfigError(
      'workflow({ name }) needs a name of letters, digits, spaces and . _ : - (at most 200 characters)',
    );
  }
  if (typeof config.run !== 'function')
    throw new ConfigError(`workflow ${config.name}: run must be a function`);
  if (config.description !== undefined && typeof config.description !== 'string') {
    throw new ConfigError(`workflow ${config.name}: description must be a string`);
  }
  if (
    config.maxConcurrency !== undefined &&
    !(Number.isInteger(config.maxConcurrency) && config.maxConcurrency >= 1)
  ) {
    throw new ConfigError(`workflow ${config.name}: maxConcurrency must be a positive integer`);
  }
  return Object.freeze({
    kind: 'stratus-workflow',
    name: config.name,
    description: config.description ?? null,
    maxConcurrency: config.maxConcurrency ?? null,
    run: config.run,
  });
}
