import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { readMcpFile } from '../activities/mcp/mcp-config';
import type { Command } from 'commander';
import type { SandboxMode, SandboxSettings } from '../activities/tools/sandbox';
import { SANDBOX_MODES } from '../activities/tools/sandbox';

/** Flags of the commands that run a worker (`weft run`, `weft worker`): how agents' tools behave. */
export interface WorkerToolFlags {
  sandbox?: SandboxMode;
  allowNetwork?: boolean;
  mcpConfig?: string[];
}

function parseSandboxMode(raw: string): SandboxMode {
  const mode = SANDBOX_MODES.find((m) => m === raw);
  if (!mode) throw new InvalidArgumentError(`expected one of ${SANDBOX_MODES.join(', ')}`);
  return mode;
}

/** An `--mcp-config` file, checked when the command starts so a typo refuses with exit 2. */
function collectMcpConfig(value: string, previous: string[] | undefined): string[] {
  const file = path.resolve(value);
  try {
    readMcpFile(file);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return [...(previous ?? []), file];
}

/** Adds `--sandbox`, `--allow-network` and `--mcp-config` to a command that runs a worker. */
export function addWorkerToolFlags(command: Command): Command {
  return command
    .option(
      '--sandbox <mode>',
      "Bash's sandbox: auto (where the machine allows, else warn), required (refuse without), off",
      parseSandboxMode,
    )
    .option('--allow-network', 'let sandboxed Bash commands use the network (off by default)')
    .option(
      '--mcp-config <file>',
      'MCP servers for agents, in .mcp.json form, besides the project .mcp.json (repeatable)',
      collectMcpConfig,
    );
}

/** The sandbox settings the flags ask for. */
export function sandboxSettings(flags: WorkerToolFlags): SandboxSettings {
  return { mode: flags.sandbox ?? 'auto', allowNetwork: flags.allowNetwork ?? false };
}
