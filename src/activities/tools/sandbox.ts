import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors';

/**
 * How Bash is confined (S808): `auto` sandboxes where the machine allows and warns otherwise,
 * `required` refuses to run agents without a sandbox, `off` runs commands unconfined.
 */
export type SandboxMode = 'auto' | 'required' | 'off';

/** The sandbox modes, for flag parsing. */
export const SANDBOX_MODES: readonly SandboxMode[] = ['auto', 'required', 'off'];

/** What a worker was asked for: the mode and how far the network is opened. */
export interface SandboxSettings {
  mode: SandboxMode;
  /** Lets sandboxed commands use the network (`--allow-network`); off by default. */
  allowNetwork: boolean;
}

/** The sandbox a worker's Bash commands run in; `null` means unconfined. */
export interface SandboxPolicy {
  /** Path of the bubblewrap binary. */
  bwrap: string;
  allowNetwork: boolean;
}

/** The default: sandboxed where possible, network off. */
export const DEFAULT_SANDBOX_SETTINGS: SandboxSettings = { mode: 'auto', allowNetwork: false };

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];

/** Whether bubblewrap can build a sandbox here, and if not, why not (one line). */
export interface SandboxProbe {
  available: boolean;
  bwrap: string | null;
  reason: string | null;
}

let probed: SandboxProbe | null = null;

/**
 * Checks once per process whether bubblewrap is installed and can create the namespaces weft
 * uses: a container without user namespaces or mount rights has the binary but cannot use it.
 */
export function probeSandbox(): SandboxProbe {
  if (probed) return probed;
  const configured = process.env.WEFT_BWRAP_PATH?.trim();
  if (configured && !existsSync(configured)) {
    probed = { available: false, bwrap: null, reason: `WEFT_BWRAP_PATH ${configured} does not exist` };
    return probed;
  }
  const bwrap = configured || BWRAP_CANDIDATES.find((p) => existsSync(p)) || null;
  if (!bwrap) {
    probed = {
      available: false,
      bwrap: null,
      reason: 'bubblewrap (bwrap) is not installed; on Debian/Ubuntu: apt-get install bubblewrap',
    };
    return probed;
  }
  const trial = spawnSync(bwrap, [...baseArgs(true), '--', '/bin/sh', '-c', 'true'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (trial.status === 0) {
    probed = { available: true, bwrap, reason: null };
  } else {
    const why = (trial.stderr || trial.error?.message || `exit ${trial.status}`).trim().split('\n')[0];
    probed = { available: false, bwrap, reason: `bubblewrap cannot create a sandbox here: ${why}` };
  }
  return probed;
}

/**
 * The sandbox a worker uses, decided once at start: `required` without a working sandbox is a
 * `ConfigError`; `auto` without one warns through `warn` and runs commands unconfined.
 */
export function resolveSandbox(
  settings: SandboxSettings,
  warn: (line: string) => void,
  probe: () => SandboxProbe = probeSandbox,
): SandboxPolicy | null {
  if (settings.mode === 'off') return null;
  const found = probe();
  if (found.available && found.bwrap) return { bwrap: found.bwrap, allowNetwork: settings.allowNetwork };
  if (settings.mode === 'required') {
    throw new ConfigError(`--sandbox required: ${found.reason ?? 'no sandbox is available'}`);
  }
  warn(`weft: warning: Bash runs without a sandbox: ${found.reason ?? 'no sandbox is available'}`);
  return null;
}

/** Namespaces and mounts shared by the probe and real commands. */
function baseArgs(isolateNetwork: boolean): string[] {
  return [
    // The whole filesystem is readable, as in Claude Code's sandbox, and nothing in it writable.
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    // A private, empty tmp per command: nothing leaks between agents or out to the host's /tmp.
    '--tmpfs',
    '/tmp',
    '--tmpfs',
    '/var/tmp',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    ...(isolateNetwork ? ['--unshare-net'] : []),
    // The sandbox goes when weft kills bwrap, and a command cannot inject keys into a terminal.
    '--die-with-parent',
    '--new-session',
  ];
}

/**
 * Git keeps a worktree's index and refs in the main repository's `.git`, outside the worktree;
 * a command in a worktree can commit only if those folders are writable too.
 */
function gitDirsOf(cwd: string): string[] {
  const dotGit = path.join(cwd, '.git');
  try {
    if (!statSync(dotGit).isFile()) return [];
    const pointer = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'))?.[1]?.trim();
    if (!pointer) return [];
    const gitDir = realpathSync(path.resolve(cwd, pointer));
    const commonFile = path.join(gitDir, 'commondir');
    const common = existsSync(commonFile)
      ? realpathSync(path.resolve(gitDir, readFileSync(commonFile, 'utf8').trim()))
      : gitDir;
    return [...new Set([gitDir, common])];
  } catch {
    return [];
  }
}

/**
 * The argv that runs `shell -c command` inside the sandbox: the agent's working directory (and a
 * worktree's git folders) writable, a private tmp, everything else read-only, and the network
 * namespace empty (loopback only, none of the host's) unless the policy allows the network.
 */
export function sandboxedArgv(
  policy: SandboxPolicy,
  cwd: string,
  shell: string,
  command: string,
): { file: string; args: string[] } {
  const writable = [cwd, ...gitDirsOf(cwd)];
  return {
    file: policy.bwrap,
    args: [
      ...baseArgs(!policy.allowNetwork),
      // Bound after the tmpfs, so a cwd under /tmp stays the real folder, not an empty one.
      ...writable.flatMap((dir) => ['--bind', dir, dir]),
      '--chdir',
      cwd,
      '--setenv',
      'TMPDIR',
      '/tmp',
      '--',
      shell,
      '-c',
      command,
    ],
  };
}
