/**
 * How a Stratus-style run reaches Temporal (S703): a client the caller passes, a connection, or
 * weft's own configuration (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `WEFT_TASK_QUEUE`, or the
 * embedded dev server), exactly as `WeftClient.connect()` finds it.
 */
import { Client } from '@temporalio/client';
import { WeftClient } from '../client/weft-client';
import { loadConfig } from '../config';
import { ConfigError } from '../errors';
import { bindPayloadServer, dataConverterFromEnv } from '../storage/data-converter';
import type { RunWorkflowOptions } from './types';

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
  if (options.client instanceof WeftClient) {
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
  const weft = await WeftClient.connect({
    config: { ...config, ...(options.namespace ? { namespace: options.namespace } : {}) },
  });
  return {
    client: weft.temporal,
    taskQueue: options.taskQueue ?? weft.config.taskQueue,
    close: () => weft.close(),
  };
}
