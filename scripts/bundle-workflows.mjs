// Prebundles the workflow sandbox code at build time, so workers start without running webpack.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { bundleWorkflowCode } = require('@temporalio/worker');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { code } = await bundleWorkflowCode({
  workflowsPath: path.join(root, 'dist/workflows/index.js'),
  logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
});
await writeFile(path.join(root, 'dist/workflow-bundle.js'), code);
console.error(`bundled workflow code: dist/workflow-bundle.js (${Math.round(code.length / 1024)} KiB)`);
