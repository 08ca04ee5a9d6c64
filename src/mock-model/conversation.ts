/**
 * Reading a Messages API request and deciding what the mock model answers. Everything here is a
 * pure function of the request and its directives, except the server's per-conversation error
 * counters, which live in server.ts because failed requests leave no trace in the conversation.
 */
import { createHash } from 'node:crypto';
import type { Directives, TurnDirective } from './directives';
import { stripDirectives } from './directives';
import { corruptForSchema, generateFromSchema, withDescribedConstraints } from './schema-data';
import { requestThinks } from './validate';
import { PARTIAL_JSON } from './wire';
import type {
  MessagesRequest,
  Reply,
  ResponseBlock,
  ToolResultRecord,
  WireBlock,
  WireMessage,
} from './wire-types';

/** The tool weft offers when `agent()` was given a schema (S202). */
export const STRUCTURED_OUTPUT_TOOL = 'StructuredOutput';

export type {
  MessagesRequest,
  Reply,
  ResponseBlock,
  ToolResultRecord,
  WireBlock,
  WireMessage,
  WireTool,
} from './wire-types';

function textReply(text: string, kind: Reply['kind'] = 'text', valid: boolean | null = null): Reply {
  return {
    kind,
    blocks: [{ type: 'text', text, citations: null }],
    stopReason: 'end_turn',
    stopDetails: null,
    structuredValid: valid,
    extraUsage: null,
  };
}

function toolReply(id: string, name: string, input: unknown, valid: boolean | null): Reply {
  return {
    kind: name === STRUCTURED_OUTPUT_TOOL ? 'structured' : 'tool_use',
    blocks: [{ type: 'tool_use', id, name, input, caller: { type: 'direct' } }],
    stopReason: 'tool_use',
    stopDetails: null,
    structuredValid: valid,
    extraUsage: null,
  };
}

/** A `[[mock:turn]]` as a reply: missing ids filled in, the stop reason inferred when not given. */
function scriptedReply(turn: TurnDirective, key: string, index: number): Reply {
  let n = 0;
  const blocks = turn.content.map((raw) => {
    const block = { ...raw } as ResponseBlock;
    if ((block.type === 'tool_use' || block.type === 'server_tool_use') && typeof block.id !== 'string') {
      block.id = `${block.type === 'tool_use' ? 'toolu' : 'srvtoolu'}_mock_${key}_${index}_${n++}`;
    }
    if (block.type === 'tool_use' && block.caller === undefined) block.caller = { type: 'direct' };
    if (block.type === 'text' && block.citations === undefined) block.citations = null;
    if (block.type === 'thinking' && typeof block.signature !== 'string')
      block.signature = mockSignature(key, index);
    return block;
  });
  const hasToolUse = blocks.some((b) => b.type === 'tool_use');
  const lastBlock = blocks[blocks.length - 1];
  if (
    turn.stop_reason === 'max_tokens' &&
    (lastBlock?.type === 'tool_use' || lastBlock?.type === 'server_tool_use')
  ) {
    // A scripted cut: the last call's JSON stops halfway, as a real cut stream's does.
    const json = JSON.stringify(lastBlock.input ?? {});
    lastBlock[PARTIAL_JSON] = json.slice(0, Math.max(1, Math.floor(json.length / 2)));
  }
  return {
    kind: hasToolUse ? 'tool_use' : 'text',
    blocks,
    stopReason: turn.stop_reason ?? (hasToolUse ? 'tool_use' : 'end_turn'),
    stopDetails: turn.stop_details ?? null,
    structuredValid: null,
    extraUsage: turn.usage ?? null,
  };
}

function mockSignature(key: string, index: number): string {
  return Buffer.from(`mock-signature:${key}:${index}`).toString('base64');
}

/** Whether the request turns thinking on (manual or adaptive). */
export function thinkingOn(req: MessagesRequest): boolean {
  const type = req.thinking?.type;
  return type === 'enabled' || type === 'adaptive' || type === 'between_tools';
}

/**
 * Checks the few fields every request needs, the way the real API's 400s do.
 *
 * @returns the typed request, or the `invalid_request_error` message.
 */
export function parseMessagesRequest(body: unknown): MessagesRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'request body must be a JSON object';
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') return 'model: field required';
  if (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens) || b.max_tokens < 1) {
    return 'max_tokens: field required (a positive integer)';
  }
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    return 'messages: at least one message is required';
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    const msg = m as Record<string, unknown> | null;
    if (typeof msg !== 'object' || msg === null) return `messages.${i}: must be an object`;
    if (msg.role !== 'user' && msg.role !== 'assistant')
      return `messages.${i}.role: must be "user" or "assistant"`;
    if (typeof msg.content !== 'string' && !Array.isArray(msg.content)) {
      return `messages.${i}.content: must be a string or an array of content blocks`;
    }
  }
  if (b.tools !== undefined) {
    if (!Array.isArray(b.tools)) return 'tools: must be an array';
    for (const [i, t] of (b.tools as unknown[]).entries()) {
      if (typeof (t as Record<string, unknown> | null)?.name !== 'string')
        return `tools.${i}.name: field required`;
    }
  }
  return b as unknown as MessagesRequest;
}

/** Text of a `content` value: the string itself, or its text blocks joined by newlines. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((b): b is WireBlock => typeof b === 'object' && b !== null && (b as WireBlock).type === 'text')
    .map((b) => b.text ?? '')
    .join('\n');
}

/** The first user message's text: where directives live. */
export function firstUserText(req: MessagesRequest): string {
  const first = req.messages.find((m) => m.role === 'user');
  return first ? contentText(first.content) : '';
}

/** The system prompt as text. */
export function systemText(req: MessagesRequest): string {
  return req.system === undefined ? '' : contentText(req.system);
}

/**
 * Identifies a conversation across its turns and retries: the model is left out so a fallback to
 * another model keeps the same counters.
 */
export function conversationKey(system: string, prompt: string): string {
  return createHash('sha256').update(system).update('\u0000').update(prompt).digest('hex').slice(0, 16);
}

/**
 * Assistant messages so far: the turn number of the answer being asked for. A client that
 * compacted its history says how many turns a summary stands for with a user text starting
 * `<compacted turns="N">` (weft does); those count too, as a model reading the summary would
 * know where it is.
 */
export function turnOf(req: MessagesRequest): number {
  return req.messages.filter((m) => m.role === 'assistant').length + compactedTurns(req);
}

/** Turns that compaction summaries in the conversation stand for. */
export function compactedTurns(req: MessagesRequest): number {
  let n = 0;
  for (const m of req.messages) {
    if (m.role !== 'user') continue;
    const match = /^<compacted turns="(\d+)">/.exec(contentText(m.content));
    if (match?.[1]) n += Number(match[1]);
  }
  return n;
}

/** The tool results carried by the last user message. */
export function lastToolResults(req: MessagesRequest): ToolResultRecord[] {
  const last = [...req.messages].reverse().find((m) => m.role === 'user');
  if (!last || typeof last.content === 'string') return [];
  return last.content
    .filter((b) => b?.type === 'tool_result')
    .map((b) => ({
      tool_use_id: b.tool_use_id ?? '',
      content: contentText(b.content),
      is_error: b.is_error === true,
    }));
}

/** Approximate input tokens: a quarter of the characters of everything the model would read. */
export function estimateInputTokens(req: MessagesRequest): number {
  let chars = systemText(req).length;
  for (const m of req.messages) {
    if (typeof m.content === 'string') {
      chars += m.content.length;
      continue;
    }
    for (const b of m.content) {
      if (b?.type === 'text') chars += (b.text ?? '').length;
      else if (b?.type === 'tool_use' || b?.type === 'server_tool_use')
        chars += (b.name ?? '').length + JSON.stringify(b.input ?? {}).length;
      else if (b?.type === 'tool_result') chars += contentText(b.content).length;
      else if (b?.type === 'thinking') chars += String((b as { thinking?: unknown }).thinking ?? '').length;
      else if (
        b?.type === 'document' &&
        typeof (b as { source?: { data?: unknown } }).source?.data === 'string'
      )
        chars += String((b as unknown as { source: { data: string } }).source.data).length;
      else if (b?.type === 'image' || b?.type === 'document') chars += 1600 * 4;
      else if (b?.type === 'web_search_tool_result') chars += JSON.stringify(b.content ?? '').length;
    }
  }
  if (req.tools) chars += JSON.stringify(req.tools).length;
  return Math.max(1, Math.ceil(chars / 4));
}

/** The characters a response block costs to write: its text, thinking or tool input. */
export function blockChars(block: ResponseBlock): number {
  if (block.type === 'text') return String(block.text ?? '').length;
  if (block.type === 'thinking') return String(block.thinking ?? '').length;
  if (block.type === 'tool_use' || block.type === 'server_tool_use') {
    return String(block.name ?? '').length + JSON.stringify(block.input ?? {}).length;
  }
  // Server tool results are written by the server, not the model.
  return 0;
}

/** Approximate output tokens of a reply: a quarter of its characters. */
export function estimateOutputTokens(reply: Reply): number {
  const chars = reply.blocks.reduce((sum, b) => sum + blockChars(b), 0);
  return Math.max(1, Math.ceil(chars / 4));
}

/**
 * Decides this turn's answer. The plan of a conversation is: one turn per `tool` directive, in
 * order; then, when `StructuredOutput` is offered, `prose` turns of prose, then `invalid` invalid
 * attempts, then valid ones; without it, a text answer. Progress is read from the conversation
 * itself (its assistant messages), so the plan survives the client retrying a turn.
 */
export function planReply(req: MessagesRequest, directives: Directives, key: string): Reply {
  const reply = planBareReply(req, directives, key);
  // A thinking model opens every answer with its (signed) reasoning; the client must send it back.
  if ((directives.thinking || requestThinks(req)) && !reply.blocks.some((b) => b.type === 'thinking')) {
    const turn = turnOf(req);
    reply.blocks.unshift({
      type: 'thinking',
      thinking: `Thinking about turn ${turn}.`,
      signature: mockSignature(key, turn),
    });
  }
  return reply;
}

function planBareReply(req: MessagesRequest, directives: Directives, key: string): Reply {
  const prompt = firstUserText(req);
  const assistants = req.messages.filter((m) => m.role === 'assistant');
  const compacted = compactedTurns(req);
  const turn = assistants.length + compacted;
  const choice = req.tool_choice?.type;
  const steps = directives.steps;

  if (turn < steps.length && choice !== 'none') {
    const step = steps[turn];
    if (step?.kind === 'tool') {
      const reply = toolReply(toolUseId(key, turn), step.tool.name, step.tool.input, null);
      if (directives.verbose > 0) {
        const words = `Turn ${turn}: working through the task step by step. `;
        const text = words.repeat(Math.ceil(directives.verbose / words.length)).slice(0, directives.verbose);
        reply.blocks.unshift({ type: 'text', text, citations: null });
      }
      return reply;
    }
    if (step?.kind === 'turn') return scriptedReply(step.turn, key, turn);
  }

  // Only the turns after the scripted ones count towards prose and invalid attempts.
  const finalTurns = assistants.slice(Math.max(0, steps.length - compacted));
  const format = req.output_config?.format;
  const structured = req.tools?.find((t) => t.name === STRUCTURED_OUTPUT_TOOL);
  if (!structured && format?.type === 'json_schema') {
    // Native structured output: the final text is JSON in the requested format. Constrained
    // decoding cannot write prose, so only `invalid` (a model that still gets it wrong) applies.
    const schema = format.schema ?? { type: 'object' };
    const attempts = finalTurns.length;
    if (attempts < directives.invalid) {
      const base = directives.json ? directives.json.value : generateFromSchema(schema, prompt);
      return textReply(JSON.stringify(corruptForSchema(schema, base)), 'structured', false);
    }
    const value = directives.json
      ? directives.json.value
      : generateFromSchema(schema, attempts === directives.invalid ? prompt : `${prompt}#${attempts}`);
    return textReply(JSON.stringify(value), 'structured', true);
  }
  if (!structured || choice === 'none') return textReply(finalText(prompt, directives));

  const structuredIds = new Set<string>();
  let attempts = 0;
  for (const m of finalTurns) {
    const calls = blocksOf(m).filter((b) => b.type === 'tool_use' && b.name === STRUCTURED_OUTPUT_TOOL);
    for (const c of calls) if (c.id) structuredIds.add(c.id);
    if (calls.length > 0) attempts++;
  }
  const proseTurns = finalTurns.length - attempts;

  // A client that acknowledges a valid StructuredOutput call and keeps the loop going gets a short
  // closing turn instead of a second object.
  const accepted = lastToolResults(req).some((r) => structuredIds.has(r.tool_use_id) && !r.is_error);
  if (accepted) return textReply('Done.');

  const forced = choice === 'any' || (choice === 'tool' && req.tool_choice?.name === STRUCTURED_OUTPUT_TOOL);
  if (!forced && proseTurns < directives.prose) {
    return textReply(`Here is my answer in prose rather than a tool call: ${excerpt(prompt)}`);
  }

  const schema = withDescribedConstraints(structured.input_schema ?? { type: 'object' });
  const id = toolUseId(key, turn);
  if (attempts < directives.invalid) {
    const base = directives.json ? directives.json.value : generateFromSchema(schema, prompt);
    return toolReply(id, STRUCTURED_OUTPUT_TOOL, corruptForSchema(schema, base), false);
  }
  if (directives.json) return toolReply(id, STRUCTURED_OUTPUT_TOOL, directives.json.value, true);
  // Later valid attempts (the client rejected an earlier one) get fresh data rather than a repeat.
  const validIndex = attempts - directives.invalid;
  const seed = validIndex === 0 ? prompt : `${prompt}#${validIndex}`;
  return toolReply(id, STRUCTURED_OUTPUT_TOOL, generateFromSchema(schema, seed), true);
}

function finalText(prompt: string, directives: Directives): string {
  if (directives.reply !== null) return directives.reply;
  if (directives.json) return JSON.stringify(directives.json.value);
  return `ok: ${excerpt(prompt)}`;
}

/** The first 60 characters of the prompt without its directives. */
function excerpt(prompt: string): string {
  return stripDirectives(prompt).slice(0, 60);
}

function blocksOf(m: WireMessage): WireBlock[] {
  return typeof m.content === 'string' ? [] : m.content.filter((b) => typeof b === 'object' && b !== null);
}

function toolUseId(key: string, turn: number): string {
  return `toolu_mock_${key}_${turn}`;
}
