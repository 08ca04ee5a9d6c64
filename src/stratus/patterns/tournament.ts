/**
 * The tournament pattern of seed 000 (S702).
 */
import type { JsonSchema } from '../../types';
import type { Agent } from '../agent';
import type { WorkflowTaskResult } from '../types';
import { workflowTask } from '../workflow-task';
import { text, concurrencyOf, checkName, checkAgent, checkAgents } from './pattern-core';
import type { PatternCore } from './pattern-core';

/**
 * The schema a judge answers with.
 * @example
 * ```ts
 * await ctx.synthesize(judge, `A:\n${a}\n\nB:\n${b}`, { schema: MATCH_SCHEMA }); // { winner: 'A' | 'B', reason }
 * ```
 */
export const MATCH_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['winner', 'reason'],
  properties: { winner: { type: 'string', enum: ['A', 'B'] }, reason: { type: 'string' } },
};

/**
 * Options of `ctx.tournament()`.
 *
 * @example
 * ```ts
 * const options: TournamentOptions = { name: 'design', input: 'Design the cache', competitors: [a, b, c], judge };
 * ```
 */
export interface TournamentOptions {
  name: string;
  /** The task every competitor attempts; a function gives each its own prompt. */
  input: string | ((competitor: Agent, index: number) => string);
  competitors: readonly Agent[];
  judge: Agent;
  criteria?: string;
  /** The judge's prompt for one match; default shows attempt A and attempt B and the criteria. */
  comparePrompt?: (a: WorkflowTaskResult, b: WorkflowTaskResult) => string;
  concurrency?: number;
}

/**
 * One judged match.
 *
 * @example
 * ```ts
 * for (const m of t.matches) console.log(`round ${m.round}: ${m.a} vs ${m.b} -> ${m.winner}`);
 * ```
 */
export interface TournamentMatch {
  round: number;
  a: string;
  b: string;
  winner: string;
  reason: string;
}

/**
 * What `ctx.tournament()` returns.
 *
 * @example
 * ```ts
 * const t = await ctx.tournament({ name, input, competitors, judge });
 * return t.winner?.output;
 * ```
 */
export interface TournamentResult {
  /** The winning attempt; null when every attempt failed. */
  winner: WorkflowTaskResult | null;
  /** Every attempt, in competitor order. */
  attempts: WorkflowTaskResult[];
  matches: TournamentMatch[];
}

/**
 * Every competitor attempts the same task in one phase; then a judge compares the attempts
 * pairwise, one phase per round, winners advancing, until one is left (S702). Failed attempts do
 * not enter the bracket; an odd one out advances without a match; a failed judgement advances A.
 *
 * @example
 * ```ts
 * const best = await ctx.tournament({
 *   name: 'migration plan',
 *   input: 'Plan the migration of the billing tables.',
 *   competitors: [mvpFirst, riskFirst, userFirst],
 *   judge,
 *   criteria: 'safest plan that ships this quarter',
 * });
 * return best.winner?.output;
 * ```
 */
export async function tournament(ctx: PatternCore, options: TournamentOptions): Promise<TournamentResult> {
  checkName('tournament', options?.name);
  checkAgents('tournament', 'competitors', options.competitors);
  checkAgent('tournament', 'judge', options.judge);
  const concurrency = concurrencyOf(options);
  const attempts = await ctx.phase(
    `${options.name}: attempts`,
    options.competitors.map((agent, i) =>
      workflowTask({
        id: `${i + 1}-${agent.name}`,
        name: `attempt ${agent.name}`,
        agent,
        input: typeof options.input === 'function' ? options.input(agent, i) : options.input,
        metadata: { competitor: agent.name },
      }),
    ),
    { failFast: false, ...concurrency },
  );
  let alive = attempts.filter((r) => r.status === 'completed' || r.status === 'skipped');
  const matches: TournamentMatch[] = [];
  const compare =
    options.comparePrompt ??
    ((a: WorkflowTaskResult, b: WorkflowTaskResult) =>
      `Two attempts at the same task follow. Pick the better one${options.criteria ? ` (${options.criteria})` : ''}; ` +
      `answer winner "A" or "B".\n\n` +
      `${typeof options.input === 'string' ? `Task:\n${options.input}\n\n` : ''}` +
      `Attempt A:\n${text(a.output)}\n\nAttempt B:\n${text(b.output)}`);
  for (let round = 1; alive.length > 1; round++) {
    const pairs: Array<[WorkflowTaskResult, WorkflowTaskResult]> = [];
    for (let i = 0; i + 1 < alive.length; i += 2)
      pairs.push([alive[i] as WorkflowTaskResult, alive[i + 1] as WorkflowTaskResult]);
    const bye = alive.length % 2 === 1 ? alive[alive.length - 1] : undefined;
    const judged = await ctx.phase(
      `${options.name}: round ${round}`,
      pairs.map(([a, b]) =>
        workflowTask({
          id: `${a.id} vs ${b.id}`,
          name: `judge ${a.id} vs ${b.id}`,
          agent: options.judge,
          input: compare(a, b),
          schema: MATCH_SCHEMA,
        }),
      ),
      { failFast: false, ...concurrency },
    );
    const next: WorkflowTaskResult[] = [];
    pairs.forEach(([a, b], i) => {
      const verdict = judged[i]?.output as { winner?: unknown; reason?: unknown } | null | undefined;
      const ok = judged[i]?.status === 'completed' || judged[i]?.status === 'skipped';
      const winner = ok && verdict?.winner === 'B' ? b : a;
      matches.push({
        round,
        a: a.id,
        b: b.id,
        winner: winner.id,
        reason:
          ok && typeof verdict?.reason === 'string'
            ? verdict.reason
            : `judge ${judged[i]?.status ?? 'missing'}: A advances`,
      });
      next.push(winner);
    });
    if (bye) next.push(bye);
    alive = next;
  }
  const winner = alive[0] ?? null;
  ctx.log(
    `${options.name}: ${winner ? `${winner.id} won` : 'no attempt succeeded'} after ${matches.length} matches`,
  );
  return { winner, attempts, matches };
}
