/**
 * What every Stratus pattern (S702) is built on: the part of the run context it uses, and the
 * checks of its options.
 */
import { ConfigError } from '../../errors';
import { Agent } from '../agent';
import type { PhaseOptions, SynthesizeOptions, WorkflowTask, WorkflowTaskResult } from '../types';

/**
 * The part of the context the patterns are built on.
 * @example
 * ```ts
 * const core: PatternCore = { phase: ctx.phase, synthesize: ctx.synthesize, log: ctx.log };
 * await fanOutAndSynthesize(core, { name: 'inspect', tasks, synthesizer });
 * ```
 */
export interface PatternCore {
  phase(name: string, tasks: readonly WorkflowTask[], options?: PhaseOptions): Promise<WorkflowTaskResult[]>;
  synthesize(agent: Agent, input: unknown, options?: SynthesizeOptions): Promise<WorkflowTaskResult>;
  log(message: string): void;
}

/** A task's output as text for another agent's prompt. */
export function text(output: unknown): string {
  if (typeof output === 'string') return output;
  return JSON.stringify(output, null, 2) ?? '';
}

/** A pattern's `concurrency` option as phase options: absent when the caller set none. */
export function concurrencyOf(options: { concurrency?: number }): { concurrency?: number } {
  return options.concurrency === undefined ? {} : { concurrency: options.concurrency };
}

/** Refuses a pattern call without a phase name. */
export function checkName(pattern: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '')
    throw new ConfigError(`${pattern}({ name }) needs a phase name`);
}

/** Refuses a pattern option that is not an `Agent`. */
export function checkAgent(pattern: string, what: string, agent: unknown): asserts agent is Agent {
  if (!(agent instanceof Agent)) throw new ConfigError(`${pattern}: ${what} must be a new Agent({...})`);
}

/** Refuses a pattern option that is not a non-empty array of `Agent`s. */
export function checkAgents(pattern: string, what: string, agents: unknown): asserts agents is Agent[] {
  if (!Array.isArray(agents) || agents.length === 0)
    throw new ConfigError(`${pattern}: ${what} must be a non-empty array of agents`);
  for (const a of agents) checkAgent(pattern, what, a);
}
