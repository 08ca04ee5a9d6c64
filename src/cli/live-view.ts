/**
 * The live terminal view of a run (S501): run → phases → agents, log lines and totals, redrawn in
 * place with log-update while the run goes. Rendering is a pure function of a progress snapshot,
 * so it is tested without a terminal; `LiveView` only owns the redrawing.
 */
import pc from 'picocolors';
import { NO_PHASE, phaseKey } from '../client/run-events';
import type { AgentRecord, PhaseSpec, RunProgress } from '../types';
import { safeLine, safeProgress } from './terminal-text';

/** How to render one frame. */
export interface RenderOptions {
  /** The run's id, shown in the header. */
  runId?: string;
  /** The client's clock, for elapsed times. */
  now: number;
  /** Columns available; longer lines are cut with an ellipsis. */
  width?: number;
  /** Rows available; agent and log lines are trimmed to fit. */
  rows?: number;
  /** Use ANSI colours. */
  color?: boolean;
  /** The last tool call of running agents, by agent index (from their heartbeats). */
  lastTools?: ReadonlyMap<number, string>;
  /** The run's final state, once known, shown in the header instead of the query's. */
  finalStatus?: string;
}

type Colors = ReturnType<typeof pc.createColors>;

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** Agent lines per phase before the rest are folded into one line. */
const MAX_AGENT_LINES = 8;
/** Columns of an agent's label; longer labels are cut. */
const LABEL_WIDTH = 28;
/** Log lines shown under the tree. */
const MAX_LOG_LINES = 5;

/** `1234` → `1234`, `12345` → `12.3k`, `1234567` → `1.23M`. */
export function formatTokens(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(2)}M`;
}

/** Milliseconds as `4.2s`, `3m05s` or `1h02m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Dollars with enough digits to see small runs: `$0.0042`, `$1.27`. */
export function formatCost(usd: number): string {
  return usd < 1 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** Visible length of a string that may hold colour codes. */
export function visibleLength(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

/** Cuts a line to `width` visible characters, keeping colour codes intact. */
export function fitLine(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = '';
  let visible = 0;
  for (let i = 0; i < text.length;) {
    ANSI.lastIndex = i;
    const match = ANSI.exec(text);
    if (match && match.index === i) {
      out += match[0];
      i += match[0].length;
      continue;
    }
    const ch = String.fromCodePoint(text.codePointAt(i) ?? 32);
    if (visible >= width - 1) break;
    out += ch;
    visible++;
    i += ch.length;
  }
  return `${out}…${text.includes('\u001b[') ? '\u001b[0m' : ''}`;
}

interface Counts {
  total: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  skipped: number;
  cached: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

function countAgents(agents: AgentRecord[]): Counts {
  const c: Counts = {
    total: agents.length,
    queued: 0,
    running: 0,
    completed: 0,
    failed: 0,
    skipped: 0,
    cached: 0,
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
  };
  for (const a of agents) {
    c[a.status]++;
    c.inputTokens += a.usage.inputTokens;
    c.outputTokens += a.usage.outputTokens;
    c.costUsd += a.costUsd;
  }
  return c;
}

function countsText(c: Counts, k: Colors): string {
  const parts: string[] = [];
  if (c.running) parts.push(k.cyan(`${c.running} running`));
  parts.push(`${c.completed + c.cached}/${c.total} done`);
  if (c.failed) parts.push(k.red(`${c.failed} failed`));
  if (c.skipped) parts.push(k.yellow(`${c.skipped} skipped`));
  if (c.cached) parts.push(k.dim(`${c.cached} cached`));
  if (c.queued) parts.push(k.dim(`${c.queued} queued`));
  if (c.outputTokens) parts.push(`${formatTokens(c.outputTokens)} out`);
  return parts.join(' · ');
}

function statusIcon(agent: AgentRecord, now: number, k: Colors): string {
  switch (agent.status) {
    case 'running':
      return k.cyan(SPINNER[Math.floor(now / 100) % SPINNER.length] ?? '•');
    case 'completed':
      return k.green('✓');
    case 'failed':
      return k.red('✗');
    case 'skipped':
      return k.yellow('⊘');
    case 'cached':
      return k.dim('↺');
    default:
      return k.dim('·');
  }
}

function agentLine(agent: AgentRecord, now: number, k: Colors, lastTool: string | undefined): string {
  const elapsed =
    agent.startedAt === null ? '' : formatDuration((agent.endedAt ?? now) - agent.startedAt).padStart(7);
  const tokens =
    agent.status === 'running' || agent.status === 'queued'
      ? ''
      : `${formatTokens(agent.usage.inputTokens)} in / ${formatTokens(agent.usage.outputTokens)} out`;
  const plain = agent.status.padEnd(9);
  const status =
    agent.status === 'failed' ? k.red(plain) : agent.status === 'running' ? k.cyan(plain) : k.dim(plain);
  const label = agent.label.length > LABEL_WIDTH ? `${agent.label.slice(0, LABEL_WIDTH - 1)}…` : agent.label;
  let line = `${statusIcon(agent, now, k)} ${label.padEnd(LABEL_WIDTH)} ${status} ${tokens.padStart(20)} ${elapsed}`;
  if (agent.status === 'running' && lastTool) line += k.dim(`  ▸ ${safeLine(lastTool)}`);
  if ((agent.status === 'failed' || agent.status === 'skipped') && agent.error)
    line += k.dim(`  ${agent.error}`);
  return line;
}

/** Which of a phase's agents get a line of their own: running first, then failures, then the latest. */
function pickAgents(agents: AgentRecord[], max: number): AgentRecord[] {
  if (agents.length <= max) return agents.filter((a) => a.status !== 'queued');
  const running = agents.filter((a) => a.status === 'running');
  const failed = agents.filter((a) => a.status === 'failed');
  const settled = agents
    .filter((a) => a.status !== 'running' && a.status !== 'failed' && a.status !== 'queued')
    .sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0));
  const picked = [...running, ...failed, ...settled].slice(0, max);
  return picked.sort((a, b) => a.index - b.index);
}

interface Section {
  title: string;
  spec: PhaseSpec | undefined;
  agents: AgentRecord[];
}

/** Top-level phases in `meta.phases` order, then nested workflows with their own phases (S211). */
function sections(progress: RunProgress): Array<{ group: string | null; phases: Section[] }> {
  const byKey = new Map<string, AgentRecord[]>();
  for (const a of progress.agents) {
    const key = phaseKey(a);
    const list = byKey.get(key);
    if (list) list.push(a);
    else byKey.set(key, [a]);
  }
  const groups = new Map<string | null, Section[]>([[null, []]]);
  const placed = new Set<string>();
  const add = (group: string | null, title: string | null): void => {
    const key = phaseKey({ group, phase: title });
    if (placed.has(key)) return;
    placed.add(key);
    const list = groups.get(group) ?? [];
    groups.set(group, list);
    list.push({
      title: title ?? NO_PHASE,
      spec: title === null ? undefined : progress.phases.find((p) => p.title === title),
      agents: byKey.get(key) ?? [],
    });
  };
  // Declared phases keep their order even before any of their agents start.
  const used = new Set(progress.agents.map((a) => a.phase));
  for (const p of progress.phases) {
    const inGroupsOnly =
      !progress.agents.some((a) => a.group === null && a.phase === p.title) && used.has(p.title);
    if (!inGroupsOnly) add(null, p.title);
  }
  for (const a of progress.agents) add(a.group, a.phase);
  return [...groups.entries()]
    .map(([group, phases]) => ({
      group,
      // Agents outside every phase go last in their group.
      phases: [...phases.filter((s) => s.title !== NO_PHASE), ...phases.filter((s) => s.title === NO_PHASE)],
    }))
    .filter((g) => g.group === null || g.phases.length > 0);
}

/** Renders one frame of the live view as lines. */
export function renderLiveView(untrusted: RunProgress, options: RenderOptions): string[] {
  // Names, labels, logs and errors come from the script and the model: never send their control
  // sequences to the terminal.
  const progress = safeProgress(untrusted);
  const k = pc.createColors(options.color ?? false);
  const { now } = options;
  const width = options.width ?? 120;
  const all = countAgents(progress.agents);
  const state = options.finalStatus ?? progress.state;
  const elapsed = formatDuration(now - progress.startedAt);
  const stateText =
    state === 'running'
      ? k.cyan(state)
      : state === 'completed'
        ? k.green(state)
        : state === 'paused'
          ? k.yellow(state)
          : k.red(state);
  const header = `${k.bold(progress.name)}${options.runId ? k.dim(` ${options.runId}`) : ''} · ${stateText} · ${elapsed}`;
  const tree = sections(progress);

  const build = (maxAgentLines: number, maxLogLines: number): string[] => {
    const lines = [header];
    if (progress.stopReason) lines.push(k.yellow(`  stopped admitting agents: ${progress.stopReason}`));
    for (const a of progress.approvals ?? []) {
      if (a.status !== 'waiting') continue;
      const how = options.runId ? ` — weft approve ${options.runId} --step ${JSON.stringify(a.step)}` : '';
      lines.push(k.yellow(`  ⏸ waiting for approval of step "${a.step}"${how}`));
    }
    const topLevel = tree.filter((g) => g.group === null).flatMap((g) => g.phases);
    const nested = tree.filter((g) => g.group !== null);
    const nodes: Array<
      { kind: 'phase'; section: Section } | { kind: 'group'; name: string; phases: Section[] }
    > = [
      ...topLevel.map((section) => ({ kind: 'phase' as const, section })),
      ...nested.map((g) => ({ kind: 'group' as const, name: g.group ?? '', phases: g.phases })),
    ];
    const phaseLines = (section: Section, indent: string, last: boolean): void => {
      const c = countAgents(section.agents);
      const branch = last ? '└─' : '├─';
      const detail = section.spec?.detail ? k.dim(` — ${section.spec.detail}`) : '';
      const model = section.spec?.model ? k.magenta(` [${section.spec.model}]`) : '';
      const pending = section.agents.length === 0 ? k.dim(' (not started)') : '';
      lines.push(
        `${indent}${branch} ${k.bold(section.title)}${detail}${model}${pending}  ${section.agents.length ? countsText(c, k) : ''}`.trimEnd(),
      );
      const shown = pickAgents(section.agents, maxAgentLines);
      const hidden = section.agents.length - shown.length;
      const childIndent = `${indent}${last ? '   ' : '│  '}`;
      shown.forEach((agent, i) => {
        const lastLine = i === shown.length - 1 && hidden === 0;
        lines.push(
          `${childIndent}${lastLine ? '└─' : '├─'} ${agentLine(agent, now, k, options.lastTools?.get(agent.index) ?? lastToolOf(agent))}`,
        );
      });
      if (hidden > 0) {
        const rest = countAgents(section.agents.filter((a) => !shown.includes(a)));
        lines.push(
          `${childIndent}└─ ${k.dim(`… ${hidden} more: ${countsText(rest, pc.createColors(false))}`)}`,
        );
      }
    };
    nodes.forEach((node, i) => {
      const last = i === nodes.length - 1;
      if (node.kind === 'phase') {
        phaseLines(node.section, '', last);
        return;
      }
      const c = countAgents(node.phases.flatMap((s) => s.agents));
      lines.push(`${last ? '└─' : '├─'} ${k.bold(k.blue(`workflow ${node.name}`))}  ${countsText(c, k)}`);
      node.phases.forEach((section, j) =>
        phaseLines(section, last ? '   ' : '│  ', j === node.phases.length - 1),
      );
    });
    const logs = progress.logs.slice(-maxLogLines);
    if (logs.length > 0) {
      lines.push(k.dim('log'));
      for (const log of logs)
        lines.push(`  ${k.dim('»')} ${log.group ? k.dim(`[${log.group}] `) : ''}${log.message}`);
    }
    const done = all.completed + all.cached + all.failed + all.skipped;
    const totals = [
      `agents ${done}/${all.total} done`,
      ...(all.running ? [k.cyan(`${all.running} running`)] : []),
      ...(all.failed ? [k.red(`${all.failed} failed`)] : []),
      `tokens ${formatTokens(progress.usage.inputTokens)} in / ${formatTokens(progress.usage.outputTokens)} out`,
      formatCost(progress.costUsd),
      elapsed,
    ];
    lines.push(k.bold(totals.join(' · ')));
    return lines;
  };

  let lines = build(MAX_AGENT_LINES, MAX_LOG_LINES);
  if (options.rows !== undefined) {
    for (let agentLines = MAX_AGENT_LINES - 1; lines.length > options.rows && agentLines >= 0; agentLines--) {
      lines = build(agentLines, Math.min(MAX_LOG_LINES, Math.max(1, agentLines)));
    }
  }
  return lines.map((line) => fitLine(line, width));
}

function lastToolOf(agent: AgentRecord): string | undefined {
  // Forward-compatible: a record that carries its last tool call shows it without a heartbeat read.
  const value = (agent as AgentRecord & { lastTool?: unknown }).lastTool;
  return typeof value === 'string' ? value : undefined;
}

type LogUpdate = ((...text: string[]) => void) & { clear(): void; done(): void };

/**
 * The stream with a usable size. A pseudo-terminal nobody sized (a CI job's, or `script` without a
 * controlling terminal) reports 0 rows, and log-update would then fit every frame into nothing.
 */
function withSize(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  const fallback = (value: number | undefined, env: string | undefined, dflt: number): number =>
    value && value > 0 ? value : Number(env) > 0 ? Number(env) : dflt;
  return new Proxy(stream, {
    get(target, key, receiver) {
      if (key === 'columns') return fallback(target.columns, process.env.COLUMNS, 120);
      if (key === 'rows') return fallback(target.rows, process.env.LINES, 40);
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Redraws the run's tree in place on a terminal. Create it with `LiveView.create`, feed it every
 * snapshot, and call `done` at the end so the last frame stays on screen.
 */
export class LiveView {
  private last: RunProgress | null = null;
  private lastTools: ReadonlyMap<number, string> = new Map();
  private finalStatus: string | undefined;

  private constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly draw: LogUpdate,
    private readonly runId: string,
    private readonly color: boolean,
  ) {}

  /** Loads log-update (an ES module) and binds it to `stream`, usually stderr. */
  static async create(stream: NodeJS.WriteStream, runId: string): Promise<LiveView> {
    const { createLogUpdate } = await import('log-update');
    const color = pc.isColorSupported || Boolean(stream.hasColors?.());
    const sized = withSize(stream);
    return new LiveView(sized, createLogUpdate(sized, { showCursor: false }), runId, color);
  }

  /** Redraws with a new snapshot. */
  update(progress: RunProgress): void {
    this.last = progress;
    this.render();
  }

  /** Sets the last tool call of running agents, by index. */
  setLastTools(tools: ReadonlyMap<number, string>): void {
    this.lastTools = tools;
  }

  /** Redraws the last snapshot, so spinners and elapsed times move between polls. */
  render(): void {
    if (!this.last) return;
    const lines = renderLiveView(this.last, {
      runId: this.runId,
      now: Date.now(),
      width: this.stream.columns || 120,
      rows: Math.max(8, (this.stream.rows || 40) - 2),
      color: this.color,
      lastTools: this.lastTools,
      ...(this.finalStatus ? { finalStatus: this.finalStatus } : {}),
    });
    this.draw(lines.join('\n'));
  }

  /** Prints a line above the tree, e.g. a warning, and redraws the tree under it. */
  note(line: string): void {
    this.draw.clear();
    this.stream.write(`${line}\n`);
    this.render();
  }

  /** Draws the final frame and leaves it on screen. */
  done(final?: RunProgress, status?: string): void {
    if (final) this.last = final;
    if (status) this.finalStatus = status;
    this.render();
    this.draw.done();
  }
}
