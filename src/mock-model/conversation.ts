/**
 * Reading a Messages API request and deciding what the mock model answers. Everything here is a
 * pure function of the request and its directives, except the server's per-conversation error
 * counters, which live in server.ts because failed requests leave no trace in the conversation.
 */
import { createHash } from 'node:crypto';
import type { Directives } from './directives';
import { stripDirectives } from './directives';
import { corruptForSchema, generateFromSchema } from './schema-data';

/** The tool weft offers when `agent()` was given a schema (S202). */
export const STRUCTURED_OUTPUT_TOOL = 'StructuredOutput';

/** A content block as a client sent it; only the fields the mock reads are typed. */
export interface WireBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: unknown;
  is_error?: boolean;
}

/** One entry of `messages`. */
export interface WireMessage {
  role: 'user' | 'assistant';
  content: string | WireBlock[];
}

/** A tool definition from `tools`. */
export interface WireTool {
  name: string;
  input_schema?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** The body of `POST /v1/messages`, after {@link parseMessagesRequest} checked it. */
export interface MessagesRequest {
  model: string;
  max_tokens: number;
  messages: WireMessage[];
  system?: string | WireBlock[];
  tools?: WireTool[];
  tool_choice?: { type: string; name?: string };
  stream?: boolean;
}

/** A tool result the client sent back, with its content flattened to text for easy assertions. */
export interface ToolResultRecord {
  tool_use_id: string;
  content: string;
  is_error: boolean;
}

/** What the model says this turn. */
export type Reply =
  /** `truncated`: the answer hit the request's max_tokens, as a real model's would. */
  | { kind: 'text'; text: string; truncated?: boolean }
  | { kind: 'tool_use'; id: string; name: string; input: unknown; valid: boolean | null };

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

/** Assistant messages so far: the turn number of the answer being asked for. */
export function turnOf(req: MessagesRequest): number {
  return req.messages.filter((m) => m.role === 'assistant').length;
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
      else if (b?.type === 'tool_use') chars += (b.name ?? '').length + JSON.stringify(b.input ?? {}).length;
      else if (b?.type === 'tool_result') chars += contentText(b.content).length;
    }
  }
  if (req.tools) chars += JSON.stringify(req.tools).length;
  return Math.max(1, Math.ceil(chars / 4));
}

/** Approximate output tokens of a reply: a quarter of its characters. */
export function estimateOutputTokens(reply: Reply): number {
  const chars =
    reply.kind === 'text' ? reply.text.length : reply.name.length + JSON.stringify(reply.input).length;
  return Math.max(1, Math.ceil(chars / 4));
}

/**
 * Decides this turn's answer. The plan of a conversation is: one turn per `tool` directive, in
 * order; then, when `StructuredOutput` is offered, `prose` turns of prose, then `invalid` invalid
 * attempts, then valid ones; without it, a text answer. Progress is read from the conversation
 * itself (its assistant messages), so the plan survives the client retrying a turn.
 */
export function planReply(req: MessagesRequest, directives: Directives, key: string): Reply {
  const prompt = firstUserText(req);
  const assistants = req.messages.filter((m) => m.role === 'assistant');
  const turn = assistants.length;
  const choice = req.tool_choice?.type;

  if (turn < directives.tools.length && choice !== 'none') {
    const tool = directives.tools[turn];
    if (tool) {
      return { kind: 'tool_use', id: toolUseId(key, turn), name: tool.name, input: tool.input, valid: null };
    }
  }

  const structured = req.tools?.find((t) => t.name === STRUCTURED_OUTPUT_TOOL);
  if (!structured || choice === 'none') return { kind: 'text', text: finalText(prompt, directives) };

  // Only the turns after the tool directives count towards prose and invalid attempts.
  const finalTurns = assistants.slice(directives.tools.length);
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
  if (accepted) return { kind: 'text', text: 'Done.' };

  const forced = choice === 'any' || (choice === 'tool' && req.tool_choice?.name === STRUCTURED_OUTPUT_TOOL);
  if (!forced && proseTurns < directives.prose) {
    return { kind: 'text', text: `Here is my answer in prose rather than a tool call: ${excerpt(prompt)}` };
  }

  const schema = structured.input_schema ?? { type: 'object' };
  const id = toolUseId(key, turn);
  if (attempts < directives.invalid) {
    const base = directives.json ? directives.json.value : generateFromSchema(schema, prompt);
    return {
      kind: 'tool_use',
      id,
      name: STRUCTURED_OUTPUT_TOOL,
      input: corruptForSchema(schema, base),
      valid: false,
    };
  }
  if (directives.json) {
    return { kind: 'tool_use', id, name: STRUCTURED_OUTPUT_TOOL, input: directives.json.value, valid: true };
  }
  // Later valid attempts (the client rejected an earlier one) get fresh data rather than a repeat.
  const validIndex = attempts - directives.invalid;
  const seed = validIndex === 0 ? prompt : `${prompt}#${validIndex}`;
  return {
    kind: 'tool_use',
    id,
    name: STRUCTURED_OUTPUT_TOOL,
    input: generateFromSchema(schema, seed),
    valid: true,
  };
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
