/**
 * How a Stratus-style run reaches Temporal (S703): a client the caller passes, a connection, or
 * weft's own configuration (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `WEFT_TASK_QUEUE`, or the
 * embedded dev server), exactly as `WeftClient.connect()` finds it.
 */
import { Client } from '@temporalio/client';
import { loadConfig } from '../config';
import { connectTemporal } from '../connection/connect-temporal';
import { ConfigError } from '../errors';
import { bindPayloadServer, dataConverterFromEnv } from '../storage/data-converter';
import type { ConnectedWeftClient, RunWorkflowOptions } from './types';

/**
 * A Temporal client, the task queue of the weft workers, and how to let go of them.
 * @example
 * ```ts
 * const { client, taskQueue, close } = await resolveConnection({ taskQueue: 'weft' });
 * try {
 *   await client.workflow.list().next();
 * } finally {
 *   await close();
 * }
 * ```
 */
export interface StratusConnection {
  client: Client;
  taskQueue: string;
  /** Closes what this run opened; a client the caller passed stays open. */
  close(): Promise<void>;
}

/**
 * The client and task queue a run uses.
 *
 * @throws ConfigError when Temporal cannot be reached.
 * @example
 * ```ts
 * const connection = await resolveConnection({ client: await WeftClient.connect() });
 * console.log(connection.taskQueue);
 * ```
 */
export async function resolveConnection(
  options: Pick<RunWorkflowOptions, 'client' | 'connection' | 'namespace' | 'taskQueue'>,
): Promise<StratusConnection> {
  const keep = async (): Promise<void> => {};
  if (isConnectedWeftClient(options.client)) {
    return {
      client: options.client.temporal,
      taskQueue: options.taskQueue ?? options.client.config.taskQueue,
      close: keep,
    };
  }
  if (options.client instanceof Client) {
    return { client: options.client, taskQueue: options.taskQueue ?? loadConfig().taskQueue, close: keep };
  }
  if (options.client !== undefined)
    throw new ConfigError('runWorkflow option client must be a WeftClient or a Temporal Client');
  const config = loadConfig();
  if (options.connection !== undefined) {
    const dataConverter = dataConverterFromEnv(process.env, config);
    bindPayloadServer(dataConverter, options.connection);
    const client = new Client({
      connection: options.connection,
      namespace: options.namespace ?? config.namespace,
      dataConverter,
    });
    return { client, taskQueue: options.taskQueue ?? config.taskQueue, close: keep };
  }
  const weft = await connectTemporal({
    config: { ...config, ...(options.namespace ? { namespace: options.namespace } : {}) },
  });
  return {
    client: weft.client,
    taskQueue: options.taskQueue ?? weft.config.taskQueue,
    close: () => weft.connection.close(),
  };
}

/** A `WeftClient`, known by its shape: its Temporal client and configuration. */
function isConnectedWeftClient(value: unknown): value is ConnectedWeftClient {
  if (typeof value !== 'object' || value === null || value instanceof Client) return false;
  const candidate = value as Partial<ConnectedWeftClient>;
  return candidate.temporal instanceof Client && typeof candidate.config?.taskQueue === 'string';
}
