import { promises as fs } from 'node:fs';
import os from 'node:os';
import Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BUNDLED_WORKFLOWS_DIR, DEFAULT_MODEL } from '../config';
import { AgentError, AgentOutputError, ConfigError, WeftError } from '../errors';
import type {
  AgentActivities,
  AgentRequest,
  AgentResult,
  CompiledScript,
  LoadWorkflowRequest,
} from '../types';
import type { AgentDefinition } from './agent/agent-types';
import { findAgentType } from './agent/agent-types';
import type { AgentCheckpoint } from './agent/checkpoint';
import { readCheckpoint } from './agent/checkpoint';
import { dryRunAgent } from './agent/dry-run';
import { runAgentLoop } from './agent/run-agent';
import type { AgentWorktree } from './agent/worktree';
import { createWorktree, finishWorktree, reopenWorktree } from './agent/worktree';
import { resolveModelAlias } from './model-info';
import { loadMcpServers } from './mcp/mcp-config';
import type { McpServerEntry } from './mcp/mcp-config';
import { McpPool } from './mcp/mcp-pool';
import { expandServerNames, mcpToolsFor } from './mcp/mcp-tools';
import { createBashTool } from './tools/bash';
import { selectTools, withReplacements } from './tools/registry';
import type { SandboxPolicy } from './tools/sandbox';
import type { AgentTool } from './tools/tool-types';
import { DEFAULT_SANDBOX_SETTINGS, resolveSandbox } from './tools/sandbox';

/** Interval of the agent activity's background heartbeat; well under the workflow's 15 s timeout. */
const HEARTBEAT_EVERY_MS = 3_000;

/** What the activities need from the process that hosts them. */
export interface ActivityDeps {
  /** Builds the model client; called per agent so credentials can rotate. Defaults to env settings. */
  anthropic?: () => Anthropic;
  /** Model for agents that name none; defaults to `WEFT_MODEL`, then weft's default model. */
  defaultModel?: string;
  /** Home folder for personal saved workflows and agent definitions; defaults to `WEFT_HOME`, then ~. */
  home?: string;
  /** Folder of bundled workflows. */
  bundledWorkflowsDir?: string;
  /** Retries of one model call on rate limits, overload and 5xx before the agent fails (S404). */
  maxModelRetries?: number;
  /** First backoff between model retries, doubled per retry, when the server names no wait. */
  retryBaseMs?: number;
  /** Largest checkpoint carried in heartbeat details (S405). */
  checkpointMaxBytes?: number;
  /**
   * Finds and compiles the definition a nested `workflow()` names. The runtime knows no definition
   * format: the host that builds the worker passes the loader of src/workflow-files.
   */
  loadWorkflowFile?: WorkflowFileLoader;
  /**
   * The sandbox Bash runs in, `null` for none (S808). When left out, the default settings are
   * resolved here: sandboxed where the machine allows, with one warning where it does not.
   */
  sandbox?: SandboxPolicy | null;
  /** Files in `.mcp.json` form (`--mcp-config`), read before the project's own `.mcp.json` (S807). */
  mcpConfigFiles?: readonly string[];
  /** The worker's MCP connections; the worker owns it and closes it. One is made when left out. */
  mcpPool?: McpPool;
}

/** Finds and compiles a nested workflow's definition; see {@link ActivityDeps.loadWorkflowFile}. */
export type WorkflowFileLoader = (
  request: LoadWorkflowRequest,
  folders: { home: string; bundledDir: string },
) => Promise<CompiledScript>;

/**
 * The model an agent runs on (S204, S403): the script's `opts.model`, else its agent type's model,
 * else the run's default, else the worker's.
 */
export function resolveModel(
  request: AgentRequest,
  definition: AgentDefinition | null,
  fallback: string,
): string {
  const explicit = request.explicitModel === undefined ? request.model : request.explicitModel;
  // Claude Code's aliases (`haiku`, `opusplan`, `sonnet[1m]`, `default`) are never sent raw.
  return resolveModelAlias(explicit ?? definition?.model ?? request.model ?? fallback, fallback);
}

async function workingDir(dir: string): Promise<string> {
  const real = await fs.realpath(dir).catch(() => null);
  const stat = real ? await fs.stat(real).catch(() => null) : null;
  if (!real || !stat?.isDirectory())
    throw new ConfigError(`the agents' working directory ${dir} does not exist`);
  return real;
}

/** An Anthropic client configured from `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`. */
export function anthropicFromEnv(env: NodeJS.ProcessEnv = process.env): Anthropic {
  const apiKey = env.ANTHROPIC_API_KEY ?? (env.ANTHROPIC_BASE_URL ? 'local' : undefined);
  if (!apiKey) {
    throw new ConfigError('ANTHROPIC_API_KEY is not set (or set ANTHROPIC_BASE_URL to a local model server)');
  }
  return new Anthropic({ apiKey, baseURL: env.ANTHROPIC_BASE_URL ?? null, maxRetries: 0 });
}

/**
 * Turns an error into the failure Temporal records: its class name becomes the failure type, and
 * retryability is explicit, so terminal errors never burn the workflow's retry policy.
 */
export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const spent = err as { usage?: unknown; costUsd?: unknown; worktree?: unknown; modelCalls?: unknown };
  const details = [
    {
      usage: spent.usage ?? null,
      costUsd: spent.costUsd ?? null,
      issues: err instanceof AgentOutputError ? err.issues : null,
      worktree: spent.worktree ?? null,
      modelCalls: spent.modelCalls ?? null,
    },
  ];
  if (err instanceof WeftError) {
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: !err.retryable,
      details,
      cause: err,
    });
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({
    type: e.name,
    message: e.message,
    nonRetryable: false,
    details,
    cause: e,
  });
}

/** Builds the activities a weft worker registers. Tests pass clients pointed at local servers. */
export function createActivities(deps: ActivityDeps = {}): AgentActivities {
  const makeClient = deps.anthropic ?? (() => anthropicFromEnv());
  const defaultModel = deps.defaultModel ?? (process.env.WEFT_MODEL?.trim() || DEFAULT_MODEL);
  const home = deps.home ?? (process.env.WEFT_HOME?.trim() || os.homedir());
  const bundledDir = deps.bundledWorkflowsDir ?? BUNDLED_WORKFLOWS_DIR;
  const sandbox =
    deps.sandbox === undefined
      ? resolveSandbox(DEFAULT_SANDBOX_SETTINGS, (line) => process.stderr.write(`${line}\n`))
      : deps.sandbox;
  const builtinTools = withReplacements([createBashTool(sandbox)]);
  const mcpPool = deps.mcpPool ?? new McpPool();
  const mcpConfigFiles = deps.mcpConfigFiles ?? [];

  /**
   * The agent's tools: the built-in ones and the MCP tools its list asks for (all when it names
   * none), with a line for each MCP server that cannot be used, to tell the agent (S807).
   */
  const agentTools = async (
    names: readonly string[] | null,
    cwd: string,
  ): Promise<{ tools: AgentTool[]; problems: string[] }> => {
    let entries: McpServerEntry[];
    try {
      entries = loadMcpServers({ configFiles: mcpConfigFiles, projectDir: cwd });
    } catch (err) {
      // A broken config file costs the agent its MCP tools, not its run.
      entries = [];
      const problem = `MCP servers are unavailable: ${(err as Error).message}`;
      return { tools: selectTools(names, builtinTools).tools, problems: [problem] };
    }
    const mcp = await mcpToolsFor(mcpPool, entries, names);
    const available = [...builtinTools, ...mcp.tools];
    const wanted = names === null ? null : expandServerNames(names, mcp.tools);
    return { tools: selectTools(wanted, available).tools, problems: mcp.problems };
  };

  return {
    async runAgent(request: AgentRequest): Promise<AgentResult> {
      const ctx = Context.current();
      // A retried attempt finds the last checkpoint of the one before it (S405).
      const resume = readCheckpoint(ctx.info.heartbeatDetails);
      // Beats re-send the latest checkpoint, so a beat never erases the one the server holds.
      let details: AgentCheckpoint | undefined = resume ?? undefined;
      const heartbeat = (d?: AgentCheckpoint): void => {
        if (d !== undefined) details = d;
        ctx.heartbeat(details);
      };
      // A model call can stream for minutes; beat on a timer too, so only a dead worker misses one.
      const beat = setInterval(() => ctx.heartbeat(details), HEARTBEAT_EVERY_MS);
      const deadline = agentDeadline(ctx.info.startToCloseTimeoutMs, resume?.startedAt ?? Date.now());
      const signal = AbortSignal.any([ctx.cancellationSignal, deadline.signal]);
      let worktree: AgentWorktree | null = null;
      try {
        if (request.dryRun) return dryRunAgent(request, request.model ?? defaultModel);
        const definition = request.agentType
          ? await findAgentType(request.agentType, { cwd: request.cwd, home })
          : null;
        const model = resolveModel(request, definition, defaultModel);
        // A restricted list never removes StructuredOutput: the loop adds it for schema agents (S403).
        const { tools, problems } = await agentTools(request.tools ?? definition?.tools ?? null, request.cwd);
        let checkpoint = resume;
        if (request.isolation === 'worktree') {
          const saved = resume?.worktree ? await reopenWorktree(resume.worktree) : null;
          worktree =
            saved ??
            (await createWorktree({
              cwd: request.cwd,
              runId: request.runId,
              index: request.index,
              label: request.label,
            }));
          // A conversation about files in a worktree that is gone (another machine) cannot go on.
          if (checkpoint && !saved) checkpoint = { ...checkpoint, messages: null };
          heartbeat({ ...(checkpoint ?? emptyCheckpoint(model)), worktree });
        }
        const cwd = await workingDir(worktree?.cwd ?? request.cwd);
        const result = await runAgentLoop(request, {
          client: makeClient(),
          model,
          heartbeat,
          signal,
          sleep: (ms) => sleepUnless(ms, signal),
          tools,
          cwd,
          instructions:
            [definition?.systemPrompt, request.instructions, ...problems]
              .filter((s) => s?.trim())
              .join('\n\n') || null,
          resume: checkpoint,
          worktree,
          ...(deps.maxModelRetries === undefined ? {} : { maxModelRetries: deps.maxModelRetries }),
          ...(deps.retryBaseMs === undefined ? {} : { retryBaseMs: deps.retryBaseMs }),
          ...(deps.checkpointMaxBytes === undefined ? {} : { checkpointMaxBytes: deps.checkpointMaxBytes }),
        });
        result.activityAttempt = ctx.info.attempt;
        if (worktree) result.worktree = await finishWorktree(worktree);
        return result;
      } catch (caught) {
        const cancelled = ctx.cancellationSignal.aborted;
        let err = caught;
        if (!cancelled && deadline.signal.aborted) {
          // Ran out of time: a failure of the agent, not of the worker, so not one to retry.
          const spent = caught as { usage?: unknown; costUsd?: unknown; modelCalls?: unknown };
          err = Object.assign(
            new AgentError(
              `agent "${request.label}" timed out after ${formatSeconds(ctx.info.startToCloseTimeoutMs)} (${request.timeoutSetting ?? '--agent-timeout'})`,
              { cause: caught },
            ),
            { usage: spent.usage, costUsd: spent.costUsd, modelCalls: spent.modelCalls },
          );
        }
        // A final failure settles the worktree; one Temporal will retry keeps it for the retry.
        if (worktree && (cancelled || (err instanceof WeftError && !err.retryable))) {
          const kept = await finishWorktree(worktree).catch(() => ({
            path: worktree?.path,
            branch: worktree?.branch,
          }));
          if (err instanceof Error) Object.assign(err, { worktree: kept });
        }
        // A cancelled agent completes as cancelled, not as a failure to retry.
        if (cancelled) throw ctx.cancellationSignal.reason ?? err;
        throw toFailure(err);
      } finally {
        clearInterval(beat);
        deadline.clear();
      }
    },

    async loadWorkflow(request: LoadWorkflowRequest): Promise<CompiledScript> {
      try {
        if (!deps.loadWorkflowFile) {
          throw new ConfigError('this worker loads no nested workflows: its host passed no loadWorkflowFile');
        }
        return await deps.loadWorkflowFile(request, { home, bundledDir });
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

/**
 * The per-agent timeout (S405) is the activity's start-to-close timeout. The agent ends itself a
 * little before Temporal would, so that it fails once and for all instead of being retried, and
 * counts from its first attempt, so an agent resumed after a lost worker gets no fresh allowance.
 */
function agentDeadline(limitMs: number, startedAt: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  if (!(limitMs > 0)) return { signal: controller.signal, clear: () => {} };
  const margin = Math.min(1_000, limitMs / 10);
  const left = Math.min(limitMs - margin, startedAt + limitMs - margin - Date.now());
  const timer = setTimeout(() => controller.abort(new Error('agent timeout')), Math.max(0, left));
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** A wait between model retries that ends early, with the signal's reason, on cancel or timeout. */
function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A checkpoint with nothing done yet, to carry a new worktree before the first turn. */
function emptyCheckpoint(model: string): AgentCheckpoint {
  return {
    v: 1,
    startedAt: Date.now(),
    model,
    turns: 0,
    modelCalls: 0,
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    schemaAttempts: 0,
    lastIssues: [],
    messages: null,
    worktree: null,
  };
}
