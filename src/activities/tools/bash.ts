import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { SandboxPolicy } from './sandbox';
import { sandboxedArgv } from './sandbox';
import type { AgentTool } from './tool-types';
import { ToolError } from './tool-types';

/** Time a command may take unless the model asks for another, as in Claude Code. */
export const BASH_DEFAULT_TIMEOUT_MS = 120_000;
/** The longest timeout a model may ask for. */
export const BASH_MAX_TIMEOUT_MS = 600_000;
/** Characters of output kept: the start and the end, where results and errors usually are. */
export const BASH_MAX_OUTPUT_CHARS = 30_000;
/** After SIGTERM, a process group gets this long before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** After the shell exits, its output pipes get this long to drain before leftovers are killed. */
const DRAIN_MS = 300;

/**
 * Variables a command does not inherit from the worker: model credentials, and the Temporal and
 * weft settings that would let a command reach the run's server (agents cannot start workflows, S402).
 */
const HIDDEN_ENV = /^(ANTHROPIC_|TEMPORAL_|WEFT_)/;

/** How a command ended. */
export interface CommandResult {
  output: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  /** Characters of output dropped from the middle. */
  droppedChars: number;
}

/** Keeps the first and last characters of a stream, so a chatty command cannot exhaust memory. */
class CappedOutput {
  private head = '';
  private tail = '';
  private dropped = 0;

  constructor(
    private readonly headMax: number,
    private readonly tailMax: number,
  ) {}

  push(chunk: string): void {
    if (this.head.length < this.headMax) {
      const room = this.headMax - this.head.length;
      this.head += chunk.slice(0, room);
      chunk = chunk.slice(room);
    }
    if (chunk === '') return;
    this.tail += chunk;
    if (this.tail.length > this.tailMax) {
      this.dropped += this.tail.length - this.tailMax;
      this.tail = this.tail.slice(this.tail.length - this.tailMax);
    }
  }

  get droppedChars(): number {
    return this.dropped;
  }

  text(): string {
    if (this.dropped === 0) return this.head + this.tail;
    return `${this.head}\n… [${this.dropped} characters of output cut] …\n${this.tail}`;
  }
}

const SHELL = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';

/** The environment commands run with. */
export function commandEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!HIDDEN_ENV.test(k)) env[k] = v;
  // Lets programs (weft's own CLI included) see that no person is at the keyboard.
  env.WEFT_AGENT = '1';
  return env;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/**
 * Runs a shell command in its own process group, so a timeout or a cancellation kills everything
 * it started, children included; so does the command's own end: background processes it leaves
 * behind do not outlive the tool call. With a sandbox policy the shell runs inside bubblewrap,
 * whose pid namespace dies with it (S808).
 */
export function runCommand(
  command: string,
  options: {
    cwd: string;
    timeoutMs: number;
    signal: AbortSignal;
    onOutput?: () => void;
    sandbox?: SandboxPolicy | null;
  },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) {
      reject(new ToolError('cancelled before the command started'));
      return;
    }
    const { file, args } = options.sandbox
      ? sandboxedArgv(options.sandbox, options.cwd, SHELL, command)
      : { file: SHELL, args: ['-c', command] };
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: commandEnv(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = new CappedOutput(
      Math.floor(BASH_MAX_OUTPUT_CHARS * 0.66),
      Math.ceil(BASH_MAX_OUTPUT_CHARS * 0.34),
    );
    let timedOut = false;
    let cancelled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const pid = child.pid;

    const terminate = (): void => {
      if (pid === undefined) return;
      killGroup(pid, 'SIGTERM');
      killTimer ??= setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    };
    const onAbort = (): void => {
      cancelled = true;
      terminate();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, options.timeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      options.signal.removeEventListener('abort', onAbort);
      // Whatever the command left running in its group goes with it.
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
      clearTimeout(killTimer);
      resolve({
        output: out.text(),
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        timedOut,
        cancelled,
        droppedChars: out.droppedChars,
      });
    };

    const onData = (d: Buffer): void => {
      out.push(d.toString('utf8'));
      options.onOutput?.();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      reject(new ToolError(`cannot run the command: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Background children may hold the pipes open; give them a moment, then end the call.
      drainTimer = setTimeout(finish, DRAIN_MS);
    });
    child.on('close', finish);
  });
}

function sandboxNote(policy: SandboxPolicy | null): string {
  if (!policy) return '';
  return (
    ' The command runs in a sandbox: it can read the whole filesystem but write only inside the ' +
    'working directory and /tmp (private to this command and emptied when it ends)' +
    (policy.allowNetwork ? '.' : ', and it has no network access.')
  );
}

/**
 * Claude Code's Bash: a shell command in the working directory, with a timeout and an output cap.
 * With a policy it runs in the sandbox (S808); with `null`, unconfined, with the worker's rights.
 */
export function createBashTool(policy: SandboxPolicy | null): AgentTool {
  return {
    name: 'Bash',
    description:
      'Runs a bash command in the working directory and returns its combined stdout and stderr. ' +
      `timeout is in milliseconds (default ${BASH_DEFAULT_TIMEOUT_MS}, at most ${BASH_MAX_TIMEOUT_MS}); ` +
      `output over ${BASH_MAX_OUTPUT_CHARS} characters is cut in the middle. No input can be given to the ` +
      'command, and processes it leaves in the background are stopped when it returns.' +
      sandboxNote(policy),
    inputSchema: {
      type: 'object',
      properties: {
        command: { type: 'string', description: 'The command to run' },
        timeout: {
          type: 'number',
          minimum: 1,
          description: `Timeout in milliseconds (max ${BASH_MAX_TIMEOUT_MS})`,
        },
        description: { type: 'string', description: 'What the command does, in 5-10 words' },
      },
      required: ['command'],
      additionalProperties: false,
    },
    async run(input, ctx) {
      const timeoutMs = Math.min(
        BASH_MAX_TIMEOUT_MS,
        typeof input.timeout === 'number' && input.timeout > 0 ? input.timeout : BASH_DEFAULT_TIMEOUT_MS,
      );
      const result = await runCommand(String(input.command), {
        cwd: ctx.cwd,
        timeoutMs,
        signal: ctx.signal,
        onOutput: ctx.heartbeat,
        sandbox: policy,
      });
      const output = result.output.trimEnd() || '(no output)';
      if (result.cancelled) throw new ToolError('the command was cancelled with the agent');
      if (result.timedOut) {
        return {
          content: `Command timed out after ${timeoutMs} ms and was killed.\n${output}`,
          isError: true,
        };
      }
      if (result.exitCode !== 0) {
        const how =
          result.exitCode === null
            ? `killed by ${result.signal ?? 'a signal'}`
            : `exit code ${result.exitCode}`;
        return { content: `Command failed (${how}).\n${output}`, isError: true };
      }
      return output;
    },
  };
}

/** Bash without a sandbox; workers build theirs with `createBashTool` from the sandbox they resolved. */
export const bashTool: AgentTool = createBashTool(null);
