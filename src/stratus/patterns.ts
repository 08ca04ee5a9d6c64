/**
 * Seed 000's workflow patterns (S702), built on `ctx.phase()` and `ctx.synthesize()`: every agent
 * they start is an ordinary task of the run (durable, budgeted, resumable by phase and task id).
 */
import { ConfigError } from '../errors';
import type { JsonSchema } from '../types';
import { Agent } from './agent';
import type { PhaseOptions, SynthesizeOptions, WorkflowTask, WorkflowTaskResult } from './types';
import { workflowTask } from './workflow-task';

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
function text(output: unknown): string {
  if (typeof output === 'string') return output;
  return JSON.stringify(output, null, 2) ?? '';
}

/** A pattern's `concurrency` option as phase options: absent when the caller set none. */
function concurrencyOf(options: { concurrency?: number }): { concurrency?: number } {
  return options.concurrency === undefined ? {} : { concurrency: options.concurrency };
}

function checkName(pattern: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '')
    throw new ConfigError(`${pattern}({ name }) needs a phase name`);
}

function checkAgent(pattern: string, what: string, agent: unknown): asserts agent is Agent {
  if (!(agent instanceof Agent)) throw new ConfigError(`${pattern}: ${what} must be a new Agent({...})`);
}

function checkAgents(pattern: string, what: string, agents: unknown): asserts agents is Agent[] {
  if (!Array.isArray(agents) || agents.length === 0)
    throw new ConfigError(`${pattern}: ${what} must be a non-empty array of agents`);
  for (const a of agents) checkAgent(pattern, what, a);
}

// ---- Fan out and synthesize ----

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

// ---- Adversarial verification ----

/**
 * The verdict schema a verifier answers with.
 * @example
 * ```ts
 * await ctx.synthesize(skeptic, `Refute: ${claim}`, { schema: VERDICT_SCHEMA });
 * ```
 */
export const VERDICT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['refuted', 'reason'],
  properties: {
    refuted: {
      type: 'boolean',
      description: 'true when the finding is wrong, unproven or not worth keeping',
    },
    reason: { type: 'string' },
  },
};

/**
 * A finding to verify.
 *
 * @example
 * ```ts
 * const finding: Finding = { id: 'sql-injection', output: 'users.ts builds SQL from req.query' };
 * ```
 */
export interface Finding {
  id: string;
  output: unknown;
  name?: string;
  metadata?: Record<string, unknown>;
}

/**
 * Options of `ctx.adversarialVerify()`.
 *
 * @example
 * ```ts
 * const options: AdversarialVerifyOptions = { name: 'verify findings', findings, verifier, votes: 3 };
 * ```
 */
export interface AdversarialVerifyOptions {
  name: string;
  findings: readonly Finding[];
  verifier: Agent;
  /** Independent skeptics per finding; a finding survives when a strict majority fail to refute it. Default 1. */
  votes?: number;
  /** The verifier's prompt; default asks it to refute the finding and to default to refuted. */
  prompt?: (finding: Finding, vote: number) => string;
  concurrency?: number;
}

/**
 * A verified (or refuted) finding.
 *
 * @example
 * ```ts
 * for (const f of checked.rejected) console.log(f.id, f.verdicts.map((v) => v.reason));
 * ```
 */
export interface VerifiedFinding extends Finding {
  verdicts: Array<{ refuted: boolean; reason: string }>;
  /** Votes that did not refute it; failed votes count as refuting. */
  supporting: number;
}

/**
 * What `ctx.adversarialVerify()` returns.
 *
 * @example
 * ```ts
 * return checked.accepted.map((f) => f.output);
 * ```
 */
export interface AdversarialVerifyResult {
  accepted: VerifiedFinding[];
  rejected: VerifiedFinding[];
  /** Every verifier task. */
  results: WorkflowTaskResult[];
}

/**
 * Asks `votes` independent verifiers per finding to refute it; keeps the findings a strict
 * majority could not refute (S702).
 *
 * @example
 * ```ts
 * const checked = await ctx.adversarialVerify({
 *   name: 'verify findings',
 *   findings: findings.map((f) => ({ id: f.id, output: f.output })),
 *   verifier,
 * });
 * return checked.accepted.map((r) => r.output);
 * ```
 */
export async function adversarialVerify(
  ctx: PatternCore,
  options: AdversarialVerifyOptions,
): Promise<AdversarialVerifyResult> {
  checkName('adversarialVerify', options?.name);
  checkAgent('adversarialVerify', 'verifier', options.verifier);
  const votes = options.votes ?? 1;
  if (!(Number.isInteger(votes) && votes >= 1))
    throw new ConfigError('adversarialVerify: votes must be a positive integer');
  const prompt =
    options.prompt ??
    ((finding: Finding) =>
      `Try to refute this finding. Check it against the evidence; answer refuted=true if it is wrong, ` +
      `unproven or not worth acting on, and default to refuted=true if you are not sure.\n\n` +
      `Finding ${finding.name ?? finding.id}:\n${text(finding.output)}`);
  const tasks: WorkflowTask[] = [];
  for (const finding of options.findings) {
    for (let vote = 1; vote <= votes; vote++) {
      tasks.push(
        workflowTask({
          id: votes === 1 ? finding.id : `${finding.id}#vote${vote}`,
          name: `verify ${finding.name ?? finding.id}${votes === 1 ? '' : ` (vote ${vote})`}`,
          agent: options.verifier,
          input: prompt(finding, vote),
          schema: VERDICT_SCHEMA,
          metadata: { findingId: finding.id, vote },
        }),
      );
    }
  }
  const results = await ctx.phase(options.name, tasks, {
    failFast: false,
    ...concurrencyOf(options),
  });
  const accepted: VerifiedFinding[] = [];
  const rejected: VerifiedFinding[] = [];
  options.findings.forEach((finding, f) => {
    const own = results.slice(f * votes, (f + 1) * votes);
    const verdicts = own.map((r) => {
      const v = r.output as { refuted?: unknown; reason?: unknown } | null;
      const ok = (r.status === 'completed' || r.status === 'skipped') && typeof v?.refuted === 'boolean';
      return ok
        ? { refuted: v.refuted as boolean, reason: typeof v.reason === 'string' ? v.reason : '' }
        : { refuted: true, reason: `verifier ${r.status}: ${r.error ?? 'no verdict'}` };
    });
    const supporting = verdicts.filter((v) => !v.refuted).length;
    (supporting * 2 > votes ? accepted : rejected).push({ ...finding, verdicts, supporting });
  });
  ctx.log(`${options.name}: ${accepted.length} of ${options.findings.length} findings survived verification`);
  return { accepted, rejected, results };
}

// ---- Generate and filter ----

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

// ---- Tournament ----

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

// ---- Loop until done ----

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
