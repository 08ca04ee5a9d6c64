import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import type { Command } from 'commander';
import type { ActivityDeps } from '../../activities/create-activities';
import { WeftClient } from '../../client/weft-client';
import type { RunSummary } from '../../client/weft-client';
import { startMockModel } from '../../mock-model/server';
import { resolveSandbox } from '../../activities/tools/sandbox';
import { createWeftWorker } from '../../worker';
import type { WeftWorker } from '../../worker';
import { EXIT, printJson, stderr } from '../command-context';
import type { CommandContext } from '../command-context';
import { printDryRun } from '../dry-run-report';
import {
  addRunFlags,
  checkCwd,
  failOnAgentErrorOption,
  followProgress,
  loadTarget,
  printSummary,
  refuseUnpricedModels,
  requireModelAccess,
  startOptions,
  warnWhenNoWorker,
} from '../run-helpers';
import type { FailOnAgentError, RunFlags } from '../run-helpers';
import { quietTemporalLogs } from '../temporal-runtime';
import { addWorkerToolFlags, sandboxSettings } from '../worker-flags';
import type { CompiledScript } from '../../types';

/** `weft run` and `weft demo`: submit, run an embedded worker, show progress, wait. */
async function runScript(target: string, flags: RunFlags, activityDeps?: ActivityDeps): Promise<number> {
  const cwd = path.resolve(flags.cwd ?? process.cwd());
  checkCwd(cwd, flags.cwd);
  return runCompiled(await loadTarget(target, cwd), flags, activityDeps);
}

/**
 * Runs a compiled script as `weft run` does: an embedded worker unless `--no-worker`, live
 * progress on stderr, the summary on stdout. Returns the exit code. `weft workflow run` (S603)
 * shares it.
 */
export async function runCompiled(
  script: CompiledScript,
  flags: RunFlags,
  activityDeps?: ActivityDeps,
): Promise<number> {
  const cwd = path.resolve(flags.cwd ?? process.cwd());
  checkCwd(cwd, flags.cwd);
  if (!activityDeps) requireModelAccess(flags);
  refuseUnpricedModels(script, flags);
  // Decided before anything connects, so `--sandbox required` on a machine without one refuses
  // cleanly (exit 2) and nothing starts (S808).
  const workerDeps: ActivityDeps | undefined =
    flags.worker === false
      ? undefined
      : {
          ...activityDeps,
          sandbox: resolveSandbox(sandboxSettings(flags), stderr),
          mcpConfigFiles: flags.mcpConfig ?? [],
        };
  const client = await WeftClient.connect();
  let worker: WeftWorker | null = null;
  try {
    if (flags.worker !== false) {
      // Agent failures already show in the run's progress; the embedded worker only reports its own.
      quietTemporalLogs('ERROR', { handleCtrlC: false });
      worker = await createWeftWorker({
        ...client.connectOptions(),
        namespace: client.config.namespace,
        taskQueue: client.config.taskQueue,
        ...(workerDeps ? { activityDeps: workerDeps } : {}),
      });
      void worker.run().catch((err: unknown) => stderr(`weft: worker stopped: ${(err as Error).message}`));
    }
    const runId = await client.start(script, startOptions(flags, cwd));
    detachOnCtrlC(runId, worker !== null);
    stderr(`run ${runId} started (${script.meta.name})`);
    if (client.uiUrl)
      stderr(`  Web UI: ${client.uiUrl}/namespaces/${client.config.namespace}/workflows/${runId}`);
    const stopFollowing = followProgress(client, runId);
    const stopWarning = worker ? null : warnWhenNoWorker(client, runId);
    let summary: RunSummary;
    try {
      summary = await client.wait(runId);
      stopWarning?.();
      await stopFollowing(summary);
    } finally {
      stopWarning?.();
      await stopFollowing();
    }
    return flags.dryRun
      ? printDryRun(summary, flags.json ?? false)
      : printSummary(summary, flags.json ?? false, flags.failOnAgentError);
  } finally {
    await worker?.shutdown();
    await client.close();
  }
}

/** Exit code after Ctrl-C: 128 + SIGINT, as shells report it. */
export const EXIT_INTERRUPTED = 130;

let detachInstalled = false;

/**
 * Ctrl-C while `weft run` waits detaches at once: the run stays on the server and goes on, and the
 * line says how to reattach or stop it. weft does not offer to stop the run (Claude Code's way):
 * a durable run outliving its terminal is the point, and `weft stop` is one command away. With an
 * embedded worker, its agents in flight are retried by the next worker once their heartbeat
 * times out. A second Ctrl-C, should the first still be on its way out, exits too.
 */
function detachOnCtrlC(runId: string, embeddedWorker: boolean): void {
  if (detachInstalled) return;
  detachInstalled = true;
  let pressed = false;
  process.on('SIGINT', () => {
    if (pressed) process.exit(EXIT_INTERRUPTED);
    pressed = true;
    // The live view may have hidden the cursor; give it back.
    if (process.stderr.isTTY) process.stderr.write('\x1b[?25h\n');
    stderr(
      `weft: detaching; the run goes on: \`weft watch ${runId}\` to reattach, \`weft stop ${runId}\` to stop it` +
        (embeddedWorker ? ' (this process ran its worker: start `weft worker` for its agents to go on)' : ''),
    );
    process.exit(EXIT_INTERRUPTED);
  });
}

async function startScript(target: string, flags: RunFlags): Promise<number> {
  const cwd = path.resolve(flags.cwd ?? process.cwd());
  checkCwd(cwd, flags.cwd);
  const script = await loadTarget(target, cwd);
  refuseUnpricedModels(script, flags);
  const client = await WeftClient.connect();
  try {
    const runId = await client.start(script, startOptions(flags, cwd));
    if (flags.json) printJson({ runId });
    else process.stdout.write(`${runId}\n`);
    return EXIT.completed;
  } finally {
    await client.close();
  }
}

/** `weft wait` and `weft workflow watch`: follow a run's progress, then print its summary. */
export async function waitForRun(
  runId: string,
  flags: { json?: boolean; follow?: boolean; failOnAgentError?: FailOnAgentError },
): Promise<number> {
  const client = await WeftClient.connect();
  try {
    // Fails fast for an unknown run, before any view is drawn or poll loop starts.
    await client.describeRun(runId);
    // Progress goes to stderr; with --json, `weft wait` keeps quiet unless asked to follow.
    const stopFollowing = flags.json && !flags.follow ? null : followProgress(client, runId);
    const stopWarning = warnWhenNoWorker(client, runId);
    let summary: RunSummary;
    try {
      summary = await client.wait(runId);
      stopWarning();
      await stopFollowing?.(summary);
    } finally {
      stopWarning();
      await stopFollowing?.();
    }
    return printSummary(summary, flags.json ?? false, flags.failOnAgentError);
  } finally {
    await client.close();
  }
}

async function demo(flags: { json?: boolean }): Promise<number> {
  const mock = await startMockModel({ latencyMs: 150 });
  stderr(`local model server on ${mock.url} (no network, no API key needed)`);
  try {
    const example = path.resolve(__dirname, '..', '..', '..', 'examples', 'audit-and-verify.js');
    return await runScript(
      example,
      { json: flags.json ?? false, concurrency: 4 },
      { anthropic: () => new Anthropic({ apiKey: 'local', baseURL: mock.url, maxRetries: 0 }) },
    );
  } finally {
    await mock.close();
  }
}

/** Registers run, start, wait, validate and demo. */
export function registerRunCommands(program: Command, ctx: CommandContext): void {
  addWorkerToolFlags(
    addRunFlags(
      program
        .command('run')
        .description('run a workflow script (file or saved name) and wait for its result')
        .argument('<script>', 'path to a .js workflow script or .yaml workflow, or a saved workflow name'),
    ),
  )
    .option('--no-worker', 'do not run an embedded worker; rely on `weft worker` processes')
    .addOption(failOnAgentErrorOption())
    .action(async (script: string, flags: RunFlags) => ctx.setCode(await runScript(script, flags)));

  addRunFlags(
    program
      .command('start')
      .description('submit a run and return its id at once; workers execute it')
      .argument('<script>', 'path to a .js workflow script, or a saved workflow name'),
  ).action(async (script: string, flags: RunFlags) => ctx.setCode(await startScript(script, flags)));

  program
    .command('wait')
    .description('wait for a run to end, then print what `weft run` prints')
    .argument('<runId>')
    .option('--json', 'print one JSON object on stdout')
    .addOption(failOnAgentErrorOption())
    .action(async (runId: string, flags: { json?: boolean; failOnAgentError?: FailOnAgentError }) =>
      ctx.setCode(await waitForRun(runId, flags)),
    );

  program
    .command('validate')
    .description('run the static checks on a script without starting anything')
    .argument('<script>', 'path to a .js workflow script, or a saved workflow name')
    .option('--json', "print the script's meta and warnings as JSON")
    .action(async (target: string, flags: { json?: boolean }) => {
      const script = await loadTarget(target, process.cwd());
      const warnings = script.warnings ?? [];
      // Warnings never fail validation: the script runs as it is (S103).
      for (const w of warnings) stderr(`${w.file}:${w.line}:${w.column}: ${w.message}`);
      if (flags.json) printJson({ ok: true, meta: script.meta, form: script.form, warnings });
      else stderr(`ok: ${script.meta.name} — ${script.meta.description}`);
      ctx.setCode(EXIT.completed);
    });

  program
    .command('demo')
    .description('run an example script end to end on the embedded server and the local model server')
    .option('--json', 'print one JSON object on stdout')
    .action(async (flags: { json?: boolean }) => ctx.setCode(await demo(flags)));
}
