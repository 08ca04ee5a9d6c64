import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { quietTemporalLogs } from '../../src/cli/temporal-runtime';
import { replayHistory } from '../../src/replay';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel } from '../../src/mock-model/server';
import { FIXTURES, ROOT, runWeft, uniqueName, weftEnv } from '../helpers/harness';

const HISTORIES = path.join(ROOT, 'test', 'fixtures', 'histories');

function load(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.decode(readFileSync(path.join(HISTORIES, file)));
}

quietTemporalLogs('ERROR');

describe('replay of recorded histories', () => {
  const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.pb'));

  test('S307 there is a recorded history for every example', () => {
    const examples = readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.js'));
    for (const example of examples) {
      assert.ok(
        files.includes(`example-${path.basename(example, '.js')}.pb`),
        `no recorded history for ${example}`,
      );
    }
  });

  for (const file of files) {
    test(`S307 ${file} replays deterministically against the current interpreter`, async () => {
      const history = load(file);
      const report = await replayHistory(history, path.basename(file, '.pb'));
      assert.equal(report.error, null);
      assert.equal(report.ok, true);
      assert.ok(report.events > 10);
    });
  }

  test('S307 a history whose commands differ from the code is reported as nondeterministic', async () => {
    // Swap the script in the start event for another one: replay then schedules other activities
    // than the history recorded, exactly what a breaking interpreter change would do.
    const history = load('example-skeleton.pb');
    const started = history.events[0]?.workflowExecutionStartedEventAttributes;
    const payload = started?.input?.payloads?.[0];
    assert.ok(payload?.data);
    const input = JSON.parse(Buffer.from(payload.data).toString()) as { script: { code: string } };
    // Replay matches commands by type and order (not by input), so the edit must change those.
    input.script.code = input.script.code.replace(
      "phase('Plan')",
      "await workflow({ scriptPath: './nope.js' }).catch(() => null); phase('Plan')",
    );
    assert.match(input.script.code, /nope\.js/);
    payload.data = Buffer.from(JSON.stringify(input));
    const report = await replayHistory(history, 'tampered');
    assert.equal(report.ok, false);
    assert.equal(report.nondeterministic, true, report.error ?? '');
  });
});

describe('weft replay', () => {
  let model: MockModel;
  before(async () => {
    model = await startMockModel();
  });
  after(async () => model?.close());

  test('S307 weft replay <runId> replays a finished run from the server and reports success', async () => {
    const queue = uniqueName('replay');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue });
    const ran = await runWeft(
      ['run', path.join(FIXTURES, 'api-pipeline.js'), '--json', '--id', queue, '--concurrency', '3'],
      { env },
    );
    assert.equal(ran.code, 0, ran.stderr);
    const replay = await runWeft(['replay', queue, '--json'], { env });
    assert.equal(replay.code, 0, replay.stderr);
    const report = replay.json as { ok: boolean; events: number; nondeterministic: boolean };
    assert.equal(report.ok, true);
    assert.equal(report.nondeterministic, false);
    assert.ok(report.events > 10);
  });
});
