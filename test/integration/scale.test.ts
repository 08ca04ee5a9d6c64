import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { temporal as proto } from '@temporalio/proto';
import { WeftClient } from '../../src/client/weft-client';
import { loadConfig } from '../../src/config';
import { startMockModel } from '../../src/mock-model/server';
import { createDataConverter, externalStorageProblem } from '../../src/storage/data-converter';
import { ROOT, WEFT_BIN, runWeft, temporalAddress, uniqueName, weftEnv } from '../helpers/harness';

/** Temporal's limits (server defaults), which one run of weft must stay under. */
const MAX_PAYLOAD_BYTES = 2 * 1024 * 1024;
const MAX_HISTORY_BYTES = 50 * 1024 * 1024;
const MAX_HISTORY_EVENTS = 51_200;

const AGENTS = 1000;
const OUTPUT_BYTES = 200_000;

async function storeUsage(dir: string): Promise<{ files: number; bytes: number }> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

void test(
  'S212 1000 agents x 200 KB outputs complete within Temporal payload and history limits',
  { timeout: 300_000 },
  async (t) => {
    assert.equal(externalStorageProblem(), null);
    const payloadDir = await mkdtemp(path.join(os.tmpdir(), 'weft-scale-payloads-'));
    t.after(() => rm(payloadDir, { recursive: true, force: true }));
    const mock = await startMockModel({ latencyMs: 0 });
    t.after(() => mock.close());
    const client = await WeftClient.connect({
      config: { ...loadConfig(), address: temporalAddress() },
      dataConverter: createDataConverter({ dir: payloadDir }),
    });
    t.after(() => client.close());

    const queue = uniqueName('scale');
    const env = weftEnv({ modelUrl: mock.url, taskQueue: queue, extra: { WEFT_PAYLOAD_DIR: payloadDir } });
    const worker = spawn(process.execPath, [WEFT_BIN, 'worker'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let workerLog = '';
    worker.stderr.on('data', (d: Buffer) => (workerLog += d.toString()));
    t.after(() => {
      if (worker.exitCode === null) worker.kill('SIGKILL');
    });

    const started = Date.now();
    const runId = `${queue}-run`;
    const start = await runWeft(
      [
        'start',
        path.join(ROOT, 'test', 'fixtures', 'durability', 'big-fan-out.js'),
        '--json',
        '--id',
        runId,
        '--concurrency',
        '16',
        '--args',
        JSON.stringify({ agents: AGENTS, size: OUTPUT_BYTES }),
      ],
      { env },
    );
    assert.equal(start.code, 0, start.stderr);

    // Mid-run, the progress query (every agent's record) must come back through the payload store.
    const midRun = await (async () => {
      for (;;) {
        const progress = await client.progress(runId).catch(() => null);
        if (progress && progress.agents.filter((a) => a.status === 'completed').length >= AGENTS / 2)
          return progress;
        if (worker.exitCode !== null) assert.fail(`worker exited: ${workerLog}`);
        await new Promise((r) => setTimeout(r, 3000));
      }
    })();
    assert.equal(midRun.agents.length, AGENTS);

    const summary = await client.wait(runId);
    const durationMs = Date.now() - started;
    assert.equal(summary.status, 'completed', `${summary.error ?? ''}\n${workerLog}`);
    assert.deepEqual(summary.result, { agents: AGENTS, size: OUTPUT_BYTES, complete: AGENTS });
    const output = summary.output;
    assert.ok(output);
    assert.equal(output.agents, AGENTS);
    assert.equal(output.records.filter((r) => r.status === 'completed').length, AGENTS);
    assert.equal(mock.requests.length, AGENTS, 'each agent asked the model once');
    assert.equal(new Set(mock.requests.map((r) => r.prompt)).size, AGENTS);

    const history = await client.temporal.workflow.getHandle(runId).fetchHistory();
    const events = history.events ?? [];
    const historyBytes = proto.api.history.v1.History.encode(history).finish().length;
    let largestEvent = 0;
    for (const event of events) {
      largestEvent = Math.max(largestEvent, proto.api.history.v1.HistoryEvent.encode(event).finish().length);
    }
    const counts = new Map<string, number>();
    for (const event of events) {
      const type = proto.api.enums.v1.EventType[event.eventType ?? 0] ?? 'unknown';
      counts.set(type, (counts.get(type) ?? 0) + 1);
    }
    // Measured mid-run: a query after the end would replay all 3,000+ events inside one activation,
    // which under a loaded suite can pass the SDK's fixed 5 s activation limit. The run output
    // carries the same records, all completed, so its size bounds the final progress too.
    const progressBytes = Buffer.byteLength(JSON.stringify(midRun));
    const outputBytes = Buffer.byteLength(JSON.stringify(output));
    const store = await storeUsage(payloadDir);

    t.diagnostic(
      `${AGENTS} agents x ${OUTPUT_BYTES} B in ${durationMs} ms; history: ${events.length} events, ${mb(historyBytes)}, ` +
        `largest event ${largestEvent} B; workflow tasks: ${counts.get('EVENT_TYPE_WORKFLOW_TASK_COMPLETED') ?? 0}; ` +
        `progress query ${mb(progressBytes)}, run output ${mb(outputBytes)}; payload store ${store.files} files, ${mb(store.bytes)}`,
    );
    assert.ok(events.length < MAX_HISTORY_EVENTS, `${events.length} events`);
    assert.ok(historyBytes < MAX_HISTORY_BYTES / 10, `history is ${mb(historyBytes)}`);
    // Every prompt and output left the history: no event comes near one agent's payload.
    assert.ok(largestEvent < 64 * 1024, `largest event ${largestEvent} B`);
    assert.ok(
      store.files >= 2 * AGENTS,
      `every prompt and every output is in the store (${store.files} files)`,
    );
    // The records of 1000 agents (prompts cut to 500 characters) must fit one payload even inline.
    assert.ok(progressBytes < MAX_PAYLOAD_BYTES, `progress query is ${mb(progressBytes)}`);
    assert.ok(outputBytes < MAX_PAYLOAD_BYTES, `run output is ${mb(outputBytes)}`);
    assert.equal(worker.exitCode, null, workerLog);
  },
);

void test('S212 S305 S307 S502 a run whose payloads are in the store can be shown, replayed and resumed', async (t) => {
  assert.equal(externalStorageProblem(), null);
  const payloadDir = await mkdtemp(path.join(os.tmpdir(), 'weft-stored-payloads-'));
  t.after(() => rm(payloadDir, { recursive: true, force: true }));
  const mock = await startMockModel();
  t.after(() => mock.close());
  const queue = uniqueName('stored');
  const env = weftEnv({ modelUrl: mock.url, taskQueue: queue, extra: { WEFT_PAYLOAD_DIR: payloadDir } });
  const script = path.join(ROOT, 'test', 'fixtures', 'durability', 'big-fan-out.js');
  // 30 KB prompts and outputs: over the 16 KiB threshold, so history holds only references.
  const args = JSON.stringify({ agents: 2, size: 30_000 });
  const first = await runWeft(['run', script, '--json', '--id', `${queue}-a`, '--args', args], { env });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual((first.json as { result: unknown }).result, { agents: 2, size: 30_000, complete: 2 });
  assert.ok((await storeUsage(payloadDir)).files >= 4, 'prompts and outputs went to the store');

  const show = await runWeft(['show', `${queue}-a`, '--json'], { env });
  assert.equal(show.code, 0, show.stderr);
  const replay = await runWeft(['replay', `${queue}-a`, '--json'], { env });
  assert.equal(replay.code, 0, replay.stderr);
  assert.equal((replay.json as { ok: boolean }).ok, true, replay.stdout);
  const resumed = await runWeft(
    ['run', script, '--json', '--id', `${queue}-b`, '--resume-from', `${queue}-a`, '--args', args],
    { env },
  );
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal((resumed.json as { cached?: number }).cached, 2, resumed.stdout);
  assert.equal(mock.requests.length, 2, 'the resumed run asked the model nothing');
});
