import type Anthropic from '@anthropic-ai/sdk';
import type { ValidationIssue } from '../../errors';
import type { CompactionRecord, TokenUsage } from '../../types';
import type { AgentWorktree } from './worktree';

/**
 * Largest checkpoint, serialized, that goes into heartbeat details. Temporal accepts payloads up
 * to 2 MiB but warns from 512 KiB, and every heartbeat carries the whole checkpoint; past this size
 * only the accounting is kept and a retry starts the conversation over.
 */
export const CHECKPOINT_MAX_BYTES = 256 * 1024;

/** Where an agent stands, saved in heartbeat details after every step (S405). */
export interface AgentCheckpoint {
  v: 1;
  /** When the agent's first attempt started, ms since the epoch. */
  startedAt: number;
  model: string;
  /** Model round trips so far. */
  turns: number;
  /** Model requests so far, retried ones included. */
  modelCalls: number;
  usage: TokenUsage;
  costUsd: number;
  schemaAttempts: number;
  lastIssues: ValidationIssue[];
  /**
   * The conversation after the last completed step. It ends with an assistant turn whose tool
   * calls have not run yet, or with the user turn that answers them. Null when it outgrew
   * {@link CHECKPOINT_MAX_BYTES}.
   */
  messages: Anthropic.MessageParam[] | null;
  worktree: AgentWorktree | null;
  /** The loop's own progress beyond the conversation (S801, S803); absent in older checkpoints. */
  loop?: LoopProgress;
}

/** What the loop tracks besides the conversation, so a resumed attempt carries on the same way. */
export interface LoopProgress {
  /** The last answer stopped with `pause_turn`: the model is asked to go on with no new message. */
  paused: boolean;
  /** Answers cut off at max_tokens so far. */
  cuts: number;
  /** Text of answers cut off at max_tokens and continued, which the final answer is appended to. */
  continuedText: string;
  compactions: CompactionRecord[];
  /** Whether any answer was priced at an unknown price. */
  costUnknown: boolean;
}

/** The checkpoint to send, with the conversation left out when it is too big to carry. */
export function fitCheckpoint(checkpoint: AgentCheckpoint, maxBytes = CHECKPOINT_MAX_BYTES): AgentCheckpoint {
  if (checkpoint.messages === null) return checkpoint;
  const size = Buffer.byteLength(JSON.stringify(checkpoint));
  return size <= maxBytes ? checkpoint : { ...checkpoint, messages: null };
}

function isNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** The checkpoint in a retried activity's heartbeat details, or null when there is none usable. */
export function readCheckpoint(details: unknown): AgentCheckpoint | null {
  if (typeof details !== 'object' || details === null) return null;
  const c = details as Partial<AgentCheckpoint>;
  if (c.v !== 1 || !isNumber(c.startedAt) || typeof c.model !== 'string' || !isNumber(c.turns)) return null;
  if (!c.usage || !isNumber(c.usage.inputTokens) || !isNumber(c.usage.outputTokens)) return null;
  if (c.messages !== null && !Array.isArray(c.messages)) return null;
  return {
    v: 1,
    startedAt: c.startedAt,
    model: c.model,
    turns: c.turns,
    modelCalls: isNumber(c.modelCalls) ? c.modelCalls : c.turns,
    usage: { ...c.usage },
    costUsd: isNumber(c.costUsd) ? c.costUsd : 0,
    schemaAttempts: isNumber(c.schemaAttempts) ? c.schemaAttempts : 0,
    lastIssues: Array.isArray(c.lastIssues) ? c.lastIssues : [],
    messages: c.messages ?? null,
    worktree: c.worktree ?? null,
    ...(typeof c.loop === 'object' && c.loop !== null ? { loop: c.loop } : {}),
  };
}
