import { generateFromSchema } from '../../mock-model/schema-data';
import type { AgentRequest, AgentResult } from '../../types';

/**
 * The built-in model of a dry run (S505): schema-valid data without network or key, with a token
 * estimate in the shape of a real agent's, so the run's totals forecast the real spend.
 */
export function dryRunAgent(request: AgentRequest, model: string): AgentResult {
  const output = request.schema
    ? generateFromSchema(request.schema, `${request.index}:${request.prompt}`)
    : `[dry run] answer to: ${request.prompt.slice(0, 80)}`;
  const inputTokens = Math.ceil(request.prompt.length / 4) + 400;
  const outputTokens = Math.max(50, Math.ceil(JSON.stringify(output).length / 4));
  return {
    output,
    model,
    usage: { inputTokens, outputTokens },
    costUsd: 0,
    turns: 1,
    schemaAttempts: request.schema ? 1 : 0,
    durationMs: 0,
    worktree: null,
  };
}
