import type { JsonSchema } from '../../types';
import type { AgentTool } from '../tools/tool-types';
import { ToolError } from '../tools/tool-types';
import type { McpServerEntry } from './mcp-config';
import type { McpPool } from './mcp-pool';
import { McpServerFailure } from './mcp-pool';

/** The prefix of every MCP tool's name, as in Claude Code: `mcp__<server>__<tool>`. */
export const MCP_PREFIX = 'mcp__';

/** The API allows only letters, digits, `_` and `-` in tool names, 128 at most. */
function toolName(server: string, tool: string): string {
  return `${MCP_PREFIX}${server}__${tool.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 128);
}

/** Whether a name in a `tools:` list asks for MCP tools: a whole server or one of its tools. */
export function isMcpName(name: string): boolean {
  return name.startsWith(MCP_PREFIX);
}

/**
 * The servers a `tools:` list asks for: all of them when there is no list; otherwise those named
 * as `mcp__<server>` (every tool of it) or `mcp__<server>__<tool>`.
 */
export function serversWanted(
  names: readonly string[] | null,
  entries: readonly McpServerEntry[],
): McpServerEntry[] {
  if (names === null) return [...entries];
  return entries.filter((e) =>
    names.some((n) => n === `${MCP_PREFIX}${e.name}` || n.startsWith(`${MCP_PREFIX}${e.name}__`)),
  );
}

/** A `tools:` list with `mcp__<server>` written out as the server's tool names. */
export function expandServerNames(names: readonly string[], tools: readonly AgentTool[]): string[] {
  return names.flatMap((n) => {
    if (!isMcpName(n) || n.slice(MCP_PREFIX.length).includes('__')) return [n];
    const ofServer = tools.filter((t) => t.name.startsWith(`${n}__`)).map((t) => t.name);
    return ofServer.length > 0 ? ofServer : [n];
  });
}

/**
 * MCP's JSON Schemas may name a draft ajv is not set up for; the `$schema` keyword is dropped so
 * the input check reads the schema as the draft weft validates with.
 */
function inputSchemaOf(schema: JsonSchema): JsonSchema {
  const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
  return { type: 'object', ...rest } as JsonSchema;
}

function serverTool(
  pool: McpPool,
  entry: McpServerEntry,
  tool: string,
  description: string,
  schema: JsonSchema,
): AgentTool {
  return {
    name: toolName(entry.name, tool),
    description,
    inputSchema: inputSchemaOf(schema),
    async run(input, ctx) {
      try {
        const result = await pool.call(entry, tool, input, ctx.signal);
        return { content: result.text, isError: result.isError };
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const why = err instanceof McpServerFailure ? err.message : String(err);
        throw new ToolError(`MCP server "${entry.name}" failed: ${why}. weft reconnects on the next call.`);
      }
    },
  };
}

/**
 * A stand-in for a tool an agent type names on a server that cannot be reached: the model sees the
 * tool and, when it calls it, why the server is unavailable, instead of "unknown tool".
 */
function unavailableTool(name: string, server: string, problem: string): AgentTool {
  return {
    name,
    description: `A tool of the MCP server "${server}", which is unavailable right now: ${problem}`,
    inputSchema: { type: 'object' },
    run() {
      return Promise.reject(new ToolError(`MCP server "${server}" is unavailable: ${problem}`));
    },
  };
}

/** The MCP tools an agent gets, and one line per server that could not be used. */
export interface McpToolSet {
  tools: AgentTool[];
  problems: string[];
}

/**
 * Connects (through the worker's pool) to the servers an agent's `tools:` list asks for and turns
 * their tools into agent tools. A server that fails contributes its problem, never an exception.
 */
export async function mcpToolsFor(
  pool: McpPool,
  entries: readonly McpServerEntry[],
  names: readonly string[] | null,
): Promise<McpToolSet> {
  const tools: AgentTool[] = [];
  const problems: string[] = [];
  for (const entry of serversWanted(names, entries)) {
    const listed = await pool.tools(entry);
    if ('problem' in listed) {
      problems.push(`MCP server "${entry.name}" (${entry.source}) is unavailable: ${listed.problem}`);
      // A server that answered before keeps its tools: a call tries to reconnect, and says why
      // it failed if the server is still down.
      for (const t of listed.lastListed)
        tools.push(serverTool(pool, entry, t.name, t.description, t.inputSchema));
      for (const n of names ?? []) {
        if (n.startsWith(`${MCP_PREFIX}${entry.name}__`) && !tools.some((t) => t.name === n)) {
          tools.push(unavailableTool(n, entry.name, listed.problem));
        }
      }
      continue;
    }
    for (const t of listed.tools) tools.push(serverTool(pool, entry, t.name, t.description, t.inputSchema));
  }
  return { tools, problems };
}
