import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { RunOutput } from '../../src/types';
import {
  ROOT,
  runWeft,
  spawnWorker,
  uniqueName,
  until,
  weftEnv,
  useModelAndClient,
} from '../helpers/harness';

const DURABLE = path.join(ROOT, 'test', 'fixtures', 'durable');

const shared = useModelAndClient();

interface RunJson {
  runId: string;
  status: string;
  result: unknown;
  agents: number;
  cached?: number;
  stopReason?: string;
  usage: { inputTokens: number; outputTokens: number };
}

async function output(runId: string): Promise<RunOutput> {
  const summary = await shared.client.wait(runId);
  assert.ok(summary.output, `run ${runId} has no output (${summary.status}: ${summary.error})`);
  return summary.output;
}

describe('resume after an edit', () => {
  test('S305 only the edited agent and its data-flow dependents re-run, across a pipeline and a fan-out', async () => {
    const queue = uniqueName('resume');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const first = await runWeft(
      ['run', path.join(DURABLE, 'resume-v1.js'), '--json', '--id', `${queue}-v1`, '--concurrency', '4'],
      { env },
    );
    assert.equal(first.code, 0, first.stderr);
    assert.equal((first.json as RunJson).agents, 13);

    // Same script, same args: every completed agent is a cache hit and the model is never asked.
    const before = shared.model.requests.length;
    const same = await runWeft(
      [
        'run',
        path.join(DURABLE, 'resume-v1.js'),
        '--json',
        '--id',
        `${queue}-same`,
        '--resume-from',
        `${queue}-v1`,
      ],
      { env },
    );
    assert.equal(same.code, 0, same.stderr);
    const sameJson = same.json as RunJson;
    assert.equal(sameJson.cached, 13);
    assert.equal(sameJson.agents, 0);
    assert.equal(shared.model.requests.length, before, 'a full cache hit asks the model nothing');
    assert.deepEqual(sameJson.result, (first.json as RunJson).result);

    // Edited script: beta's finder changed, checks reordered and relabelled.
    const mark = shared.model.requests.length;
    const edited = await runWeft(
      [
        'run',
        path.join(DURABLE, 'resume-v2.js'),
        '--json',
        '--id',
        `${queue}-v2`,
        '--resume-from',
        `${queue}-v1`,
        '--concurrency',
        '4',
      ],
      { env },
    );
    assert.equal(edited.code, 0, edited.stderr);
    const editedJson = edited.json as RunJson;
    const asked = shared.model.requests.slice(mark).map((r) => r.prompt.split(':')[0]);
    assert.deepEqual(asked.sort(), ['combine ok', 'find facts about beta in depth', 'summarize beta'].sort());
    assert.equal(editedJson.cached, 10);
    assert.equal(editedJson.agents, 3);
    const records = (await output(`${queue}-v2`)).records;
    assert.deepEqual(
      records
        .filter((r) => r.cached)
        .map((r) => r.label)
        .sort(),
      [
        'find:alpha',
        'find:delta',
        'find:gamma',
        'sum:alpha',
        'sum:delta',
        'sum:gamma',
        'verify-alpha',
        'verify-beta',
        'verify-delta',
        'verify-gamma',
      ].sort(),
    );
    assert.ok(records.filter((r) => r.cached).every((r) => r.status === 'cached'));
  });

  test('S305 resuming a chain serves agents the middle run itself got from its predecessor', async () => {
    const queue = uniqueName('chain');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const run = (id: string, from?: string) =>
      runWeft(
        [
          'run',
          path.join(DURABLE, 'resume-v1.js'),
          '--json',
          '--id',
          id,
          '--concurrency',
          '4',
          ...(from ? ['--resume-from', from] : []),
        ],
        { env },
      );
    assert.equal((await run(`${queue}-a`)).code, 0);
    assert.equal((await run(`${queue}-b`, `${queue}-a`)).code, 0);
    const mark = shared.model.requests.length;
    const third = await run(`${queue}-c`, `${queue}-b`);
    assert.equal(third.code, 0, third.stderr);
    assert.equal((third.json as RunJson).cached, 13);
    assert.equal(shared.model.requests.length, mark);
  });

  test('S305 resuming an unknown run, a running run, or a run with nothing is a clear error and starts nothing', async () => {
    const queue = uniqueName('resume-bad');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const unknown = await runWeft(
      ['run', path.join(DURABLE, 'resume-v1.js'), '--resume-from', 'no-such-run-xyz', '--id', `${queue}-u`],
      { env },
    );
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr.trim(), /^weft: no run with id no-such-run-xyz$/);
    await assert.rejects(shared.client.temporal.workflow.getHandle(`${queue}-u`).describe(), /not found/i);

    // A run that is still going: started with no worker on its queue, so it cannot finish.
    const pending = await runWeft(
      ['start', path.join(DURABLE, 'slow-fanout.js'), '--json', '--id', `${queue}-p`],
      { env },
    );
    assert.equal(pending.code, 0, pending.stderr);
    const running = await runWeft(
      ['run', path.join(DURABLE, 'resume-v1.js'), '--resume-from', `${queue}-p`],
      { env },
    );
    assert.equal(running.code, 2);
    assert.match(running.stderr, /still running/);
    await shared.client.temporal.workflow.getHandle(`${queue}-p`).terminate('test cleanup');

    // A finished run whose every agent failed has nothing to offer.
    const failing = await runWeft(
      [
        'run',
        path.join(ROOT, 'test', 'fixtures', 'scripts', 'api-failing-agent.js'),
        '--json',
        '--id',
        `${queue}-f`,
      ],
      { env },
    );
    assert.equal(failing.code, 0, failing.stderr);
    const nothing = await runWeft(
      ['run', path.join(DURABLE, 'resume-v1.js'), '--resume-from', `${queue}-f`],
      { env },
    );
    assert.equal(nothing.code, 0, 'the failing fixture did complete one agent');
    const empty = await runWeft(['run', path.join(DURABLE, 'resume-v1.js'), '--resume-from', `${queue}-p`], {
      env,
    });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /has no completed agents to resume from/);
  });
});

describe('control', () => {
  test('S306 weft stop cancels a run: running agents are cancelled and none counts as failed', async () => {
    const queue = uniqueName('stop');
    const id = `${queue}-run`;
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const pending = runWeft(
      [
        'run',
        path.join(DURABLE, 'slow-fanout.js'),
        '--json',
        '--id',
        id,
        '--concurrency',
        '3',
        '--args',
        '{"latency": 60000, "tag": "stop"}',
      ],
      { env },
    );
    await until(
      async () =>
        (await shared.client.progress(id)).agents.filter((a) => a.status === 'running').length === 3,
      '3 running agents',
    );
    const stop = await runWeft(['stop', id], { env });
    assert.equal(stop.code, 0, stop.stderr);
    const res = await pending;
    assert.equal(res.code, 1);
    assert.equal((res.json as RunJson).status, 'cancelled');
    // A cancelled run still reports the agents it started (counted from its history).
    assert.equal((res.json as RunJson).agents, 3);
    const description = await shared.client.temporal.workflow.getHandle(id).describe();
    assert.equal(description.status.name, 'CANCELLED');
  });

  test('S306 weft stop --agent gives that agent null; weft pause admits no new agents until weft continue', async () => {
    const queue = uniqueName('pause');
    const id = `${queue}-run`;
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const pending = runWeft(
      [
        'run',
        path.join(DURABLE, 'slow-fanout.js'),
        '--json',
        '--id',
        id,
        '--concurrency',
        '2',
        '--args',
        '{"n": 6, "latency": 3000, "tag": "pause"}',
      ],
      { env },
    );
    await until(
      async () => (await shared.client.progress(id)).agents.some((a) => a.status === 'running'),
      'a running agent',
    );
    assert.equal((await runWeft(['pause', id], { env })).code, 0);
    // Running agents finish; then nothing new starts while paused.
    const drained = await until(async () => {
      const p = await shared.client.progress(id);
      return p.agents.every((a) => a.status !== 'running') && p.state === 'paused' ? p : null;
    }, 'running agents to drain');
    const startedWhilePaused = drained.agents.filter((a) => a.startedAt !== null).length;
    assert.ok(startedWhilePaused < 6, 'some agents are still queued');
    const asked = shared.model.requests.filter((r) => r.prompt.includes('pause')).length;
    // Stop one queued agent by label while paused: its agent() gives null.
    const queued = drained.agents.find((a) => a.status === 'queued');
    assert.ok(queued);
    const stopOne = await runWeft(['stop', id, '--agent', queued.label, '--reason', 'not needed'], { env });
    assert.equal(stopOne.code, 0, stopOne.stderr);
    const still = await shared.client.progress(id);
    assert.equal(still.agents.filter((a) => a.startedAt !== null).length, startedWhilePaused);
    assert.equal(shared.model.requests.filter((r) => r.prompt.includes('pause')).length, asked);
    assert.equal((await runWeft(['continue', id], { env })).code, 0);
    const res = await pending;
    assert.equal(res.code, 0, res.stderr);
    const result = (res.json as RunJson).result as Array<string | null>;
    assert.equal(result.filter((x) => x === null).length, 1);
    assert.equal(result[Number(queued.label.split('-')[1])], null);
    const record = (await output(id)).records.find((r) => r.label === queued.label);
    assert.equal(record?.status, 'skipped');
    assert.equal(record?.error, 'not needed');
    const unknownAgent = await runWeft(['stop', id, '--agent', 'nope'], { env });
    assert.notEqual(unknownAgent.code, 0);
  });
});

describe('budgets', () => {
  test('S210 --max-duration stops admitting agents and ends cleanly with the partial result and the reason', async () => {
    const queue = uniqueName('deadline');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const res = await runWeft(
      [
        'run',
        path.join(DURABLE, 'slow-fanout.js'),
        '--json',
        '--id',
        `${queue}-r`,
        '--concurrency',
        '2',
        '--max-duration',
        '1500ms',
        '--args',
        '{"n": 8, "latency": 1000, "tag": "deadline"}',
      ],
      { env },
    );
    assert.equal(res.code, 0, res.stderr);
    const out = res.json as RunJson;
    assert.equal(out.status, 'completed');
    assert.match(out.stopReason ?? '', /deadline passed/);
    const result = out.result as Array<string | null>;
    assert.ok(result.filter((x) => x !== null).length >= 2, 'agents before the deadline kept their results');
    assert.ok(result.filter((x) => x === null).length >= 4, 'agents after the deadline never ran');
  });
});

describe('worker pool', () => {
  test('S302 S501 weft start returns at once; a separate weft worker executes the run; weft wait prints the summary; progress says completed after the end', async (t) => {
    const queue = uniqueName('start');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const started = await runWeft(
      [
        'start',
        path.join(DURABLE, 'slow-fanout.js'),
        '--json',
        '--args',
        '{"n": 2, "latency": 10, "tag": "bg"}',
      ],
      { env },
    );
    assert.equal(started.code, 0, started.stderr);
    const { runId } = started.json as { runId: string };
    assert.match(runId, /^slow-fanout-/);
    await spawnWorker(t, env);
    const waited = await runWeft(['wait', runId, '--json'], { env });
    assert.equal(waited.code, 0, waited.stderr);
    assert.deepEqual((waited.json as RunJson).result, ['s0', 's1']);
    assert.equal((waited.json as RunJson).agents, 2);
    // A query after the end replays the closed run on the worker and reports how it ended.
    const progress = await shared.client.progress(runId);
    assert.equal(progress.state, 'completed');
    assert.deepEqual(
      progress.agents.map((a) => a.status),
      ['completed', 'completed'],
    );
  });
});

describe('budget admission', () => {
  test('S210 admission control: spent output tokens never pass --budget, however many agents run at once', async () => {
    const queue = uniqueName('admission');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const res = await runWeft(
      [
        'run',
        path.join(DURABLE, 'budget-fanout.js'),
        '--json',
        '--id',
        `${queue}-r`,
        '--concurrency',
        '8',
        '--budget',
        '2000',
        '--args',
        `"${queue}"`,
      ],
      { env },
    );
    assert.equal(res.code, 0, res.stderr);
    const out = res.json as RunJson & { result: { done: number; spent: number; total: number } };
    assert.equal(out.result.total, 2000);
    assert.ok(out.usage.outputTokens <= 2000, `spent ${out.usage.outputTokens} of 2000`);
    assert.ok(out.result.spent <= 2000);
    assert.ok(out.result.done >= 5 && out.result.done < 12, `done ${out.result.done}`);
    assert.match(out.stopReason ?? '', /token budget spent/);
    // Every request the model saw asked for no more than what was left of the budget.
    const asked = shared.model.requests.filter((r) => r.prompt.includes(queue));
    assert.ok(asked.length >= out.result.done);
    for (const r of asked)
      assert.ok(r.maxTokens !== null && r.maxTokens <= 2000, `max_tokens ${r.maxTokens}`);
  });

  test('S210 --max-cost is a hard ceiling: agents in flight never spend past it', async () => {
    const queue = uniqueName('cost-admission');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    // Each agent's answer costs $0.03 on Sonnet; 8 of them at once would spend $0.24 against $0.10.
    const res = await runWeft(
      [
        'run',
        path.join(DURABLE, 'cost-fanout.js'),
        '--json',
        '--id',
        `${queue}-r`,
        '--concurrency',
        '8',
        '--max-cost',
        '0.1',
        '--args',
        `"${queue}"`,
      ],
      { env },
    );
    const out = res.json as RunJson & { costUsd: number };
    assert.ok(out, res.stderr);
    assert.ok(out.costUsd <= 0.1, `spent $${out.costUsd} of $0.10`);
    assert.ok(out.costUsd > 0.07, `the ceiling was used, not starved: $${out.costUsd}`);
    assert.match(out.stopReason ?? '', /cost budget spent/);
    // The last agents were asked for less than a full answer: what was left paid for no more.
    const asked = shared.model.requests.filter((r) => r.prompt.includes(queue));
    assert.ok(
      asked.some((r) => r.maxTokens !== null && r.maxTokens < 2000),
      `max_tokens asked: ${asked.map((r) => r.maxTokens).join(', ')}`,
    );
  });
});
