/**
 * Context management (S803): an agent that reads big files would otherwise resend an ever longer
 * history until the API refuses it. Near the model's window, old tool results are cleared first,
 * as the API's own context editing (`clear_tool_uses`) does; when that is not enough, the middle
 * of the conversation is replaced by a summary the model writes. The task (the first message) and
 * the latest turns always stay.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { CompactionRecord } from '../../types';
import type { MessageUsage } from '../pricing';

/** Compaction starts when the next request would fill this share of the context window. */
export const COMPACT_AT = 0.75;
/** Clearing aims below this share, so it does not have to run again on the next turn. */
const CLEAR_TO = 0.5;
/** Tool results of this many latest user turns are never cleared. */
const KEEP_RECENT_RESULTS = 2;
/** Messages at the end that a summary never replaces. */
const KEEP_RECENT_MESSAGES = 4;
/** What a cleared tool result says instead. */
export const CLEARED_RESULT = '[tool result cleared to save context; call the tool again if you need it]';
/** The marker a summary message starts with; the mock model reads the turn count from it. */
export const SUMMARY_MARKER = 'compacted';

/** What compaction needs from the loop. */
export interface ContextState {
  window: number;
  client: Anthropic;
  model: string;
  signal: AbortSignal;
}

/** Rough tokens of a conversation: a quarter of its characters, images and documents by size. */
export function roughTokens(messages: Anthropic.MessageParam[]): number {
  let chars = 0;
  for (const m of messages) {
    if (typeof m.content === 'string') {
      chars += m.content.length;
      continue;
    }
    for (const b of m.content) chars += blockChars(b);
  }
  return Math.ceil(chars / 4);
}

function blockChars(b: Anthropic.ContentBlockParam): number {
  switch (b.type) {
    case 'text':
      return b.text.length;
    case 'tool_use':
      return b.name.length + JSON.stringify(b.input ?? {}).length;
    case 'tool_result':
      return typeof b.content === 'string'
        ? b.content.length
        : (b.content ?? []).reduce((n, c) => n + (c.type === 'text' ? c.text.length : 6400), 0);
    case 'thinking':
      return b.thinking.length;
    case 'image':
    case 'document':
      return 6400;
    default:
      return JSON.stringify(b).length;
  }
}

/**
 * Tokens the next request will carry: the API's own count of the last request plus what was
 * added since, else the rough count.
 */
export function estimateTokens(messages: Anthropic.MessageParam[], lastInputTokens: number | null): number {
  const rough = roughTokens(messages);
  if (lastInputTokens === null) return rough;
  // The last count covers the conversation up to the last answer; what came after is the newest
  // user message (tool results), counted roughly.
  const tail = messages[messages.length - 1];
  const added = tail?.role === 'user' ? roughTokens([tail]) : 0;
  return Math.max(rough, lastInputTokens + added);
}

/** Whether the next request, with room for its answer, would pass the compaction threshold. */
export function needsCompaction(
  messages: Anthropic.MessageParam[],
  lastInputTokens: number | null,
  maxTokens: number,
  window: number,
): boolean {
  const answerRoom = Math.min(maxTokens, window * 0.2);
  return estimateTokens(messages, lastInputTokens) + answerRoom > window * COMPACT_AT;
}

/** What one compaction did. */
export interface CompactionOutcome {
  messages: Anthropic.MessageParam[];
  steps: Array<Omit<CompactionRecord, 'turn' | 'trigger'>>;
  /** Usage of the summary call, when there was one. */
  summaryUsage: MessageUsage | null;
}

/**
 * Compacts a conversation: clears old tool results, then, if that leaves it over the threshold
 * (or `force` asks for a sure cut, after the API refused the size), summarises the middle.
 */
export async function compactConversation(
  messages: Anthropic.MessageParam[],
  context: ContextState,
  options: { force: boolean; estimate: number },
): Promise<CompactionOutcome> {
  const steps: CompactionOutcome['steps'] = [];
  let current = messages;
  let before = options.estimate;
  const cleared = clearOldToolResults(current, context.window * CLEAR_TO, before);
  if (cleared.count > 0) {
    const after = roughTokens(cleared.messages);
    steps.push({ kind: 'clear-tool-results', tokensBefore: before, tokensAfter: after });
    current = cleared.messages;
    before = after;
  }
  const stillOver =
    before > context.window * (options.force ? CLEAR_TO : COMPACT_AT) ||
    (options.force && cleared.count === 0);
  if (!stillOver) return { messages: current, steps, summaryUsage: null };
  const summarised = await summariseMiddle(current, context);
  if (!summarised) return { messages: current, steps, summaryUsage: null };
  const after = roughTokens(summarised.messages);
  steps.push({ kind: 'summary', tokensBefore: before, tokensAfter: after });
  return { messages: summarised.messages, steps, summaryUsage: summarised.usage };
}

/**
 * Replaces the content of old tool results, oldest first, until the conversation is under
 * `target` tokens; the latest results stay. Calls and results stay paired, as the API requires.
 */
function clearOldToolResults(
  messages: Anthropic.MessageParam[],
  target: number,
  estimate: number,
): { messages: Anthropic.MessageParam[]; count: number } {
  const withResults = messages
    .map((m, i) => ({ m, i }))
    .filter(
      ({ m }) =>
        m.role === 'user' && typeof m.content !== 'string' && m.content.some((b) => b.type === 'tool_result'),
    )
    .map(({ i }) => i);
  const clearable = withResults.slice(0, Math.max(0, withResults.length - KEEP_RECENT_RESULTS));
  const out = [...messages];
  let tokens = estimate;
  let count = 0;
  for (const index of clearable) {
    if (tokens <= target) break;
    const message = out[index];
    if (!message || typeof message.content === 'string') continue;
    const content = message.content.map((b) => {
      if (b.type !== 'tool_result' || b.content === CLEARED_RESULT) return b;
      tokens -= Math.ceil(blockChars(b) / 4);
      count++;
      return { ...b, content: CLEARED_RESULT };
    });
    tokens += Math.ceil(CLEARED_RESULT.length / 4);
    out[index] = { ...message, content } as Anthropic.MessageParam;
  }
  return { messages: out, count };
}

/** The middle of the conversation as plain text for the summary call, long parts shortened. */
function transcript(messages: Anthropic.MessageParam[], maxChars: number): string {
  const lines: string[] = [];
  const cut = (text: string, n: number): string => (text.length > n ? `${text.slice(0, n)} […]` : text);
  for (const m of messages) {
    if (typeof m.content === 'string') {
      lines.push(`${m.role}: ${cut(m.content, 4000)}`);
      continue;
    }
    for (const b of m.content) {
      if (b.type === 'text') lines.push(`${m.role}: ${cut(b.text, 4000)}`);
      else if (b.type === 'tool_use') lines.push(`tool call ${b.name}: ${cut(JSON.stringify(b.input), 500)}`);
      else if (b.type === 'tool_result') {
        const text =
          typeof b.content === 'string'
            ? b.content
            : (b.content ?? []).map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join(' ');
        lines.push(`tool result${b.is_error ? ' (error)' : ''}: ${cut(text, 1000)}`);
      }
    }
  }
  const text = lines.join('\n');
  return text.length > maxChars ? `[…]\n${text.slice(text.length - maxChars)}` : text;
}

/**
 * Has the model summarise everything between the task and the latest turns, and puts the summary
 * in their place as a user message right after the task. The kept tail starts with an assistant
 * turn, so roles still alternate and every tool call keeps its result.
 */
async function summariseMiddle(
  messages: Anthropic.MessageParam[],
  context: ContextState,
): Promise<{ messages: Anthropic.MessageParam[]; usage: MessageUsage } | null> {
  let tailStart = Math.max(1, messages.length - KEEP_RECENT_MESSAGES);
  while (tailStart < messages.length && messages[tailStart]?.role !== 'assistant') tailStart++;
  // An earlier summary is part of the middle, so its content carries over.
  const middle = messages.slice(1, tailStart);
  if (middle.length === 0 || tailStart >= messages.length) return null;
  const turns =
    middle.filter((m) => m.role === 'assistant').length + middle.reduce((n, m) => n + summarisedTurns(m), 0);
  const response = await context.client.messages.create(
    {
      model: context.model,
      max_tokens: Math.max(256, Math.min(4096, Math.floor(context.window * 0.05))),
      system:
        'You condense the working notes of an AI agent so it can carry on its task with less context. Keep every fact, file path, finding, decision and open step it will need; drop what it no longer needs. Answer with the summary only.',
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'document',
              source: {
                type: 'text',
                media_type: 'text/plain',
                data: transcript(middle, Math.floor(context.window * 0.4 * 4)),
              },
              title: 'Agent transcript',
            },
            { type: 'text', text: 'Summarise the transcript above for the agent that continues this work.' },
          ],
        },
      ],
    },
    { signal: context.signal, maxRetries: 2 },
  );
  const summary = response.content
    .filter((b): b is Anthropic.TextBlock => b.type === 'text')
    .map((b) => b.text)
    .join('')
    .trim();
  const first = messages[0];
  if (!first) return null;
  const note: Anthropic.MessageParam = {
    role: 'user',
    content: `<${SUMMARY_MARKER} turns="${turns}">\nEarlier work on this task, summarised to save context:\n${summary || '(no summary)'}\n</${SUMMARY_MARKER}>`,
  };
  return { messages: [first, note, ...messages.slice(tailStart)], usage: response.usage };
}

function summarisedTurns(m: Anthropic.MessageParam): number {
  const text =
    typeof m.content === 'string'
      ? m.content
      : m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  const match = new RegExp(`^<${SUMMARY_MARKER} turns="(\\d+)">`).exec(text);
  return match?.[1] ? Number(match[1]) : 0;
}
