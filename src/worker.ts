import fs from 'node:fs';
import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities/create-activities';
import { createRunHistoryActivities } from './activities/run-history-activities';
import type { ActivityDeps } from './activities/create-activities';
import { oneLine } from './config';
import { explainConnectFailure } from './connection-probe';
import { ConfigError } from './errors';
import type { TemporalConnectOptions } from './config';
import { bindPayloadServer, dataConverterFromEnv } from './storage/data-converter';
import { McpPool } from './activities/mcp/mcp-pool';
import type { SandboxSettings } from './activities/tools/sandbox';
import { DEFAULT_SANDBOX_SETTINGS, resolveSandbox } from './activities/tools/sandbox';
import type { AgentActivities, WeftActivities } from './types';
import { ISOLATE_EXECUTION_TIMEOUT_MS } from './workflows/script-watchdog';
import { loadWorkflowFile } from './workflow-files/load-workflow-file';

/**
 * The agent activities a weft worker registers: {@link createActivities} with the workflow-file
 * loader that nested `workflow()` calls need, unless `deps` names another.
 */
export function createWorkerActivities(deps: ActivityDeps = {}): AgentActivities {
  return createActivities({ loadWorkflowFile, ...deps });
}

/** Options for a weft worker. */
export interface WeftWorkerOptions {
  /** Temporal frontend, host:port. */
  address: string;
  /** TLS for the frontend (envconfig's `tls`); plaintext when absent. */
  tls?: TemporalConnectOptions['tls'];
  /** API key sent as `authorization: Bearer …` on every call. */
  apiKey?: string;
  /** Extra gRPC metadata on every call. */
  metadata?: Record<string, string>;
  namespace?: string;
  taskQueue: string;
  /** Agent activities to register; by default `createWorkerActivities(activityDeps)`. */
  activities?: AgentActivities;
  activityDeps?: ActivityDeps;
  /**
   * How Bash is sandboxed (S808), resolved once at start: `--sandbox required` without a working
   * sandbox throws `ConfigError` before the worker polls; `auto` without one warns once.
   */
  sandbox?: SandboxSettings;
  /** Agents this worker runs at once, across all runs. Agents wait on the model, not the CPU. */
  maxConcurrentAgents?: number;
  /** Payload conversion and external storage; by default the payload store the environment names. */
  dataConverter?: DataConverter;
  /** Extra Temporal worker options, for tuning and tests. */
  workerOptions?: Partial<WorkerOptions>;
}

/** The prebundled workflow code written by `npm run build`, if present. */
function workflowCode(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = path.resolve(__dirname, 'workflow-bundle.js');
  // A prebundled sandbox saves the seconds webpack would spend at every worker start.
  if (fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('./workflows') };
}

/** A worker together with the connection it owns. */
export interface WeftWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Stops polling, lets running agents finish, and closes the connection. */
  shutdown(): Promise<void>;
  /** Resolves when the worker has stopped. */
  run(): Promise<void>;
}

/**
 * Creates a worker that runs weft scripts (the interpreter workflow) and their agents (the
 * activities) on one task queue. Several workers may share a queue and a run's agents.
 */
export async function createWeftWorker(options: WeftWorkerOptions): Promise<WeftWorker> {
  const sandbox =
    options.activities || options.activityDeps?.sandbox !== undefined
      ? undefined
      : resolveSandbox(options.sandbox ?? DEFAULT_SANDBOX_SETTINGS, (line) =>
          process.stderr.write(`${line}\n`),
        );
  // MCP connections live as long as the worker and are shared by all its agents (S807).
  const mcpPool = options.activityDeps?.mcpPool ?? new McpPool();
  const activityDeps: ActivityDeps = {
    ...options.activityDeps,
    ...(sandbox === undefined ? {} : { sandbox }),
    mcpPool,
  };
  const connect: TemporalConnectOptions = {
    address: options.address,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
  };
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connect);
  } catch (err) {
    // The SDK's transport errors are Rust debug dumps; a direct probe says why in words.
    const reason = (await explainConnectFailure(connect)) ?? oneLine(err);
    throw new ConfigError(
      `cannot connect to Temporal at ${options.address}${connect.tls ? ' over TLS' : ''}: ${reason}`,
    );
  }
  const namespace = options.namespace ?? 'default';
  // Large prompts and outputs live in the payload store, so histories stay under Temporal's limits;
  // the history activities read earlier runs through the same store.
  const dataConverter = options.dataConverter ?? dataConverterFromEnv();
  // Stored payloads record which server and run they belong to, so gc can tell them apart.
  bindPayloadServer(dataConverter, connection);
  const activities: WeftActivities = {
    ...(options.activities ?? createWorkerActivities(activityDeps)),
    ...createRunHistoryActivities({ connect, namespace, dataConverter }),
  };
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: options.taskQueue,
    activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentAgents ?? 200,
    // Heartbeats carry cancellation back to an agent and its checkpoint to the server; the default
    // throttle (0.8 x the 15 s timeout) would delay a stop, and lose progress on a crash, by ~12 s.
    maxHeartbeatThrottleInterval: '2 seconds',
    // Pollers that follow the server's backlog instead of a fixed 10 each: agents finish in bursts, and
    // a ready poller takes the next task at once (less time and CPU per agent, docs/benchmarks.md).
    workflowTaskPollerBehavior: { type: 'autoscaling' },
    activityTaskPollerBehavior: { type: 'autoscaling' },
    dataConverter,
    // Above the script watchdog's limit, so a script that never yields fails its run (a ScriptError)
    // before Temporal stops the activation and retries its workflow task forever.
    // The SDK reads this option but does not declare it ("not exposed at the moment").
    ...({ isolateExecutionTimeout: ISOLATE_EXECUTION_TIMEOUT_MS } as Partial<WorkerOptions>),
    ...workflowCode(),
    ...options.workerOptions,
  });
  let running: Promise<void> | null = null;
  const run = (): Promise<void> => {
    running ??= worker.run().finally(async () => {
      await mcpPool.close();
      await connection.close();
    });
    return running;
  };
  return {
    worker,
    connection,
    run,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await run();
    },
  };
}
