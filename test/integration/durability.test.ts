import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { WeftClient } from '../../src/client/weft-client';
import { loadConfig } from '../../src/config';
import { startDevServer, stopDevServer } from '../../src/dev-server/dev-server';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel, MockRequestLog } from '../../src/mock-model/server';
import { createDataConverter } from '../../src/storage/data-converter';
import type { AgentRequest } from '../../src/types';
import { ROOT, runWeft, spawnWorker, temporalAddress, uniqueName, weftEnv } from '../helpers/harness';
import type { WorkerProcess } from '../helpers/harness';

/**
 * Crash recovery (S303, S304): workers are real `weft worker` processes killed with SIGKILL at
 * points found from the model server's request log and the run's history, never by timing; the
 * dev server is stopped and started again under a live run. Each run must end with the result of
 * an uncrashed run, and no agent whose activity completed may reach the model twice.
 */

const SCRIPT = path.join(ROOT, 'test', 'fixtures', 'durability', 'crash-course.js');
/** Model latency of every agent: long enough to be caught in flight, short enough for the suite. */
const LATENCY_MS = 1500;
/** Agents at once: half the fan-out, so a kill mid fan-out leaves agents in flight and queued. */
const CONCURRENCY = 4;
const FAN_OUT = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((x) => `fan-${x}`);
const ALL_TAGS = ['first', 'second', ...FAN_OUT, 'synth'];

let client: WeftClient;
let payloadDir: string;
/** What an uncrashed run of the script returns. */
let reference: { result: unknown; requests: number };

before(async () => {
  payloadDir = await mkdtemp(path.join(os.tmpdir(), 'weft-durability-payloads-'));
  client = await WeftClient.connect({
    config: { ...loadConfig(), address: temporalAddress() },
    dataConverter: createDataConverter({ dir: payloadDir }),
  });
  // The reference: the same script and args, run once with nobody killing anything.
  const mock = await startMockModel();
  try {
    const queue = uniqueName('durability-ref');
    const res = await runWeft(
      [
        'run',
        SCRIPT,
        '--json',
        '--id',
        queue,
        '--concurrency',
        String(CONCURRENCY),
        '--args',
        JSON.stringify(runArgs()),
      ],
      { env: env(mock, queue) },
    );
    assert.equal(res.code, 0, res.stderr);
    const out = res.json as { status: string; result: unknown };
    assert.equal(out.status, 'completed');
    assert.deepEqual(countByTag(mock.requests), new Map(ALL_TAGS.map((t) => [t, 1])));
    reference = { result: out.result, requests: mock.requests.length };
  } finally {
    await mock.close();
  }
});
after(async () => {
  await client?.close();
  await rm(payloadDir, { recursive: true, force: true });
});

function runArgs(): Record<string, unknown> {
  return { latency: LATENCY_MS };
}

function env(mock: MockModel, queue: string, address?: string): NodeJS.ProcessEnv {
  return weftEnv({
    modelUrl: mock.url,
    taskQueue: queue,
    extra: { WEFT_PAYLOAD_DIR: payloadDir, ...(address ? { TEMPORAL_ADDRESS: address } : {}) },
  });
}

/** The agent a request belongs to, from the `[cc:TAG]` its prompt starts with. */
function tagOf(request: MockRequestLog): string {
  const match = /^\[cc:([\w-]+)\]/.exec(request.prompt);
  assert.ok(match, `untagged request: ${request.prompt.slice(0, 80)}`);
  return match[1] ?? '';
}

function countByTag(requests: MockRequestLog[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of requests) counts.set(tagOf(r), (counts.get(tagOf(r)) ?? 0) + 1);
  return new Map([...counts].sort(([a], [b]) => ALL_TAGS.indexOf(a) - ALL_TAGS.indexOf(b)));
}

function pending(mock: MockModel, prefix = ''): MockRequestLog[] {
  return mock.requests.filter((r) => r.status === 0 && tagOf(r).startsWith(prefix));
}

function answered(mock: MockModel, prefix = ''): MockRequestLog[] {
  return mock.requests.filter((r) => r.status === 200 && tagOf(r).startsWith(prefix));
}

/** Polls `probe` every few milliseconds: kill points are found from state, never from sleeps. */
async function until<T>(
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string | (() => string),
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function sigkill(worker: WorkerProcess): Promise<void> {
  worker.child.kill('SIGKILL');
  assert.equal(await worker.exited, 'SIGKILL');
}

/** Starts a run with `weft start`, as a user submitting it to a pool of workers would. */
async function startRun(
  mock: MockModel,
  queue: string,
  options: { concurrency?: number; address?: string } = {},
): Promise<string> {
  const id = `${queue}-run`;
  const { concurrency = CONCURRENCY, address } = options;
  const res = await runWeft(
    [
      'start',
      SCRIPT,
      '--json',
      '--id',
      id,
      '--concurrency',
      String(concurrency),
      '--args',
      JSON.stringify(runArgs()),
    ],
    { env: env(mock, queue, address) },
  );
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(res.json, { runId: id });
  return id;
}

/** What a run's history says about its agent activities. */
interface AgentHistory {
  /** Agents (by label) whose activity completed. */
  completed: Set<string>;
  /** Worker identities that ran each completed agent. */
  identities: Map<string, string>;
  /** Agent labels by activity id. */
  labels: Map<string, string>;
  events: number;
}

async function agentHistory(temporal: WeftClient['temporal'], runId: string): Promise<AgentHistory> {
  const history = await temporal.workflow.getHandle(runId).fetchHistory();
  const byEvent = new Map<string, string>();
  const labels = new Map<string, string>();
  const startedBy = new Map<string, string>();
  const completed = new Set<string>();
  const identities = new Map<string, string>();
  for (const event of history.events ?? []) {
    const id = String(event.eventId);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'runAgent') {
      const request = defaultPayloadConverter.fromPayload<AgentRequest>(
        scheduled.input?.payloads?.[0] as Payload,
      );
      byEvent.set(id, request.label);
      labels.set(scheduled.activityId ?? '', request.label);
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) startedBy.set(String(started.scheduledEventId), started.identity ?? '');
    const done = event.activityTaskCompletedEventAttributes;
    const label = done ? byEvent.get(String(done.scheduledEventId)) : undefined;
    if (done && label) {
      completed.add(label);
      identities.set(label, startedBy.get(String(done.scheduledEventId)) ?? '');
    }
  }
  return { completed, identities, labels, events: history.events?.length ?? 0 };
}

const STARTED = proto.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

/**
 * Agents whose activity the server holds as started by this worker and not finished: what a kill
 * of that worker loses, until their heartbeat timeout hands them to another worker.
 */
async function startedOn(
  temporal: WeftClient['temporal'],
  runId: string,
  identity: string,
): Promise<Set<string>> {
  const { labels } = await agentHistory(temporal, runId);
  const { raw } = await temporal.workflow.getHandle(runId).describe();
  const started = new Set<string>();
  for (const activity of raw.pendingActivities ?? []) {
    if (activity.lastWorkerIdentity !== identity || activity.state !== STARTED) continue;
    const label = labels.get(activity.activityId ?? '');
    if (label) started.add(label);
  }
  return started;
}

/** The state of a run at the moment its worker was killed. */
interface KillPoint {
  /** Agents whose activity had completed (from history, read after the kill). */
  completed: Set<string>;
  /** Agents the model had been asked for before the kill. */
  asked: Set<string>;
  /** Agents whose model request was in flight. */
  inFlight: Set<string>;
  /** Agents the model had been asked for whose activity died with the killed worker. */
  lost: Set<string>;
  at: number;
}

async function killAndRecord(
  worker: WorkerProcess,
  mock: MockModel,
  temporal: WeftClient['temporal'],
  runId: string,
): Promise<KillPoint> {
  // Taken in the same tick as the kill: a request still unanswered now can never be answered.
  const inFlight = new Set(pending(mock).map(tagOf));
  await sigkill(worker);
  const at = Date.now();
  // Let the model server read any request the worker had sent before it died.
  await new Promise((r) => setTimeout(r, 100));
  const asked = new Set(mock.requests.map(tagOf));
  // A dead worker completes nothing more, so the history now holds exactly what survived it, and
  // the server still records as started on it exactly what died with it.
  const { completed } = await agentHistory(temporal, runId);
  const dead = await startedOn(temporal, runId, identityOf(worker));
  const lost = new Set([...asked].filter((tag) => dead.has(tag) && !completed.has(tag)));
  return { completed, asked, inFlight, lost, at };
}

/**
 * The checks every crash test makes: the run completed with the uncrashed run's result; no agent
 * whose activity completed before the kill was asked again; every agent whose model call was in
 * flight on the killed worker was asked exactly once more; every other agent exactly once.
 */
async function assertRecovered(
  t: TestContext,
  mock: MockModel,
  runId: string,
  kill: KillPoint,
  waiter: WeftClient = client,
): Promise<void> {
  const summary = await waiter.wait(runId);
  assert.equal(summary.status, 'completed', summary.error);
  assert.deepEqual(summary.result, reference.result);
  const counts = countByTag(mock.requests);
  assert.deepEqual([...counts.keys()].sort(), [...ALL_TAGS].sort());
  for (const tag of ALL_TAGS) {
    const asked = counts.get(tag);
    const why = `agent ${tag} asked ${asked} times (${describeKill(kill)})`;
    if (kill.lost.has(tag) && kill.inFlight.has(tag)) assert.equal(asked, 2, why);
    // Dispatched to the dead worker as it died: its request may or may not have got out.
    else if (kill.lost.has(tag)) assert.ok(asked === 1 || asked === 2, why);
    else assert.equal(asked, 1, why);
  }
  for (const tag of kill.completed)
    assert.equal(counts.get(tag), 1, `completed agent ${tag} was asked again`);
  const retried = mock.requests.find((r) => r.at > kill.at && kill.lost.has(tagOf(r)));
  t.diagnostic(
    `kill point: ${describeKill(kill)}; ` +
      (retried ? `first lost agent re-asked ${retried.at - kill.at} ms after the kill; ` : '') +
      `run took ${summary.durationMs} ms`,
  );
}

function describeKill(kill: KillPoint): string {
  const list = (s: Iterable<string>) => [...s].join(',') || 'none';
  return `completed [${list(kill.completed)}], in flight [${list(kill.inFlight)}], lost [${list(kill.lost)}], asked [${list(kill.asked)}]`;
}

function identityOf(worker: WorkerProcess): string {
  return `${worker.pid}@${os.hostname()}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function withMock(t: TestContext): Promise<MockModel> {
  const mock = await startMockModel();
  t.after(() => mock.close());
  return mock;
}

// The crash tests are independent runs on their own queues (and the restart test on its own
// server); running them side by side keeps the file within a few minutes although each agent lost
// with a worker waits out its 15 s heartbeat timeout.
describe('S303 S304 crash recovery', { concurrency: true }, () => {
  test('S303 killed during the first agent: a new worker finishes the run, only that agent is asked again', async (t) => {
    const mock = await withMock(t);
    const queue = uniqueName('kill-first');
    const worker = await spawnWorker(t, env(mock, queue));
    const runId = await startRun(mock, queue);
    await until(() => pending(mock, 'first').length === 1, 'the first agent in flight');
    const kill = await killAndRecord(worker, mock, client.temporal, runId);
    assert.deepEqual([...kill.inFlight], ['first']);
    assert.deepEqual([...kill.lost], ['first']);
    assert.equal(kill.completed.size, 0);
    await spawnWorker(t, env(mock, queue));
    await assertRecovered(t, mock, runId, kill);
  });

  test('S303 killed mid fan-out with several agents in flight: completed agents are never asked again', async (t) => {
    const mock = await withMock(t);
    const queue = uniqueName('kill-fanout');
    const worker = await spawnWorker(t, env(mock, queue));
    const runId = await startRun(mock, queue);
    // Four fan-out agents in flight, four queued, the survey agents done.
    await until(() => pending(mock, 'fan-').length === CONCURRENCY, 'four fan-out agents in flight');
    const kill = await killAndRecord(worker, mock, client.temporal, runId);
    assert.equal(kill.inFlight.size, CONCURRENCY);
    assert.deepEqual([...kill.lost].sort(), [...kill.inFlight].sort());
    assert.deepEqual([...kill.completed].sort(), ['first', 'second']);
    await spawnWorker(t, env(mock, queue));
    await assertRecovered(t, mock, runId, kill);
  });

  test('S303 killed as an agent completes: the recorded completion holds, the new worker goes on from it', async (t) => {
    const mock = await withMock(t);
    const queue = uniqueName('kill-done');
    const worker = await spawnWorker(t, env(mock, queue));
    const runId = await startRun(mock, queue);
    // The moment the second agent's completion is in history, before the workflow has acted on it
    // or just after: either way that agent's work must survive the kill.
    await until(
      async () => (await agentHistory(client.temporal, runId)).completed.has('second'),
      'the second agent completed',
      60_000,
    );
    const kill = await killAndRecord(worker, mock, client.temporal, runId);
    assert.ok(kill.completed.has('second'));
    await spawnWorker(t, env(mock, queue));
    await assertRecovered(t, mock, runId, kill);
  });

  test('S303 S306 killed while the run is idle between phases (paused): nothing is lost or asked twice', async (t) => {
    const mock = await withMock(t);
    const queue = uniqueName('kill-idle');
    const worker = await spawnWorker(t, env(mock, queue));
    const runId = await startRun(mock, queue);
    await until(() => pending(mock, 'second').length === 1, 'the second agent in flight');
    await client.pause(runId);
    // Idle: the survey phase is done and recorded, and the paused run admits no fan-out agent.
    await until(async () => {
      const progress = await client.progress(runId);
      const survey = progress.agents.filter((a) => a.phase === 'Survey');
      return (
        progress.state === 'paused' &&
        survey.length === 2 &&
        survey.every((a) => a.status === 'completed') &&
        progress.agents.every((a) => a.status !== 'running')
      );
    }, 'the run to go idle after the survey phase');
    const kill = await killAndRecord(worker, mock, client.temporal, runId);
    assert.deepEqual([...kill.completed].sort(), ['first', 'second']);
    assert.equal(kill.inFlight.size, 0);
    assert.equal(kill.lost.size, 0);
    await spawnWorker(t, env(mock, queue));
    await client.continue(runId);
    await assertRecovered(t, mock, runId, kill);
    assert.equal(mock.requests.length, reference.requests, 'no agent was asked twice');
  });

  test("S303 two weft workers share a run's agents; killing one mid fan-out loses nothing", async (t) => {
    const mock = await withMock(t);
    const queue = uniqueName('two-workers');
    // Two agents per worker at most, and all eight fan-out agents admitted at once: the queue holds
    // more agents than either worker may take, so both take some, in two waves.
    const a = await spawnWorker(t, env(mock, queue), ['--max-agents', '2']);
    const b = await spawnWorker(t, env(mock, queue), ['--max-agents', '2']);
    const runId = await startRun(mock, queue, { concurrency: 8 });
    let state = '';
    // Kill A once both workers have completed fan-out agents and A has one whose model call has
    // most of its latency ahead, so it cannot finish before the kill lands.
    await until(
      async () => {
        if (answered(mock, 'fan-').length === 0) return false;
        const { identities } = await agentHistory(client.temporal, runId);
        const who = new Set(
          [...identities].filter(([label]) => label.startsWith('fan-')).map(([, id]) => id),
        );
        const onA = await startedOn(client.temporal, runId, identityOf(a));
        const fresh = pending(mock, 'fan-').filter(
          (r) => onA.has(tagOf(r)) && Date.now() - r.at < LATENCY_MS / 2,
        );
        state = `fan-out agents completed by ${[...who].join(', ')}; on A (${identityOf(a)}): ${[...onA].join(',')}`;
        return who.has(identityOf(a)) && who.has(identityOf(b)) && fresh.length > 0;
      },
      () => `both workers to complete fan-out agents while A has one in flight (${state})`,
    );
    const kill = await killAndRecord(a, mock, client.temporal, runId);
    assert.ok(
      [...kill.lost].some((tag) => kill.inFlight.has(tag)),
      describeKill(kill),
    );
    await assertRecovered(t, mock, runId, kill);
    const { identities } = await agentHistory(client.temporal, runId);
    const ranBy = new Set(identities.values());
    assert.ok(
      ranBy.has(identityOf(a)) && ranBy.has(identityOf(b)),
      `both identities in history: ${[...ranBy].join(', ')}`,
    );
    assert.equal(identities.get('synth'), identityOf(b), 'the survivor finished the run');
    assert.equal(b.child.exitCode, null, 'the surviving worker is still running');
  });

  test('S304 the dev server restarts under a running run: the run completes, the same worker reconnects', async (t) => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'weft-restart-server-'));
    t.after(async () => {
      await stopDevServer(stateDir).catch(() => undefined);
      await rm(stateDir, { recursive: true, force: true });
    });
    const port = await freePort();
    const server = await startDevServer({ stateDir, port, headless: true });
    const mock = await withMock(t);
    const queue = uniqueName('restart');
    const own = await WeftClient.connect({
      config: { ...loadConfig(), address: server.address },
      dataConverter: createDataConverter({ dir: payloadDir }),
    });
    t.after(() => own.close());
    const worker = await spawnWorker(t, env(mock, queue, server.address));
    const runId = await startRun(mock, queue, { address: server.address });

    await until(() => pending(mock, 'fan-').length === CONCURRENCY, 'four fan-out agents in flight');
    const before = await agentHistory(own.temporal, runId);
    const asked = new Set(mock.requests.map(tagOf));
    const stopStarted = Date.now();
    assert.ok(await stopDevServer(stateDir));
    const downMs = Date.now() - stopStarted;
    // While the server is down, the agents in flight finish on the worker and try to report.
    await until(() => pending(mock, 'fan-').length === 0, 'the in-flight agents to answer');
    const restarted = await startDevServer({ stateDir, port, headless: true });
    assert.equal(restarted.dbFile, server.dbFile);
    const restartedAt = Date.now();

    const summary = await own.wait(runId);
    assert.equal(summary.status, 'completed', summary.error);
    assert.deepEqual(summary.result, reference.result);
    assert.equal(worker.child.exitCode, null, `the worker survived the outage: ${worker.stderr()}`);
    assert.equal(worker.child.signalCode, null);
    // The agents after the restart ran on that same worker process: it reconnected by itself.
    const after = await agentHistory(own.temporal, runId);
    assert.equal(after.identities.get('synth'), identityOf(worker));
    assert.deepEqual(new Set(after.identities.values()), new Set([identityOf(worker)]));
    const counts = countByTag(mock.requests);
    for (const tag of before.completed)
      assert.equal(counts.get(tag), 1, `completed agent ${tag} asked again`);
    for (const tag of ALL_TAGS) {
      assert.ok(
        (counts.get(tag) ?? 0) >= 1 && (counts.get(tag) ?? 0) <= (asked.has(tag) ? 2 : 1),
        `agent ${tag} asked ${counts.get(tag)} times`,
      );
    }
    const reasked = [...counts].filter(([, n]) => n > 1).map(([tag]) => tag);
    t.diagnostic(
      `server stop took ${downMs} ms; in flight at stop: ${[...asked].filter((x) => !before.completed.has(x)).join(',')}; ` +
        `agents asked again after the restart: ${reasked.join(',') || 'none'}; run completed ${Date.now() - restartedAt} ms after the restart`,
    );
  });
});
