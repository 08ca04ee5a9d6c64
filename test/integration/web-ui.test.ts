import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { WeftClient } from '../../src/client/weft-client';
import { compileScriptFile } from '../../src/compiler/compile-script';
import { loadConfig } from '../../src/config';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel } from '../../src/mock-model/server';
import { createWeftWorker } from '../../src/worker';
import type { WeftWorker } from '../../src/worker';
import { uniqueName } from '../helpers/harness';

/** Debian's chromium, provisioned by scripts/install-chromium.sh. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** When set, the test also saves screenshots of the pages it checked there (docs/ uses them). */
const SCREENSHOTS = process.env.WEFT_UI_SCREENSHOTS?.trim() || null;

let model: MockModel;
let client: WeftClient;
let worker: WeftWorker;
let browser: Browser | null = null;
const queue = uniqueName('ux-webui');

before(async () => {
  model = await startMockModel();
  client = await WeftClient.connect({
    config: { ...loadConfig(), address: process.env.TEMPORAL_ADDRESS ?? null, taskQueue: queue },
  });
  worker = await createWeftWorker({
    address: client.address,
    taskQueue: queue,
    activityDeps: { anthropic: () => new Anthropic({ apiKey: 'test', baseURL: model.url, maxRetries: 0 }) },
  });
  void worker.run();
});
after(async () => {
  await browser?.close().catch(() => {});
  await worker?.shutdown().catch(() => {});
  await client?.close();
  await model?.close();
});

const SCRIPT = `export const meta = {
  name: 'ui-readable',
  description: 'Survey two regions, then wait for a person: a run made to be read in the Web UI',
  phases: [
    { title: 'Survey', detail: 'one surveyor per region' },
    { title: 'Wait', detail: 'hold the run open' },
  ],
}
phase('Survey')
const regions = await parallel(['north', 'south'].map((r) => () =>
  agent('Survey the ' + r + ' region [[mock:reply ' + r + ' surveyed]]', { label: 'survey:' + r })))
log('surveyed ' + regions.length + ' regions')
phase('Wait')
await agent('Wait for a person [[mock:hang]]', { label: 'hold-open' })
`;

/** The text of the page and of every frame in it: the Web UI renders markdown in iframes. */
async function allText(page: Page): Promise<string> {
  const texts = await Promise.all(
    page.frames().map((f) =>
      f
        .locator('body')
        .innerText({ timeout: 2_000 })
        .catch(() => ''),
    ),
  );
  return texts.join('\n');
}

async function waitForText(
  page: Page,
  needles: Array<string | RegExp>,
  what: string,
  timeoutMs = 45_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = await allText(page);
    const missing = needles.filter((n) => (typeof n === 'string' ? !text.includes(n) : !n.test(text)));
    if (missing.length === 0) return text;
    if (Date.now() > deadline) {
      throw new Error(
        `the Web UI never showed ${what}; missing ${missing.join(', ')} in:\n${text.slice(0, 3000)}`,
      );
    }
    await page.waitForTimeout(500);
  }
}

async function shoot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, name) });
}

void describe('Temporal Web UI', () => {
  test('S503 the Web UI shows a run readably: type meta.name, summary and args, agents by label, the phase tree as current details', async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: the Web UI test drives Debian's chromium headless; install it with scripts/install-chromium.sh`,
    );
    const ui = process.env.WEFT_TEST_UI_URL?.trim();
    assert.ok(
      ui,
      'WEFT_TEST_UI_URL is not set: run the suite with `node scripts/run-tests.mjs`, which starts a dev server with its Web UI',
    );

    const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-webui-'));
    const file = path.join(dir, 'ui-readable.js');
    writeFileSync(file, SCRIPT);
    const run = await client.startRun(await compileScriptFile(file), {
      runId: `${queue}-run`,
      args: { regions: ['north', 'south'], owner: 'ops' },
      concurrency: 2,
    });
    const deadline = Date.now() + 30_000;
    while (
      !(await client.tryProgress(run.runId))?.agents.some(
        (a) => a.label === 'hold-open' && a.status === 'running',
      )
    ) {
      assert.ok(Date.now() < deadline, 'the run never reached its Wait phase');
      await new Promise((r) => setTimeout(r, 200));
    }

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });

    // The runs list: filtered to this run, it shows its workflow type, which is meta.name.
    const query = encodeURIComponent(`WorkflowId="${run.runId}"`);
    await page.goto(`${ui}/namespaces/default/workflows?query=${query}`, { waitUntil: 'load' });
    // Visibility is eventually consistent and the list page loads its rows after the page itself:
    // give each load time to fill in before asking again.
    for (let attempt = 1; ; attempt++) {
      try {
        await waitForText(page, [run.runId], 'the run in the list', 10_000);
        break;
      } catch (err) {
        if (attempt >= 4) throw err;
        await page.reload({ waitUntil: 'load' });
      }
    }
    await waitForText(page, [run.runId, 'ui-readable', 'Running'], 'the run in the list');
    await shoot(page, 'web-ui-runs.png');

    // The run's page: the history timeline names each agent activity by its label.
    await page.getByRole('link', { name: run.runId }).first().click();
    const history = await waitForText(
      page,
      ['Workflow Type', 'ui-readable', 'runAgent • survey:north', 'runAgent • survey:south', 'hold-open'],
      "the run's history with agent labels",
    );
    assert.match(history, /Task Queue\s+ux-webui-/);
    await shoot(page, 'web-ui-history.png');

    // User metadata: summary from meta.description, details with the args, agents by label, and
    // the current details: the phase tree, read live from the worker.
    await page.getByText('User Metadata', { exact: true }).first().click();
    const metadata = await waitForText(
      page,
      [
        'Survey two regions, then wait for a person: a run made to be read in the Web UI',
        // Markdown rendering turns the quotes of the JSON into typographic ones.
        /args: \{.regions.:\[.north.,.south.\],.owner.:.ops.\}/,
        'survey:north',
        'survey:south',
        'hold-open',
        // Markdown rendering turns "2/3" into a fraction slash.
        /ui-readable · phase Wait · 2.3 agents/,
        /Survey \(one surveyor per region\): 2 done, 0 running, 0 queued, 0 failed/,
        /Wait \(hold the run open\): 0 done, 1 running, 0 queued, 0 failed/,
        /running: hold-open/,
      ],
      "the run's summary, details and current details",
    );
    assert.match(metadata, /Current Details/);
    await shoot(page, 'web-ui-metadata.png');

    await run.stop();
    assert.equal((await run.result()).status, 'cancelled');
  });

  test('S602 S503 a run waiting for approval says so in the Web UI; weft approve lets it finish', async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing`);
    const ui = process.env.WEFT_TEST_UI_URL?.trim();
    assert.ok(ui, 'WEFT_TEST_UI_URL is not set');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-webui-approval-'));
    const file = path.join(dir, 'ui-approval.js');
    writeFileSync(file, APPROVAL_SCRIPT);
    const run = await client.startRun(await compileScriptFile(file), { runId: `${queue}-approval` });
    const deadline = Date.now() + 30_000;
    while (!(await client.tryProgress(run.runId))?.approvals?.some((a) => a.status === 'waiting')) {
      assert.ok(Date.now() < deadline, 'the run never waited for approval');
      await new Promise((r) => setTimeout(r, 200));
    }

    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${ui}/namespaces/default/workflows/${run.runId}`, { waitUntil: 'load' });
    await page.getByText('User Metadata', { exact: true }).first().click();
    await waitForText(
      page,
      [
        'Draft a release note, then ask a person before publishing it',
        /waiting for approval of step Publish/,
      ],
      'the waiting approval in the current details',
    );
    await shoot(page, 'web-ui-approval.png');
    await page.close();

    const decided = await client.approve(run.runId, { approved: true, by: 'ana', comment: 'ship it' });
    assert.equal(decided.status, 'approved');
    const summary = await run.result();
    assert.equal(summary.status, 'completed');
    assert.deepEqual(summary.result, { published: true, by: 'ana', comment: 'ship it' });
  });
});

const APPROVAL_SCRIPT = `export const meta = {
  name: 'ui-approval',
  description: 'Draft a release note, then ask a person before publishing it',
}
const note = await agent('Draft the release note [[mock:reply v2 is out]]', { label: 'draft' })
const { approved, by, comment } = await approval('Publish', 'Publish: ' + note)
return { published: approved, by, comment }
`;
