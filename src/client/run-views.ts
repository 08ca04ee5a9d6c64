/**
 * Views of runs for people and programs (S502): a list of runs from Temporal's visibility store,
 * and one run with every agent's prompt, result, usage and error.
 *
 * A row's agents and tokens come from the run's search attributes when it publishes them (S503),
 * else from its result (closed runs) or its progress query (running ones). An agent's full prompt
 * and result come from the run's history: the input and result of its `runAgent` activity.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError } from '../errors';
import { WEFT_AGENTS, WEFT_COST_USD, WEFT_OUTPUT_TOKENS, WEFT_PHASE } from '../search-attributes';
import type {
  CompactionRecord,
  AgentRecord,
  AgentStatus,
  ApprovalRecord,
  LogLine,
  RunOutput,
  RunProgress,
  TokenUsage,
  WorktreeReport,
} from '../types';
import { readRunHistory } from '../storage/run-history';
import type { AgentActivity, RunHistory } from '../storage/run-history';

/** A run's status as weft names it (the CLI's `status` field). */
export type RunStatusName = 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out';

const EXECUTION_STATUS: Record<RunStatusName, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

/** Every status `weft list --status` takes. */
export const RUN_STATUSES = Object.keys(EXECUTION_STATUS) as RunStatusName[];

/** Which runs `listRuns` returns. */
export interface RunListFilter {
  status?: RunStatusName;
  /** The workflow type, i.e. `meta.name`. */
  name?: string;
  /** The `WeftPhase` search attribute (needs the attributes registered, S503). */
  phase?: string;
  /** Only runs on this task queue; null for every queue. */
  taskQueue?: string | null;
  /** A raw visibility query, ANDed with the rest. */
  query?: string;
  /** At most this many runs, newest first (default 20). */
  limit?: number;
}

/** One row of `weft list`. */
export interface RunListEntry {
  runId: string;
  /** The workflow type: the script's `meta.name`. */
  name: string;
  status: RunStatusName;
  /** Agents started; null when the run cannot tell (a running run without a worker). */
  agents: number | null;
  usage: TokenUsage | null;
  costUsd: number | null;
  /** The phase the run is in or ended in, when known. */
  phase: string | null;
  startTime: string;
  closeTime: string | null;
  durationMs: number;
  taskQueue: string;
}

/** What the views need besides the Temporal client. */
export interface RunViewDeps {
  temporal: Client;
  /** The run's progress query, or null when it cannot be answered soon. */
  tryProgress(runId: string): Promise<RunProgress | null>;
}

/** Maps Temporal's execution status name to weft's. */
export function statusFromExecution(name: string): RunStatusName {
  switch (name) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
    case 'CANCELED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed_out';
    default:
      return 'failed';
  }
}

function quote(field: string, value: string): string {
  // Visibility queries have no escape for quotes, so a value with one cannot be matched safely.
  if (/["'\n]/.test(value))
    throw new ConfigError(`${field} filter may not contain quotes or newlines: ${value}`);
  return `"${value}"`;
}

/** The visibility query for a filter, e.g. `TaskQueue = "weft" AND ExecutionStatus = "Running"`. */
export function buildListQuery(filter: RunListFilter): string {
  const parts: string[] = [];
  if (filter.taskQueue) parts.push(`TaskQueue = ${quote('task queue', filter.taskQueue)}`);
  if (filter.status) {
    const status = EXECUTION_STATUS[filter.status];
    if (!status)
      throw new ConfigError(`unknown status "${filter.status}": use one of ${RUN_STATUSES.join(', ')}`);
    parts.push(`ExecutionStatus = "${status}"`);
  }
  if (filter.name) parts.push(`WorkflowType = ${quote('name', filter.name)}`);
  if (filter.phase) parts.push(`${WEFT_PHASE.name} = ${quote('phase', filter.phase)}`);
  if (filter.query) parts.push(`(${filter.query})`);
  return parts.join(' AND ');
}

interface Totals {
  agents: number | null;
  usage: TokenUsage | null;
  costUsd: number | null;
  phase: string | null;
}

function fromAttributes(info: WorkflowExecutionInfo): Totals | null {
  const attrs = info.typedSearchAttributes;
  const agents = attrs.get(WEFT_AGENTS);
  if (agents === undefined) return null;
  const output = attrs.get(WEFT_OUTPUT_TOKENS);
  return {
    agents,
    // Visibility holds output tokens only: input tokens need the result.
    usage: output === undefined ? null : { inputTokens: 0, outputTokens: output },
    costUsd: attrs.get(WEFT_COST_USD) ?? null,
    phase: attrs.get(WEFT_PHASE) ?? null,
  };
}

function fromProgress(progress: RunProgress): Totals {
  const lastPhase = [...progress.agents].reverse().find((a) => a.phase !== null)?.phase ?? null;
  return {
    agents: progress.agents.filter((a) => a.startedAt !== null).length,
    usage: progress.usage,
    costUsd: progress.costUsd,
    phase: lastPhase,
  };
}

async function totalsOf(
  deps: RunViewDeps,
  info: WorkflowExecutionInfo,
  status: RunStatusName,
): Promise<Totals> {
  const none: Totals = { agents: null, usage: null, costUsd: null, phase: null };
  const attrs = fromAttributes(info);
  // Attributes lag a little behind a running run; a closed run's final values are exact, but only
  // the result has input tokens.
  if (status === 'running') {
    const progress = await deps.tryProgress(info.workflowId);
    return progress ? fromProgress(progress) : (attrs ?? none);
  }
  const handle = deps.temporal.workflow.getHandle(info.workflowId, info.runId);
  try {
    const output = (await handle.result()) as RunOutput;
    const lastPhase = [...(output.records ?? [])].reverse().find((a) => a.phase !== null)?.phase ?? null;
    return {
      agents: output.agents,
      usage: output.usage,
      costUsd: output.costUsd,
      phase: attrs?.phase ?? lastPhase,
    };
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
      const detail = err.cause.details?.[0] as
        { agents?: number; usage?: TokenUsage; costUsd?: number } | undefined;
      if (detail?.agents !== undefined) {
        return {
          agents: detail.agents,
          usage: detail.usage ?? attrs?.usage ?? null,
          costUsd: detail.costUsd ?? attrs?.costUsd ?? null,
          phase: attrs?.phase ?? null,
        };
      }
    }
    return attrs ?? none;
  }
}

/** Lists runs, newest first, with their agents, tokens and duration (S502). */
export async function listRuns(deps: RunViewDeps, filter: RunListFilter = {}): Promise<RunListEntry[]> {
  const limit = filter.limit ?? 20;
  const query = buildListQuery(filter);
  const infos: WorkflowExecutionInfo[] = [];
  for await (const info of deps.temporal.workflow.list({
    ...(query ? { query } : {}),
    pageSize: Math.min(limit, 100),
  })) {
    infos.push(info);
    if (infos.length >= limit) break;
  }
  const now = Date.now();
  return Promise.all(
    infos.map(async (info): Promise<RunListEntry> => {
      const status = statusFromExecution(info.status.name);
      const totals = await totalsOf(deps, info, status);
      const end = info.closeTime?.getTime() ?? now;
      return {
        runId: info.workflowId,
        name: info.type,
        status,
        agents: totals.agents,
        usage: totals.usage,
        costUsd: totals.costUsd,
        phase: totals.phase,
        startTime: info.startTime.toISOString(),
        closeTime: info.closeTime?.toISOString() ?? null,
        durationMs: end - info.startTime.getTime(),
        taskQueue: info.taskQueue,
      };
    }),
  );
}

/** One agent of `weft show`, with its full prompt and result. */
export interface AgentDetails {
  index: number;
  label: string;
  phase: string | null;
  /** The nested workflow that started it, if any. */
  group: string | null;
  status: AgentStatus;
  model: string | null;
  /** The whole prompt, from the activity's input; the record's 500-character preview without history. */
  prompt: string;
  /** The agent's answer (text, or the StructuredOutput object); null unless it completed. */
  result: unknown;
  error: string | null;
  usage: TokenUsage;
  costUsd: number;
  /** StructuredOutput attempts (0 without a schema). */
  attempts: number;
  cached: boolean;
  /** Context compactions of the agent's conversation (S803); empty when none. */
  compactions: CompactionRecord[];
  /** False when the agent's model has no known price (S805). */
  costKnown: boolean;
  worktree: WorktreeReport | null;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  /** The agent's JSON Schema, when it had one. */
  schema: unknown;
}

/** Everything `weft show` prints about a run (S502). */
export interface RunDetails {
  runId: string;
  name: string;
  status: RunStatusName;
  startTime: string;
  closeTime: string | null;
  durationMs: number;
  /** The script's args, as passed at start. */
  args: unknown;
  /** The script's return value, when the run completed. */
  result: unknown;
  error: string | null;
  agents: AgentDetails[];
  usage: TokenUsage;
  costUsd: number;
  logs: LogLine[];
  /** The run's approval gates, waiting or decided (S602). */
  approvals: ApprovalRecord[];
}

function historyAttempts(history: RunHistory | null): Map<number, AgentActivity> {
  const byIndex = new Map<number, AgentActivity>();
  // A retried agent has one scheduled event per workflow-level attempt; the last one wins.
  for (const activity of history?.agents ?? []) byIndex.set(activity.request.index, activity);
  return byIndex;
}

function describeError(err: unknown): string {
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
    return cause?.message ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

function agentFromHistory(activity: AgentActivity, closed: boolean): AgentRecord {
  const { request, result } = activity;
  return {
    index: request.index,
    label: request.label,
    phase: request.phase,
    group: null,
    status: result ? 'completed' : activity.failure ? 'failed' : closed ? 'skipped' : 'running',
    model: result?.model ?? request.model,
    prompt: request.prompt,
    usage: result?.usage ?? { inputTokens: 0, outputTokens: 0 },
    costUsd: result?.costUsd ?? 0,
    attempts: result?.activityAttempt ?? (result || activity.failure ? 1 : 0),
    schemaAttempts: result?.schemaAttempts ?? 0,
    startedAt: null,
    endedAt: null,
    error: activity.failure,
    worktree: result?.worktree ?? null,
    cached: false,
  };
}

/**
 * Reads one run: status and times from Temporal, agent records from the run's output (finished)
 * or progress query (running), and each agent's full prompt and result from its history.
 */
export async function runDetails(deps: RunViewDeps, runId: string): Promise<RunDetails> {
  const handle = deps.temporal.workflow.getHandle(runId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError' || /not found/i.test((err as Error).message)) {
      throw new ConfigError(`no run with id ${runId}`);
    }
    throw err;
  }
  const status = statusFromExecution(description.status.name);
  const history = await readRunHistory(deps.temporal, runId);

  let records: AgentRecord[] | null = null;
  let logs: LogLine[] = [];
  let result: unknown = null;
  let error: string | null = null;
  let usage: TokenUsage | null = null;
  let costUsd: number | null = null;
  let approvals: ApprovalRecord[] | undefined;
  if (status === 'running') {
    const progress = await deps.tryProgress(runId);
    if (progress) ({ agents: records, logs, usage, costUsd, approvals } = progress);
  } else {
    try {
      const output = (await handle.result()) as RunOutput;
      ({ records, logs, usage, costUsd, result, approvals } = output);
    } catch (err) {
      error = status === 'cancelled' ? 'run stopped' : describeError(err);
      // A failed run's output is lost; a worker can still answer its query by replaying it.
      const progress = await deps.tryProgress(runId);
      if (progress) ({ agents: records, logs, usage, costUsd, approvals } = progress);
    }
  }

  const activities = historyAttempts(history);
  const closed = status !== 'running';
  const base = records ?? [...activities.values()].map((a) => agentFromHistory(a, closed));
  const agents = base.map((record): AgentDetails => {
    const activity = activities.get(record.index);
    const fromHistory = activity?.result ?? null;
    return {
      index: record.index,
      label: record.label,
      phase: record.phase,
      group: record.group,
      status: record.status,
      model: record.model,
      prompt: activity?.request.prompt ?? record.prompt,
      result: fromHistory ? fromHistory.output : null,
      error: record.error,
      usage: record.usage,
      costUsd: record.costUsd,
      attempts: record.attempts,
      cached: record.cached ?? false,
      compactions: record.compactions ?? fromHistory?.compactions ?? [],
      costKnown: record.costKnown ?? fromHistory?.costKnown ?? true,
      worktree: record.worktree,
      startedAt: record.startedAt,
      endedAt: record.endedAt,
      durationMs:
        record.startedAt !== null && record.endedAt !== null
          ? record.endedAt - record.startedAt
          : (fromHistory?.durationMs ?? null),
      schema: activity?.request.schema ?? null,
    };
  });
  const sum = agents.reduce(
    (acc, a) => ({
      inputTokens: acc.inputTokens + a.usage.inputTokens,
      outputTokens: acc.outputTokens + a.usage.outputTokens,
    }),
    { inputTokens: 0, outputTokens: 0 },
  );
  const end = description.closeTime?.getTime() ?? Date.now();
  return {
    runId,
    name: description.type,
    status,
    startTime: description.startTime.toISOString(),
    closeTime: description.closeTime?.toISOString() ?? null,
    durationMs: end - description.startTime.getTime(),
    args: history.input.args ?? null,
    result,
    error,
    agents,
    usage: usage ?? sum,
    costUsd: costUsd ?? agents.reduce((n, a) => n + a.costUsd, 0),
    logs,
    approvals: approvals ?? [],
  };
}
