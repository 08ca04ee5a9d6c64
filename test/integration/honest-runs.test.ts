import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { RunOutput } from '../../src/types';
import {
  FIXTURES,
  ROOT,
  runWeft,
  uniqueName,
  until,
  useModelAndClient,
  WEFT_BIN,
  weftEnv,
} from '../helpers/harness';

const shared = useModelAndClient();
const DURABLE = path.join(ROOT, 'test', 'fixtures', 'durable');

interface RunJson {
  runId: string;
  status: string;
  result: unknown;
  agents: number;
  failedAgents: number;
}

async function output(runId: string): Promise<RunOutput> {
  const summary = await shared.client.wait(runId);
  assert.ok(summary.output, `run ${runId} has no output (${summary.status}: ${summary.error})`);
  return summary.output;
}

async function notStarted(id: string): Promise<void> {
  await assert.rejects(shared.client.temporal.workflow.getHandle(id).describe(), /not found/i);
}

describe('honest run outcomes', () => {
  test('S212 by default at least 4 agents run at once, whatever the cores (agents wait on the network)', async () => {
    const id = uniqueName('default-concurrency');
    const res = await runWeft(['run', path.join(FIXTURES, 'api-concurrency.js'), '--json', '--id', id], {
      env: weftEnv({ modelUrl: shared.model.url, taskQueue: id }),
    });
    assert.equal(res.code, 0, res.stderr);
    const spans = (await output(id)).records.map((a) => [a.startedAt ?? 0, a.endedAt ?? 0] as const);
    const most = Math.max(...spans.map(([s]) => spans.filter(([s2, e2]) => s2 <= s && s < e2).length));
    assert.ok(most >= 4, `${most} agents ran at once`);
  });

  test('S203 S502 --json counts failed agents; a run whose every agent failed exits 3; --fail-on-agent-error chooses', async () => {
    const queue = uniqueName('fail-on-agent-error');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const all = await runWeft(
      ['run', path.join(FIXTURES, 'api-all-agents-fail.js'), '--json', '--id', `${queue}-all`],
      { env },
    );
    assert.equal(all.code, 3, all.stderr);
    const allJson = all.json as RunJson;
    assert.equal(allJson.status, 'completed');
    assert.equal(allJson.failedAgents, 2);
    assert.deepEqual(allJson.result, [null, null]);

    const text = await runWeft(
      ['run', path.join(FIXTURES, 'api-all-agents-fail.js'), '--id', `${queue}-text`],
      {
        env,
      },
    );
    assert.equal(text.code, 3);
    assert.match(text.stderr, /2 failed/);
    assert.match(text.stderr, /every agent failed/);

    const never = await runWeft(
      [
        'run',
        path.join(FIXTURES, 'api-all-agents-fail.js'),
        '--json',
        '--id',
        `${queue}-never`,
        '--fail-on-agent-error',
        'never',
      ],
      { env },
    );
    assert.equal(never.code, 0, never.stderr);

    // One of two failed: fine by default, not with `any`.
    const some = await runWeft(
      ['run', path.join(FIXTURES, 'api-failing-agent.js'), '--json', '--id', `${queue}-some`],
      { env },
    );
    assert.equal(some.code, 0, some.stderr);
    assert.equal((some.json as RunJson).failedAgents, 1);
    const strict = await runWeft(
      [
        'run',
        path.join(FIXTURES, 'api-failing-agent.js'),
        '--json',
        '--id',
        `${queue}-any`,
        '--fail-on-agent-error',
        'any',
      ],
      { env },
    );
    assert.equal(strict.code, 3, strict.stderr);
    // `weft wait` judges a finished run the same way.
    const waited = await runWeft(['wait', `${queue}-all`, '--json'], { env });
    assert.equal(waited.code, 3);
    assert.equal((waited.json as RunJson).failedAgents, 2);

    const bad = await runWeft(
      ['run', path.join(FIXTURES, 'api-failing-agent.js'), '--fail-on-agent-error', 'sometimes'],
      { env },
    );
    assert.equal(bad.code, 2);
  });

  test('S105 a nonexistent --cwd is refused with one line and exit 2 before anything starts', async () => {
    const id = uniqueName('bad-cwd');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: id });
    for (const verb of ['run', 'start']) {
      const res = await runWeft(
        [verb, path.join(FIXTURES, 'api-text.js'), '--cwd', '/nonexistent/weft-cwd', '--id', `${id}-${verb}`],
        { env },
      );
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.match(res.stderr, /--cwd \/nonexistent\/weft-cwd: no such directory/);
      await notStarted(`${id}-${verb}`);
    }
  });

  test('S305 resume never mixes dry and real runs: either way is refused with one line, exit 2', async () => {
    const queue = uniqueName('resume-dry');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const script = path.join(DURABLE, 'resume-v1.js');
    const dry = await runWeft(['run', script, '--dry-run', '--json', '--id', `${queue}-dry`], { env });
    assert.equal(dry.code, 0, dry.stderr);
    const real = await runWeft(
      ['run', script, '--json', '--id', `${queue}-real`, '--resume-from', `${queue}-dry`],
      {
        env,
      },
    );
    assert.equal(real.code, 2, real.stderr);
    assert.match(real.stderr.trim(), /^weft: run \S+-dry was a dry run \(--dry-run\): its answers are fake/);
    await notStarted(`${queue}-real`);

    const realRun = await runWeft(['run', script, '--json', '--id', `${queue}-real2`], { env });
    assert.equal(realRun.code, 0, realRun.stderr);
    const dryFromReal = await runWeft(
      ['run', script, '--dry-run', '--json', '--id', `${queue}-dry2`, '--resume-from', `${queue}-real2`],
      { env },
    );
    assert.equal(dryFromReal.code, 2, dryFromReal.stderr);
    assert.match(dryFromReal.stderr, /was a real run: a dry run cannot resume from it/);
    await notStarted(`${queue}-dry2`);
    // Dry from dry is still fine.
    const dryFromDry = await runWeft(
      ['run', script, '--dry-run', '--json', '--id', `${queue}-dry3`, '--resume-from', `${queue}-dry`],
      { env },
    );
    assert.equal(dryFromDry.code, 0, dryFromDry.stderr);
  });

  test('S306 Ctrl-C on weft run detaches at once, says how to reattach or stop, and the run goes on', async () => {
    const id = uniqueName('ctrl-c');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: id });
    const child = spawn(
      process.execPath,
      [
        WEFT_BIN,
        'run',
        path.join(DURABLE, 'slow-fanout.js'),
        '--id',
        id,
        '--args',
        '{"latency": 60000, "n": 2}',
      ],
      { cwd: ROOT, env: { ...env, WEFT_PLAIN_PROGRESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Wait until an agent is really asking the model, so Ctrl-C lands mid-run.
      await until(
        () => shared.model.requests.some((r) => r.prompt.includes(`slow 0`) && r.prompt.includes('60000')),
        'an agent in flight',
      );
      const pressed = Date.now();
      child.kill('SIGINT');
      const code = await Promise.race([
        exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000)),
      ]);
      assert.notEqual(code, 'hung', `weft run did not exit within 15 s of Ctrl-C: ${stderr}`);
      assert.equal(code, 130);
      assert.ok(Date.now() - pressed < 15_000);
      assert.match(
        stderr,
        new RegExp(`detaching; the run goes on: \`weft watch ${id}\` .*\`weft stop ${id}\``),
      );
      const description = await shared.client.temporal.workflow.getHandle(id).describe();
      assert.equal(description.status.name, 'RUNNING', 'the run outlives the CLI');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await shared.client.temporal.workflow
        .getHandle(id)
        .terminate('test cleanup')
        .catch(() => {});
    }
  });
});
