/**
 * Hosts `weft mcp` (S903): connects to Temporal as `weft run` does (the embedded dev server when
 * `TEMPORAL_ADDRESS` is unset), runs an embedded worker unless told otherwise, and serves MCP
 * sessions over stdio or streamable HTTP until the client goes away or a signal arrives.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { WeftClient } from '../client/weft-client';
import { createWeftWorker } from '../worker';
import type { WeftWorker } from '../worker';
import { McpRuns } from './mcp-runs';
import type { McpRunPolicy } from './mcp-runs';
import { createMcpSession } from './mcp-session';

/** How `weft mcp` serves. */
export interface ServeMcpOptions {
  /** Streamable HTTP on this port (0: a free one) instead of stdio. */
  httpPort?: number;
  /** The HTTP interface (default 127.0.0.1). */
  host?: string;
  /**
   * Run an embedded worker in this process. Default: only with the embedded dev server (no
   * `TEMPORAL_ADDRESS` or profile address); with a cluster configured the server only submits.
   */
  worker?: boolean;
  /** The run policy, less what the host fills in (`embeddedWorker`). */
  policy: Omit<McpRunPolicy, 'embeddedWorker'>;
  version: string;
  /** Where the server says what it is doing; never stdout, which stdio's protocol owns. */
  log: (line: string) => void;
  /** Called once the server accepts sessions, with the HTTP URL when serving HTTP. */
  onReady?: (info: { url: string | null }) => void;
  /** Installs any process-wide logging (Temporal's runtime) before the worker is created. */
  beforeWorker?: () => void;
}

/** Serves MCP until the stdio client disconnects or SIGINT/SIGTERM; resolves once shut down. */
export async function serveMcp(options: ServeMcpOptions): Promise<void> {
  const client = await WeftClient.connect();
  const embeddedWorker = options.worker ?? client.config.address === null;
  let worker: WeftWorker | null = null;
  let stop = (_why: string): void => {};
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const onSignal = (signal: NodeJS.Signals): void => stop(signal);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let closeTransport: () => Promise<void> = async () => {};
  try {
    if (embeddedWorker) {
      options.beforeWorker?.();
      worker = await createWeftWorker({
        // The same connection as the client's: TLS and the API key of a configured server.
        ...client.connectOptions(),
        namespace: client.config.namespace,
        taskQueue: client.config.taskQueue,
      });
      void worker.run().catch((err: unknown) => {
        options.log(`weft mcp: worker stopped: ${(err as Error).message}`);
      });
    }
    const runs = new McpRuns(client, { ...options.policy, embeddedWorker });
    const where = `${client.address}, namespace ${client.config.namespace}, task queue "${client.config.taskQueue}"`;
    const workerNote = embeddedWorker ? 'with an embedded worker' : 'submitting only (no embedded worker)';
    if (options.httpPort === undefined) {
      const server = createMcpSession({ runs, version: options.version });
      const transport = new StdioServerTransport();
      transport.onclose = () => stop('the client closed the connection');
      // The stdio client closing its end of stdin is how it says goodbye.
      process.stdin.once('end', () => stop('stdin closed'));
      await server.connect(transport);
      closeTransport = () => server.close();
      options.log(`weft mcp: serving on stdio (${where}, ${workerNote})`);
      options.onReady?.({ url: null });
    } else {
      const { url, close } = await serveHttp(runs, options);
      closeTransport = close;
      options.log(`weft mcp: listening on ${url} (${where}, ${workerNote})`);
      options.onReady?.({ url });
    }
    options.log(`weft mcp: stopping (${await stopped}); runs go on in Temporal`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await closeTransport().catch(() => undefined);
    // Runs live in Temporal: an agent in flight here is retried by the next worker after its
    // heartbeat timeout, so shutting down does not wait long for it.
    if (worker) await Promise.race([worker.shutdown(), new Promise((r) => setTimeout(r, 5_000).unref())]);
    await client.close();
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Streamable HTTP at `/mcp`: one transport and one session server per MCP session id. */
async function serveHttp(
  runs: McpRuns,
  options: ServeMcpOptions,
): Promise<{ url: string; close: () => Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let allowedHosts: string[] | undefined;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/mcp') {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'not found: use /mcp' }));
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    let body: unknown = undefined;
    if (req.method === 'POST') {
      try {
        body = JSON.parse(await readBody(req)) as unknown;
      } catch {
        return jsonRpcError(res, 400, -32700, 'Parse error: the body is not JSON');
      }
    }
    if (existing) {
      await existing.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      const message =
        typeof sessionId === 'string'
          ? `unknown MCP session ${sessionId}: initialize a new one`
          : 'no MCP session: send initialize first';
      return jsonRpcError(res, typeof sessionId === 'string' ? 404 : 400, -32000, message);
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
      ...(allowedHosts ? { enableDnsRebindingProtection: true, allowedHosts } : {}),
    });
    const server = createMcpSession({ runs, version: options.version });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.log(`weft mcp: ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.httpPort, host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  // A page in a browser must not reach a local server through a rebound DNS name.
  if (LOOPBACK.has(host)) allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/mcp`,
    close: async () => {
      for (const transport of sessions.values()) await transport.close().catch(() => undefined);
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

function jsonRpcError(res: http.ServerResponse, status: number, code: number, message: string): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      data += chunk;
      // Scripts are small; a body this large is not an MCP message.
      if (data.length > 16 * 1024 * 1024) req.destroy(new Error('request body too large'));
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
