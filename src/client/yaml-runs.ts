/**
 * Step-level views of YAML workflow runs (S601, S603): which step is pending, running, waiting
 * for approval, completed, skipped or failed, and each step's output. A finished run reports its
 * own step list (in its result, or on its failure); a running one is read from its progress query:
 * each step is a phase, its agents are the step's attempts, and the runner logs each step's end.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { readRunHistory } from '../storage/run-history';
import { statusFromExecution } from './run-views';
import type { RunStatusName } from './run-views';
import type { WeftClient } from './weft-client';
import { ConfigError } from '../errors';
import type { ApprovalRecord, ApprovalResult, RunProgress } from '../types';
import { definitionOf } from '../agentos/compile-yaml';
import type { CompiledDefinition, StepMode } from '../agentos/compile-yaml';

/** Where one step stands. */
export type StepState = 'pending' | 'running' | 'waiting' | 'completed' | 'skipped' | 'failed';

/** One step of a YAML run, as the runner reports it in the run's result. */
export interface StepStatus {
  name: string;
  mode: StepMode;
  outputVar: string;
  status: StepState;
  /** Agent calls the step made, retries included. */
  attempts: number;
  /** Loop iterations run, fanout items, or 1. */
  iterations: number;
  /** Fanout: how many items; and how many failed (null in the output with `errorMode: skip`). */
  items?: number;
  failedItems?: number;
  /** Loop with `until`: whether it was met before `maxIterations`. */
  untilMet?: boolean | null;
  /** Why the step failed or was skipped. */
  error?: string;
  /** The person's decision at the step's approval gate (S602). */
  approval?: ApprovalResult;
}

/** What a YAML run's result is: every outputVar and the per-step status list. */
export interface YamlRunResult {
  /** The definition's id. */
  workflow: string;
  outputs: Record<string, unknown>;
  steps: StepStatus[];
}

/** `weft workflow status` and `results` (S603). */
export interface YamlRunStatus {
  runId: string;
  /** The definition's id. */
  workflow: string;
  status: RunStatusName;
  steps: StepStatus[];
  /** Every outputVar, once the run has ended; null while it runs. */
  outputs: Record<string, unknown> | null;
  /** Approvals the run is waiting for now (S602). */
  waiting: ApprovalRecord[];
  /** Why the run did not complete. */
  error: string | null;
}

const STEP_END = /^step "(.+)" (completed|skipped|failed)(?:: ([\s\S]*))?$/;

/**
 * Step statuses of a running YAML run from its progress snapshot. A step's agents are those in
 * its phase; the runner logs `step "X" completed|skipped|failed` when a step ends.
 */
export function stepsFromProgress(definition: CompiledDefinition, progress: RunProgress): StepStatus[] {
  const ended = new Map<string, { status: StepState; note?: string }>();
  for (const log of progress.logs) {
    if (log.group !== null) continue;
    const match = STEP_END.exec(log.message);
    if (match?.[1])
      ended.set(match[1], { status: match[2] as StepState, ...(match[3] ? { note: match[3] } : {}) });
  }
  return definition.steps.map((step): StepStatus => {
    const agents = progress.agents.filter((a) => a.group === null && a.phase === step.name);
    const approvals = (progress.approvals ?? []).filter((a) => a.group === null && a.step === step.name);
    const end = ended.get(step.name);
    let status: StepState = 'pending';
    if (end) status = end.status;
    else if (approvals.some((a) => a.status === 'waiting')) status = 'waiting';
    else if (agents.length > 0 || approvals.length > 0) status = 'running';
    const decided = approvals.find((a) => a.status !== 'waiting');
    return {
      name: step.name,
      mode: step.mode,
      outputVar: step.outputVar,
      status,
      attempts: agents.length,
      iterations:
        step.mode === 'loop'
          ? new Set(agents.map((a) => /#(\d+)/.exec(a.label)?.[1])).size
          : agents.length > 0
            ? 1
            : 0,
      ...(end?.note && end.status !== 'completed' ? { error: end.note } : {}),
      ...(decided
        ? { approval: { approved: decided.status === 'approved', by: decided.by, comment: decided.comment } }
        : {}),
    };
  });
}

function isYamlResult(value: unknown): value is YamlRunResult {
  const v = value as Partial<YamlRunResult> | null;
  return typeof v === 'object' && v !== null && Array.isArray(v.steps) && typeof v.outputs === 'object';
}

/**
 * Reads a YAML run's steps, outputs and waiting approvals.
 *
 * @throws ConfigError - For an unknown run, or a run of a JS script rather than a YAML workflow.
 */
export async function yamlRunStatus(client: WeftClient, runId: string): Promise<YamlRunStatus> {
  const history = await readRunHistory(client.temporal, runId);
  const definition = definitionOf(history.input.script);
  if (definition === null) {
    throw new ConfigError(
      `run ${runId} is a run of script ${history.name}, not a YAML workflow: use weft show ${runId}`,
    );
  }
  const handle = client.temporal.workflow.getHandle(runId);
  const status = statusFromExecution((await handle.describe()).status.name);
  const base = { runId, workflow: definition.id, status };
  if (status === 'running') {
    const progress = await client.tryProgress(runId);
    const pending = definition.steps.map((s): StepStatus => ({
      name: s.name,
      mode: s.mode,
      outputVar: s.outputVar,
      status: 'pending',
      attempts: 0,
      iterations: 0,
    }));
    return {
      ...base,
      steps: progress ? stepsFromProgress(definition, progress) : pending,
      outputs: null,
      waiting: (progress?.approvals ?? []).filter((a) => a.status === 'waiting'),
      error: null,
    };
  }
  try {
    const output = (await handle.result()) as { result?: unknown };
    const result = isYamlResult(output.result) ? output.result : null;
    return { ...base, steps: result?.steps ?? [], outputs: result?.outputs ?? {}, waiting: [], error: null };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause;
    const error =
      cause instanceof ApplicationFailure
        ? `${cause.type ?? 'Error'}: ${cause.message}`
        : status === 'cancelled'
          ? 'run stopped'
          : (cause?.message ?? 'run failed');
    const partial =
      cause instanceof ApplicationFailure
        ? (cause.details?.[0] as { partial?: unknown } | undefined)?.partial
        : undefined;
    const result = isYamlResult(partial) ? partial : null;
    // A stopped run carries no step list; its last progress (a replay by a live worker) has one.
    const progress = result ? null : await client.tryProgress(runId);
    return {
      ...base,
      steps: result?.steps ?? (progress ? stepsFromProgress(definition, progress) : []),
      outputs: result?.outputs ?? null,
      waiting: [],
      error,
    };
  }
}
