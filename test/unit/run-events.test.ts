import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RunEventDiffer, lastToolFromHeartbeat, phaseKey, runEvents } from '../../src/client/run-events';
import type { RunEvent, RunEventEnd, RunEventSource } from '../../src/client/run-events';
import type { AgentRecord, RunProgress } from '../../src/types';

const T0 = 1_700_000_000_000;

function agent(index: number, over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    index,
    label: `a${index}`,
    phase: null,
    group: null,
    status: 'queued',
    model: 'claude-sonnet-4-6',
    prompt: `prompt ${index}`,
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    attempts: 0,
    schemaAttempts: 0,
    startedAt: null,
    endedAt: null,
    error: null,
    worktree: null,
    cached: false,
    ...over,
  };
}

function running(
  index: number,
  phase: string | null,
  at: number,
  over: Partial<AgentRecord> = {},
): AgentRecord {
  return agent(index, { phase, status: 'running', startedAt: at, ...over });
}

function done(
  index: number,
  phase: string | null,
  start: number,
  end: number,
  over: Partial<AgentRecord> = {},
): AgentRecord {
  return agent(index, {
    phase,
    status: 'completed',
    startedAt: start,
    endedAt: end,
    usage: { inputTokens: 100, outputTokens: 10 },
    costUsd: 0.001,
    ...over,
  });
}

function snapshot(
  agents: AgentRecord[],
  logs: RunProgress['logs'] = [],
  over: Partial<RunProgress> = {},
): RunProgress {
  return {
    name: 'probe',
    state: 'running',
    phases: [{ title: 'Plan', detail: 'decompose', model: 'claude-haiku-4-5' }, { title: 'Work' }],
    agents,
    logs,
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    concurrency: 4,
    budgetTokens: null,
    startedAt: T0,
    stopReason: null,
    ...over,
  };
}

const types = (events: RunEvent[]): string[] =>
  events.map((e) => {
    if ('task' in e) return `${e.type}:${e.task.label}`;
    if (e.type === 'workflow_phase_started' || e.type === 'workflow_phase_completed')
      return `${e.type}:${e.phase.key}`;
    if (e.type === 'workflow_log') return `log:${e.log.message}`;
    return e.type;
  });

void describe('RunEventDiffer', () => {
  void test('S501 client API: seed 000 event names, in order, each agent transition reported once', () => {
    const d = new RunEventDiffer('r1');
    const first = d.update(snapshot([running(0, 'Plan', T0 + 10), agent(1, { phase: 'Work' })]));
    assert.deepEqual(types(first), [
      'workflow_started',
      'workflow_phase_started:Plan',
      'workflow_task_started:a0',
    ]);
    const phaseStarted = first[1];
    assert.ok(phaseStarted?.type === 'workflow_phase_started');
    assert.equal(phaseStarted.phase.detail, 'decompose');
    assert.equal(phaseStarted.phase.model, 'claude-haiku-4-5');
    // The same snapshot again gives nothing.
    assert.deepEqual(d.update(snapshot([running(0, 'Plan', T0 + 10), agent(1, { phase: 'Work' })])), []);

    // One workflow task: a0 ends, the script logs, and a1 starts, all at the same clock time.
    const second = d.update(
      snapshot(
        [done(0, 'Plan', T0 + 10, T0 + 50), running(1, 'Work', T0 + 50)],
        [{ at: T0 + 50, message: 'planned', group: null }],
      ),
    );
    assert.deepEqual(types(second), [
      'workflow_task_completed:a0',
      'workflow_phase_completed:Plan',
      'log:planned',
      'workflow_phase_started:Work',
      'workflow_task_started:a1',
    ]);
    const planDone = second[1];
    assert.ok(planDone?.type === 'workflow_phase_completed');
    assert.deepEqual(planDone.totals, {
      agents: 1,
      completed: 1,
      failed: 0,
      skipped: 0,
      cached: 0,
      usage: { inputTokens: 100, outputTokens: 10 },
      costUsd: 0.001,
    });

    const third = d.update(
      snapshot(
        [
          done(0, 'Plan', T0 + 10, T0 + 50),
          agent(1, {
            phase: 'Work',
            status: 'failed',
            startedAt: T0 + 50,
            endedAt: T0 + 90,
            error: 'AgentError: boom',
          }),
        ],
        [{ at: T0 + 50, message: 'planned', group: null }],
      ),
    );
    assert.deepEqual(types(third), ['workflow_task_failed:a1']);
    const end: RunEventEnd = {
      status: 'failed',
      result: null,
      agents: 2,
      usage: { inputTokens: 100, outputTokens: 10 },
      durationMs: 100,
      error: 'Error: script threw',
    };
    const last = d.finish(end, [done(0, 'Plan', T0 + 10, T0 + 50)], T0 + 100);
    assert.deepEqual(types(last), ['workflow_phase_completed:Work', 'workflow_failed']);
    assert.deepEqual(d.finish(end, [], T0 + 100), [], 'finish is once');
  });

  void test('S501 client API: a poll that missed the running state still gives started before completed', () => {
    const d = new RunEventDiffer('r2');
    const events = d.update(snapshot([done(0, null, T0 + 5, T0 + 9)]));
    assert.deepEqual(types(events), [
      'workflow_started',
      'workflow_phase_started:(no phase)',
      'workflow_task_started:a0',
      'workflow_task_completed:a0',
    ]);
  });

  void test('S501 client API: cached agents are workflow_task_skipped, stopped ones complete with status skipped', () => {
    const d = new RunEventDiffer('r3');
    const events = d.update(
      snapshot([
        agent(0, { phase: 'Plan', status: 'cached', cached: true, endedAt: T0 + 1 }),
        agent(1, {
          phase: 'Plan',
          status: 'skipped',
          startedAt: T0 + 2,
          endedAt: T0 + 3,
          error: 'stopped by a person',
        }),
      ]),
    );
    assert.deepEqual(types(events), [
      'workflow_started',
      'workflow_phase_started:Plan',
      'workflow_task_skipped:a0',
      'workflow_task_started:a1',
      'workflow_task_completed:a1',
    ]);
    const stopped = events.at(-1);
    assert.ok(stopped?.type === 'workflow_task_completed');
    assert.equal(stopped.task.status, 'skipped');
  });

  void test('S501 client API: nested workflow agents form their own phase group, and a phase stays open while agents are pending', () => {
    assert.equal(phaseKey({ group: 'child', phase: 'Inner' }), 'child › Inner');
    assert.equal(phaseKey({ group: null, phase: null }), '(no phase)');
    const d = new RunEventDiffer('r4');
    d.update(snapshot([done(0, 'Plan', T0, T0 + 1), agent(1, { phase: 'Plan' })]));
    // A later agent of another group does not end Plan while one of Plan's agents is queued.
    const events = d.update(
      snapshot([
        done(0, 'Plan', T0, T0 + 1),
        agent(1, { phase: 'Plan' }),
        running(2, 'Inner', T0 + 2, { group: 'child' }),
      ]),
    );
    assert.deepEqual(types(events), ['workflow_phase_started:child › Inner', 'workflow_task_started:a2']);
    const started = events[0];
    assert.ok(started?.type === 'workflow_phase_started');
    assert.equal(started.phase.group, 'child');
    assert.equal(started.phase.title, 'Inner');
  });
});

function fakeSource(
  snapshots: Array<RunProgress | null>,
  end: RunEventEnd,
  waitMs = 0,
): RunEventSource & { polls: number } {
  let i = 0;
  const source = {
    polls: 0,
    describeRun: async () => ({ name: 'probe', startedAt: T0 }),
    tryProgress: async () => {
      source.polls++;
      const s = snapshots[Math.min(i, snapshots.length - 1)] ?? null;
      i++;
      return s;
    },
    // A run that never ends must not hold the test process open: no timer for it.
    wait: () =>
      new Promise<RunEventEnd>((resolve) => {
        if (Number.isFinite(waitMs)) setTimeout(() => resolve(end), waitMs);
      }),
  };
  return source;
}

void describe('runEvents', () => {
  void test('S501 client API: yields workflow_started first and workflow_completed last, with the final records from the output', async () => {
    const final = [done(0, 'Plan', T0 + 1, T0 + 2), done(1, 'Work', T0 + 3, T0 + 4)];
    const end: RunEventEnd = {
      status: 'completed',
      result: 42,
      agents: 2,
      usage: { inputTokens: 200, outputTokens: 20 },
      durationMs: 10,
      output: {
        result: 42,
        agents: 2,
        usage: { inputTokens: 200, outputTokens: 20 },
        costUsd: 0.002,
        records: final,
        logs: [],
        cached: 0,
        stopReason: null,
      },
    };
    // The run ends before any poll sees it: the output still gives every agent.
    const events: RunEvent[] = [];
    for await (const e of runEvents(fakeSource([null], end), 'r5', { intervalMs: 5 })) events.push(e);
    assert.deepEqual(types(events), [
      'workflow_started',
      'workflow_phase_started:Plan',
      'workflow_task_started:a0',
      'workflow_task_completed:a0',
      'workflow_phase_completed:Plan',
      'workflow_phase_started:Work',
      'workflow_task_started:a1',
      'workflow_task_completed:a1',
      'workflow_phase_completed:Work',
      'workflow_completed',
    ]);
    const last = events.at(-1);
    assert.ok(last?.type === 'workflow_completed');
    assert.equal(last.end.result, 42);
    assert.equal(last.at, T0 + 10);
  });

  void test('S501 client API: polls while the run goes and stops early on abort', async () => {
    const end: RunEventEnd = {
      status: 'completed',
      result: null,
      agents: 0,
      usage: { inputTokens: 0, outputTokens: 0 },
      durationMs: 0,
    };
    const source = fakeSource([snapshot([running(0, null, T0)])], end, Infinity);
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const e of runEvents(source, 'r6', { intervalMs: 5, signal: controller.signal })) {
      seen.push(e.type);
      if (e.type === 'workflow_task_started') setTimeout(() => controller.abort(), 30);
    }
    assert.deepEqual(seen, ['workflow_started', 'workflow_phase_started', 'workflow_task_started']);
    assert.ok(source.polls >= 2, `polled ${source.polls} times`);
  });

  void test('S501 client API: an unknown run rejects before any event', async () => {
    const source: RunEventSource = {
      describeRun: async () => {
        throw new Error('no run with id nope');
      },
      tryProgress: async () => null,
      wait: async () => {
        throw new Error('unreachable');
      },
    };
    await assert.rejects(async () => {
      for await (const _ of runEvents(source, 'nope')) assert.fail('no event expected');
    }, /no run with id nope/);
  });
});

void describe('last tool call', () => {
  void test("S501 a running agent's last tool call comes from its heartbeat: an explicit lastTool, else the checkpointed conversation", () => {
    assert.deepEqual(lastToolFromHeartbeat({ index: 3, lastTool: 'Bash npm test' }), {
      index: 3,
      tool: 'Bash npm test',
    });
    const checkpoint = {
      index: 5,
      turns: 2,
      messages: [
        { role: 'user', content: 'fix the test' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 't1', name: 'Read', input: { file_path: 'src/a.ts' } }],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: '...' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'running the tests' },
            { type: 'tool_use', id: 't2', name: 'Bash', input: { command: 'npm   test -- --grep  x' } },
          ],
        },
      ],
    };
    assert.deepEqual(lastToolFromHeartbeat(checkpoint), { index: 5, tool: 'Bash npm test -- --grep x' });
    // Without the agent's index the call cannot be placed in the tree.
    assert.equal(lastToolFromHeartbeat({ ...checkpoint, index: undefined }), null);
    assert.equal(lastToolFromHeartbeat({ index: 1, messages: [{ role: 'user', content: 'hi' }] }), null);
    assert.equal(lastToolFromHeartbeat(null), null);
  });
});
