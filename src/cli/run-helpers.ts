import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { RunSummary, StartOptions, WeftClient } from '../client/weft-client';
import { compileScriptFile } from '../compiler/compile-script';
import { resolveWorkflowRef } from '../compiler/saved-workflows';
import { BUNDLED_WORKFLOWS_DIR, loadConfig } from '../config';
import { ConfigError } from '../errors';
import type { CompiledScript } from '../types';
import { EXIT, printJson, stderr } from './command-context';
import { parseArgsOption, parseDuration, parsePositiveInt, parsePositiveNumber, parseTokenBudget } from './parse-options';
import { ProgressPrinter } from './progress-printer';

/** Flags shared by `weft run` and `weft start`. */
export interface RunFlags {
  args?: unknown;
  concurrency?: number;
  budget?: number;
  model?: string;
  cwd?: string;
  json?: boolean;
  worker?: boolean;
  dryRun?: boolean;
  id?: string;
  maxTurns?: number;
  agentTimeout?: number;
  resumeFrom?: string;
  maxCost?: number;
  maxDuration?: number;
}

/** Resolves `<script.js|saved-name>` to a compiled script; refusals are ScriptErrors (S105). */
export async function loadTarget(target: string, cwd: string): Promise<CompiledScript> {
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

/** Maps CLI flags to the client's start options. */
export function startOptions(flags: RunFlags, cwd: string): StartOptions {
  return {
    ...(flags.args === undefined ? {} : { args: flags.args }),
    ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
    budgetTokens: flags.budget ?? null,
    model: flags.model ?? null,
    cwd,
    dryRun: flags.dryRun ?? false,
    ...(flags.id === undefined ? {} : { runId: flags.id }),
    ...(flags.maxTurns === undefined ? {} : { maxTurns: flags.maxTurns }),
    ...(flags.agentTimeout === undefined ? {} : { agentTimeoutMs: flags.agentTimeout }),
    ...(flags.resumeFrom === undefined ? {} : { resumeFrom: flags.resumeFrom }),
    ...(flags.maxCost === undefined ? {} : { maxCostUsd: flags.maxCost }),
    ...(flags.maxDuration === undefined ? {} : { maxDurationMs: flags.maxDuration }),
  };
}

/** The documented `--json` shape of a finished run. */
export function publicSummary(summary: RunSummary): Record<string, unknown> {
  const { runId, status, result, agents, usage, durationMs, error, cached, stopReason } = summary;
  return {
    runId,
    status,
    result,
    agents,
    usage,
    durationMs,
    ...(error === undefined ? {} : { error }),
    ...(cached === undefined ? {} : { cached }),
    ...(stopReason === undefined ? {} : { stopReason }),
  };
}

/** Prints a finished run and returns the exit code: 0 when completed, 1 otherwise. */
export function printSummary(summary: RunSummary, json: boolean): number {
  if (json) {
    printJson(publicSummary(summary));
  } else {
    stderr(
      `${summary.status}: ${summary.agents} agents, ${summary.usage.outputTokens} output tokens, ` +
        `${(summary.durationMs / 1000).toFixed(1)}s${summary.cached ? `, ${summary.cached} cached` : ''}` +
        `${summary.error ? ` — ${summary.error}` : ''}${summary.stopReason ? ` — stopped: ${summary.stopReason}` : ''}`,
    );
    if (summary.status === 'completed') process.stdout.write(`${JSON.stringify(summary.result, null, 2)}\n`);
  }
  return summary.status === 'completed' ? EXIT.completed : EXIT.notCompleted;
}

/** Polls a run's progress query and prints changes until the returned stop function is called. */
export function followProgress(client: WeftClient, runId: string, intervalMs = 500): () => Promise<void> {
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

/** Refuses to start a run whose embedded worker could not reach any model. */
export function requireModelAccess(flags: RunFlags): void {
  if (flags.dryRun || flags.worker === false) return;
  if (!process.env.ANTHROPIC_API_KEY && !process.env.ANTHROPIC_BASE_URL) {
    throw new ConfigError(
      'ANTHROPIC_API_KEY is not set: set it, point ANTHROPIC_BASE_URL at a model server (weft mock-model), or use --dry-run',
    );
  }
}

/** Adds the flags `weft run` and `weft start` share. */
export function addRunFlags(command: Command): Command {
  return command
    .option('--args <json|@file>', "the script's args: JSON, or @path to a JSON file", parseArgsOption)
    .option('--concurrency <n>', 'agents running at once (default min(16, cores-2))', parsePositiveInt)
    .option('--budget <tokens>', 'hard ceiling on output tokens, e.g. 500k', parseTokenBudget)
    .option('--max-cost <usd>', 'hard ceiling on estimated spend in US dollars, e.g. 2.50', parsePositiveNumber)
    .option('--max-duration <duration>', 'stop admitting agents after this long, e.g. 30m', parseDuration)
    .option('--resume-from <runId>', "serve matching agent calls from a finished run's completed agents")
    .option('--model <model>', 'default model for agents that name none')
    .option('--cwd <dir>', "the agents' working directory (default: the current one)")
    .option('--dry-run', 'answer every agent from the built-in model: no network, no key, no spend')
    .option('--max-turns <n>', 'model round trips per agent (default 50)', parsePositiveInt)
    .option('--agent-timeout <duration>', 'longest one agent may run, e.g. 90s, 20m (default 30m)', parseDuration)
    .option('--id <runId>', 'workflow id to use instead of a generated one')
    .option('--json', 'print one JSON object on stdout');
}
