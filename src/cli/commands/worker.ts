import type { Command } from 'commander';
import { describeConnection, loadConfig, temporalConnectOptions } from '../../config';
import { WEFT_SEARCH_ATTRIBUTES } from '../../search-attributes';
import { ensureDevServer } from '../../dev-server/dev-server';
import { createWeftWorker } from '../../worker';
import { EXIT, stderr } from '../command-context';
import type { CommandContext } from '../command-context';
import { parsePositiveInt } from '../parse-options';
import { quietTemporalLogs } from '../temporal-runtime';

async function runWorker(flags: { maxAgents?: number }): Promise<number> {
  const config = loadConfig();
  const address =
    config.address ??
    (await ensureDevServer({ stateDir: config.stateDir, searchAttributes: WEFT_SEARCH_ATTRIBUTES })).address;
  quietTemporalLogs('WARN');
  const worker = await createWeftWorker({
    ...temporalConnectOptions(config, address),
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(flags.maxAgents === undefined ? {} : { maxConcurrentAgents: flags.maxAgents }),
  });
  const how = describeConnection(config, address);
  stderr(
    `weft worker polling task queue "${config.taskQueue}" on ${address} (namespace ${config.namespace}${how.tls ? ', TLS' : ''}${how.auth === 'none' ? '' : `, auth ${how.auth}`})`,
  );
  await worker.run();
  return EXIT.completed;
}

/** Registers `weft worker`. */
export function registerWorkerCommands(program: Command, ctx: CommandContext): void {
  program
    .command('worker')
    .description('run a long-lived worker for the task queue (WEFT_TASK_QUEUE, default "weft")')
    .option('--max-agents <n>', 'agents this worker runs at once', parsePositiveInt)
    .action(async (flags: { maxAgents?: number }) => ctx.setCode(await runWorker(flags)));
}
