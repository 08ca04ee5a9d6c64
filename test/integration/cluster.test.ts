/**
 * weft on the real Temporal server (S901, S902): `temporal-server` built from its Go module, on
 * PostgreSQL, started by scripts/cluster.sh with mutual TLS from certificates made here by openssl.
 * Every weft process reaches it through envconfig only (TEMPORAL_* variables, or a TOML profile);
 * the server runs untuned (no eager activities, no dev-server dynamic config), as users' servers do.
 * An HTTP/2 proxy in front of it checks the `authorization` metadata to prove the API key is sent.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { promisify } from 'node:util';
import { WeftClient } from '../../src/client/weft-client';
import { loadConfig } from '../../src/config';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel, MockRequestLog } from '../../src/mock-model/server';
import type { AgentRequest } from '../../src/types';
import { createDataConverter } from '../../src/storage/data-converter';
import { ROOT, runWeft, spawnWorker, uniqueName, until } from '../helpers/harness';
import type { WorkerProcess } from '../helpers/harness';

const execFileAsync = promisify(execFile);
const CRASH_SCRIPT = path.join(ROOT, 'test', 'fixtures', 'durability', 'crash-course.js');
const APPROVE_SCRIPT = path.join(ROOT, 'test', 'fixtures', 'cluster', 'approve-big.js');
const FAN_OUT = ['a', 'b', 'c', 'd', 'e', 'f'];
const ALL_TAGS = ['first', 'second', ...FAN_OUT.map((x) => `fan-${x}`), 'synth'];
const API_KEY = `weft-test-key-${Math.random().toString(36).slice(2)}`;

const work = mkdtempSync(path.join(os.tmpdir(), 'weft-cluster-test-'));
// PostgreSQL runs as the postgres user when the suite runs as root: it must be able to enter here.
chmodSync(work, 0o755);
const certs = path.join(work, 'certs');
const payloadDir = path.join(work, 'payloads');
const clusterDir = path.join(work, 'cluster');
let portBase = 0;
let pgPort = 0;
let client: WeftClient;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A block of 9 free ports below 32768 (membership ports are smallints in PostgreSQL). */
async function freePortBlock(size: number): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await Promise.all(Array.from({ length: size }, (_, i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free port block below 32768');
}

async function openssl(...args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd: certs });
}

/** A CA, a server certificate for localhost/127.0.0.1, a client certificate, and an unrelated CA. */
async function makeCertificates(): Promise<void> {
  await execFileAsync('mkdir', ['-p', certs]);
  const ca = (name: string) =>
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}-key.pem`,
      '-out',
      `${name}.pem`,
    );
  await ca('ca');
  await ca('wrong-ca');
  writeFileSync(
    path.join(certs, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  writeFileSync(path.join(certs, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', 'weft-client'],
  ] as const) {
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}-key.pem`,
      '-out',
      `${name}.csr`,
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
}

function clusterEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WEFT_CLUSTER_DIR: clusterDir,
    WEFT_CLUSTER_PORT_BASE: String(portBase),
    WEFT_CLUSTER_PG_PORT: String(pgPort),
    WEFT_CLUSTER_TLS_DIR: certs,
  };
}

/** The environment of a weft process: the real server by TEMPORAL_* variables only (mutual TLS). */
function weftEnv(model: MockModel, queue: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: `127.0.0.1:${portBase}`,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(certs, 'ca.pem'),
    TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(certs, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(certs, 'client-key.pem'),
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
    WEFT_TASK_QUEUE: queue,
    WEFT_PAYLOAD_DIR: payloadDir,
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: 'test-key',
    ...extra,
  };
  delete env.TEMPORAL_PROFILE;
  delete env.TEMPORAL_CONFIG_FILE;
  return env;
}

/** The agent a request belongs to, from the `[cc:TAG]` its prompt starts with. */
function tagOf(request: MockRequestLog): string {
  return /^\[cc:([\w-]+)\]/.exec(request.prompt)?.[1] ?? '';
}

before(async () => {
  await makeCertificates();
  portBase = await freePortBlock(9);
  pgPort = await freePortBlock(1);
  const started = Date.now();
  await execFileAsync('sh', [path.join(ROOT, 'scripts', 'cluster.sh'), 'start'], {
    env: clusterEnv(),
    cwd: ROOT,
    timeout: 300_000,
  });
  process.stderr.write(`cluster on 127.0.0.1:${portBase} (mTLS) in ${Date.now() - started} ms\n`);
  client = await WeftClient.connect({
    config: loadConfig(weftEnv({ url: 'http://127.0.0.1:1' } as MockModel, 'unused')),
    embeddedServer: false,
    dataConverter: createDataConverter({ dir: payloadDir }),
  });
});

after(async () => {
  await client?.close();
  await execFileAsync('sh', [path.join(ROOT, 'scripts', 'cluster.sh'), 'stop'], {
    env: clusterEnv(),
    cwd: ROOT,
  }).catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

/** What the API-key proxy saw. */
interface AuthProxy {
  port: number;
  /** Calls that carried `authorization: Bearer <API_KEY>`, forwarded to the server. */
  authorized: number;
  /** Calls refused with UNAUTHENTICATED for a missing or wrong key. */
  refused: number;
  close(): Promise<void>;
}

/**
 * A TLS HTTP/2 proxy in front of the server that forwards only gRPC calls carrying the API key, as
 * Temporal Cloud's front door does; upstream it authenticates with the client certificate.
 */
async function startAuthProxy(): Promise<AuthProxy> {
  const read = (name: string) => readFileSync(path.join(certs, name));
  const upstream = http2.connect(`https://127.0.0.1:${portBase}`, {
    ca: read('ca.pem'),
    cert: read('client.pem'),
    key: read('client-key.pem'),
    servername: 'localhost',
  });
  upstream.on('error', () => {});
  const state = { authorized: 0, refused: 0 };
  const server = http2.createSecureServer({ cert: read('server.pem'), key: read('server-key.pem') });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers.authorization !== `Bearer ${API_KEY}`) {
      state.refused++;
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '16',
          'grpc-message': 'API key required',
        },
        { endStream: true },
      );
      return;
    }
    state.authorized++;
    const forward: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name === ':authority' || name === ':scheme' || name === 'authorization') continue;
      forward[name] = value;
    }
    const call = upstream.request(forward);
    call.on('error', () => stream.close(http2.constants.NGHTTP2_CANCEL));
    call.on('response', (response) => {
      if (stream.headersSent || stream.destroyed) return;
      // A trailers-only answer (an error status in the headers) must stay trailers-only.
      if (response['grpc-status'] !== undefined) stream.respond({ ...response }, { endStream: true });
      else stream.respond({ ...response }, { waitForTrailers: true });
    });
    let trailers: http2.OutgoingHttpHeaders = {};
    call.on('trailers', (t) => (trailers = { ...t }));
    stream.on('wantTrailers', () => {
      if (!stream.destroyed) stream.sendTrailers(trailers);
    });
    stream.pipe(call);
    call.pipe(stream);
    stream.on('close', () => call.close());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get authorized() {
      return state.authorized;
    },
    get refused() {
      return state.refused;
    },
    async close() {
      upstream.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Which workers started agent activities, and which agents (by label) have completed. */
async function agentActivity(runId: string): Promise<{ startedBy: Set<string>; completed: Set<string> }> {
  const history = await client.temporal.workflow.getHandle(runId).fetchHistory();
  const startedBy = new Set<string>();
  const labels = new Map<string, string>();
  const completed = new Set<string>();
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === 'runAgent') {
      const request = defaultPayloadConverter.fromPayload<AgentRequest>(s.input?.payloads?.[0] as Payload);
      labels.set(String(event.eventId), request.label);
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started?.identity) startedBy.add(started.identity);
    const done = event.activityTaskCompletedEventAttributes;
    const label = done ? labels.get(String(done.scheduledEventId)) : undefined;
    if (label) completed.add(label);
  }
  return { startedBy, completed };
}

async function withMock(t: TestContext): Promise<MockModel> {
  const model = await startMockModel();
  t.after(() => model.close());
  return model;
}

function countByTag(model: MockModel): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of model.requests) counts.set(tagOf(r), (counts.get(tagOf(r)) ?? 0) + 1);
  return counts;
}

describe('S901 S902 the real Temporal server on PostgreSQL, over mutual TLS', () => {
  let crashRunId = '';
  let crashQueue = '';

  test('S902 two weft workers share a run and it survives kill -9 of one: no completed agent asked again', async (t) => {
    const model = await withMock(t);
    crashQueue = uniqueName('cluster-crash');
    const env = weftEnv(model, crashQueue);
    // Two agents each, so a fan-out of six at concurrency 4 needs both workers.
    const workers: WorkerProcess[] = [
      await spawnWorker(t, env, ['--max-agents', '2']),
      await spawnWorker(t, env, ['--max-agents', '2']),
    ];
    assert.match(workers[0]?.stderr() ?? '', /TLS, auth mtls/);
    crashRunId = `${crashQueue}-run`;
    const start = await runWeft(
      [
        'start',
        CRASH_SCRIPT,
        '--json',
        '--id',
        crashRunId,
        '--concurrency',
        '4',
        '--args',
        JSON.stringify({ latency: 1200, fanOut: FAN_OUT }),
      ],
      { env },
    );
    assert.equal(start.code, 0, start.stderr);
    const identities = workers.map((w) => `${w.pid}@${os.hostname()}`);
    await until(
      async () => {
        const { startedBy } = await agentActivity(crashRunId);
        return (
          identities.every((id) => startedBy.has(id)) &&
          model.requests.some((r) => tagOf(r).startsWith('fan-'))
        );
      },
      'both workers to take agents of the fan-out',
      90_000,
      200,
    );
    const victim = workers[0];
    assert.ok(victim);
    victim.child.kill('SIGKILL');
    assert.equal(await victim.exited, 'SIGKILL');
    // A dead worker completes nothing more: the history now holds exactly what survived it.
    const { completed } = await agentActivity(crashRunId);
    t.diagnostic(`killed ${identities[0]} with [${[...completed].join(',')}] completed`);
    assert.ok(completed.has('first') && completed.has('second'));

    const summary = await client.wait(crashRunId);
    assert.equal(summary.status, 'completed', summary.error);
    const result = summary.result as { parts: string[]; synthesis: string };
    assert.deepEqual(
      result.parts,
      FAN_OUT.map((x) => `part ${x} done`),
    );
    assert.equal(result.synthesis, 'all parts combined');
    const counts = countByTag(model);
    for (const tag of ALL_TAGS) assert.ok((counts.get(tag) ?? 0) >= 1, `agent ${tag} never ran`);
    for (const tag of completed) assert.equal(counts.get(tag), 1, `completed agent ${tag} was asked again`);
    const { startedBy } = await agentActivity(crashRunId);
    assert.ok(startedBy.has(identities[1] ?? ''), 'the surviving worker ran agents');
  });

  test('S902 weft list, show and replay, and resume-from, on the real server', async (t) => {
    assert.ok(crashRunId, 'needs the run of the test before');
    const model = await withMock(t);
    const env = weftEnv(model, crashQueue);
    const list = await runWeft(['list', '--json'], { env });
    assert.equal(list.code, 0, list.stderr);
    const runs = list.json as { runId: string; status: string; agents: number }[];
    const listed = runs.find((r) => r.runId === crashRunId);
    assert.equal(listed?.status, 'completed');
    assert.equal(listed?.agents, ALL_TAGS.length);
    const show = await runWeft(['show', crashRunId, '--json'], { env });
    assert.equal(show.code, 0, show.stderr);
    const details = show.json as { agents: { label: string; status: string }[] };
    assert.deepEqual(details.agents.map((a) => a.label).sort(), [...ALL_TAGS].sort());
    const replay = await runWeft(['replay', crashRunId], { env });
    assert.equal(replay.code, 0, replay.stderr + replay.stdout);
    // Resumed from the finished run, every agent is served from it: the model is never asked.
    const resumed = await runWeft(
      [
        'run',
        CRASH_SCRIPT,
        '--json',
        '--resume-from',
        crashRunId,
        '--concurrency',
        '4',
        '--args',
        JSON.stringify({ latency: 1200, fanOut: FAN_OUT }),
      ],
      { env, timeoutMs: 180_000 },
    );
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((resumed.json as { status: string }).status, 'completed');
    assert.equal(model.requests.length, 0, 'a resumed run asked the model again');
  });

  test('S902 a 256 KiB+ input through the payload store, and an approval, on the real server', async (t) => {
    const model = await withMock(t);
    const queue = uniqueName('cluster-approve');
    const env = weftEnv(model, queue);
    await spawnWorker(t, env);
    const runId = `${queue}-run`;
    const big = 'x'.repeat(300 * 1024);
    const argsFile = path.join(work, `${queue}.json`);
    writeFileSync(argsFile, JSON.stringify({ big }));
    const start = await runWeft(
      ['start', APPROVE_SCRIPT, '--json', '--id', runId, '--args', `@${argsFile}`],
      { env },
    );
    assert.equal(start.code, 0, start.stderr);
    await until(
      async () =>
        (await client.temporal.workflow.getHandle(runId).fetchHistory()).events?.some(
          (e) => e.activityTaskCompletedEventAttributes,
        ),
      'the first agent to complete',
      60_000,
      200,
    );
    const approve = await runWeft(['approve', runId, '--by', 'ana', '--json'], { env });
    assert.equal(approve.code, 0, approve.stderr);
    const summary = await client.wait(runId);
    assert.equal(summary.status, 'completed', summary.error);
    assert.deepEqual(summary.result, {
      bigLength: big.length,
      size: 'measured',
      approved: true,
      by: 'ana',
      shipped: 'shipped',
    });
    // The 300 KiB input is outside the history: the started event's payload is a small reference.
    const history = await client.temporal.workflow.getHandle(runId).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    assert.ok(input);
    assert.ok((input.data?.length ?? 0) < 16 * 1024, `input payload inline: ${input.data?.length} bytes`);
    assert.ok(readdirSync(path.join(payloadDir, 'sha256')).length > 0);
  });

  test('S901 a TOML profile reaches the server by envconfig alone; a wrong CA or a bad address is one line and exit 2', async (t) => {
    const model = await withMock(t);
    const toml = path.join(work, 'temporal.toml');
    writeFileSync(
      toml,
      [
        '[profile.weft-cluster]',
        `address = "127.0.0.1:${portBase}"`,
        'namespace = "default"',
        '[profile.weft-cluster.tls]',
        `server_ca_cert_path = "${path.join(certs, 'ca.pem')}"`,
        `client_cert_path = "${path.join(certs, 'client.pem')}"`,
        `client_key_path = "${path.join(certs, 'client-key.pem')}"`,
        'server_name = "localhost"',
        '',
      ].join('\n'),
    );
    const profileEnv: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_CONFIG_FILE: toml,
      TEMPORAL_PROFILE: 'weft-cluster',
    };
    for (const key of Object.keys(profileEnv))
      if (key.startsWith('TEMPORAL_TLS') || key === 'TEMPORAL_ADDRESS') delete profileEnv[key];
    const doctor = await runWeft(['doctor', '--json'], { env: profileEnv });
    assert.equal(doctor.code, 0, doctor.stderr);
    const report = doctor.json as Record<string, unknown>;
    assert.deepEqual(
      {
        address: report.address,
        tls: report.tls,
        auth: report.auth,
        profile: report.profile,
        reachable: report.reachable,
        missing: report.missingSearchAttributes,
      },
      {
        address: `127.0.0.1:${portBase}`,
        tls: true,
        auth: 'mtls',
        profile: 'weft-cluster',
        reachable: true,
        missing: [],
      },
    );
    assert.match(String(report.serverVersion), /^1\.29\./);
    // A run through the profile alone, with its embedded worker.
    const queue = uniqueName('cluster-profile');
    const run = await runWeft(
      ['run', CRASH_SCRIPT, '--json', '--args', JSON.stringify({ latency: 1, fanOut: ['a'] })],
      {
        env: {
          ...profileEnv,
          WEFT_TASK_QUEUE: queue,
          WEFT_PAYLOAD_DIR: payloadDir,
          ANTHROPIC_BASE_URL: model.url,
          ANTHROPIC_API_KEY: 'test-key',
        },
      },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal((run.json as { status: string }).status, 'completed');

    const refusals: [string, NodeJS.ProcessEnv][] = [
      [
        'wrong CA',
        weftEnv(model, queue, { TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(certs, 'wrong-ca.pem') }),
      ],
      [
        'no client certificate',
        weftEnv(model, queue, { TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '' }),
      ],
      [
        'unreachable host',
        weftEnv(model, queue, { TEMPORAL_ADDRESS: `127.0.0.1:${await freePortBlock(1)}` }),
      ],
    ];
    for (const [what, env] of refusals) {
      for (const command of [['list'], ['worker']]) {
        const res = await runWeft(command, { env, timeoutMs: 60_000 });
        const lines = res.stderr.trim().split('\n');
        t.diagnostic(`${what}, weft ${command.join(' ')}: ${res.stderr.trim()}`);
        assert.equal(res.code, 2, `${what}: ${res.stderr}`);
        assert.equal(lines.length, 1, `${what}: more than one line: ${res.stderr}`);
        assert.match(lines[0] ?? '', /^weft: cannot connect to Temporal at 127\.0\.0\.1:\d+/);
      }
    }
  });
  test('S901 an API key is sent on every call, and never shows in history, logs or weft show', async (t) => {
    const model = await withMock(t);
    const proxy = await startAuthProxy();
    t.after(() => proxy.close());
    const queue = uniqueName('cluster-apikey');
    // By envconfig variables alone: the key, the proxy's CA and name; no client certificate.
    const env = weftEnv(model, queue, {
      TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`,
      TEMPORAL_API_KEY: API_KEY,
      TEMPORAL_TLS_CLIENT_CERT_PATH: '',
      TEMPORAL_TLS_CLIENT_KEY_PATH: '',
    });
    const doctor = await runWeft(['doctor', '--json'], { env });
    assert.equal(doctor.code, 0, doctor.stderr);
    assert.equal((doctor.json as { auth: string }).auth, 'api-key');
    const runId = `${queue}-run`;
    const run = await runWeft(
      [
        'run',
        CRASH_SCRIPT,
        '--json',
        '--id',
        runId,
        '--args',
        JSON.stringify({ latency: 1, fanOut: ['a', 'b'] }),
      ],
      {
        env,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal((run.json as { status: string }).status, 'completed');
    assert.ok(proxy.authorized > 10, `only ${proxy.authorized} calls carried the key`);
    assert.equal(proxy.refused, 0);
    const show = await runWeft(['show', runId, '--full', '--json'], { env });
    assert.equal(show.code, 0, show.stderr);
    const history = await client.temporal.workflow.getHandle(runId).fetchHistory();
    const seen = [
      doctor.stdout,
      doctor.stderr,
      run.stdout,
      run.stderr,
      show.stdout,
      show.stderr,
      JSON.stringify(history),
    ];
    for (const text of seen) assert.ok(!text.includes(API_KEY), 'the API key leaked');
    // A wrong key is refused by the front door: one line, exit 2.
    const refusedBefore = proxy.refused;
    const wrong = await runWeft(['list'], { env: { ...env, TEMPORAL_API_KEY: 'not-the-key' } });
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
    assert.ok(!wrong.stderr.includes('not-the-key'));
    assert.ok(proxy.refused > refusedBefore);
  });
});
