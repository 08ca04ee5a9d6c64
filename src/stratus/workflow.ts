/**
 * Defining Stratus-style workflows and tasks (S701).
 */
import { ConfigError } from '../errors';
import { Agent } from './agent';
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
  AgentWorkflowTask,
  FunctionWorkflowTask,
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

/**
 * Defines a task: an agent task (`agent` + `input`), run durably as weft's agent activity on a
 * worker, or a function task (`execute`), run in the caller's process with its result recorded in
 * the run's Temporal history (S701).
 *
 * @example
 * ```ts
 * const review = workflowTask({ id: 'billing', name: 'review billing', agent: reviewer, input: 'Review the billing module.', maxTurns: 4, metadata: { owner: 'payments' } });
 * const load = workflowTask({ id: 'load-fixtures', execute: async () => JSON.stringify(await loadFixtures()) });
 * ```
 */
export function workflowTask(config: AgentWorkflowTask): AgentWorkflowTask;
export function workflowTask(config: FunctionWorkflowTask): FunctionWorkflowTask;
export function workflowTask(config: WorkflowTask): WorkflowTask {
  checkTask(config);
  return Object.freeze({ ...config });
}

/**
 * Checks one task's shape; `ctx.phase()` checks every task the same way before any starts.
 *
 * @throws ConfigError naming the task and what is wrong.
 * @example
 * ```ts
 * checkTask(workflowTask({ id: 'a', agent: reviewer, input: 'Review a.ts' })); // passes
 * ```
 */
export function checkTask(task: WorkflowTask): void {
  if (typeof task !== 'object' || task === null)
    throw new ConfigError('a task must be a workflowTask({...}) object');
  if (typeof task.id !== 'string' || task.id === '')
    throw new ConfigError('workflowTask({ id }) needs a non-empty id');
  const where = `task ${task.id}`;
  if (task.name !== undefined && typeof task.name !== 'string')
    throw new ConfigError(`${where}: name must be a string`);
  if (task.metadata !== undefined && (typeof task.metadata !== 'object' || task.metadata === null)) {
    throw new ConfigError(`${where}: metadata must be an object`);
  }
  const hasAgent = task.agent !== undefined;
  const hasExecute = task.execute !== undefined;
  if (hasAgent === hasExecute) throw new ConfigError(`${where}: give exactly one of agent or execute`);
  if (hasExecute && typeof task.execute !== 'function')
    throw new ConfigError(`${where}: execute must be a function`);
  if (hasAgent) {
    if (!(task.agent instanceof Agent)) throw new ConfigError(`${where}: agent must be a new Agent({...})`);
    if (task.input === undefined || task.input === null || task.input === '') {
      throw new ConfigError(`${where}: an agent task needs an input (its prompt)`);
    }
    if (task.maxTurns !== undefined && !(Number.isInteger(task.maxTurns) && task.maxTurns >= 1)) {
      throw new ConfigError(`${where}: maxTurns must be a positive integer`);
    }
    if (task.schema !== undefined && (typeof task.schema !== 'object' || task.schema === null)) {
      throw new ConfigError(`${where}: schema must be a JSON Schema object`);
    }
  }
}
