// Runs the whole test suite against a real Temporal dev server of its own: started here on free
// ports in a temporary state folder, shared by every test file, and stopped at the end.
// Set TEMPORAL_ADDRESS to use a server that is already running instead.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const filters = process.argv.slice(2);
const files = ['test/unit', 'test/integration']
  .flatMap((dir) =>
    readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => path.join(dir, f)),
  )
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));

let stateDir = null;
const env = { ...process.env };
if (!env.TEMPORAL_ADDRESS) {
  const { startDevServer } = require(path.join(root, 'dist/dev-server/dev-server.js'));
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'weft-test-server-'));
  const port = await freePort();
  const uiPort = await freePort();
  const started = Date.now();
  const { WEFT_SEARCH_ATTRIBUTES } = require(path.join(root, 'dist/search-attributes.js'));
  const info = await startDevServer({ stateDir, port, uiPort, searchAttributes: WEFT_SEARCH_ATTRIBUTES });
  console.error(`test dev server on ${info.address}, Web UI ${info.uiUrl} (${Date.now() - started} ms)`);
  env.TEMPORAL_ADDRESS = info.address;
  env.WEFT_TEST_UI_URL = info.uiUrl ?? '';
  env.WEFT_TEST_SERVER_STATE = stateDir;
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
  { cwd: root, env, stdio: 'inherit' },
);
const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));

if (stateDir) {
  const { stopDevServer } = require(path.join(root, 'dist/dev-server/dev-server.js'));
  await stopDevServer(stateDir).catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
}
process.exit(code);
