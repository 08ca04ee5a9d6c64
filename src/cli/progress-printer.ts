import { RunEventDiffer } from '../client/run-events';
import type { RunEvent, RunEventEnd } from '../client/run-events';
import type { AgentRecord, RunProgress } from '../types';
import { formatCost, formatDuration, formatTokens } from './live-view';
import { safeProgress } from './terminal-text';

/** Where progress lines go; stderr in the CLI so stdout stays clean for `--json`. */
export type LineSink = (line: string) => void;

function seconds(record: AgentRecord): string {
  if (record.startedAt === null || record.endedAt === null) return '';
  return `, ${formatDuration(record.endedAt - record.startedAt)}`;
}

function where(phase: { key: string }): string {
  return `[${phase.key}] `;
}

/** One plain line for an event, or null for events the plain view leaves out. */
export function formatEvent(event: RunEvent): string | null {
  switch (event.type) {
    case 'workflow_started':
      return null;
    case 'workflow_phase_started': {
      const { phase } = event;
      return `▸ ${phase.key}${phase.detail ? ` — ${phase.detail}` : ''}${phase.model ? ` [${phase.model}]` : ''}`;
    }
    case 'workflow_task_started':
      return `  … ${where(event.phase)}${event.task.label}`;
    case 'workflow_task_completed': {
      const { task } = event;
      if (task.status === 'skipped')
        return `  - ${where(event.phase)}${task.label}: ${task.error ?? 'skipped'}`;
      return `  ✓ ${where(event.phase)}${task.label} (${formatTokens(task.usage.outputTokens)} out${seconds(task)})`;
    }
    case 'workflow_task_failed':
      return `  ✗ ${where(event.phase)}${event.task.label}: ${event.task.error ?? 'failed'}`;
    case 'workflow_task_skipped':
      return `  ↺ ${where(event.phase)}${event.task.label} (cached from the resumed run)`;
    case 'workflow_phase_completed': {
      const t = event.totals;
      const parts = [`${t.completed + t.cached}/${t.agents} done`];
      if (t.failed) parts.push(`${t.failed} failed`);
      if (t.skipped) parts.push(`${t.skipped} skipped`);
      parts.push(`${formatTokens(t.usage.outputTokens)} out`, formatCost(t.costUsd));
      return `▪ ${event.phase.key}: ${parts.join(', ')}`;
    }
    case 'workflow_log':
      return `  » ${event.log.group ? `[${event.log.group}] ` : ''}${event.log.message}`;
    case 'workflow_completed':
    case 'workflow_failed':
      return null;
  }
}

/**
 * Prints a run's progress as plain lines when stderr is not a terminal (S501): phase starts and
 * ends, each agent's start and end, and narrator lines. It diffs successive snapshots from the
 * progress query, so it can attach to any run at any time.
 */
export class ProgressPrinter {
  private readonly differ: RunEventDiffer;

  constructor(
    private readonly sink: LineSink,
    runId = '',
  ) {
    this.differ = new RunEventDiffer(runId);
  }

  /** Prints what changed since the last snapshot. */
  update(progress: Pick<RunProgress, 'agents' | 'logs'> & Partial<RunProgress>): void {
    // Labels, logs and errors come from the script and the model; the lines carry them made safe.
    this.print(this.differ.update(safeProgress(progress)));
  }

  /** Prints the completion of the phases still open when the run ended. */
  finish(end: RunEventEnd, agents: AgentRecord[]): void {
    this.print(this.differ.finish(end, safeProgress({ agents }).agents ?? agents, Date.now()));
  }

  private print(events: RunEvent[]): void {
    for (const event of events) {
      const line = formatEvent(event);
      if (line !== null) this.sink(line);
    }
  }
}

/** More agents than this in one run gives a warning (S505); `weft run --dry-run` reports the count before any spend. */
export const MANY_AGENTS = 25;

/**
 * Watches successive progress snapshots and returns a warning, once, when the run has scheduled
 * more than {@link MANY_AGENTS} agents.
 */
export class AgentCountWarning {
  private warned = false;

  constructor(
    private readonly runId: string,
    private readonly threshold = MANY_AGENTS,
  ) {}

  /** The warning line the first time the count passes the threshold, else null. */
  check(progress: Pick<RunProgress, 'agents'>): string | null {
    if (this.warned || progress.agents.length <= this.threshold) return null;
    this.warned = true;
    return (
      `weft: warning: run ${this.runId} has scheduled ${progress.agents.length} agents (more than ${this.threshold}); ` +
      `each one spends tokens. Stop it with \`weft stop ${this.runId}\`, or estimate first with --dry-run`
    );
  }
}
