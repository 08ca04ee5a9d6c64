/**
 * Cost safety (S505): the warning for runs that schedule many agents, and the report a dry run
 * prints: how many agents the orchestration started, in which phases, and what the same run would
 * cost on the real model.
 */
import { costOf } from '../activities/pricing';
import type { RunSummary } from '../client/weft-client';
import { NO_PHASE, phaseKey } from '../client/run-events';
import { DEFAULT_MODEL } from '../config';
import type { AgentRecord, TokenUsage } from '../types';
import { EXIT, printJson, stderr } from './command-context';
import { formatCost, formatTokens } from './live-view';
import { MANY_AGENTS } from './progress-printer';
import { publicSummary } from './run-helpers';
import { safeJsonText } from './terminal-text';

/** One phase's share of a dry run. */
export interface DryRunPhase {
  /** Phase key: the title, `(no phase)`, or `workflow › title` for a nested workflow. */
  phase: string;
  agents: number;
  usage: TokenUsage;
  estimatedCostUsd: number;
}

/** What a dry run forecasts (S505). */
export interface DryRunReport {
  agents: number;
  phases: DryRunPhase[];
  /** Tokens the built-in model counted: prompt size in, an answer of the schema's size out. */
  usage: TokenUsage;
  /** The same usage priced at each agent's model's list price. */
  estimatedCostUsd: number;
  /** Agents per model the estimate priced. */
  models: Record<string, number>;
}

/** Builds the dry-run report from a finished dry run's agent records. */
export function dryRunReport(records: AgentRecord[], defaultModel = DEFAULT_MODEL): DryRunReport {
  const phases = new Map<string, DryRunPhase>();
  const models: Record<string, number> = {};
  const usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  let cost = 0;
  for (const r of records) {
    if (r.status === 'queued') continue;
    const model = r.model ?? defaultModel;
    // An unpriced model adds nothing to the estimate; the report names it apart.
    const agentCost = costOf(model, r.usage) ?? 0;
    models[model] = (models[model] ?? 0) + 1;
    const key = phaseKey(r);
    const phase = phases.get(key) ?? {
      phase: key,
      agents: 0,
      usage: { inputTokens: 0, outputTokens: 0 },
      estimatedCostUsd: 0,
    };
    phase.agents++;
    phase.usage.inputTokens += r.usage.inputTokens;
    phase.usage.outputTokens += r.usage.outputTokens;
    phase.estimatedCostUsd += agentCost;
    phases.set(key, phase);
    usage.inputTokens += r.usage.inputTokens;
    usage.outputTokens += r.usage.outputTokens;
    cost += agentCost;
  }
  for (const p of phases.values()) p.estimatedCostUsd = round(p.estimatedCostUsd);
  const ordered = [...phases.values()].sort(
    (a, b) => Number(a.phase === NO_PHASE) - Number(b.phase === NO_PHASE),
  );
  return {
    agents: [...phases.values()].reduce((n, p) => n + p.agents, 0),
    phases: ordered,
    usage,
    estimatedCostUsd: round(cost),
    models,
  };
}

/** The report as lines for a person. */
export function formatDryRunReport(report: DryRunReport): string[] {
  const lines = [
    `dry run: ${report.agents} agents would run` +
      (report.agents > MANY_AGENTS ? ` (more than ${MANY_AGENTS}: check the cost below)` : ''),
  ];
  const width = Math.max(5, ...report.phases.map((p) => p.phase.length));
  for (const p of report.phases) {
    lines.push(
      `  ${p.phase.padEnd(width)}  ${String(p.agents).padStart(4)} agents  ` +
        `${formatTokens(p.usage.inputTokens).padStart(6)} in  ${formatTokens(p.usage.outputTokens).padStart(6)} out  ` +
        `~${formatCost(p.estimatedCostUsd)}`,
    );
  }
  const models = Object.entries(report.models)
    .map(([m, n]) => `${m} ×${n}`)
    .join(', ');
  lines.push(
    `estimate: ${formatTokens(report.usage.inputTokens)} input + ${formatTokens(report.usage.outputTokens)} output tokens, ` +
      `~${formatCost(report.estimatedCostUsd)} at list prices (${models || 'no agents'}). ` +
      'Real agents that use tools take more turns, so treat this as a floor.',
  );
  return lines;
}

/**
 * Prints a finished dry run: the report on stderr (or inside the `--json` object as `dryRun`) and
 * the summary. Returns the exit code, as `printSummary` does.
 */
export function printDryRun(summary: RunSummary, json: boolean, defaultModel = DEFAULT_MODEL): number {
  const report = dryRunReport(summary.output?.records ?? [], defaultModel);
  if (json) {
    printJson({ ...publicSummary(summary), dryRun: report });
  } else {
    for (const line of formatDryRunReport(report)) stderr(line);
    stderr(
      `${summary.status}: ${summary.agents} agents, ${summary.usage.outputTokens} output tokens (built-in model), ` +
        `${(summary.durationMs / 1000).toFixed(1)}s${summary.error ? ` — ${summary.error}` : ''}`,
    );
    if (summary.status === 'completed')
      process.stdout.write(`${safeJsonText(JSON.stringify(summary.result, null, 2))}\n`);
  }
  return summary.status === 'completed' ? EXIT.completed : EXIT.notCompleted;
}

/** Dollars to a millionth, so JSON shows 0.072741 rather than float noise. */
function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
