import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { RunSummary, StartOptions, WeftClient } from '../client/weft-client';
import { isYamlPath } from '../agentos/compile-yaml';
import { compileWorkflowFile } from '../workflow-files/compile-workflow-file';
import { resolveWorkflowRef } from '../workflow-files/saved-workflows';
import { resolveModelAlias } from '../activities/model-info';
import { PRICED_MODELS, isPriced } from '../activities/pricing';
import { BUNDLED_WORKFLOWS_DIR, DEFAULT_MODEL, loadConfig } from '../config';
import { ConfigError } from '../errors';
import { runNameProblem, TEMPORAL_MAX_ID_LENGTH } from '../compiler/run-names';
import type { CompiledScript, RunProgress } from '../types';
import { EXIT, printJson, stderr } from './command-context';
import {
  parseArgsOption,
  parseDuration,
  parsePositiveInt,
  parsePositiveNumber,
  parseTokenBudget,
} from './parse-options';
import { LiveView } from './live-view';
import { safeJsonText } from './terminal-text';
import { AgentCountWarning, ProgressPrinter } from './progress-printer';
import type { WorkerToolFlags } from './worker-flags';

/** Flags shared by `weft run` and `weft start`. */
export interface RunFlags extends WorkerToolFlags {
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
  failOnAgentError?: FailOnAgentError;
}

/**
 * When failed agents make a completed run's exit code nonzero (`--fail-on-agent-error`): `all`
 * (the default) when agents failed and none completed, so a run whose every agent hit a 401 or an
 * unreachable model is no success; `any` when one agent failed; `never` to judge by the run alone.
 */
export type FailOnAgentError = 'all' | 'any' | 'never';

/** The `--fail-on-agent-error` values. */
export const FAIL_ON_AGENT_ERROR: readonly FailOnAgentError[] = ['all', 'any', 'never'];

/** Agents of a finished run that failed, and those that gave an answer (ran or came from the cache). */
export function agentOutcomes(summary: RunSummary): { failed: number; answered: number } {
  const records = summary.output?.records ?? [];
  return {
    failed: records.filter((r) => r.status === 'failed').length,
    answered: records.filter((r) => r.status === 'completed' || r.status === 'cached').length,
  };
}

/** The exit code of a finished run under a `--fail-on-agent-error` policy. */
export function exitCodeOf(summary: RunSummary, failOn: FailOnAgentError = 'all'): number {
  if (summary.status !== 'completed') return EXIT.notCompleted;
  const { failed, answered } = agentOutcomes(summary);
  if (failed > 0 && (failOn === 'any' || (failOn === 'all' && answered === 0))) return EXIT.agentsFailed;
  return EXIT.completed;
}

/** Refuses an agents' working directory that does not exist, before anything starts. */
export function checkCwd(cwd: string, given: string | undefined): void {
  let isDir = false;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new ConfigError(
      `--cwd ${given ?? cwd}: ${existsSync(cwd) ? 'not a directory' : 'no such directory'} (${cwd})`,
    );
  }
}

/**
 * Resolves `<script.js|workflow.yaml|saved-name>` to a compiled script; refusals are ScriptErrors
 * (S105). A YAML definition's agent roles are resolved against `cwd`'s agent types, with
 * `agentOverrides` (`--agent role=type`) first (S601).
 */
export async function loadTarget(
  target: string,
  cwd: string,
  agentOverrides: Readonly<Record<string, string>> = {},
): Promise<CompiledScript> {
  refuseInsideAgent();
  const home = loadConfig().home;
  const roles = { cwd, home, overrides: agentOverrides };
  const looksLikeFile =
    target.endsWith('.js') ||
    isYamlPath(target) ||
    target.includes('/') ||
    existsSync(path.resolve(cwd, target));
  const file = looksLikeFile
    ? path.resolve(cwd, target)
    : await resolveWorkflowRef(target, { cwd, home, bundledDir: BUNDLED_WORKFLOWS_DIR, callerDir: null });
  if (!isYamlPath(file) && Object.keys(agentOverrides).length > 0) {
    throw new ConfigError('--agent role=type applies to YAML workflows only');
  }
  return compileWorkflowFile(file, { roles });
}

/**
 * Agents run non-interactively and may not start workflows (S402). Their Bash tool marks its
 * environment with WEFT_AGENT=1, so a `weft run` an agent tries is refused before it compiles.
 */
export function refuseInsideAgent(env: NodeJS.ProcessEnv = process.env): void {
  if (env.WEFT_AGENT === '1') {
    throw new ConfigError(
      'agents cannot start workflows: weft run/start is refused inside an agent (WEFT_AGENT=1)',
    );
  }
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

function roundUsd(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

/** The documented `--json` shape of a finished run. */
export function publicSummary(summary: RunSummary): Record<string, unknown> {
  const { runId, status, result, agents, usage, durationMs, error, cached, stopReason } = summary;
  return {
    runId,
    status,
    result,
    agents,
    failedAgents: agentOutcomes(summary).failed,
    usage,
    // What `--max-cost` is checked against; null when the run left no output to count it from.
    costUsd: summary.output ? roundUsd(summary.output.costUsd) : null,
    durationMs,
    ...(error === undefined ? {} : { error }),
    ...(cached === undefined ? {} : { cached }),
    ...(stopReason === undefined ? {} : { stopReason }),
  };
}

/**
 * Prints a finished run and returns the exit code: 0 when completed, 3 when completed with failed
 * agents as `failOn` counts them ({@link exitCodeOf}), 1 otherwise.
 */
export function printSummary(summary: RunSummary, json: boolean, failOn: FailOnAgentError = 'all'): number {
  const code = exitCodeOf(summary, failOn);
  const { failed } = agentOutcomes(summary);
  if (json) {
    printJson(publicSummary(summary));
  } else {
    stderr(
      `${summary.status}: ${summary.agents} agents${failed > 0 ? ` (${failed} failed)` : ''}, ${summary.usage.outputTokens} output tokens, ` +
        `${(summary.durationMs / 1000).toFixed(1)}s${summary.cached ? `, ${summary.cached} cached` : ''}` +
        `${summary.error ? ` — ${summary.error}` : ''}${summary.stopReason ? ` — stopped: ${summary.stopReason}` : ''}`,
    );
    if (summary.status === 'completed')
      process.stdout.write(`${safeJsonText(JSON.stringify(summary.result, null, 2))}\n`);
    if (code === EXIT.agentsFailed) {
      stderr(
        failOn === 'any'
          ? `weft: ${failed} agent${failed === 1 ? '' : 's'} failed (--fail-on-agent-error any): exit 3`
          : `weft: every agent failed (${failed}); see weft show ${summary.runId}: exit 3`,
      );
    }
  }
  return code;
}

/**
 * Ends `followProgress`; give it the run's summary so the last frame shows the final records. Only
 * the first call does anything.
 */
export type StopFollowing = (summary?: RunSummary) => Promise<void>;

/** The final snapshot of a run from its output, on top of the last live one (which has the phases). */
function finalSnapshot(last: RunProgress | null, summary: RunSummary | undefined): RunProgress | null {
  const output = summary?.output;
  if (!output || !last) return last;
  return {
    ...last,
    state: summary.status === 'completed' ? 'completed' : 'failed',
    agents: output.records,
    logs: output.logs,
    usage: output.usage,
    costUsd: output.costUsd,
  };
}

/**
 * Follows a run's progress query until the returned stop function is called (S501): on a terminal,
 * a live tree redrawn in place; otherwise plain lines. Warns once when the run schedules more than
 * 25 agents (S505). Queries are cheap and are not recorded in the run's history.
 */
export function followProgress(client: WeftClient, runId: string, intervalMs = 500): StopFollowing {
  const warning = new AgentCountWarning(runId);
  const tty =
    Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb' && !process.env.WEFT_PLAIN_PROGRESS;
  const printer = tty ? null : new ProgressPrinter(stderr, runId);
  let view: LiveView | null = null;
  let last: RunProgress | null = null;
  let stopped = false;
  let wake = (): void => {};
  const show = (progress: RunProgress): void => {
    last = progress;
    const line = warning.check(progress);
    if (line !== null) {
      if (view) view.note(line);
      else stderr(line);
    }
    if (view) view.update(progress);
    else printer?.update(progress);
  };
  const loop = (async () => {
    if (tty) view = await LiveView.create(process.stderr, runId).catch(() => null);
    for (let poll = 0; !stopped; poll++) {
      const progress = await client.tryProgress(runId, 2_000);
      if (stopped) break;
      // Tool calls live in the agents' heartbeats: a describe call, so only every few polls.
      if (view && poll % 4 === 0) view.setLastTools(await client.lastToolCalls(runId).catch(() => new Map()));
      if (progress) show(progress);
      else view?.render();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  let ended: Promise<void> | null = null;
  // Callers stop it in a finally block too, so a wait that threw never leaves the poll loop running.
  return (summary?: RunSummary) => (ended ??= finish(summary));
  async function finish(summary?: RunSummary): Promise<void> {
    stopped = true;
    wake();
    await loop;
    // A run that ended before the first poll (a fast run, or `weft watch` attached late) still gets
    // its whole tree: the phases come from one query, which a live worker answers after the end.
    // Without an output, the freshest query wins.
    if (!summary?.output || last === null) last = (await client.tryProgress(runId, 2_000)) ?? last;
    const final = summary?.output ? finalSnapshot(last, summary) : last;
    if (final) {
      const line = warning.check(final);
      if (line !== null) stderr(line);
    }
    if (view) {
      view.done(final ?? undefined, summary?.status);
      return;
    }
    if (final) printer?.update(final);
    if (summary) printer?.finish(summary, final?.agents ?? []);
  }
}

/** How long a run may see no worker on its task queue before the CLI says so. */
export const NO_WORKER_GRACE_MS = 3_000;

/**
 * Says once, on stderr, when no worker polls the run's task queue for a few seconds (`run
 * --no-worker`, `wait`, `watch`): such a run waits, as Temporal runs do, but nobody executes it,
 * and a person cannot otherwise tell that from a slow run. Returns the function that stops
 * checking; checks stop by themselves once the line is printed.
 */
export function warnWhenNoWorker(
  client: WeftClient,
  runId: string,
  options: { graceMs?: number; sink?: (line: string) => void } = {},
): () => void {
  const graceMs = options.graceMs ?? NO_WORKER_GRACE_MS;
  const sink = options.sink ?? stderr;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let taskQueue: string | null = null;
  const check = async (): Promise<void> => {
    taskQueue ??= await client.taskQueueOf(runId);
    const pollers = await client.pollerCount(taskQueue);
    if (stopped) return;
    if (pollers > 0) return schedule();
    sink(
      `weft: no worker is polling task queue ${taskQueue} on namespace ${client.config.namespace}; ` +
        'start one with `weft worker` (the run waits until one does)',
    );
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      // A failed check (the server went away) is not the user's news; the wait reports that.
      check().catch(() => schedule());
    }, graceMs);
  };
  schedule();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/**
 * The models a run may use that can be known before it starts: `--model` (else `WEFT_MODEL`, else
 * weft's default), the phases' models and every literal `model: '...'` in the script, aliases
 * resolved as agents resolve them.
 */
export function modelsOfRun(
  script: CompiledScript,
  flags: RunFlags,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const fallback = env.WEFT_MODEL?.trim() || DEFAULT_MODEL;
  const named = [flags.model ?? fallback, ...(script.meta.phases ?? []).map((p) => p.model)];
  for (const match of script.code.matchAll(/\bmodel\s*:\s*(['"`])([^'"`\n]+)\1/g)) named.push(match[2]);
  const models = named.filter((m): m is string => typeof m === 'string' && m.trim() !== '');
  return [...new Set(models.map((m) => resolveModelAlias(m, fallback)))];
}

/**
 * `--max-cost` needs a price for every model the run uses: a run on a model weft cannot price
 * would never see its spend grow, so the ceiling would not hold. Refused before it starts (S805).
 */
export function refuseUnpricedModels(
  script: CompiledScript,
  flags: RunFlags,
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (flags.maxCost === undefined || flags.dryRun) return;
  const unpriced = modelsOfRun(script, flags, env).filter((m) => !isPriced(m));
  if (unpriced.length > 0) {
    throw new ConfigError(
      `--max-cost cannot be kept: no known price for ${unpriced.join(', ')} (weft prices ${PRICED_MODELS.length} Claude models; see README "How cost is counted")`,
    );
  }
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

/** Parses `--id`: a workflow id the server takes (S105: a refused flag starts nothing). */
export function parseRunId(raw: string): string {
  const problem = runNameProblem(raw, '--id', TEMPORAL_MAX_ID_LENGTH);
  if (problem !== null) throw new InvalidArgumentError(problem);
  return raw;
}

/** Adds the flags `weft run` and `weft start` share. */
export function addRunFlags(command: Command): Command {
  return command
    .option('--args <json|@file>', "the script's args: JSON, or @path to a JSON file", parseArgsOption)
    .option(
      '--concurrency <n>',
      'agents running at once (default min(16, cores-2), at least 4)',
      parsePositiveInt,
    )
    .option('--budget <tokens>', 'hard ceiling on output tokens, e.g. 500k', parseTokenBudget)
    .option(
      '--max-cost <usd>',
      'hard ceiling on estimated spend in US dollars, e.g. 2.50',
      parsePositiveNumber,
    )
    .option('--max-duration <duration>', 'stop admitting agents after this long, e.g. 30m', parseDuration)
    .option(
      '--resume-from <runId>',
      "serve matching agent calls from a finished run's completed agents",
      parseRunId,
    )
    .option('--model <model>', 'default model for agents that name none')
    .option('--cwd <dir>', "the agents' working directory (default: the current one)")
    .option('--dry-run', 'answer every agent from the built-in model: no network, no key, no spend')
    .option('--max-turns <n>', 'model round trips per agent (default 50)', parsePositiveInt)
    .option(
      '--agent-timeout <duration>',
      'longest one agent may run, e.g. 90s, 20m (default 30m)',
      parseDuration,
    )
    .option('--id <runId>', 'workflow id to use instead of a generated one', parseRunId)
    .option('--json', 'print one JSON object on stdout');
}

/** `--fail-on-agent-error <all|any|never>`, shared by `run`, `wait` and `watch`. */
export function failOnAgentErrorOption(): Option {
  return new Option(
    '--fail-on-agent-error <when>',
    'exit 3 when a completed run has failed agents: all = every agent failed, any = one did, never',
  )
    .choices(FAIL_ON_AGENT_ERROR)
    .default('all');
}
