/**
 * The watchdog behind the compiler's loop guards (src/compiler/loop-guards.ts). Temporal stops a
 * workflow activation that runs longer than the worker's `isolateExecutionTimeout` and then retries
 * the workflow task forever, so a script stuck in `while (true) {}` would never end. Each guard
 * calls `tick(line)`; once the script has run {@link SCRIPT_SLICE_LIMIT_MS} within one activation
 * (that is, without awaiting anything Temporal has to deliver), the tick throws a ScriptError and
 * the run fails, once, as a failed run.
 *
 * Determinism: the point where the limit is reached depends on the machine, but only inside one
 * activation that never yields, so no agent, timer or other command depends on where it is reached.
 * A replay runs the same loop and fails the same way.
 */

import type { GuardInsertion } from '../types';

/** How long a script may run within one workflow activation before its run fails. */
export const SCRIPT_SLICE_LIMIT_MS = 5_000;

/**
 * How long one workflow activation may run before Temporal stops it (the worker's and the replayer's
 * `isolateExecutionTimeout`): three times the watchdog's limit, so the watchdog always fires first.
 */
export const ISOLATE_EXECUTION_TIMEOUT_MS = SCRIPT_SLICE_LIMIT_MS * 3;

/**
 * The sandbox's own `Date`. Temporal replaces `Date` in the workflow sandbox with one whose `now()`
 * is the activation's time, but keeps the original's prototype, whose constructor still reads the
 * real clock. Only the watchdog reads it, and only to stop a script that would never yield.
 */
const RealDate = Date.prototype.constructor as DateConstructor;

/** An error the script may not swallow: once raised, every later guard raises it again. */
function scriptError(message: string): Error {
  const err = new Error(message);
  err.name = 'ScriptError';
  return err;
}

/** Watches one run's scripts (the top-level one and inline `workflow()` children). */
export class ScriptWatchdog {
  private activation = Number.NaN;
  private sliceStart = 0;
  private error: Error | null = null;
  private notify: ((err: Error) => void) | null = null;
  /** Settles (never resolves) once the script has run too long; the run races its script with it. */
  readonly tripped: Promise<never>;

  /**
   * @param limitMs - How long a script may run within one activation.
   * @param clocks - The activation's time and the real time; the sandbox's by default (tests pass
   *   their own, since outside the sandbox `Date.now()` is the real clock).
   */
  constructor(
    private readonly limitMs = SCRIPT_SLICE_LIMIT_MS,
    private readonly clocks = { activation: () => Date.now(), real: () => RealDate.now() },
  ) {
    this.tripped = new Promise<never>((_, reject) => {
      this.notify = reject;
    });
    // Nobody may await it when the script ends normally.
    this.tripped.catch(() => {});
  }

  /** The error the watchdog raised, or null. */
  get failure(): Error | null {
    return this.error;
  }

  /** The guard call for scripts from `filename`: throws once the script has run too long. */
  tickFor(filename: string): (line: unknown) => void {
    return (line: unknown) => this.tick(filename, typeof line === 'number' ? line : 0);
  }

  private tick(filename: string, line: number): void {
    if (this.error) throw this.error;
    // The sandbox's Date.now() is the activation's time: a new value means a new activation.
    const activation = this.clocks.activation();
    const real = this.clocks.real();
    if (activation !== this.activation) {
      this.activation = activation;
      this.sliceStart = real;
      return;
    }
    if (real - this.sliceStart <= this.limitMs) return;
    const where = line > 0 ? `${filename}:${line}: ` : '';
    this.error = scriptError(
      `${where}the script ran ${Math.round(this.limitMs / 1000)} s without awaiting (an endless loop?); ` +
        'a workflow script must await agents or other calls, or finish',
    );
    this.notify?.(this.error);
    throw this.error;
  }
}

/**
 * Why `value` cannot be stored as JSON, or null when it can: a BigInt, or an object that contains
 * itself, with where it was found (`result.items[2]`). Temporal stores results and activity
 * arguments as JSON; a value JSON cannot hold would fail the workflow task, and Temporal would
 * retry that task forever.
 */
export function unstorable(value: unknown, root: string): string | null {
  try {
    JSON.stringify(value);
    return null;
  } catch (err) {
    return describeUnstorable(value, root) ?? (err instanceof Error ? err.message : String(err));
  }
}

function describeUnstorable(value: unknown, root: string): string | null {
  const ancestors: unknown[] = [];
  const visit = (v: unknown, path: string): string | null => {
    if (typeof v === 'bigint') return path === root ? 'a BigInt' : `a BigInt at ${path}`;
    if (typeof v !== 'object' || v === null) return null;
    if (ancestors.includes(v)) return `a circular object (${path} refers back to an object that holds it)`;
    ancestors.push(v);
    try {
      const entries: [string, unknown][] = Array.isArray(v)
        ? v.map((item, i) => [`${path}[${i}]`, item])
        : Object.keys(v).map((k) => [
            /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`,
            (v as Record<string, unknown>)[k],
          ]);
      for (const [p, item] of entries) {
        const found = visit(item, p);
        if (found) return found;
      }
      return null;
    } finally {
      ancestors.pop();
    }
  };
  try {
    return visit(value, root);
  } catch {
    return null;
  }
}

/** `code` with its loop guards spliced in: what the interpreter evaluates. */
export function applyGuards(code: string, guards: readonly GuardInsertion[]): string {
  let out = '';
  let at = 0;
  for (const [offset, text] of guards) {
    out += code.slice(at, offset) + text;
    at = offset;
  }
  return out + code.slice(at);
}
