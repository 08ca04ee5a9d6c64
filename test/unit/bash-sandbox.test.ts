import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createBashTool, runCommand } from '../../src/activities/tools/bash';
import type { SandboxPolicy } from '../../src/activities/tools/sandbox';
import { probeSandbox, resolveSandbox, sandboxedArgv } from '../../src/activities/tools/sandbox';
import type { ToolContext, ToolOutput } from '../../src/activities/tools/tool-types';
import { ConfigError } from '../../src/errors';

/**
 * The sandboxed Bash (S808) with the real bubblewrap: escapes are attempted for real and must
 * fail, and ordinary work inside the working directory must still succeed.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const probe = probeSandbox();
const skip = !probe.available && `no sandbox on this machine: ${probe.reason}`;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(parent: string, prefix: string): string {
  mkdirSync(parent, { recursive: true });
  const dir = realpathSync(mkdtempSync(path.join(parent, prefix)));
  dirs.push(dir);
  return dir;
}

function policy(allowNetwork = false): SandboxPolicy {
  assert.ok(probe.bwrap);
  return { bwrap: probe.bwrap, allowNetwork };
}

function ctxFor(cwd: string): ToolContext {
  return { cwd, signal: new AbortController().signal, heartbeat: () => {} };
}

async function bash(command: string, cwd: string, allowNetwork = false): Promise<ToolOutput> {
  const out = await createBashTool(policy(allowNetwork)).run({ command }, ctxFor(cwd));
  return typeof out === 'string' ? { content: out, isError: false } : out;
}

let web: Server;
let webUrl: string;
before(async () => {
  web = createServer((_req, res) => res.end('reached the host'));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/`;
});
after(() => {
  web?.closeAllConnections();
  web?.close();
});

const fetchScript = (url: string): string =>
  `node -e 'fetch(${JSON.stringify(url)}).then(r => r.text()).then(t => console.log("GOT " + t), e => { console.log("BLOCKED " + (e.cause?.code ?? e.message)); process.exit(7); })'`;

void describe('sandboxed Bash', { skip }, () => {
  void test('S808 writes outside the working directory fail and leave nothing behind', async () => {
    const cwd = tempDir(os.tmpdir(), 'weft-sbx-cwd-');
    // A folder outside /tmp too, so the private tmp cannot be what absorbs the write.
    const outside = tempDir(path.join(ROOT, '.weft'), 'sbx-outside-');
    const target = path.join(outside, 'planted.txt');
    const res = await bash(`echo pwned > ${target}`, cwd);
    assert.equal(res.isError, true);
    assert.match(res.content, /Read-only file system|No such file or directory/);
    assert.equal(existsSync(target), false);

    // Overwriting a file the worker owns, a sibling of the cwd, and the host's /tmp: all stay untouched.
    writeFileSync(path.join(outside, 'keep.txt'), 'original\n');
    const overwrite = await bash(`printf changed > ${path.join(outside, 'keep.txt')}`, cwd);
    assert.equal(overwrite.isError, true);
    assert.equal(readFileSync(path.join(outside, 'keep.txt'), 'utf8'), 'original\n');
    const sibling = path.join(path.dirname(cwd), `${path.basename(cwd)}-sibling.txt`);
    const hostTmp = path.join(os.tmpdir(), `weft-sbx-host-${process.pid}.txt`);
    const tmpWrites = await bash(
      `echo a > ${sibling}; echo b > ${hostTmp}; echo c > ../up.txt; echo done`,
      cwd,
    );
    assert.equal(tmpWrites.isError, false, tmpWrites.content);
    // They landed in the command's private tmp, which is gone with it.
    assert.equal(existsSync(sibling), false);
    assert.equal(existsSync(hostTmp), false);
    assert.equal(existsSync(path.join(path.dirname(cwd), 'up.txt')), false);
  });

  void test('S808 a private tmp per command: a file left in /tmp is not seen by the next command', async () => {
    const cwd = tempDir(os.tmpdir(), 'weft-sbx-cwd-');
    const first = await bash('echo secret > /tmp/left.txt && cat /tmp/left.txt && echo $TMPDIR', cwd);
    assert.deepEqual(first, { content: 'secret\n/tmp', isError: false });
    const second = await bash('cat /tmp/left.txt', cwd);
    assert.equal(second.isError, true);
    assert.match(second.content, /No such file/);
  });

  void test('S808 no network unless allowed: a loopback request to the host fails, and works with allowNetwork', async () => {
    const cwd = tempDir(os.tmpdir(), 'weft-sbx-cwd-');
    const blocked = await bash(fetchScript(webUrl), cwd);
    assert.equal(blocked.isError, true);
    assert.match(blocked.content, /BLOCKED ECONNREFUSED/);
    assert.doesNotMatch(blocked.content, /reached the host/);
    const allowed = await bash(fetchScript(webUrl), cwd, true);
    assert.deepEqual(allowed, { content: 'GOT reached the host', isError: false });
  });

  void test('S808 a build, its tests and a git commit inside the working directory work', async () => {
    const cwd = tempDir(os.tmpdir(), 'weft-sbx-proj-');
    writeFileSync(
      path.join(cwd, 'package.json'),
      JSON.stringify({
        name: 'p',
        version: '1.0.0',
        scripts: { build: 'node build.js', test: 'node --test' },
      }),
    );
    writeFileSync(
      path.join(cwd, 'build.js'),
      "require('fs').mkdirSync('dist', { recursive: true }); require('fs').writeFileSync('dist/sum.js', 'module.exports = (a, b) => a + b;');",
    );
    writeFileSync(
      path.join(cwd, 'sum.test.js'),
      "const { test } = require('node:test'); const assert = require('node:assert'); test('sum', () => assert.equal(require('./dist/sum.js')(2, 3), 5));",
    );
    // The project's own test run must not think it is a child of this test runner.
    const res = await bash(
      'unset NODE_TEST_CONTEXT; npm run build --silent && npm test --silent 2>&1 | grep -E "^# (pass|fail)" && git init -q . && git add -A && git -c user.email=a@b.c -c user.name=agent commit -qm build && git log --format=%s',
      cwd,
    );
    assert.deepEqual(res, { content: '# pass 1\n# fail 0\nbuild', isError: false });
    assert.ok(existsSync(path.join(cwd, 'dist', 'sum.js')));
  });

  void test('S808 S405 a timeout kills everything inside the sandbox, background children included', async () => {
    const cwd = tempDir(os.tmpdir(), 'weft-sbx-cwd-');
    const started = Date.now();
    const result = await runCommand('sleep 61.4321 & sleep 61.4322 & echo started; wait', {
      cwd,
      timeoutMs: 500,
      signal: new AbortController().signal,
      sandbox: policy(),
    });
    assert.equal(result.timedOut, true);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    await assertGone('61.432');
  });

  void test('S808 S405 cancelling the agent kills the sandbox and what runs in it', async () => {
    const cwd = tempDir(os.tmpdir(), 'weft-sbx-cwd-');
    const controller = new AbortController();
    const running = runCommand('sleep 62.4321 & echo started > started.txt; wait', {
      cwd,
      timeoutMs: 60_000,
      signal: controller.signal,
      sandbox: policy(),
    });
    await waitFor(() => existsSync(path.join(cwd, 'started.txt')) && sleepers('62.4321').length > 0);
    controller.abort();
    const result = await running;
    assert.equal(result.cancelled, true);
    await assertGone('62.4321');
  });
});

/** Host pids of `sleep` processes whose argument starts with `marker`. */
function sleepers(marker: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(`sleep\0${marker}`);
      } catch {
        return false;
      }
    });
}

async function waitFor(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function assertGone(marker: string): Promise<void> {
  await waitFor(() => sleepers(marker).length === 0).catch(() => {
    assert.fail(`sleep ${marker}… still runs: pids ${sleepers(marker).join(', ')}`);
  });
}

void describe('choosing the sandbox', () => {
  const missing = () => ({ available: false, bwrap: null, reason: 'bubblewrap (bwrap) is not installed' });

  void test('S808 --sandbox required without a sandbox refuses; auto warns once and runs unconfined; off asks nothing', () => {
    assert.throws(
      () => resolveSandbox({ mode: 'required', allowNetwork: false }, () => {}, missing),
      (err: unknown) => err instanceof ConfigError && /--sandbox required: bubblewrap/.test(err.message),
    );
    const warnings: string[] = [];
    assert.equal(
      resolveSandbox({ mode: 'auto', allowNetwork: false }, (l) => warnings.push(l), missing),
      null,
    );
    assert.deepEqual(warnings, [
      'weft: warning: Bash runs without a sandbox: bubblewrap (bwrap) is not installed',
    ]);
    let probed = false;
    const off = resolveSandbox(
      { mode: 'off', allowNetwork: false },
      () => {},
      () => {
        probed = true;
        return missing();
      },
    );
    assert.equal(off, null);
    assert.equal(probed, false);
    const found = resolveSandbox(
      { mode: 'required', allowNetwork: true },
      () => {},
      () => ({
        available: true,
        bwrap: '/usr/bin/bwrap',
        reason: null,
      }),
    );
    assert.deepEqual(found, { bwrap: '/usr/bin/bwrap', allowNetwork: true });
  });

  void test('S808 the network namespace is left only when allowed; a worktree gets its git folders', () => {
    const cwd = tempDir(os.tmpdir(), 'weft-sbx-argv-');
    const closed = sandboxedArgv({ bwrap: '/usr/bin/bwrap', allowNetwork: false }, cwd, '/bin/bash', 'true');
    assert.ok(closed.args.includes('--unshare-net'));
    const open = sandboxedArgv({ bwrap: '/usr/bin/bwrap', allowNetwork: true }, cwd, '/bin/bash', 'true');
    assert.ok(!open.args.includes('--unshare-net'));
    const gitDir = tempDir(os.tmpdir(), 'weft-sbx-gitdir-');
    mkdirSync(path.join(gitDir, 'worktrees', 'w'), { recursive: true });
    writeFileSync(path.join(gitDir, 'worktrees', 'w', 'commondir'), '../..\n');
    writeFileSync(path.join(cwd, '.git'), `gitdir: ${path.join(gitDir, 'worktrees', 'w')}\n`);
    const wt = sandboxedArgv({ bwrap: '/usr/bin/bwrap', allowNetwork: false }, cwd, '/bin/bash', 'true');
    const binds = wt.args.flatMap((a, i) => (a === '--bind' ? [wt.args[i + 1]] : []));
    assert.deepEqual(binds, [cwd, path.join(gitDir, 'worktrees', 'w'), gitDir]);
  });
});
