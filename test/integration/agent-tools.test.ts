import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { probeSandbox } from '../../src/activities/tools/sandbox';
import type { MockRequestLog } from '../../src/mock-model/server';
import { searchResultUrls } from '../../src/mock-model/web-search';
import {
  ROOT,
  runWeft,
  spawnWorker,
  uniqueName,
  until,
  useModelAndClient,
  weftEnv,
} from '../helpers/harness';
import type { CliResult } from '../helpers/harness';

/**
 * The tools real work needs, end to end through the built CLI, the real SDK and the local model
 * server: the sandboxed Bash (S808) and MCP servers' tools (S807), against the everything server
 * of the MCP project (@modelcontextprotocol/server-everything), over stdio and streamable HTTP.
 */

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'tools');
const shared = useModelAndClient();

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(parent: string, prefix: string): string {
  mkdirSync(parent, { recursive: true });
  const dir = realpathSync(mkdtempSync(path.join(parent, prefix)));
  dirs.push(dir);
  return dir;
}

let web: Server;
let webUrl: string;
before(async () => {
  web = createServer((_req, res) => res.end('reached the host'));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/`;
});
after(() => {
  web?.closeAllConnections();
  web?.close();
});

function requestsFor(tag: string): MockRequestLog[] {
  return shared.model.requests.filter((r) => r.prompt.startsWith(`[ag:${tag}]`));
}

const sandbox = probeSandbox();

void describe('sandboxed Bash through weft run', () => {
  void test(
    'S808 an agent builds in its cwd; its write outside and its loopback request fail; --allow-network opens the network',
    { skip: !sandbox.available && `no sandbox here: ${sandbox.reason}` },
    async () => {
      const cwd = tempDir(os.tmpdir(), 'weft-tools-sbx-');
      const outsideFile = path.join(tempDir(path.join(ROOT, '.weft'), 'tools-outside-'), 'planted.txt');
      const runOnce = async (flags: string[]): Promise<MockRequestLog[]> => {
        shared.model.reset();
        const runId = uniqueName('sandboxed-bash');
        const res = await runWeft(
          [
            'run',
            path.join(FIXTURES, 'sandboxed-bash.js'),
            '--json',
            '--id',
            runId,
            '--cwd',
            cwd,
            '--args',
            JSON.stringify({ outsideFile, url: webUrl }),
            ...flags,
          ],
          { env: weftEnv({ modelUrl: shared.model.url, taskQueue: runId }) },
        );
        assert.equal(res.code, 0, res.stderr);
        assert.equal((res.json as { result: unknown }).result, 'tried');
        // The machine has a sandbox, so the worker has nothing to warn about.
        assert.doesNotMatch(res.stderr, /without a sandbox/);
        const requests = requestsFor('sandboxed');
        assert.equal(requests.length, 4);
        return requests;
      };

      const closed = await runOnce(['--sandbox', 'required']);
      const [build, write, fetch] = closed.slice(1).map((r) => r.toolResults[0]);
      assert.deepEqual(build, { tool_use_id: build?.tool_use_id, is_error: false, content: 'built' });
      assert.equal(readFileSync(path.join(cwd, 'dist', 'out.txt'), 'utf8'), 'built\n');
      assert.equal(write?.is_error, true);
      // Read-only everywhere but the cwd; a checkout under /tmp is not even visible, since each
      // command gets a private /tmp.
      assert.match(write?.content ?? '', /Read-only file system|No such file or directory/);
      assert.equal(existsSync(outsideFile), false);
      assert.equal(fetch?.is_error, true);
      assert.match(fetch?.content ?? '', /BLOCKED ECONNREFUSED/);

      const open = await runOnce(['--allow-network']);
      assert.deepEqual(open[3]?.toolResults[0]?.content, 'GOT reached the host');
      assert.equal(existsSync(outsideFile), false);
    },
  );

  void test('S808 without a sandbox: --sandbox required refuses with one line and exit 2; a worker warns once', async (t) => {
    const runId = uniqueName('sandboxed-bash');
    const env = weftEnv({
      modelUrl: shared.model.url,
      taskQueue: runId,
      extra: { WEFT_BWRAP_PATH: '/nonexistent/bwrap' },
    });
    const refused = await runWeft(
      ['run', path.join(FIXTURES, 'sandboxed-bash.js'), '--sandbox', 'required', '--id', runId],
      { env },
    );
    assert.equal(refused.code, 2, refused.stderr);
    assert.deepEqual(refused.stderr.trim().split('\n'), [
      'weft: --sandbox required: WEFT_BWRAP_PATH /nonexistent/bwrap does not exist',
    ]);
    // Nothing started: the run id is unknown to the server.
    await assert.rejects(shared.client.wait(runId));

    const badMode = await runWeft(['worker', '--sandbox', 'sometimes'], { env });
    assert.equal(badMode.code, 2);
    assert.match(badMode.stderr, /--sandbox.*expected one of auto, required, off/);

    const worker = await spawnWorker(t, env);
    const warnings = worker
      .stderr()
      .split('\n')
      .filter((l) => l.includes('without a sandbox'));
    assert.deepEqual(warnings, [
      'weft: warning: Bash runs without a sandbox: WEFT_BWRAP_PATH /nonexistent/bwrap does not exist',
    ]);
  });
});

const EVERYTHING_JS = path.join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'server-everything',
  'dist',
  'index.js',
);
const MCP_TOKEN = 'tok-7f3a9c1e5b2d';

/** The everything server over streamable HTTP, on `port` (0: a free one), as its own process. */
async function startEverythingHttp(
  port: number,
): Promise<{ port: number; child: ChildProcess; stop: () => Promise<void> }> {
  const chosen = port || (await freePort());
  const child = spawn(process.execPath, [EVERYTHING_JS, 'streamableHttp'], {
    env: { ...process.env, PORT: String(chosen) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await until(() => stderr.includes('listening on port'), 'the everything server to listen', 30_000);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  };
  return { port: chosen, child, stop };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A gate in front of the HTTP server that lets through only requests with the bearer token, so
 * the test sees that `${MCP_TOKEN}` was expanded into the configured header.
 */
async function startAuthGate(
  targetPort: () => number,
): Promise<{ url: string; seen: string[]; close: () => void }> {
  const seen: string[] = [];
  const gate = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    if (req.headers.authorization !== `Bearer ${MCP_TOKEN}`) {
      res.writeHead(401).end('unauthorized');
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: targetPort(), path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end('upstream down')));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(gate.address() as AddressInfo).port}/mcp`,
    seen,
    close: () => {
      gate.closeAllConnections();
      gate.close();
    },
  };
}

/** A history with every payload's bytes as text, to search for strings that must not be there. */
function historyText(value: unknown): string {
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return JSON.stringify(walk(value));
}

async function runMcp(
  args: { tag: string; calls: [string, Record<string, unknown>][]; agentType?: string },
  options: { cwd: string; flags?: string[]; extraEnv?: NodeJS.ProcessEnv; worker?: false },
): Promise<{ res: CliResult; runId: string; requests: MockRequestLog[] }> {
  const runId = uniqueName(`mcp-${args.tag}`);
  const res = await runWeft(
    [
      'run',
      path.join(FIXTURES, 'mcp-tools.js'),
      '--json',
      '--id',
      runId,
      '--cwd',
      options.cwd,
      '--args',
      JSON.stringify(args),
      ...(options.worker === false ? ['--no-worker'] : []),
      ...(options.flags ?? []),
    ],
    {
      env: weftEnv({
        modelUrl: shared.model.url,
        taskQueue: options.extraEnv?.WEFT_TASK_QUEUE ?? runId,
        extra: options.extraEnv,
      }),
    },
  );
  return { res, runId, requests: requestsFor(args.tag) };
}

void describe('MCP servers give agents their tools', () => {
  void test('S807 the project .mcp.json over stdio and --mcp-config over HTTP: tools named mcp__<server>__<tool>, ${VAR} expanded, agentType tools: names them, no secret in history', async (t) => {
    const cwd = tempDir(os.tmpdir(), 'weft-mcp-');
    writeFileSync(
      path.join(cwd, '.mcp.json'),
      JSON.stringify({
        mcpServers: {
          everything: {
            command: 'node',
            args: ['${EVERYTHING_JS}', 'stdio'],
            env: { WEFT_MCP_GREETING: '${MCP_GREETING:-hello from .mcp.json}' },
          },
        },
      }),
    );
    const http = await startEverythingHttp(0);
    t.after(() => http.stop());
    const gate = await startAuthGate(() => http.port);
    t.after(() => gate.close());
    const configFile = path.join(tempDir(os.tmpdir(), 'weft-mcp-config-'), 'servers.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        mcpServers: {
          remote: { type: 'http', url: gate.url, headers: { Authorization: 'Bearer ${MCP_TOKEN}' } },
        },
      }),
    );
    mkdirSync(path.join(cwd, '.claude', 'agents'), { recursive: true });
    writeFileSync(
      path.join(cwd, '.claude', 'agents', 'remote-only.md'),
      '---\nname: remote-only\ndescription: reads, and echoes through the remote server\ntools: Read, mcp__remote__echo\n---\nYou echo.\n',
    );
    const extraEnv = { EVERYTHING_JS, MCP_TOKEN, ANTHROPIC_API_KEY_FOR_MCP: 'never-passed' };

    // No tools list: every built-in tool and every tool of both servers.
    const all = await runMcp(
      {
        tag: 'mcp-all',
        calls: [
          ['mcp__everything__echo', { message: 'over stdio' }],
          ['mcp__everything__get-sum', { a: 2, b: 3 }],
          ['mcp__everything__get-env', {}],
          ['mcp__remote__get-sum', { a: 20, b: 22 }],
          ['mcp__everything__get-sum', { a: 'two' }],
        ],
      },
      { cwd, flags: ['--mcp-config', configFile], extraEnv },
    );
    assert.equal(all.res.code, 0, all.res.stderr);
    assert.equal((all.res.json as { result: unknown }).result, 'used them');
    assert.equal(all.requests.length, 6);
    const offered = all.requests[0]?.tools ?? [];
    for (const name of [
      'Read',
      'Bash',
      'mcp__everything__echo',
      'mcp__everything__get-sum',
      'mcp__remote__echo',
      'mcp__remote__get-sum',
    ]) {
      assert.ok(offered.includes(name), `${name} is offered: ${offered.join(', ')}`);
    }
    const [echo, sum, envOut, remoteSum, badInput] = all.requests.slice(1).map((r) => r.toolResults[0]);
    assert.deepEqual([echo?.is_error, echo?.content], [false, 'Echo: over stdio']);
    assert.deepEqual([sum?.is_error, sum?.content], [false, 'The sum of 2 and 3 is 5.']);
    // ${VAR:-default} used its default; the worker's own variables did not reach the server.
    const serverEnv = JSON.parse(envOut?.content ?? '{}') as Record<string, string>;
    assert.equal(serverEnv.WEFT_MCP_GREETING, 'hello from .mcp.json');
    assert.equal(serverEnv.ANTHROPIC_API_KEY, undefined);
    assert.equal(serverEnv.ANTHROPIC_API_KEY_FOR_MCP, undefined);
    assert.equal(serverEnv.MCP_TOKEN, undefined);
    assert.deepEqual([remoteSum?.is_error, remoteSum?.content], [false, 'The sum of 20 and 22 is 42.']);
    // Input that breaks the server's schema is refused before the call, as for built-in tools.
    assert.equal(badInput?.is_error, true);
    assert.match(badInput?.content ?? '', /Invalid input for mcp__everything__get-sum/);
    assert.ok(gate.seen.length > 0 && gate.seen.every((h) => h === `Bearer ${MCP_TOKEN}`));

    // An agent type's tools: list names one MCP tool: it gets that and Read, nothing else.
    const typed = await runMcp(
      { tag: 'mcp-typed', agentType: 'remote-only', calls: [['mcp__remote__echo', { message: 'typed' }]] },
      { cwd, flags: ['--mcp-config', configFile], extraEnv },
    );
    assert.equal(typed.res.code, 0, typed.res.stderr);
    assert.deepEqual(typed.requests[0]?.tools, ['Read', 'mcp__remote__echo']);
    assert.equal(typed.requests[1]?.toolResults[0]?.content, 'Echo: typed');

    // The token lives in the worker's environment and the config file, never in the run's history.
    for (const runId of [all.runId, typed.runId]) {
      const history = await shared.client.temporal.workflow.getHandle(runId).fetchHistory();
      const text = historyText(history);
      assert.ok(text.includes('mcp__remote'), 'the history is readable');
      assert.ok(!text.includes(MCP_TOKEN), `the token is in the history of ${runId}`);
    }
  });

  void test('S807 a failing server is a tool error, the worker lives on, and the pool reconnects when it is back', async (t) => {
    const cwd = tempDir(os.tmpdir(), 'weft-mcp-fail-');
    let http = await startEverythingHttp(0);
    const port = http.port;
    t.after(() => http.stop());
    const configFile = path.join(cwd, 'servers.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        mcpServers: {
          remote: { type: 'http', url: `http://127.0.0.1:${port}/mcp` },
          broken: { command: '/nonexistent/mcp-server' },
          unset: { command: 'node', args: ['${WEFT_TEST_UNSET_VARIABLE}'] },
        },
      }),
    );
    const queue = uniqueName('mcp-pool');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const worker = await spawnWorker(t, env, ['--mcp-config', configFile]);
    const run = (tag: string, calls: [string, Record<string, unknown>][], agentType?: string) =>
      runMcp(
        { tag, calls, ...(agentType ? { agentType } : {}) },
        { cwd, worker: false, extraEnv: { WEFT_TASK_QUEUE: queue } },
      );

    const first = await run('pool-1', [['mcp__remote__echo', { message: 'one' }]]);
    assert.equal(first.res.code, 0, first.res.stderr);
    assert.equal(first.requests[1]?.toolResults[0]?.content, 'Echo: one');
    // The servers that cannot start are named to the agent, with the reason, and cost it nothing else.
    assert.match(first.requests[0]?.system ?? '', /MCP server "broken" \(.*servers\.json\) is unavailable: /);
    assert.match(
      first.requests[0]?.system ?? '',
      /MCP server "unset" .*is unavailable: environment variable WEFT_TEST_UNSET_VARIABLE is not set/,
    );

    // The server dies: the agent's call is a clear tool error and the agent still finishes.
    await http.stop();
    const down = await run('pool-2', [['mcp__remote__echo', { message: 'two' }]]);
    assert.equal(down.res.code, 0, down.res.stderr);
    const failed = down.requests[1]?.toolResults[0];
    assert.equal(failed?.is_error, true);
    assert.match(failed?.content ?? '', /^MCP server "remote" failed: .*weft reconnects on the next call\.$/);
    assert.equal(worker.child.exitCode, null, 'the worker lives on');

    // Back on the same port: the pool connects again.
    http = await startEverythingHttp(port);
    const back = await run('pool-3', [['mcp__remote__echo', { message: 'three' }]]);
    assert.equal(back.res.code, 0, back.res.stderr);
    assert.equal(back.requests[1]?.toolResults[0]?.content, 'Echo: three');
    assert.equal(worker.child.exitCode, null);
  });
});

void describe('WebSearch, the API server tool', () => {
  async function runSearch(args: {
    tag: string;
    query: string;
    fetch?: string;
    agentType?: string;
    cwd: string;
  }): Promise<{ res: CliResult; requests: MockRequestLog[] }> {
    const runId = uniqueName(`ws-${args.tag}`);
    const res = await runWeft(
      [
        'run',
        path.join(FIXTURES, 'web-search.js'),
        '--json',
        '--id',
        runId,
        '--cwd',
        args.cwd,
        '--args',
        JSON.stringify(args),
      ],
      { env: weftEnv({ modelUrl: shared.model.url, taskQueue: runId }) },
    );
    return { res, requests: requestsFor(args.tag) };
  }

  void test('S806 WebSearch goes to the API as web_search_20250305 with max_uses; the paused search turn is sent back with its blocks and citations; searches are counted; WebFetch reads a result; agentType tools: names it', async () => {
    const cwd = tempDir(os.tmpdir(), 'weft-ws-');
    const query = 'heat pump efficiency below -15 C';
    const urls = searchResultUrls(shared.model.url, query);
    const { res, requests } = await runSearch({ tag: 'ws-all', query, fetch: urls[0], cwd });
    assert.equal(res.code, 0, res.stderr);
    assert.equal((res.json as { result: unknown }).result, 'searched');

    // Offered under the API's name next to the client tools, with Claude Code's defaults.
    const first = requests[0];
    assert.ok(first?.tools.includes('web_search'), first?.tools.join(', '));
    assert.ok(first?.tools.includes('WebFetch'));
    assert.deepEqual(first?.serverTools, [{ type: 'web_search_20250305', name: 'web_search', max_uses: 5 }]);

    // The mock searched and paused; weft sent the paused turn back as the last message.
    assert.equal(first?.stopReason, 'pause_turn');
    const blocks = first?.content ?? [];
    assert.deepEqual(
      blocks.map((b) => b.type),
      ['server_tool_use', 'web_search_tool_result', 'text'],
    );
    const cited = blocks[2] as { citations?: { url: string }[] };
    assert.equal(cited.citations?.[0]?.url, urls[0]);
    const resumed = requests[1];
    assert.equal(resumed?.lastRole, 'assistant');
    assert.equal(resumed?.turn, 1);

    // The agent then fetched the first result, a page the mock serves.
    const fetched = requests.find((r) => r.toolResults.length > 0)?.toolResults[0];
    assert.equal(fetched?.is_error, false);
    assert.match(fetched?.content ?? '', /Status: 200[\s\S]*Fact 1 about heat pump efficiency/);

    // usage.server_tool_use.web_search_requests reaches the run's usage.
    const out = res.json as { usage?: { webSearchRequests?: number } };
    assert.equal(out.usage?.webSearchRequests, 1, JSON.stringify(res.json));

    // An agent type whose tools: names WebSearch gets it, and nothing it did not name.
    mkdirSync(path.join(cwd, '.claude', 'agents'), { recursive: true });
    writeFileSync(
      path.join(cwd, '.claude', 'agents', 'searcher.md'),
      '---\nname: searcher\ndescription: searches\ntools: WebSearch, WebFetch\n---\nYou search.\n',
    );
    const typed = await runSearch({
      tag: 'ws-typed',
      query: 'cold climate heat pumps',
      agentType: 'searcher',
      cwd,
    });
    assert.equal(typed.res.code, 0, typed.res.stderr);
    assert.deepEqual(typed.requests[0]?.tools, ['WebFetch', 'web_search']);
    assert.equal(typed.requests[0]?.stopReason, 'pause_turn');
  });
});
