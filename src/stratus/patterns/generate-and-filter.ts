/**
 * The generate and filter pattern of seed 000 (S702).
 */
import { ConfigError } from '../../errors';
import type { JsonSchema } from '../../types';
import type { Agent } from '../agent';
import type { WorkflowTask, WorkflowTaskResult } from '../types';
import { workflowTask } from '../workflow-task';
import { text, concurrencyOf, checkName, checkAgent, checkAgents } from './pattern-core';
import type { PatternCore } from './pattern-core';

/**
 * The schema a filter agent answers with.
 * @example
 * ```ts
 * workflowTask({ id: 'judge-1', agent: critic, input: `Accept? ${idea}`, schema: ACCEPT_SCHEMA });
 * ```
 */
export const ACCEPT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['accept', 'reason'],
  properties: { accept: { type: 'boolean' }, reason: { type: 'string' } },
};

/**
 * Options of `ctx.generateAndFilter()`.
 *
 * @example
 * ```ts
 * const options: GenerateAndFilterOptions = { name: 'test ideas', input: 'Propose a test', generators: [a, b], filter };
 * ```
 */
export interface GenerateAndFilterOptions {
  name: string;
  /** What every generator is asked; a function gives each its own prompt. */
  input: string | ((generator: Agent, index: number) => string);
  generators: readonly Agent[];
  filter: Agent;
  /** What a strong candidate is, for the filter. */
  criteria?: string;
  /** Candidates per generator; default 1. */
  candidatesPerGenerator?: number;
  /** The filter's prompt for one candidate; default shows the criteria, the task and the candidate. */
  filterPrompt?: (candidate: WorkflowTaskResult) => string;
  concurrency?: number;
}

/**
 * One generated candidate and the filter's verdict.
 *
 * @example
 * ```ts
 * for (const c of picked.accepted) console.log(c.generator, c.output, c.verdict?.reason);
 * ```
 */
export interface Candidate {
  id: string;
  /** The generator agent's name. */
  generator: string;
  output: unknown;
  verdict: { accept: boolean; reason: string } | null;
  task: WorkflowTaskResult;
}

/**
 * What `ctx.generateAndFilter()` returns.
 *
 * @example
 * ```ts
 * const { accepted, rejected } = await ctx.generateAndFilter({ name, input, generators, filter });
 * ```
 */
export interface GenerateAndFilterResult {
  /** Every candidate that was generated, in generator order. */
  candidates: Candidate[];
  accepted: Candidate[];
  rejected: Candidate[];
}

/**
 * Generators produce candidates in one phase; a filter agent judges each in a second phase and
 * only the accepted ones are kept (S702). A failed generator produces no candidate; a failed
 * filter verdict rejects its candidate.
 *
 * @example
 * ```ts
 * const ideas = await ctx.generateAndFilter({
 *   name: 'edge cases',
 *   input: 'List one edge case of the date parser nobody tests yet.',
 *   generators: [creative, careful],
 *   filter: critic,
 *   criteria: 'real, specific and not already covered',
 * });
 * return ideas.accepted.map((c) => c.output);
 * ```
 */
export async function generateAndFilter(
  ctx: PatternCore,
  options: GenerateAndFilterOptions,
): Promise<GenerateAndFilterResult> {
  checkName('generateAndFilter', options?.name);
  checkAgents('generateAndFilter', 'generators', options.generators);
  checkAgent('generateAndFilter', 'filter', options.filter);
  const per = options.candidatesPerGenerator ?? 1;
  if (!(Number.isInteger(per) && per >= 1)) {
    throw new ConfigError('generateAndFilter: candidatesPerGenerator must be a positive integer');
  }
  const concurrency = concurrencyOf(options);
  const generate: WorkflowTask[] = [];
  options.generators.forEach((generator, g) => {
    const input = typeof options.input === 'function' ? options.input(generator, g) : options.input;
    for (let k = 1; k <= per; k++) {
      const id = `${g + 1}-${generator.name}${per === 1 ? '' : `#${k}`}`;
      generate.push(
        workflowTask({
          id,
          name: `generate ${id}`,
          agent: generator,
          input:
            per === 1 ? input : `${input}\n\n(Candidate ${k} of ${per}: make it different from the others.)`,
          metadata: { generator: generator.name },
        }),
      );
    }
  });
  const generated = await ctx.phase(`${options.name}: generate`, generate, {
    failFast: false,
    ...concurrency,
  });
  const usable = generated.filter((r) => r.status === 'completed' || r.status === 'skipped');
  const task = typeof options.input === 'string' ? options.input : null;
  const verdicts = await ctx.phase(
    `${options.name}: filter`,
    usable.map((r) =>
      workflowTask({
        id: r.id,
        name: `filter ${r.id}`,
        agent: options.filter,
        input:
          options.filterPrompt?.(r) ??
          `Accept this candidate only if it is strong${options.criteria ? `: ${options.criteria}` : ''}. ` +
            `Reject weak, vague or wrong ones.\n\n${task ? `Task:\n${task}\n\n` : ''}Candidate:\n${text(r.output)}`,
        schema: ACCEPT_SCHEMA,
      }),
    ),
    { failFast: false, ...concurrency },
  );
  const candidates = usable.map((r, i): Candidate => {
    const v = verdicts[i];
    const answer = v?.output as { accept?: unknown; reason?: unknown } | null | undefined;
    const verdict =
      v && (v.status === 'completed' || v.status === 'skipped') && typeof answer?.accept === 'boolean'
        ? { accept: answer.accept, reason: typeof answer.reason === 'string' ? answer.reason : '' }
        : null;
    return { id: r.id, generator: String(r.metadata?.generator ?? ''), output: r.output, verdict, task: r };
  });
  const accepted = candidates.filter((c) => c.verdict?.accept === true);
  ctx.log(`${options.name}: ${accepted.length} of ${generate.length} candidates accepted`);
  return { candidates, accepted, rejected: candidates.filter((c) => c.verdict?.accept !== true) };
}
