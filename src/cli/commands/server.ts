import type { Command } from 'commander';
import { Option } from 'commander';
import { loadConfig } from '../../config';
import { WEFT_SEARCH_ATTRIBUTES } from '../../search-attributes';
import { devServerStatus, ensureDevServer, stopDevServer } from '../../dev-server/dev-server';
import { runMockModelCommand } from '../../mock-model/cli';
import { EXIT, printJson, stderr } from '../command-context';
import type { CommandContext } from '../command-context';
import { parsePositiveInt } from '../parse-options';

/** Registers `weft server start|stop|status` and `weft mock-model`. */
export function registerServerCommands(program: Command, ctx: CommandContext): void {
  const server = program.command('server').description('the embedded Temporal dev server (state in .weft/)');
  server
    .command('start')
    .description('start the dev server in the background, or reuse the running one')
    .option('--json', 'print the server info as JSON')
    .action(async (flags: { json?: boolean }) => {
      const info = await ensureDevServer({
        stateDir: loadConfig().stateDir,
        searchAttributes: WEFT_SEARCH_ATTRIBUTES,
      });
      if (flags.json) printJson(info);
      else
        stderr(
          `Temporal dev server on ${info.address}${info.uiUrl ? `, Web UI ${info.uiUrl}` : ''} (pid ${info.pid})`,
        );
      ctx.setCode(EXIT.completed);
    });
  server
    .command('stop')
    .description('stop the dev server; its database file stays')
    .action(async () => {
      const stopped = await stopDevServer(loadConfig().stateDir);
      stderr(stopped ? 'dev server stopped' : 'no dev server was running');
      ctx.setCode(EXIT.completed);
    });
  server
    .command('status')
    .description('show whether the dev server runs')
    .option('--json', 'print the status as JSON')
    .action(async (flags: { json?: boolean }) => {
      const status = await devServerStatus(loadConfig().stateDir);
      if (flags.json) printJson(status ?? { running: false });
      else stderr(status?.running ? `running on ${status.address} (pid ${status.pid})` : 'not running');
      ctx.setCode(status?.running ? EXIT.completed : EXIT.notCompleted);
    });

  program
    .command('mock-model')
    .description('serve a local Anthropic-compatible model for tests, demos and benchmarks')
    .addOption(new Option('--port <n>', 'port to listen on').argParser(parsePositiveInt).default(8787))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .addOption(new Option('--latency <ms>', 'delay before every answer').argParser(Number).default(0))
    .action(async (flags: { port: number; host: string; latency: number }) => {
      await runMockModelCommand({ port: flags.port, host: flags.host, latencyMs: flags.latency });
      ctx.setCode(EXIT.completed);
    });
}
