/**
 * Public types of weft's Stratus-style TypeScript API (S701-S703). Types only.
 */
import type { Client, Connection } from '@temporalio/client';
import type { JsonSchema } from '../types';
import type { Agent } from './agent';

/**
 * Token usage of a task, a phase or a run.
 *
 * @example
 * ```ts
 * const result = await runWorkflow(audit, files);
 * console.log(result.usage.totalTokens);
 * ```
 */
export interface WorkflowUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/**
 * How a task ended: `skipped` means `resumeFrom` reused its earlier result and it did not run.
 *
 * @example
 * ```ts
 * const failed = results.filter((r) => r.status === 'failed');
 * ```
 */
export type WorkflowTaskStatus = 'completed' | 'failed' | 'skipped' | 'cancelled';

/**
 * What ran a task: an agent (durably, as weft's agent activity), a function in the caller's
 * process, or `ctx.synthesize()`.
 *
 * @example
 * ```ts
 * const agentTasks = result.tasks.filter((t) => t.kind === 'agent');
 * ```
 */
export type WorkflowTaskKind = 'agent' | 'function' | 'synthesis';

/**
 * One task's result (S701).
 *
 * @example
 * ```ts
 * for (const r of await ctx.phase('review', tasks, { failFast: false })) {
 *   console.log(r.id, r.status, r.output ?? r.error, r.usage.totalTokens, r.totalCostUsd);
 * }
 * ```
 */
export interface WorkflowTaskResult<T = unknown> {
  id: string;
  name: string;
  /** The phase's name (`synthesis` for `ctx.synthesize()`). */
  phase: string;
  kind: WorkflowTaskKind;
  status: WorkflowTaskStatus;
  /** The agent's final text, its validated object when it had a `schema`, or the function's value. */
  output: T | null;
  /** `Type: message` when it failed or was cancelled; null otherwise. */
  error: string | null;
  usage: WorkflowUsage;
  /** Model round trips. */
  numTurns: number;
  totalCostUsd: number;
  /** Milliseconds since the epoch. */
  startedAt: number;
  completedAt: number;
  /** The task's `metadata`, as given. */
  metadata: Record<string, unknown> | undefined;
  /** The model that answered, for agent tasks. */
  model: string | null;
  /** Temporal activity attempts (more than 1 after a lost worker); 0 for function tasks. */
  attempts: number;
  /** The run whose result was reused, when `status` is `skipped`. */
  resumedFrom: string | null;
}

/**
 * Options of `ctx.phase()`.
 *
 * @example
 * ```ts
 * await ctx.phase('inspect', tasks, { concurrency: 6, failFast: false });
 * ```
 */
export interface PhaseOptions {
  /** Tasks at once; default the run's `concurrency` (4), capped by `maxConcurrency`. */
  concurrency?: number;
  /** When true (default), a failed task stops the phase: no more start, running ones are cancelled. */
  failFast?: boolean;
}

/**
 * A phase as events name it.
 *
 * @example
 * ```ts
 * if (event.type === 'workflow_task_started') console.log(event.phase.name, event.task.id);
 * ```
 */
export interface WorkflowPhaseRef {
  name: string;
  /** The name, with `#n` after its first use in the run: the resume key's first half. */
  key: string;
  /** 0-based order of the phase in the run. */
  index: number;
}

/**
 * A finished phase.
 *
 * @example
 * ```ts
 * run.onEvent((e) => e.type === 'workflow_phase_completed' && console.log(e.phase.name, e.phase.status));
 * ```
 */
export interface WorkflowPhaseResult extends WorkflowPhaseRef {
  /** `failed` when a failed task stopped it (failFast); `cancelled` when the run was cancelled or a budget refused its tasks. */
  status: 'completed' | 'failed' | 'cancelled';
  tasks: WorkflowTaskResult[];
  usage: WorkflowUsage;
  totalCostUsd: number;
  startedAt: number;
  completedAt: number;
}

/**
 * Where a run stands or how it ended.
 *
 * @example
 * ```ts
 * if (manager.get(id)?.status === 'running') await manager.stop(id);
 * ```
 */
export type WorkflowRunStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/**
 * A run's result or snapshot (S703). A failed or cancelled run's is on the `WorkflowRunError`
 * that `runWorkflow()` rejects with.
 *
 * @example
 * ```ts
 * const result = await runWorkflow(audit, files);
 * console.log(result.output, result.usage.totalTokens, result.totalCostUsd, result.tasks.length);
 * ```
 */
export interface WorkflowRunResult<T = unknown> {
  /** The session workflow's id in Temporal; pass it (or this object) as `resumeFrom`. */
  runId: string;
  /** The Stratus workflow's name. */
  name: string;
  status: WorkflowRunStatus;
  /** `run()`'s return value; null unless completed. */
  output: T | null;
  /** Why it failed or was cancelled. */
  error: string | null;
  /** Work done in this run; reused (skipped) tasks count in the run they came from. */
  usage: WorkflowUsage;
  totalCostUsd: number;
  /** Every task and synthesis, in the order they ended. */
  tasks: WorkflowTaskResult[];
  /** Every phase that ended. */
  phases: WorkflowPhaseResult[];
  /** `ctx.log()` lines. */
  logs: string[];
  startedAt: number;
  completedAt: number | null;
  durationMs: number;
  /** The run whose tasks this one reused, if any. */
  resumedFrom: string | null;
}

/**
 * What a Stratus run uses of a connected `WeftClient`: its Temporal client and task queue. The
 * Stratus API is a client of the runtime, not of weft's client, so it names only this shape.
 */
export interface ConnectedWeftClient {
  readonly temporal: Client;
  readonly config: { readonly taskQueue: string };
}

/**
 * Budgets (S703). Checks happen before each task starts, against work already completed, so tasks
 * running at once can overshoot; once a limit is passed no new task starts and the phase throws
 * `BudgetExceededError`.
 *
 * @example
 * ```ts
 * await runWorkflow(audit, files, { budget: { maxTotalTokens: 50_000, maxCostUsd: 10, maxDurationMs: 600_000 } });
 * ```
 */
export interface WorkflowBudget {
  maxPromptTokens?: number;
  maxCompletionTokens?: number;
  maxTotalTokens?: number;
  maxCostUsd?: number;
  maxDurationMs?: number;
}

/**
 * Something `resumeFrom` accepts: a run id, or anything carrying one (a result, a snapshot, a
 * managed run, a `WorkflowRunError`'s `result`).
 *
 * @example
 * ```ts
 * await runWorkflow(audit, files, { resumeFrom: first });       // a result
 * await runWorkflow(audit, files, { resumeFrom: 'parallel-audit-1a2b3c4d' });
 * ```
 */
export type ResumeSource = string | { runId: string };

/**
 * Options of `runWorkflow()`, `streamWorkflow()` and the run manager (S703).
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * await runWorkflow(audit, files, {
 *   taskQueue: 'weft', signal: controller.signal, concurrency: 8, maxConcurrency: 16, maxTasks: 1000,
 *   budget: { maxTotalTokens: 50_000 },
 * });
 * ```
 */
export interface RunWorkflowOptions {
  /**
   * A connected `WeftClient` or Temporal `Client` to use (not closed by the run). Without one (and
   * without `connection`) the run connects like `WeftClient.connect()`: `TEMPORAL_ADDRESS`, or the
   * embedded dev server.
   */
  client?: ConnectedWeftClient | Client;
  /** A Temporal connection to build a client on (with `namespace`). */
  connection?: Connection;
  namespace?: string;
  /** Task queue of the weft workers that run the tasks; default the client's, else `WEFT_TASK_QUEUE`, else `weft`. */
  taskQueue?: string;
  /** The session workflow's id; default `<name>-<8 hex>`. */
  runId?: string;
  /** Default task concurrency of phases; default 4. */
  concurrency?: number;
  /** Upper bound of any phase's concurrency; default 16. */
  maxConcurrency?: number;
  /** Tasks (agent, function and synthesis) a run may start; default 1000. */
  maxTasks?: number;
  budget?: WorkflowBudget;
  /** Aborting cancels the run: running tasks are cancelled through Temporal and the session ends cancelled. */
  signal?: AbortSignal;
  /** A previous run whose completed tasks are reused by phase and task id (reported as skipped). */
  resumeFrom?: ResumeSource;
  /** The agents' working directory on the workers; default this process's cwd. */
  cwd?: string;
  /** Default model of agents that name none; default the worker's (`WEFT_MODEL`). */
  model?: string;
  /** Answer every agent task from weft's built-in model: no key, no spend. */
  dryRun?: boolean;
  /** Longest one agent task may run; default 30 minutes. */
  agentTimeoutMs?: number;
  /** Model round trips of agent tasks that set no `maxTurns`; default 50. */
  maxTurns?: number;
  /** The session fails as abandoned after this long with no task and no word from the caller; default 30 minutes. */
  idleTimeoutMs?: number;
  /** Called with every event, in order (as `streamWorkflow()` yields them). */
  onEvent?: (event: WorkflowEvent) => void;
  /** Called with every `ctx.log()` line. */
  onLog?: (message: string) => void;
}

/**
 * What a function task's `execute` gets.
 *
 * @example
 * ```ts
 * workflowTask({ id: 'load', execute: async ({ signal }) => JSON.stringify(await loadFixtures(signal)) });
 * ```
 */
export interface FunctionTaskContext {
  /** The task's `input`, as given. */
  input: unknown;
  /** Aborted when the run is cancelled. */
  signal: AbortSignal;
  runId: string;
  phase: string;
  id: string;
}

/** Fields every task has. */
interface TaskBase {
  /** Unique within its phase; with the phase name, the key `resumeFrom` matches on. */
  id: string;
  /** How views and events name it; default the id. */
  name?: string;
  metadata?: Record<string, unknown>;
}

/**
 * A task run by an agent, durably, as weft's agent activity.
 *
 * @example
 * ```ts
 * workflowTask({ id: 'billing', agent: reviewer, input: 'Review the billing module.', maxTurns: 4 });
 * ```
 */
export interface AgentWorkflowTask extends TaskBase {
  agent: Agent;
  /** The prompt; objects are sent as JSON. */
  input: unknown;
  maxTurns?: number;
  /** A JSON Schema: the agent answers through StructuredOutput and `output` is the validated object. */
  schema?: JsonSchema;
  execute?: undefined;
}

/**
 * A task run by a function in the caller's process; its result is recorded in the session.
 *
 * @example
 * ```ts
 * workflowTask({ id: 'load-fixtures', execute: async () => JSON.stringify(await loadFixtures()) });
 * ```
 */
export interface FunctionWorkflowTask extends TaskBase {
  execute: (context: FunctionTaskContext) => unknown;
  input?: unknown;
  agent?: undefined;
  maxTurns?: undefined;
  schema?: undefined;
}

/**
 * An agent task or a function task (S701).
 *
 * @example
 * ```ts
 * const tasks: WorkflowTask[] = files.map((f) => workflowTask({ id: f, agent: reviewer, input: `Audit ${f}` }));
 * ```
 */
export type WorkflowTask = AgentWorkflowTask | FunctionWorkflowTask;

/**
 * Options of `ctx.synthesize()`.
 *
 * @example
 * ```ts
 * await ctx.synthesize(judge, text, { schema: VERDICT, name: 'final verdict' });
 * ```
 */
export interface SynthesizeOptions {
  schema?: JsonSchema;
  maxTurns?: number;
  /** How events and views name it; default `synthesize (<agent name>)`. */
  name?: string;
}

/**
 * Every event of a run, with seed 000's names (S703).
 *
 * @example
 * ```ts
 * for await (const event of streamWorkflow(audit, files).stream) {
 *   if (event.type === 'workflow_task_completed') console.log(`${event.task.name}: ${event.task.status}`);
 * }
 * ```
 */
export type WorkflowEvent =
  | (WorkflowEventBase & { type: 'workflow_started'; args: unknown; resumedFrom: string | null })
  | (WorkflowEventBase & {
      type: 'workflow_phase_started';
      phase: WorkflowPhaseRef & { taskCount: number; concurrency: number; failFast: boolean };
    })
  | (WorkflowEventBase & {
      type: 'workflow_task_started';
      phase: WorkflowPhaseRef;
      task: {
        id: string;
        name: string;
        kind: WorkflowTaskKind;
        metadata: Record<string, unknown> | undefined;
      };
    })
  /** The task completed, or was interrupted (`task.status` is then `cancelled`). */
  | (WorkflowEventBase & {
      type: 'workflow_task_completed';
      phase: WorkflowPhaseRef;
      task: WorkflowTaskResult;
    })
  | (WorkflowEventBase & {
      type: 'workflow_task_failed';
      phase: WorkflowPhaseRef;
      task: WorkflowTaskResult;
      error: string;
    })
  /** `resumeFrom` reused the task's earlier result: it did not run. */
  | (WorkflowEventBase & { type: 'workflow_task_skipped'; phase: WorkflowPhaseRef; task: WorkflowTaskResult })
  | (WorkflowEventBase & { type: 'workflow_phase_completed'; phase: WorkflowPhaseResult })
  | (WorkflowEventBase & { type: 'workflow_synthesis_started'; id: string; name: string; agent: string })
  | (WorkflowEventBase & { type: 'workflow_synthesis_completed'; result: WorkflowTaskResult })
  | (WorkflowEventBase & { type: 'workflow_completed'; result: WorkflowRunResult })
  | (WorkflowEventBase & { type: 'workflow_failed'; error: string; result: WorkflowRunResult });

/**
 * Fields every event has.
 *
 * @example
 * ```ts
 * run.onEvent((e) => console.log(new Date(e.at).toISOString(), e.runId, e.type));
 * ```
 */
export interface WorkflowEventBase {
  runId: string;
  /** The Stratus workflow's name. */
  workflow: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/**
 * The name of every event.
 *
 * @example
 * ```ts
 * const seen = new Set<WorkflowEventType>();
 * ```
 */
export type WorkflowEventType = WorkflowEvent['type'];
