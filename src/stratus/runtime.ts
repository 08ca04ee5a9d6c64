/**
 * The caller-side engine of a Stratus-style run (S701-S703). `run(ctx, args)` runs here, in the
 * caller's process; every agent task is sent to the run's session workflow as an update and runs
 * there durably as weft's agent activity; function tasks run here and are recorded in the session.
 */
import { randomBytes } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { DEFAULT_AGENT_TIMEOUT_MS, DEFAULT_MAX_TURNS } from '../config';
import { BudgetExceededError, ConfigError, LimitError, RunCancelledError } from '../errors';
import { TaskFailedError, WorkflowRunError } from './errors';
import {
  STRATUS_SESSION_KIND,
  cancelTaskSignal,
  finishSignal,
  logSignal,
  recordTaskSignal,
  startTaskSignal,
  waitTasksUpdate,
} from '../workflows/stratus-definitions';
import type { Agent } from './agent';
import { resolveConnection } from './connection';
import { taskFingerprint } from './fingerprint';
import type { StratusConnection } from './connection';
import * as patterns from './patterns';
import { loadResumeRecords, resumeRunId } from './resume';
import type {
  StratusFinish,
  StratusSessionInput,
  StratusTaskRecord,
  StratusTaskRequest,
} from '../workflows/stratus-session-types';
import type {
  PhaseOptions,
  RunWorkflowOptions,
  SynthesizeOptions,
  WorkflowEvent,
  WorkflowPhaseRef,
  WorkflowPhaseResult,
  WorkflowRunResult,
  WorkflowRunStatus,
  WorkflowTask,
  WorkflowTaskResult,
  WorkflowUsage,
} from './types';
import { checkTask } from './workflow-task';
import type { WorkflowDefinition, WorkflowRuntimeContext } from './workflow';

/**
 * Default task concurrency of a phase (seed 000's default).
 * @example
 * ```ts
 * await ctx.phase('review', tasks); // at most DEFAULT_CONCURRENCY (4) at once
 * ```
 */
export const DEFAULT_CONCURRENCY = 4;
/**
 * Upper bound of any phase's concurrency unless `maxConcurrency` says otherwise.
 * @example
 * ```ts
 * await ctx.phase('review', tasks, { concurrency: 64 }); // capped at DEFAULT_MAX_CONCURRENCY (16)
 * ```
 */
export const DEFAULT_MAX_CONCURRENCY = 16;
/**
 * Tasks one run may start unless `maxTasks` says otherwise.
 * @example
 * ```ts
 * await runWorkflow(def, args, { maxTasks: DEFAULT_MAX_TASKS * 2 });
 * ```
 */
export const DEFAULT_MAX_TASKS = 1000;
/**
 * A session whose caller sent nothing for this long, with no task running, fails as abandoned.
 * @example
 * ```ts
 * await runWorkflow(def, args, { idleTimeoutMs: 2 * DEFAULT_IDLE_TIMEOUT_MS });
 * ```
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60 * 1000;

/** How long a cancelled run waits for its session to confirm, before it ends without it. */
const CANCEL_GRACE_MS = 15_000;

/** A run whose first tasks are still unanswered this long after it started checks for workers. */
const WORKER_HINT_AFTER_MS = 10_000;

/**
 * Distributes an event to `onEvent`, a stream, a run manager.
 * @example
 * ```ts
 * const sink: EventSink = (event) => console.log(event.type);
 * ```
 */
export type EventSink = (event: WorkflowEvent) => void;

/** Omit helper for the event union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type EventBody = DistributiveOmit<WorkflowEvent, 'runId' | 'workflow' | 'at'>;

function usageOf(u: { inputTokens: number; outputTokens: number }): WorkflowUsage {
  return {
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    totalTokens: u.inputTokens + u.outputTokens,
  };
}

function sumUsage(results: readonly WorkflowTaskResult[]): { usage: WorkflowUsage; cost: number } {
  let inputTokens = 0;
  let outputTokens = 0;
  let cost = 0;
  for (const r of results) {
    if (r.status === 'skipped') continue;
    inputTokens += r.usage.inputTokens;
    outputTokens += r.usage.outputTokens;
    cost += r.totalCostUsd;
  }
  return { usage: usageOf({ inputTokens, outputTokens }), cost };
}

/**
 * An agent task's prompt: strings as they are, anything else as JSON.
 * @example
 * ```ts
 * promptText({ file: 'a.ts' }); // '{\n  "file": "a.ts"\n}'
 * ```
 */
export function promptText(input: unknown): string {
  return typeof input === 'string' ? input : JSON.stringify(input, null, 2);
}

/** A value as it can be stored in the session's history: JSON, or null when it is not. */
function jsonValue(value: unknown): { value: unknown; ok: boolean } {
  if (value === undefined) return { value: null, ok: true };
  try {
    return { value: JSON.parse(JSON.stringify(value)) as unknown, ok: true };
  } catch {
    return { value: null, ok: false };
  }
}

function errorText(err: unknown): { name: string; message: string } {
  if (err instanceof Error) return { name: err.name || 'Error', message: err.message };
  return { name: 'Error', message: String(err) };
}

/** Whether an RPC failed because the session has already closed (it was cancelled or ended). */
function isClosedSession(err: unknown): boolean {
  const message = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  return /not ?found|already completed|workflow execution .*(closed|completed)|WorkflowNotFound/i.test(
    message,
  );
}

interface PhaseStop {
  error: Error | null;
}

/**
 * One run: its session workflow, its totals, its events. Built by `runWorkflow()`,
 * `streamWorkflow()` and the run manager.
 * @example
 * ```ts
 * const run = new StratusRun(auditWorkflow, files, { taskQueue: 'weft' }, (e) => console.log(e.type));
 * const result = await run.execute();
 * ```
 */
export class StratusRun<Args = unknown, Output = unknown> {
  readonly runId: string;
  private readonly startedAt = Date.now();
  private completedAt: number | null = null;
  private status: WorkflowRunStatus = 'running';
  private output: Output | null = null;
  private error: string | null = null;
  private readonly tasks: WorkflowTaskResult[] = [];
  private readonly phases: WorkflowPhaseResult[] = [];
  private readonly logs: string[] = [];
  private readonly phaseUses = new Map<string, number>();
  private phaseCount = 0;
  private synthesisCount = 0;
  private started = 0;
  private resume = new Map<string, StratusTaskRecord>();
  private readonly resumedFrom: string | null;
  private handle: WorkflowHandle | null = null;
  private client: Client | null = null;
  private readonly abort = new AbortController();
  private cancelling: Promise<void> | null = null;
  /** Aborted when a cancelled session took longer than `CANCEL_GRACE_MS` to confirm it. */
  private readonly giveUp = new AbortController();
  private graceTimer: NodeJS.Timeout | null = null;
  /** Set once a budget or the task limit refused a task: later tasks are refused too. */
  private refusal: Error | null = null;
  /** Agent tasks sent to the session, waiting for their records. */
  private readonly waiting = new Map<
    string,
    { resolve: (record: StratusTaskRecord) => void; reject: (err: unknown) => void }
  >();
  /** Records of the session read so far. */
  private seen = 0;
  private polling = false;
  /** Running agent tasks' keys by phase key, so a failFast phase can cancel its siblings. */
  private readonly runningByPhase = new Map<string, Set<string>>();

  constructor(
    private readonly def: WorkflowDefinition<Args, Output>,
    private readonly args: Args,
    private readonly options: RunWorkflowOptions,
    private readonly sink: EventSink,
  ) {
    if (def?.kind !== 'stratus-workflow')
      throw new ConfigError('runWorkflow() needs a workflow({...}) definition');
    this.runId = options.runId ?? `${def.name.replace(/[^\w.-]+/g, '-')}-${randomBytes(4).toString('hex')}`;
    this.resumedFrom = options.resumeFrom === undefined ? null : resumeRunId(options.resumeFrom);
    for (const [key, value] of Object.entries({
      concurrency: options.concurrency,
      maxConcurrency: options.maxConcurrency,
      maxTasks: options.maxTasks,
    })) {
      if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
        throw new ConfigError(`runWorkflow option ${key} must be a positive integer`);
      }
    }
  }

  /** The run so far, in the shape of its final result. */
  snapshot(): WorkflowRunResult<Output> {
    const { usage, cost } = sumUsage(this.tasks);
    return {
      runId: this.runId,
      name: this.def.name,
      status: this.status,
      output: this.output,
      error: this.error,
      usage,
      totalCostUsd: cost,
      tasks: [...this.tasks],
      phases: [...this.phases],
      logs: [...this.logs],
      startedAt: this.startedAt,
      completedAt: this.completedAt,
      durationMs: (this.completedAt ?? Date.now()) - this.startedAt,
      resumedFrom: this.resumedFrom,
    };
  }

  private emit(body: EventBody): void {
    const event = { ...body, runId: this.runId, workflow: this.def.name, at: Date.now() } as WorkflowEvent;
    try {
      this.sink(event);
    } catch {
      // A listener's bug must not break the run.
    }
  }

  /** Runs the workflow to its end. Rejects with `WorkflowRunError` when it fails or is cancelled. */
  async execute(): Promise<WorkflowRunResult<Output>> {
    const userSignal = this.options.signal;
    const onAbort = (): void => this.cancel(userSignal?.reason);
    let connection: StratusConnection | null = null;
    try {
      if (userSignal?.aborted) throw new RunCancelledError('the run was cancelled before it started');
      userSignal?.addEventListener('abort', onAbort, { once: true });
      connection = await resolveConnection(this.options);
      this.client = connection.client;
      if (this.resumedFrom !== null)
        this.resume = await loadResumeRecords(connection.client, this.resumedFrom);
      this.handle = await this.startSession(connection);
      if (this.abort.signal.aborted) this.cancelSession();
    } catch (err) {
      userSignal?.removeEventListener('abort', onAbort);
      await connection?.close();
      // Nothing started: there is no session to record anything in.
      return this.fail(
        err,
        this.abort.signal.aborted || err instanceof RunCancelledError ? 'cancelled' : 'failed',
      );
    }
    const started = connection;
    const hint = setTimeout(() => void this.warnWithoutWorkers(started), WORKER_HINT_AFTER_MS);
    hint.unref();
    try {
      this.emit({ type: 'workflow_started', args: this.args, resumedFrom: this.resumedFrom });
      let output: Output;
      try {
        output = await this.def.run(this.context(), this.args);
      } catch (err) {
        if (this.abort.signal.aborted) return await this.endCancelled(err);
        return await this.endFailed(err);
      }
      if (this.abort.signal.aborted)
        return await this.endCancelled(new RunCancelledError('the run was cancelled'));
      userSignal?.removeEventListener('abort', onAbort);
      return await this.endCompleted(output);
    } finally {
      clearTimeout(hint);
      if (this.graceTimer !== null) clearTimeout(this.graceTimer);
      userSignal?.removeEventListener('abort', onAbort);
      await connection.close();
    }
  }

  private async startSession(connection: StratusConnection): Promise<WorkflowHandle> {
    const o = this.options;
    const input: StratusSessionInput = {
      kind: STRATUS_SESSION_KIND,
      name: this.def.name,
      description: this.def.description,
      cwd: o.cwd ?? process.cwd(),
      model: o.model ?? null,
      agentTimeoutMs: o.agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS,
      maxTurns: o.maxTurns ?? DEFAULT_MAX_TURNS,
      dryRun: o.dryRun ?? false,
      resumeFrom: this.resumedFrom,
      idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    };
    let argsText: string | undefined;
    try {
      argsText = this.args === undefined ? undefined : JSON.stringify(this.args);
    } catch {
      argsText = undefined;
    }
    // Typed by the Stratus name, as scripts are by meta.name: weft's default workflow recognises
    // the session's input by its kind.
    return connection.client.workflow.start(this.def.name, {
      taskQueue: connection.taskQueue,
      workflowId: this.runId,
      args: [input],
      memo: {
        stratusName: this.def.name,
        ...(this.def.description ? { stratusDescription: this.def.description } : {}),
      },
      staticSummary: `${this.def.name} (Stratus workflow)${this.def.description ? `: ${this.def.description}` : ''}`,
      ...(argsText === undefined
        ? {}
        : { staticDetails: `args: ${argsText.length > 900 ? `${argsText.slice(0, 899)}…` : argsText}` }),
    });
  }

  /**
   * Tasks wait, durably, until a weft worker polls the task queue; say so when none has lately,
   * rather than let a run seem to hang.
   */
  private async warnWithoutWorkers(connection: StratusConnection): Promise<void> {
    // Records came back, or no task is waiting: workers are there, or not needed yet.
    if (this.seen > 0 || this.waiting.size === 0) return;
    try {
      const { pollers } = await connection.client.workflowService.describeTaskQueue({
        namespace: connection.client.options.namespace,
        taskQueue: { name: connection.taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      if ((pollers ?? []).length === 0) {
        process.emitWarning(
          `no weft worker has polled task queue ${connection.taskQueue} lately: run ${this.runId}'s tasks ` +
            'wait until one does (start `weft worker`, or createWeftWorker() in this process)',
          'WeftWarning',
        );
      }
    } catch {
      // Only a hint; the run does not depend on it.
    }
  }

  /** Cancels the run: no task starts any more and the session is cancelled through Temporal. */
  cancel(reason?: unknown): void {
    if (this.abort.signal.aborted) return;
    let why: RunCancelledError;
    if (reason instanceof RunCancelledError) why = reason;
    else {
      // An AbortController's default reason says nothing more than "aborted".
      const detail =
        reason instanceof Error && reason.name !== 'AbortError'
          ? `: ${reason.message}`
          : typeof reason === 'string'
            ? `: ${reason}`
            : '';
      why = new RunCancelledError(
        `the run was cancelled${detail}`,
        reason === undefined ? undefined : { cause: reason },
      );
    }
    this.abort.abort(why);
    this.cancelSession();
  }

  /**
   * Asks Temporal to cancel the session, once. Whatever still waits on it gives up after a grace
   * period, so a run whose workers are gone still ends (the session is cancelled when one returns).
   */
  private cancelSession(): void {
    if (this.handle === null || this.cancelling !== null) return;
    const handle = this.handle;
    this.cancelling = handle.cancel().then(
      () => {},
      () => {
        // Already closed: nothing left to cancel.
      },
    );
    this.graceTimer = setTimeout(
      () =>
        this.giveUp.abort(
          new RunCancelledError(
            `the session did not confirm the cancellation within ${CANCEL_GRACE_MS / 1000}s (is a weft worker running?)`,
          ),
        ),
      CANCEL_GRACE_MS,
    );
    this.graceTimer.unref();
  }

  /** Runs a call to Temporal that gives up once a cancelled session took too long to confirm. */
  private bounded<T>(call: () => Promise<T>): Promise<T> {
    // A signal aborted already would never fire again: the call must not start at all.
    if (this.giveUp.signal.aborted) return Promise.reject(this.giveUp.signal.reason as Error);
    return (this.client as Client).withAbortSignal(this.giveUp.signal, call);
  }

  private async endCompleted(output: Output): Promise<WorkflowRunResult<Output>> {
    const handle = this.handle as WorkflowHandle;
    const stored = jsonValue(output);
    const finish: StratusFinish = { status: 'completed', output: stored.value, error: null };
    try {
      await handle.signal(finishSignal, finish);
      await handle.result();
    } catch (err) {
      return this.fail(err, 'failed');
    }
    this.output = output;
    this.status = 'completed';
    this.completedAt = Date.now();
    const result = this.snapshot();
    this.emit({ type: 'workflow_completed', result });
    return result;
  }

  private async endFailed(cause: unknown): Promise<never> {
    const handle = this.handle as WorkflowHandle;
    const finish: StratusFinish = { status: 'failed', output: null, error: errorText(cause) };
    try {
      await handle.signal(finishSignal, finish);
      await handle.result();
    } catch (err) {
      // The session fails with run()'s error, as intended; anything else is worth knowing too.
      if (!(err instanceof WorkflowFailedError) && !isClosedSession(err)) {
        this.logs.push(`the session did not record the failure: ${errorText(err).message}`);
      }
    }
    return this.fail(cause, 'failed');
  }

  private async endCancelled(cause: unknown): Promise<never> {
    this.cancel();
    await this.cancelling;
    try {
      const handle = this.handle as WorkflowHandle;
      await this.bounded(() => handle.result());
    } catch (err) {
      if (this.giveUp.signal.aborted) {
        this.logs.push(errorText(this.giveUp.signal.reason).message);
      } else if (!(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure)) {
        this.logs.push(`the session ended otherwise than cancelled: ${errorText(err).message}`);
      }
    }
    const reason = this.abort.signal.reason as unknown;
    return this.fail(reason instanceof Error ? reason : cause, 'cancelled');
  }

  private fail(cause: unknown, status: 'failed' | 'cancelled'): never {
    const { name, message } = errorText(cause);
    this.status = status;
    this.error =
      status === 'cancelled' && !(cause instanceof Error) ? 'the run was cancelled' : `${name}: ${message}`;
    this.completedAt = Date.now();
    const result = this.snapshot();
    this.emit({ type: 'workflow_failed', error: this.error, result });
    throw new WorkflowRunError(
      `workflow ${this.def.name} (${this.runId}) ${status}: ${this.error}`,
      result,
      cause,
    );
  }

  // ---- The context `run()` gets ----

  private context(): WorkflowRuntimeContext {
    const core = {
      phase: (name: string, tasks: readonly WorkflowTask[], options?: PhaseOptions) =>
        this.phase(name, tasks, options),
      synthesize: (agent: Agent, input: unknown, options?: SynthesizeOptions) =>
        this.synthesize(agent, input, options),
      log: (message: string) => this.log(message),
    };
    return Object.freeze({
      runId: this.runId,
      workflowName: this.def.name,
      signal: this.abort.signal,
      usage: () => {
        const { usage, cost } = sumUsage(this.tasks);
        return { ...usage, totalCostUsd: cost };
      },
      ...core,
      fanOutAndSynthesize: (o: patterns.FanOutAndSynthesizeOptions) => patterns.fanOutAndSynthesize(core, o),
      adversarialVerify: (o: patterns.AdversarialVerifyOptions) => patterns.adversarialVerify(core, o),
      generateAndFilter: (o: patterns.GenerateAndFilterOptions) => patterns.generateAndFilter(core, o),
      tournament: (o: patterns.TournamentOptions) => patterns.tournament(core, o),
      loopUntilDone: (o: patterns.LoopUntilDoneOptions) => patterns.loopUntilDone(core, o),
    });
  }

  private log(message: string): void {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    this.logs.push(text);
    this.options.onLog?.(text);
    if (this.handle !== null && !this.abort.signal.aborted) {
      // Logs are best effort: a closed session must not fail the run over one.
      this.handle.signal(logSignal, { at: Date.now(), message: text }).catch(() => {});
    }
  }

  /** Refuses a new task once the run is cancelled, a budget is passed or `maxTasks` is reached. */
  private admit(): void {
    if (this.abort.signal.aborted) throw new RunCancelledError('the run was cancelled: no new tasks start');
    if (this.refusal === null) this.refusal = this.budgetRefusal();
    if (this.refusal !== null) throw this.refusal;
    const maxTasks = this.options.maxTasks ?? DEFAULT_MAX_TASKS;
    if (this.started >= maxTasks) {
      this.refusal = new LimitError(
        `task limit reached: a run may start at most ${maxTasks} tasks (maxTasks)`,
      );
      throw this.refusal;
    }
    this.started++;
  }

  private budgetRefusal(): BudgetExceededError | null {
    const budget = this.options.budget;
    if (!budget) return null;
    const { usage, cost } = sumUsage(this.tasks);
    const over = (
      what: string,
      used: number,
      limit: number | undefined,
      unit = '',
    ): BudgetExceededError | null =>
      limit !== undefined && used > limit
        ? new BudgetExceededError(
            `${what} budget exceeded: ${unit}${used} used of ${unit}${limit}; no new tasks start`,
          )
        : null;
    return (
      over('total token (maxTotalTokens)', usage.totalTokens, budget.maxTotalTokens) ??
      over('prompt token (maxPromptTokens)', usage.inputTokens, budget.maxPromptTokens) ??
      over('completion token (maxCompletionTokens)', usage.outputTokens, budget.maxCompletionTokens) ??
      over('cost (maxCostUsd)', Math.round(cost * 1e6) / 1e6, budget.maxCostUsd, '$') ??
      (budget.maxDurationMs !== undefined && Date.now() - this.startedAt > budget.maxDurationMs
        ? new BudgetExceededError(
            `duration budget exceeded (maxDurationMs): ${Date.now() - this.startedAt} ms elapsed of ${budget.maxDurationMs}; no new tasks start`,
          )
        : null)
    );
  }

  private concurrencyFor(options: PhaseOptions | undefined): number {
    const wanted = options?.concurrency ?? this.options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!(Number.isInteger(wanted) && wanted >= 1))
      throw new ConfigError('phase concurrency must be a positive integer');
    const cap = Math.min(
      this.def.maxConcurrency ?? Infinity,
      this.options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
    );
    return Math.max(1, Math.min(wanted, cap));
  }

  private async phase(
    name: string,
    tasks: readonly WorkflowTask[],
    options?: PhaseOptions,
  ): Promise<WorkflowTaskResult[]> {
    if (typeof name !== 'string' || name === '') throw new ConfigError('ctx.phase(name, tasks) needs a name');
    if (!Array.isArray(tasks)) throw new ConfigError(`phase ${name}: tasks must be an array`);
    const ids = new Set<string>();
    for (const task of tasks) {
      checkTask(task);
      if (ids.has(task.id)) throw new ConfigError(`phase ${name}: two tasks have the id ${task.id}`);
      ids.add(task.id);
    }
    if (this.abort.signal.aborted) throw new RunCancelledError('the run was cancelled: no new phase starts');
    const use = (this.phaseUses.get(name) ?? 0) + 1;
    this.phaseUses.set(name, use);
    const ref: WorkflowPhaseRef = {
      name,
      key: use === 1 ? name : `${name}#${use}`,
      index: this.phaseCount++,
    };
    const concurrency = this.concurrencyFor(options);
    const failFast = options?.failFast ?? true;
    const phaseStartedAt = Date.now();
    this.emit({
      type: 'workflow_phase_started',
      phase: { ...ref, taskCount: tasks.length, concurrency, failFast },
    });
    const results: Array<WorkflowTaskResult | undefined> = new Array<WorkflowTaskResult | undefined>(
      tasks.length,
    );
    const stop: PhaseStop = { error: null };
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < tasks.length && stop.error === null && !this.abort.signal.aborted) {
        const index = next++;
        const task = tasks[index] as WorkflowTask;
        try {
          const result = await this.runTask(task, ref);
          results[index] = result;
          if (result.status === 'failed' && failFast && stop.error === null) {
            stop.error = new TaskFailedError(
              `phase ${name}: task ${task.id} failed (${result.error ?? 'no reason'}); failFast stops the phase`,
              result,
            );
            this.cancelSiblings(ref, `phase ${name} stopped: task ${task.id} failed`);
          }
        } catch (err) {
          // A refused task (budget, maxTasks, cancelled run) or a broken connection stops the phase.
          stop.error ??= err instanceof Error ? err : new Error(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, lane));
    if (this.abort.signal.aborted && stop.error === null) {
      stop.error = new RunCancelledError('the run was cancelled');
    }
    const notStarted = stop.error
      ? `not started: ${errorText(stop.error).name}: ${errorText(stop.error).message}`
      : '';
    const finished = tasks.map(
      (task, i) => results[i] ?? this.notStartedResult(task, ref, notStarted || 'not started'),
    );
    const { usage, cost } = sumUsage(finished);
    const phase: WorkflowPhaseResult = {
      ...ref,
      status:
        stop.error instanceof TaskFailedError ? 'failed' : stop.error !== null ? 'cancelled' : 'completed',
      tasks: finished,
      usage,
      totalCostUsd: cost,
      startedAt: phaseStartedAt,
      completedAt: Date.now(),
    };
    this.phases.push(phase);
    this.emit({ type: 'workflow_phase_completed', phase });
    if (stop.error instanceof TaskFailedError) {
      throw new TaskFailedError(stop.error.message, stop.error.task, finished);
    }
    if (stop.error !== null) throw stop.error;
    return finished;
  }

  private notStartedResult(task: WorkflowTask, ref: WorkflowPhaseRef, reason: string): WorkflowTaskResult {
    const now = Date.now();
    return {
      id: task.id,
      name: task.name ?? task.id,
      phase: ref.name,
      kind: task.agent !== undefined ? 'agent' : 'function',
      status: 'cancelled',
      output: null,
      error: reason,
      usage: usageOf({ inputTokens: 0, outputTokens: 0 }),
      numTurns: 0,
      totalCostUsd: 0,
      startedAt: now,
      completedAt: now,
      metadata: task.metadata,
      model: null,
      attempts: 0,
      resumedFrom: null,
    };
  }

  private cancelSiblings(ref: WorkflowPhaseRef, reason: string): void {
    const handle = this.handle;
    if (handle === null) return;
    for (const key of this.runningByPhase.get(ref.key) ?? []) {
      handle.signal(cancelTaskSignal, { key, reason }).catch(() => {
        // The task may have ended meanwhile, or the session closed.
      });
    }
  }

  /** One task of a phase: reused from `resumeFrom`, sent to the session, or run here. */
  private async runTask(task: WorkflowTask, ref: WorkflowPhaseRef): Promise<WorkflowTaskResult> {
    const key = JSON.stringify([ref.key, task.id]);
    const name = task.name ?? task.id;
    const reused = this.resume.get(key);
    if (reused?.status === 'completed') {
      return this.reuse(reused, key, { name, metadata: task.metadata, phase: ref.name }, (result) =>
        this.emit({ type: 'workflow_task_skipped', phase: ref, task: result }),
      );
    }
    this.admit();
    const kind = task.agent !== undefined ? 'agent' : 'function';
    this.emit({
      type: 'workflow_task_started',
      phase: ref,
      task: { id: task.id, name, kind, metadata: task.metadata },
    });
    let record: StratusTaskRecord;
    if (task.agent !== undefined) {
      const prompt = promptText(task.input);
      const running = this.runningByPhase.get(ref.key) ?? new Set<string>();
      this.runningByPhase.set(ref.key, running);
      running.add(key);
      try {
        record = await this.sendTask({
          key,
          kind: 'agent',
          phase: ref.key,
          id: task.id,
          name,
          prompt,
          agent: task.agent.toSpec(),
          maxTurns: task.maxTurns ?? null,
          schema: task.schema ?? null,
          inputHash: inputHash(prompt, task.agent, task.schema),
        });
      } finally {
        running.delete(key);
      }
    } else {
      record = await this.runFunction(task, ref, key, name);
    }
    const result = this.toResult(record, { name, metadata: task.metadata, phase: ref.name });
    this.tasks.push(result);
    if (result.status === 'failed') {
      this.emit({ type: 'workflow_task_failed', phase: ref, task: result, error: result.error ?? 'failed' });
    } else {
      this.emit({ type: 'workflow_task_completed', phase: ref, task: result });
    }
    return result;
  }

  /**
   * Sends an agent task to the session and waits, durably, for its record. The task starts by
   * signal; its record comes back through the run's one `waitTasks` long poll (see `poll`).
   */
  private async sendTask(request: StratusTaskRequest): Promise<StratusTaskRecord> {
    const handle = this.handle as WorkflowHandle;
    const startedAt = Date.now();
    try {
      const record = new Promise<StratusTaskRecord>((resolve, reject) =>
        this.waiting.set(request.key, { resolve, reject }),
      );
      await handle.signal(startTaskSignal, request);
      this.poll();
      return await record;
    } catch (err) {
      this.waiting.delete(request.key);
      // The session closed under the task: the run was cancelled.
      if (this.abort.signal.aborted || isClosedSession(err)) {
        return {
          key: request.key,
          kind: request.kind,
          phase: request.phase,
          id: request.id,
          name: request.name,
          status: 'cancelled',
          output: null,
          error: this.abort.signal.aborted
            ? 'the run was cancelled'
            : `the session closed: ${errorText(err).message}`,
          errorType: 'CancelledFailure',
          usage: { inputTokens: 0, outputTokens: 0 },
          costUsd: 0,
          numTurns: 0,
          attempts: 0,
          model: request.agent.model,
          startedAt,
          completedAt: Date.now(),
          inputHash: request.inputHash,
          resumedFrom: null,
        };
      }
      throw err;
    }
  }

  /** Runs a function task here and records its result in the session. */
  private async runFunction(
    task: WorkflowTask,
    ref: WorkflowPhaseRef,
    key: string,
    name: string,
  ): Promise<StratusTaskRecord> {
    const startedAt = Date.now();
    let status: StratusTaskRecord['status'] = 'completed';
    let output: unknown = null;
    let error: string | null = null;
    let errorType: string | null = null;
    try {
      output = await (task.execute as NonNullable<WorkflowTask['execute']>)({
        input: task.input,
        signal: this.abort.signal,
        runId: this.runId,
        phase: ref.name,
        id: task.id,
      });
    } catch (err) {
      const e = errorText(err);
      status = this.abort.signal.aborted ? 'cancelled' : 'failed';
      error = `${e.name}: ${e.message}`;
      errorType = e.name;
    }
    const stored = jsonValue(output);
    const record: StratusTaskRecord = {
      key,
      kind: 'function',
      phase: ref.key,
      id: task.id,
      name,
      status,
      output: stored.value,
      error,
      errorType,
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      numTurns: 0,
      attempts: 0,
      model: null,
      startedAt,
      completedAt: Date.now(),
      inputHash: null,
      resumedFrom: null,
    };
    if (!stored.ok) this.log(`task ${task.id}: its output is not JSON, so the session records null for it`);
    await this.recordQuietly(record);
    // The caller gets the function's own value, JSON or not.
    return { ...record, output };
  }

  /**
   * Keeps one `waitTasks` update in flight while tasks are waiting, and hands each record to its
   * task. One long poll per run, whatever its concurrency: Temporal limits the updates in flight
   * per workflow (10 by default), so an update per running task would cap a phase at 10.
   */
  private poll(): void {
    if (this.polling || this.waiting.size === 0) return;
    this.polling = true;
    void this.pollLoop();
  }

  private async pollLoop(): Promise<void> {
    const handle = this.handle as WorkflowHandle;
    try {
      while (this.waiting.size > 0) {
        const { records, total } = await this.bounded(() =>
          handle.executeUpdate(waitTasksUpdate, { args: [{ after: this.seen }] }),
        );
        this.seen = total;
        for (const record of records) {
          const waiter = this.waiting.get(record.key);
          if (!waiter) continue;
          this.waiting.delete(record.key);
          waiter.resolve(record);
        }
        // An empty answer means the session is closing: what still waits will never be recorded.
        if (records.length === 0) throw new Error('the session closed before its tasks ended');
      }
    } catch (err) {
      for (const [key, waiter] of this.waiting) {
        this.waiting.delete(key);
        waiter.reject(err);
      }
    } finally {
      this.polling = false;
      // A task may have been sent just as the loop ended.
      this.poll();
    }
  }

  /** Records a task in the session; a session already closed (cancelled) is not an error here. */
  private async recordQuietly(record: StratusTaskRecord): Promise<void> {
    const handle = this.handle as WorkflowHandle;
    try {
      await handle.signal(recordTaskSignal, record);
    } catch (err) {
      if (!(this.abort.signal.aborted || isClosedSession(err))) throw err;
    }
  }

  /** A completed task of the resumed run, recorded again here so a resume of this run finds it too. */
  private async reuse(
    previous: StratusTaskRecord,
    key: string,
    as: { name: string; metadata: Record<string, unknown> | undefined; phase: string },
    announce: (result: WorkflowTaskResult) => void = () => {},
  ): Promise<WorkflowTaskResult> {
    const from = previous.resumedFrom ?? (this.resumedFrom as string);
    const result = this.toResult({ ...previous, resumedFrom: from }, as);
    this.tasks.push(result);
    // Announced at once, so reused tasks are reported in task order.
    announce(result);
    await this.recordQuietly({ ...previous, key, resumedFrom: from });
    return result;
  }

  private toResult(
    record: StratusTaskRecord,
    as: { name: string; metadata: Record<string, unknown> | undefined; phase: string },
  ): WorkflowTaskResult {
    return {
      id: record.id,
      name: as.name,
      phase: as.phase,
      kind: record.kind,
      status: record.resumedFrom !== null ? 'skipped' : record.status,
      output: record.output ?? null,
      error: record.error,
      usage: usageOf(record.usage),
      numTurns: record.numTurns,
      totalCostUsd: record.costUsd,
      startedAt: record.startedAt,
      completedAt: record.completedAt,
      metadata: as.metadata,
      model: record.model,
      attempts: record.attempts,
      resumedFrom: record.resumedFrom,
    };
  }

  private async synthesize(
    agent: Agent,
    input: unknown,
    options: SynthesizeOptions = {},
  ): Promise<WorkflowTaskResult> {
    checkTask({ id: 'synthesis', agent, input, ...(options.schema ? { schema: options.schema } : {}) });
    const n = ++this.synthesisCount;
    const id = `synthesis-${n}`;
    const name = options.name ?? `synthesize (${agent.name})`;
    const key = `synthesis#${n}`;
    const prompt = promptText(input);
    const hash = inputHash(prompt, agent, options.schema);
    this.emit({ type: 'workflow_synthesis_started', id, name, agent: agent.name });
    const as = { name, metadata: undefined, phase: 'synthesis' };
    const previous = this.resume.get(key);
    let result: WorkflowTaskResult;
    if (previous?.status === 'completed' && previous.inputHash === hash) {
      result = await this.reuse(previous, key, as);
    } else {
      this.admit();
      const record = await this.sendTask({
        key,
        kind: 'synthesis',
        phase: 'synthesis',
        id,
        name,
        prompt,
        agent: agent.toSpec(),
        maxTurns: options.maxTurns ?? null,
        schema: options.schema ?? null,
        inputHash: hash,
      });
      result = this.toResult(record, as);
      this.tasks.push(result);
    }
    this.emit({ type: 'workflow_synthesis_completed', result });
    if (result.status === 'cancelled') throw new RunCancelledError(`synthesis ${name} was cancelled`);
    if (result.status === 'failed')
      throw new TaskFailedError(`synthesis ${name} failed: ${result.error ?? ''}`, result);
    return result;
  }
}

/** What identifies an agent task's work: prompt, agent and schema (see `taskFingerprint`). */
function inputHash(prompt: string, agent: Agent, schema: unknown): string {
  const spec = agent.toSpec();
  return taskFingerprint({
    prompt,
    instructions: spec.instructions,
    model: spec.model,
    agentType: spec.agentType,
    tools: spec.tools,
    schema: schema ?? null,
  });
}
