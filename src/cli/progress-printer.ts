import type { AgentRecord, RunProgress } from '../types';

/** Where progress lines go; stderr in the CLI so stdout stays clean for `--json`. */
export type LineSink = (line: string) => void;

function tokens(n: number): string {
  return n >= 10_000 ? `${Math.round(n / 1000)}k` : String(n);
}

function seconds(record: AgentRecord): string {
  if (record.startedAt === null || record.endedAt === null) return '';
  return ` ${((record.endedAt - record.startedAt) / 1000).toFixed(1)}s`;
}

/**
 * Prints a run's progress as plain lines: each agent's start and end, and narrator lines. It diffs
 * successive snapshots from the progress query, so it can attach to any run at any time.
 */
export class ProgressPrinter {
  private readonly seen = new Map<number, AgentRecord['status']>();
  private logsShown = 0;

  constructor(private readonly sink: LineSink) {}

  update(progress: RunProgress): void {
    for (const line of progress.logs.slice(this.logsShown)) {
      this.sink(`  » ${line.group ? `[${line.group}] ` : ''}${line.message}`);
    }
    this.logsShown = progress.logs.length;
    for (const agent of progress.agents) {
      const before = this.seen.get(agent.index);
      if (before === agent.status) continue;
      this.seen.set(agent.index, agent.status);
      const where = [agent.group, agent.phase].filter(Boolean).join(' › ');
      const name = `${where ? `[${where}] ` : ''}${agent.label}`;
      if (agent.status === 'running') this.sink(`  … ${name}`);
      else if (agent.status === 'completed' || agent.status === 'cached') {
        this.sink(`  ✓ ${name} (${tokens(agent.usage.outputTokens)} out${seconds(agent)})${agent.status === 'cached' ? ' cached' : ''}`);
      } else if (agent.status === 'failed') this.sink(`  ✗ ${name}: ${agent.error ?? 'failed'}`);
      else if (agent.status === 'skipped') this.sink(`  - ${name}: ${agent.error ?? 'skipped'}`);
    }
  }
}
