/**
 * The adversarial verification pattern of seed 000 (S702).
 */
import { ConfigError } from '../../errors';
import type { JsonSchema } from '../../types';
import type { Agent } from '../agent';
import type { WorkflowTask, WorkflowTaskResult } from '../types';
import { workflowTask } from '../workflow-task';
import { text, concurrencyOf, checkName, checkAgent } from './pattern-core';
import type { PatternCore } from './pattern-core';

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
