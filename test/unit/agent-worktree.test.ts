import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  createWorktree,
  finishWorktree,
  reopenWorktree,
  slugify,
  worktreeUnchanged,
} from '../../src/activities/agent/worktree';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
  dirs.push(dir);
  return dir;
}

/** A repository with one commit, made fresh for each test. */
function repo(): string {
  const dir = tempDir('weft-repo-');
  git(dir, 'init', '--quiet', '--initial-branch=main');
  git(dir, 'config', 'user.email', 'test@example.com');
  git(dir, 'config', 'user.name', 'Test');
  mkdirSync(path.join(dir, 'pkg'));
  writeFileSync(path.join(dir, 'pkg', 'file.txt'), 'original\n');
  git(dir, 'add', '.');
  git(dir, 'commit', '--quiet', '-m', 'initial');
  return dir;
}

function branches(dir: string): string[] {
  return git(dir, 'branch', '--list', 'weft/*', '--format=%(refname:short)')
    .split('\n')
    .filter((b) => b !== '');
}

void describe('agent worktrees', () => {
  void test('S204 a fresh worktree on its own branch; unchanged → removed with its branch', async () => {
    const dir = repo();
    const wt = await createWorktree({
      cwd: path.join(dir, 'pkg'),
      runId: 'run-1',
      index: 3,
      label: 'Fix the bug!',
    });
    assert.equal(wt.branch, 'weft/run-1/3-fix-the-bug');
    assert.equal(wt.path, path.join(dir, '.weft', 'worktrees', 'run-1-3-fix-the-bug'));
    assert.equal(wt.cwd, path.join(wt.path, 'pkg'), "the agent works at the run's place inside the worktree");
    assert.equal(readFileSync(path.join(wt.cwd, 'file.txt'), 'utf8'), 'original\n');
    assert.equal(
      git(dir, 'status', '--porcelain'),
      '',
      'the worktrees folder does not show in the repository',
    );
    assert.equal(await worktreeUnchanged(wt), true);
    assert.equal(await finishWorktree(wt), null);
    assert.equal(existsSync(wt.path), false);
    assert.deepEqual(branches(dir), []);
    assert.doesNotMatch(git(dir, 'worktree', 'list'), /run-1-3/);
  });

  void test('S204 changed files or a new commit → kept and reported; the repository itself is untouched', async () => {
    const dir = repo();
    const edited = await createWorktree({ cwd: dir, runId: 'r', index: 0, label: 'edit' });
    writeFileSync(path.join(edited.cwd, 'new.txt'), 'new\n');
    assert.deepEqual(await finishWorktree(edited), { path: edited.path, branch: edited.branch });
    assert.equal(existsSync(path.join(edited.path, 'new.txt')), true);
    assert.equal(existsSync(path.join(dir, 'new.txt')), false);

    const committed = await createWorktree({ cwd: dir, runId: 'r', index: 1, label: 'commit' });
    writeFileSync(path.join(committed.cwd, 'pkg', 'file.txt'), 'changed\n');
    git(committed.path, 'commit', '--quiet', '-am', 'agent work');
    assert.equal(await worktreeUnchanged(committed), false, 'a clean tree with a new commit is a change');
    assert.deepEqual(await finishWorktree(committed), { path: committed.path, branch: committed.branch });
    assert.deepEqual(branches(dir).sort(), ['weft/r/0-edit', 'weft/r/1-commit']);
  });

  void test('S204 S405 names taken by an earlier attempt get a suffix; a saved worktree is reopened while it exists', async () => {
    const dir = repo();
    const first = await createWorktree({ cwd: dir, runId: 'r', index: 0, label: 'a' });
    const again = await createWorktree({ cwd: dir, runId: 'r', index: 0, label: 'a' });
    assert.equal(again.branch, 'weft/r/0-a-2');
    assert.deepEqual(await reopenWorktree(first), first);
    await finishWorktree(first);
    assert.equal(await reopenWorktree(first), null);
    const parallel = await Promise.all(
      [1, 2, 3, 4].map((index) => createWorktree({ cwd: dir, runId: 'p', index, label: 'x' })),
    );
    assert.equal(
      new Set(parallel.map((w) => w.path)).size,
      4,
      'concurrent adds on one repository all succeed',
    );
  });

  void test('S204 outside a git repository, or with no commit, is a ConfigError', async () => {
    const plain = tempDir('weft-plain-');
    await assert.rejects(createWorktree({ cwd: plain, runId: 'r', index: 0, label: 'a' }), (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.match(err.message, /inside a git repository/);
      return true;
    });
    const empty = tempDir('weft-empty-');
    git(empty, 'init', '--quiet');
    await assert.rejects(createWorktree({ cwd: empty, runId: 'r', index: 0, label: 'a' }), /needs a commit/);
    assert.equal(slugify('..Weird//Name.lock..'), 'weird-name-lock');
    assert.equal(slugify('!!!'), 'agent');
  });
});
