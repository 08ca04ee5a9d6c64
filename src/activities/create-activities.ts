import os from 'node:os';
import Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { compileScriptFile } from '../compiler/compile-script';
import { resolveWorkflowRef } from '../compiler/saved-workflows';
import { BUNDLED_WORKFLOWS_DIR, DEFAULT_MODEL } from '../config';
import { AgentOutputError, ConfigError, WeftError } from '../errors';
import type { AgentActivities, AgentRequest, AgentResult, CompiledScript, LoadWorkflowRequest } from '../types';
import { runAgentLoop } from './agent/run-agent';
import { dryRunAgent } from './agent/dry-run';

/** Interval of the agent activity's background heartbeat; well under the workflow's 15 s timeout. */
const HEARTBEAT_EVERY_MS = 3_000;

/** What the activities need from the process that hosts them. */
export interface ActivityDeps {
  /** Builds the model client; called per agent so credentials can rotate. Defaults to env settings. */
  anthropic?: () => Anthropic;
  /** Model for agents that name none. */
  defaultModel?: string;
  /** Home folder for personal saved workflows and agent definitions. */
  home?: string;
  /** Folder of bundled workflows. */
  bundledWorkflowsDir?: string;
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
  const spent = err as { usage?: unknown; costUsd?: unknown };
  const details = [
    {
      usage: spent.usage ?? null,
      costUsd: spent.costUsd ?? null,
      issues: err instanceof AgentOutputError ? err.issues : null,
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
  return ApplicationFailure.create({ type: e.name, message: e.message, nonRetryable: false, details, cause: e });
}

/** Builds the activities a weft worker registers. Tests pass clients pointed at local servers. */
export function createActivities(deps: ActivityDeps = {}): AgentActivities {
  const makeClient = deps.anthropic ?? (() => anthropicFromEnv());
  const defaultModel = deps.defaultModel ?? DEFAULT_MODEL;
  const home = deps.home ?? os.homedir();
  const bundledDir = deps.bundledWorkflowsDir ?? BUNDLED_WORKFLOWS_DIR;

  return {
    async runAgent(request: AgentRequest): Promise<AgentResult> {
      const ctx = Context.current();
      const model = request.model ?? defaultModel;
      // A model call can stream for minutes; beat on a timer too, so only a dead worker misses one.
      let details: unknown = undefined;
      const beat = setInterval(() => ctx.heartbeat(details), HEARTBEAT_EVERY_MS);
      try {
        if (request.dryRun) return dryRunAgent(request, model);
        return await runAgentLoop(request, {
          client: makeClient(),
          model,
          heartbeat: (d) => {
            if (d !== undefined) details = d;
            ctx.heartbeat(details);
          },
          signal: ctx.cancellationSignal,
          sleep: (ms) => ctx.sleep(ms),
        });
      } catch (err) {
        // A cancelled agent completes as cancelled, not as a failure to retry.
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        throw toFailure(err);
      } finally {
        clearInterval(beat);
      }
    },

    async loadWorkflow(request: LoadWorkflowRequest): Promise<CompiledScript> {
      try {
        const file = await resolveWorkflowRef(request.ref, {
          cwd: request.cwd,
          home,
          bundledDir,
          callerDir: request.callerDir,
        });
        return await compileScriptFile(file);
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}
