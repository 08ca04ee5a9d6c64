/**
 * The local Temporal dev server that weft runs scripts on.
 *
 * The server is `temporal server start-dev`, started detached so it outlives the weft command that
 * started it, with its SQLite file in the state folder so runs survive a server restart (S304).
 * Everything another process needs to find it again is in `<stateDir>/server.json`; concurrent weft
 * processes agree on who starts it through the exclusive lock file `<stateDir>/server.lock`.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { ConfigError } from '../errors';
import { findTemporalCli } from './temporal-cli';

/** A search attribute type, spelled as `temporal server start-dev --search-attribute` wants it. */
export type SearchAttributeTypeName =
  'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

/**
 * Dynamic config the embedded server starts with, measured by `npm run bench` (docs/benchmarks.md).
 * The dev server reads its internal transfer queue at most 20 times a second, so every activity
 * round trip waited ~38 ms twice: lifting that cap took a sequential agent from 94 to 26 ms of
 * overhead and throughput from 68 to 121 agents/s. A finer timer shift makes a dead worker's
 * heartbeat timeout fire ~0.9 s sooner. Eager activity execution hands a scheduled agent to the
 * worker in the reply to its workflow task, skipping a match through the task queue: 24–26 ms per
 * sequential agent with it against 26–29 without, and 125–130 against 110–119 agents/s.
 */
export const DEV_SERVER_TUNING: Readonly<Record<string, string | number | boolean>> = Object.freeze({
  'history.transferProcessorMaxPollRPS': 1000,
  'history.timerProcessorMaxTimeShift': '100ms',
  'system.enableActivityEagerExecution': true,
});

/** How to run the dev server. Only `stateDir` is required. */
export interface DevServerOptions {
  /** Folder for the server's SQLite file, log, record and lock, e.g. `<cwd>/.weft`. Created if missing. */
  stateDir: string;
  /**
   * Front-end gRPC port on 127.0.0.1. Defaults to 7233 when a server is started; when
   * {@link ensureDevServer} reuses a running server and no port is given, the server's own port is
   * used, whatever it is.
   */
  port?: number;
  /** Web UI port. Defaults to `port + 1000`, like the CLI. Ignored when `headless`. */
  uiPort?: number;
  /** Run without the Web UI. */
  headless?: boolean;
  /** A namespace to create besides `default`, and the one readiness is checked against. */
  namespace?: string;
  /**
   * Custom search attributes to register on `default` and on `namespace`. Attributes missing from
   * an existing database or a reused server are added after start, because the CLI registers them
   * only on namespaces it creates.
   */
  searchAttributes?: Record<string, SearchAttributeTypeName>;
  /** Where the server's stdout and stderr go. Defaults to `<stateDir>/server.log`. */
  logFile?: string;
  /** Extra `--dynamic-config-value KEY=JSON` settings, on top of `DEV_SERVER_TUNING`. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** How long to wait for the server to answer before giving up. Default 60 s. */
  startTimeoutMs?: number;
}

/** How to reach a dev server, and where it keeps its state. */
export interface DevServerInfo {
  /** `host:port` of the front-end gRPC service, e.g. `127.0.0.1:7233`. */
  address: string;
  /** The Web UI's base URL, or null when the server runs headless. */
  uiUrl: string | null;
  /** Process id of `temporal server start-dev`. */
  pid: number;
  /** Absolute path of the SQLite file. */
  dbFile: string;
  /** Absolute path of the state folder. */
  stateDir: string;
}

/** What `<stateDir>/server.json` holds. */
interface ServerRecord {
  pid: number;
  address: string;
  uiUrl: string | null;
  dbFile: string;
  startedAt: string;
  logFile: string;
  cliPath: string;
}

const DEFAULT_PORT = 7233;
const DEFAULT_START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
// Long enough to cover a peer that holds the lock through a full start (60 s) or stop (10 s + kill).
const LOCK_TIMEOUT_MS = 120_000;
// A lock file with no pid yet is normally a peer between open('wx') and write; only a crash leaves
// one empty for longer than this.
const EMPTY_LOCK_GRACE_MS = 10_000;
const HOST = '127.0.0.1';

// Values of temporal.api.enums.v1.IndexedValueType; @temporalio/common does not export its mapping.
const INDEXED_VALUE_TYPE: Record<SearchAttributeTypeName, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

function statePaths(stateDir: string) {
  const dir = path.resolve(stateDir);
  return {
    dir,
    dbFile: path.join(dir, 'temporal.db'),
    record: path.join(dir, 'server.json'),
    lock: path.join(dir, 'server.lock'),
    log: path.join(dir, 'server.log'),
  };
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errorCode(err) === 'EPERM';
  }
}

/**
 * Whether `pid` is a `start-dev` process using `dbFile`. Pids are reused, so a live pid in an old
 * record is not proof that our server still runs; where /proc exists we check the command line.
 */
async function isOurServerProcess(pid: number, dbFile: string): Promise<boolean> {
  if (!isPidAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // No /proc (macOS) or a process we may not inspect: the liveness check is all we have.
    return true;
  }
  const args = cmdline.split('\0');
  return args.includes('start-dev') && args.includes(dbFile);
}

async function readRecord(recordFile: string): Promise<ServerRecord | null> {
  let text: string;
  try {
    text = await fsp.readFile(recordFile, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ServerRecord>;
    if (
      typeof parsed.pid !== 'number' ||
      typeof parsed.address !== 'string' ||
      typeof parsed.dbFile !== 'string'
    ) {
      return null;
    }
    return {
      pid: parsed.pid,
      address: parsed.address,
      uiUrl: parsed.uiUrl ?? null,
      dbFile: parsed.dbFile,
      startedAt: parsed.startedAt ?? '',
      logFile: parsed.logFile ?? '',
      cliPath: parsed.cliPath ?? '',
    };
  } catch {
    // A torn or hand-edited record is treated as no record; the lock and pid checks keep us safe.
    return null;
  }
}

async function writeRecord(recordFile: string, record: ServerRecord): Promise<void> {
  // Write then rename, so a reader never sees half a record.
  const tmp = `${recordFile}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await fsp.rename(tmp, recordFile);
}

function toInfo(record: ServerRecord, stateDir: string): DevServerInfo {
  return { address: record.address, uiUrl: record.uiUrl, pid: record.pid, dbFile: record.dbFile, stateDir };
}

// ---------------------------------------------------------------------------------------------
// The lock

/**
 * Takes `<stateDir>/server.lock`, waiting while a live process holds it and breaking it when its
 * holder died. Returns the function that releases it.
 */
async function acquireLock(lockFile: string, timeoutMs = LOCK_TIMEOUT_MS): Promise<() => Promise<void>> {
  // The pid lets others detect a dead holder; the random part tells apart two holders in one process.
  const token = `${process.pid} ${randomUUID()}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await fsp.open(lockFile, 'wx');
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return async () => {
        // Only remove the lock if it is still ours: a peer may have judged us dead and taken over.
        const content = await fsp.readFile(lockFile, 'utf8').catch(() => null);
        if (content === token) await fsp.rm(lockFile, { force: true });
      };
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
    }
    const holder = await breakLockIfStale(lockFile);
    if (Date.now() > deadline) {
      throw new ConfigError(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${lockFile}` +
          (holder === null ? '' : ` (held by pid ${holder})`) +
          '; if no weft process is running, delete that file',
      );
    }
    await sleep(50 + Math.random() * 100);
  }
}

/** Removes the lock file if its holder is gone. Returns the live holder's pid, if known. */
async function breakLockIfStale(lockFile: string): Promise<number | null> {
  let content: string;
  let mtimeMs: number;
  try {
    content = await fsp.readFile(lockFile, 'utf8');
    mtimeMs = (await fsp.stat(lockFile)).mtimeMs;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null; // released meanwhile: just retry
    throw err;
  }
  const pid = Number.parseInt(content.split(' ')[0] ?? '', 10);
  const stale =
    Number.isInteger(pid) && pid > 0 ? !isPidAlive(pid) : Date.now() - mtimeMs > EMPTY_LOCK_GRACE_MS;
  if (!stale) return Number.isInteger(pid) ? pid : null;

  // Two waiters may find the same stale lock; if both simply unlinked it, the slower one could delete
  // the lock the faster one has just taken. Renaming is atomic, so we look at exactly what we took.
  const aside = `${lockFile}.${randomUUID()}.stale`;
  try {
    await fsp.rename(lockFile, aside);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw err;
  }
  const taken = await fsp.readFile(aside, 'utf8').catch(() => content);
  if (taken !== content) {
    // We took a fresh lock that a peer acquired after our read: hand it back.
    await fsp.link(aside, lockFile).catch(() => undefined);
  }
  await fsp.rm(aside, { force: true });
  return null;
}

// ---------------------------------------------------------------------------------------------
// Talking to the server

async function tcpAccepts(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/**
 * Whether a Temporal front end answers at `address` and knows `namespace` (when given). The SDK's
 * retry interceptor is turned off so that a server that is down fails fast instead of after backoff.
 */
async function temporalAnswers(
  address: string,
  namespace: string | null,
  timeoutMs = 2_000,
): Promise<boolean> {
  if (!(await tcpAccepts(portOf(address), timeoutMs))) return false;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({
      address,
      connectTimeout: timeoutMs,
      interceptors: [],
      // grpc-js shares sockets through a global pool that outlives close(); a private pool makes
      // close() really hang up, so probes leave no connection open to whatever holds the port.
      channelArgs: { 'grpc.use_local_subchannel_pool': 1 },
    });
    const conn = connection;
    const deadline = Date.now() + timeoutMs;
    // connect() already calls getSystemInfo but forgives UNIMPLEMENTED, which any gRPC server says.
    await conn.withDeadline(deadline, () => conn.workflowService.getSystemInfo({}));
    if (namespace !== null) {
      await conn.withDeadline(deadline, () => conn.workflowService.describeNamespace({ namespace }));
    }
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function assertPortFree(port: number, what: string, stateDir: string): Promise<void> {
  if (await isPortFree(port)) return;
  const isTemporal = await temporalAnswers(`${HOST}:${port}`, null);
  throw new ConfigError(
    isTemporal
      ? `${what} port ${port} on ${HOST} is used by a Temporal server that is not the one recorded in ${stateDir}: stop it, or choose another port`
      : `${what} port ${port} on ${HOST} is in use by another program: free it, or choose another port`,
  );
}

/**
 * Makes sure the namespace and search attributes the caller asked for exist. The CLI creates them
 * only when it creates a namespace, so an existing database or a reused server may lack them.
 */
async function reconcile(address: string, opts: DevServerOptions): Promise<void> {
  const namespaces = ['default'];
  if (opts.namespace !== undefined && opts.namespace !== 'default') namespaces.push(opts.namespace);
  const wanted = Object.entries(opts.searchAttributes ?? {});
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    for (const namespace of namespaces) {
      const known = await connection.workflowService.describeNamespace({ namespace }).then(
        () => true,
        (err: unknown) => {
          // gRPC NOT_FOUND (5); anything else is a real failure, not a reason to register.
          if (typeof err === 'object' && err !== null && 'code' in err && err.code === 5) return false;
          throw err;
        },
      );
      if (!known) {
        type Retention = Parameters<
          typeof connection.workflowService.registerNamespace
        >[0]['workflowExecutionRetentionPeriod'];
        await connection.workflowService.registerNamespace({
          namespace,
          // protobufjs encodes a plain number into an int64 field; Long exists only in the typings.
          workflowExecutionRetentionPeriod: { seconds: 24 * 60 * 60 } as unknown as Retention,
        });
        // describeNamespace reads the database, but most calls go through the front end's namespace
        // cache, which learns of a new namespace only on its next refresh (a few seconds).
        const usable = await waitFor(
          () =>
            connection.workflowService.countWorkflowExecutions({ namespace }).then(
              () => true,
              () => false,
            ),
          30_000,
        );
        if (!usable)
          throw new ConfigError(
            `namespace ${namespace} was registered but did not become usable within 30 s`,
          );
      }
      if (wanted.length === 0) continue;
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      const missing: Record<string, number> = {};
      for (const [name, type] of wanted) {
        const existing = customAttributes?.[name];
        if (existing === undefined || existing === null) {
          missing[name] = INDEXED_VALUE_TYPE[type];
        } else if (Number(existing) !== INDEXED_VALUE_TYPE[type]) {
          throw new ConfigError(
            `search attribute ${name} already exists in namespace ${namespace} with another type than ${type}; rename it, or delete ${opts.stateDir} to start from an empty database`,
          );
        }
      }
      if (Object.keys(missing).length > 0) {
        await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
      }
    }
  } finally {
    await connection.close();
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

async function logTail(logFile: string, fromOffset: number, lines = 20): Promise<string> {
  try {
    const text = (await fsp.readFile(logFile)).subarray(fromOffset).toString('utf8');
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
    return tail === '' ? '(the log is empty)' : tail;
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------------
// Start and stop

async function terminate(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  // start-dev shuts down gracefully on SIGTERM (about 3 s), which leaves the SQLite file consistent.
  if (await waitFor(async () => !isPidAlive(pid), STOP_GRACE_MS)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitFor(async () => !isPidAlive(pid), 5_000);
}

/** Starts a server; the caller holds the lock and has made sure none of ours is running. */
async function startLocked(opts: DevServerOptions): Promise<DevServerInfo> {
  const paths = statePaths(opts.stateDir);
  const cliPath = await findTemporalCli();
  await fsp.mkdir(paths.dir, { recursive: true });

  const port = opts.port ?? DEFAULT_PORT;
  const uiPort = opts.headless ? null : (opts.uiPort ?? port + 1000);
  await assertPortFree(port, 'gRPC', paths.dir);
  if (uiPort !== null) await assertPortFree(uiPort, 'Web UI', paths.dir);

  const args = ['server', 'start-dev', '--db-filename', paths.dbFile, '--port', String(port), '--ip', HOST];
  args.push('--log-level', 'warn');
  if (uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (opts.namespace !== undefined && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  for (const [name, type] of Object.entries(opts.searchAttributes ?? {})) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  for (const [key, value] of Object.entries({ ...DEV_SERVER_TUNING, ...opts.dynamicConfig })) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }

  const logFile = path.resolve(opts.logFile ?? paths.log);
  await fsp.mkdir(path.dirname(logFile), { recursive: true });
  await fsp.appendFile(logFile, `--- weft: ${new Date().toISOString()} ${cliPath} ${args.join(' ')}\n`);
  // The log is appended across restarts; remember where this run starts so errors show only its lines.
  const logOffset = (await fsp.stat(logFile)).size;

  const startedAtMs = Date.now();
  const fd = openSync(logFile, 'a');
  let exited: string | null = null;
  let child;
  try {
    // detached: its own session, so Ctrl-C on weft does not stop the server and it outlives us.
    child = spawn(cliPath, args, { detached: true, stdio: ['ignore', fd, fd], cwd: paths.dir });
  } finally {
    closeSync(fd);
  }
  child.once('error', (err) => (exited = `could not be started: ${err.message}`));
  child.once(
    'exit',
    (code, signal) => (exited = signal ? `was killed by ${signal}` : `exited with code ${code}`),
  );
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    // spawn() reports ENOENT and friends asynchronously, on 'error'.
    await sleep(0);
    throw new ConfigError(`the Temporal CLI at ${cliPath} ${exited ?? 'could not be started'}`);
  }

  const record: ServerRecord = {
    pid,
    address: `${HOST}:${port}`,
    uiUrl: uiPort === null ? null : `http://${HOST}:${uiPort}`,
    dbFile: paths.dbFile,
    startedAt: new Date(startedAtMs).toISOString(),
    logFile,
    cliPath,
  };
  // Recorded before it is ready so that a stop during a slow start can still find the process.
  await writeRecord(paths.record, record);

  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const namespace = opts.namespace ?? 'default';
  const ready = await waitFor(
    async () => exited !== null || (await temporalAnswers(record.address, namespace)),
    timeoutMs,
  );
  if (!ready || exited !== null) {
    const why =
      exited !== null
        ? `exited early (${exited})`
        : `did not answer within ${Math.round(timeoutMs / 1000)} s`;
    if (exited === null) await terminate(pid);
    await fsp.rm(paths.record, { force: true });
    throw new ConfigError(
      `the Temporal dev server ${why}; last lines of ${logFile}:\n${await logTail(logFile, logOffset)}`,
    );
  }
  await reconcile(record.address, opts);
  return toInfo(record, paths.dir);
}

/**
 * Starts `temporal server start-dev` in the background for `opts.stateDir` and waits until its front
 * end answers (up to `startTimeoutMs`, 60 s by default). The server keeps running after this process
 * exits; stop it with {@link stopDevServer}.
 *
 * @throws ConfigError when the CLI is missing, a port is taken, a server for this state folder is
 *   already running, or the server does not come up (the message then ends with the log's tail).
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServerInfo> {
  const paths = statePaths(opts.stateDir);
  await fsp.mkdir(paths.dir, { recursive: true });
  const release = await acquireLock(paths.lock);
  try {
    const existing = await readRecord(paths.record);
    if (existing && (await isOurServerProcess(existing.pid, existing.dbFile))) {
      throw new ConfigError(
        `a Temporal dev server for ${paths.dir} is already running at ${existing.address} (pid ${existing.pid})`,
      );
    }
    return await startLocked(opts);
  } finally {
    await release();
  }
}

/**
 * Returns the dev server of `opts.stateDir`, starting one only if none is running. Any number of
 * processes may call this at once: they queue on `<stateDir>/server.lock`, one of them starts the
 * server and the others reuse it.
 *
 * A recorded server that is alive but does not answer (for example one whose starter crashed) gets
 * `startTimeoutMs` to come up, and is replaced if it does not.
 *
 * @throws ConfigError when `opts.port` is given and a server for this state folder already runs on
 *   another port (two servers cannot share one SQLite file), or when starting fails.
 */
export async function ensureDevServer(opts: DevServerOptions): Promise<DevServerInfo> {
  const paths = statePaths(opts.stateDir);
  await fsp.mkdir(paths.dir, { recursive: true });
  const release = await acquireLock(paths.lock);
  try {
    const existing = await readRecord(paths.record);
    if (existing && (await isOurServerProcess(existing.pid, existing.dbFile))) {
      if (opts.port !== undefined && portOf(existing.address) !== opts.port) {
        throw new ConfigError(
          `the Temporal dev server for ${paths.dir} already runs at ${existing.address} (pid ${existing.pid}), not on port ${opts.port}: stop it first, or use its port`,
        );
      }
      // Fast path first: a healthy server answers at once. Only a slow one gets the long wait.
      const answers =
        (await temporalAnswers(existing.address, null)) ||
        ((await waitFor(
          async () => !isPidAlive(existing.pid) || (await temporalAnswers(existing.address, null)),
          opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
        )) &&
          isPidAlive(existing.pid));
      if (answers) {
        await reconcile(existing.address, opts);
        return toInfo(existing, paths.dir);
      }
      await terminate(existing.pid);
    }
    return await startLocked(opts);
  } finally {
    await release();
  }
}

/**
 * Stops the dev server of `stateDir`: SIGTERM, then SIGKILL if it is still alive after 10 s. The
 * SQLite file is kept, so a later start sees the same runs. Removes `server.json`.
 *
 * @returns whether a server was running.
 */
export async function stopDevServer(stateDir: string): Promise<boolean> {
  const paths = statePaths(stateDir);
  try {
    await fsp.access(paths.dir);
  } catch {
    return false;
  }
  // Taking the lock makes a stop that races a start wait for it, then stop what it started.
  const release = await acquireLock(paths.lock);
  try {
    const existing = await readRecord(paths.record);
    if (existing === null) return false;
    const running = await isOurServerProcess(existing.pid, existing.dbFile);
    if (running) await terminate(existing.pid);
    await fsp.rm(paths.record, { force: true });
    return running;
  } finally {
    await release();
  }
}

/**
 * Reads the record of the dev server of `stateDir` and checks it, without starting or stopping
 * anything.
 *
 * @returns null when no server was ever recorded (or it was stopped); otherwise its info, with
 *   `running` (its process is alive) and `ready` (its front end answers right now).
 */
export async function devServerStatus(
  stateDir: string,
): Promise<(DevServerInfo & { running: boolean; ready: boolean }) | null> {
  const paths = statePaths(stateDir);
  const record = await readRecord(paths.record);
  if (record === null) return null;
  const running = await isOurServerProcess(record.pid, record.dbFile);
  const ready = running && (await temporalAnswers(record.address, null));
  return { ...toInfo(record, paths.dir), running, ready };
}
