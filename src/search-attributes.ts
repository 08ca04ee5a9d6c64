/**
 * weft's custom search attributes (S503): what a run publishes to Temporal's visibility store, so
 * runs can be filtered in the Web UI and by `weft list` without asking each run a query.
 *
 * This file holds types and constants only, with no imports that run, so workflow code may use it.
 * The keys are plain `{ name, type }` objects, which is what `upsertSearchAttributes` and the
 * client's `typedSearchAttributes` take, so neither side needs `defineSearchAttributeKey`.
 */
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';

/** A search attribute type as `temporal server start-dev --search-attribute NAME=Type` spells it. */
export type SearchAttributeTypeLabel =
  'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

/** The phase the run is in: the last phase entered, e.g. `Verify` (Keyword). */
export const WEFT_PHASE: SearchAttributeKey<'KEYWORD'> = { name: 'WeftPhase', type: 'KEYWORD' };

/** Agents the run has started so far (Int). */
export const WEFT_AGENTS: SearchAttributeKey<'INT'> = { name: 'WeftAgents', type: 'INT' };

/** Agents that ended failed (Int). */
export const WEFT_FAILED_AGENTS: SearchAttributeKey<'INT'> = { name: 'WeftFailedAgents', type: 'INT' };

/** Output tokens spent by the run so far, nested workflows included (Int). */
export const WEFT_OUTPUT_TOKENS: SearchAttributeKey<'INT'> = { name: 'WeftOutputTokens', type: 'INT' };

/** Estimated spend in US dollars so far (Double). */
export const WEFT_COST_USD: SearchAttributeKey<'DOUBLE'> = { name: 'WeftCostUsd', type: 'DOUBLE' };

/** Whether the run answers every agent from the built-in model (Bool). */
export const WEFT_DRY_RUN: SearchAttributeKey<'BOOL'> = { name: 'WeftDryRun', type: 'BOOL' };

/** Every weft search attribute key. */
export const WEFT_SEARCH_ATTRIBUTE_KEYS = [
  WEFT_PHASE,
  WEFT_AGENTS,
  WEFT_FAILED_AGENTS,
  WEFT_OUTPUT_TOKENS,
  WEFT_COST_USD,
  WEFT_DRY_RUN,
] as const;

const LABELS: Record<string, SearchAttributeTypeLabel> = {
  KEYWORD: 'Keyword',
  TEXT: 'Text',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/**
 * The attributes as the dev server's `searchAttributes` option takes them (`{ WeftPhase:
 * 'Keyword', ... }`); `ensureDevServer` registers them on start and adds missing ones to an
 * existing database.
 */
export const WEFT_SEARCH_ATTRIBUTES: Readonly<Record<string, SearchAttributeTypeLabel>> = Object.freeze(
  Object.fromEntries(WEFT_SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, LABELS[key.type] ?? 'Keyword'])),
);
