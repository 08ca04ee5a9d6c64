/**
 * What identifies an agent task's work, so a resumed synthesis is reused only for the same input.
 */
import { createHash } from 'node:crypto';

/**
 * The parts of an agent task that change its work: the prompt, the agent's instructions, model,
 * agent type and tools, and the schema (not the agent's or the task's name).
 *
 * @example
 * ```ts
 * const parts: TaskWork = { prompt: 'Merge', instructions: null, model: null, agentType: null, tools: [], schema: null };
 * ```
 */
export interface TaskWork {
  prompt: string;
  instructions: string | null;
  model: string | null;
  agentType: string | null;
  tools: string[] | null;
  schema: unknown;
}

/**
 * A short hash of a task's work.
 *
 * @example
 * ```ts
 * const same = taskFingerprint(a) === taskFingerprint(b);
 * ```
 */
export function taskFingerprint(work: TaskWork): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        work.prompt,
        work.instructions,
        work.model,
        work.agentType,
        work.tools,
        work.schema ?? null,
      ]),
    )
    .digest('hex')
    .slice(0, 32);
}
