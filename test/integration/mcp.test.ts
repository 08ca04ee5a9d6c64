import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import {
  ROOT,
  WEFT_BIN,
  runWeft,
  spawnWorker,
  uniqueName,
  until,
  useModelAndClient,
  weftEnv,
} from '../helpers/harness';

const shared = useModelAndClient();

const TOOL_NAMES = [
  'Workflow',
  'workflow_status',
  'workflow_result',
  'workflow_list',
  'workflow_stop',
  'workflow_approve',
  'workflows_saved',
];

/** An inline script: a pipeline of two stages over `args.items`, each agent answering from the mock. */
const PIPELINE_SCRIPT = `export const meta = {
  name: 'mcp-pipeline',
  description: 'Two stages over the items',
  phases: [{ title: 'Find' }, { title: 'Check' }],
};
log('starting ' + args.items.length + ' items');
const out = await pipeline(
  args.items,
  (item) => agent(\`[[mock:reply found-\${item}]] find \${item} \${args.tag}\`, { label: 'find:' + item, phase: 'Find' }),
  (found, item) => agent(\`[[mock:reply checked-\${found}]] check \${item} \${args.tag}\`, { label: 'check:' + item, phase: 'Check' }),
);
log('done');
return out;
`;

/** Sequential slow agents: long enough to kill or stop the server mid-run. */
function slowScript(name: string, n: number, latencyMs: number): string {
  return `export const meta = { name: '${name}', description: 'Slow sequential agents' };
const out = [];
for (let i = 0; i < ${n}; i++) {
  out.push(await agent(\`[[mock:latency ${latencyMs}]] [[mock:reply r\${i}]] step \${i} \${args.tag}\`, { label: 'step-' + i }));
}
return out;
`;
}

interface Session {
  client: Client;
  /** The server process's pid. */
  pid: number;
  stderr: () => string;
  close: () => Promise<void>;
}

function projectDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'weft-mcp-'));
}

function mcpEnv(queue: string): Record<string, string> {
  const env = weftEnv({
    modelUrl: shared.model.url,
    taskQueue: queue,
    // The test server's Web UI, so webUiUrl points at a page that exists.
    extra: { TEMPORAL_UI_URL: process.env.WEFT_TEST_UI_URL?.trim() || 'http://127.0.0.1:8233' },
  });
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** Spawns the built `weft mcp` over stdio, as Claude Code would, and connects the SDK's Client. */
async function stdioSession(t: TestContext, env: Record<string, string>, args: string[]): Promise<Session> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [WEFT_BIN, 'mcp', ...args],
    env,
    cwd: ROOT,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'weft-test', version: '1.0.0' });
  await client.connect(transport);
  const pid = transport.pid;
  assert.ok(pid, 'the server process has a pid');
  const close = async () => {
    await client.close().catch(() => undefined);
  };
  t.after(close);
  return { client, pid, stderr: () => stderr, close };
}

/** Spawns `weft mcp --http 0` and connects the SDK's Client over streamable HTTP. */
async function httpSession(t: TestContext, env: Record<string, string>, args: string[]): Promise<Session> {
  const child = spawn(process.execPath, [WEFT_BIN, 'mcp', '--http', '0', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const url = await until(
    () => /listening on (http:\/\/\S+)/.exec(stderr)?.[1],
    `weft mcp --http to listen (${stderr})`,
  );
  const client = new Client({ name: 'weft-http-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const close = async () => {
    await client.close().catch(() => undefined);
    child.kill('SIGTERM');
  };
  t.after(close);
  assert.equal(stdout, '', 'nothing but the protocol may reach stdout');
  return { client, pid: child.pid as number, stderr: () => stderr, close };
}

function text(result: CallToolResult): string {
  const first = result.content[0];
  assert.ok(first && first.type === 'text', 'a text answer');
  return first.text;
}

/** Calls a tool that must succeed and returns its JSON answer. */
async function call<T = Record<string, unknown>>(
  session: Session,
  name: string,
  args: Record<string, unknown>,
  options?: { onprogress?: (p: Progress) => void; timeout?: number },
): Promise<T> {
  const result = (await session.client.callTool({ name, arguments: args }, undefined, {
    timeout: options?.timeout ?? 120_000,
    ...(options?.onprogress ? { onprogress: options.onprogress, resetTimeoutOnProgress: true } : {}),
  })) as CallToolResult;
  assert.ok(!result.isError, `${name} failed: ${text(result)}\nserver stderr: ${session.stderr()}`);
  return JSON.parse(text(result)) as T;
}

/** Calls a tool that must fail and returns its error text. */
async function callError(session: Session, name: string, args: Record<string, unknown>): Promise<string> {
  const result = (await session.client.callTool({ name, arguments: args })) as CallToolResult;
  assert.equal(result.isError, true, `${name} should have failed: ${text(result)}`);
  return text(result);
}

interface Started {
  runId: string;
  webUiUrl: string | null;
  scriptPath: string;
  name: string;
}

interface ResultJson {
  runId: string;
  status: string;
  result: unknown;
  agents: number;
  cached?: number;
  error?: string;
}

describe('weft mcp', () => {
  test('S903 over stdio: lists the tools, starts an inline script against the mock model, polls to completion; weft list and weft show see the run', async (t) => {
    const queue = uniqueName('mcp-stdio');
    const env = mcpEnv(queue);
    const project = projectDir();
    const session = await stdioSession(t, env, ['--worker', '--cwd', project]);

    const { tools } = await session.client.listTools();
    assert.deepEqual(
      tools.map((tool) => tool.name),
      TOOL_NAMES,
    );
    const workflowTool = tools.find((tool) => tool.name === 'Workflow');
    // The description teaches the script API: globals, pipeline by default, schemas, the bans.
    for (const phrase of [
      'export const meta',
      'pipeline(',
      'BY DEFAULT',
      'StructuredOutput',
      'Date.now()',
      'resumeFromRunId',
    ]) {
      assert.ok(workflowTool?.description?.includes(phrase), `Workflow's description mentions ${phrase}`);
    }
    assert.deepEqual(Object.keys(workflowTool?.inputSchema.properties ?? {}).slice(0, 3), [
      'script',
      'scriptPath',
      'name',
    ]);

    const started = await call<Started>(session, 'Workflow', {
      script: PIPELINE_SCRIPT,
      args: { items: ['a', 'b', 'c'], tag: queue },
    });
    assert.match(started.runId, /^mcp-pipeline-/);
    assert.equal(started.name, 'mcp-pipeline');
    assert.equal(path.dirname(started.scriptPath), path.join(project, '.weft', 'scripts'));
    assert.equal(
      readFileSync(started.scriptPath, 'utf8'),
      PIPELINE_SCRIPT,
      'the inline script is saved verbatim',
    );
    assert.equal(started.webUiUrl, `${env.TEMPORAL_UI_URL}/namespaces/default/workflows/${started.runId}`);

    // Poll the status tool until the run ends, as a model would.
    const done = await until(
      async () => {
        const status = await call<{ status: string }>(session, 'workflow_status', { runId: started.runId });
        return status.status === 'completed' ? status : null;
      },
      'the run to complete through workflow_status',
      60_000,
      250,
    );
    const status = done as unknown as {
      phases: Array<{ phase: string; agents: { total: number; completed: number } }>;
      agents: { total: number; completed: number };
      usage: { outputTokens: number };
      logs: Array<{ message: string }>;
    };
    assert.deepEqual(
      status.phases.map((p) => [p.phase, p.agents.total, p.agents.completed]),
      [
        ['Find', 3, 3],
        ['Check', 3, 3],
      ],
    );
    assert.equal(status.agents.completed, 6);
    assert.ok(status.usage.outputTokens > 0);
    assert.deepEqual(
      status.logs.map((l) => l.message),
      ['starting 3 items', 'done'],
    );

    const result = await call<ResultJson>(session, 'workflow_result', { runId: started.runId });
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.result, ['checked-found-a', 'checked-found-b', 'checked-found-c']);
    assert.equal(result.agents, 6);
    assert.equal(shared.model.requests.filter((r) => r.prompt.includes(queue)).length, 6);

    // An ordinary weft run: the CLI lists and shows it.
    const listed = await runWeft(['list', '--json'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    const row = (listed.json as Array<{ runId: string; name: string; status: string; agents: number }>).find(
      (r) => r.runId === started.runId,
    );
    assert.deepEqual(row && [row.name, row.status, row.agents], ['mcp-pipeline', 'completed', 6]);
    const shown = await runWeft(['show', started.runId, '--json'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    const details = shown.json as { agents: Array<{ label: string; result: unknown }> };
    assert.deepEqual(details.agents.map((a) => a.label).sort(), [
      'check:a',
      'check:b',
      'check:c',
      'find:a',
      'find:b',
      'find:c',
    ]);
    // The Web UI serves the run's page, and its API describes the run by meta.name and summary.
    const ui = process.env.WEFT_TEST_UI_URL?.trim();
    if (ui) {
      const page = await fetch(started.webUiUrl ?? '');
      assert.equal(page.status, 200);
      const api = await fetch(`${ui}/api/v1/namespaces/default/workflows/${started.runId}`);
      assert.equal(api.status, 200, await api.clone().text());
      const described = (await api.json()) as {
        workflowExecutionInfo: { type: { name: string }; taskQueue: string };
      };
      assert.equal(described.workflowExecutionInfo.type.name, 'mcp-pipeline');
      assert.equal(described.workflowExecutionInfo.taskQueue, queue);
    }
    // And the tool's own list has it.
    const { runs } = await call<{ runs: Array<{ runId: string }> }>(session, 'workflow_list', {});
    assert.ok(runs.some((r) => r.runId === started.runId));
  });

  test('S903 S105 a refused script is a tool error naming file:line:col, and nothing starts', async (t) => {
    const queue = uniqueName('mcp-refused');
    const env = mcpEnv(queue);
    const project = projectDir();
    const session = await stdioSession(t, env, ['--no-worker', '--cwd', project]);
    const broken = `export const meta = { name: 'typed', description: 'has a type annotation' };
const items = ['a'];
const n: number = items.length;
return n;
`;
    const message = await callError(session, 'Workflow', { script: broken });
    const firstLine = message.split('\n')[0] ?? '';
    assert.match(firstLine, /\/\.weft\/scripts\/typed-[0-9a-f]{8}\.js:3:\d+: .*TypeScript/i);
    // The saved file is the one the error names, so the model can fix it and re-run by path.
    const saved = /^(\S+\.js):3:/.exec(firstLine)?.[1];
    assert.ok(saved);
    assert.equal(readFileSync(saved, 'utf8'), broken);

    const missing = await callError(session, 'Workflow', { scriptPath: 'nope/missing.js' });
    assert.match(missing, /nope\/missing\.js:1:1: cannot read script: ENOENT/);
    assert.match(
      await callError(session, 'Workflow', { script: 'x', name: 'y' }),
      /exactly one of script, scriptPath or name/,
    );
    assert.match(
      await callError(session, 'Workflow', { name: 'no-such-saved-workflow' }),
      /unknown workflow "no-such-saved-workflow"/,
    );
    assert.match(
      await callError(session, 'Workflow', { script: PIPELINE_SCRIPT, concurrency: 0 }),
      /concurrency must be >= 1/,
    );
    assert.match(
      await callError(session, 'Workflow', { script: PIPELINE_SCRIPT, resumeFromRunId: `${queue}-none` }),
      new RegExp(`no run with id ${queue}-none`),
    );
    assert.match(await callError(session, 'workflow_status', { runId: `${queue}-none` }), /no run with id/);
    // Budgets apply as in the CLI: a spend ceiling on a model weft cannot price is refused.
    const unpriced = `export const meta = { name: 'unpriced', description: 'names a model with no price' };
return agent('hi', { model: 'mystery-model-1' });
`;
    assert.match(
      await callError(session, 'Workflow', { script: unpriced, maxCostUsd: 1 }),
      /cannot be kept: no known price for mystery-model-1/,
    );
    const listed = await shared.client.listRuns({ taskQueue: queue });
    assert.deepEqual(listed, [], 'no refused call started a run');
    // A failing call never ends the server; the client closing stdin does.
    assert.deepEqual((await session.client.listTools()).tools.length, TOOL_NAMES.length);
    await session.close();
    await until(
      () => /stopping \((stdin closed|the client closed the connection)\)/.test(session.stderr()),
      'the server to stop when its client leaves',
      10_000,
    );
  });

  test('S903 S305 S505 resuming from a run over MCP serves cached agents; workflow_result waits with progress notifications; a caller threshold holds a big run', async (t) => {
    const queue = uniqueName('mcp-resume');
    const env = mcpEnv(queue);
    const project = projectDir();
    const session = await stdioSession(t, env, ['--worker', '--cwd', project]);
    const args = { items: ['x', 'y'], tag: queue };
    const first = await call<Started>(session, 'Workflow', { script: PIPELINE_SCRIPT, args });
    const progress: Progress[] = [];
    const firstResult = await call<ResultJson>(
      session,
      'workflow_result',
      { runId: first.runId, wait: 60 },
      { onprogress: (p) => progress.push(p) },
    );
    assert.equal(firstResult.status, 'completed');
    assert.ok(progress.length >= 1, 'progress notifications arrived while waiting');
    assert.ok(progress.every((p) => typeof p.message === 'string' && p.total !== undefined));
    const asked = shared.model.requests.filter((r) => r.prompt.includes(queue)).length;
    assert.equal(asked, 4);

    // The caller's own threshold (the server has none): a bigger run returns its estimate first.
    const held = await call<{ needsConfirmation?: boolean; estimate: { agents: number }; runId?: string }>(
      session,
      'Workflow',
      {
        script: PIPELINE_SCRIPT,
        args: { items: ['x', 'y', 'z'], tag: `${queue}-big` },
        confirmAboveAgents: 5,
      },
    );
    assert.equal(held.needsConfirmation, true);
    assert.equal(held.estimate.agents, 6);
    assert.equal(held.runId, undefined, 'nothing started');
    assert.equal(shared.model.requests.filter((r) => r.prompt.includes(`${queue}-big`)).length, 0);

    const resumed = await call<Started>(session, 'Workflow', {
      scriptPath: first.scriptPath,
      args,
      resumeFromRunId: first.runId,
    });
    assert.notEqual(resumed.runId, first.runId);
    const again = await call<ResultJson>(session, 'workflow_result', { runId: resumed.runId, wait: 60 });
    assert.equal(again.status, 'completed');
    assert.equal(again.cached, 4);
    assert.equal(again.agents, 0);
    assert.deepEqual(again.result, firstResult.result);
    assert.equal(
      shared.model.requests.filter((r) => r.prompt.includes(queue)).length,
      asked,
      'no agent ran again',
    );
  });

  test('S903 S306 over streamable HTTP: workflow_stop stops one agent, then the whole run', async (t) => {
    const queue = uniqueName('mcp-stop');
    const env = mcpEnv(queue);
    // With TEMPORAL_ADDRESS set the server only submits; a separate worker executes.
    const session = await httpSession(t, env, ['--cwd', projectDir()]);
    assert.match(session.stderr(), /submitting only/);
    await spawnWorker(t, env);
    const started = await call<Started>(session, 'Workflow', {
      script: slowScript('mcp-slow', 5, 60_000),
      args: { tag: queue },
    });
    await until(
      async () => (await shared.client.progress(started.runId)).agents.some((a) => a.status === 'running'),
      'the first agent to run',
    );
    const one = await call<{ stopped: string; matched: number }>(session, 'workflow_stop', {
      runId: started.runId,
      agent: 'step-0',
      reason: 'not needed',
    });
    assert.deepEqual([one.stopped, one.matched], ['agent', 1]);
    await until(
      async () =>
        (await shared.client.progress(started.runId)).agents.some(
          (a) => a.label === 'step-1' && a.status === 'running',
        ),
      'the next agent to run after step-0 was stopped',
    );
    const whole = await call<{ stopped: string }>(session, 'workflow_stop', { runId: started.runId });
    assert.equal(whole.stopped, 'run');
    const result = await call<ResultJson>(session, 'workflow_result', { runId: started.runId, wait: 30 });
    assert.equal(result.status, 'cancelled');
    const status = await call<{ status: string; agents: { skipped: number } }>(session, 'workflow_status', {
      runId: started.runId,
    });
    assert.equal(status.status, 'cancelled');
    assert.equal(
      (await shared.client.temporal.workflow.getHandle(started.runId).describe()).status.name,
      'CANCELLED',
    );
  });

  test('S903 S303 kill -9 of the MCP server mid-run: a new server returns the result; the run lives in Temporal', async (t) => {
    const queue = uniqueName('mcp-kill');
    const env = mcpEnv(queue);
    const project = projectDir();
    // The server runs the embedded worker, so killing it kills the only worker too.
    const first = await stdioSession(t, env, ['--worker', '--cwd', project]);
    const started = await call<Started>(first, 'Workflow', {
      script: slowScript('mcp-kill', 3, 1_500),
      args: { tag: queue },
    });
    await until(
      async () =>
        (await shared.client.progress(started.runId)).agents.some(
          (a) => a.label === 'step-1' && a.status === 'running',
        ),
      'step-1 to be running',
    );
    process.kill(first.pid, 'SIGKILL');
    await until(() => {
      try {
        process.kill(first.pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the killed server to be gone');
    assert.equal(
      (await shared.client.temporal.workflow.getHandle(started.runId).describe()).status.name,
      'RUNNING',
    );

    const second = await stdioSession(t, env, ['--worker', '--cwd', project]);
    const result = await call<ResultJson>(
      second,
      'workflow_result',
      { runId: started.runId, wait: 120 },
      { timeout: 150_000 },
    );
    assert.equal(result.status, 'completed', result.error);
    assert.deepEqual(result.result, ['r0', 'r1', 'r2']);
    // step-0 completed before the kill and never ran again.
    assert.equal(shared.model.requests.filter((r) => r.prompt.includes(`step 0 ${queue}`)).length, 1);
  });

  test('S903 S505 S602 a confirmation threshold returns the estimate first; saved workflows by name; approvals; the run resource notifies its end', async (t) => {
    const queue = uniqueName('mcp-confirm');
    const env = mcpEnv(queue);
    const project = projectDir();
    mkdirSync(path.join(project, '.weft', 'workflows'), { recursive: true });
    writeFileSync(
      path.join(project, '.weft', 'workflows', 'fan-three.js'),
      `export const meta = { name: 'fan-three', description: 'Three agents at once', whenToUse: 'when three opinions beat one' };
return parallel([0, 1, 2].map((i) => () => agent(\`[[mock:reply v\${i}]] opinion \${i} \${args.tag}\`, { label: 'op-' + i })));
`,
    );
    writeFileSync(
      path.join(project, '.weft', 'workflows', 'gate.js'),
      `export const meta = { name: 'gate', description: 'Waits for a person' };
const decision = await approval('Deploy', 'Deploy now?');
return decision;
`,
    );
    const session = await httpSession(t, env, ['--worker', '--cwd', project, '--confirm-agents', '2']);
    const ended: string[] = [];
    const logs: unknown[] = [];
    session.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      ended.push(n.params.uri);
    });
    session.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.data);
    });

    const saved = await call<{ workflows: Array<{ name: string; whenToUse?: string; origin: string }> }>(
      session,
      'workflows_saved',
      {},
    );
    const fan = saved.workflows.find((w) => w.name === 'fan-three');
    assert.deepEqual(fan && [fan.whenToUse, fan.origin], ['when three opinions beat one', 'project']);

    const before = shared.model.requests.length;
    const refused = await call<{ needsConfirmation: boolean; estimate: { agents: number }; reason: string }>(
      session,
      'Workflow',
      { name: 'fan-three', args: { tag: queue } },
    );
    assert.equal(refused.needsConfirmation, true);
    assert.equal(refused.estimate.agents, 3);
    assert.match(refused.reason, /above the confirmation threshold of 2/);
    assert.equal(shared.model.requests.length, before, 'the estimate spent nothing on the model');

    const confirmed = await call<Started & { estimate?: unknown }>(session, 'Workflow', {
      name: 'fan-three',
      args: { tag: queue },
      confirm: true,
    });
    const uri = `weft://runs/${confirmed.runId}`;
    await session.client.subscribeResource({ uri });
    const result = await call<ResultJson>(session, 'workflow_result', { runId: confirmed.runId, wait: 60 });
    assert.deepEqual(result.result, ['v0', 'v1', 'v2']);
    await until(() => ended.includes(uri), 'resources/updated for the ended run', 10_000);
    await until(
      () => logs.some((l) => (l as { runId?: string }).runId === confirmed.runId),
      'a log notification that the run ended',
      10_000,
    );
    const resource = await session.client.readResource({ uri });
    const first = resource.contents[0];
    assert.ok(first && 'text' in first);
    assert.equal((JSON.parse(first.text) as { status: string }).status, 'completed');

    // A run under the threshold starts at once, with the estimate it passed.
    const gate = await call<Started & { estimate?: { agents: number } }>(session, 'Workflow', {
      name: 'gate',
    });
    assert.equal(gate.estimate?.agents, 0);
    const waiting = await until(async () => {
      const s = await call<{ waitingApprovals: Array<{ step: string }> }>(session, 'workflow_status', {
        runId: gate.runId,
      });
      return s.waitingApprovals.length ? s.waitingApprovals : null;
    }, 'the approval to wait');
    assert.deepEqual(
      waiting.map((w) => w.step),
      ['Deploy'],
    );
    const decided = await call<{ status: string; by: string }>(session, 'workflow_approve', {
      runId: gate.runId,
      step: 'Deploy',
      approved: true,
      comment: 'ship it',
    });
    assert.deepEqual([decided.status, decided.by], ['approved', 'mcp:weft-http-test']);
    const gateResult = await call<ResultJson>(session, 'workflow_result', { runId: gate.runId, wait: 30 });
    assert.deepEqual(gateResult.result, { approved: true, by: 'mcp:weft-http-test', comment: 'ship it' });
  });
});
