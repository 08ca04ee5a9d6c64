import { registerDoctorCommands } from './commands/doctor';
import { Command, CommanderError } from 'commander';
import { ConfigError, ScriptError, WeftError } from '../errors';
import { EXIT, stderr } from './command-context';
import type { RegisterCommands } from './command-context';
import { registerControlCommands } from './commands/control';
import { registerMcpCommands } from './commands/mcp';
import { registerPayloadCommands } from './commands/payloads';
import { registerRunCommands } from './commands/run';
import { registerRunViewCommands } from './commands/runs';
import { registerServerCommands } from './commands/server';
import { registerWorkerCommands } from './commands/worker';
import { registerWorkflowCommands } from './commands/workflows';
import { registerYamlWorkflowCommands } from './commands/yaml-workflows';
import { releaseTemporalRuntime } from './temporal-runtime';
import { safeLine } from './terminal-text';

export { EXIT } from './command-context';

/** Every command module; each adds its commands to the program. */
const COMMANDS: RegisterCommands[] = [
  registerRunCommands,
  registerControlCommands,
  registerRunViewCommands,
  registerWorkflowCommands,
  registerYamlWorkflowCommands,
  registerWorkerCommands,
  registerServerCommands,
  registerPayloadCommands,
  registerDoctorCommands,
  registerMcpCommands,
];

function buildProgram(setCode: (code: number) => void): Command {
  const program = new Command('weft')
    .description('Durable multi-agent workflow scripts on Temporal')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    // Commander echoes the arguments it refuses, and those may hold control characters.
    .configureOutput({
      // A refused argument may even hold a newline: only the line's own end stays one.
      // Commander's own line breaks come before a parenthesised hint, "(Did you mean run?)".
      writeErr: (s) => {
        const body = safeLine(s.replace(/\n$/, '')).replace(/\\n\(/g, '\n(');
        process.stderr.write(`${body}${s.endsWith('\n') ? '\n' : ''}`);
      },
    });
  for (const register of COMMANDS) register(program, { setCode });
  return program;
}

/** Runs the CLI and returns its exit code. Errors become one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.completed;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.completed : EXIT.refused;
    }
    if (err instanceof ScriptError || err instanceof ConfigError) {
      stderr(`weft: ${err.message}`);
      return EXIT.refused;
    }
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    stderr(`weft: ${err instanceof WeftError ? `${err.name}: ` : ''}${message}`);
    return EXIT.notCompleted;
  } finally {
    // Every worker a command ran has stopped by now; the runtime must not keep the process alive.
    await releaseTemporalRuntime().catch(() => {});
  }
}
