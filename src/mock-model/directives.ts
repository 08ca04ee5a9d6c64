/**
 * The `[[mock:...]]` directive language. Fixture scripts steer the mock model by writing directives
 * into the prompt text, so a test needs no server-side configuration and the same script behaves
 * the same against every mock instance.
 *
 * Grammar (one directive per pair of double brackets; names are case-insensitive; whitespace
 * between tokens is any run of spaces, tabs or newlines):
 *
 * ```text
 * directive := "[[mock:" ws? body ws? "]]"
 * body      := "reply" ws TEXT                         TEXT runs to the next "]]", trimmed
 *            | "json" ws JSON                          any JSON value; brackets may nest ("]]" is fine)
 *            | "invalid" ws COUNT
 *            | "prose" ws COUNT
 *            | "error" ws STATUS ws COUNT (ws "retry-after=" SECONDS)? (ws "should-retry=" BOOL)?
 *            | "spend-limit"                           every request gets the spend-limit 429
 *            | "latency" ws MS
 *            | "tokens" ws OUT
 *            | "tool" ws NAME ws JSON                  repeatable; used in the order written
 *            | "hang"
 *            | "turn" ws JSON                          repeatable; a scripted turn, in order with "tool"
 *            | "stream-error" ws TYPE ws COUNT         an `error` event mid-stream on the first requests
 *            | "stall" ws COUNT                        the first requests stall after message_start
 *            | "context" ws TOKENS                     the conversation's context window
 *            | "thinking"                              answers start with a thinking block
 *            | "verbose" ws CHARS                      each tool turn starts with CHARS characters of text
 * COUNT     := non-negative integer | "always"
 * STATUS    := integer 400..599
 * SECONDS   := non-negative decimal, e.g. 1 or 0.05
 * MS, OUT   := non-negative integer
 * NAME      := [A-Za-z0-9_.:-]+
 * ```
 *
 * Every single-valued directive keeps its last occurrence. A malformed or unknown directive is a
 * {@link DirectiveError}, which the server answers with a 400 so a typo in a fixture fails loudly
 * instead of silently running the default behaviour.
 */

/** A count that may be unbounded: `always` reads as `Infinity`. */
export type Count = number;

/** An HTTP error the conversation's first requests receive. */
export interface ErrorDirective {
  status: number;
  /** How many requests of the conversation fail; `Infinity` for `always`. */
  times: Count;
  /** Value of the `retry-after` header in seconds, when given. */
  retryAfterS: number | null;
  /** Value of the `x-should-retry` header, when given. */
  shouldRetry?: boolean;
  /** The organisation's spend limit is reached: the API's terminal 429. */
  spendLimit?: boolean;
}

/** A tool call the model makes at one turn. */
export interface ToolDirective {
  name: string;
  input: unknown;
}

/**
 * A scripted model turn, for shapes the plan does not produce by itself: several blocks, parallel
 * tool calls, thinking and server-tool blocks, any stop reason. `content` blocks are response
 * blocks as the API sends them; ids may be left out and are filled in.
 */
export interface TurnDirective {
  content: Array<Record<string, unknown>>;
  stop_reason?: string;
  stop_details?: Record<string, unknown> | null;
  /** Extra usage fields reported with the turn, e.g. `server_tool_use`. */
  usage?: Record<string, unknown>;
}

/** One step of a conversation's script: a single tool call or a whole scripted turn. */
export type ScriptStep = { kind: 'tool'; tool: ToolDirective } | { kind: 'turn'; turn: TurnDirective };

/** An `error` event sent in the middle of the stream of a conversation's first requests. */
export interface StreamErrorDirective {
  /** The error type, e.g. `overloaded_error`. */
  type: string;
  times: Count;
}

/** Everything the directives of one prompt ask for. */
export interface Directives {
  reply: string | null;
  /** Boxed so that `[[mock:json null]]` is distinguishable from no directive. */
  json: { value: unknown } | null;
  invalid: Count;
  prose: Count;
  error: ErrorDirective | null;
  latencyMs: number | null;
  outputTokens: number | null;
  tools: ToolDirective[];
  /** `tool` and `turn` directives in the order written: the conversation's first turns. */
  steps: ScriptStep[];
  hang: boolean;
  streamError: StreamErrorDirective | null;
  /** How many of the conversation's first requests stall after `message_start`. */
  stalls: Count;
  /** The conversation's context window in tokens, overriding the model's. */
  contextWindow: number | null;
  /** Every generated answer starts with a thinking block, as a thinking model's does. */
  thinking: boolean;
  /** Characters of text each `tool` turn writes before its call; 0 for none. */
  verbose: number;
}

/** A directive that could not be read. */
export class DirectiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DirectiveError';
  }
}

const OPEN = '[[mock:';
const CLOSE = ']]';

/** The directives of a prompt with none of them. */
export function emptyDirectives(): Directives {
  return {
    reply: null,
    json: null,
    invalid: 0,
    prose: 0,
    error: null,
    latencyMs: null,
    outputTokens: null,
    tools: [],
    steps: [],
    hang: false,
    streamError: null,
    stalls: 0,
    contextWindow: null,
    thinking: false,
    verbose: 0,
  };
}

/**
 * Reads every `[[mock:...]]` directive in `text`.
 *
 * @throws DirectiveError when a directive is unknown or its arguments are malformed.
 */
export function parseDirectives(text: string): Directives {
  const out = emptyDirectives();
  for (const raw of scanDirectives(text)) applyDirective(out, raw);
  return out;
}

/** `text` with every directive removed and whitespace collapsed, for deterministic default answers. */
export function stripDirectives(text: string): string {
  let result = '';
  let cursor = 0;
  for (const raw of scanDirectives(text, true)) {
    result += text.slice(cursor, raw.start) + ' ';
    cursor = raw.end;
  }
  result += text.slice(cursor);
  return result.replace(/\s+/g, ' ').trim();
}

interface RawDirective {
  name: string;
  /** Text after the name, up to (not including) the closing brackets. */
  args: string;
  start: number;
  end: number;
}

function scanDirectives(text: string, lenient = false): RawDirective[] {
  const found: RawDirective[] = [];
  const lower = text.toLowerCase();
  let from = 0;
  for (;;) {
    const start = lower.indexOf(OPEN, from);
    if (start < 0) return found;
    let i = start + OPEN.length;
    while (i < text.length && /\s/.test(text[i] ?? '')) i++;
    const nameMatch = /^[A-Za-z-]+/.exec(text.slice(i));
    const name = (nameMatch?.[0] ?? '').toLowerCase();
    i += name.length;
    // JSON may legitimately contain "]]" (nested arrays), so those directives close only after a
    // balanced value; every other directive closes at the first "]]".
    let close: number;
    if (name === 'json' || name === 'tool' || name === 'turn') {
      const jsonStart = findJsonStart(text, i);
      const jsonEnd = jsonStart < 0 ? -1 : scanBalanced(text, jsonStart);
      close = jsonEnd < 0 ? text.indexOf(CLOSE, i) : text.indexOf(CLOSE, jsonEnd);
    } else {
      close = text.indexOf(CLOSE, i);
    }
    if (close < 0) {
      if (lenient) return found;
      throw new DirectiveError(`mock directive at offset ${start} has no closing "]]"`);
    }
    found.push({ name, args: text.slice(i, close), start, end: close + CLOSE.length });
    from = close + CLOSE.length;
  }
}

/** Index of the first `{`, `[` or other JSON value start after the tool name / json keyword. */
function findJsonStart(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{' || ch === '[') return i;
    if (ch === ']' && text[i + 1] === ']') return -1;
  }
  return -1;
}

/** End index (exclusive) of the bracket-balanced JSON value starting at `start`, or -1. */
function scanBalanced(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function applyDirective(out: Directives, raw: RawDirective): void {
  const args = raw.args.trim();
  const words = args.split(/\s+/).filter((w) => w !== '');
  switch (raw.name) {
    case 'reply':
      out.reply = args;
      return;
    case 'json':
      out.json = { value: parseJson(args, 'json') };
      return;
    case 'invalid':
      out.invalid = parseCount(words[0], 'invalid');
      expectWords(words, 1, 'invalid');
      return;
    case 'prose':
      out.prose = parseCount(words[0], 'prose');
      expectWords(words, 1, 'prose');
      return;
    case 'error': {
      const status = parseInteger(words[0], 'error status');
      if (status < 400 || status > 599) {
        throw new DirectiveError(`mock directive "error": status ${status} is not between 400 and 599`);
      }
      const times = parseCount(words[1], 'error');
      let retryAfterS: number | null = null;
      let shouldRetry: boolean | null = null;
      for (const extra of words.slice(2)) {
        const m = /^retry-after=(\d+(?:\.\d+)?)$/i.exec(extra);
        const r = /^should-retry=(true|false)$/i.exec(extra);
        if (m?.[1]) retryAfterS = Number(m[1]);
        else if (r?.[1]) shouldRetry = r[1].toLowerCase() === 'true';
        else
          throw new DirectiveError(
            `mock directive "error": expected retry-after=S or should-retry=true|false, got "${extra}"`,
          );
      }
      expectWords(words, 4, 'error');
      out.error = { status, times, retryAfterS, ...(shouldRetry === null ? {} : { shouldRetry }) };
      return;
    }
    case 'spend-limit':
      expectWords(words, 0, 'spend-limit');
      out.error = { status: 429, times: Infinity, retryAfterS: null, shouldRetry: false, spendLimit: true };
      return;
    case 'latency':
      out.latencyMs = parseInteger(words[0], 'latency');
      expectWords(words, 1, 'latency');
      return;
    case 'tokens':
      out.outputTokens = parseInteger(words[0], 'tokens');
      expectWords(words, 1, 'tokens');
      return;
    case 'tool': {
      const m = /^([A-Za-z0-9_.:-]+)\s+([\s\S]*)$/.exec(args);
      if (!m?.[1] || m[2] === undefined) {
        throw new DirectiveError(`mock directive "tool": expected "tool NAME {json input}", got "${args}"`);
      }
      const tool = { name: m[1], input: parseJson(m[2], 'tool') };
      out.tools.push(tool);
      out.steps.push({ kind: 'tool', tool });
      return;
    }
    case 'turn': {
      const value = parseJson(args, 'turn') as Partial<TurnDirective> | null;
      if (typeof value !== 'object' || value === null || !Array.isArray(value.content)) {
        throw new DirectiveError(`mock directive "turn": expected {"content": [blocks], "stop_reason"?}`);
      }
      out.steps.push({ kind: 'turn', turn: value as TurnDirective });
      return;
    }
    case 'stream-error': {
      const type = words[0];
      if (!type || !/^[a-z_]+$/.test(type)) {
        throw new DirectiveError(
          `mock directive "stream-error": expected an error type, got "${type ?? ''}"`,
        );
      }
      out.streamError = { type, times: parseCount(words[1], 'stream-error') };
      expectWords(words, 2, 'stream-error');
      return;
    }
    case 'stall':
      out.stalls = parseCount(words[0], 'stall');
      expectWords(words, 1, 'stall');
      return;
    case 'context':
      out.contextWindow = parseInteger(words[0], 'context');
      expectWords(words, 1, 'context');
      return;
    case 'verbose':
      out.verbose = parseInteger(words[0], 'verbose');
      expectWords(words, 1, 'verbose');
      return;
    case 'thinking':
      expectWords(words, 0, 'thinking');
      out.thinking = true;
      return;
    case 'hang':
      expectWords(words, 0, 'hang');
      out.hang = true;
      return;
    default:
      throw new DirectiveError(`unknown mock directive "${raw.name || args}"`);
  }
}

function parseJson(text: string, directive: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new DirectiveError(`mock directive "${directive}": invalid JSON (${(err as Error).message})`);
  }
}

function parseCount(word: string | undefined, directive: string): Count {
  if (word?.toLowerCase() === 'always') return Infinity;
  return parseInteger(word, directive);
}

function parseInteger(word: string | undefined, what: string): number {
  if (word === undefined || !/^\d+$/.test(word)) {
    throw new DirectiveError(
      `mock directive "${what}": expected a non-negative integer, got "${word ?? ''}"`,
    );
  }
  return Number(word);
}

function expectWords(words: string[], max: number, directive: string): void {
  if (words.length > max) {
    throw new DirectiveError(`mock directive "${directive}": unexpected "${words.slice(max).join(' ')}"`);
  }
}
