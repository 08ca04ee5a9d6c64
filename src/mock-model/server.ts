/**
 * A local Anthropic-compatible HTTP server for tests, demos and benchmarks. The real
 * `@anthropic-ai/sdk` client talks to it through `ANTHROPIC_BASE_URL`, so everything between
 * weft's agent loop and the network is exercised exactly as in production. What it answers is
 * steered by `[[mock:...]]` directives in the prompt (see directives.ts and README.md).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ContentBlock } from '@anthropic-ai/sdk/resources/messages';
import type { MessagesRequest, Reply, ResponseBlock, ToolResultRecord } from './conversation';
import type { WireTool } from './wire-types';
import {
  blockChars,
  conversationKey,
  estimateInputTokens,
  estimateOutputTokens,
  firstUserText,
  lastToolResults,
  parseMessagesRequest,
  planReply,
  systemText,
  turnOf,
} from './conversation';
import type { Directives } from './directives';
import { DirectiveError, parseDirectives } from './directives';
import { PromptCache } from './prompt-cache';
import { validateMessagesRequest } from './validate';
import { WEB_PAGE_PATH, webPage, webSearchReply, withoutSearchTurns } from './web-search';
import type { AnswerUsage } from './wire';
import {
  MOCK_MODELS,
  PARTIAL_JSON,
  contentOf,
  errorBody,
  messageBody,
  mockModelInfo,
  sseFrame,
  streamEvents,
} from './wire';

/** Largest request body accepted; the real API's limit is of the same order. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** HTTP status logged for a request whose client went away before it was answered (nginx's 499). */
export const CLIENT_CLOSED_STATUS = 499;

/**
 * A server-wide fault: the first `times` requests whose prompt contains `match` (every request
 * when `match` is absent) get HTTP `status` with an Anthropic-shaped error body.
 */
export interface FaultRule {
  status: number;
  /** How many matching requests fail; default 1. `Infinity` fails them all. */
  times?: number;
  /** Sent as the `retry-after` header, in seconds; fractions are allowed (the SDK parses floats). */
  retryAfterS?: number;
  /** Substring of the first user message's text that selects the requests. */
  match?: string;
  /** The error message; a default names the status. */
  message?: string;
  /** Sent as the `x-should-retry` header, as the API does to say whether a retry can help. */
  shouldRetry?: boolean;
}

/** Options of {@link startMockModel}. */
export interface MockModelOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** Delay before answering each request, unless a `latency` directive says otherwise; default 0. */
  latencyMs?: number;
  /** Server-wide faults, applied before any directive. */
  faults?: FaultRule[];
  /** Output tokens reported per turn, unless a `tokens` directive says otherwise; default ~chars/4. */
  outputTokens?: number;
  /** When true, `/v1/*` requests need an `x-api-key` (or bearer token) other than `bad`. */
  requireApiKey?: boolean;
  /** Context window of every model, in tokens, unless a `context` directive says otherwise. */
  contextWindow?: number;
}

/** What kind of answer a logged request got. `hang` is a request held open by `[[mock:hang]]`. */
export type MockReplyKind = 'text' | 'structured' | 'tool_use' | 'error' | 'hang';

/** One `POST /v1/messages` request as the mock saw and answered it. */
export interface MockRequestLog {
  /** 1-based arrival order since start or the last reset. */
  seq: number;
  /** Conversation key: a hash of the system prompt and the first user message's text. */
  key: string;
  /** Arrival time, ms since the epoch. */
  at: number;
  model: string;
  /** The request's max_tokens, the most output it allowed. */
  maxTokens: number | null;
  stream: boolean;
  system: string;
  /** The first user message's text, directives included. */
  prompt: string;
  /** Names of the tools offered. */
  tools: string[];
  toolChoice: unknown;
  /** Assistant messages already in the conversation. */
  turn: number;
  /** Tool results carried by the last user message. */
  toolResults: ToolResultRecord[];
  /** HTTP status answered; 0 while the request is still pending, 499 when the client gave up. */
  status: number;
  kind: MockReplyKind;
  /** The answer's content blocks; null for errors and hangs. */
  content: ContentBlock[] | null;
  /** Whether a StructuredOutput answer was meant to satisfy the schema; null for other answers. */
  structuredValid: boolean | null;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_creation_input_tokens: number;
    cache_read_input_tokens: number;
  } | null;
  /** The answer's stop reason; null for errors and hangs. */
  stopReason: string | null;
  /** Role of the request's last message: `assistant` when the client continues a paused turn. */
  lastRole: string | null;
  /** The request's `thinking` and `output_config`, as sent. */
  thinking: unknown;
  outputConfig: unknown;
  /** Names of the tools offered with `strict: true`. */
  strictTools: string[];
  /** Server tools offered (those with a `type`, such as `web_search_20250305`), as sent. */
  serverTools: WireTool[];
  /** Estimated input tokens of the whole request (fresh, cache writes and cache reads). */
  inputTotal: number | null;
  /** The error message, for error answers. */
  error: string | null;
}

/** A running mock model server. */
export interface MockModel {
  /** Base URL for the SDK's `baseURL` / `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  /** Every `POST /v1/messages` so far, in arrival order. The array is cleared in place by reset(). */
  readonly requests: MockRequestLog[];
  /** Stops listening, drops open connections and releases held (`hang`) requests. */
  close(): Promise<void>;
  /** Sets the default per-request latency for later requests. */
  setLatency(ms: number): void;
  /** Clears the request log and every counter (conversation errors, faults, ids). */
  reset(): void;
}

/**
 * Starts a mock model server and resolves once it is listening.
 *
 * @example
 * const mock = await startMockModel();
 * const client = new Anthropic({ baseURL: mock.url, apiKey: 'test' });
 */
export async function startMockModel(options: MockModelOptions = {}): Promise<MockModel> {
  const mock = new MockModelServer(options);
  await mock.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return mock;
}

interface ConversationState {
  errorsServed: number;
  streamErrorsServed: number;
  stallsServed: number;
}

/** A planned error answer. */
interface PlannedError {
  status: number;
  message: string;
  retryAfterS: number | null;
  shouldRetry?: boolean;
  /** Overrides the error type that goes with the status. */
  errorType?: string;
}

/** The message of the API's 429 when an organisation's spend limit is reached: no retry helps. */
export const SPEND_LIMIT_MESSAGE =
  'You have reached your specified API usage limits. You will regain access on 2027-01-01 at 00:00 UTC.';

/** The API's message for a request larger than the model's context window. */
export function promptTooLongMessage(tokens: number, limit: number): string {
  return `prompt is too long: ${tokens} tokens > ${limit} maximum`;
}

class MockModelServer implements MockModel {
  readonly requests: MockRequestLog[] = [];
  url = '';
  port = 0;

  private readonly server: Server;
  private latencyMs: number;
  private readonly faults: FaultRule[];
  private faultCounts: number[];
  private readonly conversations = new Map<string, ConversationState>();
  private readonly cache = new PromptCache();
  private seq = 0;
  private responseSeq = 0;
  /** Cancels every wait in progress (latency or hang), so close() leaves no timer behind. */
  private readonly waits = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: MockModelOptions) {
    this.latencyMs = options.latencyMs ?? 0;
    this.faults = options.faults ?? [];
    this.faultCounts = this.faults.map(() => 0);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.sendError(res, 500, `mock model internal error: ${(err as Error).message ?? String(err)}`);
      });
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const cancel of [...this.waits]) cancel();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // SDK clients keep connections alive; without this, close() would wait for them to idle out.
    this.server.closeAllConnections();
    await done;
  }

  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  reset(): void {
    this.requests.length = 0;
    this.conversations.clear();
    this.cache.clear();
    this.faultCounts = this.faults.map(() => 0);
    this.seq = 0;
    this.responseSeq = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://mock').pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';

    if (path === '/_mock/requests') {
      if (method === 'GET') return this.sendJson(res, 200, this.requests);
      if (method === 'DELETE') {
        this.reset();
        return this.sendJson(res, 200, { cleared: true });
      }
    }

    if (method === 'GET' && path.startsWith(WEB_PAGE_PATH)) {
      // The pages behind the mock's search results, for WebFetch.
      const page = webPage(path);
      res.writeHead(page ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page ?? '<html><body>not found</body></html>');
      return;
    }

    if (path.startsWith('/v1/') && this.options.requireApiKey) {
      const key = apiKeyOf(req);
      if (key === null || key === 'bad') {
        req.resume();
        return this.sendError(res, 401, key === null ? 'x-api-key header is required' : 'invalid x-api-key');
      }
    }

    if (method === 'POST' && path === '/v1/messages') return this.handleMessages(req, res);
    if (method === 'POST' && path === '/v1/messages/count_tokens') return this.handleCountTokens(req, res);
    if (method === 'GET' && path === '/v1/models') {
      return this.sendJson(res, 200, {
        data: MOCK_MODELS,
        has_more: false,
        first_id: MOCK_MODELS[0]?.id ?? null,
        last_id: MOCK_MODELS[MOCK_MODELS.length - 1]?.id ?? null,
      });
    }
    const modelMatch = /^\/v1\/models\/([^/]+)$/.exec(path);
    if (method === 'GET' && modelMatch?.[1]) {
      const model = MOCK_MODELS.find((m) => m.id === decodeURIComponent(modelMatch[1] ?? ''));
      if (!model) return this.sendError(res, 404, `model: ${modelMatch[1]}`);
      // A server-wide context window is the window the catalogue reports, as a client would read it.
      const window = this.options.contextWindow;
      return this.sendJson(res, 200, window === undefined ? model : { ...model, max_input_tokens: window });
    }
    req.resume();
    this.sendError(res, 404, `Not found: ${method} ${path}`);
  }

  private async handleCountTokens(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.readJson(req, res);
    if (body === undefined) return;
    // count_tokens takes no max_tokens; lend one so the shared validation applies.
    const parsed = parseMessagesRequest(
      typeof body === 'object' && body !== null ? { max_tokens: 1, ...body } : body,
    );
    if (typeof parsed === 'string') return this.sendError(res, 400, parsed);
    this.sendJson(res, 200, { input_tokens: estimateInputTokens(parsed) });
  }

  private async handleMessages(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedAt = Date.now();
    const body = await this.readJson(req, res);
    if (body === undefined) return;
    const parsed = parseMessagesRequest(body);
    const entry = this.logEntry(parsed, body, arrivedAt);
    if (typeof parsed === 'string')
      return this.answerError(res, entry, { status: 400, message: parsed, retryAfterS: null });

    let directives: Directives;
    try {
      directives = parseDirectives(entry.prompt);
    } catch (err) {
      if (!(err instanceof DirectiveError)) throw err;
      return this.answerError(res, entry, { status: 400, message: err.message, retryAfterS: null });
    }

    // Counters move when the request arrives, not when it is answered, so concurrent requests are
    // counted in arrival order whatever their latency.
    const fault = this.takeFault(entry.prompt) ?? this.takeDirectiveError(entry.key, directives);
    const latency = directives.latencyMs ?? this.latencyMs;

    if (!fault && directives.hang) {
      entry.kind = 'hang';
      await this.wait(Infinity, res);
      entry.status = CLIENT_CLOSED_STATUS;
      res.destroy();
      return;
    }
    if (!(await this.wait(latency, res))) {
      entry.status = CLIENT_CLOSED_STATUS;
      res.destroy();
      return;
    }
    if (fault) return this.answerError(res, entry, fault);

    const request = parsed;
    const invalid = validateMessagesRequest(request);
    if (invalid !== null)
      return this.answerError(res, entry, { status: 400, message: invalid, retryAfterS: null });
    const window =
      directives.contextWindow ??
      this.options.contextWindow ??
      mockModelInfo(request.model)?.max_input_tokens ??
      200_000;
    const cached = this.cache.account(request);
    const inputTokens = cached.total;
    entry.inputTotal = inputTokens;
    if (inputTokens > window) {
      return this.answerError(res, entry, {
        status: 400,
        message: promptTooLongMessage(inputTokens, window),
        retryAfterS: null,
      });
    }
    // A search the prompt asks for comes first (S806); the plan then reads the conversation without it.
    let reply =
      webSearchReply(request, firstUserText(request), entry.key, this.url) ??
      planReply(withoutSearchTurns(request), directives, entry.key);
    let outputTokens = directives.outputTokens ?? this.options.outputTokens ?? estimateOutputTokens(reply);
    // A real model never writes past max_tokens, nor past the context window: it stops mid-answer.
    const room = window - inputTokens;
    if (outputTokens > Math.min(request.max_tokens, room)) {
      const limit = Math.min(request.max_tokens, room);
      const reason = request.max_tokens <= room ? 'max_tokens' : 'model_context_window_exceeded';
      reply = cutReply(reply, limit / outputTokens, reason);
      outputTokens = limit;
    }
    const id = `msg_mock_${++this.responseSeq}`;
    entry.kind = kindOf(reply);
    entry.structuredValid = reply.structuredValid;
    entry.content = contentOf(reply);
    entry.stopReason = reply.stopReason;
    const usage: AnswerUsage = {
      input: cached.uncached,
      output: outputTokens,
      cacheWrite5m: cached.write5m,
      cacheWrite1h: cached.write1h,
      cacheRead: cached.read,
      extra: reply.extraUsage,
    };
    entry.usage = {
      input_tokens: cached.uncached,
      output_tokens: outputTokens,
      cache_creation_input_tokens: cached.write5m + cached.write1h,
      cache_read_input_tokens: cached.read,
    };
    entry.status = 200;

    if (request.stream === true) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'request-id': `req_mock_${entry.seq}`,
      });
      const events = streamEvents(id, request.model, reply, usage);
      const state = this.conversationState(entry.key);
      if (directives.stalls > state.stallsServed) {
        // A stalled stream: the headers and the first events, then silence until the client gives up.
        state.stallsServed++;
        entry.kind = 'hang';
        for (const event of events.slice(0, 2)) res.write(sseFrame(event));
        await this.wait(Infinity, res);
        entry.status = CLIENT_CLOSED_STATUS;
        res.destroy();
        return;
      }
      const streamError = directives.streamError;
      if (streamError && streamError.times > state.streamErrorsServed) {
        // The API reports an error that happens after the 200 as an `error` event, then closes.
        state.streamErrorsServed++;
        entry.kind = 'error';
        entry.error = `stream ${streamError.type}`;
        for (const event of events.slice(0, 3)) res.write(sseFrame(event));
        res.write(
          sseFrame({
            type: 'error',
            error: { type: streamError.type, message: streamErrorMessage(streamError.type) },
          } as { type: string }),
        );
        res.end();
        return;
      }
      for (const event of events) res.write(sseFrame(event));
      res.end();
      return;
    }
    this.sendJson(res, 200, messageBody(id, request.model, reply, usage));
  }

  private conversationState(key: string): ConversationState {
    let state = this.conversations.get(key);
    if (!state) {
      state = { errorsServed: 0, streamErrorsServed: 0, stallsServed: 0 };
      this.conversations.set(key, state);
    }
    return state;
  }

  private logEntry(parsed: MessagesRequest | string, body: unknown, at: number): MockRequestLog {
    const request = typeof parsed === 'string' ? null : parsed;
    const loose = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const system = request ? systemText(request) : '';
    const prompt = request ? firstUserText(request) : '';
    const entry: MockRequestLog = {
      seq: ++this.seq,
      key: request ? conversationKey(system, prompt) : '',
      at,
      model: typeof loose.model === 'string' ? loose.model : '',
      maxTokens: typeof loose.max_tokens === 'number' ? loose.max_tokens : null,
      stream: loose.stream === true,
      system,
      prompt,
      tools: request?.tools?.map((t) => t.name) ?? [],
      toolChoice: request?.tool_choice ?? null,
      turn: request ? turnOf(request) : 0,
      toolResults: request ? lastToolResults(request) : [],
      status: 0,
      kind: 'error',
      content: null,
      structuredValid: null,
      usage: null,
      stopReason: null,
      lastRole: request?.messages[request.messages.length - 1]?.role ?? null,
      thinking: request?.thinking ?? null,
      outputConfig: request?.output_config ?? null,
      strictTools: request?.tools?.filter((t) => t.strict === true).map((t) => t.name) ?? [],
      serverTools: request?.tools?.filter((t) => typeof (t as { type?: unknown }).type === 'string') ?? [],
      inputTotal: null,
      error: null,
    };
    this.requests.push(entry);
    return entry;
  }

  private takeFault(prompt: string): PlannedError | null {
    for (const [i, rule] of this.faults.entries()) {
      if (rule.match !== undefined && !prompt.includes(rule.match)) continue;
      const served = this.faultCounts[i] ?? 0;
      if (served >= (rule.times ?? 1)) continue;
      this.faultCounts[i] = served + 1;
      return {
        status: rule.status,
        message: rule.message ?? `mock fault: HTTP ${rule.status}`,
        retryAfterS: rule.retryAfterS ?? null,
        ...(rule.shouldRetry === undefined ? {} : { shouldRetry: rule.shouldRetry }),
      };
    }
    return null;
  }

  private takeDirectiveError(key: string, directives: Directives): PlannedError | null {
    const wanted = directives.error;
    if (!wanted) return null;
    const state = this.conversationState(key);
    if (state.errorsServed >= wanted.times) return null;
    state.errorsServed++;
    const nth = Number.isFinite(wanted.times) ? ` (${state.errorsServed} of ${wanted.times})` : '';
    if (wanted.spendLimit) {
      return { status: 429, message: SPEND_LIMIT_MESSAGE, retryAfterS: null, shouldRetry: false };
    }
    return {
      status: wanted.status,
      message: `mock error directive: HTTP ${wanted.status}${nth}`,
      retryAfterS: wanted.retryAfterS,
      ...(wanted.shouldRetry === undefined ? {} : { shouldRetry: wanted.shouldRetry }),
    };
  }

  /**
   * Resolves true after `ms`, or false as soon as the client disconnects or the server closes.
   * `Infinity` sets no timer at all, so a hang holds nothing but the connection.
   */
  private wait(ms: number, res: ServerResponse): Promise<boolean> {
    if (this.closed || res.destroyed) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (ok: boolean): void => {
        if (timer) clearTimeout(timer);
        res.off('close', onClose);
        this.waits.delete(cancel);
        resolve(ok);
      };
      const onClose = (): void => finish(false);
      const cancel = (): void => finish(false);
      res.on('close', onClose);
      this.waits.add(cancel);
      if (Number.isFinite(ms)) timer = setTimeout(() => finish(true), ms);
    });
  }

  private answerError(res: ServerResponse, entry: MockRequestLog, error: PlannedError): void {
    entry.status = error.status;
    entry.kind = 'error';
    entry.error = error.message;
    const headers: Record<string, string> = {};
    if (error.retryAfterS !== null) headers['retry-after'] = String(error.retryAfterS);
    if (error.shouldRetry !== undefined) headers['x-should-retry'] = String(error.shouldRetry);
    this.sendError(res, error.status, error.message, headers);
  }

  /** Reads and parses a JSON body; answers 400/413 itself and returns undefined when it cannot. */
  private async readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        this.sendError(res, 413, `request body exceeds ${MAX_BODY_BYTES} bytes`);
        req.destroy();
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch (err) {
      this.sendError(res, 400, `request body is not valid JSON: ${(err as Error).message}`);
      return undefined;
    }
  }

  private sendError(
    res: ServerResponse,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ): void {
    const requestId = `req_mock_${this.seq}_${Date.now().toString(36)}`;
    this.sendJson(res, status, errorBody(status, message, requestId), {
      'request-id': requestId,
      ...headers,
    });
  }

  private sendJson(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }
}

function kindOf(reply: Reply): MockReplyKind {
  return reply.kind;
}

function streamErrorMessage(type: string): string {
  if (type === 'overloaded_error') return 'Overloaded';
  if (type === 'api_error') return 'Internal server error';
  return `mock stream error: ${type}`;
}

/**
 * The reply a model writes when it is stopped after `fraction` of its output: the blocks before
 * the cut stand, the block being written is cut (text shortened, a tool call's JSON left
 * unfinished), later blocks are never written.
 */
function cutReply(reply: Reply, fraction: number, reason: string): Reply {
  const total = reply.blocks.reduce((sum, b) => sum + blockChars(b), 0);
  let budget = Math.floor(total * Math.max(0, Math.min(1, fraction)));
  const blocks: ResponseBlock[] = [];
  for (const block of reply.blocks) {
    const size = blockChars(block);
    if (size <= budget) {
      blocks.push(block);
      budget -= size;
      continue;
    }
    if (block.type === 'text')
      blocks.push({ ...block, text: String(block.text ?? '').slice(0, Math.max(1, budget)) });
    else if (block.type === 'thinking')
      blocks.push({ ...block, thinking: String(block.thinking ?? '').slice(0, budget) });
    else if (block.type === 'tool_use' || block.type === 'server_tool_use') {
      const json = JSON.stringify(block.input ?? {});
      // Never the whole value: a cut call always ends inside its JSON.
      blocks.push({
        ...block,
        [PARTIAL_JSON]: json.slice(0, Math.min(json.length - 1, Math.max(1, budget))),
      });
    }
    break;
  }
  return { ...reply, blocks, stopReason: reason, structuredValid: null };
}

function apiKeyOf(req: IncomingMessage): string | null {
  const header = req.headers['x-api-key'];
  const key = Array.isArray(header) ? header[0] : header;
  if (key) return key;
  const auth = req.headers.authorization;
  const bearer = auth?.match(/^Bearer\s+(.+)$/i)?.[1];
  return bearer ?? null;
}
