import { existsSync } from 'node:fs';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Command, CommanderError, Option } from 'commander';
import type { ActivityDeps } from '../activities/create-activities';
import { WeftClient } from '../client/weft-client';
import type { RunSummary, StartOptions } from '../client/weft-client';
import { compileScriptFile } from '../compiler/compile-script';
import { resolveWorkflowRef } from '../compiler/saved-workflows';
import { BUNDLED_WORKFLOWS_DIR, loadConfig } from '../config';
import { devServerStatus, ensureDevServer, stopDevServer } from '../dev-server/dev-server';
import { ConfigError, ScriptError, WeftError } from '../errors';
import { runMockModelCommand } from '../mock-model/cli';
import { startMockModel } from '../mock-model/server';
import type { CompiledScript } from '../types';
import { createWeftWorker } from '../worker';
import type { WeftWorker } from '../worker';
import { parseArgsOption, parsePositiveInt, parseTokenBudget } from './parse-options';
import { ProgressPrinter } from './progress-printer';
import { quietTemporalLogs } from './temporal-runtime';

/** Exit codes of every weft command: the contract other tools rely on. */
export const EXIT = { completed: 0, notCompleted: 1, refused: 2 } as const;

interface RunFlags {
  args?: unknown;
  concurrency?: number;
  budget?: number;
  model?: string;
  cwd?: string;
  json?: boolean;
  worker?: boolean;
  dryRun?: boolean;
  id?: string;
}

const stderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Resolves `weft run <script.js|saved-name>` to a compiled script; refusals are ScriptErrors (S105). */
async function loadTarget(target: string, cwd: string): Promise<CompiledScript> {
  const looksLikeFile = target.endsWith('.js') || target.includes('/') || existsSync(path.resolve(cwd, target));
  if (looksLikeFile) return compileScriptFile(path.resolve(cwd, target));
  const file = await resolveWorkflowRef(target, {
    cwd,
    home: loadConfig().home,
    bundledDir: BUNDLED_WORKFLOWS_DIR,
    callerDir: null,
  });
  return compileScriptFile(file);
}

function startOptions(flags: RunFlags, cwd: string): StartOptions {
  return {
    ...(flags.args === undefined ? {} : { args: flags.args }),
    ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
    budgetTokens: flags.budget ?? null,
    model: flags.model ?? null,
    cwd,
    dryRun: flags.dryRun ?? false,
    ...(flags.id === undefined ? {} : { runId: flags.id }),
  };
}

function publicSummary(summary: RunSummary): Record<string, unknown> {
  const { runId, status, result, agents, usage, durationMs, error } = summary;
  return { runId, status, result, agents, usage, durationMs, ...(error === undefined ? {} : { error }) };
}

function printSummary(summary: RunSummary, json: boolean): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(publicSummary(summary))}\n`);
  } else {
    stderr(
      `${summary.status}: ${summary.agents} agents, ${summary.usage.outputTokens} output tokens, ` +
        `${(summary.durationMs / 1000).toFixed(1)}s${summary.error ? ` — ${summary.error}` : ''}`,
    );
    if (summary.status === 'completed') process.stdout.write(`${JSON.stringify(summary.result, null, 2)}\n`);
  }
  return summary.status === 'completed' ? EXIT.completed : EXIT.notCompleted;
}

/** Polls the run's progress query and prints changes until stopped. */
function followProgress(client: WeftClient, runId: string, intervalMs = 500): () => Promise<void> {
  const printer = new ProgressPrinter(stderr);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        printer.update(await client.progress(runId));
      } catch {
        // The first query can race the first workflow task; the next poll catches up.
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    try {
      printer.update(await client.progress(runId));
    } catch {
      // A finished run whose worker has stopped cannot answer queries; the summary follows anyway.
    }
  };
}

function requireModelAccess(flags: RunFlags): void {
  if (flags.dryRun || flags.worker === false) return;
  if (!process.env.ANTHROPIC_API_KEY && !process.env.ANTHROPIC_BASE_URL) {
    throw new ConfigError(
      'ANTHROPIC_API_KEY is not set: set it, point ANTHROPIC_BASE_URL at a model server (weft mock-model), or use --dry-run',
    );
  }
}

/** `weft run` and `weft demo`: submit, run an embedded worker, show progress, wait. */
async function runScript(target: string, flags: RunFlags, activityDeps?: ActivityDeps): Promise<number> {
  const cwd = path.resolve(flags.cwd ?? process.cwd());
  const script = await loadTarget(target, cwd);
  if (!activityDeps) requireModelAccess(flags);
  const client = await WeftClient.connect();
  let worker: WeftWorker | null = null;
  try {
    if (flags.worker !== false) {
      // Agent failures already show in the run's progress; the embedded worker only reports its own.
      quietTemporalLogs('ERROR');
      worker = await createWeftWorker({
        address: client.address,
        namespace: client.config.namespace,
        taskQueue: client.config.taskQueue,
        ...(activityDeps ? { activityDeps } : {}),
      });
      void worker.run().catch((err: unknown) => stderr(`weft: worker stopped: ${(err as Error).message}`));
    }
    const runId = await client.start(script, startOptions(flags, cwd));
    stderr(`run ${runId} started (${script.meta.name})`);
    if (client.uiUrl) stderr(`  Web UI: ${client.uiUrl}/namespaces/${client.config.namespace}/workflows/${runId}`);
    const stopFollowing = followProgress(client, runId);
    const summary = await client.wait(runId);
    await stopFollowing();
    return printSummary(summary, flags.json ?? false);
  } finally {
    await worker?.shutdown();
    await client.close();
  }
}

async function startScript(target: string, flags: RunFlags): Promise<number> {
  const cwd = path.resolve(flags.cwd ?? process.cwd());
  const script = await loadTarget(target, cwd);
  const client = await WeftClient.connect();
  try {
    const runId = await client.start(script, startOptions(flags, cwd));
    if (flags.json) process.stdout.write(`${JSON.stringify({ runId })}\n`);
    else process.stdout.write(`${runId}\n`);
    return EXIT.completed;
  } finally {
    await client.close();
  }
}

async function waitForRun(runId: string, flags: { json?: boolean }): Promise<number> {
  const client = await WeftClient.connect();
  try {
    const stopFollowing = flags.json ? null : followProgress(client, runId);
    const summary = await client.wait(runId);
    await stopFollowing?.();
    return printSummary(summary, flags.json ?? false);
  } finally {
    await client.close();
  }
}

async function runWorker(flags: { maxAgents?: number }): Promise<number> {
  const config = loadConfig();
  const address = config.address ?? (await ensureDevServer({ stateDir: config.stateDir })).address;
  quietTemporalLogs();
  const worker = await createWeftWorker({
    address,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(flags.maxAgents === undefined ? {} : { maxConcurrentAgents: flags.maxAgents }),
  });
  stderr(`weft worker polling task queue "${config.taskQueue}" on ${address} (namespace ${config.namespace})`);
  await worker.run();
  return EXIT.completed;
}

async function demo(flags: { json?: boolean }): Promise<number> {
  const mock = await startMockModel({ latencyMs: 150 });
  stderr(`local model server on ${mock.url} (no network, no API key needed)`);
  try {
    const example = path.resolve(__dirname, '..', '..', 'examples', 'audit-and-verify.js');
    return await runScript(
      example,
      { json: flags.json ?? false, concurrency: 4 },
      { anthropic: () => new Anthropic({ apiKey: 'local', baseURL: mock.url, maxRetries: 0 }) },
    );
  } finally {
    await mock.close();
  }
}

function addRunFlags(command: Command): Command {
  return command
    .option('--args <json|@file>', 'the script\'s args: JSON, or @path to a JSON file', parseArgsOption)
    .option('--concurrency <n>', 'agents running at once (default min(16, cores-2))', parsePositiveInt)
    .option('--budget <tokens>', 'hard ceiling on output tokens, e.g. 500k', parseTokenBudget)
    .option('--model <model>', 'default model for agents that name none')
    .option('--cwd <dir>', 'the agents\' working directory (default: the current one)')
    .option('--dry-run', 'answer every agent from the built-in model: no network, no key, no spend')
    .option('--id <runId>', 'workflow id to use instead of a generated one')
    .option('--json', 'print one JSON object on stdout');
}

function buildProgram(setCode: (code: number) => void): Command {
  const program = new Command('weft')
    .description('Durable multi-agent workflow scripts on Temporal')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  addRunFlags(
    program
      .command('run')
      .description('run a workflow script (file or saved name) and wait for its result')
      .argument('<script>', 'path to a .js workflow script, or a saved workflow name'),
  )
    .option('--no-worker', 'do not run an embedded worker; rely on `weft worker` processes')
    .action(async (script: string, flags: RunFlags) => setCode(await runScript(script, flags)));

  addRunFlags(
    program
      .command('start')
      .description('submit a run and return its id at once; workers execute it')
      .argument('<script>', 'path to a .js workflow script, or a saved workflow name'),
  ).action(async (script: string, flags: RunFlags) => setCode(await startScript(script, flags)));

  program
    .command('wait')
    .description('wait for a run to end, then print what `weft run` prints')
    .argument('<runId>')
    .option('--json', 'print one JSON object on stdout')
    .action(async (runId: string, flags: { json?: boolean }) => setCode(await waitForRun(runId, flags)));

  program
    .command('worker')
    .description('run a long-lived worker for the task queue (WEFT_TASK_QUEUE, default "weft")')
    .option('--max-agents <n>', 'agents this worker runs at once', parsePositiveInt)
    .action(async (flags: { maxAgents?: number }) => setCode(await runWorker(flags)));

  program
    .command('validate')
    .description('run the static checks on a script without starting anything')
    .argument('<script>')
    .option('--json', 'print the script\'s meta as JSON')
    .action(async (target: string, flags: { json?: boolean }) => {
      const script = await loadTarget(target, process.cwd());
      if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, meta: script.meta, form: script.form })}\n`);
      else stderr(`ok: ${script.meta.name} — ${script.meta.description}`);
      setCode(EXIT.completed);
    });

  const server = program.command('server').description('the embedded Temporal dev server (state in .weft/)');
  server
    .command('start')
    .description('start the dev server in the background, or reuse the running one')
    .option('--json', 'print the server info as JSON')
    .action(async (flags: { json?: boolean }) => {
      const info = await ensureDevServer({ stateDir: loadConfig().stateDir });
      if (flags.json) process.stdout.write(`${JSON.stringify(info)}\n`);
      else stderr(`Temporal dev server on ${info.address}${info.uiUrl ? `, Web UI ${info.uiUrl}` : ''} (pid ${info.pid})`);
      setCode(EXIT.completed);
    });
  server
    .command('stop')
    .description('stop the dev server; its database file stays')
    .action(async () => {
      const stopped = await stopDevServer(loadConfig().stateDir);
      stderr(stopped ? 'dev server stopped' : 'no dev server was running');
      setCode(EXIT.completed);
    });
  server
    .command('status')
    .description('show whether the dev server runs')
    .option('--json', 'print the status as JSON')
    .action(async (flags: { json?: boolean }) => {
      const status = await devServerStatus(loadConfig().stateDir);
      if (flags.json) process.stdout.write(`${JSON.stringify(status ?? { running: false })}\n`);
      else stderr(status?.running ? `running on ${status.address} (pid ${status.pid})` : 'not running');
      setCode(status?.running ? EXIT.completed : EXIT.notCompleted);
    });

  program
    .command('mock-model')
    .description('serve a local Anthropic-compatible model for tests, demos and benchmarks')
    .addOption(new Option('--port <n>', 'port to listen on').argParser(parsePositiveInt).default(8787))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .addOption(new Option('--latency <ms>', 'delay before every answer').argParser(Number).default(0))
    .action(async (flags: { port: number; host: string; latency: number }) => {
      await runMockModelCommand({ port: flags.port, host: flags.host, latencyMs: flags.latency });
      setCode(EXIT.completed);
    });

  program
    .command('demo')
    .description('run an example script end to end on the embedded server and the local model server')
    .option('--json', 'print one JSON object on stdout')
    .action(async (flags: { json?: boolean }) => setCode(await demo(flags)));

  return program;
}

/** Runs the CLI and returns its exit code. Errors become one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.completed;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.completed : EXIT.refused;
    }
    if (err instanceof ScriptError || err instanceof ConfigError) {
      stderr(`weft: ${err.message}`);
      return EXIT.refused;
    }
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    stderr(`weft: ${err instanceof WeftError ? `${err.name}: ` : ''}${message}`);
    return EXIT.notCompleted;
  }
}
