import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bashTool, commandEnv, runCommand } from '../../src/activities/tools/bash';
import { editTool } from '../../src/activities/tools/edit';
import { executeToolCall } from '../../src/activities/tools/execute';
import { globTool } from '../../src/activities/tools/glob';
import { grepTool } from '../../src/activities/tools/grep';
import { isInside, resolveInside } from '../../src/activities/tools/paths';
import { readTool } from '../../src/activities/tools/read';
import { ALL_TOOLS, selectTools } from '../../src/activities/tools/registry';
import type { AgentTool, ToolContext, ToolOutput } from '../../src/activities/tools/tool-types';
import { htmlToText, webFetchTool } from '../../src/activities/tools/web-fetch';
import { writeTool } from '../../src/activities/tools/write';

/** A fresh working directory (real path) with a sibling folder outside it. */
const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function sandbox(): { cwd: string; outside: string } {
  const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'weft-tools-')));
  roots.push(root);
  const cwd = path.join(root, 'work');
  const outside = path.join(root, 'outside');
  mkdirSync(cwd);
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'secret.txt'), 'top secret\n');
  return { cwd, outside };
}

function ctxFor(cwd: string, signal: AbortSignal = new AbortController().signal): ToolContext {
  return { cwd, signal, heartbeat: () => {} };
}

async function call(tool: AgentTool, input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutput> {
  const result = await executeToolCall({ id: 'toolu_1', name: tool.name, input }, [tool], ctx);
  return { content: String(result.content), isError: result.is_error === true };
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  // A zombie has exited; only its parent (or init) has not reaped it yet.
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return / Z /.test(stat);
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

void describe('tool registry', () => {
  void test('S401 tools are named and shaped as Claude Code names them', () => {
    assert.deepEqual(
      ALL_TOOLS.map((t) => t.name),
      ['Read', 'Write', 'Edit', 'Glob', 'Grep', 'Bash', 'WebFetch', 'WebSearch'],
    );
    const props = (name: string) =>
      Object.keys((ALL_TOOLS.find((t) => t.name === name)?.inputSchema.properties ?? {}) as object);
    assert.deepEqual(props('Read'), ['file_path', 'offset', 'limit']);
    assert.deepEqual(props('Write'), ['file_path', 'content']);
    assert.deepEqual(props('Edit'), ['file_path', 'old_string', 'new_string', 'replace_all']);
    assert.deepEqual(props('Glob'), ['pattern', 'path']);
    assert.ok(
      ['pattern', 'path', 'glob', 'output_mode', '-i', '-n', '-A', '-B', '-C'].every((k) =>
        props('Grep').includes(k),
      ),
    );
    assert.deepEqual(props('Bash').slice(0, 2), ['command', 'timeout']);
    assert.deepEqual(props('WebFetch'), ['url', 'prompt']);
    assert.deepEqual(props('WebSearch'), ['query']);
    assert.equal(
      ALL_TOOLS.find((t) => t.name === 'WebSearch')?.apiTool?.name,
      'web_search',
      'S806 sent as the server tool',
    );
    assert.equal(
      ALL_TOOLS.some((t) => /workflow|agent|task/i.test(t.name)),
      false,
      'S402 no tool starts workflows',
    );
  });

  void test('S403 selectTools keeps the registry order and reports names weft has no tool for', () => {
    const { tools, unknown } = selectTools(['Grep', 'Read', 'TodoWrite']);
    assert.deepEqual(
      tools.map((t) => t.name),
      ['Read', 'Grep'],
    );
    assert.deepEqual(unknown, ['TodoWrite']);
    assert.equal(selectTools(null).tools.length, ALL_TOOLS.length);
  });

  void test('S401 unknown tools and invalid input become is_error results, never exceptions', async () => {
    const { cwd } = sandbox();
    const unknown = await executeToolCall({ id: 'a', name: 'Nope', input: {} }, [readTool], ctxFor(cwd));
    assert.equal(unknown.is_error, true);
    assert.match(String(unknown.content), /Unknown tool: Nope.*Read/);
    const invalid = await call(readTool, { path: 'x' }, ctxFor(cwd));
    assert.equal(invalid.isError, true);
    assert.match(invalid.content, /Invalid input for Read: .*file_path/);
    const crashing: AgentTool = {
      name: 'Crash',
      description: '',
      inputSchema: { type: 'object' },
      run: () => Promise.reject(new TypeError('boom')),
    };
    const crashed = await call(crashing, {}, ctxFor(cwd));
    assert.deepEqual(crashed, { content: 'Crash failed: boom', isError: true });
  });
});

void describe('paths stay inside the working directory', () => {
  void test('S401 relative and absolute paths inside resolve; .., absolute outside and symlinks out are refused', async () => {
    const { cwd, outside } = sandbox();
    assert.equal(await resolveInside(cwd, 'a/b.txt'), path.join(cwd, 'a', 'b.txt'));
    assert.equal(await resolveInside(cwd, path.join(cwd, 'c.txt')), path.join(cwd, 'c.txt'));
    await assert.rejects(resolveInside(cwd, '../outside/secret.txt'), /outside the working directory/);
    await assert.rejects(
      resolveInside(cwd, path.join(outside, 'secret.txt')),
      /outside the working directory/,
    );
    symlinkSync(outside, path.join(cwd, 'link'));
    await assert.rejects(resolveInside(cwd, 'link/secret.txt'), /resolves to .*outside/);
    // A dangling link that points outside must not let a write escape either.
    symlinkSync(path.join(outside, 'new.txt'), path.join(cwd, 'dangling'));
    await assert.rejects(resolveInside(cwd, 'dangling'), /outside the working directory/);
    symlinkSync('inner.txt', path.join(cwd, 'inner-link'));
    assert.equal(await resolveInside(cwd, 'inner-link'), path.join(cwd, 'inner.txt'));
    assert.equal(isInside(cwd, cwd), true);
    assert.equal(isInside(cwd, `${cwd}-sibling`), false);
  });

  void test('S401 Read, Write, Edit, Glob and Grep refuse paths outside with an error the model sees', async () => {
    const { cwd, outside } = sandbox();
    symlinkSync(outside, path.join(cwd, 'link'));
    const ctx = ctxFor(cwd);
    const secret = path.join(outside, 'secret.txt');
    for (const [tool, input] of [
      [readTool, { file_path: secret }],
      [readTool, { file_path: 'link/secret.txt' }],
      [writeTool, { file_path: '../outside/x.txt', content: 'x' }],
      [writeTool, { file_path: 'link/x.txt', content: 'x' }],
      [editTool, { file_path: secret, old_string: 'top', new_string: 'bottom' }],
      [globTool, { pattern: '*', path: outside }],
      [grepTool, { pattern: 'secret', path: '../outside' }],
    ] as const) {
      const out = await call(tool, input, ctx);
      assert.equal(out.isError, true, `${tool.name} ${JSON.stringify(input)}`);
      assert.match(out.content, /outside the working directory/);
    }
    assert.equal(readFileSync(secret, 'utf8'), 'top secret\n');
    assert.equal(existsSync(path.join(outside, 'x.txt')), false);
    const globbed = await call(globTool, { pattern: '../outside/*' }, ctx);
    assert.equal(globbed.isError, true);
  });
});

void describe('file tools', () => {
  void test('S401 Write creates folders; Read numbers lines and pages with offset and limit', async () => {
    const { cwd } = sandbox();
    const ctx = ctxFor(cwd);
    const written = await call(writeTool, { file_path: 'deep/dir/f.txt', content: 'one\ntwo\nthree\n' }, ctx);
    assert.equal(written.isError, false);
    assert.match(written.content, /Created .*f\.txt \(14 bytes\)/);
    assert.equal(readFileSync(path.join(cwd, 'deep/dir/f.txt'), 'utf8'), 'one\ntwo\nthree\n');
    const all = await call(readTool, { file_path: 'deep/dir/f.txt' }, ctx);
    assert.equal(all.content, '     1\tone\n     2\ttwo\n     3\tthree');
    const page = await call(
      readTool,
      { file_path: path.join(cwd, 'deep/dir/f.txt'), offset: 2, limit: 1 },
      ctx,
    );
    assert.match(page.content, /^ {5}2\ttwo\n\n\(lines 2-2 of 3; use offset and limit/);
    const missing = await call(readTool, { file_path: 'nope.txt' }, ctx);
    assert.deepEqual(missing, { content: 'file does not exist: nope.txt', isError: true });
    writeFileSync(path.join(cwd, 'bin.dat'), Buffer.from([1, 0, 2]));
    assert.match((await call(readTool, { file_path: 'bin.dat' }, ctx)).content, /binary file/);
    assert.match((await call(readTool, { file_path: 'deep' }, ctx)).content, /is a directory/);
    writeFileSync(path.join(cwd, 'empty.txt'), '');
    assert.match((await call(readTool, { file_path: 'empty.txt' }, ctx)).content, /empty/);
  });

  void test('S401 Edit replaces a unique match, refuses ambiguous or missing ones, replace_all replaces all', async () => {
    const { cwd } = sandbox();
    const ctx = ctxFor(cwd);
    writeFileSync(path.join(cwd, 'e.txt'), 'a $x a\nb\n');
    const ambiguous = await call(editTool, { file_path: 'e.txt', old_string: 'a', new_string: 'c' }, ctx);
    assert.equal(ambiguous.isError, true);
    assert.match(ambiguous.content, /matches 2 times.*replace_all/);
    const missing = await call(editTool, { file_path: 'e.txt', old_string: 'zzz', new_string: 'c' }, ctx);
    assert.match(missing.content, /not found/);
    const same = await call(editTool, { file_path: 'e.txt', old_string: 'b', new_string: 'b' }, ctx);
    assert.match(same.content, /the same/);
    const one = await call(editTool, { file_path: 'e.txt', old_string: 'b\n', new_string: "$&'\n" }, ctx);
    assert.equal(one.isError, false);
    const all = await call(
      editTool,
      { file_path: 'e.txt', old_string: 'a', new_string: 'A', replace_all: true },
      ctx,
    );
    assert.match(all.content, /Replaced 2 occurrences/);
    assert.equal(readFileSync(path.join(cwd, 'e.txt'), 'utf8'), "A $x A\n$&'\n");
    const created = await call(
      editTool,
      { file_path: 'new/n.txt', old_string: '', new_string: 'fresh' },
      ctx,
    );
    assert.equal(created.isError, false);
    assert.equal(readFileSync(path.join(cwd, 'new/n.txt'), 'utf8'), 'fresh');
  });

  void test('S401 Glob finds files newest first and skips .git and node_modules', async () => {
    const { cwd } = sandbox();
    const ctx = ctxFor(cwd);
    mkdirSync(path.join(cwd, 'src/sub'), { recursive: true });
    mkdirSync(path.join(cwd, 'node_modules/pkg'), { recursive: true });
    mkdirSync(path.join(cwd, '.git'), { recursive: true });
    writeFileSync(path.join(cwd, 'src/old.ts'), '');
    writeFileSync(path.join(cwd, 'node_modules/pkg/i.ts'), '');
    writeFileSync(path.join(cwd, '.git/x.ts'), '');
    const later = new Date(Date.now() + 5000);
    writeFileSync(path.join(cwd, 'src/sub/new.ts'), '');
    const { utimesSync } = await import('node:fs');
    utimesSync(path.join(cwd, 'src/sub/new.ts'), later, later);
    const out = await call(globTool, { pattern: '**/*.ts' }, ctx);
    assert.deepEqual(out.content.split('\n'), [
      path.join(cwd, 'src/sub/new.ts'),
      path.join(cwd, 'src/old.ts'),
    ]);
    const scoped = await call(globTool, { pattern: '*.ts', path: 'src/sub' }, ctx);
    assert.equal(scoped.content, path.join(cwd, 'src/sub/new.ts'));
    assert.equal((await call(globTool, { pattern: '*.py' }, ctx)).content, 'No files found');
  });

  void test('S401 Grep: files_with_matches, content with line numbers and context, count, -i, glob, type, multiline', async () => {
    const { cwd } = sandbox();
    const ctx = ctxFor(cwd);
    writeFileSync(path.join(cwd, 'a.js'), 'const alpha = 1;\nconst beta = 2;\nconst Alpha = 3;\n');
    writeFileSync(path.join(cwd, 'b.py'), 'alpha = 1\n');
    writeFileSync(path.join(cwd, 'bin.dat'), Buffer.from([97, 108, 112, 104, 97, 0]));
    const files = await call(grepTool, { pattern: 'alpha' }, ctx);
    assert.match(files.content, /^Found 2 file\(s\)\n/);
    assert.ok(files.content.includes(path.join(cwd, 'a.js')) && !files.content.includes('bin.dat'));
    const content = await call(
      grepTool,
      { pattern: 'alpha', output_mode: 'content', '-i': true, glob: '*.js' },
      ctx,
    );
    assert.equal(
      content.content,
      `${path.join(cwd, 'a.js')}:1:const alpha = 1;\n${path.join(cwd, 'a.js')}:3:const Alpha = 3;`,
    );
    const withContext = await call(
      grepTool,
      { pattern: 'beta', output_mode: 'content', '-C': 1, path: 'a.js' },
      ctx,
    );
    assert.deepEqual(
      withContext.content.split('\n').map((l) => l.slice(path.join(cwd, 'a.js').length)),
      ['-1-const alpha = 1;', ':2:const beta = 2;', '-3-const Alpha = 3;'],
    );
    const count = await call(grepTool, { pattern: 'alpha', output_mode: 'count', type: 'py' }, ctx);
    assert.equal(count.content, `${path.join(cwd, 'b.py')}:1`);
    const multi = await call(
      grepTool,
      { pattern: 'alpha.*beta', multiline: true, output_mode: 'content', '-n': false },
      ctx,
    );
    assert.equal(multi.content.split('\n').length, 2);
    const limited = await call(grepTool, { pattern: 'const', output_mode: 'content', head_limit: 1 }, ctx);
    assert.match(limited.content, /:1:const alpha = 1;\n\(2 more; raise offset/);
    assert.match((await call(grepTool, { pattern: '(' }, ctx)).content, /invalid regular expression/);
    assert.equal((await call(grepTool, { pattern: 'zeta' }, ctx)).content, 'No matches found');
  });
});

void describe('Bash', () => {
  void test('S401 runs in the working directory, reports exit codes, hides credentials', async () => {
    const { cwd } = sandbox();
    const ctx = ctxFor(cwd);
    const ok = await call(bashTool, { command: 'pwd; echo out; echo err >&2' }, ctx);
    assert.deepEqual(ok, { content: `${cwd}\nout\nerr`, isError: false });
    const failed = await call(bashTool, { command: 'echo nope; exit 3' }, ctx);
    assert.deepEqual(failed, { content: 'Command failed (exit code 3).\nnope', isError: true });
    const env = commandEnv({
      PATH: '/bin',
      ANTHROPIC_API_KEY: 'k',
      TEMPORAL_ADDRESS: 'x:1',
      WEFT_TASK_QUEUE: 'q',
    });
    assert.deepEqual(env, { PATH: '/bin', WEFT_AGENT: '1' });
  });

  void test('S401 output is capped in the middle', async () => {
    const { cwd } = sandbox();
    const out = await call(bashTool, { command: 'yes line | head -n 20000; echo THE-END' }, ctxFor(cwd));
    assert.ok(out.content.length < 31_000, `got ${out.content.length} chars`);
    assert.match(out.content, /characters of output cut/);
    assert.match(out.content, /THE-END$/);
  });

  void test('S401 S405 a timeout kills the whole process group, children included', async () => {
    const { cwd } = sandbox();
    const started = Date.now();
    const out = await call(
      bashTool,
      { command: 'sleep 60 & echo $! > child.pid; wait', timeout: 300 },
      ctxFor(cwd),
    );
    assert.equal(out.isError, true);
    assert.match(out.content, /timed out after 300 ms/);
    assert.ok(Date.now() - started < 5000);
    const pid = Number(readFileSync(path.join(cwd, 'child.pid'), 'utf8'));
    assert.ok(await until(() => processGone(pid), 5000), `child ${pid} still runs`);
  });

  void test('S405 cancellation kills the command and its children', async () => {
    const { cwd } = sandbox();
    const controller = new AbortController();
    const running = runCommand('sleep 60 & echo $! > child.pid; wait', {
      cwd,
      timeoutMs: 60_000,
      signal: controller.signal,
    });
    const pidFile = path.join(cwd, 'child.pid');
    assert.ok(await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 5000));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    controller.abort();
    const result = await running;
    assert.equal(result.cancelled, true);
    assert.ok(await until(() => processGone(pid), 5000), `child ${pid} still runs`);
  });

  void test('S401 background processes left behind do not outlive the call', async () => {
    const { cwd } = sandbox();
    const started = Date.now();
    const out = await call(
      bashTool,
      { command: 'sleep 60 >/dev/null 2>&1 & echo $! > bg.pid; echo started' },
      ctxFor(cwd),
    );
    assert.deepEqual(out, { content: 'started', isError: false });
    assert.ok(Date.now() - started < 5000);
    const pid = Number(readFileSync(path.join(cwd, 'bg.pid'), 'utf8'));
    assert.ok(await until(() => processGone(pid), 5000));
  });
});

void describe('WebFetch against a local server', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/page') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          '<html><head><style>p{}</style><script>evil()</script></head><body><h1>Title</h1><p>Hello &amp; welcome</p></body></html>',
        );
      } else if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(300_000));
      } else if (req.url === '/slow') {
        // Never answers; the tool's own timeout or cancellation must end the call.
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('no such page');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  void test('S401 fetches a page as text with the prompt beside it; errors and caps', async () => {
    const { cwd } = sandbox();
    const ctx = ctxFor(cwd);
    const page = await call(webFetchTool, { url: `${base}/page`, prompt: 'what is the title?' }, ctx);
    assert.equal(page.isError, false);
    assert.match(page.content, /Status: 200/);
    assert.match(page.content, /Title\n+Hello & welcome/);
    assert.doesNotMatch(page.content, /evil|p\{\}/);
    assert.match(page.content, /Your prompt about this page: what is the title\?/);
    const missing = await call(webFetchTool, { url: `${base}/missing`, prompt: 'x' }, ctx);
    assert.equal(missing.isError, true);
    assert.match(missing.content, /Status: 404/);
    const big = await call(webFetchTool, { url: `${base}/big`, prompt: 'x' }, ctx);
    assert.match(big.content, /text cut at 100000 characters/);
    assert.match(
      (await call(webFetchTool, { url: 'file:///etc/passwd', prompt: 'x' }, ctx)).content,
      /only http and https/,
    );
    assert.match(
      (await call(webFetchTool, { url: 'http://127.0.0.1:1/', prompt: 'x' }, ctx)).content,
      /cannot fetch/,
    );
    assert.equal(htmlToText('a<br>b&#65;&#x42;&nbsp;c'), 'a\nbAB c');
  });

  void test('S405 a cancelled fetch ends at once', async () => {
    const { cwd } = sandbox();
    const controller = new AbortController();
    const pending = webFetchTool.run({ url: `${base}/slow`, prompt: 'x' }, ctxFor(cwd, controller.signal));
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(pending, /cancelled/);
  });
});
