/**
 * The agent loop against a mock that answers as the real Messages API does: every stop reason,
 * multi-block turns, thinking, request validation, the API's retry signals, cache usage and
 * context limits (S801-S805). The real @anthropic-ai/sdk talks to the mock over HTTP.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type { AgentLoopDeps } from '../../src/activities/agent/run-agent';
import { MAX_CUT_ANSWERS, runAgentLoop } from '../../src/activities/agent/run-agent';
import { resolveModelAlias } from '../../src/activities/model-info';
import { costOf, priceFor } from '../../src/activities/pricing';
import { ALL_TOOLS } from '../../src/activities/tools/registry';
import type { MockModel } from '../../src/mock-model/server';
import { SPEND_LIMIT_MESSAGE, startMockModel } from '../../src/mock-model/server';
import type { AgentRequest, JsonSchema } from '../../src/types';

let mock: MockModel;
let client: Anthropic;
const dirs: string[] = [];

before(async () => {
  mock = await startMockModel();
  client = new Anthropic({ apiKey: 'test', baseURL: mock.url, maxRetries: 0 });
});
after(async () => {
  await mock.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => mock.reset());

function tempCwd(): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'weft-real-api-')));
  dirs.push(dir);
  return dir;
}

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

function deps(req: AgentRequest, extra: Partial<AgentLoopDeps> = {}): AgentLoopDeps & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    client,
    model: 'claude-sonnet-4-6',
    heartbeat: () => {},
    signal: new AbortController().signal,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    tools: ALL_TOOLS,
    cwd: req.cwd,
    sleeps,
    ...extra,
  };
}

function turn(value: unknown): string {
  return `[[mock:turn ${JSON.stringify(value)}]]`;
}
function tool(name: string, input: unknown): string {
  return `[[mock:tool ${name} ${JSON.stringify(input)}]]`;
}

const ITEMS: JsonSchema = {
  type: 'object',
  properties: { items: { type: 'array', items: { type: 'string' } } },
  required: ['items'],
  additionalProperties: false,
};

void describe('S801 every stop reason', () => {
  void test('S801 pause_turn: the paused server-tool turn is sent back as it is and the model goes on', async () => {
    const paused = turn({
      content: [
        { type: 'text', text: 'Searching.' },
        { type: 'server_tool_use', name: 'web_search', input: { query: 'weft temporal' } },
        {
          type: 'web_search_tool_result',
          tool_use_id: 'srvtoolu_fixed',
          caller: { type: 'direct' },
          content: [
            {
              type: 'web_search_result',
              url: 'https://example.com',
              title: 'Example',
              encrypted_content: 'e',
              page_age: null,
            },
          ],
        },
      ],
      stop_reason: 'pause_turn',
      usage: { server_tool_use: { web_search_requests: 1, web_fetch_requests: 0 } },
    });
    const req = request(`look it up ${paused} [[mock:reply found it]]`);
    const result = await runAgentLoop(req, deps(req));
    assert.equal(result.output, 'found it');
    assert.equal(mock.requests.length, 2);
    assert.equal(mock.requests[0]?.stopReason, 'pause_turn');
    assert.equal(
      mock.requests[1]?.lastRole,
      'assistant',
      'the paused turn is continued, no user message added',
    );
    assert.equal(mock.requests[1]?.status, 200, 'the API accepted the continued turn');
    assert.equal(result.usage.webSearchRequests, 1);
  });

  void test('S801 refusal is an agent error with its stop_details, never an empty success', async () => {
    const refused = turn({
      content: [],
      stop_reason: 'refusal',
      stop_details: { type: 'refusal', category: 'cyber', explanation: 'The request could enable malware.' },
    });
    const req = request(`write malware ${refused}`);
    await assert.rejects(runAgentLoop(req, deps(req)), (err: Error & { retryable?: boolean }) => {
      assert.equal(err.name, 'AgentError');
      assert.match(err.message, /refused the request \(cyber\): The request could enable malware\./);
      assert.equal(err.retryable, false);
      return true;
    });
    assert.equal(mock.requests.length, 1, 'the empty refused turn is never sent back');
  });

  void test('S801 max_tokens on a text answer continues it; the parts are joined', async () => {
    const cut = turn({ content: [{ type: 'text', text: 'The first half, ' }], stop_reason: 'max_tokens' });
    const req = request(`explain ${cut} [[mock:reply and the second half.]]`);
    const result = await runAgentLoop(req, deps(req));
    assert.equal(result.output, 'The first half, and the second half.');
    assert.equal(mock.requests.length, 2);
    assert.ok(mock.requests.every((r) => r.status === 200));
  });

  void test('S801 max_tokens with only a thinking block never gives "" as the answer', async () => {
    const cut = turn({
      content: [{ type: 'thinking', thinking: 'Long thoughts' }],
      stop_reason: 'max_tokens',
    });
    const req = request(`ponder ${cut} [[mock:reply the answer]]`);
    const result = await runAgentLoop(req, deps(req));
    assert.equal(result.output, 'the answer');
    assert.equal(mock.requests[1]?.status, 200);
  });

  void test('S801 a tool call cut by max_tokens never runs with its partial input', async () => {
    const cut = turn({
      content: [
        { type: 'text', text: 'Writing the file.' },
        { type: 'tool_use', name: 'Write', input: { file_path: 'out.txt', content: 'complete content' } },
      ],
      stop_reason: 'max_tokens',
    });
    const req = request(`write ${cut} [[mock:reply done]]`);
    const result = await runAgentLoop(req, deps(req));
    assert.equal(result.output, 'done');
    assert.equal(existsSync(path.join(req.cwd, 'out.txt')), false, 'the cut Write never ran');
    assert.equal(mock.requests[1]?.status, 200, 'the request after the cut is one the API accepts');
    assert.equal(mock.requests[1]?.toolResults.length, 0);
  });

  void test('S801 a StructuredOutput cut after a complete array item is not accepted with data missing', async () => {
    const cut = turn({
      content: [{ type: 'tool_use', name: 'StructuredOutput', input: { items: ['alpha', 'beta', 'gamma'] } }],
      stop_reason: 'max_tokens',
    });
    const req = request(`list ${cut} [[mock:json {"items": ["alpha", "beta", "gamma", "delta"]}]]`, {
      schema: ITEMS,
    });
    const result = await runAgentLoop(req, deps(req));
    assert.deepEqual(result.output, { items: ['alpha', 'beta', 'gamma', 'delta'] });
    assert.equal(mock.requests.length, 2);
  });

  void test('S801 answers cut again and again fail clearly instead of looping', async () => {
    const cut = turn({
      content: [
        { type: 'tool_use', name: 'Write', input: { file_path: 'big.txt', content: 'x'.repeat(400) } },
      ],
      stop_reason: 'max_tokens',
    });
    const req = request(`write ${cut.repeat(MAX_CUT_ANSWERS + 1)} [[mock:reply never]]`);
    await assert.rejects(runAgentLoop(req, deps(req)), (err: Error) => {
      assert.equal(err.name, 'AgentError');
      assert.match(err.message, new RegExp(`cut off \\(max_tokens\\) ${MAX_CUT_ANSWERS + 1} times`));
      return true;
    });
    assert.equal(existsSync(path.join(req.cwd, 'big.txt')), false);
    assert.ok(mock.requests.every((r) => r.stopReason === 'max_tokens'));
  });

  void test("S801 each call's max_tokens is the model's own output limit from the Models API", async () => {
    const req = request('hi [[mock:reply ok]]');
    await runAgentLoop(req, deps(req));
    await runAgentLoop(req, deps(req, { model: 'claude-opus-4-7' }));
    assert.deepEqual(
      mock.requests.map((r) => r.maxTokens),
      [64_000, 128_000],
    );
  });

  void test('S801 text plus parallel tool_use in one turn: every call runs, results in order', async () => {
    writeFileSync(path.join(tempCwd(), 'unused'), '');
    const wide = turn({
      content: [
        { type: 'text', text: 'Two things at once.' },
        { type: 'tool_use', name: 'Write', input: { file_path: 'a.txt', content: 'A' } },
        { type: 'tool_use', name: 'Write', input: { file_path: 'b.txt', content: 'B' } },
      ],
    });
    const req = request(`parallel ${wide} [[mock:reply both]]`);
    const result = await runAgentLoop(req, deps(req));
    assert.equal(result.output, 'both');
    const results = mock.requests[1]?.toolResults ?? [];
    assert.equal(results.length, 2);
    assert.deepEqual(
      results.map((r) => r.tool_use_id),
      (mock.requests[0]?.content ?? [])
        .filter((b) => b.type === 'tool_use')
        .map((b) => (b as { id: string }).id),
    );
  });
});

void describe('S802 structured output on thinking models', () => {
  void test('S802 a model that always thinks: thinking blocks go back, and the last turn forces no tool', async () => {
    const req = request(`report ${tool('Glob', { pattern: '*' })}`, { schema: ITEMS, maxTurns: 2 });
    const result = await runAgentLoop(req, deps(req, { model: 'claude-fable-5' }));
    assert.ok(Array.isArray((result.output as { items: unknown }).items));
    assert.equal(mock.requests.length, 2);
    assert.ok(
      mock.requests.every((r) => r.status === 200),
      'the API accepted every request',
    );
    assert.equal(mock.requests[1]?.toolChoice, null, 'no forced tool_choice while thinking');
    assert.ok(mock.requests[0]?.content?.[0]?.type === 'thinking');
    assert.deepEqual(mock.requests[0]?.strictTools, ['StructuredOutput'], 'a strict StructuredOutput tool');
  });

  void test('S802 a model that does not think by default is still made to answer on its last turn', async () => {
    const req = request(`report ${tool('Glob', { pattern: '*' })} [[mock:prose always]]`, {
      schema: ITEMS,
      maxTurns: 2,
    });
    const result = await runAgentLoop(req, deps(req));
    assert.ok(Array.isArray((result.output as { items: unknown }).items));
    assert.deepEqual(mock.requests[1]?.toolChoice, { type: 'tool', name: 'StructuredOutput' });
  });

  void test('S802 agent({ thinking, effort }) map onto the API; forced tool_choice is never sent with them', async () => {
    const req = request(`think ${tool('Glob', { pattern: '*' })}`, {
      schema: ITEMS,
      maxTurns: 2,
      thinking: { type: 'adaptive' },
      effort: 'low',
    });
    await runAgentLoop(req, deps(req));
    assert.deepEqual(mock.requests[0]?.thinking, { type: 'adaptive' });
    assert.deepEqual(mock.requests[0]?.outputConfig, { effort: 'low' });
    assert.equal(mock.requests[1]?.toolChoice, null);
    assert.ok(mock.requests.every((r) => r.status === 200));
    mock.reset();
    const budgeted = request('think [[mock:reply ok]]', {
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
    await runAgentLoop(budgeted, deps(budgeted));
    assert.deepEqual(mock.requests[0]?.thinking, { type: 'enabled', budget_tokens: 2048 });
  });

  void test('S802 a schema root without type: "object" is refused before the agent starts', async () => {
    for (const schema of [
      { properties: { a: { type: 'string' } } },
      { type: 'array', items: { type: 'string' } },
    ]) {
      const req = request('anything', { schema: schema as JsonSchema });
      await assert.rejects(runAgentLoop(req, deps(req)), (err: Error) => {
        assert.equal(err.name, 'SchemaError');
        assert.match(err.message, /must have "type": "object" at its root/);
        return true;
      });
    }
    assert.equal(mock.requests.length, 0, 'no model call, no tokens spent');
  });
});

void describe('S804 retries by the API signals', () => {
  void test('S804 x-should-retry decides over the status: false stops a 503, true retries a 400', async () => {
    const stop = request('a [[mock:error 503 always should-retry=false]]');
    await assert.rejects(runAgentLoop(stop, deps(stop)), /model API error 503/);
    assert.equal(mock.requests.length, 1);
    mock.reset();
    const go = request('b [[mock:error 400 1 should-retry=true]] [[mock:reply ok]]');
    const result = await runAgentLoop(go, deps(go));
    assert.equal(result.output, 'ok');
    assert.equal(mock.requests.length, 2);
  });

  void test('S804 a spend-limit 429 is terminal at once, with a clear message', async () => {
    const req = request('spend [[mock:spend-limit]]');
    const d = deps(req);
    await assert.rejects(runAgentLoop(req, d), (err: Error & { retryable?: boolean; status?: number }) => {
      assert.match(err.message, /spend limit reached \(429, not retried\)/);
      assert.ok(err.message.includes(SPEND_LIMIT_MESSAGE));
      assert.equal(err.retryable, false);
      assert.equal(err.status, 429);
      return true;
    });
    assert.equal(mock.requests.length, 1, 'never retried');
    assert.deepEqual(d.sleeps, [], 'no 600 s sleeps');
  });

  void test('S804 an error event in the middle of the stream is retried', async () => {
    const req = request('flaky [[mock:stream-error overloaded_error 2]] [[mock:reply ok]]');
    const result = await runAgentLoop(req, deps(req));
    assert.equal(result.output, 'ok');
    assert.equal(mock.requests.length, 3);
    assert.equal(result.modelCalls, 3);
  });

  void test('S804 a stalled stream times out on its idle timer and the call is retried', async () => {
    const req = request('stall [[mock:stall 1]] [[mock:reply ok]]');
    const started = Date.now();
    const result = await runAgentLoop(req, deps(req, { streamIdleMs: 300 }));
    assert.equal(result.output, 'ok');
    assert.equal(mock.requests.length, 2);
    assert.equal(mock.requests[0]?.status, 499, 'the stalled request was abandoned by the client');
    assert.ok(Date.now() - started < 5_000);
  });
});

void describe('S805 cost', () => {
  void test('S805 cache writes, cache reads and web searches are counted apart and priced each at its rate', async () => {
    // A system prompt long enough to be cached on Sonnet (2048 tokens at least).
    const instructions = 'Follow the house rules. '.repeat(600);
    const search = turn({
      content: [
        { type: 'text', text: 'Searched.' },
        { type: 'tool_use', name: 'Glob', input: { pattern: '*' } },
      ],
      usage: { server_tool_use: { web_search_requests: 3, web_fetch_requests: 0 } },
    });
    const req = request(`cost ${search} [[mock:reply ok]]`);
    const result = await runAgentLoop(req, deps(req, { instructions }));
    const [first, second] = mock.requests;
    assert.ok((first?.usage?.cache_creation_input_tokens ?? 0) > 2048, 'the first turn writes the cache');
    assert.ok((second?.usage?.cache_read_input_tokens ?? 0) > 2048, 'the second turn reads it');
    assert.equal(
      result.usage.cacheWriteTokens,
      mock.requests.reduce((n, r) => n + (r.usage?.cache_creation_input_tokens ?? 0), 0),
    );
    assert.equal(
      result.usage.cacheReadTokens,
      mock.requests.reduce((n, r) => n + (r.usage?.cache_read_input_tokens ?? 0), 0),
    );
    assert.equal(
      result.usage.inputTokens,
      mock.requests.reduce((n, r) => n + (r.usage?.input_tokens ?? 0), 0),
    );
    assert.equal(result.usage.webSearchRequests, 3);
    const price = priceFor('claude-sonnet-4-6');
    assert.ok(price);
    const expected =
      (result.usage.inputTokens * 3 +
        result.usage.outputTokens * 15 +
        (result.usage.cacheWriteTokens ?? 0) * 3.75 +
        (result.usage.cacheReadTokens ?? 0) * 0.3) /
        1e6 +
      0.03;
    assert.ok(Math.abs(result.costUsd - expected) < 1e-9, `${result.costUsd} vs ${expected}`);
    assert.equal(result.costKnown, true);
  });

  void test('S805 every model the SDK lists has a price; an unknown model prices as unknown', () => {
    for (const model of [
      'claude-fable-5',
      'claude-opus-4-8',
      'claude-sonnet-4-5-20250929',
      'claude-haiku-4-5-20251001',
    ]) {
      assert.ok(priceFor(model), model);
    }
    assert.equal(priceFor('claude-haiku-4-5')?.input, 1);
    assert.equal(priceFor('claude-opus-4-7')?.input, 5, 'current Opus is $5, not the old $15');
    assert.equal(priceFor('claude-fable-5')?.output, 50);
    assert.equal(priceFor('gpt-4o'), null);
    assert.equal(costOf('my-local-model', { inputTokens: 10, outputTokens: 10 }), null);
  });

  void test('S805 an agent on an unknown model reports its cost as unknown', async () => {
    const req = request('hi [[mock:reply ok]]');
    const result = await runAgentLoop(req, deps(req, { model: 'local-llama' }));
    assert.equal(result.costKnown, false);
    assert.equal(result.costUsd, 0);
  });
});

void describe('S803 context management', () => {
  void test('S803 with a small context window, a 60-turn agent that reads large files completes', async () => {
    const small = await startMockModel({ contextWindow: 40_000 });
    try {
      const api = new Anthropic({ apiKey: 'test', baseURL: small.url, maxRetries: 0 });
      const cwd = tempCwd();
      // Each read is about 3,000 tokens: 60 of them are four times the window.
      writeFileSync(path.join(cwd, 'big.txt'), `${'a line of a large file\n'.repeat(520)}`);
      const reads = Array.from({ length: 59 }, () => tool('Read', { file_path: 'big.txt' })).join(' ');
      const req = {
        ...request(`read it all ${reads} [[mock:reply read everything]]`, { maxTurns: 80 }),
        cwd,
      };
      const result = await runAgentLoop(req, deps(req, { client: api }));
      assert.equal(result.output, 'read everything');
      assert.equal(result.turns, 60);
      assert.ok(
        small.requests.every((r) => r.status === 200),
        'no request was too long',
      );
      assert.ok(Math.max(...small.requests.map((r) => r.inputTotal ?? 0)) <= 40_000);
      assert.ok((result.compactions ?? []).length > 0);
      assert.ok(result.compactions?.every((c) => c.tokensAfter < c.tokensBefore));
    } finally {
      await small.close();
    }
  });

  void test('S803 a "prompt is too long" 400 triggers one compaction, recorded on the agent, and the agent goes on', async () => {
    const cwd = tempCwd();
    writeFileSync(path.join(cwd, 'big.txt'), `${'x'.repeat(79)}\n`.repeat(300));
    const reads = Array.from({ length: 6 }, () => tool('Read', { file_path: 'big.txt' })).join(' ');
    // The window is known to the mock only, as with a proxy that lists no models.
    const req = { ...request(`read ${reads} [[mock:context 20000]] [[mock:reply done]]`), cwd };
    const result = await runAgentLoop(req, deps(req));
    assert.equal(result.output, 'done');
    assert.ok(mock.requests.some((r) => r.status === 400 && /prompt is too long/.test(r.error ?? '')));
    assert.ok(result.compactions?.some((c) => c.trigger === 'prompt-too-long'));
  });

  void test('S803 when clearing tool results is not enough, the middle is summarised and the task kept', async () => {
    const cwd = tempCwd();
    // Long reasoning before each call stays in the conversation: only a summary makes room.
    const writes = Array.from({ length: 12 }, (_, i) =>
      tool('Write', { file_path: `f${i}.txt`, content: 'y' }),
    ).join(' ');
    const req = {
      ...request(`write ${writes} [[mock:verbose 12000]] [[mock:reply written]]`, { maxTurns: 30 }),
      cwd,
    };
    const small = await startMockModel({ contextWindow: 20_000 });
    const result = await runAgentLoop(
      req,
      deps(req, { client: new Anthropic({ apiKey: 't', baseURL: small.url, maxRetries: 0 }) }),
    ).finally(() => small.close());
    assert.equal(result.output, 'written');
    assert.ok(result.compactions?.some((c) => c.kind === 'summary'));
    const summaryCall = small.requests.find((r) => r.tools.length === 0 && /condense/.test(r.system));
    assert.ok(summaryCall, 'a summary call was made');
    assert.ok(small.requests.every((r) => r.status === 200));
    assert.equal(small.requests.filter((r) => r.tools.length > 0).length, 13, 'no turn was repeated');
    assert.ok(existsSync(path.join(cwd, 'f11.txt')), 'the work went on to the end');
  });
});

void describe('S802 model aliases', () => {
  void test('S802 Claude Code aliases resolve as Claude Code resolves them', () => {
    assert.equal(resolveModelAlias('haiku', 'claude-sonnet-4-6'), 'claude-haiku-4-5');
    assert.equal(resolveModelAlias('sonnet[1m]', 'x'), 'claude-sonnet-4-6');
    assert.equal(resolveModelAlias('opusplan', 'x'), 'claude-sonnet-4-6');
    assert.equal(resolveModelAlias('default', 'claude-opus-4-7'), 'claude-opus-4-7');
    assert.equal(resolveModelAlias('claude-opus-4-8', 'x'), 'claude-opus-4-8');
  });
});
