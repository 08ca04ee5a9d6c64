/**
 * Seed 000's `WorkflowRunManager` (S703): a local registry of runs with their events and latest
 * snapshot, and stop, restart and resume.
 */
import { ConfigError, RunCancelledError } from '../errors';
import { StratusRun } from './runtime';
import type { RunWorkflowOptions, WorkflowEvent, WorkflowRunResult, WorkflowRunStatus } from './types';
import type { WorkflowDefinition } from './workflow';

/**
 * A run the manager holds.
 *
 * @example
 * ```ts
 * const run: ManagedWorkflowRun = manager.start(audit, files);
 * run.onEvent((e) => console.log(e.type));
 * await run.result;
 * ```
 */
export interface ManagedWorkflowRun<Output = unknown, Args = unknown> {
  /** The manager's id of the run: its Temporal run id. */
  readonly id: string;
  /** The session workflow's id in Temporal. */
  readonly runId: string;
  readonly workflow: WorkflowDefinition<Args, Output>;
  readonly args: Args;
  readonly options: RunWorkflowOptions;
  /** The run this one was restarted or resumed from, if any. */
  readonly previousRunId: string | null;
  readonly status: WorkflowRunStatus;
  /** Every event so far, in order. */
  readonly events: readonly WorkflowEvent[];
  /** Resolves like `runWorkflow()`; a rejection nobody awaits does not crash the process. */
  readonly result: Promise<WorkflowRunResult<Output>>;
  /** The run so far, in the shape of its result; usable as `resumeFrom`. */
  snapshot(): WorkflowRunResult<Output>;
  /** Calls `listener` with every later event; returns a function that removes it. */
  onEvent(listener: (event: WorkflowEvent) => void): () => void;
  /** Cancels the run (as its `signal` would) and waits for it to end. */
  stop(): Promise<void>;
}

class ManagedRun<Args, Output> implements ManagedWorkflowRun<Output, Args> {
  readonly events: WorkflowEvent[] = [];
  readonly result: Promise<WorkflowRunResult<Output>>;
  readonly runId: string;
  private readonly listeners = new Set<(event: WorkflowEvent) => void>();
  private readonly run: StratusRun<Args, Output>;
  private settled: WorkflowRunStatus | null = null;
  private readonly controller = new AbortController();

  constructor(
    readonly workflow: WorkflowDefinition<Args, Output>,
    readonly args: Args,
    readonly options: RunWorkflowOptions,
    readonly previousRunId: string | null,
    gate: Promise<unknown>,
  ) {
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.controller.signal])
      : this.controller.signal;
    this.run = new StratusRun(workflow, args, { ...options, signal }, (event) => this.deliver(event));
    this.runId = this.run.runId;
    this.result = gate
      .then(() => this.run.execute())
      .then(
        (result) => {
          this.settled = result.status;
          return result;
        },
        (err: unknown) => {
          this.settled =
            this.run.snapshot().status === 'cancelled' || signal.aborted ? 'cancelled' : 'failed';
          throw err;
        },
      );
    void this.result.catch(() => {});
  }

  get id(): string {
    return this.runId;
  }

  get status(): WorkflowRunStatus {
    return this.settled ?? 'running';
  }

  snapshot(): WorkflowRunResult<Output> {
    return this.run.snapshot();
  }

  onEvent(listener: (event: WorkflowEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(event: WorkflowEvent): void {
    this.events.push(event);
    this.options.onEvent?.(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // One listener's bug must not stop the others or the run.
      }
    }
  }

  async stop(): Promise<void> {
    this.controller.abort(new RunCancelledError('stopped by the run manager'));
    await this.result.then(
      () => {},
      () => {},
    );
  }
}

/**
 * Keeps a local registry of runs (S703): each run's events and latest snapshot, and stop,
 * restart and resume. Options given to the constructor (a client, a task queue...) apply to every
 * run it starts; options given to `start()` override them.
 *
 * @example
 * ```ts
 * const manager = new WorkflowRunManager({ taskQueue: 'weft' });
 * const run = manager.start(auditWorkflow, files, { concurrency: 8 });
 * run.onEvent((event) => {
 *   if (event.type === 'workflow_phase_completed') console.log(event.phase.name);
 * });
 * await run.result.catch(() => {});
 * const resumed = manager.resume(run);   // completed tasks are skipped, unfinished ones run
 * await resumed.result;
 * ```
 */
export class WorkflowRunManager {
  private readonly runs = new Map<string, ManagedRun<unknown, unknown>>();

  constructor(private readonly defaults: RunWorkflowOptions = {}) {}

  /**
   * Starts a run and returns it at once.
   *
   * @example
   * ```ts
   * const run = manager.start(auditWorkflow, files, { concurrency: 8 });
   * ```
   */
  start<Args, Output>(
    definition: WorkflowDefinition<Args, Output>,
    args: Args,
    options: RunWorkflowOptions = {},
  ): ManagedWorkflowRun<Output, Args> {
    return this.launch(definition, args, { ...this.defaults, ...options }, null, Promise.resolve());
  }

  private launch<Args, Output>(
    definition: WorkflowDefinition<Args, Output>,
    args: Args,
    options: RunWorkflowOptions,
    previous: string | null,
    gate: Promise<unknown>,
  ): ManagedWorkflowRun<Output, Args> {
    const run = new ManagedRun(definition, args, options, previous, gate);
    this.runs.set(run.id, run as unknown as ManagedRun<unknown, unknown>);
    return run;
  }

  /**
   * A run by id.
   *
   * @example
   * ```ts
   * const run = manager.get(runId);
   * ```
   */
  get(id: string): ManagedWorkflowRun | undefined {
    return this.runs.get(id);
  }

  /**
   * Every run this manager started, oldest first.
   *
   * @example
   * ```ts
   * const running = manager.list().filter((r) => r.status === 'running');
   * ```
   */
  list(): ManagedWorkflowRun[] {
    return [...this.runs.values()];
  }

  private find(run: ManagedWorkflowRun | string): ManagedRun<unknown, unknown> {
    const found = this.runs.get(typeof run === 'string' ? run : run.id);
    if (!found) throw new ConfigError(`the run manager has no run ${typeof run === 'string' ? run : run.id}`);
    return found;
  }

  /**
   * Cancels a run: running tasks are cancelled through Temporal and its session ends cancelled.
   * Resolves once the run has ended.
   *
   * @example
   * ```ts
   * await manager.stop(run);
   * ```
   */
  async stop(run: ManagedWorkflowRun | string): Promise<void> {
    await this.find(run).stop();
  }

  /**
   * Starts the run again from scratch, with the same workflow, args and options, after stopping it
   * if it still runs.
   *
   * @example
   * ```ts
   * const again = manager.restart(run);
   * ```
   */
  restart(run: ManagedWorkflowRun | string, options: RunWorkflowOptions = {}): ManagedWorkflowRun {
    const old = this.find(run);
    const { resumeFrom: _dropped, runId: _id, ...rest } = old.options;
    return this.launch(old.workflow, old.args, { ...rest, ...options }, old.runId, old.stop());
  }

  /**
   * Starts the run again with its latest snapshot as `resumeFrom` (after stopping it if it still
   * runs): completed task ids are skipped, unfinished tasks run live. The snapshot is read from
   * the run's Temporal history, so tasks completed in a phase that never finished are reused too.
   *
   * @example
   * ```ts
   * const resumed = manager.resume(run);
   * await resumed.result;
   * ```
   */
  resume(run: ManagedWorkflowRun | string, options: RunWorkflowOptions = {}): ManagedWorkflowRun {
    const old = this.find(run);
    const { runId: _id, ...rest } = old.options;
    return this.launch(
      old.workflow,
      old.args,
      { ...rest, ...options, resumeFrom: old.runId },
      old.runId,
      old.stop(),
    );
  }
}
