/**
 * The real-API readiness of agents seen from the CLI, as a user meets it (S804, S805): the built
 * `weft` runs fixture scripts against the mock model over HTTP and a real Temporal server.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SPEND_LIMIT_MESSAGE } from '../../src/mock-model/server';
import { ROOT, runWeft, uniqueName, useModelAndClient, weftEnv } from '../helpers/harness';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'real-api');
const shared = useModelAndClient();

void describe('agents against the real API, from the CLI', () => {
  void test('S804 a spend-limit 429 fails every agent at once with a clear message, no retries', async () => {
    const runId = uniqueName('spend-limit');
    const started = Date.now();
    const res = await runWeft(['run', path.join(FIXTURES, 'spend-limit.js'), '--json', '--id', runId], {
      env: weftEnv({ modelUrl: shared.model.url, taskQueue: runId }),
    });
    // The script completes with nulls, but every agent failed: exit 3 by the CLI's contract.
    assert.equal(res.code, 3, res.stderr);
    assert.deepEqual((res.json as { result: unknown }).result, [null, null, null]);
    const summary = await shared.client.wait(runId);
    const records = summary.output?.records ?? [];
    assert.equal(records.length, 3);
    for (const record of records) {
      assert.equal(record.status, 'failed');
      assert.match(record.error ?? '', /spend limit reached \(429, not retried\)/);
      assert.ok(record.error?.includes(SPEND_LIMIT_MESSAGE));
    }
    const calls = shared.model.requests.filter((r) => r.prompt.includes('[[mock:spend-limit]]') && r.key);
    assert.equal(
      calls.filter((r) => records.some((rec) => r.prompt.includes(`Review ${rec.label} `))).length,
      3,
      'one request per agent',
    );
    assert.ok(Date.now() - started < 60_000, 'no agent waited out retries');
  });

  void test('S805 --max-cost refuses to start when a model of the run has no known price', async () => {
    const runId = uniqueName('priced');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: runId });
    const refused = await runWeft(
      ['run', path.join(FIXTURES, 'priced.js'), '--max-cost', '1', '--model', 'local-llama', '--id', runId],
      { env },
    );
    assert.equal(refused.code, 2, refused.stderr);
    const lines = refused.stderr.trim().split('\n');
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(lines[0] ?? '', /--max-cost cannot be kept: no known price for local-llama/);
    assert.equal(
      shared.model.requests.filter((r) => r.prompt.includes('Summarise')).length,
      0,
      'nothing ran',
    );

    // Priced models (the `haiku` alias included) start, and the run's cost is known.
    const okId = uniqueName('priced');
    const ok = await runWeft(
      ['run', path.join(FIXTURES, 'priced.js'), '--max-cost', '1', '--json', '--id', okId],
      {
        env: weftEnv({ modelUrl: shared.model.url, taskQueue: okId }),
      },
    );
    assert.equal(ok.code, 0, ok.stderr);
    const summary = await shared.client.wait(okId);
    const local = summary.output?.records.find((r) => r.label === 'local');
    assert.equal(local?.model, 'claude-haiku-4-5', 'the alias was resolved, never sent raw');
    assert.ok((local?.costUsd ?? 0) > 0);
    assert.notEqual(local?.costKnown, false);
  });
});
