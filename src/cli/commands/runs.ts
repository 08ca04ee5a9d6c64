import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { RUN_STATUSES } from '../../client/run-views';
import type { AgentDetails, RunDetails, RunListEntry, RunStatusName } from '../../client/run-views';
import { ConfigError } from '../../errors';
import { printJson, stderr, stdoutText, withClient } from '../command-context';
import type { CommandContext } from '../command-context';
import { formatCost, formatDuration, formatTokens } from '../live-view';
import { parsePositiveInt } from '../parse-options';
import { safeLine } from '../terminal-text';
import { failOnAgentErrorOption, followProgress, printSummary, warnWhenNoWorker } from '../run-helpers';
import type { FailOnAgentError } from '../run-helpers';

function parseStatus(raw: string): RunStatusName {
  const status = raw.toLowerCase().replace('canceled', 'cancelled').replace('-', '_') as RunStatusName;
  if (!RUN_STATUSES.includes(status)) {
    throw new InvalidArgumentError(`expected one of ${RUN_STATUSES.join(', ')}, got "${raw}"`);
  }
  return status;
}

function localTime(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `weft list` as a table for people. */
export function formatRunTable(runs: RunListEntry[]): string[] {
  const rows = runs.map((r) =>
    [
      r.runId,
      r.name,
      r.status,
      r.agents === null ? '?' : String(r.agents),
      r.usage === null ? '?' : formatTokens(r.usage.outputTokens),
      r.costUsd === null ? '?' : formatCost(r.costUsd),
      r.phase ?? '',
      localTime(r.startTime),
      formatDuration(r.durationMs),
    ].map(safeLine),
  );
  const header = ['RUN', 'NAME', 'STATUS', 'AGENTS', 'OUT TOKENS', 'COST', 'PHASE', 'STARTED', 'DURATION'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => ([3, 4, 5, 8].includes(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function block(label: string, text: string, full: boolean): string[] {
  const lines = text.split('\n');
  const maxLines = full ? Infinity : 6;
  const shown = lines.slice(0, maxLines).map((l) => (full || l.length <= 200 ? l : `${l.slice(0, 199)}…`));
  if (lines.length > maxLines)
    shown.push(
      `… ${lines.length - maxLines} more line${lines.length - maxLines === 1 ? '' : 's'} (--full shows all)`,
    );
  return shown.map((l, i) => `    ${i === 0 ? `${label}: ` : ' '.repeat(label.length + 2)}${l}`);
}

function agentBlock(a: AgentDetails, full: boolean): string[] {
  const where = safeLine(`[${a.group ? `${a.group} › ` : ''}${a.phase ?? '(no phase)'}]`);
  const stats = [
    a.model ?? 'default model',
    `${formatTokens(a.usage.inputTokens)} in / ${formatTokens(a.usage.outputTokens)} out`,
    ...(a.usage.cacheReadTokens || a.usage.cacheWriteTokens
      ? [
          `cache ${formatTokens(a.usage.cacheWriteTokens ?? 0)} written / ${formatTokens(a.usage.cacheReadTokens ?? 0)} read`,
        ]
      : []),
    ...(a.usage.webSearchRequests ? [`${a.usage.webSearchRequests} web searches`] : []),
    a.costKnown ? formatCost(a.costUsd) : 'cost unknown',
    `${a.attempts} attempt${a.attempts === 1 ? '' : 's'}`,
    ...(a.durationMs === null ? [] : [formatDuration(a.durationMs)]),
  ].join(' · ');
  const lines = [
    `#${a.index}  ${safeLine(a.label)}  ${where}  ${a.status}${a.cached ? ' (cached)' : ''}`,
    `    ${stats}`,
  ];
  for (const c of a.compactions) {
    lines.push(
      `    compacted after turn ${c.turn} (${c.kind}, ${c.trigger}): ${formatTokens(c.tokensBefore)} → ${formatTokens(c.tokensAfter)} tokens`,
    );
  }
  lines.push(...block('prompt', a.prompt, full));
  if (a.result !== null && a.result !== undefined) {
    lines.push(
      ...block('result', typeof a.result === 'string' ? a.result : JSON.stringify(a.result, null, 2), full),
    );
  }
  if (a.error) lines.push(...block('error', a.error, full));
  if (a.worktree) lines.push(`    worktree: ${a.worktree.path} (branch ${a.worktree.branch})`);
  return lines;
}

/**
 * `weft show` for people: the run, then every agent (or those `only` keeps, without the run's log
 * and result).
 */
export function formatRunDetails(
  run: RunDetails,
  full = false,
  only?: (agent: AgentDetails) => boolean,
): string[] {
  const lines = [
    safeLine(`${run.runId}  ${run.name}  ${run.status}`),
    `${run.agents.length} agent${run.agents.length === 1 ? '' : 's'} · ${formatTokens(run.usage.inputTokens)} in / ${formatTokens(run.usage.outputTokens)} out · ` +
      `${formatCost(run.costUsd)} · started ${localTime(run.startTime)} · ${formatDuration(run.durationMs)}`,
  ];
  if (run.args !== null) lines.push(`args: ${JSON.stringify(run.args)}`);
  if (run.error) lines.push(`error: ${run.error}`);
  for (const a of run.approvals ?? []) {
    if (a.status === 'waiting') {
      lines.push(
        `waiting for approval of step "${a.step}"${a.message ? `: ${a.message}` : ''} (weft approve|reject ${run.runId} --step ${JSON.stringify(a.step)})`,
      );
    } else {
      lines.push(
        `step "${a.step}" ${a.status}${a.by ? ` by ${a.by}` : ''}${a.comment ? `: ${a.comment}` : ''}`,
      );
    }
  }
  for (const a of run.agents) if (!only || only(a)) lines.push('', ...agentBlock(a, full));
  if (only) return lines;
  if (run.logs.length > 0) {
    lines.push('', 'log:');
    for (const l of run.logs) lines.push(`  » ${l.group ? `[${l.group}] ` : ''}${l.message}`);
  }
  if (run.status === 'completed') lines.push('', `result: ${JSON.stringify(run.result, null, 2)}`);
  return lines;
}

interface ListFlags {
  json?: boolean;
  status?: RunStatusName;
  name?: string;
  phase?: string;
  query?: string;
  limit?: number;
  allQueues?: boolean;
}

/** Registers list, show and watch (S501, S502). */
export function registerRunViewCommands(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .description('list runs, newest first: id, name, status, agents, tokens, start time and duration')
    .option('--status <status>', `only runs in this state: ${RUN_STATUSES.join(', ')}`, parseStatus)
    .option('--name <name>', "only runs of this workflow (the script's meta.name)")
    .option('--phase <phase>', 'only runs whose current phase is this (WeftPhase search attribute)')
    .option('--query <visibility query>', 'an extra Temporal visibility query, ANDed with the filters')
    .option('--limit <n>', 'at most this many runs (default 20)', parsePositiveInt)
    .option('--all-queues', 'list runs of every task queue, not only WEFT_TASK_QUEUE')
    .option('--json', 'print a JSON array on stdout')
    .action(async (flags: ListFlags) => {
      const runs = await withClient((client) =>
        client.listRuns({
          ...(flags.status ? { status: flags.status } : {}),
          ...(flags.name ? { name: flags.name } : {}),
          ...(flags.phase ? { phase: flags.phase } : {}),
          ...(flags.query ? { query: flags.query } : {}),
          ...(flags.limit ? { limit: flags.limit } : {}),
          ...(flags.allQueues ? { taskQueue: null } : {}),
        }),
      );
      if (flags.json) printJson(runs);
      else if (runs.length === 0) stderr('no runs');
      else stdoutText(formatRunTable(runs));
      ctx.setCode(0);
    });

  program
    .command('show')
    .description("show one run: every agent's prompt, result, usage, cost and error")
    .argument('<runId>')
    .option('--agent <label|index>', 'only this agent')
    .option('--full', 'print prompts and results in full')
    .option('--json', 'print one JSON object on stdout')
    .action(async (runId: string, flags: { json?: boolean; full?: boolean; agent?: string }) => {
      const details = await withClient((client) => client.runDetails(runId));
      const wanted = flags.agent;
      const only =
        wanted === undefined
          ? undefined
          : (a: AgentDetails) => a.label === wanted || String(a.index) === wanted;
      if (only && !details.agents.some(only)) throw new ConfigError(`run ${runId} has no agent "${wanted}"`);
      if (flags.json) printJson(only ? { ...details, agents: details.agents.filter(only) } : details);
      else stdoutText(formatRunDetails(details, flags.full ?? false, only));
      ctx.setCode(0);
    });

  program
    .command('watch')
    .description("attach the live view to a run started elsewhere; exits with the run's code when it ends")
    .argument('<runId>')
    .option('--json', 'print the final summary as one JSON object on stdout')
    .addOption(failOnAgentErrorOption())
    .action(async (runId: string, flags: { json?: boolean; failOnAgentError?: FailOnAgentError }) => {
      const code = await withClient(async (client) => {
        // Fails fast for an unknown run, before any view is drawn.
        await client.describeRun(runId);
        const stop = followProgress(client, runId);
        const stopWarning = warnWhenNoWorker(client, runId);
        let summary;
        try {
          summary = await client.wait(runId);
          stopWarning();
          await stop(summary);
        } finally {
          stopWarning();
          await stop();
        }
        return printSummary(summary, flags.json ?? false, flags.failOnAgentError);
      });
      ctx.setCode(code);
    });
}
