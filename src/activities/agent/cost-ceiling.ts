/**
 * The hard cost ceiling of one agent (S210, `--max-cost`): before each model call the agent works
 * out the worst that call can cost and asks for no more output than its cost allowance still pays
 * for. What a call can cost is bounded before it is sent, so a run never spends past its ceiling
 * by the answers of agents already in flight.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { priceFor } from '../pricing';

/** Fewer affordable output tokens than this cannot carry an answer: the agent stops instead. */
export const MIN_AFFORDABLE_OUTPUT_TOKENS = 16;

/** Formatting the API adds around messages, tools and the system prompt, plus a last-turn reminder. */
const REQUEST_OVERHEAD_TOKENS = 256;

/** What the next call will send, for bounding its input. */
export interface NextCall {
  system: string;
  tools: Anthropic.ToolUnion[];
  messages: Anthropic.MessageParam[];
  /** The whole input of the previous call plus its output, as the API counted them; null at first. */
  lastInputTokens: number | null;
}

/**
 * An upper bound on the next call's input tokens. The previous call's exact count covers the
 * conversation up to its answer; what came after it, or the whole request at first, is bounded by
 * its UTF-8 length, since a token of Claude's byte-level tokenizer is never shorter than a byte.
 */
export function inputTokensBound(call: NextCall): number {
  if (call.lastInputTokens === null) {
    return (
      utf8Length({ system: call.system, tools: call.tools, messages: call.messages }) +
      REQUEST_OVERHEAD_TOKENS
    );
  }
  let since = call.messages.length;
  while (since > 0 && call.messages[since - 1]?.role !== 'assistant') since--;
  return call.lastInputTokens + utf8Length(call.messages.slice(since)) + REQUEST_OVERHEAD_TOKENS;
}

/** A model call fitted to what is left of a cost allowance. */
export interface AffordableCall {
  /** The most output tokens the call may ask for. */
  outputTokens: number;
  /** The call's tools, web search `max_uses` lowered to what the allowance pays for. */
  tools: Anthropic.ToolUnion[];
}

/**
 * Fits the next call to `leftUsd`: its worst case prices every input token as a cache write of the
 * TTL asked for (dearer than a plain or cached read) and makes every web search its tools allow.
 * Searches may take at most a quarter of what the input leaves (never fewer than one, which the API's
 * `max_uses` needs), and the rest pays for output. Null when weft has no price for the model.
 */
export function affordableCall(
  model: string,
  leftUsd: number,
  inputTokens: number,
  tools: Anthropic.ToolUnion[],
  cacheTtl: '5m' | '1h',
): AffordableCall | null {
  const price = priceFor(model);
  if (!price) return null;
  const perInput = Math.max(price.input, cacheTtl === '1h' ? price.cacheWrite1h : price.cacheWrite5m) / 1e6;
  const perSearch = price.webSearchPer1k / 1000;
  let left = leftUsd - inputTokens * perInput;
  const fitted = tools.map((tool) => {
    if (!isWebSearch(tool)) return tool;
    // Without max_uses the API sets no bound of its own, so one is always sent here.
    const configured = tool.max_uses ?? Infinity;
    const searches = Math.max(1, Math.min(configured, Math.floor(left / 4 / perSearch)));
    left -= searches * perSearch;
    return searches === tool.max_uses ? tool : { ...tool, max_uses: searches };
  });
  const outputTokens = left <= 0 ? 0 : Math.floor(left / (price.output / 1e6));
  return { outputTokens, tools: fitted };
}

function isWebSearch(tool: Anthropic.ToolUnion): tool is Anthropic.WebSearchTool20250305 {
  return 'type' in tool && typeof tool.type === 'string' && tool.type.startsWith('web_search');
}

function utf8Length(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
