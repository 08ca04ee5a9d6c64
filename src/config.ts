import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TLSConfig } from '@temporalio/client';
import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';
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

/**
 * How a process reaches a Temporal server other than the embedded one: what `@temporalio/envconfig`
 * resolved from the `temporal` CLI's TOML profile and the `TEMPORAL_*` variables.
 */
export interface TemporalConnectionConfig {
  /** `true` for TLS with the system's roots, an object for a CA, client pair or server name, `false`/undefined for plaintext. */
  tls: TLSConfig | boolean | undefined;
  /** Sent as `authorization: Bearer …`; never printed. */
  apiKey: string | undefined;
  /** Extra gRPC metadata (`TEMPORAL_GRPC_META_*`, `grpc_meta` in the profile). */
  metadata: Record<string, string> | undefined;
  /** The profile named by `TEMPORAL_PROFILE`, or null for the default one. */
  profile: string | null;
  /** The TOML file that was read, or null when there was none. */
  configFile: string | null;
}

/** Where a process finds Temporal and what it runs, from the environment (Temporal's conventions). */
export interface WeftConfig {
  /** The frontend (host:port) from the profile or `TEMPORAL_ADDRESS`, or null to use the embedded dev server. */
  address: string | null;
  namespace: string;
  taskQueue: string;
  model: string;
  /** Folder of weft's per-project state: the embedded server's database and logs. */
  stateDir: string;
  home: string;
  /** TLS, API key and metadata for `address`; absent for the embedded dev server. */
  connection?: TemporalConnectionConfig;
}

/** The options every Temporal connection of a process uses: client, worker and history activities. */
export interface TemporalConnectOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** The environment without empty values: an empty `TEMPORAL_ADDRESS=` means unset, as it always has. */
function nonEmptyEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== '') out[key] = value.trim();
  }
  return out;
}

/** The TOML file envconfig reads: `TEMPORAL_CONFIG_FILE`, else the `temporal` CLI's default path. */
function configFilePath(env: Record<string, string>): string | null {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const configHome = env.XDG_CONFIG_HOME ?? path.join(env.HOME ?? os.homedir(), '.config');
  const file = path.join(configHome, 'temporalio', 'temporal.toml');
  return fs.existsSync(file) ? file : null;
}

/** One line from an error that may carry a stack or a multi-line gRPC report. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/** Resolves the Temporal connection the way the `temporal` CLI does, through `@temporalio/envconfig`. */
function loadTemporalProfile(env: Record<string, string>): {
  address: string | null;
  namespace: string | undefined;
  connection: TemporalConnectionConfig;
} {
  const configFile = configFilePath(env);
  // envconfig treats a missing file as "no file"; a file the user named explicitly must exist.
  if (env.TEMPORAL_CONFIG_FILE && !fs.existsSync(env.TEMPORAL_CONFIG_FILE)) {
    throw new ConfigError(`TEMPORAL_CONFIG_FILE names ${env.TEMPORAL_CONFIG_FILE}, which does not exist`);
  }
  let profile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: env });
  } catch (err) {
    throw new ConfigError(
      `cannot read the Temporal profile${configFile ? ` in ${configFile}` : ''}: ${oneLine(err)}`,
    );
  }
  let connect;
  try {
    // Reads the certificate and key files now, so a wrong path is refused before anything starts.
    connect = toClientOptions(profile);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const file = (err as NodeJS.ErrnoException).path;
    throw new ConfigError(
      code === 'ENOENT' || code === 'EACCES'
        ? `cannot read TLS file ${file ?? ''} named by the Temporal profile or TEMPORAL_TLS_* (${code})`
        : `bad TLS settings in the Temporal profile: ${oneLine(err)}`,
    );
  }
  const address = connect.connectionOptions.address?.trim() || null;
  if (address !== null && !/^[^:\s]+:\d+$/.test(address)) {
    throw new ConfigError(`TEMPORAL_ADDRESS must be host:port, got "${address}"`);
  }
  return {
    address,
    namespace: connect.namespace?.trim() || undefined,
    connection: {
      tls: connect.connectionOptions.tls ?? undefined,
      apiKey: connect.connectionOptions.apiKey as string | undefined,
      metadata: connect.connectionOptions.metadata as Record<string, string> | undefined,
      profile: env.TEMPORAL_PROFILE ?? null,
      configFile: configFile !== null && fs.existsSync(configFile) ? configFile : null,
    },
  };
}

/**
 * Reads weft's settings from the environment and the `temporal` CLI's TOML profile
 * (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_PROFILE`,
 * `TEMPORAL_CONFIG_FILE`). With no address anywhere, weft uses its embedded dev server.
 *
 * @throws ConfigError for a malformed address, a missing profile or an unreadable certificate.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): WeftConfig {
  const vars = nonEmptyEnv(env);
  const temporal = loadTemporalProfile(vars);
  return {
    address: temporal.address,
    namespace: temporal.namespace ?? 'default',
    taskQueue: vars.WEFT_TASK_QUEUE ?? 'weft',
    model: vars.WEFT_MODEL ?? DEFAULT_MODEL,
    stateDir: path.resolve(cwd, '.weft'),
    home: vars.WEFT_HOME ?? os.homedir(),
    ...(temporal.address === null ? {} : { connection: temporal.connection }),
  };
}

/** The connection options for `address` under `config`: TLS and the API key only for a configured server. */
export function temporalConnectOptions(config: WeftConfig, address: string): TemporalConnectOptions {
  const connection = address === config.address ? config.connection : undefined;
  return {
    address,
    ...(connection?.tls === undefined ? {} : { tls: connection.tls }),
    ...(connection?.apiKey === undefined ? {} : { apiKey: connection.apiKey }),
    ...(connection?.metadata === undefined ? {} : { metadata: connection.metadata }),
  };
}

/** What a process connected to, safe to print: no key, no certificate, no metadata values. */
export interface ConnectionDescription {
  address: string;
  namespace: string;
  /** True for the embedded dev server weft started or reused. */
  embedded: boolean;
  tls: boolean;
  /** `none`, `api-key`, `mtls` (a client certificate) or `api-key+mtls`. */
  auth: 'none' | 'api-key' | 'mtls' | 'api-key+mtls';
  profile: string | null;
  configFile: string | null;
}

/** Describes a connection without any secret in it. */
export function describeConnection(config: WeftConfig, address: string): ConnectionDescription {
  const connection = address === config.address ? config.connection : undefined;
  const tls = connection?.tls;
  const mtls = typeof tls === 'object' && tls.clientCertPair !== undefined;
  const apiKey = connection?.apiKey !== undefined;
  return {
    address,
    namespace: config.namespace,
    embedded: config.address === null,
    tls: tls !== undefined && tls !== false,
    auth: apiKey && mtls ? 'api-key+mtls' : apiKey ? 'api-key' : mtls ? 'mtls' : 'none',
    profile: connection?.profile ?? null,
    configFile: connection?.configFile ?? null,
  };
}

/**
 * The smallest default concurrency cap, whatever the machine. Agents spend their time waiting on
 * the model over the network, not on the CPU, so a 2-core machine still runs 4 at once; a cap of
 * `cores - 2` alone would make `parallel()` serial there.
 */
export const MIN_DEFAULT_CONCURRENCY = 4;

/** The default concurrency cap: min(16, cores - 2), but at least {@link MIN_DEFAULT_CONCURRENCY} (S212). */
export function defaultConcurrency(cores = os.availableParallelism()): number {
  return Math.max(MIN_DEFAULT_CONCURRENCY, Math.min(16, cores - 2));
}

/** Folder of the workflows that ship with weft, such as deep-research (S504). */
export const BUNDLED_WORKFLOWS_DIR = path.resolve(__dirname, '..', 'workflows');
