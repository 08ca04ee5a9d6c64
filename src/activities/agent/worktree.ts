import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors';
import type { WorktreeReport } from '../../types';

/** A git worktree an agent works in (S204). Plain data, so it can travel in a checkpoint. */
export interface AgentWorktree {
  /** The worktree's root folder. */
  path: string;
  branch: string;
  /** The commit the branch started from; the worktree is unchanged while HEAD is still here. */
  base: string;
  /** Top-level folder of the repository it was added to. */
  repo: string;
  /** The agent's working directory: the run's directory, at the same place inside the worktree. */
  cwd: string;
}

/** Where a repository's agent worktrees live, ignored by git through a `.gitignore` of their own. */
export function worktreesDir(repo: string): string {
  return path.join(repo, '.weft', 'worktrees');
}

function git(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`git ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout).trim());
      },
    );
  });
}

/**
 * Runs a git command that takes the repository's locks, retrying a few times when another process
 * (a second worker on this machine) holds one of them.
 */
async function gitLocked(args: string[], cwd: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await git(args, cwd);
    } catch (err) {
      const message = (err as Error).message;
      if (attempt >= 5 || !/\.lock\b|could not lock|unable to create .*lock/i.test(message)) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

// `git worktree add` takes locks in the repository; agents of one run start together, so their git
// commands on one repository take turns within this process.
const repoQueues = new Map<string, Promise<unknown>>();

function inRepoQueue<T>(repo: string, task: () => Promise<T>): Promise<T> {
  const previous = repoQueues.get(repo) ?? Promise.resolve();
  const next = previous.then(task, task);
  const settled = next.catch(() => undefined);
  repoQueues.set(repo, settled);
  void settled.then(() => {
    if (repoQueues.get(repo) === settled) repoQueues.delete(repo);
  });
  return next;
}

/** A branch-name-safe form of a label or run id: no dots, so no `..` or `.lock` parts either. */
export function slugify(text: string, max = 40): string {
  const slug = text
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '');
  return slug === '' ? 'agent' : slug;
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function branchExists(repo: string, branch: string): Promise<boolean> {
  return git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], repo).then(
    () => true,
    () => false,
  );
}

/**
 * Adds a fresh worktree on its own branch, `weft/<runId>/<index>-<label>`, from the HEAD of the
 * repository that contains `cwd` (S204). A name an earlier attempt left behind gets a suffix.
 *
 * @throws ConfigError (non-retryable) when `cwd` is not in a git repository with a commit.
 */
export async function createWorktree(options: {
  cwd: string;
  runId: string;
  index: number;
  label: string;
}): Promise<AgentWorktree> {
  const cwd = await fs.realpath(options.cwd).catch(() => {
    throw new ConfigError(`the working directory ${options.cwd} does not exist`);
  });
  let repo: string;
  try {
    repo = await fs.realpath(await git(['rev-parse', '--show-toplevel'], cwd));
  } catch {
    throw new ConfigError(
      `isolation 'worktree' needs a working directory inside a git repository; ${cwd} is not`,
    );
  }
  let base: string;
  try {
    base = await git(['rev-parse', '--verify', 'HEAD^{commit}'], repo);
  } catch {
    throw new ConfigError(
      `isolation 'worktree' needs a commit to start from; the repository ${repo} has none`,
    );
  }
  const dir = worktreesDir(repo);
  const name = `${slugify(options.runId, 60)}-${options.index}-${slugify(options.label)}`;
  const branchBase = `weft/${slugify(options.runId, 60)}/${options.index}-${slugify(options.label)}`;
  return inRepoQueue(repo, async () => {
    await fs.mkdir(dir, { recursive: true });
    const ignore = path.join(dir, '.gitignore');
    if (!(await exists(ignore))) await fs.writeFile(ignore, '# agent worktrees made by weft\n*\n');
    let suffix = '';
    for (
      let n = 2;
      (await exists(path.join(dir, name + suffix))) || (await branchExists(repo, branchBase + suffix));
      n++
    ) {
      suffix = `-${n}`;
    }
    const wtPath = path.join(dir, name + suffix);
    const branch = branchBase + suffix;
    await gitLocked(['worktree', 'add', '--quiet', '-b', branch, wtPath, base], repo);
    const agentCwd = path.join(wtPath, path.relative(repo, cwd));
    // The run's folder may be untracked, so absent from a fresh checkout.
    await fs.mkdir(agentCwd, { recursive: true });
    return { path: wtPath, branch, base, repo, cwd: agentCwd };
  });
}

/** The worktree a checkpoint names, when it is still there (same machine); null otherwise. */
export async function reopenWorktree(saved: AgentWorktree): Promise<AgentWorktree | null> {
  if (!(await exists(saved.cwd))) return null;
  try {
    const top = await fs.realpath(await git(['rev-parse', '--show-toplevel'], saved.path));
    return top === saved.path ? saved : null;
  } catch {
    return null;
  }
}

/** Whether the agent left the worktree as it found it: nothing uncommitted and no new commit. */
export async function worktreeUnchanged(wt: AgentWorktree): Promise<boolean> {
  const [status, head] = await Promise.all([
    git(['status', '--porcelain', '--untracked-files=all'], wt.path),
    git(['rev-parse', 'HEAD'], wt.path),
  ]);
  return status === '' && head === wt.base;
}

/**
 * Ends an agent's use of its worktree (S204): an unchanged one is removed with its branch, and a
 * changed one is kept and reported. When git cannot tell, the worktree is kept: losing an agent's
 * work is worse than leaving a folder behind.
 */
export async function finishWorktree(wt: AgentWorktree): Promise<WorktreeReport | null> {
  const kept = { path: wt.path, branch: wt.branch };
  let unchanged: boolean;
  try {
    unchanged = await worktreeUnchanged(wt);
  } catch {
    return kept;
  }
  if (!unchanged) return kept;
  await inRepoQueue(wt.repo, async () => {
    await gitLocked(['worktree', 'remove', '--force', wt.path], wt.repo);
    await gitLocked(['branch', '-D', wt.branch], wt.repo);
  });
  return null;
}
