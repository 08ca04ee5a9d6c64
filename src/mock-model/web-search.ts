import { createHash } from 'node:crypto';
import type { MessagesRequest, Reply, WireMessage } from './wire-types';

/**
 * The mock's answers to Anthropic's server web search tool (S806): deterministic results whose URLs
 * are pages of the mock server itself, so an agent's WebFetch can read what it found.
 */

/** Where the mock serves the pages its search results point at. */
export const WEB_PAGE_PATH = '/_mock/web/';

/** Results one search returns. */
const RESULTS_PER_SEARCH = 3;

/** Whether the request offers the server web search tool (any version), and its `max_uses`. */
function webSearchTool(req: MessagesRequest): { maxUses: number | null } | null {
  const tool = (req.tools ?? []).find(
    (t) =>
      typeof (t as { type?: unknown }).type === 'string' &&
      String((t as { type?: unknown }).type).startsWith('web_search_'),
  ) as { max_uses?: number } | undefined;
  return tool ? { maxUses: typeof tool.max_uses === 'number' ? tool.max_uses : null } : null;
}

/** Suffix of the ids of the mock's own search calls, so a scripted `[[mock:turn]]` search is not one. */
const OWN_SEARCH_ID_SUFFIX = '_search';

/** A search turn the mock itself answered (not one a test scripted), by its `server_tool_use` id. */
function isSearchTurn(m: WireMessage): boolean {
  return (
    m.role === 'assistant' &&
    Array.isArray(m.content) &&
    m.content.some((b) => {
      const block = b as { type: string; name?: unknown; id?: unknown };
      return (
        block.type === 'server_tool_use' &&
        block.name === 'web_search' &&
        typeof block.id === 'string' &&
        block.id.startsWith('srvtoolu_mock_') &&
        block.id.endsWith(OWN_SEARCH_ID_SUFFIX)
      );
    })
  );
}

/** What the prompt asks to search for: its `Query:` line, else the words after "search (the web) for". */
export function searchQueryOf(prompt: string): string | null {
  const line = /^Query:\s*(.+)$/m.exec(prompt)?.[1]?.trim();
  if (line) return line.slice(0, 200);
  const asked = /\bsearch(?: the web)? for ([^.\n[]+)/i.exec(prompt)?.[1]?.trim();
  return asked ? asked.slice(0, 200) : null;
}

function slugOf(query: string): string {
  const words = query
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 48);
  const hash = createHash('sha256').update(query).digest('hex').slice(0, 8);
  return `${words || 'query'}-${hash}`;
}

/** The URLs a search for `query` returns, in order, on the mock at `baseUrl`. */
export function searchResultUrls(baseUrl: string, query: string): string[] {
  const slug = slugOf(query);
  return Array.from({ length: RESULTS_PER_SEARCH }, (_, i) => `${baseUrl}${WEB_PAGE_PATH}${slug}/${i + 1}`);
}

/**
 * The conversation as the rest of the plan sees it: the mock's own search turns left out, so
 * `[[mock:tool]]` steps and StructuredOutput attempts count as if no search had happened.
 */
export function withoutSearchTurns(req: MessagesRequest): MessagesRequest {
  if (!req.messages.some(isSearchTurn)) return req;
  return { ...req, messages: req.messages.filter((m) => !isSearchTurn(m)) };
}

/**
 * A web search turn, when the request offers the tool, the prompt asks to search (a `Query:` line,
 * or "search the web for …"), and no search has happened in this conversation yet: the
 * `server_tool_use` and `web_search_tool_result` blocks, a cited text, `usage.server_tool_use`, and
 * `pause_turn`, as the API ends a long server-tool turn, so the client must send the turn back.
 */
export function webSearchReply(
  req: MessagesRequest,
  prompt: string,
  key: string,
  baseUrl: string,
): Reply | null {
  const tool = webSearchTool(req);
  if (!tool || tool.maxUses === 0 || req.tool_choice?.type === 'none') return null;
  if (!/\bsearch\b/i.test(prompt) || req.messages.some(isSearchTurn)) return null;
  // A forced StructuredOutput turn must answer, not search.
  if (req.tool_choice?.type === 'tool' || req.tool_choice?.type === 'any') return null;
  const query = searchQueryOf(prompt);
  if (!query) return null;
  const id = `srvtoolu_mock_${key}${OWN_SEARCH_ID_SUFFIX}`;
  const urls = searchResultUrls(baseUrl, query);
  const results = urls.map((url, i) => ({
    type: 'web_search_result',
    url,
    title: `${query} — source ${i + 1}`,
    encrypted_content: Buffer.from(`mock:${url}`).toString('base64'),
    page_age: `2026-0${i + 1}-15`,
  }));
  const first = results[0];
  return {
    kind: 'text',
    blocks: [
      { type: 'server_tool_use', id, name: 'web_search', input: { query } },
      { type: 'web_search_tool_result', tool_use_id: id, content: results },
      {
        type: 'text',
        text: `Found ${results.length} sources on ${query}.`,
        citations: first
          ? [
              {
                type: 'web_search_result_location',
                url: first.url,
                title: first.title,
                encrypted_index: Buffer.from(`mock-index:${first.url}`).toString('base64'),
                cited_text: pageFact(query, 1),
              },
            ]
          : null,
      },
    ],
    stopReason: 'pause_turn',
    stopDetails: null,
    structuredValid: null,
    extraUsage: { server_tool_use: { web_search_requests: 1 } },
  };
}

function pageFact(topic: string, n: number): string {
  return `Fact ${n} about ${topic}: measured value ${(n * 17) % 100} units, reported in 2026.`;
}

/** The HTML page behind a search result URL path (`/_mock/web/<slug>/<n>`), or null. */
export function webPage(path: string): string | null {
  const m = /^\/_mock\/web\/([a-z0-9-]+)\/(\d+)$/.exec(path);
  if (!m?.[1] || !m[2]) return null;
  const topic = m[1].replace(/-[0-9a-f]{8}$/, '').replace(/-/g, ' ');
  const n = Number(m[2]);
  return `<html><head><title>${topic} — source ${n}</title></head><body><h1>${topic} — source ${n}</h1><p>${pageFact(topic, n)}</p><p>${pageFact(topic, n + 1)}</p></body></html>`;
}
