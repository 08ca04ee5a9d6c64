import type { Command } from 'commander';
import { WeftClient } from '../client/weft-client';
import { safeText } from './terminal-text';

/**
 * Exit codes of every weft command: the contract other tools rely on. `agentsFailed`: the run
 * completed, but its agents failed as `--fail-on-agent-error` counts it (by default: every one).
 */
export const EXIT = { completed: 0, notCompleted: 1, refused: 2, agentsFailed: 3 } as const;

/** What a command module gets from the program that hosts it. */
export interface CommandContext {
  /** Sets the process's exit code once the action ends. */
  setCode(code: number): void;
}

/** A module that adds its commands to the `weft` program. */
export type RegisterCommands = (program: Command, ctx: CommandContext) => void;

/**
 * Writes one line to stderr, where progress and diagnostics go so stdout stays machine-readable.
 * Lines often carry a run's names, logs or errors, so control characters are shown escaped.
 */
export function stderr(line: string): void {
  process.stderr.write(`${safeText(line)}\n`);
}

/** Writes text for people on stdout, with control characters shown escaped (never for `--json`). */
export function stdoutText(lines: string[]): void {
  process.stdout.write(`${lines.map(safeText).join('\n')}\n`);
}

/** Writes one JSON value as a line on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Connects a client for one command and closes it when the command is done. */
export async function withClient<T>(fn: (client: WeftClient) => Promise<T>): Promise<T> {
  const client = await WeftClient.connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
