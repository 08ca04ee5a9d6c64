import type { AgentTool } from './tool-types';
import { ToolError } from './tool-types';

/** A page must answer within this long. */
export const WEB_FETCH_TIMEOUT_MS = 30_000;
/** Bytes read from a response at most; the rest is not downloaded. */
export const WEB_FETCH_MAX_BYTES = 5 * 1024 * 1024;
/** Characters of page text handed to the model. */
export const WEB_FETCH_MAX_CHARS = 100_000;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Readable text of an HTML page: scripts, styles and tags dropped, block ends kept as line breaks. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|noscript|template|svg)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(br|hr)\b[^>]*>/gi, '\n')
    .replace(
      /<\/(p|div|section|article|li|tr|h[1-6]|pre|blockquote|table|ul|ol|header|footer|nav)\s*>/gi,
      '\n',
    )
    .replace(/<li\b[^>]*>/gi, '- ')
    .replace(/<[^>]+>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, code: string) => {
      if (code[0] === '#') {
        const n =
          code[1] === 'x' || code[1] === 'X' ? parseInt(code.slice(2), 16) : parseInt(code.slice(1), 10);
        return Number.isFinite(n) && n > 0 && n < 0x110000 ? String.fromCodePoint(n) : whole;
      }
      return ENTITIES[code.toLowerCase()] ?? whole;
    })
    .replace(/[ \t\f\v]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Reads at most `max` bytes of a body and reports whether more was left. */
async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<{ buf: Buffer; cut: boolean }> {
  if (!body) return { buf: Buffer.alloc(0), cut: false };
  const reader = body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = max - size;
    if (value.length >= room) {
      chunks.push(Buffer.from(value.subarray(0, room)));
      size += room;
      cut = true;
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(Buffer.from(value));
    size += value.length;
  }
  return { buf: Buffer.concat(chunks), cut };
}

/**
 * Claude Code's WebFetch: fetches a URL and returns its content as text for the model, with the
 * question it asked repeated beside it. Unlike Claude Code it does not run a second model over the
 * page: the agent's own model reads the (capped) text, so no tokens are spent outside the agent's
 * accounting.
 */
export const webFetchTool: AgentTool = {
  name: 'WebFetch',
  description:
    'Fetches a URL (http or https) and returns its content as text (HTML is reduced to readable text), ' +
    `up to ${WEB_FETCH_MAX_CHARS} characters, together with your prompt about it. Times out after ` +
    `${WEB_FETCH_TIMEOUT_MS / 1000} s.`,
  inputSchema: {
    type: 'object',
    properties: {
      url: { type: 'string', description: 'The URL to fetch' },
      prompt: { type: 'string', description: 'What to look for in the fetched content' },
    },
    required: ['url', 'prompt'],
    additionalProperties: false,
  },
  async run(input, ctx) {
    let url: URL;
    try {
      url = new URL(String(input.url));
    } catch {
      throw new ToolError(`not a valid URL: ${String(input.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ToolError(`only http and https URLs can be fetched, not ${url.protocol}`);
    }
    const timeout = AbortSignal.timeout(WEB_FETCH_TIMEOUT_MS);
    let response: Response;
    try {
      response = await fetch(url, {
        signal: AbortSignal.any([ctx.signal, timeout]),
        redirect: 'follow',
        headers: {
          'user-agent': 'weft-agent (WebFetch)',
          accept: 'text/html,text/plain,application/json,*/*;q=0.5',
        },
      });
    } catch (err) {
      if (ctx.signal.aborted) throw new ToolError('cancelled');
      if (timeout.aborted)
        throw new ToolError(`${url.href} did not answer within ${WEB_FETCH_TIMEOUT_MS / 1000} s`);
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ToolError(`cannot fetch ${url.href}: ${cause ?? (err as Error).message}`);
    }
    ctx.heartbeat();
    let body: { buf: Buffer; cut: boolean };
    try {
      body = await readCapped(response.body, WEB_FETCH_MAX_BYTES);
    } catch (err) {
      if (timeout.aborted)
        throw new ToolError(`${url.href} did not finish within ${WEB_FETCH_TIMEOUT_MS / 1000} s`);
      throw new ToolError(`reading ${url.href} failed: ${(err as Error).message}`);
    }
    const type = response.headers.get('content-type') ?? '';
    if (body.buf.subarray(0, 8192).includes(0) && !/^text\/|json|xml/.test(type)) {
      throw new ToolError(`${url.href} is binary content (${type || 'unknown type'}), not text`);
    }
    const raw = body.buf.toString('utf8');
    let text = /html/i.test(type) || /^\s*<(!doctype html|html)/i.test(raw) ? htmlToText(raw) : raw;
    let note = body.cut ? ` (response cut at ${WEB_FETCH_MAX_BYTES} bytes)` : '';
    if (text.length > WEB_FETCH_MAX_CHARS) {
      text = text.slice(0, WEB_FETCH_MAX_CHARS);
      note += ` (text cut at ${WEB_FETCH_MAX_CHARS} characters)`;
    }
    const redirected = response.url && response.url !== url.href ? `\nRedirected to: ${response.url}` : '';
    const header = `URL: ${url.href}${redirected}\nStatus: ${response.status} ${response.statusText}\nContent-Type: ${type}${note}`;
    const content = `${header}\n\n${text}\n\n---\nYour prompt about this page: ${String(input.prompt)}`;
    return response.ok ? content : { content, isError: true };
  },
};
