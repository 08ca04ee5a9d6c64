import type Anthropic from '@anthropic-ai/sdk';
import type { ModelCapabilities, ModelInfo } from '@anthropic-ai/sdk/resources/models';

/** What the agent loop needs to know about a model: its limits and what it can do. */
export interface ModelLimits {
  /** Largest `max_tokens` the model accepts; thinking shares it. */
  maxOutputTokens: number;
  /** Input tokens the model reads at most. */
  contextWindow: number;
  /** The API's capability list; null when the Models API did not answer. */
  capabilities: ModelCapabilities | null;
  /** Where the figures came from. */
  source: 'models-api' | 'built-in';
}

/**
 * Limits by model line, for when the Models API cannot be asked (a proxy without `/v1/models`, or
 * an id it does not list). Figures are Anthropic's published ones for the current models of each
 * line; the Models API's own answer always wins.
 */
const BUILT_IN: Array<[RegExp, { maxOutputTokens: number; contextWindow: number }]> = [
  [/fable|mythos/, { maxOutputTokens: 128_000, contextWindow: 1_000_000 }],
  [/opus-4-[01]\b|opus-4$|opus-4-2025/, { maxOutputTokens: 32_000, contextWindow: 200_000 }],
  [/opus-4-5/, { maxOutputTokens: 64_000, contextWindow: 200_000 }],
  [/opus/, { maxOutputTokens: 128_000, contextWindow: 1_000_000 }],
  [/sonnet-4-5|sonnet-4-2025|sonnet-4$/, { maxOutputTokens: 64_000, contextWindow: 200_000 }],
  [/sonnet/, { maxOutputTokens: 64_000, contextWindow: 1_000_000 }],
  [/haiku-3/, { maxOutputTokens: 4_096, contextWindow: 200_000 }],
  [/haiku/, { maxOutputTokens: 64_000, contextWindow: 200_000 }],
];
const UNKNOWN = { maxOutputTokens: 32_000, contextWindow: 200_000 };

const cache = new Map<string, Promise<ModelLimits>>();

/** The built-in limits of a model id. */
export function builtInLimits(model: string): ModelLimits {
  const figures = BUILT_IN.find(([pattern]) => pattern.test(model))?.[1] ?? UNKNOWN;
  return { ...figures, capabilities: null, source: 'built-in' };
}

/** Limits from a Models API entry, the built-in figures filling what it leaves out. */
export function limitsFromInfo(info: ModelInfo): ModelLimits {
  const fallback = builtInLimits(info.id);
  return {
    maxOutputTokens: info.max_tokens ?? fallback.maxOutputTokens,
    contextWindow: info.max_input_tokens ?? fallback.contextWindow,
    capabilities: info.capabilities ?? null,
    source: 'models-api',
  };
}

/**
 * A model's limits and capabilities, asked once per worker and base URL from the Models API
 * (`GET /v1/models/{id}`), else the built-in table.
 */
export function modelLimits(client: Anthropic, model: string, signal?: AbortSignal): Promise<ModelLimits> {
  const key = `${client.baseURL}\u0000${model}`;
  let found = cache.get(key);
  if (!found) {
    found = client.models
      .retrieve(model, {}, { maxRetries: 1, timeout: 10_000, ...(signal ? { signal } : {}) })
      .then(limitsFromInfo, () => {
        // A failed lookup is not remembered, so a passing outage does not pin the fallback.
        cache.delete(key);
        return builtInLimits(model);
      });
    cache.set(key, found);
  }
  return found;
}

/** Whether thinking is on for a request that leaves `thinking` out, on this model. */
export function thinksByDefault(limits: ModelLimits): boolean {
  // A model that refuses `thinking: disabled` always thinks; others think only when asked.
  return limits.capabilities?.thinking?.types?.disabled?.supported === false;
}

/** Whether a model can be told not to think. */
export function canDisableThinking(limits: ModelLimits): boolean {
  return limits.capabilities?.thinking?.types?.disabled?.supported !== false;
}

/** Whether the model supports strict tools and native structured outputs. */
export function supportsStructuredOutputs(limits: ModelLimits): boolean {
  return limits.capabilities?.structured_outputs?.supported === true;
}

/** The current model of each line, for Claude Code's aliases. */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {
  sonnet: 'claude-sonnet-4-6',
  opus: 'claude-opus-4-7',
  haiku: 'claude-haiku-4-5',
  // Claude Code plans with Opus and executes with Sonnet; an agent only executes.
  opusplan: 'claude-sonnet-4-6',
  best: 'claude-opus-4-7',
};

/**
 * A model name as Claude Code resolves it: `sonnet`, `opus`, `haiku`, `opusplan`, `best`,
 * `default` (the given default), and a `[1m]` suffix (the 1M-token context, which current models
 * have by default) dropped; any other name passes through.
 */
export function resolveModelAlias(name: string, defaultModel: string): string {
  const trimmed = name.trim();
  const base = trimmed.replace(/\[1m\]$/i, '');
  const lower = base.toLowerCase();
  if (lower === 'default' || lower === '') return defaultModel;
  return MODEL_ALIASES[lower] ?? base;
}
