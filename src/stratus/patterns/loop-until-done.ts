/**
 * The loop until done pattern of seed 000 (S702).
 */
import { ConfigError } from '../../errors';
import type { WorkflowTask, WorkflowTaskResult } from '../types';
import { concurrencyOf, checkName } from './pattern-core';
import type { PatternCore } from './pattern-core';

/**
 * Options of `ctx.loopUntilDone()`.
 *
 * @example
 * ```ts
 * const options: LoopUntilDoneOptions = { name: 'find bugs', task: (i) => workflowTask({ id: 'find', agent: finder, input: `Round ${i}` }), until: (r) => r[0]?.output === 'none' };
 * ```
 */
export interface LoopUntilDoneOptions {
  /** Every pass is a phase of this name (resume keys `name`, `name#2`, ...). */
  name: string;
  /** The tasks of pass `iteration` (1-based), given every earlier pass's results; null or [] ends the loop. */
  task: (
    iteration: number,
    previous: WorkflowTaskResult[][],
  ) => WorkflowTask | readonly WorkflowTask[] | null | Promise<WorkflowTask | readonly WorkflowTask[] | null>;
  /** Whether the work is done after a pass. */
  until: (
    results: WorkflowTaskResult[],
    iteration: number,
    all: WorkflowTaskResult[][],
  ) => boolean | Promise<boolean>;
  /** Passes at most; default 10. Stopping there is logged, never silent. */
  maxIterations?: number;
  concurrency?: number;
  failFast?: boolean;
}

/**
 * What `ctx.loopUntilDone()` returns.
 *
 * @example
 * ```ts
 * const loop = await ctx.loopUntilDone({ name, task, until });
 * if (!loop.done) ctx.log(`gave up after ${loop.iterations} passes`);
 * ```
 */
export interface LoopUntilDoneResult {
  /** Whether `until` said done (false when `maxIterations` or an empty pass stopped the loop). */
  done: boolean;
  iterations: number;
  /** Each pass's results. */
  rounds: WorkflowTaskResult[][];
  /** The last pass's results. */
  last: WorkflowTaskResult[];
}

/**
 * Runs a pass (a phase) again and again until `until` says the work is done (S702), for work
 * whose number of passes is unknown.
 *
 * @example
 * ```ts
 * const seen = new Set<string>();
 * const loop = await ctx.loopUntilDone({
 *   name: 'find bugs',
 *   maxIterations: 5,
 *   task: (i) => workflowTask({ id: 'finder', agent: finder, input: `Find bugs not in: ${[...seen].join(', ')}`, schema: BUGS }),
 *   until: ([r]) => {
 *     const fresh = (r?.output as { bugs: string[] } | null)?.bugs.filter((b) => !seen.has(b)) ?? [];
 *     fresh.forEach((b) => seen.add(b));
 *     return fresh.length === 0;
 *   },
 * });
 * ```
 */
export async function loopUntilDone(
  ctx: PatternCore,
  options: LoopUntilDoneOptions,
): Promise<LoopUntilDoneResult> {
  checkName('loopUntilDone', options?.name);
  if (typeof options.task !== 'function' || typeof options.until !== 'function') {
    throw new ConfigError('loopUntilDone: task and until must be functions');
  }
  const max = options.maxIterations ?? 10;
  if (!(Number.isInteger(max) && max >= 1))
    throw new ConfigError('loopUntilDone: maxIterations must be a positive integer');
  const rounds: WorkflowTaskResult[][] = [];
  for (let iteration = 1; iteration <= max; iteration++) {
    const made = await options.task(iteration, rounds);
    const tasks =
      made === null ? [] : Array.isArray(made) ? (made as readonly WorkflowTask[]) : [made as WorkflowTask];
    if (tasks.length === 0) {
      ctx.log(`${options.name}: pass ${iteration} had no tasks; the loop ends`);
      return { done: false, iterations: iteration - 1, rounds, last: rounds[rounds.length - 1] ?? [] };
    }
    const results = await ctx.phase(options.name, tasks, {
      ...concurrencyOf(options),
      ...(options.failFast === undefined ? {} : { failFast: options.failFast }),
    });
    rounds.push(results);
    if (await options.until(results, iteration, rounds)) {
      return { done: true, iterations: iteration, rounds, last: results };
    }
  }
  ctx.log(`${options.name}: stopped after maxIterations (${max}) passes without being done`);
  return { done: false, iterations: max, rounds, last: rounds[rounds.length - 1] ?? [] };
}
