import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before } from 'node:test';
import type { TestContext } from 'node:test';
import { WeftClient } from '../../src/client/weft-client';
import { loadConfig } from '../../src/config';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel } from '../../src/mock-model/server';

/** The repository root. */
export const ROOT = path.resolve(__dirname, '..', '..');
/** The built CLI, spawned as a user would. */
export const WEFT_BIN = path.join(ROOT, 'bin', 'weft.js');
/** Fixture scripts. */
export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'scripts');

/** The test server's address; `npm test` starts one and sets it. */
export function temporalAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run the suite with `npm test`');
  return address;
}

/** A task queue and id prefix no other test shares. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** The environment a CLI process needs to reach the test server and a model server. */
export function weftEnv(options: {
  modelUrl?: string;
  taskQueue: string;
  extra?: NodeJS.ProcessEnv;
}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporalAddress(),
    WEFT_TASK_QUEUE: options.taskQueue,
    ...options.extra,
  };
  delete env.ANTHROPIC_API_KEY;
  delete env.ANTHROPIC_BASE_URL;
  if (options.modelUrl) {
    env.ANTHROPIC_BASE_URL = options.modelUrl;
    env.ANTHROPIC_API_KEY = 'test-key';
  }
  return env;
}

/** What a finished CLI process left behind. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is exactly one JSON value. */
  json: unknown;
}

/** Spawns the built CLI and waits for it to exit. */
export function runWeft(
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEFT_BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`weft ${args.join(' ')} timed out\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      let json: unknown = undefined;
      try {
        json = JSON.parse(stdout);
      } catch {
        // Not JSON output; callers that expect JSON assert on it.
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/**
 * Polls `probe` until it returns something truthy, and returns that. Tests wait on an observable
 * condition (a request log entry, a progress state) this way instead of sleeping.
 */
export async function until<T>(
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 60_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A probe that throws (a query racing the first workflow task) counts as "not yet".
    const value = await Promise.resolve()
      .then(probe)
      .catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A local model server and a client of the test Temporal server, shared by one test file. */
export interface ModelAndClient {
  model: MockModel;
  client: WeftClient;
}

/**
 * Starts a mock model server and connects a client before the file's tests, and closes both after.
 * The fields are set once `before` has run, so read them inside tests, not at module load.
 */
export function useModelAndClient(options: { taskQueue?: string } = {}): ModelAndClient {
  const shared = {} as ModelAndClient;
  before(async () => {
    shared.model = await startMockModel();
    shared.client = await WeftClient.connect({
      config: {
        ...loadConfig(),
        address: temporalAddress(),
        ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
      },
    });
  });
  after(async () => {
    await shared.client?.close();
    await shared.model?.close();
  });
  return shared;
}

/** A `weft worker` child process. */
export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  stderr: () => string;
  /** Resolves with the exit code, or the signal's name, once the process is gone. */
  exited: Promise<number | string>;
}

/** Spawns `weft worker`, as a user would, and resolves once it says it is polling. */
export async function spawnWorker(
  t: TestContext,
  workerEnv: NodeJS.ProcessEnv,
  args: string[] = [],
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [WEFT_BIN, 'worker', ...args], {
    cwd: ROOT,
    env: workerEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  // Workers a test started are its own to clean up, whatever the outcome.
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const ready = await Promise.race([
    until(() => stderr.includes('weft worker polling'), 'the worker to start', 60_000).then(() => true),
    exited.then(() => false),
  ]);
  assert.ok(ready, `weft worker exited at start: ${stderr}`);
  assert.ok(child.pid);
  return { child, pid: child.pid, stderr: () => stderr, exited };
}
