import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { RunOutput } from '../../src/types';
import { FIXTURES, ROOT, runWeft, uniqueName, weftEnv, useModelAndClient } from '../helpers/harness';
import type { CliResult } from '../helpers/harness';

const shared = useModelAndClient();

interface RunJson {
  runId: string;
  status: string;
  result: Record<string, unknown>;
  agents: number;
  usage: { inputTokens: number; outputTokens: number };
  durationMs: number;
}

/** Runs a fixture through `weft run --json` on its own task queue and workflow id. */
async function run(
  fixture: string,
  extra: string[] = [],
  cwd?: string,
): Promise<CliResult & { out: RunJson }> {
  const name = uniqueName(path.basename(fixture, '.js'));
  const file = path.isAbsolute(fixture) ? fixture : path.join(FIXTURES, fixture);
  const res = await runWeft(['run', file, '--json', '--id', name, ...extra], {
    env: weftEnv({ modelUrl: shared.model.url, taskQueue: name }),
    ...(cwd ? { cwd } : {}),
  });
  return { ...res, out: res.json as RunJson };
}

/** The full workflow output, with every agent's record. */
async function output(runId: string): Promise<RunOutput> {
  const summary = await shared.client.wait(runId);
  assert.ok(summary.output, `run ${runId} has no output (${summary.status}: ${summary.error})`);
  return summary.output;
}

function requestsFor(fragment: string) {
  return shared.model.requests.filter((r) => r.prompt.includes(fragment));
}

describe('script refusals', () => {
  for (const [fixture, reason] of [
    ['bad-import.js', /import/],
    ['bad-dynamic-import.js', /import\(\)/],
    ['bad-ts.js', /TypeScript/],
    ['bad-meta-call.js', /pure literal/],
    ['missing-description.js', /description/],
    ['syntax-error.js', /syntax error/i],
  ] as const) {
    test(`S103 S105 ${fixture} is refused with file:line:col, exit 2, and no workflow starts`, async () => {
      const id = uniqueName('refused');
      const res = await runWeft(['run', path.join(FIXTURES, fixture), '--id', id], {
        env: weftEnv({ modelUrl: shared.model.url, taskQueue: id }),
      });
      assert.equal(res.code, 2, res.stderr);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line expected, got: ${res.stderr}`);
      assert.match(lines[0] ?? '', new RegExp(`${fixture.replace('.', '\\.')}:\\d+:\\d+: `));
      assert.match(lines[0] ?? '', reason);
      await assert.rejects(shared.client.temporal.workflow.getHandle(id).describe(), /not found/i);
    });
  }

  test('S101 a bad flag gives one line and exit 2', async () => {
    const res = await runWeft(['run', path.join(FIXTURES, 'api-text.js'), '--args', '{not json'], {
      env: weftEnv({ taskQueue: uniqueName('flag') }),
    });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /not valid JSON/);
  });
});

describe('script API on a real server', () => {
  test('S201 S204 S301 agent() resolves to its final text; label, phase and model are recorded; type is meta.name', async () => {
    const { code, out, stderr } = await run('api-text.js');
    assert.equal(code, 0, stderr);
    assert.deepEqual(out.result, { text: 'hello from the model', type: 'string' });
    assert.equal(out.status, 'completed');
    assert.equal(out.agents, 1);
    assert.ok(out.usage.outputTokens > 0);
    const description = await shared.client.temporal.workflow.getHandle(out.runId).describe();
    assert.equal(description.type, 'api-text');
    const [record] = (await output(out.runId)).records;
    assert.equal(record?.label, 'greeter');
    assert.equal(record?.phase, 'Talk');
    assert.equal(record?.model, 'claude-haiku-4-5');
    assert.equal(requestsFor('Say hello')[0]?.model, 'claude-haiku-4-5');
    // S301: the script source travels in the workflow input, so a replay runs what the run started with.
    const history = await shared.client.temporal.workflow.getHandle(out.runId).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const input = Buffer.from(started?.input?.payloads?.[0]?.data ?? []).toString();
    assert.match(input, /Say hello/);
  });

  test('S202 schema: valid object, invalid twice then valid, prose then StructuredOutput, never valid throws', async () => {
    const { code, out, stderr } = await run('api-schema.js');
    assert.equal(code, 0, stderr);
    const result = out.result as Record<
      string,
      { title?: string; score?: number; name?: string; message?: string }
    >;
    assert.deepEqual(result.valid, { title: 't', score: 7 });
    assert.equal(typeof result.retried?.title, 'string');
    assert.equal(typeof result.prose?.score, 'number');
    assert.equal(result.never?.name, 'AgentOutputError');
    assert.match(result.never?.message ?? '', /after 5 attempts/);
    assert.match(result.never?.message ?? '', /score|title|required|must/);
    // invalid 2 → three StructuredOutput attempts in one activity; never valid → five.
    assert.equal(requestsFor('rate again').length, 3);
    assert.equal(requestsFor('never valid').length, 5);
    const records = (await output(out.runId)).records;
    assert.equal(records.find((r) => r.label === 'retried')?.schemaAttempts, 3);
    assert.equal(records.find((r) => r.label === 'retried')?.attempts, 1);
    assert.equal(records.find((r) => r.label === 'never')?.status, 'failed');
  });

  test('S202 unsatisfiable and invalid schemas throw before the agent starts', async () => {
    const { code, out, stderr } = await run('api-bad-schemas.js');
    // The run completes, but its one agent failed and gave no answer: exit 3 by default (S203).
    assert.equal(code, 3, stderr);
    const result = out.result as Record<string, string>;
    assert.match(result.arrayRoot ?? '', /^SchemaError: .*root must be/);
    assert.match(result.forbiddenRequired ?? '', /^SchemaError: .*"a" is forbidden/);
    assert.match(result.invalidSchema ?? '', /^SchemaError: .*not valid JSON Schema/);
    assert.equal(requestsFor('should not run').length, 0);
  });

  test('S203 a terminal model error gives null fast, with the reason recorded, and the run goes on', async () => {
    const started = Date.now();
    const { code, out, stderr } = await run('api-failing-agent.js');
    assert.equal(code, 0, stderr);
    assert.deepEqual(out.result, { denied: null, after: 'fine' });
    assert.ok(Date.now() - started < 30_000, 'a 401 must not be retried for minutes');
    assert.equal(requestsFor('auth fails').length, 1, '401 is not retried');
    const denied = (await output(out.runId)).records.find((r) => r.label === 'denied');
    assert.equal(denied?.status, 'failed');
    assert.match(denied?.error ?? '', /401/);
  });

  test('S203 S306 stopping one agent mid-run makes its agent() give null', async () => {
    const id = uniqueName('stop-agent');
    const pending = runWeft(
      ['run', path.join(FIXTURES, 'api-stop-agent.js'), '--json', '--id', id, '--concurrency', '2'],
      {
        env: weftEnv({ modelUrl: shared.model.url, taskQueue: id }),
      },
    );
    // Wait until the hanging agent is actually running, then stop it by label.
    for (let i = 0; i < 200; i++) {
      const progress = await shared.client.progress(id).catch(() => null);
      if (progress?.agents.find((a) => a.label === 'stuck')?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await shared.client.stopAgent(id, 'stuck', 'test stops it'), 1);
    const res = await pending;
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((res.json as RunJson).result, { stuck: null, ok: 'fine' });
    const stuck = (await output(id)).records.find((r) => r.label === 'stuck');
    assert.equal(stuck?.status, 'skipped');
    assert.equal(stuck?.error, 'test stops it');
  });

  test('S104 Date.now, Math.random and new Date() throw with why and what; new Date(x) works; no Node APIs', async () => {
    const { code, out, stderr } = await run('api-determinism.js');
    assert.equal(code, 0, stderr);
    const r = out.result as Record<string, { error?: string } | string | number>;
    for (const key of ['now', 'random', 'newDate', 'callDate']) {
      const error = (r[key] as { error?: string }).error ?? '';
      assert.match(error, /not available in workflow scripts/, key);
      assert.match(error, /resume replays/, key);
      assert.match(error, /args/, key);
    }
    assert.equal(r.fixed, '1970-01-01T00:00:00.000Z');
    assert.equal(r.parsed, Date.parse('2020-01-01T00:00:00Z'));
    assert.equal(r.floor, 2);
    assert.equal(r.noProcess, 'undefined');
    assert.equal(r.noRequire, 'undefined');
  });

  test('S205 S207 parallel: input order, a throwing thunk gives null, promises and >4096 items are refused', async () => {
    const { code, out, stderr } = await run('api-parallel.js', ['--concurrency', '4']);
    assert.equal(code, 0, stderr);
    const r = out.result as Record<string, unknown>;
    assert.deepEqual(r.results, ['one', null, 'three', 'plain value']);
    assert.match(String(r.promises), /takes functions, not promises/);
    assert.match(String(r.tooMany), /at most 4096 items, got 4097/);
    assert.match(String(r.pipelineTooMany), /at most 4096 items, got 4097/);
  });

  test('S206 pipeline: no barrier between stages, (prev, item, index), a throwing stage drops the item', async () => {
    const { code, out, stderr } = await run('api-pipeline.js', ['--concurrency', '4']);
    assert.equal(code, 0, stderr);
    const r = out.result as unknown as Array<Record<string, unknown> | null>;
    assert.equal(r.length, 3);
    assert.deepEqual(r[1], {
      prev: { text: 's1-fast', original: 'fast', index: 1 },
      text: 's2-fast',
      item: 'fast',
      index: 1,
    });
    assert.equal(r[2], null, 'the throwing stage drops its item');
    assert.equal((r[0] as { text?: string }).text, 's2-slow');
    assert.equal(requestsFor('stage2 bad').length, 0, 'later stages of a dropped item never run');
    const records = (await output(out.runId)).records;
    const fastStage2 = records.find((a) => a.label === 's2:fast');
    const slowStage1 = records.find((a) => a.label === 's1:slow');
    assert.ok(fastStage2?.endedAt && slowStage1?.endedAt);
    assert.ok(
      fastStage2.endedAt < slowStage1.endedAt,
      'fast item finished stage 2 while slow was still in stage 1',
    );
  });

  test('S208 S209 S210 phases match meta, unlisted titles get a group, log lines, args verbatim, budget without target', async () => {
    const { code, out, stderr } = await run('api-phase-log-args.js', ['--args', '["a", {"b": 2}]']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(out.result, {
      argsType: 'array',
      args: ['a', { b: 2 }],
      budget: { total: null, spent: out.usage.outputTokens, remaining: 'Infinity' },
    });
    const o = await output(out.runId);
    assert.deepEqual(
      o.records.map((a) => [a.label, a.phase]),
      [
        ['a-known', 'Known'],
        ['a-unlisted', 'Unlisted'],
        ['a-explicit', 'Known'],
      ],
    );
    assert.deepEqual(
      o.logs.map((l) => l.message),
      ['narrator line', 'second line'],
    );
    const none = await run('api-phase-log-args.js');
    assert.equal((none.out.result as { argsType: string }).argsType, 'undefined');
  });

  test('S210 budget: spent() counts output tokens, remaining() = total - spent, agent() throws once spent >= total', async () => {
    const { code, out, stderr } = await run('api-budget.js', ['--budget', '100']);
    assert.equal(code, 0, stderr);
    const r = out.result as {
      total: number;
      seen: Array<{ spent: number; remaining: number }>;
      error: string;
    };
    assert.equal(r.total, 100);
    // The third agent is admitted with the 20 tokens left and the model stops there (max_tokens),
    // so the budget is met exactly and never overshot.
    assert.deepEqual(r.seen, [
      { spent: 40, remaining: 60 },
      { spent: 80, remaining: 20 },
      { spent: 100, remaining: 0 },
    ]);
    assert.match(r.error, /^BudgetExceededError: token budget spent: 100 of 100/);
    assert.equal(requestsFor('step 2')[0]?.maxTokens, 20);
    assert.equal(requestsFor('step 3').length, 0);
  });

  test('S211 workflow() runs a saved workflow by name and a scriptPath inline; errors throw; nesting is one level', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'weft-nested-'));
    mkdirSync(path.join(cwd, '.weft', 'workflows'), { recursive: true });
    copyFileSync(
      path.join(FIXTURES, 'child', 'child-a.js'),
      path.join(cwd, '.weft', 'workflows', 'saved-child.js'),
    );
    const { code, out, stderr } = await run(
      path.join(FIXTURES, 'api-nested.js'),
      ['--cwd', cwd, '--budget', '1000'],
      ROOT,
    );
    assert.equal(code, 0, stderr);
    const r = out.result as {
      byPath: { text: string; args: unknown };
      byName: { text: string; args: unknown };
      errors: Record<string, string>;
      spent: number;
    };
    assert.deepEqual(r.byPath, { text: 'from child', args: { topic: 'path' } });
    assert.deepEqual(r.byName, { text: 'from child', args: ['x', 'y'] });
    assert.match(r.errors.unknown ?? '', /unknown workflow "no-such-workflow"/);
    assert.match(r.errors.missing ?? '', /cannot read/);
    assert.match(r.errors.broken ?? '', /broken\.js:2:\d+: syntax error/);
    assert.match(r.errors.nested ?? '', /one level only/);
    assert.equal(r.spent, 14, 'the child shares the parent budget');
    const records = (await output(out.runId)).records;
    assert.deepEqual(
      records.map((a) => [a.group, a.phase]),
      [
        ['child-a', 'Child work'],
        ['child-a', 'Child work'],
      ],
    );
  });

  test('S212 at most --concurrency agents run at once and the excess queues', async () => {
    const { code, out, stderr } = await run('api-concurrency.js', ['--concurrency', '2']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(out.result, ['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    const spans = (await output(out.runId)).records.map((a) => [a.startedAt ?? 0, a.endedAt ?? 0] as const);
    const most = Math.max(...spans.map(([s]) => spans.filter(([s2, e2]) => s2 <= s && s < e2).length));
    assert.equal(most, 2);
  });

  test('S212 the 1001st agent() throws', async () => {
    const { code, out, stderr } = await run('api-agent-limit.js', ['--dry-run', '--concurrency', '16']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(out.result, {
      completed: 1000,
      error: 'LimitError: agent limit reached: a run may start at most 1000 agents',
    });
    assert.equal(out.agents, 1000);
  });

  test('S102 seed 003 skeleton runs unchanged with a string arg and returns its documented shape', async () => {
    const { code, out, stderr } = await run(path.join(ROOT, 'examples', 'skeleton.js'), [
      '--args',
      '"audit the payment module"',
      '--concurrency',
      '4',
    ]);
    assert.equal(code, 0, stderr);
    const r = out.result as { input: string; summary: string; stats: { items: number; completed: number } };
    assert.equal(r.input, 'audit the payment module');
    assert.equal(typeof r.summary, 'string');
    assert.equal(r.stats.completed, r.stats.items);
    assert.equal(out.agents, r.stats.items + 2);
  });

  test('S102 seed 004 audit-and-verify runs unchanged in its export default form', async () => {
    const { code, out, stderr } = await run(path.join(ROOT, 'examples', 'audit-and-verify.js'), [
      '--concurrency',
      '4',
    ]);
    assert.equal(code, 0, stderr);
    assert.ok(Array.isArray(out.result));
    for (const v of out.result as unknown as Array<{ isReal: boolean; reason: string }>) {
      assert.equal(v.isReal, true);
      assert.equal(typeof v.reason, 'string');
    }
    const records = (await output(out.runId)).records;
    assert.deepEqual(
      records
        .filter((a) => a.phase === 'Review')
        .map((a) => a.label)
        .sort(),
      ['data-integrity', 'performance', 'security'],
    );
  });

  test('S102 an uncaught script error fails the run: exit 1, status failed, the error says why', async () => {
    const { code, out } = await run('api-run-failure.js');
    assert.equal(code, 1);
    assert.equal(out.status, 'failed');
    assert.equal(out.agents, 1);
    assert.match((out as unknown as { error: string }).error, /script gave up/);
  });
});

describe('host names are absent at run time, not refused', () => {
  test('S103 a capability canary runs: typeof require, process, fs … are undefined, require() throws a catchable ScriptError, globalThis reaches none', async () => {
    const { code, out, stderr } = await run('api-host-names.js');
    assert.equal(code, 0, stderr);
    const r = out.result as {
      scope: Record<string, string>;
      canary: { available: boolean };
      onGlobals: string[];
      after: string;
    } & Record<string, { name?: string; message?: string }>;
    assert.equal(Object.keys(r.scope).length, 11);
    for (const [name, kind] of Object.entries(r.scope)) assert.equal(kind, 'undefined', name);
    assert.equal(r.canary.available, false);
    assert.deepEqual(
      r.onGlobals,
      [],
      'no host name on globalThis, Function("return this")() or indirect eval',
    );
    for (const [key, name] of [
      ['require', 'require'],
      ['globalRequire', 'require'],
      ['processEnv', 'process'],
      ['fetch', 'fetch'],
    ] as const) {
      assert.equal(r[key]?.name, 'ScriptError', key);
      assert.match(r[key]?.message ?? '', new RegExp(`^${name} is not defined in workflow scripts: `), key);
      assert.match(r[key]?.message ?? '', /replayed on every resume/, key);
      assert.match(r[key]?.message ?? '', /have an agent\(\) do it, or pass the data in through args/, key);
    }
    assert.equal(typeof r.after, 'string', 'the run goes on after the probes');
    assert.equal(out.agents, 1);
  });

  test('S103 S105 a top-level require(): weft validate warns with file:line:col and exits 0; the run starts and fails with ScriptError', async () => {
    const file = path.join(FIXTURES, 'warn-top-level-require.js');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: uniqueName('warn') });
    const validated = await runWeft(['validate', file, '--json'], { env });
    assert.equal(validated.code, 0, validated.stderr);
    const lines = validated.stderr.trim().split('\n');
    assert.equal(lines.length, 1, validated.stderr);
    assert.match(
      lines[0] ?? '',
      /warn-top-level-require\.js:7:12: warning: require\(\) at top level always throws/,
    );
    const json = validated.json as { ok: boolean; warnings: { line: number; column: number }[] };
    assert.equal(json.ok, true);
    assert.deepEqual(
      json.warnings.map((w) => [w.line, w.column]),
      [[7, 12]],
    );

    const { code, out } = await run('warn-top-level-require.js');
    assert.equal(code, 1);
    assert.equal(out.status, 'failed');
    assert.match((out as unknown as { error: string }).error, /require is not defined in workflow scripts/);
    const description = await shared.client.temporal.workflow.getHandle(out.runId).describe();
    assert.equal(description.status.name, 'FAILED');
  });
});

describe('agent() options from other runtimes', () => {
  test('S201 effort and thinking reach the agent activity; unknown options are ignored with one log line each per run', async () => {
    const { code, out, stderr } = await run('api-agent-options.js');
    assert.equal(code, 0, stderr);
    assert.equal(out.agents, 3);
    for (const key of ['tuned', 'again', 'budgeted']) assert.equal(typeof out.result[key], 'string', key);
    const ignored = (await output(out.runId)).logs
      .map((l) => l.message)
      .filter((m) => m.startsWith('agent() ignores option'));
    assert.deepEqual(
      ignored.map((m) => m.replace(/^agent\(\) ignores option (.*?): weft does not.*$/, '$1')),
      ['color', 'retries', 'effort = "turbo"'],
    );
    // What the workflow asked of each agent activity, as the history recorded it.
    const history = await shared.client.temporal.workflow.getHandle(out.runId).fetchHistory();
    const requests = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a?.activityType?.name === 'runAgent')
      .map(
        (a) =>
          JSON.parse(Buffer.from(a?.input?.payloads?.[0]?.data ?? []).toString()) as Record<string, unknown>,
      );
    const byLabel = new Map(requests.map((r) => [r.label, r]));
    assert.equal(byLabel.get('tuned')?.effort, 'high');
    assert.deepEqual(byLabel.get('tuned')?.thinking, { type: 'adaptive' });
    assert.equal('effort' in (byLabel.get('again') ?? {}), false, 'an effort weft cannot honour is dropped');
    assert.deepEqual(
      byLabel.get('again')?.thinking,
      { type: 'enabled', budget_tokens: 4096 },
      'a number is a budget',
    );
    assert.deepEqual(byLabel.get('budgeted')?.thinking, { type: 'enabled', budget_tokens: 2048 });
    for (const request of requests) assert.equal('color' in request, false);
  });
});

describe('agents cannot start workflows', () => {
  test('S402 weft run inside an agent (WEFT_AGENT=1, as its Bash tool sets) is refused before anything starts', async () => {
    const id = uniqueName('inside-agent');
    const res = await runWeft(['run', path.join(FIXTURES, 'api-text.js'), '--id', id], {
      env: weftEnv({ modelUrl: shared.model.url, taskQueue: id, extra: { WEFT_AGENT: '1' } }),
    });
    assert.equal(res.code, 2);
    assert.match(res.stderr.trim(), /^weft: agents cannot start workflows/);
    await assert.rejects(shared.client.temporal.workflow.getHandle(id).describe(), /not found/i);
  });
});
