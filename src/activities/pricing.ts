import type { TokenUsage } from '../types';

/** US dollars per million tokens, and per thousand web searches. */
export interface Price {
  input: number;
  output: number;
  /** Prompt-cache writes with the 5-minute TTL. */
  cacheWrite5m: number;
  /** Prompt-cache writes with the 1-hour TTL. */
  cacheWrite1h: number;
  /** Prompt-cache reads (hits and refreshes). */
  cacheRead: number;
  /** Server web search, per 1,000 searches. */
  webSearchPer1k: number;
}

/** When the table below was last checked against Anthropic's price list. */
export const PRICES_CHECKED = '2026-12-04';

/**
 * Anthropic's list prices, per model id (dated ids share their alias's row). Cache writes cost
 * 1.25× input (5 minutes) or 2× (1 hour) and cache reads 0.1×, on every current model; web search
 * is $10 per 1,000 searches. Rows marked `line` are models the SDK lists whose price was not
 * published when the table was checked: they carry their line's current price.
 */
const BASE_PRICES: Record<string, { input: number; output: number; source: 'published' | 'line' }> = {
  'claude-fable-5': { input: 10, output: 50, source: 'published' },
  'claude-mythos-5': { input: 10, output: 50, source: 'published' },
  'claude-fable-5-1': { input: 10, output: 50, source: 'line' },
  'claude-fable-5-2': { input: 10, output: 50, source: 'line' },
  'claude-mythos-5-1': { input: 10, output: 50, source: 'line' },
  'claude-mythos-5-2': { input: 10, output: 50, source: 'line' },
  'claude-mythos-preview': { input: 25, output: 125, source: 'published' },
  'claude-opus-5': { input: 5, output: 25, source: 'line' },
  'claude-opus-5-5': { input: 5, output: 25, source: 'line' },
  'claude-opus-4-8': { input: 5, output: 25, source: 'published' },
  'claude-opus-4-7': { input: 5, output: 25, source: 'published' },
  'claude-opus-4-6': { input: 5, output: 25, source: 'published' },
  'claude-opus-4-5': { input: 5, output: 25, source: 'published' },
  'claude-opus-4-1': { input: 15, output: 75, source: 'published' },
  'claude-opus-4': { input: 15, output: 75, source: 'published' },
  'claude-sonnet-5': { input: 3, output: 15, source: 'line' },
  'claude-sonnet-5-5': { input: 3, output: 15, source: 'line' },
  'claude-sonnet-4-6': { input: 3, output: 15, source: 'published' },
  'claude-sonnet-4-5': { input: 3, output: 15, source: 'published' },
  'claude-sonnet-4': { input: 3, output: 15, source: 'published' },
  'claude-3-7-sonnet': { input: 3, output: 15, source: 'published' },
  'claude-haiku-5-5': { input: 1, output: 5, source: 'line' },
  'claude-haiku-4-5': { input: 1, output: 5, source: 'published' },
  'claude-3-5-haiku': { input: 0.8, output: 4, source: 'published' },
  'claude-3-haiku': { input: 0.25, output: 1.25, source: 'published' },
};

const CACHE_WRITE_5M = 1.25;
const CACHE_WRITE_1H = 2;
const CACHE_READ = 0.1;
const WEB_SEARCH_PER_1K = 10;

/** The table's model ids, for tests and `--help` texts. */
export const PRICED_MODELS: readonly string[] = Object.keys(BASE_PRICES);

/**
 * The price of a model, or null when weft does not know it. Dated ids (`-20251001`), Bedrock and
 * Vertex spellings (`anthropic.`, `@date`, `-v1:0`) and a `[1m]` suffix map to their alias.
 */
export function priceFor(model: string): Price | null {
  const id = canonicalModelId(model);
  const row = BASE_PRICES[id];
  if (!row) return null;
  return {
    input: row.input,
    output: row.output,
    cacheWrite5m: row.input * CACHE_WRITE_5M,
    cacheWrite1h: row.input * CACHE_WRITE_1H,
    cacheRead: row.input * CACHE_READ,
    webSearchPer1k: WEB_SEARCH_PER_1K,
  };
}

/** Whether weft can price a model. */
export function isPriced(model: string): boolean {
  return priceFor(model) !== null;
}

/** A model id without provider prefixes, dates, versions or a context suffix. */
export function canonicalModelId(model: string): string {
  return model
    .trim()
    .toLowerCase()
    .replace(/^(?:[a-z]{2,4}\.)?anthropic\./, '')
    .replace(/\[1m\]$/, '')
    .replace(/-v\d+(?::\d+)?$/, '')
    .replace(/@\d{8}$/, '')
    .replace(/-\d{8}$/, '')
    .replace(/-latest$/, '');
}

/** Estimated cost of a usage in US dollars (S406, S805); null when the model has no known price. */
export function costOf(model: string, usage: TokenUsage): number | null {
  const price = priceFor(model);
  if (!price) return null;
  const write = usage.cacheWriteTokens ?? 0;
  const write1h = Math.min(write, usage.cacheWrite1hTokens ?? 0);
  return (
    (usage.inputTokens * price.input +
      usage.outputTokens * price.output +
      (write - write1h) * price.cacheWrite5m +
      write1h * price.cacheWrite1h +
      (usage.cacheReadTokens ?? 0) * price.cacheRead) /
      1_000_000 +
    ((usage.webSearchRequests ?? 0) * price.webSearchPer1k) / 1_000
  );
}

/** The usage block of one Messages API answer. */
export interface MessageUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
  server_tool_use?: { web_search_requests?: number } | null;
}

/**
 * Tokens and estimated cost of one model answer: fresh input, output, cache writes (priced by
 * their TTL), cache reads and web searches, each counted apart (S805). `costUsd` is null for a
 * model without a known price.
 */
export function turnCost(model: string, usage: MessageUsage): { usage: TokenUsage; costUsd: number | null } {
  const written = usage.cache_creation_input_tokens ?? 0;
  const written1h = usage.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  const counted: TokenUsage = {
    inputTokens: usage.input_tokens,
    outputTokens: usage.output_tokens,
    cacheWriteTokens: written,
    cacheWrite1hTokens: written1h,
    cacheReadTokens: usage.cache_read_input_tokens ?? 0,
    webSearchRequests: usage.server_tool_use?.web_search_requests ?? 0,
  };
  return { usage: counted, costUsd: costOf(model, counted) };
}

/** Adds one usage into another, every count included (shared with the workflow's run totals). */
export { addTokenUsage as addUsage } from '../workflows/token-usage';
