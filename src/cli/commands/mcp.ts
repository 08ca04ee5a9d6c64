import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../../config';
import { serveMcp } from '../../mcp/serve-mcp';
import { EXIT, stderr } from '../command-context';
import type { CommandContext } from '../command-context';
import { parsePositiveInt, parsePositiveNumber, parseTokenBudget } from '../parse-options';
import { quietTemporalLogs } from '../temporal-runtime';

interface McpFlags {
  http?: number;
  host?: string;
  cwd?: string;
  worker?: boolean;
  confirmAgents?: number;
  confirmCost?: number;
  concurrency?: number;
  budget?: number;
  maxCost?: number;
}

function parsePort(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`expected a port number 0-65535 (0: any free port), got "${raw}"`);
  }
  return n;
}

function parseCount(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${raw}"`);
  return n;
}

async function runMcp(flags: McpFlags): Promise<number> {
  // stdout is the stdio transport's: anything else printed there would corrupt the protocol.
  console.log = console.error;
  const { version } = JSON.parse(
    readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8'),
  ) as { version: string };
  await serveMcp({
    ...(flags.http === undefined ? {} : { httpPort: flags.http }),
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(flags.worker === undefined ? {} : { worker: flags.worker }),
    policy: {
      cwd: path.resolve(flags.cwd ?? process.cwd()),
      home: loadConfig().home,
      ...(flags.confirmAgents === undefined ? {} : { confirmAboveAgents: flags.confirmAgents }),
      ...(flags.confirmCost === undefined ? {} : { confirmAboveUsd: flags.confirmCost }),
      ...(flags.concurrency === undefined ? {} : { maxConcurrency: flags.concurrency }),
      ...(flags.budget === undefined ? {} : { maxBudgetTokens: flags.budget }),
      ...(flags.maxCost === undefined ? {} : { maxCostUsd: flags.maxCost }),
    },
    version,
    log: stderr,
    // Agent failures are the runs' to report; the embedded worker only reports its own.
    beforeWorker: () => quietTemporalLogs('ERROR'),
  });
  return EXIT.completed;
}

/** Registers `weft mcp` (S903). */
export function registerMcpCommands(program: Command, ctx: CommandContext): void {
  program
    .command('mcp')
    .description(
      'serve the Workflow tool and run tools to MCP clients (Claude Code: `claude mcp add weft -- npx weft mcp`)',
    )
    .option(
      '--http <port>',
      'serve streamable HTTP at http://127.0.0.1:<port>/mcp instead of stdio (0: any free port)',
      parsePort,
    )
    .option('--host <host>', 'interface for --http (default 127.0.0.1)')
    .option('--cwd <dir>', "the project folder: agents' working directory, .weft/scripts, saved workflows")
    .option('--worker', 'run an embedded worker even when TEMPORAL_ADDRESS is set')
    .option('--no-worker', 'only submit runs; `weft worker` processes execute them')
    .option(
      '--confirm-agents <n>',
      'a run whose dry-run estimate starts more than n agents needs confirm: true',
      parseCount,
    )
    .option(
      '--confirm-cost <usd>',
      'a run whose dry-run estimate costs more than this needs confirm: true',
      parsePositiveNumber,
    )
    .option(
      '--concurrency <n>',
      'highest concurrency a caller may ask for, and the default',
      parsePositiveInt,
    )
    .option(
      '--budget <tokens>',
      'output-token ceiling of every run, e.g. 500k; callers may ask for less',
      parseTokenBudget,
    )
    .option(
      '--max-cost <usd>',
      'spend ceiling of every run in US dollars; callers may ask for less',
      parsePositiveNumber,
    )
    .action(async (flags: McpFlags) => ctx.setCode(await runMcp(flags)));
}
