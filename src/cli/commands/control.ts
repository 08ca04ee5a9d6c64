import { readFile } from 'node:fs/promises';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { Command } from 'commander';
import { knownRun } from '../../client/weft-client';
import { ConfigError } from '../../errors';
import { replayHistory } from '../../replay';
import { EXIT, printJson, stderr, withClient } from '../command-context';
import type { CommandContext } from '../command-context';
import { quietTemporalLogs } from '../temporal-runtime';

/** Registers stop, pause, continue and replay (S306, S307). */
export function registerControlCommands(program: Command, ctx: CommandContext): void {
  program
    .command('stop')
    .description('stop a run (running agents are cancelled), or one agent with --agent')
    .argument('<runId>')
    .option('--agent <label|index>', 'stop only this agent; its agent() gives null')
    .option('--reason <text>', 'recorded on the stopped agent')
    .action(async (runId: string, flags: { agent?: string; reason?: string }) => {
      await withClient(async (client) => {
        if (flags.agent === undefined) {
          await client.stop(runId);
          stderr(`run ${runId}: stop requested`);
          return;
        }
        const target = /^\d+$/.test(flags.agent) ? Number(flags.agent) : flags.agent;
        const matched = await client.stopAgent(runId, target, flags.reason);
        if (matched === 0)
          throw new ConfigError(`run ${runId} has no queued or running agent "${flags.agent}"`);
        stderr(`run ${runId}: stopped ${matched} agent${matched === 1 ? '' : 's'} matching "${flags.agent}"`);
      });
      ctx.setCode(EXIT.completed);
    });

  program
    .command('pause')
    .description('stop admitting new agents; running ones finish')
    .argument('<runId>')
    .action(async (runId: string) => {
      await withClient((client) => client.pause(runId));
      stderr(`run ${runId}: paused`);
      ctx.setCode(EXIT.completed);
    });

  program
    .command('continue')
    .description('admit agents again after pause')
    .argument('<runId>')
    .action(async (runId: string) => {
      await withClient((client) => client.continue(runId));
      stderr(`run ${runId}: continued`);
      ctx.setCode(EXIT.completed);
    });

  program
    .command('replay')
    .description("replay a run's history against the current worker code and report nondeterminism")
    .argument('[runId]', 'a run on the server')
    .option('--history <file>', 'replay a history exported as JSON instead (temporal workflow show -o json)')
    .option('--json', 'print the report as JSON')
    .action(async (runId: string | undefined, flags: { history?: string; json?: boolean }) => {
      quietTemporalLogs('ERROR');
      let report;
      if (flags.history) {
        const history = historyFromJSON(JSON.parse(await readFile(flags.history, 'utf8')) as never);
        report = await replayHistory(history, runId ?? 'replay');
      } else {
        if (!runId) throw new ConfigError('give a runId or --history <file>');
        report = await withClient(async (client) =>
          replayHistory(
            await knownRun(runId, () => client.temporal.workflow.getHandle(runId).fetchHistory()),
            runId,
          ),
        );
      }
      if (flags.json) printJson(report);
      else if (report.ok)
        stderr(`replay ok: ${report.workflowId}, ${report.events} events in ${report.durationMs} ms`);
      else stderr(`replay FAILED for ${report.workflowId}: ${report.error}`);
      ctx.setCode(report.ok ? EXIT.completed : EXIT.notCompleted);
    });
}
