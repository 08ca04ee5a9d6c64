import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..');
const CHECK = path.join(ROOT, 'scripts', 'check-layers.mjs');

function checkLayers(srcDir: string): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, [CHECK], {
    cwd: ROOT,
    env: { ...process.env, WEFT_LAYERS_SRC: srcDir },
    encoding: 'utf8',
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** A throwaway copy of src/ to break on purpose. */
function copyOfSrc(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-layers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  cpSync(path.join(ROOT, 'src'), src, { recursive: true });
  return src;
}

test('src/ has no import cycle and no import against the layers of src/ARCHITECTURE.md', () => {
  const result = checkLayers(path.join(ROOT, 'src'));
  assert.equal(result.stderr, '');
  assert.equal(result.status, 0);
  assert.match(result.stdout, /no cycle, none against the layers/);
});

test('an import cycle fails the layer check, type-only imports included', (t) => {
  const src = copyOfSrc(t);
  // config.ts (base) is imported by weft-client.ts; importing back closes a cycle.
  appendFileSync(path.join(src, 'config.ts'), "\nimport type { WeftClient } from './client/weft-client';\n");
  const result = checkLayers(src);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /import cycle of \d+ files: .*src\/client\/weft-client\.ts/);
  assert.match(result.stderr, /src\/config\.ts \(base\) imports src\/client\/weft-client\.ts \(client\)/);
});

test('a front end importing the client, or another front end, fails the layer check', (t) => {
  const src = copyOfSrc(t);
  appendFileSync(
    path.join(src, 'agentos', 'templates.ts'),
    "\nexport { WeftClient } from '../client/weft-client';\n",
  );
  appendFileSync(
    path.join(src, 'agentos', 'expressions.ts'),
    "\nexport { Agent } from '../stratus/agent';\n",
  );
  const result = checkLayers(src);
  assert.equal(result.status, 1);
  assert.match(
    result.stderr,
    /src\/agentos\/templates\.ts \(front-end:yaml\) imports src\/client\/weft-client\.ts \(client\)/,
  );
  assert.match(
    result.stderr,
    /src\/agentos\/expressions\.ts \(front-end:yaml\) imports src\/stratus\/agent\.ts/,
  );
});

test('workflow code importing anything outside the sandbox fails the layer check', (t) => {
  const src = copyOfSrc(t);
  appendFileSync(path.join(src, 'workflows', 'semaphore.ts'), "\nexport { loadConfig } from '../config';\n");
  const result = checkLayers(src);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /src\/workflows\/semaphore\.ts \(runtime\) imports src\/config\.ts \(base\)/);
});
