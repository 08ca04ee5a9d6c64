import type { Command } from 'commander';
import { describeConnection, loadConfig, temporalConnectOptions } from '../../config';
import { WEFT_SEARCH_ATTRIBUTES } from '../../search-attributes';
import { ensureDevServer } from '../../dev-server/dev-server';
import { resolveSandbox } from '../../activities/tools/sandbox';
import { createWeftWorker } from '../../worker';
import { EXIT, stderr } from '../command-context';
import type { CommandContext } from '../command-context';
import { parsePositiveInt } from '../parse-options';
import { quietTemporalLogs } from '../temporal-runtime';
import type { WorkerToolFlags } from '../worker-flags';
import { addWorkerToolFlags, sandboxSettings } from '../worker-flags';

async function runWorker(flags: WorkerFlags): Promise<number> {
  const config = loadConfig();
  // Refuses `--sandbox required` before connecting anywhere; warns once when Bash runs unconfined.
  const sandbox = resolveSandbox(sandboxSettings(flags), stderr);
  const address =
    config.address ??
    (await ensureDevServer({ stateDir: config.stateDir, searchAttributes: WEFT_SEARCH_ATTRIBUTES })).address;
  quietTemporalLogs('WARN');
  const worker = await createWeftWorker({
    ...temporalConnectOptions(config, address),
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    activityDeps: { sandbox, mcpConfigFiles: flags.mcpConfig ?? [] },
    ...(flags.maxAgents === undefined ? {} : { maxConcurrentAgents: flags.maxAgents }),
  });
  const how = describeConnection(config, address);
  stderr(
    `weft worker polling task queue "${config.taskQueue}" on ${address} (namespace ${config.namespace}${how.tls ? ', TLS' : ''}${how.auth === 'none' ? '' : `, auth ${how.auth}`})`,
  );
  await worker.run();
  return EXIT.completed;
}

interface WorkerFlags extends WorkerToolFlags {
  maxAgents?: number;
}

/** Registers `weft worker`. */
export function registerWorkerCommands(program: Command, ctx: CommandContext): void {
  addWorkerToolFlags(
    program
      .command('worker')
      .description('run a long-lived worker for the task queue (WEFT_TASK_QUEUE, default "weft")')
      .option('--max-agents <n>', 'agents this worker runs at once', parsePositiveInt),
  ).action(async (flags: WorkerFlags) => ctx.setCode(await runWorker(flags)));
}
