/**
 * `resumeFrom` for Stratus-style runs (S703): the completed tasks of an earlier run, read from its
 * session workflow's Temporal history. Agent tasks are read from their activities (the request
 * carries the task's key), function tasks and reused tasks from their `recordTask` signals, so
 * every task that completed is found: in a phase that never finished, after the caller died, or
 * reused from a run before (chains of resumes keep everything).
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { LoadedDataConverter, Payload } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { ConfigError } from '../errors';
import { inlineStoredPayloads } from '../storage/history';
import type { AgentRequest, AgentResult } from '../types';
import {
  STRATUS_SESSION_WORKFLOW,
  completedTaskFields,
  isStratusSessionInput,
  recordTaskSignal,
} from '../workflows/stratus-definitions';
import { taskFingerprint } from './fingerprint';
import type { StratusTaskRecord } from '../workflows/stratus-session-types';
import type { ResumeSource } from './types';

/**
 * The run id a `resumeFrom` value names.
 *
 * @example
 * ```ts
 * resumeRunId('parallel-audit-1a2b3c4d'); // 'parallel-audit-1a2b3c4d'
 * resumeRunId(previousResult); // previousResult.runId
 * ```
 *
 * @throws ConfigError when it names none.
 */
export function resumeRunId(source: ResumeSource): string {
  if (typeof source === 'string' && source !== '') return source;
  if (
    typeof source === 'object' &&
    source !== null &&
    typeof source.runId === 'string' &&
    source.runId !== ''
  ) {
    return source.runId;
  }
  throw new ConfigError('resumeFrom must be a run id, or a run result / snapshot / managed run with a runId');
}

async function first<T>(converter: LoadedDataConverter, payloads: unknown): Promise<T | undefined> {
  const list = payloads as Payload[] | null | undefined;
  if (!list?.length) return undefined;
  return ((await decodeArrayFromPayloads(converter, list)) as T[])[0];
}

/** The record of an agent task whose activity completed, rebuilt from its request and result. */
function recordOf(
  request: AgentRequest,
  result: AgentResult,
  startedAt: number,
  completedAt: number,
): StratusTaskRecord {
  const key = request.cacheKey;
  const isTask = key.startsWith('[');
  let id = key.replace(/^synthesis#/, 'synthesis-');
  if (isTask) {
    const parts = JSON.parse(key) as unknown;
    if (Array.isArray(parts) && typeof parts[1] === 'string') id = parts[1];
  }
  return {
    key,
    kind: isTask ? 'agent' : 'synthesis',
    phase: request.phase ?? '',
    id,
    name: request.label,
    ...completedTaskFields(result),
    startedAt,
    completedAt,
    inputHash: taskFingerprint({
      prompt: request.prompt,
      instructions: request.instructions ?? null,
      model: request.explicitModel ?? null,
      agentType: request.agentType,
      tools: request.tools ?? null,
      schema: request.schema,
    }),
    resumedFrom: null,
  };
}

/**
 * The completed tasks of a run, by key, from its session's history.
 *
 * @example
 * ```ts
 * const records = await loadResumeRecords(client.temporal, 'parallel-audit-1a2b3c4d');
 * console.log([...records.keys()]); // e.g. '["review files","src/a.ts"]'
 * ```
 *
 * @throws ConfigError when the run is unknown or is not a Stratus run.
 */
export async function loadResumeRecords(
  client: Client,
  runId: string,
): Promise<Map<string, StratusTaskRecord>> {
  let history;
  try {
    history = await inlineStoredPayloads(
      await client.workflow.getHandle(runId).fetchHistory(),
      client.options.loadedDataConverter,
    );
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || /not found/i.test((err as Error).message)) {
      throw new ConfigError(`resumeFrom: no run with id ${runId}`);
    }
    throw err;
  }
  const converter = client.options.loadedDataConverter;
  const events = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const type = started?.workflowType?.name;
  const input = await first<unknown>(converter, started?.input?.payloads);
  if (type !== STRATUS_SESSION_WORKFLOW && !isStratusSessionInput(input)) {
    throw new ConfigError(
      `resumeFrom: run ${runId} is not a Stratus workflow run (its type is ${type ?? 'unknown'})`,
    );
  }
  const scheduled = new Map<string, { request: AgentRequest; at: number }>();
  const records = new Map<string, StratusTaskRecord>();
  for (const event of events) {
    const at = optionalTsToMs(event.eventTime) ?? 0;
    const sched = event.activityTaskScheduledEventAttributes;
    if (sched?.activityType?.name === 'runAgent') {
      const request = await first<AgentRequest>(converter, sched.input?.payloads);
      if (request) scheduled.set(String(event.eventId), { request, at });
      continue;
    }
    const done = event.activityTaskCompletedEventAttributes;
    if (done) {
      const task = scheduled.get(String(done.scheduledEventId));
      const result = await first<AgentResult>(converter, done.result?.payloads);
      if (task && result && typeof task.request.cacheKey === 'string') {
        const record = recordOf(task.request, result, task.at, at);
        records.set(record.key, record);
      }
      continue;
    }
    const signal = event.workflowExecutionSignaledEventAttributes;
    if (signal?.signalName === recordTaskSignal.name) {
      const record = await first<StratusTaskRecord>(converter, signal.input?.payloads);
      if (record?.status === 'completed' && typeof record.key === 'string') records.set(record.key, record);
    }
  }
  return records;
}
