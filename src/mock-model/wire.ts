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
import type { Reply } from './conversation';

/** Characters per `input_json_delta` / `text_delta` chunk, so clients see real incremental parsing. */
const STREAM_CHUNK_CHARS = 24;
/** At most this many deltas per block: a 200 KB answer in 24-character pieces costs seconds of CPU. */
const MAX_STREAM_CHUNKS = 64;

/** The models `GET /v1/models` lists. */
export const MOCK_MODELS: readonly ModelInfo[] = [
  modelInfo('claude-sonnet-4-6', 'Claude Sonnet 4.6 (mock)', 'sonnet'),
  modelInfo('claude-opus-4-7', 'Claude Opus 4.7 (mock)', 'opus'),
  modelInfo('claude-haiku-4-5', 'Claude Haiku 4.5 (mock)', 'haiku'),
];

function modelInfo(id: string, displayName: string, line: ModelInfo['line']): ModelInfo {
  return {
    type: 'model',
    id,
    display_name: displayName,
    created_at: '2025-01-01T00:00:00Z',
    capabilities: null,
    deprecated_at: null,
    lifecycle: 'active',
    line,
    max_input_tokens: 200000,
    max_tokens: 64000,
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

function usage(inputTokens: number, outputTokens: number): Usage {
  return {
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    cache_creation: null,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    inference_geo: null,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: 'standard',
    speed: null,
  };
}

/** The content blocks of a reply, as a non-streaming response carries them. */
export function contentOf(reply: Reply): ContentBlock[] {
  if (reply.kind === 'text') return [{ type: 'text', text: reply.text, citations: null }];
  return [
    { type: 'tool_use', id: reply.id, name: reply.name, input: reply.input, caller: { type: 'direct' } },
  ];
}

function stopReasonOf(reply: Reply): StopReason {
  if (reply.kind === 'text') return reply.truncated ? 'max_tokens' : 'end_turn';
  return 'tool_use';
}

/** The body of a non-streaming `POST /v1/messages` answer. */
export function messageBody(
  id: string,
  model: string,
  reply: Reply,
  inputTokens: number,
  outputTokens: number,
): Message {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: contentOf(reply),
    stop_reason: stopReasonOf(reply),
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: usage(inputTokens, outputTokens),
  };
}

/**
 * The server-sent events of a streaming answer, in the order the API sends them: message_start,
 * content_block_start, content_block_delta..., content_block_stop, message_delta, message_stop.
 */
export function streamEvents(
  id: string,
  model: string,
  reply: Reply,
  inputTokens: number,
  outputTokens: number,
): RawMessageStreamEvent[] {
  const start: Message = {
    ...messageBody(id, model, reply, inputTokens, 1),
    content: [],
    stop_reason: null,
  };
  const events: RawMessageStreamEvent[] = [{ type: 'message_start', message: start }];
  if (reply.kind === 'text') {
    events.push({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '', citations: null },
    });
    for (const piece of chunks(reply.text)) {
      events.push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } });
    }
  } else {
    events.push({
      type: 'content_block_start',
      index: 0,
      content_block: {
        type: 'tool_use',
        id: reply.id,
        name: reply.name,
        input: {},
        caller: { type: 'direct' },
      },
    });
    for (const piece of chunks(JSON.stringify(reply.input))) {
      events.push({
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'input_json_delta', partial_json: piece },
      });
    }
  }
  events.push({ type: 'content_block_stop', index: 0 });
  events.push({
    type: 'message_delta',
    delta: { stop_reason: stopReasonOf(reply), stop_sequence: null, stop_details: null, container: null },
    usage: {
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens_details: null,
      server_tool_use: null,
    },
  });
  events.push({ type: 'message_stop' });
  return events;
}

/** One event in SSE framing. */
export function sseFrame(event: { type: string }): string {
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
