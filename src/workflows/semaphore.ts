import { CancellationScope } from '@temporalio/workflow';

/**
 * A FIFO counting semaphore for workflow code. `@temporalio/workflow` has none, and every agent of
 * a run must queue through one cap (S212). Promise resolution order is deterministic inside the
 * sandbox, so replays grant permits in the same order. A waiter whose cancellation scope is
 * cancelled (run stopped, agent skipped) leaves the queue instead of hanging the run.
 */
export class Semaphore {
  private permits: number;
  private paused = false;
  private readonly waiters: Array<{ grant: () => void }> = [];

  constructor(permits: number) {
    this.permits = permits;
  }

  /** Waits for a permit; rejects with the scope's CancelledFailure if the caller's scope is cancelled. */
  acquire(): Promise<void> {
    if (!this.paused && this.permits > 0 && this.waiters.length === 0) {
      this.permits--;
      return Promise.resolve();
    }
    const scope = CancellationScope.current();
    return new Promise<void>((resolve, reject) => {
      const waiter = { grant: resolve };
      this.waiters.push(waiter);
      scope.cancelRequested.catch((err: unknown) => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) {
          this.waiters.splice(at, 1);
          reject(err);
        }
      });
    });
  }

  /** Returns a permit and hands it to the next waiter, unless paused. */
  release(): void {
    this.permits++;
    this.drain();
  }

  /** While paused, no waiter is granted a permit; holders keep theirs (S306). */
  setPaused(paused: boolean): void {
    this.paused = paused;
    this.drain();
  }

  /** Number of callers waiting for a permit. */
  get queued(): number {
    return this.waiters.length;
  }

  private drain(): void {
    while (!this.paused && this.permits > 0 && this.waiters.length > 0) {
      this.permits--;
      this.waiters.shift()?.grant();
    }
  }
}
