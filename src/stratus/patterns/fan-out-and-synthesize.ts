/**
 * The fan out and synthesize pattern of seed 000 (S702).
 */
import type { JsonSchema } from '../../types';
import type { Agent } from '../agent';
import type { WorkflowTask, WorkflowTaskResult } from '../types';
import { text, concurrencyOf, checkName, checkAgent } from './pattern-core';
import type { PatternCore } from './pattern-core';

/**
 * Options of `ctx.fanOutAndSynthesize()`.
 *
 * @example
 * ```ts
 * const options: FanOutAndSynthesizeOptions = { name: 'inspect services', tasks, synthesizer };
 * ```
 */
export interface FanOutAndSynthesizeOptions {
  /** The fan-out phase's name. */
  name: string;
  tasks: readonly WorkflowTask[];
  synthesizer: Agent;
  /** The synthesizer's input from the results; default each result's name and output (or error). */
  prompt?: (results: WorkflowTaskResult[]) => string;
  concurrency?: number;
  /** Default false: every task runs and failures reach the synthesizer as errors. */
  failFast?: boolean;
  /** A schema for the synthesis's answer. */
  schema?: JsonSchema;
}

/**
 * The synthesis's result, with the fan-out's results beside it.
 *
 * @example
 * ```ts
 * const report = await ctx.fanOutAndSynthesize({ name: 'inspect', tasks, synthesizer });
 * console.log(report.output, report.results.length);
 * ```
 */
export type FanOutAndSynthesizeResult = WorkflowTaskResult & { results: WorkflowTaskResult[] };

/**
 * Runs `tasks` in one phase, then one synthesis over their results (S702).
 *
 * @example
 * ```ts
 * const report = await ctx.fanOutAndSynthesize({
 *   name: 'inspect services',
 *   tasks: services.map((s) => workflowTask({ id: s.name, agent: reviewer, input: `Inspect ${s.path}.` })),
 *   synthesizer,
 *   prompt: (results) => results.map((r) => r.output).join('\n\n'),
 * });
 * return report.output;
 * ```
 */
export async function fanOutAndSynthesize(
  ctx: PatternCore,
  options: FanOutAndSynthesizeOptions,
): Promise<FanOutAndSynthesizeResult> {
  checkName('fanOutAndSynthesize', options?.name);
  checkAgent('fanOutAndSynthesize', 'synthesizer', options.synthesizer);
  const results = await ctx.phase(options.name, options.tasks, {
    failFast: options.failFast ?? false,
    ...concurrencyOf(options),
  });
  const prompt =
    options.prompt?.(results) ??
    results
      .map(
        (r) =>
          `## ${r.name}\n${r.status === 'completed' || r.status === 'skipped' ? text(r.output) : `(${r.status}: ${r.error})`}`,
      )
      .join('\n\n');
  const synthesis = await ctx.synthesize(options.synthesizer, prompt, {
    name: `${options.name}: synthesize`,
    ...(options.schema ? { schema: options.schema } : {}),
  });
  return { ...synthesis, results };
}
