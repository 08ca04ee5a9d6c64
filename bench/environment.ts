/**
 * The bench's own world: a throwaway Temporal dev server on free ports, the local model server and
 * a weft worker in this process, and a WeftClient. Nothing is shared with other runs on the machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import type { DataConverter } from '@temporalio/common';
import type { WorkerOptions } from '@temporalio/worker';
import { WeftClient } from '../src/client/weft-client';
import { loadConfig } from '../src/config';
import { startDevServer, stopDevServer } from '../src/dev-server/dev-server';
import { startMockModel } from '../src/mock-model/server';
import type { MockModel } from '../src/mock-model/server';
import { WEFT_SEARCH_ATTRIBUTES } from '../src/search-attributes';
import { createDataConverter } from '../src/storage/data-converter';
import { createWeftWorker } from '../src/worker';
import type { WeftWorker } from '../src/worker';

/** The repository root. */
export const ROOT = path.resolve(__dirname, '..');
/** The prebundled workflow code `npm run build` writes; every bench worker loads it. */
export const WORKFLOW_BUNDLE = path.join(ROOT, 'dist', 'workflow-bundle.js');
/** The built CLI, for the child-process workers of the recovery scenario. */
export const WEFT_BIN = path.join(ROOT, 'bin', 'weft.js');

/** Prints a progress line on stderr, so stdout stays one JSON object with --json. */
export function note(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Newest modification time under a folder, ms. */
function newestMtime(dir: string): number {
  let newest = 0;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

/**
 * Refuses to measure without the prebundled workflow code, and warns when src/ changed after it was
 * built: the bench would then measure old workflow code.
 */
export function checkBuild(): { bundleBuiltAt: string; stale: boolean } {
  if (!existsSync(WORKFLOW_BUNDLE) || !existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error(`${path.relative(ROOT, WORKFLOW_BUNDLE)} is missing: run \`npm run build\` first`);
  }
  const built = statSync(WORKFLOW_BUNDLE).mtimeMs;
  const stale = newestMtime(path.join(ROOT, 'src')) > built;
  if (stale)
    note('warning: src/ changed after dist/workflow-bundle.js was built; run `npm run build` to measure it');
  return { bundleBuiltAt: new Date(built).toISOString(), stale };
}

/** The machine the figures come from. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  os: string;
  temporalCli: string;
  loadAverageAtStart: number[];
  /** Scheduling priority (nice value) of the bench process and the server it starts. */
  nice: number;
}

/** Describes the machine, for the report. */
export function describeMachine(temporalCliPath: string | null): MachineInfo {
  let osName = `${os.type()} ${os.release()}`;
  try {
    const release = readFileSync('/etc/os-release', 'utf8');
    const pretty = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(release)?.[1];
    if (pretty) osName = `${pretty} (${os.type()} ${os.release()})`;
  } catch {
    // Not Linux: the kernel name is all we report.
  }
  let temporalCli = 'unknown';
  if (temporalCliPath) {
    try {
      temporalCli = execFileSync(temporalCliPath, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      temporalCli = `unknown (${temporalCliPath})`;
    }
  }
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: osName,
    temporalCli,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    nice: os.getPriority(),
  };
}

/** CPU time a process has used so far (user + system), ms; null where /proc is missing. */
export function processCpuMs(pid: number): number | null {
  try {
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_S : null;
  } catch {
    return null;
  }
}

// USER_HZ is 100 on every Linux platform Node supports.
const CLOCK_TICKS_PER_S = 100;

/** Peak resident set size of a process so far (VmHWM), bytes; null where /proc is missing. */
export function processPeakRss(pid: number): number | null {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/** This process's CPU time so far (user + system), ms. */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Samples this process's RSS every `everyMs` and keeps the peak. */
export class RssSampler {
  private peak = 0;
  private timer: NodeJS.Timeout | null = null;

  start(everyMs = 100): void {
    this.peak = process.memoryUsage.rss();
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage.rss());
    }, everyMs);
  }

  /** Stops sampling and returns the peak in bytes. */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
    return this.peak;
  }
}

/** What the bench runs against. */
export interface BenchEnv {
  address: string;
  taskQueue: string;
  mock: MockModel;
  client: WeftClient;
  worker: WeftWorker;
  /** The state folder of the throwaway dev server. */
  stateDir: string;
  /** The payload store every bench client and worker shares (large payloads leave the history). */
  payloadDir: string;
  dataConverter: DataConverter;
  temporalCliPath: string | null;
  /** Process id of the Temporal server, for CPU accounting; null for a server we did not start. */
  serverPid: number | null;
  /** Extra worker options the in-process worker was created with (experiments). */
  workerOptions: Partial<WorkerOptions>;
  close(): Promise<void>;
}

/** Starts everything; `close()` stops it all and removes the server's state folder. */
export async function startBenchEnv(options: {
  devConfig: Record<string, string | number | boolean>;
  workerOptions: Record<string, unknown>;
  /** Use this Temporal server instead of starting a throwaway one (experiments). */
  address?: string | null;
}): Promise<BenchEnv> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'weft-bench-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => note(`cleanup: ${(err as Error).message}`));
    }
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    let server: { address: string };
    let temporalCliPath: string | null = null;
    let serverPid: number | null = null;
    if (options.address) {
      server = { address: options.address };
      note(`using the Temporal server at ${server.address}`);
    } else {
      const port = await freePort();
      const started = Date.now();
      const info = await startDevServer({
        stateDir,
        port,
        headless: true,
        searchAttributes: { ...WEFT_SEARCH_ATTRIBUTES },
        dynamicConfig: options.devConfig,
      });
      cleanups.push(() => stopDevServer(stateDir));
      server = info;
      serverPid = info.pid;
      note(`dev server on ${server.address} (${Date.now() - started} ms)`);
      try {
        const record = JSON.parse(readFileSync(path.join(stateDir, 'server.json'), 'utf8')) as {
          cliPath?: string;
        };
        temporalCliPath = record.cliPath ?? null;
      } catch {
        // The record's layout is the dev server's business; without it the CLI version is unknown.
      }
    }

    const payloadDir = path.join(stateDir, 'payloads');
    const dataConverter = createDataConverter({ dir: payloadDir });
    const mock = await startMockModel({ latencyMs: 0 });
    cleanups.push(() => mock.close());

    const taskQueue = `bench-${process.pid}-${Date.now().toString(36)}`;
    const client = await WeftClient.connect({
      config: { ...loadConfig(), address: server.address, taskQueue },
      embeddedServer: false,
      dataConverter,
    });
    cleanups.push(() => client.close());

    const workerOptions = {
      // Under tsx, src/worker.ts looks for the bundle next to itself; point it at the built one.
      workflowBundle: { codePath: WORKFLOW_BUNDLE },
      workflowsPath: undefined,
      ...options.workerOptions,
    } as Partial<WorkerOptions>;
    const worker = await createWeftWorker({
      address: server.address,
      taskQueue,
      activityDeps: { anthropic: () => new Anthropic({ baseURL: mock.url, apiKey: 'x', maxRetries: 0 }) },
      dataConverter,
      workerOptions,
    });
    void worker.run().catch((err: unknown) => note(`in-process worker stopped: ${(err as Error).message}`));
    cleanups.push(() => worker.shutdown());

    return {
      address: server.address,
      taskQueue,
      mock,
      client,
      worker,
      stateDir,
      payloadDir,
      dataConverter,
      temporalCliPath,
      serverPid,
      workerOptions,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A `weft worker` child process, as a user would run one. */
export interface ChildWorker {
  process: ChildProcess;
  /** Resolves once the worker says it is polling. */
  ready: Promise<void>;
  /** Everything it wrote on stderr so far. */
  stderr(): string;
  /** Sends a signal and waits for the process to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Spawns `node bin/weft.js worker` on a task queue, with the model server as its model. */
export function spawnChildWorker(env: BenchEnv, taskQueue: string): ChildWorker {
  const child = spawn(process.execPath, [WEFT_BIN, 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      WEFT_TASK_QUEUE: taskQueue,
      ANTHROPIC_BASE_URL: env.mock.url,
      ANTHROPIC_API_KEY: 'x',
      WEFT_PAYLOAD_DIR: env.payloadDir,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('polling task queue')) resolve();
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`weft worker exited before polling (${signal ?? code}): ${stderr.trim()}`)),
    );
  });
  ready.catch(() => {});
  return {
    process: child,
    ready,
    stderr: () => stderr,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
