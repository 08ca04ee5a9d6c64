import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JsonSchema } from '../../types';
import type { McpServerConfig, McpServerEntry } from './mcp-config';
import { redact } from './mcp-config';

/** How long connecting and listing a server's tools may take before the server counts as failed. */
export const MCP_CONNECT_TIMEOUT_MS = 30_000;
/** The longest one MCP tool call may take, as Claude Code's default `MCP_TOOL_TIMEOUT` allows. */
export const MCP_CALL_TIMEOUT_MS = 10 * 60_000;
/** Characters of a stdio server's stderr kept to explain why it failed. */
const STDERR_TAIL_CHARS = 2_000;

/** A tool as an MCP server lists it. */
export interface McpToolInfo {
  name: string;
  description: string;
  inputSchema: JsonSchema;
}

/** What a call returned, already reduced to text for the model. */
export interface McpCallResult {
  text: string;
  isError: boolean;
}

/** A server's failure, with secrets already removed from the message. */
export class McpServerFailure extends Error {}

interface Connection {
  client: Client;
  tools: McpToolInfo[];
  closed: boolean;
  stderrTail: () => string;
}

function keyOf(entry: McpServerEntry): string {
  return createHash('sha256')
    .update(JSON.stringify([entry.name, entry.config]))
    .digest('hex');
}

function transportFor(config: McpServerConfig): { transport: Transport; stderrTail: () => string } {
  if (config.type === 'stdio') {
    const transport = new StdioClientTransport({
      command: config.command,
      args: config.args,
      // The SDK adds only a few safe variables (PATH, HOME...) to these: the worker's credentials stay out.
      env: config.env,
      ...(config.cwd ? { cwd: config.cwd } : {}),
      stderr: 'pipe',
    });
    let tail = '';
    transport.stderr?.on('data', (d: Buffer) => {
      tail = (tail + d.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    return { transport, stderrTail: () => tail.trim() };
  }
  const requestInit = { headers: config.headers };
  const url = new URL(config.url);
  const transport =
    config.type === 'sse'
      ? new SSEClientTransport(url, { requestInit })
      : new StreamableHTTPClientTransport(url, { requestInit });
  return { transport, stderrTail: () => '' };
}

/** One line of an MCP result's content, as text the model can read. */
function contentText(block: Record<string, unknown>): string {
  switch (block.type) {
    case 'text':
      return String(block.text ?? '');
    case 'image':
    case 'audio':
      return `[${String(block.type)} ${String(block.mimeType ?? '')}, ${String(block.data ?? '').length} base64 characters]`;
    case 'resource': {
      const resource = (block.resource ?? {}) as Record<string, unknown>;
      if (typeof resource.text === 'string') return resource.text;
      return `[resource ${String(resource.uri ?? '')}]`;
    }
    case 'resource_link':
      return `[resource link ${String(block.uri ?? '')}${block.name ? ` (${String(block.name)})` : ''}]`;
    default:
      return JSON.stringify(block);
  }
}

/**
 * The worker's MCP connections, one per configured server, shared by every agent the worker runs.
 * A server is connected on first use; a connection that closed or failed is dropped and opened
 * again on the next use. Failures never throw out of `tools`: they come back as the server's
 * one-line problem, and calls that fail come back as errors for the model.
 */
export class McpPool {
  private readonly connections = new Map<string, Promise<Connection>>();
  /** Each server's tools as last listed, offered while it is down so calls say why they fail. */
  private readonly lastListed = new Map<string, McpToolInfo[]>();

  constructor(
    private readonly options: {
      connectTimeoutMs?: number;
      callTimeoutMs?: number;
      clientVersion?: string;
    } = {},
  ) {}

  private connect(entry: McpServerEntry): Promise<Connection> {
    const key = keyOf(entry);
    const existing = this.connections.get(key);
    if (existing) return existing;
    const opening = this.open(entry).catch((err: unknown) => {
      // A failed attempt is not cached: the next agent tries again.
      this.connections.delete(key);
      throw err;
    });
    this.connections.set(key, opening);
    return opening;
  }

  private async open(entry: McpServerEntry): Promise<Connection> {
    const config = entry.config;
    if (!config) throw new McpServerFailure(entry.problem ?? 'not configured');
    const { transport, stderrTail } = transportFor(config);
    const client = new Client({ name: 'weft', version: this.options.clientVersion ?? '0.1.0' });
    const key = keyOf(entry);
    const connection: Connection = { client, tools: [], closed: false, stderrTail };
    const drop = (): void => {
      connection.closed = true;
      // The map may hold this very attempt, failing: a rejection here is expected, not unhandled.
      void this.connections.get(key)?.then(
        (c) => {
          if (c === connection) this.connections.delete(key);
        },
        () => {},
      );
    };
    client.onclose = drop;
    const timeout = this.options.connectTimeoutMs ?? MCP_CONNECT_TIMEOUT_MS;
    try {
      await client.connect(transport, { timeout });
      const tools: McpToolInfo[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : {}, { timeout });
        for (const t of page.tools) {
          tools.push({
            name: t.name,
            description: t.description ?? t.title ?? t.name,
            inputSchema: t.inputSchema as JsonSchema,
          });
        }
        cursor = page.nextCursor;
      } while (cursor);
      connection.tools = tools;
      this.lastListed.set(key, tools);
      return connection;
    } catch (err) {
      await client.close().catch(() => {});
      throw this.failure(entry, err, stderrTail());
    }
  }

  private failure(entry: McpServerEntry, err: unknown, stderr = ''): McpServerFailure {
    const message = err instanceof Error ? err.message : String(err);
    const detail = stderr ? ` (stderr: ${stderr.split('\n').slice(-3).join(' | ')})` : '';
    return new McpServerFailure(redact(`${message}${detail}`, entry.secrets));
  }

  /**
   * The server's tools, connecting first when needed; or why it cannot be used, with the tools it
   * had when it last answered (none if it never did).
   */
  async tools(
    entry: McpServerEntry,
  ): Promise<{ tools: McpToolInfo[] } | { problem: string; lastListed: McpToolInfo[] }> {
    try {
      return { tools: (await this.connect(entry)).tools };
    } catch (err) {
      return {
        problem: err instanceof McpServerFailure ? err.message : redact(String(err), entry.secrets),
        lastListed: this.lastListed.get(keyOf(entry)) ?? [],
      };
    }
  }

  /**
   * Calls one tool. A tool's own error (`isError`) is a normal result; a connection that is gone
   * or breaks is dropped, so the next call reconnects, and throws an `McpServerFailure`.
   */
  async call(
    entry: McpServerEntry,
    tool: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<McpCallResult> {
    const connection = await this.connect(entry).catch((err: unknown) => {
      throw err instanceof McpServerFailure ? err : this.failure(entry, err);
    });
    try {
      const result = await connection.client.callTool({ name: tool, arguments: args }, undefined, {
        signal,
        timeout: this.options.callTimeoutMs ?? MCP_CALL_TIMEOUT_MS,
        resetTimeoutOnProgress: true,
      });
      const blocks = (Array.isArray(result.content) ? result.content : []) as Record<string, unknown>[];
      let text = blocks.map(contentText).join('\n');
      if (text === '' && result.structuredContent !== undefined)
        text = JSON.stringify(result.structuredContent);
      return { text: text || '(no content)', isError: result.isError === true };
    } catch (err) {
      if (signal.aborted) throw err;
      // A JSON-RPC error of a live server (bad arguments, unknown tool: -32600 and below) keeps the
      // connection; a closed connection (-32000), a timeout (-32001) or a broken transport drops it.
      const code = (err as { code?: unknown }).code;
      const protocolError = typeof code === 'number' && code <= -32600 && !connection.closed;
      if (!protocolError) await this.drop(entry, connection);
      throw this.failure(entry, err, connection.stderrTail());
    }
  }

  private async drop(entry: McpServerEntry, connection: Connection): Promise<void> {
    const key = keyOf(entry);
    const current = await this.connections.get(key)?.catch(() => null);
    if (current === connection) this.connections.delete(key);
    connection.closed = true;
    await connection.client.close().catch(() => {});
  }

  /** Closes every connection: stdio servers are stopped, HTTP sessions ended. */
  async close(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(
      all.map(async (p) => {
        const c = await p.catch(() => null);
        await c?.client.close().catch(() => {});
      }),
    );
  }
}
