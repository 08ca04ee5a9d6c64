import type { TokenUsage } from '../types';

/** Adds one usage into another, cache and web-search counts included when present (S805). */
export function addTokenUsage(into: TokenUsage, add: TokenUsage): void {
  into.inputTokens += add.inputTokens;
  into.outputTokens += add.outputTokens;
  for (const key of [
    'cacheWriteTokens',
    'cacheWrite1hTokens',
    'cacheReadTokens',
    'webSearchRequests',
  ] as const) {
    const n = add[key] ?? 0;
    if (n > 0) into[key] = (into[key] ?? 0) + n;
  }
}
