import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { editTool } from '../../src/activities/tools/edit';
import { executeToolCall } from '../../src/activities/tools/execute';
import { globTool } from '../../src/activities/tools/glob';
import { grepTool } from '../../src/activities/tools/grep';
import { readTool } from '../../src/activities/tools/read';
import type { AgentTool, ToolContext, ToolOutput } from '../../src/activities/tools/tool-types';
import { writeTool } from '../../src/activities/tools/write';

const SECRET = 'OUTSIDE-SECRET';
const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A working directory (real path) and a sibling folder outside it holding a secret. */
function sandbox(): { cwd: string; outside: string } {
  const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'weft-confine-')));
  roots.push(root);
  const cwd = path.join(root, 'work');
  const outside = path.join(root, 'outside');
  mkdirSync(cwd);
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'secret.txt'), `${SECRET}\n`);
  return { cwd, outside };
}

function ctxFor(cwd: string): ToolContext {
  return { cwd, signal: new AbortController().signal, heartbeat: () => {} };
}

async function call(tool: AgentTool, input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutput> {
  const result = await executeToolCall({ id: 'toolu_1', name: tool.name, input }, [tool], ctx);
  return { content: String(result.content), isError: result.is_error === true };
}

/**
 * Flips, as fast as it can in another process, `cwd/d` between a real folder and a symlink to
 * `outside`, and `cwd/f.txt` between a regular file and a symlink to the secret, until `ms` pass.
 * Resolves to the number of flips made.
 */
function startSwapper(cwd: string, outside: string, ms: number): { done: Promise<number> } {
  const source = `
    const fs = require('node:fs');
    const path = require('node:path');
    const [cwd, outside, ms] = process.argv.slice(1);
    const d = path.join(cwd, 'd'), dReal = path.join(cwd, 'd.real');
    const f = path.join(cwd, 'f.txt'), fReal = path.join(cwd, 'f.real'), fLink = path.join(cwd, 'f.link');
    const until = Date.now() + Number(ms);
    let flips = 0;
    while (Date.now() < until) {
      try {
        fs.renameSync(d, dReal); fs.symlinkSync(outside, d);
        fs.symlinkSync(path.join(outside, 'secret.txt'), fLink); fs.renameSync(f, fReal); fs.renameSync(fLink, f);
        fs.unlinkSync(d); fs.renameSync(dReal, d);
        fs.renameSync(fReal, f);
        flips += 1;
      } catch (err) { /* a tool call may hold a name for a moment; try again */ }
    }
    process.stdout.write(String(flips));
  `;
  const child = spawn(process.execPath, ['-e', source, cwd, outside, String(ms)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { done: new Promise((resolve) => child.on('exit', () => resolve(Number(out) || 0))) };
}

void describe('file tools cannot leave the working directory', () => {
  void test('S401 Glob and Grep do not list or read files behind a symlinked folder', async () => {
    const { cwd, outside } = sandbox();
    const ctx = ctxFor(cwd);
    symlinkSync(outside, path.join(cwd, 'link-dir'));
    mkdirSync(path.join(cwd, 'src'));
    writeFileSync(path.join(cwd, 'src', 'ok.txt'), `not the ${SECRET.toLowerCase()}\n`);
    // A symlink inside that stays inside is fine.
    symlinkSync(path.join(cwd, 'src'), path.join(cwd, 'src-link'));

    const grep = await call(
      grepTool,
      { pattern: 'SECRET', glob: 'link-dir/**', output_mode: 'content', '-i': true },
      ctx,
    );
    assert.doesNotMatch(grep.content, new RegExp(SECRET), grep.content);
    const grepAll = await call(grepTool, { pattern: 'secret', '-i': true, output_mode: 'content' }, ctx);
    assert.doesNotMatch(grepAll.content, new RegExp(SECRET));
    assert.match(grepAll.content, /src\/ok\.txt/, 'files inside are still searched');

    const glob = await call(globTool, { pattern: 'link-dir/**' }, ctx);
    assert.equal(glob.content, 'No files found');
    const linked = await call(globTool, { pattern: 'src-link/**' }, ctx);
    assert.match(linked.content, /ok\.txt/, 'a link that stays inside is followed');

    const read = await call(readTool, { file_path: 'link-dir/secret.txt' }, ctx);
    assert.equal(read.isError, true);
    assert.doesNotMatch(read.content, new RegExp(SECRET));
  });

  void test('S401 a folder and a file swapped for symlinks under load never leak a read or a write (bounded race)', async () => {
    const { cwd, outside } = sandbox();
    const ctx = ctxFor(cwd);
    mkdirSync(path.join(cwd, 'd'));
    writeFileSync(path.join(cwd, 'd', 'secret.txt'), 'inside\n');
    writeFileSync(path.join(cwd, 'f.txt'), 'inside\n');
    const swapper = startSwapper(cwd, outside, 4000);

    const TRIES = 400;
    let leaks = 0;
    let reads = 0;
    let refused = 0;
    let writes = 0;
    const deadline = Date.now() + 3500;
    for (let i = 0; i < TRIES && Date.now() < deadline; i += 8) {
      // Eight calls at once, so the tools race each other as well as the swapper.
      const batch = Array.from({ length: 8 }, async (_, j) => {
        const n = i + j;
        if (n % 2 === 0) {
          const r = await call(readTool, { file_path: n % 4 === 0 ? 'd/secret.txt' : 'f.txt' }, ctx);
          if (r.content.includes(SECRET)) leaks += 1;
          else if (r.isError) refused += 1;
          else reads += 1;
          const g = await call(grepTool, { pattern: 'SECRET', path: 'd', output_mode: 'content' }, ctx);
          if (g.content.includes(SECRET)) leaks += 1;
        } else {
          const w = await call(writeTool, { file_path: `d/new-${n}.txt`, content: 'x' }, ctx);
          if (!w.isError) writes += 1;
        }
      });
      await Promise.all(batch);
    }
    const flips = await swapper.done;
    const createdOutside = readdirSync(outside).filter((name) => name !== 'secret.txt');

    assert.ok(flips >= 10, `the swapper made ${flips} flips`);
    assert.ok(
      reads > 0 && refused > 0,
      `reads ${reads}, refused ${refused}: both sides of the race were hit`,
    );
    assert.ok(writes > 0, `${writes} writes landed inside`);
    assert.equal(leaks, 0, `${leaks} reads returned the secret from outside`);
    assert.deepEqual(createdOutside, [], 'no write created a file outside');
    assert.equal(readFileSync(path.join(outside, 'secret.txt'), 'utf8'), `${SECRET}\n`);
  });

  void test('S401 a hard link to a file outside is neither read nor written through', async () => {
    const { cwd, outside } = sandbox();
    const ctx = ctxFor(cwd);
    const secretFile = path.join(outside, 'secret.txt');
    linkSync(secretFile, path.join(cwd, 'hard.txt'));

    const read = await call(readTool, { file_path: 'hard.txt' }, ctx);
    assert.equal(read.isError, true);
    assert.match(read.content, /hard links/);
    assert.doesNotMatch(read.content, new RegExp(SECRET));

    const grep = await call(grepTool, { pattern: SECRET, output_mode: 'content' }, ctx);
    assert.equal(grep.content, 'No matches found');

    const edit = await call(editTool, { file_path: 'hard.txt', old_string: 'OUTSIDE', new_string: 'x' }, ctx);
    assert.equal(edit.isError, true);

    // Write replaces the name inside; the file outside keeps its content.
    const write = await call(writeTool, { file_path: 'hard.txt', content: 'mine\n' }, ctx);
    assert.equal(write.isError, false, write.content);
    assert.equal(readFileSync(path.join(cwd, 'hard.txt'), 'utf8'), 'mine\n');
    assert.equal(readFileSync(secretFile, 'utf8'), `${SECRET}\n`);
    assert.ok(existsSync(secretFile));
  });
});
