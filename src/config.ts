import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors';

/**
 * The default model, chosen from the current (not deprecated) models in @anthropic-ai/sdk's
 * model list. `WEFT_MODEL` or `--model` overrides it.
 */
export const DEFAULT_MODEL = 'claude-sonnet-4-6';

/** Agents per run at most (S212). */
export const MAX_AGENTS = 1000;

/** Longest one agent may run unless `--agent-timeout` says otherwise (S405). */
export const DEFAULT_AGENT_TIMEOUT_MS = 30 * 60 * 1000;

/** Model round trips per agent unless `--max-turns` says otherwise. */
export const DEFAULT_MAX_TURNS = 50;

/** Where a process finds Temporal and what it runs, from the environment (Temporal's conventions). */
export interface WeftConfig {
  /** `TEMPORAL_ADDRESS` (host:port), or null to use the embedded dev server. */
  address: string | null;
  namespace: string;
  taskQueue: string;
  model: string;
  /** Folder of weft's per-project state: the embedded server's database and logs. */
  stateDir: string;
  home: string;
}

/** Reads weft's settings from the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): WeftConfig {
  const address = env.TEMPORAL_ADDRESS?.trim() || null;
  if (address !== null && !/^[^:\s]+:\d+$/.test(address)) {
    throw new ConfigError(`TEMPORAL_ADDRESS must be host:port, got "${address}"`);
  }
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE?.trim() || 'default',
    taskQueue: env.WEFT_TASK_QUEUE?.trim() || 'weft',
    model: env.WEFT_MODEL?.trim() || DEFAULT_MODEL,
    stateDir: path.resolve(cwd, '.weft'),
    home: env.WEFT_HOME?.trim() || os.homedir(),
  };
}

/** The default concurrency cap: min(16, cores - 2), at least 1 (S212). */
export function defaultConcurrency(cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(16, cores - 2));
}

/** Folder of the workflows that ship with weft, such as deep-research (S504). */
export const BUNDLED_WORKFLOWS_DIR = path.resolve(__dirname, '..', 'workflows');
