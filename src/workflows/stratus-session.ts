/**
 * The Stratus session workflow (S701, S703): one Temporal workflow execution per Stratus-style
 * `runWorkflow()`. The orchestration (`run(ctx, args)`) runs in the caller's process; each agent
 * task arrives here as a `weft.stratus.runTask` update and runs as weft's agent activity, the same
 * activity with the same heartbeat timeout, retry policy and checkpoints as a script's `agent()`.
 * Function tasks the caller ran, and tasks reused from an earlier run, are recorded through
 * `weft.stratus.recordTask`. The session ends when the caller signals `weft.stratus.finish`, or is
 * cancelled, and its history shows every task.
 *
 * Sandbox-only code: imports only `@temporalio/workflow` and local workflow files (see README.md).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  StratusFinish,
  StratusLogLine,
  StratusSessionInput,
  StratusSessionOutput,
  StratusTaskRecord,
  StratusTaskRequest,
  StratusWaitRequest,
  StratusWaitResult,
} from './stratus-session-types';
import type { AgentRecord, AgentRequest, RunProgress, TokenUsage } from '../types';
import { runAgent, SCHEMA_ATTEMPTS } from './agent-activity';
import { progressQuery } from './definitions';
import {
  cancelTaskSignal,
  completedTaskFields,
  finishSignal,
  logSignal,
  recordTaskSignal,
  startTaskSignal,
  tasksQuery,
  waitTasksUpdate,
} from './stratus-definitions';

/** Characters of each prompt kept in the progress view; the full prompt is in the activity's input. */
const PROMPT_PREVIEW = 500;
/** Running tasks named in the Web UI's current details. */
const RUNNING_SHOWN = 8;

interface LiveTask {
  request: StratusTaskRequest;
  index: number;
  scope: CancellationScope;
  /** Why the task was cancelled, when the caller cancelled it alone. */
  reason: string | null;
  startedAt: number;
}

/** The failure type, message and spend of a failed agent activity. */
function describeFailure(err: unknown): {
  type: string;
  message: string;
  usage: TokenUsage | null;
  costUsd: number;
} {
  let failure: unknown = err;
  if (err instanceof ActivityFailure && err.cause) failure = err.cause;
  if (failure instanceof ApplicationFailure) {
    const detail = failure.details?.[0] as { usage?: TokenUsage | null; costUsd?: number | null } | undefined;
    return {
      type: failure.type ?? 'Error',
      message: failure.message,
      usage: detail?.usage ?? null,
      costUsd: typeof detail?.costUsd === 'number' ? detail.costUsd : 0,
    };
  }
  const e = failure instanceof Error ? failure : new Error(String(failure));
  return { type: e.name || 'Error', message: e.message, usage: null, costUsd: 0 };
}

/** Whether a start signal carries what a task needs (anything else is ignored, never a failed workflow task). */
function isTaskRequest(r: StratusTaskRequest): boolean {
  return (
    typeof r.prompt === 'string' &&
    typeof r.name === 'string' &&
    typeof r.phase === 'string' &&
    typeof r.agent === 'object' &&
    r.agent !== null
  );
}

class Session {
  private readonly records: StratusTaskRecord[] = [];
  private readonly keys = new Set<string>();
  private readonly running = new Map<string, LiveTask>();
  private readonly logs: StratusLogLine[] = [];
  private readonly usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  private costUsd = 0;
  private finish: StratusFinish | null = null;
  /** Set once the session is about to close: waiters answer with what there is. */
  private closing = false;
  /** Every task's position in the session, in the order they started: its agent activity's `index`. */
  private nextIndex = 0;
  private readonly indexes = new Map<string, number>();
  private lastActivity = Date.now();
  private readonly startedAt = Date.now();

  constructor(private readonly input: StratusSessionInput) {}

  async execute(): Promise<StratusSessionOutput> {
    this.installHandlers();
    this.publish();
    try {
      await this.waitForFinish();
    } catch (err) {
      if (isCancellation(err)) {
        // Running tasks were cancelled with the run: let them be recorded, and waiters answered,
        // before it closes.
        this.closing = true;
        await CancellationScope.nonCancellable(() => condition(() => this.settled()));
        this.publish();
      }
      throw err;
    }
    this.closing = true;
    await condition(() => this.settled());
    this.publish();
    const finish = this.finish as StratusFinish;
    if (finish.status === 'failed') {
      throw ApplicationFailure.create({
        type: finish.error?.name || 'Error',
        message: finish.error?.message ?? 'the workflow failed',
        nonRetryable: true,
        details: [
          {
            agents: this.records.filter((r) => r.kind !== 'function' && r.resumedFrom === null).length,
            usage: this.usage,
            costUsd: this.costUsd,
          },
        ],
      });
    }
    const progress = this.progress();
    return {
      name: this.input.name,
      output: finish.output ?? null,
      tasks: this.records,
      usage: this.usage,
      costUsd: this.costUsd,
      logs: progress.logs,
      result: finish.output ?? null,
      agents: this.records.filter((r) => r.kind !== 'function' && r.resumedFrom === null).length,
      records: progress.agents,
      cached: this.records.filter((r) => r.resumedFrom !== null).length,
      stopReason: null,
    };
  }

  /** No task running and no handler in progress: the session may close. */
  private settled(): boolean {
    return this.running.size === 0 && allHandlersFinished();
  }

  private installHandlers(): void {
    setHandler(startTaskSignal, (request) => {
      if (!this.admit(request?.key) || !isTaskRequest(request)) return;
      // The task runs in the background; its record reaches the caller through waitTasks.
      void this.runTask(request);
    });
    setHandler(recordTaskSignal, (record) => {
      if (this.admit(record?.key)) this.record(record);
    });
    setHandler(waitTasksUpdate, (request) => this.waitTasks(request), {
      validator: (request: StratusWaitRequest) => {
        if (!(Number.isInteger(request?.after) && request.after >= 0)) {
          throw new TypeError('waitTasks needs after: a record count');
        }
      },
    });
    setHandler(cancelTaskSignal, ({ key, reason }) => {
      const live = this.running.get(key);
      if (!live) return;
      live.reason = reason ?? 'cancelled by the caller';
      live.scope.cancel();
    });
    setHandler(logSignal, (line) => {
      this.lastActivity = Date.now();
      this.logs.push(line);
    });
    setHandler(finishSignal, (finish) => {
      this.finish ??= finish;
    });
    setHandler(tasksQuery, () => this.records);
    setHandler(progressQuery, () => this.progress());
  }

  /**
   * Whether a task is new: a key the session already has is a repeated signal (a client retry),
   * and nothing starts once the caller finished.
   */
  private admit(key: unknown): boolean {
    this.lastActivity = Date.now();
    return typeof key === 'string' && key !== '' && this.finish === null && !this.keys.has(key);
  }

  /**
   * Answers with the records after the first `after`, waiting until there are some. The wait ends
   * early, possibly empty, when the session closes; it is never cancelled by itself, so a cancelled
   * run still hands its cancelled tasks back.
   */
  private async waitTasks({ after }: StratusWaitRequest): Promise<StratusWaitResult> {
    this.lastActivity = Date.now();
    await CancellationScope.nonCancellable(() =>
      condition(() => this.records.length > after || this.closing),
    );
    return { records: this.records.slice(after), total: this.records.length };
  }

  /**
   * Waits for the caller's finish signal. A session whose caller went away (no task running and no
   * message for `idleTimeoutMs`) fails as abandoned instead of staying open for ever.
   */
  private async waitForFinish(): Promise<void> {
    const idle = this.input.idleTimeoutMs;
    for (;;) {
      const quietFor = Date.now() - this.lastActivity;
      const wait = Math.max(1_000, idle - quietFor);
      if (await condition(() => this.finish !== null, wait)) return;
      if (this.running.size > 0 || Date.now() - this.lastActivity < idle) continue;
      throw ApplicationFailure.create({
        type: 'RunAbandonedError',
        message: `no task ran and the caller sent nothing for ${Math.round(idle / 1000)}s: the caller is gone`,
        nonRetryable: true,
      });
    }
  }

  private async runTask(task: StratusTaskRequest): Promise<void> {
    this.keys.add(task.key);
    this.lastActivity = Date.now();
    const live: LiveTask = {
      request: task,
      index: this.nextIndex++,
      scope: new CancellationScope(),
      reason: null,
      startedAt: Date.now(),
    };
    this.running.set(task.key, live);
    this.indexes.set(task.key, live.index);
    this.publish();
    const request: AgentRequest = {
      runId: workflowInfo().workflowId,
      index: live.index,
      label: task.name,
      phase: task.phase,
      prompt: task.prompt,
      schema: task.schema,
      model: task.agent.model ?? this.input.model,
      explicitModel: task.agent.model,
      agentType: task.agent.agentType,
      isolation: null,
      cwd: this.input.cwd,
      maxSchemaAttempts: SCHEMA_ATTEMPTS,
      maxTurns: task.maxTurns ?? this.input.maxTurns,
      maxOutputTokens: null,
      // The task's key travels in the request, so a resume can read completed tasks from history.
      cacheKey: task.key,
      occurrence: 1,
      dryRun: this.input.dryRun,
      instructions: task.agent.instructions,
      tools: task.agent.tools,
    };
    const base = {
      key: task.key,
      kind: task.kind,
      phase: task.phase,
      id: task.id,
      name: task.name,
      inputHash: task.inputHash,
      resumedFrom: null,
      startedAt: live.startedAt,
    } as const;
    let record: StratusTaskRecord;
    try {
      const result = await live.scope.run(() =>
        runAgent.executeWithOptions(
          { summary: `${task.phase} › ${task.name}`, startToCloseTimeout: this.input.agentTimeoutMs },
          [request],
        ),
      );
      record = { ...base, ...completedTaskFields(result), completedAt: Date.now() };
    } catch (err) {
      if (isCancellation(err)) {
        record = {
          ...base,
          status: 'cancelled',
          output: null,
          error: live.reason ?? 'the run was cancelled',
          errorType: 'CancelledFailure',
          usage: { inputTokens: 0, outputTokens: 0 },
          costUsd: 0,
          numTurns: 0,
          attempts: 1,
          model: request.model,
          completedAt: Date.now(),
        };
      } else {
        const failure = describeFailure(err);
        record = {
          ...base,
          status: 'failed',
          output: null,
          error: `${failure.type}: ${failure.message}`,
          errorType: failure.type,
          usage: failure.usage ?? { inputTokens: 0, outputTokens: 0 },
          costUsd: failure.costUsd,
          numTurns: 0,
          attempts: 1,
          model: request.model,
          completedAt: Date.now(),
        };
      }
    }
    // Recorded before it leaves the running set, so a closing session never misses it.
    this.add(record);
    this.running.delete(task.key);
    this.publish();
  }

  private record(record: StratusTaskRecord): void {
    this.keys.add(record.key);
    this.indexes.set(record.key, this.nextIndex++);
    this.add(record);
  }

  private add(record: StratusTaskRecord): void {
    this.lastActivity = Date.now();
    this.records.push(record);
    // Reused tasks were paid for by the run they came from.
    if (record.resumedFrom === null) {
      this.usage.inputTokens += record.usage.inputTokens;
      this.usage.outputTokens += record.usage.outputTokens;
      this.costUsd += record.costUsd;
    }
    this.publish();
  }

  /** The session as weft's `weft.progress` query shows a run, so `weft watch` and `weft show` work. */
  private progress(): RunProgress {
    const agents: AgentRecord[] = this.records.map((r) => ({
      index: this.indexes.get(r.key) ?? -1,
      label: r.name,
      phase: r.phase,
      group: null,
      status: r.resumedFrom !== null ? 'cached' : r.status === 'cancelled' ? 'skipped' : r.status,
      model: r.model,
      prompt: '',
      usage: r.usage,
      costUsd: r.costUsd,
      attempts: r.attempts,
      schemaAttempts: 0,
      startedAt: r.startedAt,
      endedAt: r.completedAt,
      error: r.error,
      worktree: null,
      cached: r.resumedFrom !== null,
    }));
    for (const live of this.running.values()) {
      agents.push({
        index: live.index,
        label: live.request.name,
        phase: live.request.phase,
        group: null,
        status: 'running',
        model: live.request.agent.model ?? this.input.model,
        prompt: live.request.prompt.slice(0, PROMPT_PREVIEW),
        usage: { inputTokens: 0, outputTokens: 0 },
        costUsd: 0,
        attempts: 1,
        schemaAttempts: 0,
        startedAt: live.startedAt,
        endedAt: null,
        error: null,
        worktree: null,
        cached: false,
      });
    }
    agents.sort((a, b) => a.index - b.index);
    const phases = [...new Set(agents.map((a) => a.phase ?? ''))].map((title) => ({ title }));
    return {
      name: this.input.name,
      state: 'running',
      phases,
      agents,
      logs: this.logs.map((l) => ({ at: l.at, message: l.message, group: null })),
      usage: this.usage,
      costUsd: this.costUsd,
      concurrency: 0,
      budgetTokens: null,
      startedAt: this.startedAt,
      stopReason: null,
    };
  }

  /** The tasks as markdown in the Web UI's current details (free: not recorded in history). */
  private publish(): void {
    const count = (status: StratusTaskRecord['status']): number =>
      this.records.filter((r) => r.status === status && r.resumedFrom === null).length;
    const reused = this.records.filter((r) => r.resumedFrom !== null).length;
    const lines = [
      `**${this.input.name}** (Stratus workflow) · ${count('completed')} completed, ${count('failed')} failed, ` +
        `${count('cancelled')} cancelled, ${reused} reused, ${this.running.size} running` +
        ` · ${this.usage.inputTokens + this.usage.outputTokens} tokens · $${this.costUsd.toFixed(2)}`,
    ];
    const running = [...this.running.values()];
    if (running.length > 0) {
      const more = running.length > RUNNING_SHOWN ? ` and ${running.length - RUNNING_SHOWN} more` : '';
      lines.push(
        '',
        `- running: ${running
          .slice(0, RUNNING_SHOWN)
          .map((l) => `${l.request.phase} › ${l.request.name}`)
          .join(', ')}${more}`,
      );
    }
    setCurrentDetails(lines.join('\n'));
  }
}

/**
 * The session workflow of one Stratus-style run (S703). Registered by name: the workflow type is
 * `stratusSession`; the Stratus workflow's name is in the run's memo (`stratusName`), its summary
 * and the start of its workflow id.
 * @example
 * ```ts
 * // Started by runWorkflow(); by hand it would be:
 * await client.workflow.start('stratusSession', { taskQueue: 'weft', workflowId: 'audit-1', args: [input] });
 * ```
 */
export async function stratusSession(input: StratusSessionInput): Promise<StratusSessionOutput> {
  return new Session(input).execute();
}
