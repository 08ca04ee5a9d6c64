import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { compileScriptFile } from '../../src/compiler/compile-script';
import {
  listSavedWorkflows,
  resolveWorkflowRef,
  savedWorkflowDirs,
} from '../../src/workflow-files/saved-workflows';
import { ConfigError, ScriptError } from '../../src/errors';

function script(name: string, description = `the ${name} workflow`, extra = ''): string {
  return `export const meta = { name: '${name}', description: '${description}'${extra} };\nreturn '${name}';\n`;
}

/** A project folder and a home folder under one temp dir, removed after the test. */
async function layout(t: { after: (fn: () => Promise<void>) => void }): Promise<{
  root: string;
  cwd: string;
  home: string;
  bundled: string;
  put: (dir: string, file: string, text: string) => Promise<string>;
}> {
  const root = await mkdtemp(path.join(tmpdir(), 'weft-saved-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const cwd = path.join(root, 'project');
  const home = path.join(root, 'home');
  const bundled = path.join(root, 'bundled');
  await mkdir(cwd, { recursive: true });
  await mkdir(home, { recursive: true });
  const put = async (dir: string, file: string, text: string): Promise<string> => {
    await mkdir(dir, { recursive: true });
    const full = path.join(dir, file);
    await writeFile(full, text);
    return full;
  };
  return { root, cwd, home, bundled, put };
}

void test('S504 saved workflow folders: project .weft, project .claude, personal, then bundled', () => {
  const dirs = savedWorkflowDirs({ cwd: '/p', home: '/h', bundledDir: '/b' });
  assert.deepEqual(
    dirs.map((d) => [d.dir, d.origin, d.label]),
    [
      [path.resolve('/p/.weft/workflows'), 'project', '.weft/workflows'],
      [path.resolve('/p/.claude/workflows'), 'project', '.claude/workflows'],
      [path.resolve('/h/.weft/workflows'), 'personal', '~/.weft/workflows'],
      [path.resolve('/b'), 'bundled', 'bundled workflows'],
    ],
  );
  assert.equal(savedWorkflowDirs({ cwd: '/p', home: '/h' }).length, 3);
  // Running from the home folder: its .weft/workflows is searched once, as the project's.
  assert.deepEqual(
    savedWorkflowDirs({ cwd: '/h', home: '/h' }).map((d) => d.origin),
    ['project', 'project'],
  );
});

void test('S504 listing: every compiling *.js, project wins a name clash, broken scripts reported', async (t) => {
  const { cwd, home, bundled, put } = await layout(t);
  const weft = path.join(cwd, '.weft', 'workflows');
  const claude = path.join(cwd, '.claude', 'workflows');
  const personal = path.join(home, '.weft', 'workflows');
  const review = await put(weft, 'review.js', script('review', 'project review', ", whenToUse: 'on PRs'"));
  const audit = await put(claude, 'audit.js', script('audit'));
  await put(personal, 'review.js', script('review', 'personal review'));
  const mine = await put(personal, 'mine.js', script('mine'));
  const broken = await put(personal, 'broken.js', "import x from 'y';\n");
  await put(personal, 'notes.md', '# not a script');
  await put(bundled, 'audit.js', script('audit', 'bundled audit'));
  const shipped = await put(bundled, 'shipped.js', script('shipped'));

  const { workflows, broken: bad } = await listSavedWorkflows({ cwd, home, bundledDir: bundled });
  assert.deepEqual(workflows, [
    {
      name: 'review',
      description: 'project review',
      whenToUse: 'on PRs',
      path: review,
      origin: 'project',
      kind: 'script',
    },
    { name: 'audit', description: 'the audit workflow', path: audit, origin: 'project', kind: 'script' },
    { name: 'mine', description: 'the mine workflow', path: mine, origin: 'personal', kind: 'script' },
    {
      name: 'shipped',
      description: 'the shipped workflow',
      path: shipped,
      origin: 'bundled',
      kind: 'script',
    },
  ]);
  assert.equal(bad.length, 1);
  assert.equal(bad[0]!.path, broken);
  assert.match(bad[0]!.error, /broken\.js:1:1: import is not allowed/);
});

void test('S504 listing with no saved-workflow folders is empty', async (t) => {
  const { cwd, home } = await layout(t);
  assert.deepEqual(await listSavedWorkflows({ cwd, home }), { workflows: [], broken: [] });
});

void test('S504 S211 a name resolves to <dir>/<name>.js, project before personal', async (t) => {
  const { cwd, home, put } = await layout(t);
  const personal = await put(path.join(home, '.weft', 'workflows'), 'review.js', script('review'));
  const opts = { cwd, home, callerDir: null };
  assert.equal(await resolveWorkflowRef('review', opts), personal);
  const claude = await put(path.join(cwd, '.claude', 'workflows'), 'review.js', script('review'));
  assert.equal(await resolveWorkflowRef('review', opts), claude);
  const weft = await put(path.join(cwd, '.weft', 'workflows'), 'review.js', script('review'));
  assert.equal(await resolveWorkflowRef('review', opts), weft);
});

void test('S504 S211 a name also matches a saved script whose meta.name differs from its file name', async (t) => {
  const { cwd, home, bundled, put } = await layout(t);
  await put(path.join(cwd, '.weft', 'workflows'), 'broken.js', 'export const meta = ;');
  const file = await put(path.join(home, '.weft', 'workflows'), 'security.js', script('security-audit'));
  assert.equal(await resolveWorkflowRef('security-audit', { cwd, home, callerDir: null }), file);
  const shipped = await put(bundled, 'x.js', script('from-bundle'));
  assert.equal(
    await resolveWorkflowRef('from-bundle', { cwd, home, bundledDir: bundled, callerDir: null }),
    shipped,
  );
});

void test('S211 a name resolving to a broken script returns its path so compiling reports the error', async (t) => {
  const { cwd, home, put } = await layout(t);
  const file = await put(path.join(cwd, '.weft', 'workflows'), 'bad.js', script('bad') + 'const x = ;\n');
  const resolved = await resolveWorkflowRef('bad', { cwd, home, callerDir: null });
  assert.equal(resolved, file);
  await assert.rejects(
    compileScriptFile(resolved),
    (err: unknown) => err instanceof ScriptError && err.line === 3,
  );
});

void test('S211 an unknown name is a ConfigError naming the folders searched', async (t) => {
  const { cwd, home } = await layout(t);
  await assert.rejects(resolveWorkflowRef('nope', { cwd, home, callerDir: null }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(
      err.message,
      'unknown workflow "nope": not found in .weft/workflows, .claude/workflows, ~/.weft/workflows',
    );
    return true;
  });
});

void test('S211 a name with a path separator never escapes the saved-workflow folders', async (t) => {
  const { root, cwd, home, put } = await layout(t);
  await put(root, 'outside.js', script('outside'));
  await mkdir(path.join(cwd, '.weft', 'workflows'), { recursive: true });
  await assert.rejects(resolveWorkflowRef('../../../outside', { cwd, home, callerDir: null }), ConfigError);
});

void test('S211 { scriptPath } resolves against the calling script folder, or cwd when inline', async (t) => {
  const { root, cwd, home } = await layout(t);
  const callerDir = path.join(root, 'scripts');
  assert.equal(
    await resolveWorkflowRef({ scriptPath: './child.js' }, { cwd, home, callerDir }),
    path.join(callerDir, 'child.js'),
  );
  assert.equal(
    await resolveWorkflowRef({ scriptPath: 'sub/child.js' }, { cwd, home, callerDir: null }),
    path.join(cwd, 'sub', 'child.js'),
  );
  assert.equal(
    await resolveWorkflowRef({ scriptPath: '/abs/c.js' }, { cwd, home, callerDir }),
    path.resolve('/abs/c.js'),
  );
  assert.equal(
    await resolveWorkflowRef({ scriptPath: '~/flows/c.js' }, { cwd, home, callerDir }),
    path.join(home, 'flows', 'c.js'),
  );
});

void test('S211 an unreadable { scriptPath } still resolves; compiling it fails with cannot read script', async (t) => {
  const { cwd, home } = await layout(t);
  const resolved = await resolveWorkflowRef({ scriptPath: 'missing.js' }, { cwd, home, callerDir: null });
  await assert.rejects(compileScriptFile(resolved), /cannot read script: ENOENT/);
});

void test('S211 a ref that is neither a name nor { scriptPath } is a ConfigError', async (t) => {
  const { cwd, home } = await layout(t);
  const opts = { cwd, home, callerDir: null };
  for (const bad of ['', '   ', 42, null, { path: 'x.js' }, { scriptPath: 7 }, { scriptPath: '' }]) {
    await assert.rejects(resolveWorkflowRef(bad as string, opts), ConfigError, JSON.stringify(bad));
  }
});

void test('S504 symlinked saved scripts are listed', async (t) => {
  const { root, cwd, home, put } = await layout(t);
  const target = await put(root, 'real.js', script('linked'));
  const dir = path.join(cwd, '.weft', 'workflows');
  await mkdir(dir, { recursive: true });
  await symlink(target, path.join(dir, 'linked.js'));
  const { workflows } = await listSavedWorkflows({ cwd, home });
  assert.deepEqual(
    workflows.map((w) => w.name),
    ['linked'],
  );
});
