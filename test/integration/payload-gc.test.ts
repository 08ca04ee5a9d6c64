import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDevServer, stopDevServer } from '../../src/dev-server/dev-server';
import { startMockModel } from '../../src/mock-model/server';
import { WEFT_SEARCH_ATTRIBUTES } from '../../src/search-attributes';
import type { MockModel } from '../../src/mock-model/server';
import { ROOT, runWeft, temporalAddress, uniqueName, weftEnv } from '../helpers/harness';

let model: MockModel;
before(async () => {
  model = await startMockModel();
});
after(async () => {
  await model?.close();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function storeFiles(dir: string): Promise<string[]> {
  const root = path.join(dir, 'sha256');
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const shard of await readdir(root)) {
    for (const name of await readdir(path.join(root, shard))) out.push(path.join(root, shard, name));
  }
  return out.sort();
}

async function plant(dir: string, name: string, ageMs: number): Promise<string> {
  const file = path.join(dir, 'sha256', name.slice(0, 2), name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, 'orphan');
  const when = new Date(Date.now() - ageMs);
  await utimes(file, when, when);
  return file;
}

interface GcJson {
  dir: string;
  runs: number;
  files: number;
  deleted: number;
  keptReferenced: number;
  keptYoung: number;
  keptForeign: number;
  keptUnowned: number;
  dryRun: boolean;
}

describe('payload store garbage collection', () => {
  test('S212 weft payloads gc deletes only unreferenced payloads older than the grace period', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-gc-payloads-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const queue = uniqueName('payload-gc');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue, extra: { WEFT_PAYLOAD_DIR: dir } });

    // 3 agents with 40 KB prompts and outputs: their payloads leave the history for the store.
    const runId = `${queue}-run`;
    const run = await runWeft(
      [
        'run',
        path.join(ROOT, 'test', 'fixtures', 'durability', 'big-fan-out.js'),
        '--json',
        '--id',
        runId,
        '--args',
        JSON.stringify({ agents: 3, size: 40_000 }),
      ],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    const stored = await storeFiles(dir);
    assert.ok(stored.length >= 6, `expected prompts and outputs in the store, found ${stored.length} files`);

    // Every stored file is made old, so only the references keep them.
    const old = new Date(Date.now() - 2 * 86_400_000);
    for (const file of stored) await utimes(file, old, old);
    const oldOrphan = await plant(dir, 'ab'.repeat(32), 2 * 86_400_000);
    const leftoverTmp = await plant(dir, `${'cd'.repeat(32)}.123.abcd.tmp`, 2 * 86_400_000);
    const youngOrphan = await plant(dir, 'ef'.repeat(32), 0);

    const dry = await runWeft(['payloads', 'gc', '--dry-run', '--json'], { env });
    assert.equal(dry.code, 0, dry.stderr);
    const dryReport = dry.json as GcJson;
    assert.equal(dryReport.dir, dir);
    assert.equal(dryReport.dryRun, true);
    assert.equal(dryReport.files, stored.length + 3);
    assert.equal(dryReport.keptYoung, 1);
    // The 3 prompts and 3 outputs are referenced by the history; the agents' heartbeat checkpoints
    // were stored too, but a completed activity's heartbeats are not in history: they are garbage.
    assert.ok(dryReport.keptReferenced >= 6, `kept ${dryReport.keptReferenced} referenced`);
    const garbage = stored.length - dryReport.keptReferenced;
    // The planted orphan records no owner, so it is kept unless --include-unowned says otherwise.
    assert.equal(dryReport.keptUnowned, 1);
    assert.equal(dryReport.deleted, garbage + 1);
    assert.ok(dryReport.runs >= 1);
    assert.ok(existsSync(oldOrphan) && existsSync(leftoverTmp), 'a dry run deletes nothing');
    assert.equal((await storeFiles(dir)).length, stored.length + 3);

    const gc = await runWeft(['payloads', 'gc', '--json', '--grace', '1h', '--include-unowned'], { env });
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal((gc.json as GcJson).deleted, garbage + 2);
    assert.equal(existsSync(oldOrphan), false);
    assert.equal(existsSync(leftoverTmp), false);
    assert.equal(existsSync(youngOrphan), true, 'younger than the grace period');
    const kept = await storeFiles(dir);
    assert.equal(kept.length, dryReport.keptReferenced + 1);

    // What the run needs is still there: its history replays through the store, and a resumed run
    // gets every agent's output back from it without asking the model.
    const replay = await runWeft(['replay', runId, '--json'], { env });
    assert.equal(replay.code, 0, replay.stderr);
    const asked = model.requests.length;
    const resumed = await runWeft(
      [
        'run',
        path.join(ROOT, 'test', 'fixtures', 'durability', 'big-fan-out.js'),
        '--json',
        '--id',
        `${runId}-resumed`,
        '--resume-from',
        runId,
        '--args',
        JSON.stringify({ agents: 3, size: 40_000 }),
      ],
      { env },
    );
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual((resumed.json as { result: unknown }).result, { agents: 3, size: 40_000, complete: 3 });
    assert.equal((resumed.json as { cached?: number }).cached, 3);
    assert.equal(model.requests.length, asked, 'every agent was served from the resumed run');
  });

  test('S212 two servers and two namespaces share one store: gc on one never deletes what the others need; files 600, folders 700', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-gc-shared-'));
    const stateB = await mkdtemp(path.join(os.tmpdir(), 'weft-gc-server-b-'));
    t.after(async () => {
      await stopDevServer(stateB).catch(() => {});
      await rm(stateB, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    });
    // A second, independent dev server with its own database, and a second namespace on it.
    const serverB = await startDevServer({
      stateDir: stateB,
      port: await freePort(),
      headless: true,
      namespace: 'second',
      searchAttributes: WEFT_SEARCH_ATTRIBUTES,
    });
    const queue = uniqueName('payload-gc-shared');
    const fixture = path.join(ROOT, 'test', 'fixtures', 'durability', 'big-fan-out.js');
    const envA = weftEnv({ modelUrl: model.url, taskQueue: queue, extra: { WEFT_PAYLOAD_DIR: dir } });
    const envB = { ...envA, TEMPORAL_ADDRESS: serverB.address, TEMPORAL_NAMESPACE: 'second' };
    const envBDefault = { ...envA, TEMPORAL_ADDRESS: serverB.address };
    const runOn = (env: NodeJS.ProcessEnv, id: string, size: number) =>
      runWeft(['run', fixture, '--json', '--id', id, '--args', JSON.stringify({ agents: 2, size })], { env });

    const runA = await runOn(envA, `${queue}-a`, 30_000);
    assert.equal(runA.code, 0, runA.stderr);
    const afterA = new Set(await storeFiles(dir));
    const runB = await runOn(envB, `${queue}-b`, 31_000);
    assert.equal(runB.code, 0, runB.stderr);
    const filesB = (await storeFiles(dir)).filter((f) => !afterA.has(f));
    assert.ok(filesB.length >= 4, `server B's run stored its prompts and outputs: ${filesB.length} files`);

    // Nothing in the store is readable by other users.
    for (const file of await storeFiles(dir)) {
      assert.equal((await stat(file)).mode & 0o777, 0o600, `${file} is private`);
      assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700, `${path.dirname(file)} is private`);
    }
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(dir, 'sha256'))).mode & 0o777, 0o700);

    // All old: only references and owners keep them now.
    const old = new Date(Date.now() - 2 * 86_400_000);
    for (const file of await storeFiles(dir)) await utimes(file, old, old);

    // gc on server A, and on server B's default namespace: neither has any business with B/second.
    const gcA = await runWeft(['payloads', 'gc', '--json'], { env: envA });
    assert.equal(gcA.code, 0, gcA.stderr);
    const gcBDefault = await runWeft(['payloads', 'gc', '--json'], { env: envBDefault });
    assert.equal(gcBDefault.code, 0, gcBDefault.stderr);
    assert.equal((gcBDefault.json as GcJson).deleted, 0, 'B/default owns nothing in the store');
    for (const file of filesB) assert.ok(existsSync(file), `${file} of server B's run survives gc elsewhere`);
    const reportA = gcA.json as GcJson;
    assert.equal(reportA.keptForeign, filesB.length, `B's files are kept as another server's: ${gcA.stdout}`);
    assert.equal(reportA.keptUnowned, 0);
    assert.ok(
      reportA.deleted >= 1,
      `A's own garbage (its agents' heartbeat checkpoints) goes: ${gcA.stdout}`,
    );

    // Server B's run is intact: it replays and resumes from the store.
    const replayB = await runWeft(['replay', `${queue}-b`, '--json'], { env: envB });
    assert.equal(replayB.code, 0, replayB.stderr);
    const resumedB = await runWeft(
      [
        'run',
        fixture,
        '--json',
        '--id',
        `${queue}-b2`,
        '--resume-from',
        `${queue}-b`,
        '--args',
        JSON.stringify({ agents: 2, size: 31_000 }),
      ],
      { env: envB },
    );
    assert.equal(resumedB.code, 0, resumedB.stderr);
    assert.equal((resumedB.json as { cached?: number }).cached, 2);
    // And server A's own run still replays after A's gc.
    const replayA = await runWeft(['replay', `${queue}-a`, '--json'], { env: envA });
    assert.equal(replayA.code, 0, replayA.stderr);
    assert.ok(temporalAddress() !== serverB.address);
  });

  test('S212 weft payloads gc refuses a bad --grace with one line and exit 2', async () => {
    const env = weftEnv({ taskQueue: uniqueName('payload-gc-bad') });
    const res = await runWeft(['payloads', 'gc', '--grace', 'soon'], { env });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /expected a duration/);
  });
});
