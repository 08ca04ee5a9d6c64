// Records the Temporal histories that test/integration/replay.test.ts replays against the current
// interpreter: one per example and per bundled workflow, plus fixtures that reach every workflow
// path (nested workflows, resume, stop, budgets). Run it after an intended change to those paths:
//   npm run build && node --import tsx scripts/record-histories.ts [name-filter ...]
// With filters, only the cases whose names contain one are recorded, so histories recorded by older
// code stay as they are and keep testing that runs in flight survive an upgrade.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { temporal } from '@temporalio/proto';
import { quietTemporalLogs } from '../src/cli/temporal-runtime';
import { WeftClient } from '../src/client/weft-client';
import type { StartOptions } from '../src/client/weft-client';
import { compileWorkflowFile } from '../src/workflow-files/compile-workflow-file';
import { loadConfig } from '../src/config';
import { startDevServer, stopDevServer } from '../src/dev-server/dev-server';
import { startMockModel } from '../src/mock-model/server';
import { WEFT_SEARCH_ATTRIBUTES } from '../src/search-attributes';
import { createWeftWorker } from '../src/worker';

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'test', 'fixtures', 'histories');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Case {
  name: string;
  file: string;
  options?: StartOptions;
  /** Acts on the run while it goes, e.g. decides a waiting approval. */
  during?: (client: WeftClient, runId: string) => Promise<void>;
}

async function main(): Promise<void> {
  quietTemporalLogs('ERROR');
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'weft-record-'));
  // Registered search attributes, as on the embedded server, so the upsert path is recorded too.
  const server = await startDevServer({
    stateDir,
    port: await freePort(),
    uiPort: await freePort(),
    headless: true,
    searchAttributes: WEFT_SEARCH_ATTRIBUTES,
  });
  const mock = await startMockModel();
  const taskQueue = 'record-histories';
  const worker = await createWeftWorker({
    address: server.address,
    taskQueue,
    activityDeps: { anthropic: () => new Anthropic({ apiKey: 'x', baseURL: mock.url, maxRetries: 0 }) },
  });
  const running = worker.run();
  const client = await WeftClient.connect({
    config: { ...loadConfig(), address: server.address, taskQueue },
  });
  const fixtures = path.join(root, 'test', 'fixtures');
  // The nested case resolves a saved workflow by name from its working directory.
  const nestedCwd = mkdtempSync(path.join(os.tmpdir(), 'weft-record-nested-'));
  mkdirSync(path.join(nestedCwd, '.weft', 'workflows'), { recursive: true });
  copyFileSync(
    path.join(fixtures, 'scripts', 'child', 'child-a.js'),
    path.join(nestedCwd, '.weft', 'workflows', 'saved-child.js'),
  );
  const cases: Case[] = [
    ...readdirSync(path.join(root, 'examples'))
      .filter((f) => f.endsWith('.js'))
      .map((f) => ({
        name: `example-${path.basename(f, '.js')}`,
        file: path.join(root, 'examples', f),
        options: { args: 'record a history', concurrency: 4 },
      })),
    ...(existsSync(path.join(root, 'workflows')) ? readdirSync(path.join(root, 'workflows')) : [])
      .filter((f) => f.endsWith('.js'))
      .map((f) => ({
        name: `bundled-${path.basename(f, '.js')}`,
        file: path.join(root, 'workflows', f),
        options: { args: 'what makes replay safe?', concurrency: 4 },
      })),
    {
      name: 'feature-nested',
      file: path.join(fixtures, 'scripts', 'api-nested.js'),
      options: { cwd: nestedCwd, budgetTokens: 1000 },
    },
    {
      name: 'feature-pipeline',
      file: path.join(fixtures, 'scripts', 'api-pipeline.js'),
      options: { concurrency: 4 },
    },
    { name: 'feature-schema', file: path.join(fixtures, 'scripts', 'api-schema.js') },
    {
      name: 'feature-budget',
      file: path.join(fixtures, 'durable', 'budget-fanout.js'),
      options: { args: 'record', budgetTokens: 2000, concurrency: 4 },
    },
    {
      name: 'feature-resume-v1',
      file: path.join(fixtures, 'durable', 'resume-v1.js'),
      options: { concurrency: 4, runId: 'record-resume-v1' },
    },
    {
      name: 'feature-resume-v2',
      file: path.join(fixtures, 'durable', 'resume-v2.js'),
      options: { concurrency: 4, resumeFrom: 'record-resume-v1' },
    },
    // YAML definitions run through the YAML runner script (S601); the approval case records a
    // wait and the update that decides it (S602).
    {
      name: 'yaml-feature-build',
      file: path.join(fixtures, 'yaml', 'feature-build.yaml'),
      options: { args: { feature_description: 'record a history' }, concurrency: 4 },
    },
    {
      name: 'yaml-approval',
      file: path.join(fixtures, 'yaml', 'approval.yaml'),
      options: { args: { service: 'billing' } },
      during: async (client, runId) => {
        for (;;) {
          const progress = await client.progress(runId).catch(() => null);
          if (progress?.approvals?.some((a) => a.status === 'waiting')) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await client.approve(runId, { approved: true, by: 'recorder', comment: 'ship it' });
      },
    },
  ];
  mkdirSync(out, { recursive: true });
  const filters = process.argv.slice(2);
  for (const c of cases.filter((k) => filters.length === 0 || filters.some((f) => k.name.includes(f)))) {
    const script = await compileWorkflowFile(c.file);
    const runId = await client.start(script, { ...c.options, runId: c.options?.runId ?? `record-${c.name}` });
    await c.during?.(client, runId);
    const summary = await client.wait(runId);
    const history = await client.temporal.workflow.getHandle(runId).fetchHistory();
    // Binary protobuf: exact, compact, and decoded by @temporalio/proto without JSON mapping quirks.
    writeFileSync(path.join(out, `${c.name}.pb`), temporal.api.history.v1.History.encode(history).finish());
    console.error(`${c.name}: ${summary.status}, ${history.events?.length ?? 0} events`);
  }
  await client.close();
  await worker.shutdown();
  await running;
  await mock.close();
  await stopDevServer(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(nestedCwd, { recursive: true, force: true });
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
