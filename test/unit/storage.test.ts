import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultPayloadConverter, StorageDriverClaim } from '@temporalio/common';
import type { Payload, StorageDriver } from '@temporalio/common';
import { ExternalStorageRunner, isReferencePayload } from '@temporalio/common/lib/internal-non-workflow';
import { loadConfig } from '../../src/config';
import { ConfigError } from '../../src/errors';
import {
  createDataConverter,
  DEFAULT_PAYLOAD_THRESHOLD,
  externalStorageProblem,
  payloadStorageFromEnv,
} from '../../src/storage/data-converter';
import { FileSystemStorageDriver, FS_DRIVER_NAME } from '../../src/storage/fs-storage-driver';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-storage-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

function payloadOf(value: unknown): Payload {
  return defaultPayloadConverter.toPayload(value);
}

void test('S212 Temporal external storage works in this install (one protobufjs for the SDK)', () => {
  assert.equal(externalStorageProblem(), null);
});

void test('S212 fs driver: stores content-addressed, dedupes, and gives back the same payload', async (t) => {
  const dir = await tempDir(t);
  const driver = new FileSystemStorageDriver({ dir });
  const big = payloadOf({ output: 'x'.repeat(300_000) });
  const other = payloadOf({ output: 'y'.repeat(300_000) });
  const claims = await driver.store({}, [big, other, big]);
  assert.equal(claims.length, 3);
  assert.deepEqual(claims[0]?.claimData, claims[2]?.claimData, 'same bytes, same claim');
  assert.notEqual(claims[0]?.claimData.sha256, claims[1]?.claimData.sha256);
  const files = await filesUnder(dir);
  assert.equal(files.length, 2, `one file per distinct payload, no temp files left: ${files.join(', ')}`);
  assert.ok(files.every((f) => f.startsWith(path.join(dir, 'sha256'))));

  const back = await driver.retrieve({}, claims);
  assert.deepEqual(defaultPayloadConverter.fromPayload(back[0]!), { output: 'x'.repeat(300_000) });
  assert.deepEqual(defaultPayloadConverter.fromPayload(back[1]!), { output: 'y'.repeat(300_000) });
  // Storing again is idempotent: nothing new is written, but the file's time is renewed, so the
  // garbage collector's grace period counts from the newest store.
  const old = new Date(Date.now() - 86_400_000);
  for (const file of files) await utimes(file, old, old);
  await driver.store({}, [big]);
  assert.equal((await filesUnder(dir)).length, 2);
  const times = await Promise.all(files.map(async (f) => (await stat(f)).mtimeMs));
  assert.equal(times.filter((m) => m > old.getTime() + 60_000).length, 1, 'only the stored one is renewed');
});

void test('S212 fs driver: a missing or corrupt payload is a clear error, not garbage', async (t) => {
  const dir = await tempDir(t);
  const driver = new FileSystemStorageDriver({ dir });
  const [claim] = await driver.store({}, [payloadOf('z'.repeat(1000))]);
  assert.ok(claim);
  const file = driver.pathOf(claim.claimData.sha256 ?? '');
  await writeFile(file, Buffer.concat([await readFile(file), Buffer.from('tampered')]));
  await assert.rejects(
    driver.retrieve({}, [claim]),
    (err: Error) => err instanceof ConfigError && /corrupt/.test(err.message),
  );

  const elsewhere = new FileSystemStorageDriver({ dir: path.join(dir, 'other') });
  await assert.rejects(
    elsewhere.retrieve({}, [claim]),
    (err: Error) =>
      err instanceof ConfigError && /not in the payload store .*WEFT_PAYLOAD_DIR/.test(err.message),
  );
  await assert.rejects(
    driver.retrieve({}, [new StorageDriverClaim({ sha256: '../../etc/passwd' })]),
    /no valid sha256 claim/,
  );
});

void test('S212 data converter: payloads from the threshold up leave history, smaller ones stay inline', async (t) => {
  const dir = await tempDir(t);
  const converter = createDataConverter({ dir, thresholdBytes: 1024 });
  const storage = converter.externalStorage;
  assert.ok(storage, externalStorageProblem() ?? 'createDataConverter gave no external storage');
  const runner = new ExternalStorageRunner(storage);
  const small = payloadOf('s'.repeat(100));
  const large = payloadOf('L'.repeat(5000));
  const stored = await runner.store([small, large]);
  assert.equal(stored[0], small, 'a small payload is left as it is');
  assert.ok(isReferencePayload(stored[1]!), 'a large payload is replaced by a reference');
  assert.ok((stored[1]?.data?.length ?? 0) < 500, 'the reference is small');
  const back = await runner.retrieve(stored);
  assert.equal(defaultPayloadConverter.fromPayload(back[1]!), 'L'.repeat(5000));
  assert.equal(defaultPayloadConverter.fromPayload(back[0]!), 's'.repeat(100));

  assert.equal(createDataConverter({ dir }).externalStorage?.payloadSizeThreshold, DEFAULT_PAYLOAD_THRESHOLD);
  assert.deepEqual(createDataConverter({ dir: null }), {}, 'no store: the SDK default');
});

void test('S212 data converter: a plugged-in driver stores new payloads, the local store still reads old ones', async (t) => {
  const dir = await tempDir(t);
  const memory = new Map<string, Payload>();
  const remote: StorageDriver = {
    name: 'memory',
    type: 'test.memory',
    store: async (_ctx, payloads) =>
      payloads.map((p) => {
        const key = `k${memory.size}`;
        memory.set(key, p);
        return new StorageDriverClaim({ key });
      }),
    retrieve: async (_ctx, claims) => claims.map((c) => memory.get(c.claimData.key ?? '') as Payload),
  };
  assert.equal(externalStorageProblem(), null);
  const before = new ExternalStorageRunner(createDataConverter({ dir, thresholdBytes: 10 }).externalStorage!);
  const old = await before.store([payloadOf('old payload, stored on disk')]);

  const after = new ExternalStorageRunner(
    createDataConverter({ dir, driver: remote, thresholdBytes: 10 }).externalStorage!,
  );
  const fresh = await after.store([payloadOf('new payload, stored remotely')]);
  assert.equal(memory.size, 1, 'new payloads go to the plugged-in driver');
  const back = await after.retrieve([...old, ...fresh]);
  assert.deepEqual(
    back.map((p) => defaultPayloadConverter.fromPayload(p)),
    ['old payload, stored on disk', 'new payload, stored remotely'],
  );
  assert.throws(() => createDataConverter({ dir, driver: { ...remote, name: FS_DRIVER_NAME } }), /reserved/);
});

void test('S212 payload store location and settings come from the environment', async (t) => {
  const dir = await tempDir(t);
  const cwd = path.join(dir, 'project');
  const home = path.join(dir, 'home');
  const embedded = payloadStorageFromEnv({ WEFT_HOME: home }, loadConfig({ WEFT_HOME: home }, cwd), cwd);
  assert.equal(embedded.dir, path.join(home, '.weft', 'payloads'), 'one store per user, whatever the server');
  assert.equal(embedded.driver, undefined);
  assert.equal(embedded.thresholdBytes, undefined);

  const remoteEnv = { WEFT_HOME: home, TEMPORAL_ADDRESS: 'temporal.example:7233' };
  const remote = payloadStorageFromEnv(remoteEnv, loadConfig(remoteEnv, cwd), cwd);
  assert.equal(remote.dir, embedded.dir, 'clients of a remote server and workers of the embedded one agree');

  const driverFile = path.join(dir, 'driver.js');
  await writeFile(
    driverFile,
    `exports.createStorageDriver = (env) => ({ name: 'custom-' + env.BUCKET, type: 't', store: async () => [], retrieve: async () => [] });\n`,
  );
  const env = {
    WEFT_PAYLOAD_DIR: 'blobs',
    WEFT_PAYLOAD_THRESHOLD: '64k',
    WEFT_PAYLOAD_DRIVER: driverFile,
    BUCKET: 'b1',
  };
  const custom = payloadStorageFromEnv(env, loadConfig(env, cwd), cwd);
  assert.equal(custom.dir, path.join(cwd, 'blobs'));
  assert.equal(custom.thresholdBytes, 64 * 1024);
  assert.equal(custom.driver?.name, 'custom-b1');

  assert.throws(
    () => payloadStorageFromEnv({ WEFT_PAYLOAD_THRESHOLD: 'lots' }, loadConfig({}, cwd), cwd),
    (err: Error) => err instanceof ConfigError && /WEFT_PAYLOAD_THRESHOLD/.test(err.message),
  );
  const badDriver = path.join(dir, 'bad.js');
  await writeFile(badDriver, 'exports.nothing = 1;\n');
  assert.throws(
    () => payloadStorageFromEnv({ WEFT_PAYLOAD_DRIVER: badDriver }, loadConfig({}, cwd), cwd),
    /must export a createStorageDriver/,
  );
});
