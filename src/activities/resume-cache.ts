import type { Client } from '@temporalio/client';
import { ConfigError } from '../errors';
import type { ResumeCache, ResumeEntry } from '../types';
import { agentKey } from '../workflows/agent-key';
import { readRunHistory } from '../storage/run-history';

/** How far back a chain of resumed runs is followed. */
const MAX_CHAIN = 20;

/**
 * Collects the completed agents a resumed run may reuse (S305), from the old run's Temporal
 * history. A run that was itself resumed got some agents from its predecessor without running
 * them, so the chain is followed; for each (key, occurrence) the newest run's answer wins.
 * Refuses unknown runs, runs still going, and runs with nothing to offer. With `dryRun` given
 * (the new run's mode), it also refuses a chain that mixes dry and real runs: a dry run's answers
 * are the built-in model's fake data and must never be served as real results, nor real answers
 * (and their spend) be mixed into an estimate.
 */
export async function buildResumeCache(
  client: Client,
  runId: string,
  options: { dryRun?: boolean } = {},
): Promise<ResumeCache> {
  const entries = new Map<string, ResumeEntry>();
  let next: string | null = runId;
  for (let depth = 0; next !== null && depth < MAX_CHAIN; depth++) {
    const run = await readRunHistory(client, next);
    if (depth === 0 && !run.closed) {
      throw new ConfigError(
        `run ${runId} is still running: stop it (weft stop ${runId}) or wait before resuming`,
      );
    }
    const wasDry = run.input.options.dryRun === true;
    if (options.dryRun !== undefined && wasDry !== options.dryRun) {
      throw new ConfigError(
        wasDry
          ? `run ${next} was a dry run (--dry-run): its answers are fake, so a real run cannot resume from it; resume from a real run, or add --dry-run`
          : `run ${next} was a real run: a dry run cannot resume from it; resume a dry run from a dry run, or drop --dry-run`,
      );
    }
    const seen = new Map<string, number>();
    for (const agent of run.agents) {
      // Histories recorded before keys travelled in the request get them computed here.
      const key = agent.request.cacheKey ?? agentKey(agent.request);
      const occurrence = agent.request.occurrence ?? (seen.get(key) ?? 0) + 1;
      seen.set(key, occurrence);
      const id = `${key}#${occurrence}`;
      if (agent.result && !entries.has(id)) {
        entries.set(id, { key, occurrence, label: agent.request.label, result: agent.result });
      }
    }
    next = run.input.options.resumeFrom ?? null;
  }
  if (entries.size === 0) throw new ConfigError(`run ${runId} has no completed agents to resume from`);
  return { runId, entries: [...entries.values()] };
}
