import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { MessageParam, Tool, ToolUseBlock } from '@anthropic-ai/sdk/resources/messages';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import type { MockModel } from '../../src/mock-model/server';
import { startMockModel } from '../../src/mock-model/server';
import { corruptForSchema, generateFromSchema } from '../../src/mock-model/schema-data';
import { DirectiveError, parseDirectives, stripDirectives } from '../../src/mock-model/directives';

const MODEL = 'claude-sonnet-4-6';

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);

const REVIEW_SCHEMA = {
  type: 'object',
  properties: {
    verdict: { type: 'string', enum: ['approve', 'reject', 'needs-work'] },
    score: { type: 'integer', minimum: 1, maximum: 10 },
    findings: {
      type: 'array',
      minItems: 2,
      maxItems: 4,
      items: {
        type: 'object',
        properties: {
          file: { type: 'string', minLength: 1 },
          line: { type: 'integer', minimum: 1 },
          tags: { type: 'array', items: { type: 'string', enum: ['bug', 'style', 'perf'] }, minItems: 1 },
        },
        required: ['file', 'line', 'tags'],
        additionalProperties: false,
      },
    },
    summary: { type: 'string' },
  },
  required: ['verdict', 'score', 'findings'],
  additionalProperties: false,
} as const;

function structuredTool(schema: object): Tool {
  return {
    name: 'StructuredOutput',
    description: 'Return the final answer',
    input_schema: schema as Tool['input_schema'],
  };
}

function client(mock: MockModel, maxRetries = 0): Anthropic {
  return new Anthropic({ baseURL: mock.url, apiKey: 'test', maxRetries });
}

function toolUses(content: Anthropic.ContentBlock[]): ToolUseBlock[] {
  return content.filter((b): b is ToolUseBlock => b.type === 'tool_use');
}

/**
 * A minimal agent loop in the shape weft's will have: validate StructuredOutput with ajv and send
 * the errors back, nudge a prose answer towards the tool, run other tools with `runTool`.
 */
async function runAgent(
  api: Anthropic,
  prompt: string,
  opts: {
    tools?: Tool[];
    schema?: object;
    runTool?: (name: string, input: unknown) => string;
    maxTurns?: number;
  },
): Promise<{ output: unknown; turns: number; attempts: number }> {
  const tools = [...(opts.tools ?? []), ...(opts.schema ? [structuredTool(opts.schema)] : [])];
  const validate = opts.schema ? ajv.compile(opts.schema) : null;
  const messages: MessageParam[] = [{ role: 'user', content: prompt }];
  let attempts = 0;
  for (let turn = 1; turn <= (opts.maxTurns ?? 10); turn++) {
    const msg = await api.messages.create({ model: MODEL, max_tokens: 1024, messages, tools });
    messages.push({ role: 'assistant', content: msg.content });
    const uses = toolUses(msg.content);
    if (uses.length === 0) {
      const text = msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      if (!validate) return { output: text, turns: turn, attempts };
      messages.push({ role: 'user', content: 'Call the StructuredOutput tool with your answer.' });
      continue;
    }
    const results: Anthropic.ToolResultBlockParam[] = [];
    for (const use of uses) {
      if (use.name === 'StructuredOutput' && validate) {
        attempts++;
        if (validate(use.input)) return { output: use.input, turns: turn, attempts };
        results.push({
          type: 'tool_result',
          tool_use_id: use.id,
          is_error: true,
          content: ajv.errorsText(validate.errors),
        });
      } else {
        results.push({
          type: 'tool_result',
          tool_use_id: use.id,
          content: opts.runTool?.(use.name, use.input) ?? '',
        });
      }
    }
    messages.push({ role: 'user', content: results });
  }
  throw new Error('agent did not finish');
}

void describe('mock model over the real SDK', () => {
  let mock: MockModel;
  let api: Anthropic;

  before(async () => {
    mock = await startMockModel();
    api = client(mock);
  });
  after(async () => {
    await mock.close();
  });
  beforeEach(() => mock.reset());

  void test('S201 plain text answer is deterministic and carries usage', async () => {
    const ask = () =>
      api.messages.create({
        model: MODEL,
        max_tokens: 256,
        messages: [{ role: 'user', content: 'Summarise the README in one line' }],
      });
    const first = await ask();
    const second = await ask();
    assert.equal(first.id, 'msg_mock_1');
    assert.equal(first.stop_reason, 'end_turn');
    assert.deepEqual(first.content, [
      { type: 'text', text: 'ok: Summarise the README in one line', citations: null },
    ]);
    assert.deepEqual(second.content, first.content);
    assert.ok(first.usage.input_tokens > 0);
    assert.equal(first.usage.output_tokens, Math.ceil('ok: Summarise the README in one line'.length / 4));
    assert.equal(mock.requests.length, 2);
    assert.equal(mock.requests[0]?.key, mock.requests[1]?.key);
    assert.equal(mock.requests[0]?.kind, 'text');
    assert.equal(mock.requests[0]?.status, 200);
  });

  void test('S201 [[mock:reply]] sets the exact text and [[mock:tokens]] the output tokens', async () => {
    const msg = await api.messages.create({
      model: MODEL,
      max_tokens: 256,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Say hi [[mock:reply Hello, [world]!]] [[mock:tokens 42]]' }],
    });
    assert.deepEqual(msg.content, [{ type: 'text', text: 'Hello, [world]!', citations: null }]);
    assert.equal(msg.usage.output_tokens, 42);
    assert.equal(mock.requests[0]?.system, 'You are terse.');
  });

  void test('S201 streaming text goes through message_start..message_stop', async () => {
    const prompt = 'Stream a fairly long answer please, long enough to need several text deltas';
    const stream = api.messages.stream({
      model: MODEL,
      max_tokens: 256,
      messages: [{ role: 'user', content: prompt }],
    });
    const types: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'end_turn');
    assert.deepEqual(final.content, [{ type: 'text', text: `ok: ${prompt.slice(0, 60)}`, citations: null }]);
    assert.equal(final.usage.output_tokens, Math.ceil(`ok: ${prompt.slice(0, 60)}`.length / 4));
    assert.equal(types[0], 'message_start');
    assert.equal(types[1], 'content_block_start');
    assert.ok(types.filter((t) => t === 'content_block_delta').length >= 2);
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    assert.equal(mock.requests[0]?.stream, true);
  });

  void test('S202 StructuredOutput answers with schema-valid data, same prompt same object', async () => {
    const ask = () =>
      api.messages.create({
        model: MODEL,
        max_tokens: 1024,
        tools: [structuredTool(REVIEW_SCHEMA)],
        messages: [{ role: 'user', content: 'Review the diff' }],
      });
    const first = await ask();
    const second = await ask();
    assert.equal(first.stop_reason, 'tool_use');
    const [use] = toolUses(first.content);
    assert.equal(use?.name, 'StructuredOutput');
    const validate = ajv.compile(REVIEW_SCHEMA);
    assert.ok(validate(use?.input), ajv.errorsText(validate.errors));
    assert.deepEqual(toolUses(second.content)[0]?.input, use?.input);
    assert.equal(mock.requests[0]?.kind, 'structured');
    assert.equal(mock.requests[0]?.structuredValid, true);
    assert.deepEqual(mock.requests[0]?.tools, ['StructuredOutput']);
  });

  void test('S202 streamed StructuredOutput arrives through input_json_delta', async () => {
    const final = await api.messages
      .stream({
        model: MODEL,
        max_tokens: 1024,
        tools: [structuredTool(REVIEW_SCHEMA)],
        messages: [{ role: 'user', content: 'Review the diff' }],
      })
      .finalMessage();
    const plain = await api.messages.create({
      model: MODEL,
      max_tokens: 1024,
      tools: [structuredTool(REVIEW_SCHEMA)],
      messages: [{ role: 'user', content: 'Review the diff' }],
    });
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(toolUses(final.content)[0]?.input, toolUses(plain.content)[0]?.input);
  });

  void test('S202 [[mock:json]] fixes the StructuredOutput object, nested "]]" included', async () => {
    const msg = await api.messages.create({
      model: MODEL,
      max_tokens: 1024,
      tools: [structuredTool({ type: 'object', properties: { grid: { type: 'array' } } })],
      messages: [
        { role: 'user', content: 'Grid please [[mock:json {"grid": [[1, 2], [3]], "note": "a]]b"}]]' },
      ],
    });
    assert.deepEqual(toolUses(msg.content)[0]?.input, { grid: [[1, 2], [3]], note: 'a]]b' });
  });

  void test('S202 [[mock:invalid 2]] gives two invalid attempts, then a valid one', async () => {
    const result = await runAgent(api, 'Review carefully [[mock:invalid 2]]', { schema: REVIEW_SCHEMA });
    assert.equal(result.attempts, 3);
    assert.equal(result.turns, 3);
    assert.ok(ajv.validate(REVIEW_SCHEMA, result.output));
    assert.deepEqual(
      mock.requests.map((r) => r.structuredValid),
      [false, false, true],
    );
    // The validation errors the client sent back are in the log.
    const second = mock.requests[1];
    assert.equal(second?.turn, 1);
    assert.equal(second?.toolResults.length, 1);
    assert.equal(second?.toolResults[0]?.is_error, true);
    assert.match(second?.toolResults[0]?.content ?? '', /data/);
  });

  void test('S202 [[mock:invalid always]] never satisfies the schema', async () => {
    await assert.rejects(
      runAgent(api, 'Never right [[mock:invalid always]]', { schema: REVIEW_SCHEMA, maxTurns: 5 }),
      /did not finish/,
    );
    assert.equal(mock.requests.length, 5);
    assert.ok(mock.requests.every((r) => r.structuredValid === false));
  });

  void test('S404 [[mock:prose 1]] answers in prose first, then calls StructuredOutput', async () => {
    const result = await runAgent(api, 'Explain yourself [[mock:prose 1]]', { schema: REVIEW_SCHEMA });
    assert.equal(result.turns, 2);
    assert.equal(result.attempts, 1);
    assert.deepEqual(
      mock.requests.map((r) => r.kind),
      ['text', 'structured'],
    );
    const first = mock.requests[0]?.content?.[0];
    assert.equal(first?.type, 'text');
  });

  void test('S404 a forced tool_choice overrides [[mock:prose]]', async () => {
    const msg = await api.messages.create({
      model: MODEL,
      max_tokens: 1024,
      tools: [structuredTool(REVIEW_SCHEMA)],
      tool_choice: { type: 'tool', name: 'StructuredOutput' },
      messages: [{ role: 'user', content: 'Explain yourself [[mock:prose always]]' }],
    });
    assert.equal(msg.stop_reason, 'tool_use');
    assert.deepEqual(mock.requests[0]?.toolChoice, { type: 'tool', name: 'StructuredOutput' });
  });

  void test('S401 tool directives drive two tool turns, and tool results are logged', async () => {
    const tools: Tool[] = [
      { name: 'Read', input_schema: { type: 'object', properties: { file_path: { type: 'string' } } } },
      { name: 'Bash', input_schema: { type: 'object', properties: { command: { type: 'string' } } } },
    ];
    const calls: Array<[string, unknown]> = [];
    const result = await runAgent(
      api,
      'Inspect [[mock:tool Read {"file_path": "notes.txt"}]] then [[mock:tool Bash {"command": "ls -1"}]] [[mock:reply all done]]',
      {
        tools,
        runTool: (name, input) => {
          calls.push([name, input]);
          return name === 'Read' ? 'contents of notes' : 'a.txt\nb.txt';
        },
      },
    );
    assert.equal(result.output, 'all done');
    assert.equal(result.turns, 3);
    assert.deepEqual(calls, [
      ['Read', { file_path: 'notes.txt' }],
      ['Bash', { command: 'ls -1' }],
    ]);
    assert.deepEqual(
      mock.requests.map((r) => [r.turn, r.kind]),
      [
        [0, 'tool_use'],
        [1, 'tool_use'],
        [2, 'text'],
      ],
    );
    assert.deepEqual(
      mock.requests[1]?.toolResults.map((r) => [r.content, r.is_error]),
      [['contents of notes', false]],
    );
    assert.deepEqual(
      mock.requests[2]?.toolResults.map((r) => r.content),
      ['a.txt\nb.txt'],
    );
  });

  void test('S401 S202 tool directives run before StructuredOutput', async () => {
    const tools: Tool[] = [{ name: 'Grep', input_schema: { type: 'object' } }];
    const result = await runAgent(api, 'Search [[mock:tool Grep {"pattern": "TODO"}]] [[mock:invalid 1]]', {
      tools,
      schema: REVIEW_SCHEMA,
      runTool: () => 'src/a.ts:3: TODO',
    });
    assert.equal(result.attempts, 2);
    assert.deepEqual(
      mock.requests.map((r) => r.kind),
      ['tool_use', 'structured', 'structured'],
    );
  });

  void test('S404 429 with retry-after, then success through SDK retries', async () => {
    const started = Date.now();
    const msg = await client(mock, 2).messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Busy [[mock:error 429 2 retry-after=0.1]]' }],
    });
    assert.equal(msg.content[0]?.type, 'text');
    assert.ok(Date.now() - started >= 180, 'the SDK waited the retry-after twice');
    assert.deepEqual(
      mock.requests.map((r) => r.status),
      [429, 429, 200],
    );
    assert.equal(new Set(mock.requests.map((r) => r.key)).size, 1);
  });

  void test('S404 429 body and retry-after header are Anthropic-shaped', async () => {
    const err = await api.messages
      .create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'x [[mock:error 429 1 retry-after=3]]' }],
      })
      .then(
        () => assert.fail('expected a 429'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof Anthropic.RateLimitError);
    assert.equal(err.headers?.get('retry-after'), '3');
    assert.deepEqual((err.error as { type: string; error: { type: string } }).error.type, 'rate_limit_error');
    assert.equal((err.error as { type: string }).type, 'error');
  });

  void test('S404 401 always is an authentication error the SDK does not retry', async () => {
    await assert.rejects(
      client(mock, 2).messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Who am I [[mock:error 401 always]]' }],
      }),
      (err: unknown) => err instanceof Anthropic.AuthenticationError && err.status === 401,
    );
    assert.equal(mock.requests.length, 1);
    assert.equal(mock.requests[0]?.kind, 'error');
  });

  void test('S404 529 is overloaded_error and 500 api_error, each for the first request only', async () => {
    const send = (content: string) =>
      api.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content }] });
    await assert.rejects(send('a [[mock:error 529 1]]'), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError);
      assert.equal(err.status, 529);
      assert.equal(err.type, 'overloaded_error');
      return true;
    });
    await send('a [[mock:error 529 1]]');
    await assert.rejects(send('b [[mock:error 500 1]]'), (err: unknown) => {
      assert.ok(err instanceof Anthropic.InternalServerError);
      assert.equal(err.type, 'api_error');
      return true;
    });
    await send('b [[mock:error 500 1]]');
    assert.deepEqual(
      mock.requests.map((r) => r.status),
      [529, 200, 500, 200],
    );
  });

  void test('S405 [[mock:hang]] holds the request until the client aborts', async () => {
    const controller = new AbortController();
    const pending = api.messages.create(
      { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'Wait forever [[mock:hang]]' }] },
      { signal: controller.signal },
    );
    await waitFor(() => mock.requests.length === 1);
    assert.equal(mock.requests[0]?.status, 0);
    assert.equal(mock.requests[0]?.kind, 'hang');
    controller.abort();
    await assert.rejects(pending, (err: unknown) => err instanceof Anthropic.APIUserAbortError);
    await waitFor(() => mock.requests[0]?.status === 499);
  });

  void test('S405 close() releases a hung request at once', async () => {
    const own = await startMockModel();
    const pending = client(own).messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: '[[mock:hang]]' }],
    });
    const settled = pending.then(
      () => 'resolved',
      () => 'rejected',
    );
    await waitFor(() => own.requests.length === 1);
    const started = Date.now();
    await own.close();
    assert.ok(Date.now() - started < 1000);
    assert.equal(await settled, 'rejected');
  });

  void test('S404 latency directive and setLatency delay the answer', async () => {
    let started = Date.now();
    await api.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'slow [[mock:latency 120]]' }],
    });
    assert.ok(Date.now() - started >= 110);
    mock.setLatency(80);
    started = Date.now();
    await api.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'fast?' }],
    });
    assert.ok(Date.now() - started >= 70);
    mock.setLatency(0);
  });

  void test('S404 malformed requests get 400 invalid_request_error and are not retried', async () => {
    await assert.rejects(
      client(mock, 2).messages.create({ model: MODEL, max_tokens: 64, messages: [] }),
      (err: unknown) => err instanceof Anthropic.BadRequestError && err.type === 'invalid_request_error',
    );
    await assert.rejects(
      api.messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: '[[mock:nonsense]]' }],
      }),
      (err: unknown) =>
        err instanceof Anthropic.BadRequestError && /unknown mock directive/.test(err.message),
    );
    const raw = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(raw.status, 400);
    assert.deepEqual(await raw.json(), {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'model: field required' },
      request_id: raw.headers.get('request-id'),
    });
    assert.equal(mock.requests.length, 3);
  });

  void test('S401 unknown routes are 404 not_found_error; models and count_tokens answer', async () => {
    const raw = await fetch(`${mock.url}/v1/nothing-here`);
    assert.equal(raw.status, 404);
    assert.equal(((await raw.json()) as { error: { type: string } }).error.type, 'not_found_error');
    const models = [];
    for await (const m of api.models.list()) models.push(m.id);
    assert.ok(models.includes(MODEL));
    assert.ok(models.length >= 2);
    const count = await api.messages.countTokens({
      model: MODEL,
      messages: [{ role: 'user', content: 'x'.repeat(400) }],
    });
    assert.equal(count.input_tokens, 100);
  });

  void test('S401 the request log is served over HTTP and cleared by DELETE', async () => {
    await api.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'log me' }],
    });
    const log = (await (await fetch(`${mock.url}/_mock/requests`)).json()) as Array<{
      prompt: string;
      seq: number;
    }>;
    assert.deepEqual(
      log.map((r) => [r.seq, r.prompt]),
      [[1, 'log me']],
    );
    const del = await fetch(`${mock.url}/_mock/requests`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(mock.requests.length, 0);
  });
});

void describe('mock model options', () => {
  void test('S404 global fault rules hit the first N matching requests with retry-after', async () => {
    const mock = await startMockModel({
      faults: [{ status: 429, times: 2, retryAfterS: 0.01, match: 'flaky' }],
      outputTokens: 9,
    });
    try {
      const api = client(mock);
      const send = (content: string) =>
        api.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content }] });
      await assert.rejects(send('flaky one'), (err: unknown) => {
        assert.ok(err instanceof Anthropic.RateLimitError);
        assert.equal(err.headers?.get('retry-after'), '0.01');
        return true;
      });
      const steady = await send('steady');
      assert.equal(steady.usage.output_tokens, 9);
      await assert.rejects(send('flaky two'), Anthropic.RateLimitError);
      await send('flaky three');
      assert.deepEqual(
        mock.requests.map((r) => r.status),
        [429, 200, 429, 200],
      );
      mock.reset();
      await assert.rejects(send('flaky again'), Anthropic.RateLimitError);
    } finally {
      await mock.close();
    }
  });

  void test('S404 requireApiKey refuses a missing or bad key with 401', async () => {
    const mock = await startMockModel({ requireApiKey: true });
    try {
      const bad = new Anthropic({ baseURL: mock.url, apiKey: 'bad', maxRetries: 0 });
      await assert.rejects(
        bad.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }),
        Anthropic.AuthenticationError,
      );
      const missing = await fetch(`${mock.url}/v1/messages`, { method: 'POST', body: '{}' });
      assert.equal(missing.status, 401);
      assert.equal(
        ((await missing.json()) as { error: { type: string } }).error.type,
        'authentication_error',
      );
      const ok = await client(mock).messages.create({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(ok.content[0]?.type, 'text');
    } finally {
      await mock.close();
    }
  });

  void test('S401 runMockModelCommand prints its URL and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "require('./src/mock-model/cli.ts').runMockModelCommand({ port: 0, host: '127.0.0.1', latencyMs: 0 })",
      ],
      { cwd: resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const lines = createInterface({ input: child.stdout });
      const [line] = (await once(lines, 'line')) as [string];
      const match = /^mock model listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      assert.ok(match?.[1], line);
      const models = await fetch(`${match[1]}/v1/models`);
      assert.equal(models.status, 200);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

void describe('schema data', () => {
  const schemas: Record<string, object> = {
    enums: {
      type: 'object',
      properties: { color: { enum: ['red', 'green'] }, n: { const: 3 } },
      required: ['color'],
    },
    nestedArrays: {
      type: 'object',
      properties: {
        matrix: {
          type: 'array',
          minItems: 2,
          maxItems: 3,
          items: { type: 'array', minItems: 1, items: { type: 'number', minimum: -1, maximum: 1 } },
        },
      },
      required: ['matrix'],
    },
    integerRanges: {
      type: 'object',
      properties: {
        small: { type: 'integer', minimum: 0, maximum: 3 },
        exclusive: { type: 'integer', exclusiveMinimum: 10, exclusiveMaximum: 12 },
      },
      required: ['small', 'exclusive'],
    },
    requiredAndOptional: {
      type: 'object',
      properties: {
        id: { type: 'string', format: 'uuid' },
        at: { type: 'string', format: 'date-time' },
        email: { type: 'string', format: 'email' },
        nested: {
          type: 'object',
          properties: {
            ok: { type: 'boolean' },
            tags: { type: 'array', items: { type: 'string' }, maxItems: 2 },
          },
          required: ['ok'],
          additionalProperties: false,
        },
      },
      required: ['id', 'nested'],
      additionalProperties: false,
    },
    review: REVIEW_SCHEMA,
  };

  for (const [name, schema] of Object.entries(schemas)) {
    void test(`S202 S505 generateFromSchema gives valid, repeatable data: ${name}`, () => {
      const a = generateFromSchema(schema, 'seed-1');
      const validate = ajv.compile(schema);
      assert.ok(validate(a), `${JSON.stringify(a)}: ${ajv.errorsText(validate.errors)}`);
      assert.deepEqual(generateFromSchema(schema, 'seed-1'), a);
      for (let i = 0; i < 20; i++) assert.ok(validate(generateFromSchema(schema, `seed-${i}`)));
    });
  }

  void test('S505 generateFromSchema fills optional properties and varies with the seed', () => {
    const schema = schemas.requiredAndOptional ?? {};
    const value = generateFromSchema(schema, 'x') as Record<string, unknown>;
    assert.deepEqual(Object.keys(value).sort(), ['at', 'email', 'id', 'nested']);
    const distinct = new Set(
      Array.from({ length: 10 }, (_, i) => JSON.stringify(generateFromSchema(schema, `s${i}`))),
    );
    assert.ok(distinct.size > 1);
  });

  void test('S202 corruptForSchema breaks the schema', () => {
    for (const schema of Object.values(schemas)) {
      const bad = corruptForSchema(schema, generateFromSchema(schema, 'z'));
      assert.equal(ajv.validate(schema, bad), false, JSON.stringify(bad));
    }
  });
});

void describe('directives', () => {
  void test('S202 S404 the directive grammar parses every directive', () => {
    const d = parseDirectives(
      [
        'Do it [[mock:reply  the answer ]]',
        '[[MOCK:invalid 2]] [[mock: prose always]]',
        '[[mock:error 429 3 retry-after=0.5]] [[mock:latency 10]] [[mock:tokens 5]]',
        '[[mock:tool Read {"file_path": "a]]"}]]',
        '[[mock:tool Bash\n{"command": "ls"}]] [[mock:hang]]',
        '[[mock:json [1, [2]]]]',
      ].join('\n'),
    );
    assert.equal(d.reply, 'the answer');
    assert.equal(d.invalid, 2);
    assert.equal(d.prose, Infinity);
    assert.deepEqual(d.error, { status: 429, times: 3, retryAfterS: 0.5 });
    assert.equal(d.latencyMs, 10);
    assert.equal(d.outputTokens, 5);
    assert.deepEqual(d.tools, [
      { name: 'Read', input: { file_path: 'a]]' } },
      { name: 'Bash', input: { command: 'ls' } },
    ]);
    assert.equal(d.hang, true);
    assert.deepEqual(d.json, { value: [1, [2]] });
  });

  void test('S202 malformed directives are refused, and stripping leaves the prose', () => {
    for (const bad of [
      '[[mock:invalid some]]',
      '[[mock:error 200 1]]',
      '[[mock:error 429 1 soon]]',
      '[[mock:tool Read {oops}]]',
      '[[mock:latency]]',
      '[[mock:reply unclosed',
    ]) {
      assert.throws(() => parseDirectives(bad), DirectiveError, bad);
    }
    assert.equal(
      stripDirectives('Fix  the bug [[mock:invalid 1]]\nnow [[mock:json {"a": [[1]]}]]'),
      'Fix the bug now',
    );
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

void test('S210 the mock never writes past max_tokens: it stops with stop_reason max_tokens', async () => {
  const mock = await startMockModel();
  try {
    const client = new Anthropic({ baseURL: mock.url, apiKey: 'test', maxRetries: 0 });
    const message = await client.messages.create({
      model: 'claude-sonnet-4-6',
      max_tokens: 25,
      messages: [{ role: 'user', content: 'long answer [[mock:tokens 300]]' }],
    });
    assert.equal(message.usage.output_tokens, 25);
    assert.equal(message.stop_reason, 'max_tokens');
  } finally {
    await mock.close();
  }
});
