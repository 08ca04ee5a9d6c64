import type { AgentRequest } from '../types';

/**
 * Serializes a value with object keys sorted, so two schemas that differ only in key order give
 * the same text.
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * cyrb53, a fast 53-bit string hash, with seeds 1 and 2 computed in one pass over the text: 106
 * bits, ample for a run's 1000 agents. Same output as two separate passes, so keys stay stable.
 */
function cyrb53Twice(text: string): string {
  // A global lookup per character is slow in the sandbox's vm context (75 ms for a 200 KB
  // prompt), enough for a fan-out to pass the 5 s workflow-task limit; a local binding is not.
  const imul = Math.imul;
  let a1 = 0xdeadbeef ^ 1;
  let a2 = 0x41c6ce57 ^ 1;
  let b1 = 0xdeadbeef ^ 2;
  let b2 = 0x41c6ce57 ^ 2;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    a1 = imul(a1 ^ ch, 2654435761);
    a2 = imul(a2 ^ ch, 1597334677);
    b1 = imul(b1 ^ ch, 2654435761);
    b2 = imul(b2 ^ ch, 1597334677);
  }
  return finish(a1, a2) + finish(b1, b2);
}

function finish(h1: number, h2: number): string {
  const imul = Math.imul;
  h1 = imul(h1 ^ (h1 >>> 16), 2246822507) ^ imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = imul(h2 ^ (h2 >>> 16), 2246822507) ^ imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/**
 * The content key of an agent call for resume (S305): everything that changes the agent's work
 * (prompt, schema, model, agentType, isolation, effort, thinking) and nothing that only names it
 * (label, phase).
 * Pure code, so the workflow sandbox and the client compute the same key.
 */
export function agentKey(
  request: Pick<AgentRequest, 'prompt' | 'schema' | 'model' | 'agentType' | 'isolation'> &
    Partial<Pick<AgentRequest, 'effort' | 'thinking'>>,
): string {
  // canonicalJson drops undefined values, so calls without effort or thinking keep their old keys.
  const text = canonicalJson({
    prompt: request.prompt,
    schema: request.schema,
    model: request.model,
    agentType: request.agentType,
    isolation: request.isolation,
    effort: request.effort,
    thinking: request.thinking,
  });
  return cyrb53Twice(text);
}
