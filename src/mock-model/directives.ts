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
 *            | "error" ws STATUS ws COUNT (ws "retry-after=" SECONDS)?
 *            | "latency" ws MS
 *            | "tokens" ws OUT
 *            | "tool" ws NAME ws JSON                  repeatable; used in the order written
 *            | "hang"
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
}

/** A tool call the model makes at one turn. */
export interface ToolDirective {
  name: string;
  input: unknown;
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
  hang: boolean;
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
    hang: false,
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
    if (name === 'json' || name === 'tool') {
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
      const extra = words[2];
      if (extra !== undefined) {
        const m = /^retry-after=(\d+(?:\.\d+)?)$/i.exec(extra);
        if (!m?.[1])
          throw new DirectiveError(`mock directive "error": expected retry-after=S, got "${extra}"`);
        retryAfterS = Number(m[1]);
      }
      expectWords(words, 3, 'error');
      out.error = { status, times, retryAfterS };
      return;
    }
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
      out.tools.push({ name: m[1], input: parseJson(m[2], 'tool') });
      return;
    }
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
