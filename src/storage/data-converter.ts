/**
 * The data converter every weft worker and client uses: Temporal's default converters, plus
 * external storage, so that large payloads (long prompts, big agent outputs, the records of a
 * 1000-agent run) live outside the workflow history and never hit Temporal's 2 MiB payload or
 * 50 MiB history limits.
 */
import path from 'node:path';
import { ExternalStorage, StorageDriverClaim } from '@temporalio/common';
import type { DataConverter, StorageDriver } from '@temporalio/common';
import { decodeReferencePayload, encodeReferencePayload } from '@temporalio/common/lib/internal-non-workflow';
import { loadConfig } from '../config';
import type { WeftConfig } from '../config';
import { ConfigError } from '../errors';
import { FileSystemStorageDriver } from './fs-storage-driver';

/**
 * Payloads at least this large (serialized bytes) go to the payload store. 1000 agents, each with
 * an inline prompt and output just under it, still leave the history far below 50 MiB, while the
 * prompts and answers of ordinary agents stay readable in the Web UI.
 */
export const DEFAULT_PAYLOAD_THRESHOLD = 16 * 1024;

/** How a process stores large payloads. Workers and clients of one namespace must agree. */
export interface PayloadStorageOptions {
  /**
   * Folder of the local payload store. It is always registered for reading, so runs whose payloads
   * were stored on disk stay readable after switching to another driver. Null: no local store.
   */
  dir: string | null;
  /**
   * A driver to store new payloads with instead of the local folder, e.g. one on S3 or GCS. Its
   * `name` must stay stable: it is written into every reference.
   */
  driver?: StorageDriver;
  /** Payloads of at least this many bytes are stored outside history; default 16 KiB. */
  thresholdBytes?: number;
}

let probed: string | null | undefined;

/**
 * Why the SDK's external storage cannot work in this install, or null when it can. It fails when
 * npm leaves @temporalio/common and @temporalio/proto with separate copies of protobufjs: the
 * reference payloads are written with one copy's protojson and the other copy's types, and every
 * store throws "type must be a Type". A direct `protobufjs@^8` dependency makes npm share one copy.
 */
export function externalStorageProblem(): string | null {
  if (probed !== undefined) return probed;
  try {
    const claim = new StorageDriverClaim({ probe: '1' });
    const reference = encodeReferencePayload({ driverName: 'probe', claim, sizeBytes: 1 });
    decodeReferencePayload(reference);
    probed = null;
  } catch (err) {
    probed =
      `Temporal external storage is unusable here (${(err as Error).message}); ` +
      '`npm ls protobufjs` most likely shows two copies of protobufjs 8 under @temporalio: add protobufjs@^8 to dependencies so npm hoists one';
  }
  return probed;
}

/**
 * Builds the Temporal data converter for {@link PayloadStorageOptions}. Pass the result to
 * `Worker.create({ dataConverter })`, `new Client({ dataConverter })` and
 * `Worker.runReplayHistory({ dataConverter })` alike: a process without the same drivers cannot
 * read the payloads the others stored.
 */
export function createDataConverter(options: PayloadStorageOptions): DataConverter {
  const drivers: StorageDriver[] = [];
  const local = options.dir === null ? null : new FileSystemStorageDriver({ dir: options.dir });
  if (local) drivers.push(local);
  if (options.driver) {
    if (local && options.driver.name === local.name) {
      throw new ConfigError(
        `payload driver name "${options.driver.name}" is reserved for weft's local store`,
      );
    }
    drivers.push(options.driver);
  }
  // A converter whose every large payload throws would wedge runs in workflow-task retries; without
  // storage, runs behave as before and only very large ones hit Temporal's limits.
  if (drivers.length === 0 || externalStorageProblem() !== null) return {};
  const writer = options.driver ?? local;
  return {
    externalStorage: new ExternalStorage({
      drivers,
      driverSelector: () => writer,
      payloadSizeThreshold: options.thresholdBytes ?? DEFAULT_PAYLOAD_THRESHOLD,
    }),
  };
}

/**
 * The module `WEFT_PAYLOAD_DRIVER` names must export `createStorageDriver(env)` (or a default export
 * of that function) returning a Temporal `StorageDriver`.
 */
export type StorageDriverFactory = (env: NodeJS.ProcessEnv) => StorageDriver;

function loadDriverModule(modulePath: string, cwd: string, env: NodeJS.ProcessEnv): StorageDriver {
  const resolved = path.resolve(cwd, modulePath);
  let mod: { createStorageDriver?: unknown; default?: unknown };
  try {
    // The driver is the user's plug-in, named at run time; only require() can load it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(resolved) as typeof mod;
  } catch (err) {
    throw new ConfigError(`cannot load WEFT_PAYLOAD_DRIVER ${resolved}: ${(err as Error).message}`);
  }
  const factory = mod.createStorageDriver ?? mod.default;
  if (typeof factory !== 'function') {
    throw new ConfigError(`WEFT_PAYLOAD_DRIVER ${resolved} must export a createStorageDriver(env) function`);
  }
  const driver = (factory as StorageDriverFactory)(env);
  if (
    typeof driver?.name !== 'string' ||
    typeof driver.store !== 'function' ||
    typeof driver.retrieve !== 'function'
  ) {
    throw new ConfigError(`createStorageDriver() of ${resolved} did not return a StorageDriver`);
  }
  return driver;
}

function parseThreshold(text: string): number {
  const match = /^(\d+)\s*([kKmM]?)[bB]?$/.exec(text.trim());
  if (!match)
    throw new ConfigError(`WEFT_PAYLOAD_THRESHOLD must be a size like 16384, 16k or 1m, got "${text}"`);
  const unit = match[2]?.toLowerCase();
  return Number(match[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
}

/**
 * Where this process keeps large payloads, from the environment:
 * - `WEFT_PAYLOAD_DIR`: the local store's folder. Default: `<home>/.weft/payloads`, one folder
 *   whatever the server and working directory, so every weft process of this user on this machine
 *   (workers, clients, replays) agrees; workers on several machines need a shared driver.
 * - `WEFT_PAYLOAD_DRIVER`: path of a module whose `createStorageDriver(env)` returns the driver new
 *   payloads are stored with (S3, GCS, ...); the local folder stays registered for reading.
 * - `WEFT_PAYLOAD_THRESHOLD`: the size from which payloads leave the history (default 16k).
 */
export function payloadStorageFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  config: WeftConfig = loadConfig(env),
  cwd = process.cwd(),
): PayloadStorageOptions {
  const dirSetting = env.WEFT_PAYLOAD_DIR?.trim();
  const dir = dirSetting ? path.resolve(cwd, dirSetting) : path.join(config.home, '.weft', 'payloads');
  const driverSetting = env.WEFT_PAYLOAD_DRIVER?.trim();
  const thresholdSetting = env.WEFT_PAYLOAD_THRESHOLD?.trim();
  return {
    dir,
    ...(driverSetting ? { driver: loadDriverModule(driverSetting, cwd, env) } : {}),
    ...(thresholdSetting ? { thresholdBytes: parseThreshold(thresholdSetting) } : {}),
  };
}

/** The data converter for this process's environment; what workers and clients use by default. */
export function dataConverterFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  config?: WeftConfig,
): DataConverter {
  return createDataConverter(payloadStorageFromEnv(env, config ?? loadConfig(env)));
}

/** What {@link bindPayloadServer} needs of a connection: Temporal's workflow service. */
export interface ClusterInfoSource {
  workflowService: { getClusterInfo(request: object): Promise<{ clusterId?: string | null }> };
}

/**
 * The identity of the Temporal server a connection reaches: its cluster id. It is kept in the
 * server's own database, so it survives restarts and tells apart two dev servers that used the
 * same port at different times (one per project).
 */
export async function serverIdentity(connection: ClusterInfoSource): Promise<string | null> {
  const info = await connection.workflowService.getClusterInfo({});
  return info.clusterId ? `cluster:${info.clusterId}` : null;
}

/**
 * Tells the local payload store of `dataConverter` which server this process stores payloads
 * for, so every stored payload records its owner (server, namespace, run) and `weft payloads gc`
 * on one server never deletes what another server's runs need. Workers and clients call it once
 * connected; a store whose server is already set keeps it.
 */
export function bindPayloadServer(
  dataConverter: DataConverter | undefined,
  connection: ClusterInfoSource,
): void {
  for (const driver of dataConverter?.externalStorage?.drivers ?? []) {
    if (driver instanceof FileSystemStorageDriver && !driver.hasServer) {
      driver.bindServer(() => serverIdentity(connection));
    }
  }
}
