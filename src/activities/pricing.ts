import type { TokenUsage } from '../types';

/** US dollars per million tokens. */
interface Price {
  input: number;
  output: number;
}

// Published list prices by model family; a model not listed is priced by its family name, and an
// unknown family by the sonnet tier, so costs are estimates rather than invoices.
const FAMILY_PRICES: Array<[RegExp, Price]> = [
  [/opus-4-[01]|opus-4$|claude-3-opus/, { input: 15, output: 75 }],
  [/opus/, { input: 5, output: 25 }],
  [/haiku-3/, { input: 0.25, output: 1.25 }],
  [/haiku/, { input: 1, output: 5 }],
  [/sonnet/, { input: 3, output: 15 }],
];
const FALLBACK: Price = { input: 3, output: 15 };

/** Prompt-cache writes and reads, as multiples of the input price. */
const CACHE_WRITE_FACTOR = 1.25;
const CACHE_READ_FACTOR = 0.1;

/** The price weft assumes for a model. */
export function priceFor(model: string): Price {
  return FAMILY_PRICES.find(([pattern]) => pattern.test(model))?.[1] ?? FALLBACK;
}

/** Estimated cost of a usage in US dollars (S406). */
export function costOf(model: string, usage: TokenUsage): number {
  const price = priceFor(model);
  return (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000;
}

/** The usage block of one Messages API answer. */
export interface MessageUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/**
 * Tokens and estimated cost of one model answer. Input tokens count everything the model read,
 * cached or not; the cost prices cache writes and reads at their own rates.
 */
export function turnCost(model: string, usage: MessageUsage): { usage: TokenUsage; costUsd: number } {
  const price = priceFor(model);
  const written = usage.cache_creation_input_tokens ?? 0;
  const read = usage.cache_read_input_tokens ?? 0;
  return {
    usage: { inputTokens: usage.input_tokens + written + read, outputTokens: usage.output_tokens },
    costUsd:
      (usage.input_tokens * price.input +
        written * price.input * CACHE_WRITE_FACTOR +
        read * price.input * CACHE_READ_FACTOR +
        usage.output_tokens * price.output) /
      1_000_000,
  };
}
