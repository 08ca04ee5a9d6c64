/**
 * The messages of the Stratus session workflow (S701, S703): the caller runs the orchestration and
 * sends each task here; the session runs it durably and records it. Definitions only, so the client
 * can import them without loading any workflow code.
 *
 * Tasks start by signal and their records come back through one long-polling update at a time,
 * so a run holds one update in flight whatever its concurrency (Temporal caps updates in flight
 * per workflow, at 10 by default).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AgentResult } from '../types';
import type {
  StratusFinish,
  StratusLogLine,
  StratusSessionInput,
  StratusTaskRecord,
  StratusTaskRequest,
  StratusWaitRequest,
  StratusWaitResult,
} from './stratus-session-types';

/**
 * The registered name of the session workflow (its Temporal workflow type).
 *
 * @example
 * ```ts
 * await client.workflow.start(STRATUS_SESSION_WORKFLOW, { taskQueue: 'weft', workflowId, args: [input] });
 * ```
 */
export const STRATUS_SESSION_WORKFLOW = 'stratusSession';

/**
 * The `kind` of every session's input. weft's default workflow hands inputs of this kind to the
 * session, so a session can run under its Stratus name as its workflow type, as scripts run under
 * `meta.name`.
 *
 * @example
 * ```ts
 * await client.workflow.start(def.name, { taskQueue, workflowId, args: [{ kind: STRATUS_SESSION_KIND, ...input }] });
 * ```
 */
export const STRATUS_SESSION_KIND = 'weft.stratus-session' satisfies StratusSessionInput['kind'];

/** Whether a workflow input is a Stratus session's (and not a script run's). */
export function isStratusSessionInput(input: unknown): input is StratusSessionInput {
  return (
    typeof input === 'object' && input !== null && (input as { kind?: unknown }).kind === STRATUS_SESSION_KIND
  );
}

/**
 * Starts one agent task (or synthesis) as weft's agent activity; its record arrives through
 * `waitTasksUpdate`. A key the session already has is ignored.
 *
 * @example
 * ```ts
 * await handle.signal(startTaskSignal, request);
 * ```
 */
export const startTaskSignal = defineSignal<[StratusTaskRequest]>('weft.stratus.startTask');

/**
 * Records a task that did not run as an activity: a function task the caller ran, or a task reused
 * from an earlier run.
 *
 * @example
 * ```ts
 * await handle.signal(recordTaskSignal, record);
 * ```
 */
export const recordTaskSignal = defineSignal<[StratusTaskRecord]>('weft.stratus.recordTask');

/**
 * Waits until the session has more than `after` task records, and answers with the new ones (at
 * once when it already has). The caller keeps one of these in flight while it has tasks running.
 *
 * @example
 * ```ts
 * const { records, total } = await handle.executeUpdate(waitTasksUpdate, { args: [{ after: seen }] });
 * ```
 */
export const waitTasksUpdate = defineUpdate<StratusWaitResult, [StratusWaitRequest]>(
  'weft.stratus.waitTasks',
);

/**
 * Cancels one running task (a failFast phase stopping its siblings); it is recorded `cancelled`.
 *
 * @example
 * ```ts
 * await handle.signal(cancelTaskSignal, { key, reason: 'phase stopped' });
 * ```
 */
export const cancelTaskSignal = defineSignal<[{ key: string; reason?: string }]>('weft.stratus.cancelTask');

/**
 * A `ctx.log()` line, kept in the session's history and output.
 *
 * @example
 * ```ts
 * await handle.signal(logSignal, { at: Date.now(), message: 'halfway' });
 * ```
 */
export const logSignal = defineSignal<[StratusLogLine]>('weft.stratus.log');

/**
 * The caller's `run()` ended: the session completes with its output, or fails with its error.
 *
 * @example
 * ```ts
 * await handle.signal(finishSignal, { status: 'failed', output: null, error: { name: 'Error', message: 'gave up' } });
 * ```
 */
export const finishSignal = defineSignal<[StratusFinish]>('weft.stratus.finish');

/**
 * Every task record so far.
 *
 * @example
 * ```ts
 * const records = await handle.query(tasksQuery);
 * ```
 */
export const tasksQuery = defineQuery<StratusTaskRecord[]>('weft.stratus.tasks');

/**
 * The outcome fields of a task record whose agent activity completed; shared by the session, which
 * records tasks as they finish, and by resume, which rebuilds them from a run's history.
 *
 * @example
 * ```ts
 * const record: StratusTaskRecord = { ...base, ...completedTaskFields(result), completedAt };
 * ```
 */
export function completedTaskFields(result: AgentResult) {
  return {
    status: 'completed',
    output: result.output,
    error: null,
    errorType: null,
    usage: result.usage,
    costUsd: result.costUsd,
    numTurns: result.turns,
    attempts: result.activityAttempt ?? 1,
    model: result.model,
  } satisfies Partial<StratusTaskRecord>;
}
