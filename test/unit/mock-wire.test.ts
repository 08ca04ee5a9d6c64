/**
 * The mock model against real-wire fixtures (test/fixtures/wire, quoted from Anthropic's docs):
 * its streams and error bodies must have every event, in the same order, and every field the
 * real API sends, with the same JSON type (S801, S804).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MockModel } from '../../src/mock-model/server';
import { startMockModel } from '../../src/mock-model/server';

const WIRE = path.join(__dirname, '..', 'fixtures', 'wire');
let mock: MockModel;
before(async () => {
  mock = await startMockModel();
});
after(async () => {
  await mock.close();
});

interface WireEvent {
  event: string;
  data: Record<string, unknown>;
}

function parseSse(text: string): WireEvent[] {
  return text
    .split(/\n\n+/)
    .map((frame) => frame.trim())
    .filter((frame) => frame !== '')
    .map((frame) => {
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? '';
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? '{}') as Record<string, unknown>;
      return { event, data };
    });
}

/** An event's kind: its type, and the type of its block or delta. */
function kindOf(e: WireEvent): string {
  const inner = (e.data.content_block ?? e.data.delta) as { type?: string } | undefined;
  return inner?.type && e.data.type !== 'message_delta' ? `${e.event}:${inner.type}` : e.event;
}

/** The kinds in order, runs of the same kind collapsed (a text arrives in any number of deltas). */
function sequence(events: WireEvent[]): string[] {
  return events.map(kindOf).filter((k, i, all) => k !== all[i - 1]);
}

/** Every field of `real` is in `mocked` with the same JSON type; null in `real` allows any value. */
function assertShape(real: unknown, mocked: unknown, where: string): void {
  if (real === null) return;
  if (Array.isArray(real)) {
    assert.ok(Array.isArray(mocked), `${where}: expected an array`);
    return;
  }
  if (typeof real === 'object') {
    assert.ok(
      typeof mocked === 'object' && mocked !== null && !Array.isArray(mocked),
      `${where}: expected an object`,
    );
    for (const [key, value] of Object.entries(real)) {
      assert.ok(key in (mocked as object), `${where}.${key} is missing`);
      assertShape(value, (mocked as Record<string, unknown>)[key], `${where}.${key}`);
    }
    return;
  }
  assert.equal(typeof mocked, typeof real, `${where}: expected a ${typeof real}`);
}

async function mockStream(prompt: string): Promise<WireEvent[]> {
  const res = await fetch(`${mock.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'test', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-opus-4-7',
      max_tokens: 1024,
      stream: true,
      messages: [{ role: 'user', content: prompt }],
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
    }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  return parseSse(await res.text());
}

function checkAgainst(fixture: string, mocked: WireEvent[]): void {
  const real = parseSse(readFileSync(path.join(WIRE, fixture), 'utf8'));
  // A stream carries any number of pings; where the real one shows none, the order ignores them.
  const pings = real.some((e) => e.event === 'ping');
  const comparable = pings ? mocked : mocked.filter((e) => e.event !== 'ping');
  assert.deepEqual(sequence(comparable), sequence(real), `${fixture}: the order of events`);
  for (const event of real) {
    const twin = mocked.find((m) => kindOf(m) === kindOf(event));
    assert.ok(twin, `${fixture}: no ${kindOf(event)} event`);
    assertShape(event.data, twin.data, `${fixture} ${kindOf(event)}`);
    assert.equal(twin.data.type, twin.event, 'the SSE event name is the data type');
  }
}

void describe('the mock against real-wire fixtures', () => {
  void test('S801 a text answer streams as the real API streams it', async () => {
    checkAgainst('text-stream.sse', await mockStream('hi [[mock:reply Hello!]]'));
  });

  void test('S801 text plus a tool call stream as the real API streams them', async () => {
    const turn = {
      content: [
        { type: 'text', text: "Okay, let's check the weather for San Francisco, CA:" },
        {
          type: 'tool_use',
          name: 'get_weather',
          input: { location: 'San Francisco, CA', unit: 'fahrenheit' },
        },
      ],
    };
    checkAgainst('tool-use-stream.sse', await mockStream(`weather [[mock:turn ${JSON.stringify(turn)}]]`));
  });

  void test('S801 a thinking answer streams its thinking, signature and text as the real API does', async () => {
    checkAgainst('thinking-stream.sse', await mockStream('gcd [[mock:thinking]] [[mock:reply 21]]'));
  });

  void test('S804 an error in the middle of a stream is an error event, as the real API sends it', async () => {
    const mocked = await mockStream('x [[mock:stream-error overloaded_error 1]]');
    const real = parseSse(readFileSync(path.join(WIRE, 'error-stream.sse'), 'utf8'));
    const error = mocked.find((e) => e.event === 'error');
    assert.ok(error);
    assertShape(real[1]?.data, error.data, 'error event');
    assert.deepEqual(error.data.error, real[1]?.data.error);
    assert.equal(mocked[mocked.length - 1]?.event, 'error', 'nothing follows the error');
  });

  void test('S804 error bodies and headers are the real API’s', async () => {
    const fixture = JSON.parse(readFileSync(path.join(WIRE, 'errors.json'), 'utf8')) as {
      bodies: Record<string, { error: { type: string } }>;
      headers: Record<string, string[]>;
    };
    for (const [status, body] of Object.entries(fixture.bodies)) {
      const extra = status === '429' ? ' retry-after=1' : '';
      const res = await fetch(`${mock.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'claude-opus-4-7',
          max_tokens: 10,
          messages: [{ role: 'user', content: `e${status} [[mock:error ${status} 1${extra}]]` }],
        }),
      });
      assert.equal(res.status, Number(status));
      const mocked = (await res.json()) as { error: { type: string } };
      assertShape(body, mocked, `error ${status}`);
      assert.equal(mocked.error.type, body.error.type, `error type of ${status}`);
      for (const header of [...(fixture.headers['every error'] ?? []), ...(fixture.headers[status] ?? [])]) {
        assert.ok(res.headers.get(header), `${status}: header ${header}`);
      }
    }
  });
});
