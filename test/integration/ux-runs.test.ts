import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { defaultPayloadConverter } from '@temporalio/common';
import type { RunDetails, RunListEntry } from '../../src/client/run-views';
import type { RunEvent } from '../../src/client/run-events';
import { WeftClient } from '../../src/client/weft-client';
import { compileScriptFile } from '../../src/compiler/compile-script';
import { loadConfig } from '../../src/config';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel } from '../../src/mock-model/server';
import {
  WEFT_AGENTS,
  WEFT_OUTPUT_TOKENS,
  WEFT_PHASE,
  WEFT_SEARCH_ATTRIBUTES,
} from '../../src/search-attributes';
import type { RunProgress } from '../../src/types';
import { createWeftWorker } from '../../src/worker';
import type { WeftWorker } from '../../src/worker';
import { runWeft, uniqueName, until, weftEnv } from '../helpers/harness';

let model: MockModel;
let scripts: string;
const clients: WeftClient[] = [];
const workers: WeftWorker[] = [];

/** A client whose default task queue is `queue`, as a CLI with WEFT_TASK_QUEUE=queue has. */
async function clientFor(queue: string): Promise<WeftClient> {
  const client = await WeftClient.connect({
    config: { ...loadConfig(), address: process.env.TEMPORAL_ADDRESS ?? null, taskQueue: queue },
  });
  clients.push(client);
  return client;
}

/** A worker in this process on `queue`, talking to the mock model. */
async function workerFor(client: WeftClient, queue: string): Promise<WeftWorker> {
  const worker = await createWeftWorker({
    address: client.address,
    taskQueue: queue,
    activityDeps: { anthropic: () => new Anthropic({ apiKey: 'test', baseURL: model.url, maxRetries: 0 }) },
  });
  void worker.run();
  workers.push(worker);
  return worker;
}

function script(
  name: string,
  body: string,
  meta = `name: '${name}', description: 'ux test ${name}'`,
): string {
  const file = path.join(scripts, `${name}.js`);
  writeFileSync(file, `export const meta = { ${meta} }\n${body}\n`);
  return file;
}

function runningAgent(progress: RunProgress | null, label: string): boolean {
  return progress?.agents.some((a) => a.label === label && a.status === 'running') ?? false;
}

before(async () => {
  model = await startMockModel();
  scripts = mkdtempSync(path.join(os.tmpdir(), 'weft-ux-runs-'));
});
after(async () => {
  for (const w of workers) await w.shutdown().catch(() => {});
  for (const c of clients) await c.close().catch(() => {});
  await model?.close();
});

const PHASES = `name: 'ux-two', description: 'two agents in two phases', phases: [{ title: 'Plan', detail: 'one planner' }, { title: 'Do', detail: 'one doer', model: 'claude-haiku-4-5' }]`;
const TWO = `phase('Plan')
const plan = await agent('plan it [[mock:reply the plan]]', { label: 'planner' })
log('planned: ' + plan)
phase('Do')
const done = await agent('do it [[mock:latency 300]] [[mock:reply done]]', { label: 'doer' })
return { plan, done }`;

void describe('run views', () => {
  test('S502 list: running and finished runs with status, agents, tokens, start time and duration, filtered by status and name', async () => {
    const queue = uniqueName('ux-list');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue });
    const client = await clientFor(queue);
    const two = script(`two-${queue}`, TWO, PHASES);
    const fails = script(
      `fails-${queue}`,
      `await agent('first [[mock:reply ok]]', { label: 'only' })\nthrow new Error('the script gave up')`,
      `name: 'ux-fails', description: 'fails after one agent'`,
    );
    const hang = script(
      `hang-${queue}`,
      `await agent('wait [[mock:hang]]', { label: 'hanger' })`,
      `name: 'ux-hang', description: 'never ends'`,
    );

    const ok = await runWeft(['run', two, '--json', '--id', `${queue}-two`], { env });
    assert.equal(ok.code, 0, ok.stderr);
    const failed = await runWeft(['run', fails, '--json', '--id', `${queue}-fails`], { env });
    assert.equal(failed.code, 1, failed.stderr);
    await workerFor(client, queue);
    const started = await runWeft(['start', hang, '--id', `${queue}-hang`], { env });
    assert.equal(started.code, 0, started.stderr);
    await until(
      async () => runningAgent(await client.tryProgress(`${queue}-hang`), 'hanger'),
      'the hanger to run',
    );

    const all = await until(async () => {
      const res = await runWeft(['list', '--json'], { env });
      const rows = res.json as RunListEntry[];
      return rows.length === 3 ? rows : null;
    }, 'visibility to show three runs');
    const byId = new Map(all.map((r) => [r.runId, r]));
    const row = (id: string): RunListEntry => {
      const r = byId.get(id);
      assert.ok(r, `no row for ${id} in ${JSON.stringify(all)}`);
      return r;
    };
    // Newest first.
    assert.equal(all[0]?.runId, `${queue}-hang`);
    assert.equal(row(`${queue}-two`).name, 'ux-two');
    assert.equal(row(`${queue}-two`).status, 'completed');
    assert.equal(row(`${queue}-two`).agents, 2);
    assert.ok((row(`${queue}-two`).usage?.outputTokens ?? 0) > 0);
    assert.ok(row(`${queue}-two`).durationMs >= 300, 'the doer took 300 ms');
    assert.ok(row(`${queue}-two`).closeTime !== null);
    assert.ok(!Number.isNaN(Date.parse(row(`${queue}-two`).startTime)));
    assert.equal(row(`${queue}-fails`).status, 'failed');
    assert.equal(row(`${queue}-fails`).agents, 1, 'a failed run still counts its agents');
    assert.equal(row(`${queue}-hang`).status, 'running');
    assert.equal(row(`${queue}-hang`).agents, 1, 'a running run counts from its progress query');
    assert.equal(row(`${queue}-hang`).closeTime, null);

    const running = (await runWeft(['list', '--status', 'running', '--json'], { env }))
      .json as RunListEntry[];
    assert.deepEqual(
      running.map((r) => r.runId),
      [`${queue}-hang`],
    );
    const named = (await runWeft(['list', '--name', 'ux-two', '--json'], { env })).json as RunListEntry[];
    assert.deepEqual(
      named.map((r) => r.runId),
      [`${queue}-two`],
    );
    const none = (await runWeft(['list', '--status', 'completed', '--name', 'ux-fails', '--json'], { env }))
      .json as RunListEntry[];
    assert.deepEqual(none, []);
    const limited = (await runWeft(['list', '--limit', '1', '--json'], { env })).json as RunListEntry[];
    assert.equal(limited.length, 1);

    const table = await runWeft(['list'], { env });
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(
      lines[0] ?? '',
      /^RUN\s+NAME\s+STATUS\s+AGENTS\s+OUT TOKENS\s+COST\s+PHASE\s+STARTED\s+DURATION$/,
    );
    assert.equal(lines.length, 4);
    assert.match(table.stdout, new RegExp(`${queue}-two\\s+ux-two\\s+completed\\s+2\\s`));

    const bad = await runWeft(['list', '--status', 'sleeping'], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected one of running, completed, failed/);
    await client.stop(`${queue}-hang`);
  });

  test('S502 show: every agent with index, label, phase, status, model, full prompt, result, error, usage, cost, attempts, cached', async () => {
    const queue = uniqueName('ux-show');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue });
    const long = `Summarise this. ${'All work and no play makes a long prompt. '.repeat(20)}`;
    const file = script(
      `show-${queue}`,
      `const LONG = ${JSON.stringify(long)}
phase('Read')
const summary = await agent(LONG + ' [[mock:json {"title":"t","score":7}]]', {
  label: 'reader', schema: { type: 'object', required: ['title', 'score'], properties: { title: { type: 'string' }, score: { type: 'number' } } },
})
const broken = await agent('this one breaks [[mock:error 400 always]]', { label: 'breaker', phase: 'Check' })
return { summary, broken }`,
      `name: 'ux-show', description: 'show me', phases: [{ title: 'Read' }, { title: 'Check' }]`,
    );
    const first = await runWeft(['run', file, '--json', '--id', `${queue}-1`], { env });
    assert.equal(first.code, 0, first.stderr);

    const shown = await runWeft(['show', `${queue}-1`, '--json'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    const details = shown.json as RunDetails;
    assert.equal(details.runId, `${queue}-1`);
    assert.equal(details.name, 'ux-show');
    assert.equal(details.status, 'completed');
    assert.equal(details.agents.length, 2);
    const [reader, breaker] = details.agents;
    assert.ok(reader && breaker);
    assert.equal(reader.index, 0);
    assert.equal(reader.label, 'reader');
    assert.equal(reader.phase, 'Read');
    assert.equal(reader.status, 'completed');
    assert.equal(reader.model, 'claude-sonnet-4-6');
    // The record keeps a 500-character preview; show reads the whole prompt from the history.
    assert.ok(reader.prompt.length > 500, `prompt of ${reader.prompt.length} characters`);
    assert.equal(reader.prompt, `${long} [[mock:json {"title":"t","score":7}]]`);
    assert.deepEqual(reader.result, { title: 't', score: 7 });
    assert.ok(reader.usage.inputTokens > 0 && reader.usage.outputTokens > 0);
    assert.ok(reader.costUsd > 0);
    assert.equal(reader.attempts, 1);
    assert.equal(reader.cached, false);
    assert.equal(reader.worktree, null);
    assert.deepEqual(reader.schema, {
      type: 'object',
      required: ['title', 'score'],
      properties: { title: { type: 'string' }, score: { type: 'number' } },
    });
    assert.equal(breaker.label, 'breaker');
    assert.equal(breaker.phase, 'Check');
    assert.equal(breaker.status, 'failed');
    assert.match(breaker.error ?? '', /400|invalid/i);
    assert.equal(breaker.result, null);
    assert.deepEqual(details.result, { summary: { title: 't', score: 7 }, broken: null });

    // Resumed from the first run, the reader is served from it: show says so.
    const second = await runWeft(
      ['run', file, '--json', '--id', `${queue}-2`, '--resume-from', `${queue}-1`],
      { env },
    );
    assert.equal(second.code, 0, second.stderr);
    const resumed = (await runWeft(['show', `${queue}-2`, '--json'], { env })).json as RunDetails;
    assert.equal(resumed.agents[0]?.cached, true);
    assert.equal(resumed.agents[0]?.status, 'cached');

    const text = await runWeft(['show', `${queue}-1`], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^.*-1 {2}ux-show {2}completed\n2 agents · \d+ in \/ \d+ out · \$\d/);
    assert.match(
      text.stdout,
      /#0 {2}reader {2}\[Read\] {2}completed\n {4}claude-sonnet-4-6 · \d+ in \/ \d+ out · \$\d+\.\d+ · 1 attempt · /,
    );
    assert.match(text.stdout, /prompt: Summarise this\./);
    assert.match(text.stdout, /result: \{/);
    assert.match(text.stdout, /#1 {2}breaker {2}\[Check\] {2}failed/);
    assert.match(text.stdout, /error: .*(400|invalid)/i);
    const one = (await runWeft(['show', `${queue}-1`, '--agent', 'breaker', '--json'], { env }))
      .json as RunDetails;
    assert.deepEqual(
      one.agents.map((a) => a.label),
      ['breaker'],
    );
    const unknown = await runWeft(['show', `${queue}-nope`], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no run with id/);
  });

  test('S501 S502 watch attaches the live view to a run started elsewhere and exits with its code', async () => {
    const queue = uniqueName('ux-watch');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue });
    const client = await clientFor(queue);
    await workerFor(client, queue);
    const slow = script(
      `watch-${queue}`,
      `phase('Plan')
await agent('plan [[mock:latency 1500]] [[mock:reply p]]', { label: 'slow-planner' })
log('halfway')
await agent('do [[mock:reply d]]', { label: 'doer', phase: 'Do' })
return 'watched'`,
      `name: 'ux-watch', description: 'watch me', phases: [{ title: 'Plan', detail: 'think slowly' }, { title: 'Do' }]`,
    );
    const started = await runWeft(['start', slow, '--id', `${queue}-ok`], { env });
    assert.equal(started.code, 0, started.stderr);
    const watched = await runWeft(['watch', `${queue}-ok`], { env });
    assert.equal(watched.code, 0, watched.stderr);
    const lines = watched.stderr.split('\n');
    for (const expected of [
      '▸ Plan — think slowly',
      '  ✓ [Plan] slow-planner',
      '  » halfway',
      '▪ Plan: 1/1 done',
      '▸ Do',
      '  ✓ [Do] doer',
      '▪ Do: 1/1 done',
      'completed: 2 agents',
    ]) {
      assert.ok(
        lines.some((l) => l.startsWith(expected)),
        `no line starting with "${expected}" in:\n${watched.stderr}`,
      );
    }
    assert.ok(!watched.stderr.includes('\u001b['), 'plain lines when stderr is not a terminal');
    assert.match(watched.stdout, /"watched"/);

    const failing = script(
      `watch-fail-${queue}`,
      `await agent('x [[mock:latency 500]] [[mock:reply x]]', { label: 'x' })\nthrow new Error('nope')`,
      `name: 'ux-watch-fail', description: 'fails'`,
    );
    await runWeft(['start', failing, '--id', `${queue}-fail`], { env });
    const watchedFail = await runWeft(['watch', `${queue}-fail`, '--json'], { env });
    assert.equal(watchedFail.code, 1, watchedFail.stderr);
    assert.equal((watchedFail.json as { status: string }).status, 'failed');
    const unknown = await runWeft(['watch', `${queue}-nope`], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no run with id/);
  });
});

void describe('readable Web UI data', () => {
  test('S503 type is meta.name, summary from meta.description, details carry args, each agent activity is summarised by its label, current details hold the phase tree', async () => {
    const queue = uniqueName('ux-meta');
    const client = await clientFor(queue);
    await workerFor(client, queue);
    const file = script(
      `meta-${queue}`,
      `phase('Survey')
await agent('look [[mock:reply seen]]', { label: 'surveyor' })
await agent('wait [[mock:hang]]', { label: 'hanger', phase: 'Wait' })`,
      `name: 'ux-readable', description: 'A run a person can read in the Web UI', phases: [{ title: 'Survey' }, { title: 'Wait' }]`,
    );
    const run = await client.startRun(await compileScriptFile(file), {
      args: { topic: 'heat pumps' },
      runId: `${queue}-1`,
    });
    await until(async () => runningAgent(await client.tryProgress(run.runId), 'hanger'), 'the hanger to run');
    const handle = client.temporal.workflow.getHandle(run.runId);
    const description = await handle.describe();
    assert.equal(description.type, 'ux-readable');
    assert.equal(await description.staticSummary(), 'A run a person can read in the Web UI');
    assert.match((await description.staticDetails()) ?? '', /args: \{"topic":"heat pumps"\}/);

    const history = await handle.fetchHistory();
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent')
      .map((e) =>
        e.userMetadata?.summary ? defaultPayloadConverter.fromPayload(e.userMetadata.summary) : null,
      );
    assert.deepEqual(summaries, ['surveyor', 'hanger']);

    // The Web UI reads the current details through the built-in metadata query.
    const metadata = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    assert.match(metadata.currentDetails ?? '', /\*\*ux-readable\*\*/);
    assert.match(metadata.currentDetails ?? '', /Survey: 1 done/);
    assert.match(metadata.currentDetails ?? '', /Wait: 0 done, 1 running/);
    await run.stop();
  });

  test('S503 weft search attributes are registered and `weft list --phase` filters by them', async () => {
    const queue = uniqueName('ux-attrs');
    const env = weftEnv({ taskQueue: queue });
    const client = await clientFor(queue);
    await client.registerSearchAttributes();
    assert.deepEqual(await client.missingSearchAttributes(), []);
    assert.deepEqual(Object.keys(WEFT_SEARCH_ATTRIBUTES).sort(), [
      'WeftAgents',
      'WeftCostUsd',
      'WeftDryRun',
      'WeftFailedAgents',
      'WeftOutputTokens',
      'WeftPhase',
    ]);
    // Runs publish these as they go (the interpreter upserts them); here a run on a queue no worker
    // polls carries them from its start, so only the listing side is under test.
    const start = (id: string, phase: string) =>
      client.temporal.workflow.start('ux-attrs', {
        taskQueue: queue,
        workflowId: id,
        args: [],
        typedSearchAttributes: [
          { key: WEFT_PHASE, value: phase },
          { key: WEFT_AGENTS, value: 7 },
          { key: WEFT_OUTPUT_TOKENS, value: 1234 },
        ],
      });
    const verify = await start(`${queue}-verify`, 'Verify');
    const scope = await start(`${queue}-scope`, 'Scope');
    try {
      const rows = await until(async () => {
        const res = await runWeft(['list', '--phase', 'Verify', '--json'], { env });
        const list = res.json as RunListEntry[] | undefined;
        return list && list.length > 0 ? list : null;
      }, 'visibility to index the phase');
      assert.deepEqual(
        rows.map((r) => r.runId),
        [`${queue}-verify`],
      );
      assert.equal(rows[0]?.phase, 'Verify');
      assert.equal(rows[0]?.agents, 7, 'without a worker to query, the count comes from the attributes');
      assert.equal(rows[0]?.usage?.outputTokens, 1234);
      const raw = (await runWeft(['list', '--query', 'WeftAgents >= 7', '--json'], { env }))
        .json as RunListEntry[];
      assert.equal(raw.length, 2);
    } finally {
      await verify.terminate('test over');
      await scope.terminate('test over');
    }
  });
});

void describe('client API', () => {
  test('S501 S302 client API: a run as an async iterator of seed 000 events, then its result', async () => {
    const queue = uniqueName('ux-events');
    const client = await clientFor(queue);
    await workerFor(client, queue);
    const file = script(
      `events-${queue}`,
      `phase('Plan')
await agent('plan [[mock:latency 400]] [[mock:reply p]]', { label: 'planner' })
log('fan out')
const r = await parallel([1, 2].map((i) => () => agent('work ' + i + ' [[mock:latency 300]]', { label: 'worker-' + i, phase: 'Work' })))
const bad = await agent('bad [[mock:error 400 always]]', { label: 'bad', phase: 'Work' })
return r.length`,
      `name: 'ux-events', description: 'events', phases: [{ title: 'Plan', detail: 'one planner' }, { title: 'Work' }]`,
    );
    const run = await client.startRun(await compileScriptFile(file), { runId: `${queue}-1` });
    const events: RunEvent[] = [];
    for await (const event of run.events({ intervalMs: 100 })) events.push(event);
    const names = events.map((e) => e.type);
    assert.equal(names[0], 'workflow_started');
    assert.equal(names.at(-1), 'workflow_completed');
    const taskEvents = (label: string) =>
      events.filter((e) => 'task' in e && e.task.label === label).map((e) => e.type);
    assert.deepEqual(taskEvents('planner'), ['workflow_task_started', 'workflow_task_completed']);
    assert.deepEqual(taskEvents('worker-1'), ['workflow_task_started', 'workflow_task_completed']);
    assert.deepEqual(taskEvents('worker-2'), ['workflow_task_started', 'workflow_task_completed']);
    assert.deepEqual(taskEvents('bad'), ['workflow_task_started', 'workflow_task_failed']);
    const phases = events
      .filter((e) => e.type === 'workflow_phase_started' || e.type === 'workflow_phase_completed')
      .map((e) => `${e.type}:${'phase' in e ? e.phase.key : ''}`);
    assert.deepEqual(phases, [
      'workflow_phase_started:Plan',
      'workflow_phase_completed:Plan',
      'workflow_phase_started:Work',
      'workflow_phase_completed:Work',
    ]);
    const planStarted = events.find((e) => e.type === 'workflow_phase_started');
    assert.ok(planStarted?.type === 'workflow_phase_started');
    assert.equal(planStarted.phase.detail, 'one planner');
    assert.ok(events.some((e) => e.type === 'workflow_log' && e.log.message === 'fan out'));
    // Times come from the workflow's clock and never go backwards.
    for (let i = 1; i < events.length; i++) {
      assert.ok((events[i]?.at ?? 0) >= (events[i - 1]?.at ?? 0), `event ${i} goes back in time`);
    }
    const last = events.at(-1);
    assert.ok(last?.type === 'workflow_completed');
    assert.equal(last.end.result, 2);
    const summary = await run.result();
    assert.equal(summary.status, 'completed');
    assert.equal(summary.agents, 4);
  });

  test('S306 S501 client API: attach to a running run, stop it, and the events end with workflow_failed', async () => {
    const queue = uniqueName('ux-attach');
    const client = await clientFor(queue);
    await workerFor(client, queue);
    const file = script(
      `attach-${queue}`,
      `await agent('wait [[mock:hang]]', { label: 'hanger' })`,
      `name: 'ux-attach', description: 'attach'`,
    );
    const runId = await client.start(await compileScriptFile(file), { runId: `${queue}-1` });
    // Another client attaches to it by id, as a program started elsewhere would.
    const other = await clientFor(queue);
    const run = other.attach(runId);
    const seen: string[] = [];
    for await (const event of run.events({ intervalMs: 100 })) {
      seen.push(event.type);
      if (event.type === 'workflow_task_started') await run.stop();
    }
    assert.deepEqual(seen, [
      'workflow_started',
      'workflow_phase_started',
      'workflow_task_started',
      'workflow_task_completed',
      'workflow_phase_completed',
      'workflow_failed',
    ]);
    const summary = await run.result();
    assert.equal(summary.status, 'cancelled');
    const details = await run.details();
    assert.equal(details.agents[0]?.status, 'skipped');
    assert.equal(details.agents[0]?.label, 'hanger');
  });
});
