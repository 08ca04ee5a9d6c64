import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentKey } from '../../src/workflows/agent-key';

const base = {
  prompt: 'find facts about beta',
  schema: { type: 'object' },
  model: null,
  agentType: null,
  isolation: null,
};

test('S305 the content key is stable across versions, so runs recorded earlier can still be resumed', () => {
  assert.equal(agentKey(base), '10cqtjwbmek1ovkxaqgh4g');
});

test('S305 the key covers prompt, schema, model, agentType and isolation, and ignores schema key order', () => {
  const keys = new Set([
    agentKey(base),
    agentKey({ ...base, prompt: 'find facts about gamma' }),
    agentKey({ ...base, schema: { type: 'object', required: ['x'] } }),
    agentKey({ ...base, model: 'claude-haiku-4-5' }),
    agentKey({ ...base, agentType: 'Explore' }),
    agentKey({ ...base, isolation: 'worktree' }),
  ]);
  assert.equal(keys.size, 6);
  const a = agentKey({
    ...base,
    schema: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
  });
  const b = agentKey({
    ...base,
    schema: { required: ['a'], properties: { a: { type: 'string' } }, type: 'object' },
  });
  assert.equal(a, b);
});
