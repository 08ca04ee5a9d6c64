import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { WeftClient } from '../../src/client/weft-client';
import { McpRuns, saveInlineScript } from '../../src/mcp/mcp-runs';

function runs(policy: Partial<ConstructorParameters<typeof McpRuns>[1]> = {}): McpRuns {
  // startOptions reads only the policy; no Temporal client is needed to check it.
  return new McpRuns({} as WeftClient, {
    cwd: '/project',
    home: '/home/u',
    embeddedWorker: false,
    ...policy,
  });
}

test('S903 the server ceilings bound what a caller asks for: budget, cost and concurrency only go down', () => {
  const capped = runs({ maxBudgetTokens: 100_000, maxCostUsd: 2, maxConcurrency: 4 });
  const asked = capped.startOptions({ budget: '500k', maxCostUsd: 10, concurrency: 12, args: [1] });
  assert.equal(asked.budgetTokens, 100_000);
  assert.equal(asked.maxCostUsd, 2);
  assert.equal(asked.concurrency, 4);
  assert.deepEqual(asked.args, [1]);
  assert.equal(asked.cwd, '/project');
  const lower = capped.startOptions({ budget: 5_000, maxCostUsd: 0.5, concurrency: 2 });
  assert.deepEqual([lower.budgetTokens, lower.maxCostUsd, lower.concurrency], [5_000, 0.5, 2]);
  const defaults = capped.startOptions({});
  assert.deepEqual([defaults.budgetTokens, defaults.maxCostUsd, defaults.concurrency], [100_000, 2, 4]);
  const open = runs().startOptions({ budget: '2m', resumeFromRunId: 'r-1', dryRun: true });
  assert.deepEqual(
    [open.budgetTokens, open.maxCostUsd, open.resumeFrom, open.dryRun],
    [2_000_000, undefined, 'r-1', true],
  );
  assert.equal(open.args, undefined, 'no args means undefined in the script (S209)');
  assert.throws(() => runs().startOptions({ budget: 'lots' }), /budget: expected a token count/);
});

test('S903 an inline script is saved once under .weft/scripts, named by meta.name and its hash', async () => {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'weft-mcp-unit-'));
  const source = "export const meta = { name: 'my flow', description: 'd' };\nreturn 1;\n";
  const file = await saveInlineScript(source, cwd);
  assert.match(path.basename(file), /^my-flow-[0-9a-f]{8}\.js$/);
  assert.equal(path.dirname(file), path.join(cwd, '.weft', 'scripts'));
  assert.equal(readFileSync(file, 'utf8'), source);
  assert.equal(await saveInlineScript(source, cwd), file, 'the same text is the same file');
  const broken = await saveInlineScript(
    "export const meta = { name: 'bad', description: 'd' };\nconst x: number = 1;\n",
    cwd,
  );
  assert.match(path.basename(broken), /^bad-[0-9a-f]{8}\.js$/);
  const nameless = await saveInlineScript('return 1', cwd);
  assert.match(path.basename(nameless), /^script-[0-9a-f]{8}\.js$/);
  assert.equal(readdirSync(path.join(cwd, '.weft', 'scripts')).length, 3);
});
