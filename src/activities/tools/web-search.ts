import type { AgentTool } from './tool-types';
import { ToolError } from './tool-types';

/** The API's type for the server web search tool weft sends (S806). */
export const WEB_SEARCH_TOOL_TYPE = 'web_search_20250305';

/** Searches one agent turn may make, unless configured otherwise. */
export const DEFAULT_WEB_SEARCH_MAX_USES = 5;

/** How an agent's web search is limited: searches per request and the domains it may see. */
export interface WebSearchOptions {
  maxUses?: number;
  /** Only results from these domains; the API refuses both lists together. */
  allowedDomains?: readonly string[];
  /** Never results from these domains. */
  blockedDomains?: readonly string[];
}

/**
 * WebSearch as Claude Code names it: Anthropic's server web search tool, which the API runs
 * itself. weft sends it as `web_search` and never runs it; its results come back in the model's
 * own turn (`server_tool_use`, `web_search_tool_result`, cited text), possibly with `pause_turn`.
 */
export function createWebSearchTool(options: WebSearchOptions = {}): AgentTool {
  const allowed = options.allowedDomains ?? [];
  const blocked = options.blockedDomains ?? [];
  if (allowed.length > 0 && blocked.length > 0) {
    throw new Error('WebSearch takes allowed domains or blocked domains, not both');
  }
  return {
    name: 'WebSearch',
    description: 'Searches the web; results come with their URLs and cited text.',
    inputSchema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
    apiTool: {
      type: WEB_SEARCH_TOOL_TYPE,
      name: 'web_search',
      max_uses: options.maxUses ?? DEFAULT_WEB_SEARCH_MAX_USES,
      ...(allowed.length > 0 ? { allowed_domains: [...allowed] } : {}),
      ...(blocked.length > 0 ? { blocked_domains: [...blocked] } : {}),
    },
    run() {
      // The API runs the search; a client-side call can only come from a confused model.
      return Promise.reject(new ToolError('WebSearch runs on the API side; use the web_search tool'));
    },
  };
}

/** WebSearch with the default limits. */
export const webSearchTool: AgentTool = createWebSearchTool();
