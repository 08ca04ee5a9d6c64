/**
 * The dev-server manager against a real `temporal server start-dev` (no mocks). Every test uses its
 * own temp state folder and OS-assigned ports, so it never touches a developer's server on 7233.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import {
  devServerStatus,
  ensureDevServer,
  findTemporalCli,
  startDevServer,
  stopDevServer,
  temporalCliCachePath,
  TEMPORAL_CLI_VERSION,
} from '../../src/dev-server';
import { ConfigError } from '../../src/errors';

const execFileAsync = promisify(execFile);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

const stateDirs: string[] = [];
async function tempStateDir(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'weft-dev-server-'));
  stateDirs.push(dir);
  return path.join(dir, '.weft');
}

after(async () => {
  // Never leave a detached server behind, whatever failed.
  for (const dir of stateDirs) {
    await stopDevServer(path.join(dir, '.weft')).catch(() => undefined);
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

void describe('findTemporalCli', () => {
  void test('TEMPORAL_CLI_PATH pointing at a missing file is a clear one-line ConfigError', async () => {
    await withEnv({ TEMPORAL_CLI_PATH: '/nonexistent/temporal' }, async () => {
      await assert.rejects(findTemporalCli(), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(
          err.message,
          /TEMPORAL_CLI_PATH is set to "\/nonexistent\/temporal", which is not an executable/,
        );
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    });
  });

  void test('TEMPORAL_CLI_PATH pointing at a non-executable file is refused too', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'weft-cli-'));
    try {
      const file = path.join(dir, 'temporal');
      await fsp.writeFile(file, 'not a binary', { mode: 0o644 });
      await withEnv({ TEMPORAL_CLI_PATH: file }, async () => {
        await assert.rejects(findTemporalCli(), ConfigError);
      });
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  void test('with nothing on PATH and an empty cache, the error says how to get the CLI', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'weft-cli-'));
    try {
      await withEnv({ TEMPORAL_CLI_PATH: undefined, PATH: dir, XDG_CACHE_HOME: dir }, async () => {
        await assert.rejects(findTemporalCli(), {
          name: 'ConfigError',
          message: 'Temporal CLI not found: run "npm run setup" (builds it with Go) or set TEMPORAL_CLI_PATH',
        });
      });
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  void test('the cache path honours XDG_CACHE_HOME and carries the pinned version', async () => {
    await withEnv({ XDG_CACHE_HOME: '/x/cache' }, async () => {
      assert.equal(temporalCliCachePath(), `/x/cache/weft/temporal-v${TEMPORAL_CLI_VERSION}/temporal`);
    });
  });

  void test('finds a working CLI on this machine', async () => {
    const cli = await findTemporalCli();
    const { stdout } = await execFileAsync(cli, ['--version']);
    assert.match(stdout, /^temporal version/);
  });
});

void describe('dev server lifecycle', { timeout: 180_000 }, () => {
  let stateDir: string;
  let port: number;
  let uiPort: number;
  let firstPid: number;

  before(async () => {
    stateDir = await tempStateDir();
    port = await freePort();
    uiPort = await freePort();
  });

  void test('starts, records itself in server.json and answers', async (t) => {
    const t0 = performance.now();
    const info = await startDevServer({ stateDir, port, uiPort });
    const ms = performance.now() - t0;
    t.diagnostic(`cold start: ${ms.toFixed(0)} ms`);
    firstPid = info.pid;
    assert.equal(info.address, `127.0.0.1:${port}`);
    assert.equal(info.uiUrl, `http://127.0.0.1:${uiPort}`);
    assert.equal(info.dbFile, path.join(stateDir, 'temporal.db'));
    assert.ok(isAlive(info.pid));

    const record = JSON.parse(await fsp.readFile(path.join(stateDir, 'server.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(record['pid'], info.pid);
    assert.equal(record['address'], info.address);
    assert.equal(typeof record['startedAt'], 'string');

    const status = await devServerStatus(stateDir);
    assert.deepEqual(status, { ...info, running: true, ready: true });

    const connection = await Connection.connect({ address: info.address });
    try {
      const { serverVersion } = await connection.workflowService.getSystemInfo({});
      assert.match(serverVersion ?? '', /^1\./);
    } finally {
      await connection.close();
    }
  });

  void test('ensureDevServer reuses the running server (same pid)', async (t) => {
    const t0 = performance.now();
    const info = await ensureDevServer({ stateDir });
    t.diagnostic(`reuse: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(info.pid, firstPid);
    assert.equal((await ensureDevServer({ stateDir, port })).pid, firstPid);
  });

  void test('a second start, or an ensure on another port, is refused clearly', async () => {
    await assert.rejects(
      startDevServer({ stateDir, port }),
      /already running at 127\.0\.0\.1:\d+ \(pid \d+\)/,
    );
    await assert.rejects(ensureDevServer({ stateDir, port: port + 1 }), /already runs at .*not on port/);
  });

  void test('a port held by another program is reported as such', async () => {
    const sockets = new Set<net.Socket>();
    const blocker = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(startDevServer({ stateDir: await tempStateDir(), port: taken, headless: true }), {
        name: 'ConfigError',
        message: new RegExp(`gRPC port ${taken} on 127\\.0\\.0\\.1 is in use by another program`),
      });
      // Our own server's port, seen from another state folder, is named as a Temporal server.
      await assert.rejects(
        startDevServer({ stateDir: await tempStateDir(), port, headless: true }),
        /used by a Temporal server that is not the one recorded/,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  void test('ensureDevServer on a running server adds a namespace it lacks, usable at once', async () => {
    const info = await ensureDevServer({
      stateDir,
      namespace: 'weft-extra',
      searchAttributes: { WeftTag: 'Keyword' },
    });
    assert.equal(info.pid, firstPid);
    const connection = await Connection.connect({ address: info.address });
    try {
      const client = new Client({ connection, namespace: 'weft-extra' });
      const handle = await client.workflow.start('NoSuchWorkflow', {
        taskQueue: 'extra',
        workflowId: `extra-${Date.now()}`,
        args: [],
      });
      assert.equal((await handle.describe()).status.name, 'RUNNING');
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: 'weft-extra',
      });
      assert.ok(customAttributes?.['WeftTag'] !== undefined);
    } finally {
      await connection.close();
    }
  });

  void test('stopDevServer stops it and forgets it; a second stop is a no-op', async (t) => {
    const t0 = performance.now();
    assert.equal(await stopDevServer(stateDir), true);
    t.diagnostic(`stop: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(isAlive(firstPid), false);
    assert.equal(await devServerStatus(stateDir), null);
    assert.equal(await stopDevServer(stateDir), false);
    await assert.rejects(fsp.access(path.join(stateDir, 'server.json')));
  });

  void test('concurrent ensureDevServer calls in one process share one server', async (t) => {
    const t0 = performance.now();
    const infos = await Promise.all([1, 2, 3].map(() => ensureDevServer({ stateDir, port, headless: true })));
    t.diagnostic(`start on an existing db (3 concurrent callers): ${(performance.now() - t0).toFixed(0)} ms`);
    const pids = new Set(infos.map((i) => i.pid));
    assert.equal(pids.size, 1);
    assert.equal(infos[0]?.uiUrl, null);
    assert.ok(await stopDevServer(stateDir));
  });

  void test('concurrent ensureDevServer calls from two processes share one server', async () => {
    const modulePath = path.resolve(__dirname, '../../src/dev-server/index.ts');
    const script = `require(${JSON.stringify(modulePath)}).ensureDevServer({ stateDir: ${JSON.stringify(stateDir)}, port: ${port}, headless: true }).then((i) => console.log(i.pid), (e) => { console.error(e); process.exit(1); })`;
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('error', reject);
        child.once('exit', (code) =>
          code === 0 ? resolve(Number(out.trim())) : reject(new Error(`child exited ${code}`)),
        );
      });
    const [a, b] = await Promise.all([run(), run()]);
    assert.equal(a, b);
    assert.ok(isAlive(a ?? 0));
    assert.equal((await devServerStatus(stateDir))?.pid, a);
  });
});

void describe('S304 server state in a file survives restart', { timeout: 180_000 }, () => {
  void test('S304 a workflow started before stop is still there after a new start on the same db file', async () => {
    const stateDir = await tempStateDir();
    const port = await freePort();
    const searchAttributes = { WeftRunLabel: 'Keyword' } as const;
    const first = await ensureDevServer({ stateDir, port, headless: true, searchAttributes });

    const workflowId = `s304-${Date.now()}`;
    let connection = await Connection.connect({ address: first.address });
    try {
      // No worker: the run just waits for its first task, which is enough to be persisted state.
      await new Client({ connection }).workflow.start('NoSuchWorkflow', {
        taskQueue: 's304',
        workflowId,
        args: [],
      });
    } finally {
      await connection.close();
    }

    assert.equal(await stopDevServer(stateDir), true);
    const db = await fsp.stat(first.dbFile);
    assert.ok(db.size > 0);

    // Restart with one more search attribute: the CLI adds attributes only to namespaces it creates,
    // so this also checks that the manager adds it to the existing `default` namespace.
    const second = await ensureDevServer({
      stateDir,
      port,
      headless: true,
      searchAttributes: { ...searchAttributes, WeftRunCost: 'Double' },
    });
    assert.notEqual(second.pid, first.pid);
    connection = await Connection.connect({ address: second.address });
    try {
      const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
      assert.equal(description.status.name, 'RUNNING');
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: 'default',
      });
      assert.ok(customAttributes?.['WeftRunLabel'] !== undefined);
      assert.ok(customAttributes?.['WeftRunCost'] !== undefined);
    } finally {
      await connection.close();
    }
    await stopDevServer(stateDir);
  });

  void test('S304 a killed server is replaced by ensureDevServer and its runs are still there', async () => {
    const stateDir = await tempStateDir();
    const port = await freePort();
    const first = await ensureDevServer({ stateDir, port, headless: true });
    const workflowId = `s304-kill-${Date.now()}`;
    let connection = await Connection.connect({ address: first.address });
    try {
      await new Client({ connection }).workflow.start('NoSuchWorkflow', {
        taskQueue: 's304',
        workflowId,
        args: [],
      });
    } finally {
      await connection.close();
    }

    process.kill(first.pid, 'SIGKILL');
    while (isAlive(first.pid)) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await devServerStatus(stateDir))?.running, false);

    const second = await ensureDevServer({ stateDir, port, headless: true });
    assert.notEqual(second.pid, first.pid);
    connection = await Connection.connect({ address: second.address });
    try {
      const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
      assert.equal(description.status.name, 'RUNNING');
    } finally {
      await connection.close();
    }
    await stopDevServer(stateDir);
  });

  void test('a lock left by a dead process does not block ensureDevServer', async () => {
    const stateDir = await tempStateDir();
    await fsp.mkdir(stateDir, { recursive: true });
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => dead.once('exit', resolve));
    await fsp.writeFile(path.join(stateDir, 'server.lock'), `${dead.pid} stale`);
    const info = await ensureDevServer({ stateDir, port: await freePort(), headless: true });
    assert.ok(isAlive(info.pid));
    await assert.rejects(fsp.access(path.join(stateDir, 'server.lock')));
    await stopDevServer(stateDir);
  });
});
