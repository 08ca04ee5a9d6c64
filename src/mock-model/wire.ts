/**
 * The mock's answers in the exact wire shapes of the Anthropic Messages API. The SDK's own types
 * are used for every body, so a field the SDK starts to require shows up as a compile error here
 * rather than as a subtle parse failure in a test.
 */
import type {
  ContentBlock,
  Message,
  RawMessageStreamEvent,
  StopReason,
  Usage,
} from '@anthropic-ai/sdk/resources/messages';
import type { ModelInfo } from '@anthropic-ai/sdk/resources/models';
import type { ErrorType } from '@anthropic-ai/sdk/resources/shared';
import type { Reply } from './wire-types';

/** Characters per `input_json_delta` / `text_delta` chunk, so clients see real incremental parsing. */
const STREAM_CHUNK_CHARS = 24;
/** At most this many deltas per block: a 200 KB answer in 24-character pieces costs seconds of CPU. */
const MAX_STREAM_CHUNKS = 64;

const yes = { supported: true };
const no = { supported: false };

/** What the mock knows of a model beyond its `ModelInfo`. */
export interface MockModelTraits {
  /** Thinks even when a request leaves `thinking` out, and refuses `thinking: disabled`. */
  alwaysThinks: boolean;
  /** Fewest tokens a cache breakpoint's prefix needs before the API caches it. */
  minCacheableTokens: number;
}

/** The models `GET /v1/models` lists, with their limits and capabilities. */
export const MOCK_MODELS: readonly ModelInfo[] = [
  modelInfo('claude-sonnet-4-6', 'Claude Sonnet 4.6 (mock)', 'sonnet', 1_000_000, 64_000),
  modelInfo('claude-opus-4-7', 'Claude Opus 4.7 (mock)', 'opus', 1_000_000, 128_000),
  modelInfo('claude-haiku-4-5', 'Claude Haiku 4.5 (mock)', 'haiku', 200_000, 64_000),
  modelInfo('claude-fable-5', 'Claude Fable 5 (mock)', 'fable', 1_000_000, 128_000, { alwaysThinks: true }),
];

const TRAITS: Record<string, MockModelTraits> = {
  'claude-sonnet-4-6': { alwaysThinks: false, minCacheableTokens: 2048 },
  'claude-opus-4-7': { alwaysThinks: false, minCacheableTokens: 4096 },
  'claude-haiku-4-5': { alwaysThinks: false, minCacheableTokens: 4096 },
  'claude-fable-5': { alwaysThinks: true, minCacheableTokens: 4096 },
};

/** The traits of a model id; a model the mock does not list behaves like Sonnet. */
export function traitsOf(model: string): MockModelTraits {
  return TRAITS[model] ?? { alwaysThinks: false, minCacheableTokens: 1024 };
}

/** The catalogue entry of a model id, if the mock lists it. */
export function mockModelInfo(model: string): ModelInfo | undefined {
  return MOCK_MODELS.find((m) => m.id === model);
}

function modelInfo(
  id: string,
  displayName: string,
  line: ModelInfo['line'],
  maxInput: number,
  maxOutput: number,
  options: { alwaysThinks?: boolean } = {},
): ModelInfo {
  return {
    type: 'model',
    id,
    display_name: displayName,
    created_at: '2025-01-01T00:00:00Z',
    capabilities: {
      batch: yes,
      citations: yes,
      code_execution: yes,
      context_management: {
        supported: true,
        clear_thinking_20251015: yes,
        clear_tool_uses_20250919: yes,
        compact_20260112: yes,
      },
      effort: { supported: true, low: yes, medium: yes, high: yes, max: yes, xhigh: null },
      image_input: yes,
      pdf_input: yes,
      server_tools: { supported: true, code_execution: yes, web_search: yes },
      structured_outputs: yes,
      thinking: {
        supported: true,
        types: {
          adaptive: yes,
          between_tools: yes,
          disabled: options.alwaysThinks ? no : yes,
          enabled: options.alwaysThinks ? no : yes,
        },
      },
    },
    deprecated_at: null,
    lifecycle: 'active',
    line,
    max_input_tokens: maxInput,
    max_tokens: maxOutput,
    retires_at: null,
  };
}

/** The Anthropic error type that goes with an HTTP status. */
export function errorTypeFor(status: number): ErrorType {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 408:
    case 504:
      return 'timeout_error';
    case 409:
      return 'conflict_error';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** The error body the API sends with every non-2xx status. */
export function errorBody(
  status: number,
  message: string,
  requestId: string,
): { type: 'error'; error: { type: ErrorType; message: string }; request_id: string } {
  return { type: 'error', error: { type: errorTypeFor(status), message }, request_id: requestId };
}

/** Token counts of one answer, as the server measured them. */
export interface AnswerUsage {
  /** Input tokens read uncached. */
  input: number;
  output: number;
  /** Input tokens written to the prompt cache, by TTL. */
  cacheWrite5m: number;
  cacheWrite1h: number;
  /** Input tokens read from the prompt cache. */
  cacheRead: number;
  /** Extra fields a scripted turn reports, e.g. `server_tool_use`. */
  extra?: Record<string, unknown> | null;
}

/** Usage counts with every cache and server-tool field at zero. */
export function plainUsage(input: number, output: number): AnswerUsage {
  return { input, output, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };
}

function usage(u: AnswerUsage, outputTokens = u.output): Usage {
  return {
    input_tokens: u.input,
    output_tokens: outputTokens,
    cache_creation: { ephemeral_5m_input_tokens: u.cacheWrite5m, ephemeral_1h_input_tokens: u.cacheWrite1h },
    cache_creation_input_tokens: u.cacheWrite5m + u.cacheWrite1h,
    cache_read_input_tokens: u.cacheRead,
    inference_geo: null,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: 'standard',
    speed: null,
    ...(u.extra ?? {}),
  } as Usage;
}

/**
 * Name of the internal field that marks a block cut by max_tokens: the JSON text streamed so far.
 * It never goes on the wire.
 */
export const PARTIAL_JSON = '__partial_json';

/** The content blocks of a reply, as a non-streaming response carries them. */
export function contentOf(reply: Reply): ContentBlock[] {
  return reply.blocks.map((block) => {
    if (!(PARTIAL_JSON in block)) return block as unknown as ContentBlock;
    // A cut tool call in a non-streaming answer: the input is what could be parsed, here nothing.
    const { [PARTIAL_JSON]: _partial, ...rest } = block;
    return { ...rest, input: {} } as unknown as ContentBlock;
  });
}

/** The body of a non-streaming `POST /v1/messages` answer. */
export function messageBody(id: string, model: string, reply: Reply, u: AnswerUsage): Message {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: contentOf(reply),
    stop_reason: reply.stopReason as StopReason,
    stop_sequence: null,
    stop_details: reply.stopDetails as Message['stop_details'],
    container: null,
    diagnostics: null,
    usage: usage(u),
  };
}

/**
 * The server-sent events of a streaming answer, in the order the API sends them: message_start,
 * then per block content_block_start, its deltas and content_block_stop (a ping after the first
 * block's start), then message_delta and message_stop.
 */
export function streamEvents(
  id: string,
  model: string,
  reply: Reply,
  u: AnswerUsage,
): RawMessageStreamEvent[] {
  const start: Message = {
    ...messageBody(id, model, reply, u),
    content: [],
    stop_reason: null,
    stop_details: null,
    usage: usage(u, 1),
  };
  const ping = { type: 'ping' } as unknown as RawMessageStreamEvent;
  const events: RawMessageStreamEvent[] = [{ type: 'message_start', message: start }];
  reply.blocks.forEach((block, index) => {
    const [blockStart, ...rest] = blockEvents(block, index);
    if (blockStart) events.push(blockStart);
    // The API's keep-alive comes after the first block's start, as its own streams show.
    if (index === 0) events.push(ping);
    events.push(...rest);
  });
  if (reply.blocks.length === 0) events.push(ping);
  const final = usage(u);
  events.push({
    type: 'message_delta',
    delta: {
      stop_reason: reply.stopReason as StopReason,
      stop_sequence: null,
      stop_details: reply.stopDetails as Message['stop_details'],
      container: null,
    },
    usage: {
      input_tokens: final.input_tokens,
      output_tokens: final.output_tokens,
      cache_creation_input_tokens: final.cache_creation_input_tokens,
      cache_read_input_tokens: final.cache_read_input_tokens,
      output_tokens_details: null,
      server_tool_use: final.server_tool_use,
    },
  });
  events.push({ type: 'message_stop' });
  return events;
}

/** The events of one content block: a start with the block emptied, its deltas, a stop. */
function blockEvents(block: Record<string, unknown>, index: number): RawMessageStreamEvent[] {
  const out: unknown[] = [];
  const type = block.type;
  if (type === 'text') {
    const citations = Array.isArray(block.citations) ? (block.citations as unknown[]) : null;
    out.push({
      type: 'content_block_start',
      index,
      content_block: { type: 'text', text: '', citations: null },
    });
    for (const piece of chunks(String(block.text ?? ''))) {
      out.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
    }
    for (const citation of citations ?? []) {
      out.push({ type: 'content_block_delta', index, delta: { type: 'citations_delta', citation } });
    }
  } else if (type === 'thinking') {
    out.push({
      type: 'content_block_start',
      index,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    });
    for (const piece of chunks(String(block.thinking ?? ''))) {
      out.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: piece } });
    }
    out.push({
      type: 'content_block_delta',
      index,
      delta: { type: 'signature_delta', signature: String(block.signature ?? '') },
    });
  } else if (type === 'tool_use' || type === 'server_tool_use') {
    const { [PARTIAL_JSON]: partial, ...rest } = block;
    out.push({ type: 'content_block_start', index, content_block: { ...rest, input: {} } });
    const json = typeof partial === 'string' ? partial : JSON.stringify(block.input ?? {});
    for (const piece of chunks(json)) {
      out.push({
        type: 'content_block_delta',
        index,
        delta: { type: 'input_json_delta', partial_json: piece },
      });
    }
  } else {
    // Server tool results and redacted thinking arrive whole in their start event.
    out.push({ type: 'content_block_start', index, content_block: block });
  }
  out.push({ type: 'content_block_stop', index });
  return out as RawMessageStreamEvent[];
}

/** One event in SSE framing. */
export function sseFrame(event: object & { type: string }): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Splits on code points, so no chunk ends inside a surrogate pair. */
function chunks(text: string): string[] {
  const points = Array.from(text);
  const size = Math.max(STREAM_CHUNK_CHARS, Math.ceil(points.length / MAX_STREAM_CHUNKS));
  const out: string[] = [];
  for (let i = 0; i < points.length; i += size) {
    out.push(points.slice(i, i + size).join(''));
  }
  return out;
}
