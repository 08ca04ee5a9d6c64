/**
 * One MCP session of `weft mcp` (S903): the protocol side. Tools are listed with plain JSON
 * Schemas and their arguments checked with ajv before anything acts; each run is also a resource,
 * `weft://runs/<id>`, whose subscribers hear when it ends.
 */
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { RunStatusName } from '../client/run-views';
import { ConfigError, ScriptError } from '../errors';
import type { McpRuns, WorkflowToolInput } from './mcp-runs';
import { TOOL, TOOL_DEFINITIONS } from './tool-definitions';

/** The URI scheme of run resources. */
export const RUN_URI_PREFIX = 'weft://runs/';

/** How often a subscribed run is checked for its end. */
const WATCH_INTERVAL_MS = 1_000;

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = new Map<string, ValidateFunction>(
  TOOL_DEFINITIONS.map((tool) => [tool.name, ajv.compile(tool.inputSchema)]),
);

/** The `weft://runs/<id>` URI of a run. */
export function runUri(runId: string): string {
  return `${RUN_URI_PREFIX}${encodeURIComponent(runId)}`;
}

function runIdOf(uri: string): string {
  if (!uri.startsWith(RUN_URI_PREFIX) || uri.length === RUN_URI_PREFIX.length) {
    throw new ConfigError(`not a weft run resource: ${uri} (expected ${RUN_URI_PREFIX}<runId>)`);
  }
  return decodeURIComponent(uri.slice(RUN_URI_PREFIX.length));
}

function ok(value: unknown): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value, null, 2) }],
    structuredContent: value as Record<string, unknown>,
  };
}

/** A refusal or failure as the tool error a model reads: one line saying what was wrong. */
function toolError(err: unknown): CallToolResult {
  let text: string;
  if (err instanceof ScriptError) {
    text = `${err.message}\nThe script was refused before anything started. Fix ${err.file} and call Workflow again with scriptPath.`;
  } else if (err instanceof ConfigError) {
    text = err.message;
  } else {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    text = `${err instanceof Error && err.name !== 'Error' ? `${err.name}: ` : ''}${message}`;
  }
  return { isError: true, content: [{ type: 'text', text }] };
}

/** What a session needs from the process that hosts it. */
export interface McpSessionOptions {
  runs: McpRuns;
  version: string;
}

/**
 * Creates the MCP server of one session. Every session of a process shares `runs` (one Temporal
 * client, one embedded worker); each has its own subscriptions. Call `close()` on the returned
 * server (or its transport) to end the session and its watchers.
 */
export function createMcpSession(options: McpSessionOptions): Server {
  const { runs } = options;
  const server = new Server(
    { name: 'weft', title: 'weft: durable multi-agent workflows on Temporal', version: options.version },
    {
      capabilities: {
        tools: {},
        resources: { subscribe: true, listChanged: true },
        logging: {},
      },
      instructions:
        'weft runs multi-agent workflow scripts durably on Temporal. Start one with the Workflow tool (only when the user asked for a workflow), then follow it with workflow_status and workflow_result. Runs outlive this connection: a runId stays valid across sessions.',
    },
  );
  const watchers = new Map<string, AbortController>();

  /**
   * Waits for a run to end, then tells the client: subscribers of its resource get
   * `resources/updated`; for a run started in this session, a log message says it ended.
   */
  const watch = (runId: string, kind: 'subscription' | 'started'): AbortController => {
    const controller = new AbortController();
    void (async () => {
      while (!controller.signal.aborted) {
        const closed = await runs.client.temporal.workflow
          .getHandle(runId)
          .describe()
          .then((d) => d.status.name !== 'RUNNING')
          .catch(() => false);
        if (closed) break;
        await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
      }
      if (controller.signal.aborted) return;
      const uri = runUri(runId);
      if (kind === 'subscription') {
        await server.sendResourceUpdated({ uri }).catch(() => undefined);
      } else {
        const summary = await runs.client.wait(runId).catch(() => null);
        await server
          .sendLoggingMessage({
            level: 'info',
            logger: 'weft',
            data: {
              event: 'run_ended',
              runId,
              status: summary?.status ?? 'unknown',
              uri,
              text: `run ${runId} ${summary?.status ?? 'ended'}: call workflow_result for its result`,
            },
          })
          .catch(() => undefined);
      }
    })();
    return controller;
  };
  const started: AbortController[] = [];

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: TOOL_DEFINITIONS.map((tool) => ({ ...tool })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name } = request.params;
    const args = (request.params.arguments ?? {}) as Record<string, unknown>;
    const validate = validators.get(name);
    if (!validate) return toolError(new ConfigError(`unknown tool ${name}`));
    if (!validate(args)) {
      const issue = validate.errors?.[0];
      const where = issue?.instancePath ? `${issue.instancePath.slice(1)} ` : '';
      const extraKey =
        issue?.keyword === 'additionalProperties'
          ? ` (${String((issue.params as { additionalProperty?: string }).additionalProperty)})`
          : '';
      return toolError(
        new ConfigError(`${name}: ${where}${issue?.message ?? 'invalid arguments'}${extraKey}`),
      );
    }
    try {
      switch (name) {
        case TOOL.workflow: {
          const answer = await runs.startWorkflow(args as WorkflowToolInput);
          if ('runId' in answer) {
            started.push(watch(answer.runId, 'started'));
            server.sendResourceListChanged().catch(() => undefined);
          }
          return ok(answer);
        }
        case TOOL.status:
          return ok(await runs.status(args.runId as string, (args.logLines as number | undefined) ?? 10));
        case TOOL.result: {
          const progressToken = request.params._meta?.progressToken;
          const onProgress =
            progressToken === undefined
              ? undefined
              : (p: { settled: number; total: number; message: string }) =>
                  extra.sendNotification({
                    method: 'notifications/progress',
                    params: { progressToken, progress: p.settled, total: p.total, message: p.message },
                  });
          return ok(
            await runs.result(
              args.runId as string,
              (args.wait as number | undefined) ?? 0,
              onProgress,
              extra.signal,
            ),
          );
        }
        case TOOL.list:
          return ok({
            runs: await runs.list(args as { status?: RunStatusName; name?: string; limit?: number }),
          });
        case TOOL.stop:
          return ok(
            await runs.stop(
              args.runId as string,
              args.agent as string | number | undefined,
              args.reason as string | undefined,
            ),
          );
        case TOOL.approve: {
          const client = server.getClientVersion();
          return ok(
            await runs.approve(args.runId as string, {
              step: args.step as string,
              approved: args.approved as boolean,
              ...(args.comment === undefined ? {} : { comment: args.comment as string }),
              by: `mcp:${client?.name ?? 'client'}`,
            }),
          );
        }
        case TOOL.saved:
          return ok(await runs.saved());
        default:
          return toolError(new ConfigError(`unknown tool ${name}`));
      }
    } catch (err) {
      // A failing call is the caller's answer, never the server's end.
      return toolError(err);
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, async () => {
    const list = await runs.list({ limit: 50 });
    return {
      resources: list.map((run) => ({
        uri: runUri(run.runId),
        name: run.runId,
        title: `${run.name} (${run.status})`,
        description: `weft run of ${run.name}: ${run.status}, ${run.agents ?? '?'} agents`,
        mimeType: 'application/json',
      })),
    };
  });

  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [
      {
        uriTemplate: `${RUN_URI_PREFIX}{runId}`,
        name: 'run',
        title: 'A weft run',
        description: 'The status of one run (what workflow_status answers); subscribe to hear when it ends.',
        mimeType: 'application/json',
      },
    ],
  }));

  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const { uri } = request.params;
    const view = await runs.status(runIdOf(uri));
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(view, null, 2) }] };
  });

  server.setRequestHandler(SubscribeRequestSchema, (request) => {
    const { uri } = request.params;
    runIdOf(uri);
    if (!watchers.has(uri)) watchers.set(uri, watch(runIdOf(uri), 'subscription'));
    return {};
  });

  server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    watchers.get(request.params.uri)?.abort();
    watchers.delete(request.params.uri);
    return {};
  });

  server.onclose = () => {
    for (const controller of [...watchers.values(), ...started]) controller.abort();
    watchers.clear();
  };
  return server;
}
