/**
 * A run's progress as a stream of events with the names of seed 000's `streamWorkflow`
 * (`workflow_started`, `workflow_task_completed`, ...). The workflow keeps no event log: the events
 * are derived by diffing successive snapshots of its `progress` query, so any program can attach
 * to any run at any time, and a late attacher still sees every agent once.
 */
import type { AgentRecord, LogLine, PhaseSpec, RunOutput, RunProgress, TokenUsage } from '../types';

/** Where an agent's progress group is: its phase, inside its nested workflow when it has one. */
export interface RunEventPhase {
  /** The group's key, e.g. `Verify`, `(no phase)`, or `deep-research › Search` for a nested workflow. */
  key: string;
  /** The phase title, or null for agents outside every phase. */
  title: string | null;
  /** The nested workflow the phase belongs to (S211), or null at top level. */
  group: string | null;
  /** `meta.phases[].detail`, when declared. */
  detail?: string;
  /** `meta.phases[].model`, when declared. */
  model?: string;
}

/** A phase's tallies when it completes. */
export interface RunEventPhaseTotals {
  agents: number;
  completed: number;
  failed: number;
  skipped: number;
  cached: number;
  usage: TokenUsage;
  costUsd: number;
}

/** How a run ended, as the events that close the stream carry it. */
export interface RunEventEnd {
  status: 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out' | 'running';
  /** The script's return value; null unless completed. */
  result: unknown;
  /** Agents the run started. */
  agents: number;
  usage: TokenUsage;
  durationMs: number;
  error?: string;
  /** The workflow's full output when it completed. */
  output?: RunOutput;
}

interface EventBase {
  runId: string;
  /** Workflow-clock milliseconds since the epoch when it happened, as far as the snapshots tell. */
  at: number;
}

/** Every event `WeftClient.events()` yields. */
export type RunEvent =
  | (EventBase & { type: 'workflow_started'; name: string })
  | (EventBase & { type: 'workflow_phase_started'; phase: RunEventPhase })
  | (EventBase & { type: 'workflow_task_started'; task: AgentRecord; phase: RunEventPhase })
  /** The agent completed, or was interrupted (stopped by a person, or the run stopped): see `task.status`. */
  | (EventBase & { type: 'workflow_task_completed'; task: AgentRecord; phase: RunEventPhase })
  | (EventBase & { type: 'workflow_task_failed'; task: AgentRecord; phase: RunEventPhase })
  /** A resumed run reused the agent's result from the earlier run (S305): it never ran. */
  | (EventBase & { type: 'workflow_task_skipped'; task: AgentRecord; phase: RunEventPhase })
  | (EventBase & { type: 'workflow_phase_completed'; phase: RunEventPhase; totals: RunEventPhaseTotals })
  /** A `log()` line (weft's addition to seed 000's names). */
  | (EventBase & { type: 'workflow_log'; log: LogLine })
  | (EventBase & { type: 'workflow_completed'; end: RunEventEnd })
  | (EventBase & { type: 'workflow_failed'; end: RunEventEnd });

/** The name of every event type, for switch statements and docs. */
export type RunEventType = RunEvent['type'];

/** The phase key of agents outside every phase. */
export const NO_PHASE = '(no phase)';

/** The key of an agent's progress group: the phase, prefixed with the nested workflow's name. */
export function phaseKey(agent: Pick<AgentRecord, 'phase' | 'group'>): string {
  const title = agent.phase ?? NO_PHASE;
  return agent.group ? `${agent.group} › ${title}` : title;
}

const TERMINAL: ReadonlySet<AgentRecord['status']> = new Set(['completed', 'failed', 'skipped', 'cached']);

/** Whether an agent has settled and will not change again. */
export function isSettled(agent: Pick<AgentRecord, 'status'>): boolean {
  return TERMINAL.has(agent.status);
}

const TIE_ORDER: Record<RunEventType, number> = {
  workflow_started: 0,
  workflow_task_completed: 1,
  workflow_task_failed: 1,
  workflow_task_skipped: 1,
  workflow_phase_completed: 2,
  workflow_log: 3,
  workflow_phase_started: 4,
  workflow_task_started: 5,
  workflow_completed: 6,
  workflow_failed: 6,
};

/** What the differ needs of a snapshot; a run's final output carries only agents and logs. */
export type RunSnapshot = Pick<RunProgress, 'agents' | 'logs'> & Partial<RunProgress>;

interface PhaseState {
  phase: RunEventPhase;
  /** Highest agent index in the phase. */
  lastIndex: number;
  open: boolean;
}

/**
 * Turns successive progress snapshots of one run into events. Each agent's transitions are
 * reported once, in order (started before completed, even when a poll missed the running state);
 * the events of one snapshot are ordered by when they happened on the workflow's clock.
 */
export class RunEventDiffer {
  private readonly agentStatus = new Map<number, AgentRecord['status']>();
  private readonly phases = new Map<string, PhaseState>();
  private declared: PhaseSpec[] = [];
  private logsSeen = 0;
  private started = false;
  private finished = false;

  constructor(private readonly runId: string) {}

  /** The event that opens the stream; later calls give nothing. */
  start(name: string, at: number): RunEvent[] {
    if (this.started) return [];
    this.started = true;
    return [{ type: 'workflow_started', runId: this.runId, at, name }];
  }

  /** The events between the previous snapshot and this one. */
  update(snapshot: RunSnapshot): RunEvent[] {
    if (this.finished) return [];
    if (snapshot.phases) this.declared = snapshot.phases;
    const events: Array<{ event: RunEvent; seq: number; rank: number }> = [];
    const push = (event: RunEvent): void => {
      events.push({ event, seq: events.length, rank: TIE_ORDER[event.type] });
    };
    if (!this.started && snapshot.name !== undefined) {
      for (const e of this.start(snapshot.name, snapshot.startedAt ?? firstTime(snapshot.agents))) push(e);
    }

    for (const log of snapshot.logs.slice(this.logsSeen)) {
      push({ type: 'workflow_log', runId: this.runId, at: log.at, log });
    }
    this.logsSeen = Math.max(this.logsSeen, snapshot.logs.length);

    for (const agent of snapshot.agents) {
      const before = this.agentStatus.get(agent.index);
      if (before === agent.status) continue;
      // Queued agents have not started; they show up once they run or settle.
      if (agent.status === 'queued') continue;
      const phase = this.phaseOf(agent);
      this.agentStatus.set(agent.index, agent.status);
      const state = this.phases.get(phase.key);
      const opening = !state || !state.open ? events.length : null;
      if (opening !== null) {
        this.phases.set(phase.key, { phase, lastIndex: agent.index, open: true });
        push({ type: 'workflow_phase_started', runId: this.runId, at: 0, phase });
      } else if (state) {
        state.lastIndex = Math.max(state.lastIndex, agent.index);
      }
      const task = { ...agent };
      const startedAt = agent.startedAt ?? agent.endedAt ?? 0;
      const endedAt = agent.endedAt ?? startedAt;
      const base = { runId: this.runId, task, phase };
      if (agent.status === 'cached') {
        push({ type: 'workflow_task_skipped', at: endedAt, ...base });
      } else {
        if (before !== 'running' && agent.startedAt !== null) {
          push({ type: 'workflow_task_started', at: startedAt, ...base });
        }
        if (agent.status === 'completed' || agent.status === 'skipped') {
          push({ type: 'workflow_task_completed', at: endedAt, ...base });
        } else if (agent.status === 'failed') {
          push({ type: 'workflow_task_failed', at: endedAt, ...base });
        }
      }
      // A phase opens right before the agent that opened it, whatever that agent's first event is.
      const opener = opening === null ? undefined : events[opening];
      const first = opening === null ? undefined : events[opening + 1];
      if (opener && first) {
        opener.rank = first.rank;
        opener.event = { ...opener.event, at: first.event.at };
      }
    }

    // Agents are recorded when `agent()` is called, so a phase none of whose agents is pending,
    // once the script has called an agent of another group after it, has nothing left to do.
    for (const [key, state] of this.phases) {
      if (!state.open) continue;
      const members = snapshot.agents.filter((a) => phaseKey(a) === key);
      if (members.length === 0 || !members.every(isSettled)) continue;
      if (!snapshot.agents.some((a) => a.index > state.lastIndex && phaseKey(a) !== key)) continue;
      state.open = false;
      push(this.phaseCompleted(state, members));
    }

    // Several things share one workflow-clock time when they happen in one workflow task: an agent
    // ends, the script logs, its phase ends and the next agents start. Tell them apart in that order.
    events.sort((a, b) => a.event.at - b.event.at || a.rank - b.rank || a.seq - b.seq);
    return events.map((e) => e.event);
  }

  /**
   * The events that close the stream: the last phases' completions, then `workflow_completed` or
   * `workflow_failed`. Give the run's final snapshot to `update` first.
   */
  finish(end: RunEventEnd, agents: AgentRecord[], at: number): RunEvent[] {
    if (this.finished) return [];
    const events: RunEvent[] = [];
    for (const [key, state] of this.phases) {
      if (!state.open) continue;
      state.open = false;
      events.push(
        this.phaseCompleted(
          state,
          agents.filter((a) => phaseKey(a) === key),
        ),
      );
    }
    this.finished = true;
    events.push({
      type: end.status === 'completed' ? 'workflow_completed' : 'workflow_failed',
      runId: this.runId,
      at,
      end,
    });
    return events;
  }

  private phaseOf(agent: AgentRecord): RunEventPhase {
    const key = phaseKey(agent);
    const known = this.phases.get(key);
    if (known) return known.phase;
    const spec = agent.phase === null ? undefined : this.declared.find((p) => p.title === agent.phase);
    return {
      key,
      title: agent.phase,
      group: agent.group,
      ...(spec?.detail === undefined ? {} : { detail: spec.detail }),
      ...(spec?.model === undefined ? {} : { model: spec.model }),
    };
  }

  private phaseCompleted(state: PhaseState, members: AgentRecord[]): RunEvent {
    const totals: RunEventPhaseTotals = {
      agents: members.length,
      completed: 0,
      failed: 0,
      skipped: 0,
      cached: 0,
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
    };
    let at = 0;
    for (const a of members) {
      if (a.status === 'completed') totals.completed++;
      else if (a.status === 'failed') totals.failed++;
      else if (a.status === 'skipped') totals.skipped++;
      else if (a.status === 'cached') totals.cached++;
      totals.usage.inputTokens += a.usage.inputTokens;
      totals.usage.outputTokens += a.usage.outputTokens;
      totals.costUsd += a.costUsd;
      at = Math.max(at, a.endedAt ?? a.startedAt ?? 0);
    }
    return { type: 'workflow_phase_completed', runId: this.runId, at, phase: state.phase, totals };
  }
}

function firstTime(agents: AgentRecord[]): number {
  const times = agents.map((a) => a.startedAt ?? a.endedAt).filter((t): t is number => t !== null);
  return times.length === 0 ? 0 : Math.min(...times);
}

/** What `runEvents` needs from a client; `WeftClient` provides it. */
export interface RunEventSource {
  /** The run's workflow type (meta.name) and start time; rejects for an unknown run. */
  describeRun(runId: string): Promise<{ name: string; startedAt: number }>;
  /** The run's progress, or null when the query cannot be answered right now. */
  tryProgress(runId: string): Promise<RunProgress | null>;
  /** Resolves when the run has ended. */
  wait(runId: string): Promise<RunEventEnd>;
}

/** Options of `WeftClient.events()`. */
export interface RunEventsOptions {
  /** Milliseconds between progress polls (default 500). */
  intervalMs?: number;
  /** Ends the stream early, without an end event. */
  signal?: AbortSignal;
}

function pause(ms: number, signal: AbortSignal | undefined, wake: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
    void wake.then(done, done);
  });
}

/**
 * A run's events as an async iterator, from `workflow_started` to `workflow_completed` or
 * `workflow_failed`. Polls the progress query every `intervalMs` while the run goes; the closing
 * snapshot comes from the run's output, so a fast run still yields every agent.
 */
export async function* runEvents(
  source: RunEventSource,
  runId: string,
  options: RunEventsOptions = {},
): AsyncGenerator<RunEvent, void, undefined> {
  const intervalMs = options.intervalMs ?? 500;
  const { signal } = options;
  const info = await source.describeRun(runId);
  const differ = new RunEventDiffer(runId);
  yield* differ.start(info.name, info.startedAt);

  let ended: { end: RunEventEnd } | { error: unknown } | null = null;
  const ending = source.wait(runId).then(
    (end) => (ended = { end }),
    (error: unknown) => (ended = { error }),
  );
  let last: RunSnapshot | null = null;
  while (ended === null) {
    if (signal?.aborted) return;
    const snapshot = await source.tryProgress(runId);
    if (snapshot) {
      last = snapshot;
      yield* differ.update(snapshot);
    }
    if (ended !== null) break;
    await pause(intervalMs, signal, ending);
  }
  if (signal?.aborted) return;
  const outcome = ended as { end: RunEventEnd } | { error: unknown };
  if ('error' in outcome) throw outcome.error;
  const { end } = outcome;
  const final: RunSnapshot | null = end.output
    ? { agents: end.output.records, logs: end.output.logs }
    : ((await source.tryProgress(runId)) ?? last);
  if (final) yield* differ.update(final);
  const endAt = info.startedAt + end.durationMs;
  yield* differ.finish(end, final?.agents ?? [], endAt);
}

/** Cuts a tool input down to what fits beside an agent in the live view. */
function toolInputSummary(input: unknown): string {
  if (input === null || typeof input !== 'object') return '';
  const fields = input as Record<string, unknown>;
  // The field people recognise a call by, in Claude Code's tool shapes.
  for (const key of ['command', 'file_path', 'path', 'pattern', 'url', 'query']) {
    const value = fields[key];
    if (typeof value === 'string') return value.replace(/\s+/g, ' ').slice(0, 80);
  }
  return JSON.stringify(input).slice(0, 80);
}

/**
 * The last tool call an agent made, from its activity's heartbeat details: an explicit
 * `lastTool` string, else the last `tool_use` block of the conversation the agent checkpoints
 * (`messages`). Returns the agent's index with it; null when the details name no agent or no tool.
 */
export function lastToolFromHeartbeat(details: unknown): { index: number; tool: string } | null {
  if (details === null || typeof details !== 'object') return null;
  const d = details as { index?: unknown; lastTool?: unknown; messages?: unknown };
  if (typeof d.index !== 'number') return null;
  if (typeof d.lastTool === 'string' && d.lastTool !== '') return { index: d.index, tool: d.lastTool };
  if (!Array.isArray(d.messages)) return null;
  for (let i = d.messages.length - 1; i >= 0; i--) {
    const message = d.messages[i] as { role?: unknown; content?: unknown } | undefined;
    if (message?.role !== 'assistant' || !Array.isArray(message.content)) continue;
    const uses = (message.content as Array<{ type?: unknown; name?: unknown; input?: unknown }>).filter(
      (b) => b?.type === 'tool_use' && typeof b.name === 'string' && b.name !== 'StructuredOutput',
    );
    const last = uses.at(-1);
    if (!last) continue;
    const summary = toolInputSummary(last.input);
    return { index: d.index, tool: summary ? `${String(last.name)} ${summary}` : String(last.name) };
  }
  return null;
}
