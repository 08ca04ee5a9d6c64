import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type { AgentCheckpoint } from '../../src/activities/agent/checkpoint';
import { fitCheckpoint, readCheckpoint } from '../../src/activities/agent/checkpoint';
import type { AgentLoopDeps } from '../../src/activities/agent/run-agent';
import { runAgentLoop } from '../../src/activities/agent/run-agent';
import { costOf } from '../../src/activities/pricing';
import { ALL_TOOLS } from '../../src/activities/tools/registry';
import type { MockModel } from '../../src/mock-model/server';
import { startMockModel } from '../../src/mock-model/server';
import type { AgentRequest, JsonSchema } from '../../src/types';

let mock: MockModel;
let client: Anthropic;

before(async () => {
  mock = await startMockModel();
  client = new Anthropic({ apiKey: 'test', baseURL: mock.url, maxRetries: 0 });
});
const dirs: string[] = [];
after(async () => {
  await mock.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempCwd(): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'weft-loop-')));
  dirs.push(dir);
  return dir;
}
beforeEach(() => mock.reset());

function request(prompt: string, extra: Partial<AgentRequest> = {}): AgentRequest {
  return {
    runId: 'run',
    index: 0,
    label: 'tester',
    phase: null,
    prompt,
    schema: null,
    model: null,
    agentType: null,
    isolation: null,
    cwd: tempCwd(),
    maxSchemaAttempts: 5,
    maxTurns: 20,
    maxOutputTokens: null,
    cacheKey: 'k',
    occurrence: 1,
    dryRun: false,
    ...extra,
  };
}

interface Harness {
  deps: AgentLoopDeps;
  checkpoints: AgentCheckpoint[];
  sleeps: number[];
  controller: AbortController;
}

function harness(req: AgentRequest, extra: Partial<AgentLoopDeps> = {}): Harness {
  const checkpoints: AgentCheckpoint[] = [];
  const sleeps: number[] = [];
  const controller = new AbortController();
  return {
    checkpoints,
    sleeps,
    controller,
    deps: {
      client,
      model: 'claude-sonnet-4-6',
      heartbeat: (d) => {
        if (d) checkpoints.push(structuredClone(d));
      },
      signal: controller.signal,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      tools: ALL_TOOLS,
      cwd: req.cwd,
      ...extra,
    },
  };
}

const SCHEMA: JsonSchema = {
  type: 'object',
  properties: { files: { type: 'integer' }, summary: { type: 'string' } },
  required: ['files', 'summary'],
  additionalProperties: false,
};

function tool(name: string, input: unknown): string {
  return `[[mock:tool ${name} ${JSON.stringify(input)}]]`;
}

void describe('agent loop on the mock model', () => {
  void test('S401 S406 tools run between turns until end_turn; usage, cost and turns are counted', async () => {
    const req = request(
      `write then read ${tool('Write', { file_path: 'notes/a.txt', content: 'hello' })} ${tool('Read', { file_path: 'notes/a.txt' })} [[mock:reply done]] [[mock:tokens 7]]`,
    );
    const h = harness(req);
    const result = await runAgentLoop(req, h.deps);
    assert.equal(result.output, 'done');
    assert.equal(result.turns, 3);
    assert.equal(result.modelCalls, 3);
    assert.equal(result.usage.outputTokens, 21);
    assert.ok(result.usage.inputTokens > 0);
    assert.ok(Math.abs(result.costUsd - (costOf('claude-sonnet-4-6', result.usage) ?? NaN)) < 1e-12);
    assert.equal(readFileSync(path.join(req.cwd, 'notes/a.txt'), 'utf8'), 'hello');
    const [, afterWrite, afterRead] = mock.requests;
    assert.match(afterWrite?.toolResults[0]?.content ?? '', /Created .*a\.txt/);
    assert.equal(afterRead?.toolResults[0]?.content, '     1\thello');
    assert.deepEqual(mock.requests[0]?.tools, [
      'Read',
      'Write',
      'Edit',
      'Glob',
      'Grep',
      'Bash',
      'WebFetch',
      'web_search',
    ]);
    assert.ok(
      mock.requests.every((r) => r.stream),
      'S401 every model call streams',
    );
  });

  void test('S402 the system prompt: the type prompt first, then no one answers, the final message is data', async () => {
    const req = request('hi [[mock:reply ok]]');
    await runAgentLoop(req, harness(req, { instructions: 'You are a careful reviewer.' }).deps);
    const system = mock.requests[0]?.system ?? '';
    assert.match(system, /^You are a careful reviewer\.\n\n/);
    assert.match(system, /no one will\s+answer questions/);
    assert.match(system, /final message is data returned to the script/);
    assert.match(system, /cannot start workflows/);
    assert.ok(system.includes(`Your working directory is ${req.cwd}`));
  });

  void test('S202 S401 a tool turn, then invalid StructuredOutput twice, then valid gives the object', async () => {
    const req = request(`count files ${tool('Glob', { pattern: '*' })} [[mock:invalid 2]]`, {
      schema: SCHEMA,
    });
    const result = await runAgentLoop(req, harness(req).deps);
    const output = result.output as { files: number; summary: string };
    assert.equal(typeof output.files, 'number');
    assert.equal(result.schemaAttempts, 3);
    assert.equal(mock.requests.length, 4);
    assert.match(mock.requests[2]?.toolResults[0]?.content ?? '', /does not match the schema/);
    assert.equal(mock.requests[2]?.toolResults[0]?.is_error, true);
  });

  void test('S202 never valid throws AgentOutputError with the last validation failure and the tokens spent', async () => {
    const req = request(`never ${tool('Bash', { command: 'true' })} [[mock:invalid always]]`, {
      schema: SCHEMA,
      maxSchemaAttempts: 3,
    });
    await assert.rejects(
      runAgentLoop(req, harness(req).deps),
      (err: Error & { usage?: { outputTokens: number } }) => {
        assert.equal(err.name, 'AgentOutputError');
        assert.match(err.message, /after 3 attempts: .*(files|summary|must)/);
        assert.ok((err.usage?.outputTokens ?? 0) > 0);
        return true;
      },
    );
    assert.equal(mock.requests.length, 4);
  });

  void test('S404 prose first is told to call StructuredOutput', async () => {
    const req = request('prose [[mock:prose 1]]', { schema: SCHEMA });
    const result = await runAgentLoop(req, harness(req).deps);
    assert.equal(typeof (result.output as { summary: string }).summary, 'string');
    assert.equal(mock.requests.length, 2);
    assert.equal(result.schemaAttempts, 2);
  });

  void test('S401 max turns: a looping agent fails; a schema agent is made to answer on its last turn', async () => {
    const loop = request(`loop ${tool('Bash', { command: 'true' })} ${tool('Bash', { command: 'true' })}`, {
      maxTurns: 2,
    });
    await assert.rejects(runAgentLoop(loop, harness(loop).deps), /did not finish within 2 turns/);
    mock.reset();
    const answer = request(`answer ${tool('Bash', { command: 'true' })} [[mock:prose always]]`, {
      schema: SCHEMA,
      maxTurns: 2,
    });
    const result = await runAgentLoop(answer, harness(answer).deps);
    assert.equal(typeof (result.output as { files: number }).files, 'number');
    assert.deepEqual(mock.requests[1]?.toolChoice, { type: 'tool', name: 'StructuredOutput' });
  });

  void test('S210 the output-token allowance caps every call; a spent allowance stops the agent', async () => {
    const req = request(
      `spend ${tool('Bash', { command: 'echo ran >> ran.txt' })} ${tool('Bash', { command: 'echo ran >> ran.txt' })} [[mock:tokens 50]]`,
      { maxOutputTokens: 60 },
    );
    // The second call may write 10 tokens: the mock, like a real model, stops there in the middle
    // of the tool call's JSON, and a cut tool call is never run (S801).
    await assert.rejects(
      runAgentLoop(req, harness(req).deps),
      (err: Error & { usage?: { outputTokens: number } }) => {
        assert.equal(err.name, 'BudgetExceededError');
        assert.equal(err.usage?.outputTokens, 60);
        return true;
      },
    );
    assert.equal(mock.requests[1]?.stopReason, 'max_tokens');
    assert.deepEqual(
      mock.requests.map((r) => r.maxTokens),
      [60, 10],
    );
    assert.equal(readFileSync(path.join(req.cwd, 'ran.txt'), 'utf8'), 'ran\n', 'the cut turn ran no tool');
    mock.reset();
    const exact = request(`exact ${tool('Bash', { command: 'true' })} [[mock:tokens 60]]`, {
      maxOutputTokens: 60,
    });
    await assert.rejects(runAgentLoop(exact, harness(exact).deps), (err: Error) => {
      assert.equal(err.name, 'BudgetExceededError');
      assert.match(err.message, /used up its share of the run's token budget \(60 output tokens\)/);
      return true;
    });
    assert.equal(mock.requests.length, 1, 'no call is made with nothing left to spend');
  });

  void test('S210 a text answer cut by the allowance stands as far as it got', async () => {
    const req = request('talk [[mock:reply a long answer that will be cut]] [[mock:tokens 50]]', {
      maxOutputTokens: 5,
    });
    const result = await runAgentLoop(req, harness(req).deps);
    assert.equal(typeof result.output, 'string');
    assert.equal(result.usage.outputTokens, 5);
    assert.equal(mock.requests[0]?.maxTokens, 5);
  });
});

void describe('model errors: one retry owner', () => {
  void test('S404 429 twice then success: three requests, waits honour retry-after', async () => {
    const req = request('flaky [[mock:error 429 2 retry-after=0.25]] [[mock:reply fine]]');
    const h = harness(req);
    const result = await runAgentLoop(req, h.deps);
    assert.equal(result.output, 'fine');
    assert.equal(mock.requests.length, 3);
    assert.deepEqual(h.sleeps, [250, 250]);
    assert.equal(result.modelCalls, 3);
  });

  void test('S404 529 and 5xx back off exponentially and give up non-retryably', async () => {
    const req = request('down [[mock:error 529 always]]');
    const h = harness(req, { maxModelRetries: 3, retryBaseMs: 100 });
    await assert.rejects(
      runAgentLoop(req, h.deps),
      (err: Error & { retryable?: boolean; status?: number }) => {
        assert.equal(err.name, 'AgentError');
        assert.equal(err.retryable, false, 'Temporal must not retry what the loop already retried');
        assert.equal(err.status, 529);
        assert.match(err.message, /529.*gave up after 4 attempts/);
        return true;
      },
    );
    assert.equal(mock.requests.length, 4);
    assert.equal(h.sleeps.length, 3);
    h.sleeps.forEach((ms, i) => assert.ok(ms >= 50 * 2 ** i && ms <= 100 * 2 ** i, `sleep ${i}: ${ms}`));
  });

  for (const status of [400, 401, 403, 404, 422]) {
    void test(`S404 ${status} is not retried`, async () => {
      const req = request(`bad [[mock:error ${status} always]]`);
      await assert.rejects(
        runAgentLoop(req, harness(req).deps),
        (err: Error & { retryable?: boolean; status?: number }) => {
          assert.equal(err.status, status);
          assert.equal(err.retryable, false);
          return true;
        },
      );
      assert.equal(mock.requests.length, 1);
    });
  }

  void test('S404 an unreachable model API is retried as a connection error', async () => {
    const dead = new Anthropic({ apiKey: 'test', baseURL: 'http://127.0.0.1:1', maxRetries: 0 });
    const req = request('nobody home');
    const h = harness(req, { client: dead, maxModelRetries: 2, retryBaseMs: 1 });
    await assert.rejects(runAgentLoop(req, h.deps), /unreachable.*gave up after 3 attempts/);
    assert.equal(h.sleeps.length, 2);
  });
});

void describe('checkpoints', () => {
  void test('S405 a retried agent continues from its last checkpoint instead of starting over', async () => {
    const steps = [1, 2, 3, 4, 5].map((n) => tool('Bash', { command: `echo step${n} >> log.txt` })).join(' ');
    const req = request(`five steps ${steps} [[mock:reply all done]]`);
    const first = harness(req);
    // Stop the first attempt as a dead worker would: right after the 3rd tool result was saved.
    first.deps.heartbeat = (d) => {
      if (!d) return;
      first.checkpoints.push(structuredClone(d));
      if (d.turns === 3 && d.messages?.at(-1)?.role === 'user')
        first.controller.abort(new Error('worker died'));
    };
    await assert.rejects(runAgentLoop(req, first.deps), /aborted|worker died/i);
    const saved = readCheckpoint(first.checkpoints.at(-1));
    assert.ok(saved);
    assert.equal(saved.turns, 3);
    const before = mock.requests.length;
    assert.equal(before, 3);

    const second = harness(req, { resume: saved });
    const result = await runAgentLoop(req, second.deps);
    assert.equal(result.output, 'all done');
    assert.equal(result.turns, 6);
    assert.equal(result.resumedTurns, 3);
    // A restart from scratch would have asked the model 6 more times; the resumed agent asked 3.
    assert.equal(mock.requests.length - before, 3);
    assert.equal(mock.requests[before]?.turn, 3);
    assert.equal(
      result.usage.outputTokens,
      [...mock.requests].reduce((s, r) => s + (r.usage?.output_tokens ?? 0), 0),
    );
    assert.equal(readFileSync(path.join(req.cwd, 'log.txt'), 'utf8'), 'step1\nstep2\nstep3\nstep4\nstep5\n');
  });

  void test('S405 a tool call in flight when the worker died runs again on resume', async () => {
    const req = request(`${tool('Bash', { command: 'echo ran >> ran.txt' })} [[mock:reply ok]]`);
    const first = harness(req);
    first.deps.heartbeat = (d) => {
      if (!d) return;
      first.checkpoints.push(structuredClone(d));
      // The model asked for the tool; the worker dies before the result is saved.
      if (d.messages?.at(-1)?.role === 'assistant') first.controller.abort(new Error('worker died'));
    };
    await assert.rejects(runAgentLoop(req, first.deps));
    const saved = readCheckpoint(first.checkpoints.at(-1));
    assert.equal(saved?.messages?.at(-1)?.role, 'assistant');
    const result = await runAgentLoop(req, harness(req, { resume: saved }).deps);
    assert.equal(result.output, 'ok');
    assert.equal(mock.requests.length, 2, 'the model is not asked again for the pending turn');
    assert.match(readFileSync(path.join(req.cwd, 'ran.txt'), 'utf8'), /^(ran\n){1,2}$/);
  });

  void test('S405 a conversation past the size limit is left out; the retry starts over but keeps the tokens spent', async () => {
    const big = fitCheckpoint(
      {
        v: 1,
        startedAt: 1,
        model: 'm',
        turns: 4,
        modelCalls: 5,
        usage: { inputTokens: 10, outputTokens: 20 },
        costUsd: 0.5,
        schemaAttempts: 0,
        lastIssues: [],
        messages: [{ role: 'user', content: 'x'.repeat(2000) }],
        worktree: null,
      },
      1000,
    );
    assert.equal(big.messages, null);
    const req = request('again [[mock:reply fresh]] [[mock:tokens 3]]');
    const result = await runAgentLoop(req, harness(req, { model: 'm', resume: big }).deps);
    assert.equal(result.output, 'fresh');
    assert.equal(result.turns, 1);
    assert.equal(result.usage.outputTokens, 23);
    assert.equal(result.modelCalls, 6);
    assert.equal(readCheckpoint({ v: 2 }), null);
    assert.equal(readCheckpoint(undefined), null);
  });
});
