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

/** The price weft assumes for a model. */
export function priceFor(model: string): Price {
  return FAMILY_PRICES.find(([pattern]) => pattern.test(model))?.[1] ?? FALLBACK;
}

/** Estimated cost of a usage in US dollars (S406). */
export function costOf(model: string, usage: TokenUsage): number {
  const price = priceFor(model);
  return (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000;
}
