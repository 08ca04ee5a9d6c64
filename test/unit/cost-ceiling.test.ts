/**
 * The bound each agent keeps under `--max-cost` (S210): what one model call can cost at worst,
 * and the output and searches the rest of an allowance pays for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Anthropic from '@anthropic-ai/sdk';
import { affordableCall, inputTokensBound } from '../../src/activities/agent/cost-ceiling';

const SEARCH: Anthropic.ToolUnion = { type: 'web_search_20250305', name: 'web_search', max_uses: 5 };

void test('S210 a first call is bounded by its UTF-8 length; later ones by the last count plus what came after', () => {
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'héllo' }];
  const first = inputTokensBound({ system: 'sys', tools: [], messages, lastInputTokens: null });
  const bytes = Buffer.byteLength(JSON.stringify({ system: 'sys', tools: [], messages }));
  assert.ok(first >= bytes, `${first} < ${bytes}`);
  const later = inputTokensBound({
    system: 'sys',
    tools: [],
    messages: [
      ...messages,
      { role: 'assistant', content: 'answer' },
      { role: 'user', content: 'x'.repeat(1000) },
    ],
    lastInputTokens: 500,
  });
  assert.ok(later >= 1500 && later < 2000, `${later}`);
});

void test('S210 output is priced at the rest after input as cache writes; 1-hour writes cost more', () => {
  // Sonnet: $3.75/M 5-minute writes, $6/M 1-hour writes, $15/M output.
  const short = affordableCall('claude-sonnet-4-5', 0.05, 10_000, [], '5m');
  assert.equal(short?.outputTokens, Math.floor((0.05 - 10_000 * 3.75e-6) / 15e-6));
  const long = affordableCall('claude-sonnet-4-5', 0.05, 10_000, [], '1h');
  assert.ok((long?.outputTokens ?? Infinity) < (short?.outputTokens ?? 0));
  assert.equal(affordableCall('claude-sonnet-4-5', 0.01, 10_000, [], '5m')?.outputTokens, 0);
  assert.equal(affordableCall('local-llama', 1, 10, [], '5m'), null);
});

void test('S210 web searches take at most a quarter of what is left, never fewer than one', () => {
  const rich = affordableCall('claude-sonnet-4-5', 10, 1000, [SEARCH], '5m');
  assert.equal((rich?.tools[0] as { max_uses?: number }).max_uses, 5);
  assert.equal(rich?.tools[0], SEARCH, 'an affordable tool is sent unchanged, so the cache prefix holds');
  const tight = affordableCall('claude-sonnet-4-5', 0.1, 1000, [SEARCH], '5m');
  assert.equal((tight?.tools[0] as { max_uses?: number }).max_uses, 2);
  const left = 0.1 - 1000 * 3.75e-6 - 2 * 0.01;
  assert.equal(tight?.outputTokens, Math.floor(left / 15e-6));
  const poor = affordableCall('claude-sonnet-4-5', 0.02, 1000, [SEARCH], '5m');
  assert.equal((poor?.tools[0] as { max_uses?: number }).max_uses, 1);
});
