/**
 * The Stratus API's errors that carry its results (S701, S703). They extend weft's hierarchy
 * (src/errors.ts), which as the base layer cannot name Stratus types.
 */
import { WeftError } from '../errors';
import type { WorkflowRunResult, WorkflowTaskResult } from './types';

/**
 * A Stratus task failed (S701): a failed task stopped its `failFast` phase, or a synthesis failed.
 * `task` is the failed task's result; `results` the phase's results so far, when a phase stopped.
 * @example
 * ```ts
 * try {
 *   await ctx.phase('review', tasks);
 * } catch (err) {
 *   if (err instanceof TaskFailedError) console.error(err.task.id, err.task.error, err.results.length);
 * }
 * ```
 */
export class TaskFailedError extends WeftError {
  readonly task: WorkflowTaskResult;
  readonly results: WorkflowTaskResult[];

  constructor(message: string, task: WorkflowTaskResult, results: WorkflowTaskResult[] = []) {
    super(message);
    this.task = task;
    this.results = results;
  }
}

/**
 * What `runWorkflow()` rejects with when a Stratus run fails or is cancelled (S703). `result` holds
 * what the run got so far (tasks, usage, runId), so it can be passed as `resumeFrom`; `cause` is
 * the error `run()` threw.
 * @example
 * ```ts
 * try {
 *   await runWorkflow(def, args);
 * } catch (err) {
 *   if (err instanceof WorkflowRunError) await runWorkflow(def, args, { resumeFrom: err.result });
 * }
 * ```
 */
export class WorkflowRunError extends WeftError {
  readonly result: WorkflowRunResult;

  constructor(message: string, result: WorkflowRunResult, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.result = result;
  }
}
