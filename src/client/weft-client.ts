import { randomBytes } from 'node:crypto';
import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { DataConverter } from '@temporalio/common';
import { DEFAULT_AGENT_TIMEOUT_MS, DEFAULT_MAX_TURNS, defaultConcurrency, loadConfig, MAX_AGENTS } from '../config';
import type { WeftConfig } from '../config';
import { ensureDevServer } from '../dev-server/dev-server';
import { ConfigError } from '../errors';
import { dataConverterFromEnv } from '../storage/data-converter';
import { buildResumeCache } from './resume-cache';
import { continueSignal, pauseSignal, progressQuery, stopAgentUpdate } from '../workflows/definitions';
import type { CompiledScript, RunInput, RunOptions, RunOutput, RunProgress, TokenUsage } from '../types';

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

/** Options for connecting to Temporal. */
export interface ConnectOptions {
  config?: WeftConfig;
  /** Start or reuse the embedded dev server when no address is configured (default true). */
  embeddedServer?: boolean;
  /** Payload conversion and external storage; by default the payload store the environment names. */
  dataConverter?: DataConverter;
}

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
    const config = options.config ?? loadConfig();
    let address = config.address;
    let uiUrl = process.env.TEMPORAL_UI_URL?.trim() || null;
    if (address === null) {
      if (options.embeddedServer === false) {
        throw new ConfigError('TEMPORAL_ADDRESS is not set and the embedded server is disabled');
      }
      const server = await ensureDevServer({ stateDir: config.stateDir });
      address = server.address;
      uiUrl ??= server.uiUrl;
    }
    let connection: Connection;
    try {
      connection = await Connection.connect({ address, connectTimeout: '5s' });
    } catch (err) {
      throw new ConfigError(`cannot reach Temporal at ${address}: ${(err as Error).message}`);
    }
    // Must match the workers' converter, or results and queries come back as storage references.
    const dataConverter = options.dataConverter ?? dataConverterFromEnv(process.env, config);
    return new WeftClient(
      new Client({ connection, namespace: config.namespace, dataConverter }),
      connection,
      config,
      address,
      uiUrl,
    );
  }

  /** Builds the workflow input for a script, fixing every per-run setting now so replays agree. */
  runInput(script: CompiledScript, options: StartOptions = {}): RunInput {
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
    };
    return { script, ...(options.args === undefined ? {} : { args: options.args }), options: runOptions };
  }

  /**
   * Starts a run and returns its id at once (S302). The workflow type is `meta.name` (S301).
   * With `resumeFrom`, the old run is checked first: unknown, still running, or with nothing to
   * offer is a ConfigError, and nothing starts.
   */
  async start(script: CompiledScript, options: StartOptions = {}): Promise<string> {
    if (options.resumeFrom) await buildResumeCache(this.temporal, options.resumeFrom);
    const runId = options.runId ?? `${script.meta.name}-${randomBytes(4).toString('hex')}`;
    await this.temporal.workflow.start(script.meta.name, {
      taskQueue: this.config.taskQueue,
      workflowId: runId,
      args: [this.runInput(script, options)],
      staticSummary: script.meta.description,
      staticDetails: options.args === undefined ? undefined : `args: ${truncate(JSON.stringify(options.args), 900)}`,
    });
    return runId;
  }

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
    return this.summarize(runId, output, error, partial);
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
    await this.handle(runId).cancel();
  }

  /** Stops one agent by index or label; its `agent()` gives null. Returns the number matched (S306). */
  async stopAgent(runId: string, agent: number | string, reason?: string): Promise<number> {
    return this.handle(runId).executeUpdate(stopAgentUpdate, { args: [{ agent, ...(reason ? { reason } : {}) }] });
  }

  /** Stops admitting new agents; running ones finish (S306). */
  async pause(runId: string): Promise<void> {
    await this.handle(runId).signal(pauseSignal);
  }

  /** Admits agents again after `pause` (S306). */
  async continue(runId: string): Promise<void> {
    await this.handle(runId).signal(continueSignal);
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.connection.close();
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
