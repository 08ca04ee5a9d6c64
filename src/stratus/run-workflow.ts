/**
 * Running Stratus-style workflows (S703): `runWorkflow()` and `streamWorkflow()`.
 */
import { StratusRun } from './runtime';
import type { RunWorkflowOptions, WorkflowEvent, WorkflowRunResult } from './types';
import type { WorkflowDefinition } from './workflow';

/**
 * Runs a workflow and resolves to its result (S703). `run(ctx, args)` runs in this process; one
 * Temporal workflow execution (a session, typed by the Stratus name) records the run and runs every agent task
 * durably on the weft workers of the task queue, which must be running (`weft worker`, or
 * `createWeftWorker()` in-process).
 *
 * Rejects with `WorkflowRunError` when `run()` throws, a budget refuses a task that `run()` does
 * not catch, or the run is cancelled through `signal`; its `result` has the tasks so far and the
 * `runId` to pass as `resumeFrom`.
 *
 * @example
 * ```ts
 * const result = await runWorkflow(auditWorkflow, ['src/routes/users.ts', 'src/routes/billing.ts'], {
 *   taskQueue: 'weft',
 *   concurrency: 8,
 *   budget: { maxTotalTokens: 50_000 },
 * });
 * console.log(result.output, result.usage.totalTokens);
 * ```
 */
export function runWorkflow<Args, Output>(
  definition: WorkflowDefinition<Args, Output>,
  args: Args,
  options: RunWorkflowOptions = {},
): Promise<WorkflowRunResult<Output>> {
  const sink = options.onEvent ?? (() => {});
  try {
    return new StratusRun(definition, args, options, sink).execute();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * A run's events as an async iterable, and its result.
 *
 * @example
 * ```ts
 * const { stream, result }: WorkflowStream<string> = streamWorkflow(audit, files);
 * ```
 */
export interface WorkflowStream<Output = unknown> {
  /** Every event, from `workflow_started` to `workflow_completed` or `workflow_failed`; then it ends. */
  stream: AsyncIterable<WorkflowEvent>;
  /** Resolves like `runWorkflow()`; a rejection nobody awaits does not crash the process. */
  result: Promise<WorkflowRunResult<Output>>;
}

/**
 * An unbounded queue of events read by one async iterator; it ends after the last event.
 * @example
 * ```ts
 * const queue = new EventQueue();
 * queue.push(event);
 * queue.close();
 * for await (const e of queue) console.log(e.type);
 * ```
 */
export class EventQueue implements AsyncIterable<WorkflowEvent> {
  private readonly items: WorkflowEvent[] = [];
  private waiting: ((item: IteratorResult<WorkflowEvent>) => void) | null = null;
  private closed = false;

  push(event: WorkflowEvent): void {
    if (this.closed) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: event, done: false });
    } else {
      this.items.push(event);
    }
  }

  close(): void {
    this.closed = true;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<WorkflowEvent> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item) return Promise.resolve({ value: item, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
      return: () => {
        // The reader stopped early; the run goes on and its result still settles.
        this.items.length = 0;
        this.closed = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/**
 * Runs a workflow and streams its progress events (seed 000's names, S703).
 *
 * @example
 * ```ts
 * const { stream, result } = streamWorkflow(auditWorkflow, files);
 * for await (const event of stream) {
 *   if (event.type === 'workflow_task_completed') console.log(`${event.task.name}: ${event.task.status}`);
 * }
 * console.log((await result).output);
 * ```
 */
export function streamWorkflow<Args, Output>(
  definition: WorkflowDefinition<Args, Output>,
  args: Args,
  options: RunWorkflowOptions = {},
): WorkflowStream<Output> {
  const queue = new EventQueue();
  const result = runWorkflow(definition, args, {
    ...options,
    onEvent: (event) => {
      queue.push(event);
      options.onEvent?.(event);
    },
  }).finally(() => queue.close());
  // Readers of the stream alone must not crash the process when the run fails.
  result.catch(() => {});
  return { stream: queue, result };
}
