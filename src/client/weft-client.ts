import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import {
  DEFAULT_AGENT_TIMEOUT_MS,
  DEFAULT_MAX_TURNS,
  defaultConcurrency,
  describeConnection,
  MAX_AGENTS,
  temporalConnectOptions,
} from '../config';
import type { ConnectionDescription, TemporalConnectOptions, WeftConfig } from '../config';
import { connectTemporal } from '../connection/connect-temporal';
import type { ConnectOptions } from '../connection/connect-temporal';
import { ConfigError } from '../errors';
import { buildResumeCache } from '../activities/resume-cache';
import { readRunHistory } from '../storage/run-history';
import {
  approveUpdate,
  continueSignal,
  pauseSignal,
  progressQuery,
  stopAgentUpdate,
} from '../workflows/definitions';
import type {
  ApprovalDecision,
  ApprovalRecord,
  CompiledScript,
  RunInput,
  RunOptions,
  RunOutput,
  RunProgress,
  TokenUsage,
} from '../types';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { WEFT_AGENTS, WEFT_DRY_RUN, WEFT_OUTPUT_TOKENS, WEFT_SEARCH_ATTRIBUTES } from '../search-attributes';
import { lastToolFromHeartbeat, runEvents } from './run-events';
import type { RunEvent, RunEventsOptions } from './run-events';
import { listRuns, runDetails } from './run-views';
import type { RunDetails, RunListEntry, RunListFilter } from './run-views';

export type { ConnectOptions } from '../connection/connect-temporal';

/** How a run ended; the CLI's `status` field. */
export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out';

/** A run's outcome, as `weft run --json` and `weft wait --json` print it. */
export interface RunSummary {
  runId: string;
  status: RunStatus;
  /** The script's return value; null unless completed. */
  result: unknown;
  /** Agents the run started. */
  agents: number;
  usage: TokenUsage;
  durationMs: number;
  /** Why the run did not complete. */
  error?: string;
  /** Agent calls served from the resumed run, when it was resumed (S305). */
  cached?: number;
  /** Why a budget or deadline ended the run early (S210). */
  stopReason?: string;
  /** The full workflow output when it completed, with every agent's record. */
  output?: RunOutput;
}

/** Per-run settings a caller may give; the rest have defaults. */
export interface StartOptions {
  args?: unknown;
  concurrency?: number;
  budgetTokens?: number | null;
  model?: string | null;
  cwd?: string;
  dryRun?: boolean;
  /** Workflow id to use instead of a generated one. */
  runId?: string;
  /** Longest one agent may run (default 30 minutes). */
  agentTimeoutMs?: number;
  /** Model round trips per agent (default 50). */
  maxTurns?: number;
  /** Serve matching agent calls from this finished run's completed agents (S305). */
  resumeFrom?: string;
  /** Hard ceiling on estimated spend in US dollars. */
  maxCostUsd?: number;
  /** Hard ceiling on the run's wall time in milliseconds. */
  maxDurationMs?: number;
}

/** A run a program holds on to: its result, its events, and the controls of S306. */
export interface WeftRunHandle {
  readonly runId: string;
  /** Waits for the run to end; never throws for a run that failed. */
  result(): Promise<RunSummary>;
  /** The current state without waiting. */
  status(): Promise<RunSummary>;
  /** The live progress query. */
  progress(): Promise<RunProgress>;
  /** The run's events as an async iterator (see {@link WeftClient.events}). */
  events(options?: RunEventsOptions): AsyncGenerator<RunEvent, void, undefined>;
  /** Every agent with its full prompt and result. */
  details(): Promise<RunDetails>;
  /** Stops the whole run. */
  stop(): Promise<void>;
  /** Stops one agent by index or label; returns how many matched. */
  stopAgent(agent: number | string, reason?: string): Promise<number>;
  pause(): Promise<void>;
  continue(): Promise<void>;
}

/** Workflow task timeout of every run (Temporal's default is 10 s, its maximum 120 s). */
const WORKFLOW_TASK_TIMEOUT = '60s';

/**
 * weft's client: starts scripts as Temporal workflows and reads, waits for and steers runs.
 * The CLI is built on it; programs may use it directly.
 */
export class WeftClient {
  private constructor(
    readonly temporal: Client,
    private readonly connection: Connection,
    readonly config: WeftConfig,
    /** The frontend address in use. */
    readonly address: string,
    /** The Web UI's base URL, when known (embedded server or `TEMPORAL_UI_URL`). */
    readonly uiUrl: string | null,
  ) {}

  /** Connects to `TEMPORAL_ADDRESS`, or to the embedded dev server, started if need be. */
  static async connect(options: ConnectOptions = {}): Promise<WeftClient> {
    const { client, connection, config, address, uiUrl } = await connectTemporal(options);
    return new WeftClient(client, connection, config, address, uiUrl);
  }

  /** Builds the workflow input for a script, fixing every per-run setting now so replays agree. */
  runInput(script: CompiledScript, options: StartOptions = {}, searchAttributes = false): RunInput {
    const runOptions: RunOptions = {
      concurrency: options.concurrency ?? defaultConcurrency(),
      budgetTokens: options.budgetTokens ?? null,
      maxAgents: MAX_AGENTS,
      model: options.model ?? null,
      cwd: options.cwd ?? process.cwd(),
      dryRun: options.dryRun ?? false,
      agentTimeoutMs: options.agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS,
      maxTurns: options.maxTurns ?? DEFAULT_MAX_TURNS,
      resumeFrom: options.resumeFrom ?? null,
      maxCostUsd: options.maxCostUsd ?? null,
      maxDurationMs: options.maxDurationMs ?? null,
      searchAttributes,
    };
    return { script, ...(options.args === undefined ? {} : { args: options.args }), options: runOptions };
  }

  /**
   * Starts a run and returns its id at once (S302). The workflow type is `meta.name` (S301).
   * With `resumeFrom`, the old run is checked first: unknown, still running, or with nothing to
   * offer is a ConfigError, and nothing starts.
   */
  async start(script: CompiledScript, options: StartOptions = {}): Promise<string> {
    if (options.resumeFrom) {
      await buildResumeCache(this.temporal, options.resumeFrom, { dryRun: options.dryRun ?? false });
    }
    const runId = options.runId ?? `${script.meta.name}-${randomBytes(4).toString('hex')}`;
    this.searchAttributesReady ??= this.missingSearchAttributes().then(
      (missing) => missing.length === 0,
      () => false,
    );
    const searchAttributes = await this.searchAttributesReady;
    await this.temporal.workflow.start(script.meta.name, {
      taskQueue: this.config.taskQueue,
      workflowId: runId,
      args: [this.runInput(script, options, searchAttributes)],
      // A worker runs one task at a time per workflow thread, so a few scripts that each run the
      // watchdog's full slice queue behind one another; at Temporal's default 10 s the server would
      // time their tasks out and retry them forever before the watchdog could fail the runs.
      workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
      ...(searchAttributes
        ? {
            typedSearchAttributes: [
              { key: WEFT_DRY_RUN, value: options.dryRun ?? false },
              { key: WEFT_AGENTS, value: 0 },
              { key: WEFT_OUTPUT_TOKENS, value: 0 },
            ],
          }
        : {}),
      staticSummary: script.meta.description,
      staticDetails:
        options.args === undefined ? undefined : `args: ${truncate(JSON.stringify(options.args), 900)}`,
    });
    return runId;
  }

  /** Whether this namespace has weft's search attributes; checked once per client. */
  private searchAttributesReady: Promise<boolean> | undefined;

  private handle(runId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(runId);
  }

  /** Waits for a run to end and summarizes it; never throws for a run that failed. */
  async wait(runId: string): Promise<RunSummary> {
    const handle = this.handle(runId);
    let output: RunOutput | undefined;
    let error: string | undefined;
    let partial: { agents?: number; usage?: TokenUsage } | undefined;
    try {
      output = (await handle.result()) as RunOutput;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new ConfigError(`no run with id ${runId}`);
      if (!(err instanceof WorkflowFailedError)) throw err;
      const cause = err.cause;
      error = describeFailure(cause);
      if (cause instanceof ApplicationFailure) partial = cause.details?.[0] as typeof partial;
    }
    // A cancelled, terminated or timed-out run carries no totals of its own, so count its agents
    // and tokens from the agent activities its history recorded.
    if (output === undefined && partial === undefined) partial = await this.totalsFromHistory(runId);
    return this.summarize(runId, output, error, partial);
  }

  private async totalsFromHistory(runId: string): Promise<{ agents: number; usage: TokenUsage }> {
    const history = await readRunHistory(this.temporal, runId);
    const usage = { inputTokens: 0, outputTokens: 0 };
    for (const agent of history.agents) {
      usage.inputTokens += agent.result?.usage.inputTokens ?? 0;
      usage.outputTokens += agent.result?.usage.outputTokens ?? 0;
    }
    return { agents: history.agents.length, usage };
  }

  /** The current state of a run without waiting. */
  async status(runId: string): Promise<RunSummary> {
    const description = await this.describe(runId);
    if (description.status.name === 'RUNNING') {
      const progress = await this.progress(runId).catch(() => null);
      return {
        runId,
        status: 'running',
        result: null,
        agents: progress ? progress.agents.filter((a) => a.startedAt !== null).length : 0,
        usage: progress?.usage ?? { inputTokens: 0, outputTokens: 0 },
        durationMs: Date.now() - description.startTime.getTime(),
      };
    }
    return this.wait(runId);
  }

  private async describe(runId: string) {
    try {
      return await this.handle(runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new ConfigError(`no run with id ${runId}`);
      throw err;
    }
  }

  private async summarize(
    runId: string,
    output: RunOutput | undefined,
    error: string | undefined,
    partial: { agents?: number; usage?: TokenUsage } | undefined,
  ): Promise<RunSummary> {
    const description = await this.describe(runId);
    const status = statusName(description.status.name);
    const end = description.closeTime ?? new Date();
    return {
      runId,
      status,
      result: output?.result ?? null,
      agents: output?.agents ?? partial?.agents ?? 0,
      usage: output?.usage ?? partial?.usage ?? { inputTokens: 0, outputTokens: 0 },
      durationMs: end.getTime() - description.startTime.getTime(),
      ...(error === undefined ? {} : { error }),
      ...(output?.cached ? { cached: output.cached } : {}),
      ...(output?.stopReason ? { stopReason: output.stopReason } : {}),
      ...(output === undefined ? {} : { output }),
    };
  }

  /** Live progress of a running run, from the workflow's query (S501). */
  async progress(runId: string): Promise<RunProgress> {
    return this.handle(runId).query(progressQuery);
  }

  /** Stops a whole run: running agents are cancelled and the run ends as cancelled (S306). */
  async stop(runId: string): Promise<void> {
    await knownRun(runId, () => this.handle(runId).cancel());
  }

  /** Stops one agent by index or label; its `agent()` gives null. Returns the number matched (S306). */
  async stopAgent(runId: string, agent: number | string, reason?: string): Promise<number> {
    return knownRun(runId, () =>
      this.handle(runId).executeUpdate(stopAgentUpdate, {
        args: [{ agent, ...(reason ? { reason } : {}) }],
      }),
    );
  }

  /**
   * Approves or rejects a step waiting in `approval()` (S602) and returns the decided approval.
   *
   * @throws ConfigError - When the run is unknown or has ended, or no matching step is waiting
   *   (the run's update validator refused it; nothing was recorded).
   *
   * @example
   * await client.approve(runId, { step: 'Deploy', approved: true, by: 'ana', comment: 'go' });
   */
  async approve(runId: string, decision: ApprovalDecision): Promise<ApprovalRecord> {
    const description = await this.describe(runId);
    if (description.status.name !== 'RUNNING') {
      throw new ConfigError(
        `run ${runId} is ${statusName(description.status.name)}: nothing is waiting for approval`,
      );
    }
    try {
      return await this.handle(runId).executeUpdate(approveUpdate, { args: [decision] });
    } catch (err) {
      // The validator's refusal arrives as the update's failure; its message is the reason.
      const cause = (err as { cause?: unknown }).cause;
      const reason = cause instanceof Error ? cause.message : (err as Error).message;
      throw new ConfigError(`run ${runId}: ${reason}`);
    }
  }

  /** Stops admitting new agents; running ones finish (S306). */
  async pause(runId: string): Promise<void> {
    await knownRun(runId, () => this.handle(runId).signal(pauseSignal));
  }

  /** Admits agents again after `pause` (S306). */
  async continue(runId: string): Promise<void> {
    await knownRun(runId, () => this.handle(runId).signal(continueSignal));
  }

  // ---- Views, events and attaching (issue 5: S501-S503, the client API) ----

  /** The run's workflow type (its meta.name) and start time; a ConfigError for an unknown run. */
  async describeRun(runId: string): Promise<{ name: string; startedAt: number }> {
    const description = await this.describe(runId);
    return { name: description.type, startedAt: description.startTime.getTime() };
  }

  /**
   * The run's progress query, or null when it cannot be answered within `timeoutMs`: no worker is
   * polling (a query needs one), the run has not had its first workflow task yet, or it is unknown.
   */
  async tryProgress(runId: string, timeoutMs = 3_000): Promise<RunProgress | null> {
    try {
      return await this.connection.withDeadline(Date.now() + timeoutMs, () => this.progress(runId));
    } catch {
      return null;
    }
  }

  /**
   * The run's events, from `workflow_started` to `workflow_completed` or `workflow_failed`, with
   * the event names of seed 000 (see {@link RunEvent}). Derived by polling the progress query, so
   * it works for any run, started by anyone; ends early when `options.signal` aborts.
   *
   * @example
   * for await (const event of client.events(runId)) {
   *   if (event.type === 'workflow_task_completed') console.log(event.task.label, event.task.usage);
   * }
   */
  events(runId: string, options: RunEventsOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    return runEvents(
      {
        describeRun: (id) => this.describeRun(id),
        tryProgress: (id) => this.tryProgress(id),
        wait: (id) => this.wait(id),
      },
      runId,
      options,
    );
  }

  /** A handle on a run started elsewhere (or by {@link WeftClient.start}): result, events, control. */
  attach(runId: string): WeftRunHandle {
    return {
      runId,
      result: () => this.wait(runId),
      status: () => this.status(runId),
      progress: () => this.progress(runId),
      events: (options) => this.events(runId, options),
      details: () => this.runDetails(runId),
      stop: () => this.stop(runId),
      stopAgent: (agent, reason) => this.stopAgent(runId, agent, reason),
      pause: () => this.pause(runId),
      continue: () => this.continue(runId),
    };
  }

  /** Starts a run and returns a handle on it. */
  async startRun(script: CompiledScript, options: StartOptions = {}): Promise<WeftRunHandle> {
    return this.attach(await this.start(script, options));
  }

  /**
   * Runs on this client's task queue, newest first, with agents, tokens and duration (S502).
   * `filter.taskQueue: null` lists every queue.
   */
  async listRuns(filter: RunListFilter = {}): Promise<RunListEntry[]> {
    return listRuns(
      { temporal: this.temporal, tryProgress: (id) => this.tryProgress(id, 1_500) },
      { taskQueue: this.config.taskQueue, ...filter },
    );
  }

  /** One run with every agent's full prompt, result, usage and error (S502). */
  async runDetails(runId: string): Promise<RunDetails> {
    return runDetails({ temporal: this.temporal, tryProgress: (id) => this.tryProgress(id) }, runId);
  }

  /**
   * The last tool call of each running agent, by agent index, read from the agents' heartbeat
   * details in the run's pending activities (see `lastToolFromHeartbeat`): no history, no query.
   */
  async lastToolCalls(runId: string): Promise<Map<number, string>> {
    const tools = new Map<number, string>();
    const description = await this.describe(runId);
    for (const pending of description.raw.pendingActivities ?? []) {
      const payloads = pending.heartbeatDetails?.payloads as Payload[] | undefined;
      if (!payloads?.length) continue;
      try {
        const [details] = await decodeArrayFromPayloads(this.temporal.options.loadedDataConverter, payloads);
        const last = lastToolFromHeartbeat(details);
        if (last) tools.set(last.index, last.tool);
      } catch {
        // Details in another shape are not ours to show.
      }
    }
    return tools;
  }

  /** The task queue a run was started on; a ConfigError for an unknown run. */
  async taskQueueOf(runId: string): Promise<string> {
    return (await this.describe(runId)).taskQueue;
  }

  /**
   * How many workers have polled `taskQueue` for workflow tasks in the last `withinMs` (DescribeTaskQueue).
   * The server keeps a poller listed for minutes after it goes away; a live one polls again at least
   * every long-poll interval (about a minute), so older entries are not counted.
   */
  async pollerCount(taskQueue: string, withinMs = 75_000): Promise<number> {
    const response = await this.connection.workflowService.describeTaskQueue({
      namespace: this.config.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    const now = Date.now();
    return (response.pollers ?? []).filter((p) => {
      const seconds = p.lastAccessTime?.seconds;
      if (seconds === undefined || seconds === null) return true;
      return now - Number(seconds) * 1000 <= withinMs;
    }).length;
  }

  /** The custom search attributes (S503) missing from this namespace; empty when all are there. */
  async missingSearchAttributes(): Promise<string[]> {
    const { customAttributes } = await this.connection.operatorService.listSearchAttributes({
      namespace: this.config.namespace,
    });
    return Object.keys(WEFT_SEARCH_ATTRIBUTES).filter((name) => customAttributes?.[name] === undefined);
  }

  /**
   * Registers weft's search attributes (S503) on this namespace, for servers other than the
   * embedded one (which registers them itself). Returns the names it added.
   */
  async registerSearchAttributes(): Promise<string[]> {
    const missing = await this.missingSearchAttributes();
    if (missing.length === 0) return [];
    const types: Record<string, number> = {
      Text: 1,
      Keyword: 2,
      Int: 3,
      Double: 4,
      Bool: 5,
      Datetime: 6,
      KeywordList: 7,
    };
    const searchAttributes: Record<string, number> = {};
    for (const name of missing)
      searchAttributes[name] = types[WEFT_SEARCH_ATTRIBUTES[name] ?? 'Keyword'] ?? 2;
    try {
      await this.connection.operatorService.addSearchAttributes({
        namespace: this.config.namespace,
        searchAttributes,
      });
    } catch (err) {
      // A concurrent registration is as good as ours.
      if ((await this.missingSearchAttributes()).length > 0) throw err;
    }
    return missing;
  }

  /** Closes the connection. */
  /** The options a worker needs to reach the same server the same way (address, TLS, API key). */
  connectOptions(): TemporalConnectOptions {
    return temporalConnectOptions(this.config, this.address);
  }

  /** What this client connected to, safe to print (no key, no certificate). */
  describeConnection(): ConnectionDescription {
    return describeConnection(this.config, this.address);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * Runs one call on a run's handle; an unknown run is a ConfigError ("no run with id X"), the one
 * line and exit code 2 every command gives for it, instead of the server's NOT_FOUND.
 */
export async function knownRun<T>(runId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || (err as { code?: unknown } | null)?.code === 5)
      throw new ConfigError(`no run with id ${runId}`);
    throw err;
  }
}

function statusName(name: string): RunStatus {
  switch (name) {
    case 'COMPLETED':
      return 'completed';
    case 'CANCELED':
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed_out';
    case 'RUNNING':
      return 'running';
    default:
      return 'failed';
  }
}

function describeFailure(cause: Error | undefined): string {
  if (cause instanceof CancelledFailure) return 'run stopped';
  if (cause instanceof TerminatedFailure) return `run terminated${cause.message ? `: ${cause.message}` : ''}`;
  if (cause instanceof TimeoutFailure) return 'run timed out';
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause?.message ?? 'run failed';
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
