import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import type { AgentCheckpoint } from '../../src/activities/agent/checkpoint';
import { costOf } from '../../src/activities/pricing';
import { WeftClient } from '../../src/client/weft-client';
import { loadConfig } from '../../src/config';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel, MockRequestLog } from '../../src/mock-model/server';
import { createDataConverter } from '../../src/storage/data-converter';
import type { AgentRecord, AgentResult, RunOutput } from '../../src/types';
import { ROOT, runWeft, spawnWorker, temporalAddress, uniqueName, until, weftEnv } from '../helpers/harness';
import type { CliResult } from '../helpers/harness';

/**
 * The agent activity end to end (S401-S406, S204 options): fixture scripts run through the built
 * CLI on the test server, agents talk to the local model server, and the assertions read what the
 * model was sent (its request log), what the agents did to the disk, and the run's records.
 */

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'agents');
const ALL_TOOLS = ['Read', 'Write', 'Edit', 'Glob', 'Grep', 'Bash', 'WebFetch', 'web_search'];

let model: MockModel;
let client: WeftClient;
let payloadDir: string;
let web: Server;
let webUrl: string;

before(async () => {
  model = await startMockModel();
  payloadDir = mkdtempSync(path.join(os.tmpdir(), 'weft-agents-payloads-'));
  client = await WeftClient.connect({
    config: { ...loadConfig(), address: temporalAddress() },
    dataConverter: createDataConverter({ dir: payloadDir }),
  });
  web = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><body><h1>Local page</h1><p>The answer is 42.</p></body></html>');
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
});
after(async () => {
  await client?.close();
  await model?.close();
  web?.closeAllConnections();
  web?.close();
  rmSync(payloadDir, { recursive: true, force: true });
});

function env(queue: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // One payload store for every process of a test, and small payloads kept inline in the history,
  // so heartbeat details and results can be read straight from it.
  return weftEnv({
    modelUrl: model.url,
    taskQueue: queue,
    extra: { WEFT_PAYLOAD_DIR: payloadDir, WEFT_PAYLOAD_THRESHOLD: '1m', ...extra },
  });
}

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), `weft-agents-${prefix}-`)));
  tempDirs.push(dir);
  return dir;
}

interface Ran extends CliResult {
  runId: string;
  result: Record<string, unknown>;
  output: RunOutput;
  record: (label: string) => AgentRecord;
}

/** Runs a fixture with `weft run --json` on its own task queue, in `cwd`, and reads its records. */
async function run(
  fixture: string,
  options: { cwd: string; args?: unknown; flags?: string[]; extraEnv?: NodeJS.ProcessEnv },
): Promise<Ran> {
  const runId = uniqueName(path.basename(fixture, '.js'));
  const res = await runWeft(
    [
      'run',
      path.join(FIXTURES, fixture),
      '--json',
      '--id',
      runId,
      '--cwd',
      options.cwd,
      ...(options.args === undefined ? [] : ['--args', JSON.stringify(options.args)]),
      ...(options.flags ?? []),
    ],
    { env: env(runId, options.extraEnv) },
  );
  assert.equal(res.code, 0, `weft run ${fixture} failed:\n${res.stderr}`);
  const summary = await client.wait(runId);
  assert.ok(summary.output, `run ${runId} has no output (${summary.status}: ${summary.error})`);
  const output = summary.output;
  return {
    ...res,
    runId,
    result: (res.json as { result: Record<string, unknown> }).result,
    output,
    record: (label) => {
      const found = output.records.find((r) => r.label === label);
      assert.ok(found, `no record labelled ${label}`);
      return found;
    },
  };
}

/** The model requests of one agent, told apart by the `[ag:TAG]` its prompt starts with. */
function requestsFor(tag: string): MockRequestLog[] {
  return model.requests.filter((r) => r.prompt.startsWith(`[ag:${tag}]`));
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

/** Whether a process is gone: no such pid, or a zombie that only waits to be reaped. */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return / Z /.test(stat);
}

/** Submits a run with `weft start`, as a user with a pool of workers would. */
async function startRun(
  fixture: string,
  queue: string,
  options: { cwd: string; args: unknown },
): Promise<string> {
  const res = await runWeft(
    [
      'start',
      path.join(FIXTURES, fixture),
      '--json',
      '--id',
      queue,
      '--cwd',
      options.cwd,
      '--args',
      JSON.stringify(options.args),
    ],
    { env: env(queue) },
  );
  assert.equal(res.code, 0, res.stderr);
  return queue;
}

void describe('agents that do real work', () => {
  void test('S401 S402 S406 every tool works inside the working directory; paths outside are refused; usage is recorded', async () => {
    const root = tempDir('tools');
    const cwd = path.join(root, 'work');
    mkdirSync(path.join(root, 'outside'), { recursive: true });
    mkdirSync(cwd);
    const outsideFile = path.join(root, 'outside', 'secret.txt');
    writeFileSync(outsideFile, 'top secret\n');
    symlinkSync(path.join(root, 'outside'), path.join(cwd, 'escape'));

    const ran = await run('agents-tools.js', { cwd, args: { url: `${webUrl}/page`, outsideFile } });
    assert.deepEqual(ran.result, { worker: 'all tools used', refused: 'could not' });

    // The Write and the Edit landed in the working directory.
    assert.equal(readFileSync(path.join(cwd, 'out', 'hello.txt'), 'utf8'), 'HELLO from the agent\n');
    const used = requestsFor('tool-user');
    assert.equal(used.length, 8);
    const results = used.slice(1).map((r) => r.toolResults[0]);
    assert.ok(
      results.every((r) => r?.is_error === false),
      JSON.stringify(results),
    );
    assert.match(results[0]?.content ?? '', /^Created .*out\/hello\.txt/);
    assert.match(results[1]?.content ?? '', /^Replaced 1 occurrence/);
    assert.equal(results[2]?.content, '     1\tHELLO from the agent');
    assert.equal(results[3]?.content, path.join(cwd, 'out', 'hello.txt'));
    assert.equal(results[4]?.content, `${path.join(cwd, 'out', 'hello.txt')}:1:HELLO from the agent`);
    assert.equal(results[5]?.content, `${cwd}\nHELLO from the agent`);
    assert.match(results[6]?.content ?? '', /Status: 200[\s\S]*Local page\nThe answer is 42\./);

    // Reads and writes outside, directly or through a symlink, come back as tool errors.
    const refused = requestsFor('refused');
    assert.equal(refused.length, 4);
    for (const r of refused.slice(1)) {
      assert.equal(r.toolResults[0]?.is_error, true);
      assert.match(r.toolResults[0]?.content ?? '', /outside the working directory/);
    }
    assert.equal(existsSync(path.join(root, 'planted.txt')), false);
    assert.equal(readFileSync(outsideFile, 'utf8'), 'top secret\n');

    // S402: told that no one answers and that the final message is data; no tool starts workflows.
    for (const r of [...used, ...refused]) {
      assert.match(r.system, /no one will\s+answer questions/);
      assert.match(r.system, /final message is data returned to the script/);
      assert.deepEqual(r.tools, ALL_TOOLS);
    }

    // S406: model, tokens, cost and status of each agent, matching what the model reported.
    for (const [label, requests] of [
      ['tool-user', used],
      ['refused', refused],
    ] as const) {
      const record = ran.record(label);
      assert.equal(record.status, 'completed');
      assert.equal(record.model, 'claude-sonnet-4-6');
      assert.equal(
        record.usage.outputTokens,
        requests.reduce((s, r) => s + (r.usage?.output_tokens ?? 0), 0),
      );
      assert.equal(
        record.usage.inputTokens,
        requests.reduce((s, r) => s + (r.usage?.input_tokens ?? 0), 0),
      );
      assert.ok(Math.abs(record.costUsd - (costOf('claude-sonnet-4-6', record.usage) ?? NaN)) < 1e-9);
      assert.ok(record.startedAt !== null && record.endedAt !== null && record.endedAt >= record.startedAt);
      assert.equal(typeof record.attempts, 'number');
    }
    assert.equal(
      ran.output.usage.outputTokens,
      ran.record('tool-user').usage.outputTokens + ran.record('refused').usage.outputTokens,
    );
  });

  void test('S202 S401 schema agents that use tools: invalid twice then valid, never valid throws, prose then StructuredOutput', async () => {
    const cwd = tempDir('schema');
    writeFileSync(path.join(cwd, 'data.txt'), 'one\ntwo\n');
    const ran = await run('agents-schema.js', { cwd });
    const r = ran.result as {
      retried: { count: number; names: string[] };
      never: { name: string; message: string };
      prose: { count: number; names: string[] };
    };
    assert.equal(typeof r.retried.count, 'number');
    assert.ok(Array.isArray(r.retried.names));
    const retried = requestsFor('retried');
    assert.equal(retried.length, 4, 'one tool turn, then three StructuredOutput attempts');
    assert.equal(retried[1]?.toolResults[0]?.content, path.join(cwd, 'data.txt'));
    assert.equal(retried[2]?.toolResults[0]?.is_error, true);
    assert.match(retried[2]?.toolResults[0]?.content ?? '', /does not match the schema/);
    assert.equal(ran.record('retried').schemaAttempts, 3);
    assert.equal(
      ran.record('retried').attempts,
      1,
      'one activity attempt: the schema retries happen inside it',
    );

    assert.equal(r.never.name, 'AgentOutputError');
    assert.match(r.never.message, /no valid StructuredOutput after 5 attempts: .*(count|names|must)/);
    assert.equal(requestsFor('never').length, 6, 'one tool turn and five attempts, no Temporal retry');
    assert.equal(ran.record('never').status, 'failed');

    assert.equal(typeof r.prose.count, 'number');
    const prose = requestsFor('prose');
    assert.deepEqual(
      prose.map((p) => p.kind),
      ['tool_use', 'text', 'structured'],
    );
    assert.match(prose[1]?.toolResults[0]?.content ?? '', /data\.txt/);
    for (const p of prose) assert.deepEqual(p.tools, [...ALL_TOOLS, 'StructuredOutput']);
  });

  void test('S404 429 twice then success, 529 once; 401 and 400 give null fast; exhausted retries are not retried again', async () => {
    const started = Date.now();
    const ran = await run('agents-faults.js', { cwd: tempDir('faults') });
    assert.deepEqual(ran.result, {
      flaky: 'survived the rate limit',
      overloaded: 'survived the overload',
      denied: null,
      bad: null,
      exhausted: null,
    });
    assert.equal(requestsFor('flaky').length, 3, 'two 429s and a success: 3 requests, not 9');
    assert.deepEqual(
      requestsFor('flaky').map((r) => r.status),
      [429, 429, 200],
    );
    assert.equal(requestsFor('overloaded').length, 2);
    assert.equal(requestsFor('denied').length, 1, '401 is not retried');
    assert.equal(requestsFor('bad').length, 1, '400 is not retried');
    // The loop's own retries (1 + 8), and no Temporal retry of the whole agent on top.
    assert.equal(requestsFor('exhausted').length, 9);
    for (const [label, reason] of [
      ['denied', /AgentError: model API error 401/],
      ['bad', /AgentError: model API error 400/],
      ['exhausted', /503.*gave up after 9 attempts/],
    ] as const) {
      const record = ran.record(label);
      assert.equal(record.status, 'failed');
      assert.match(record.error ?? '', reason);
    }
    const denied = ran.record('denied');
    assert.ok((denied.endedAt ?? 0) - (denied.startedAt ?? 0) < 5_000, 'a 401 gives null within seconds');
    assert.ok(Date.now() - started < 60_000);
  });

  void test('S405 --agent-timeout: an agent that runs too long fails once, without a Temporal retry, and its Bash child dies', async () => {
    const cwd = tempDir('timeout');
    const pidFile = path.join(cwd, 'sleep.pid');
    const started = Date.now();
    // Unconfined, so the pid the command writes is the host's (bubblewrap would give its own
    // namespace's); the sandbox's kill on timeout is tested in bash-sandbox.test.ts.
    const ran = await run('agents-timeout.js', {
      cwd,
      args: { pidFile },
      flags: ['--agent-timeout', '4s', '--sandbox', 'off'],
    });
    assert.deepEqual(ran.result, { slowModel: null, slowTool: null, quick: 'in time' });
    for (const label of ['slow-model', 'slow-tool']) {
      const record = ran.record(label);
      assert.equal(record.status, 'failed');
      assert.match(
        record.error ?? '',
        /AgentError: agent "slow-(model|tool)" timed out after 4s \(--agent-timeout\)/,
      );
      assert.ok((record.endedAt ?? 0) - (record.startedAt ?? 0) < 6_000);
    }
    assert.equal(requestsFor('slow-model').length, 1, 'the timed-out agent is not retried');
    assert.equal(requestsFor('slow-tool').length, 1);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await until(() => processGone(pid), `the Bash child ${pid} to be killed`, 10_000);
    assert.ok(Date.now() - started < 30_000);
  });

  void test('S403 S204 agentType: tools, model and prompt from the definition; StructuredOutput kept; opts.model wins; unknown type gives null', async () => {
    const cwd = tempDir('types');
    const home = tempDir('home');
    const defs = path.join(FIXTURES, 'definitions');
    mkdirSync(path.join(cwd, '.claude', 'agents'), { recursive: true });
    mkdirSync(path.join(cwd, '.weft', 'agents'), { recursive: true });
    mkdirSync(path.join(home, '.weft', 'agents'), { recursive: true });
    copyFileSync(path.join(defs, 'reader.md'), path.join(cwd, '.claude', 'agents', 'reader.md'));
    copyFileSync(path.join(defs, 'lister.md'), path.join(cwd, '.weft', 'agents', 'lister.md'));
    copyFileSync(path.join(defs, 'personal.md'), path.join(home, '.weft', 'agents', 'personal.md'));
    writeFileSync(path.join(cwd, 'notes.txt'), 'a\nb\nc\n');

    const ran = await run('agents-types.js', {
      cwd,
      flags: ['--max-turns', '3'],
      // WEFT_MODEL is the default for agents whose type names no model.
      extraEnv: { WEFT_HOME: home, WEFT_MODEL: 'claude-opus-4-6' },
    });
    const r = ran.result;

    const typed = requestsFor('typed');
    assert.equal(typeof (r.typed as { lines: number }).lines, 'number');
    for (const req of typed) {
      assert.deepEqual(req.tools, ['Read', 'StructuredOutput'], 'exactly Read, and StructuredOutput kept');
      assert.equal(req.model, 'claude-haiku-4-5', "the type's model (haiku)");
      assert.match(req.system, /^You are a careful reader\./);
      assert.match(req.system, /no one will\s+answer questions/);
    }
    assert.equal(typed[1]?.toolResults[0]?.content, '     1\ta\n     2\tb\n     3\tc');
    assert.equal(ran.record('typed').model, 'claude-haiku-4-5');

    assert.deepEqual(requestsFor('typed-plain')[0]?.tools, ['Read']);
    assert.equal(requestsFor('override')[0]?.model, 'claude-opus-4-7', 'opts.model beats the type');
    assert.equal(ran.record('override').model, 'claude-opus-4-7');

    const listed = requestsFor('listed')[0];
    assert.deepEqual(listed?.tools, ['Glob', 'Grep'], 'a YAML list of tools from .weft/agents');
    assert.equal(listed?.model, 'claude-opus-4-6');

    const personal = requestsFor('personal')[0];
    assert.equal(personal?.model, 'claude-opus-4-7');
    assert.match(personal?.system ?? '', /^You are the user's own assistant\./);
    assert.deepEqual(personal?.tools, ALL_TOOLS);

    // A tool outside the type's list is refused even when the model calls it.
    assert.equal(r.blocked, 'no bash');
    const blocked = requestsFor('blocked');
    assert.equal(blocked[1]?.toolResults[0]?.is_error, true);
    assert.match(
      blocked[1]?.toolResults[0]?.content ?? '',
      /Unknown tool: Bash\. Tools available to you: Read/,
    );
    assert.equal(existsSync(path.join(cwd, 'bash-ran.txt')), false);

    assert.equal(r.ghost, null);
    assert.equal(requestsFor('ghost').length, 0);
    assert.equal(ran.record('ghost').status, 'failed');
    assert.match(
      ran.record('ghost').error ?? '',
      /ConfigError: unknown agentType "ghost".*known types: lister, personal, reader/,
    );

    // --max-turns bounds every agent.
    assert.equal(r.looper, null);
    assert.equal(requestsFor('looper').length, 3);
    assert.match(ran.record('looper').error ?? '', /did not finish within 3 turns/);
  });

  void test("S204 isolation 'worktree': a changed worktree is kept and reported, an unchanged one removed; schema agents still answer", async () => {
    const repo = tempDir('repo');
    git(repo, 'init', '--quiet', '--initial-branch=main');
    writeFileSync(path.join(repo, 'README.md'), 'hello world\n');
    git(repo, 'add', '.');
    git(repo, '-c', 'user.email=t@example.com', '-c', 'user.name=T', 'commit', '--quiet', '-m', 'initial');

    const ran = await run('agents-worktree.js', { cwd: repo });
    assert.deepEqual(ran.result, { changed: 'wrote it', unchanged: 'looked', answered: { edited: true } });

    const changed = ran.record('changed').worktree;
    assert.ok(changed, 'the changed worktree is reported');
    assert.match(changed.branch, new RegExp(`^weft/${ran.runId}/0-changed$`));
    assert.equal(readFileSync(path.join(changed.path, 'feature.txt'), 'utf8'), 'new feature\n');
    assert.ok(changed.path.startsWith(path.join(repo, '.weft', 'worktrees')));

    const answered = ran.record('schema').worktree;
    assert.ok(answered);
    assert.equal(readFileSync(path.join(answered.path, 'README.md'), 'utf8'), 'hi world\n');

    // The unchanged agent worked in a worktree of its own, which is gone now with its branch.
    assert.equal(ran.record('unchanged').worktree, null);
    const pwd = requestsFor('wt-unchanged')[2]?.toolResults[0]?.content ?? '';
    assert.ok(pwd.startsWith(path.join(repo, '.weft', 'worktrees')), pwd);
    assert.equal(requestsFor('wt-unchanged')[1]?.toolResults[0]?.content, '     1\thello world');
    assert.equal(existsSync(pwd), false);
    const branches = git(repo, 'branch', '--list', 'weft/*', '--format=%(refname:short)').split('\n').sort();
    assert.deepEqual(branches, [changed.branch, answered.branch].sort());
    assert.equal(git(repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)?.length, 3);

    // The repository itself is untouched.
    assert.equal(readFileSync(path.join(repo, 'README.md'), 'utf8'), 'hello world\n');
    assert.equal(existsSync(path.join(repo, 'feature.txt')), false);
    assert.equal(git(repo, 'status', '--porcelain'), '');
  });

  void test('S405 S306 stopping the run cancels the agent and kills its Bash child processes', async (t) => {
    const queue = uniqueName('agents-stop');
    const cwd = tempDir('stop');
    const pidFile = path.join(cwd, 'sleep.pid');
    // Unconfined, so the pid file holds a host pid; bash-sandbox.test.ts covers cancelling a sandbox.
    const worker = await spawnWorker(t, env(queue), ['--sandbox', 'off']);
    const runId = await startRun('agents-stop.js', queue, { cwd, args: { pidFile } });
    const pid = await until(() => {
      const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
      return text === '' ? null : Number(text);
    }, 'the Bash command to start its child');
    assert.equal(processGone(pid), false);

    await client.stop(runId);
    await until(() => processGone(pid), `the Bash child ${pid} to be killed`, 45_000);
    const summary = await client.wait(runId);
    assert.equal(summary.status, 'cancelled');
    assert.equal(
      worker.child.exitCode,
      null,
      'the worker lives on: the agent was cancelled, not the process',
    );
    assert.equal(requestsFor('sleeper').length, 1, 'the agent never got to a second turn');
  });

  void test('S405 a worker killed mid-agent: the agent resumes from its checkpoint on another worker', async (t) => {
    const STEPS = 20;
    const queue = uniqueName('agents-resume');
    const cwd = tempDir('resume');
    const first = await spawnWorker(t, env(queue));
    const runId = await startRun('agents-resume.js', queue, { cwd, args: { steps: STEPS, latency: 1000 } });

    // Kill once the server holds a checkpoint a few turns in: read from the pending activity's
    // heartbeat details, never guessed from time.
    const saved = await until(async () => {
      const { raw } = await client.temporal.workflow.getHandle(runId).describe();
      const payload = raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
      const checkpoint = payload
        ? defaultPayloadConverter.fromPayload<AgentCheckpoint>(payload as Payload)
        : null;
      return checkpoint && checkpoint.turns >= 3 ? checkpoint : null;
    }, 'a checkpoint three turns in');
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');
    const killedAt = Date.now();
    const before = requestsFor('long').length;
    assert.ok(before < STEPS + 1, 'the agent was caught mid-way');

    await spawnWorker(t, env(queue));
    const summary = await client.wait(runId);
    assert.equal(summary.status, 'completed', summary.error);
    assert.equal(summary.result, `all ${STEPS} steps done`);

    const all = requestsFor('long');
    const afterKill = all.filter((r) => r.at > killedAt);
    const resumedAt = afterKill[0]?.turn ?? 0;
    assert.ok(resumedAt >= saved.turns, `the retry started at turn ${resumedAt}, not from scratch`);
    assert.equal(afterKill.length, STEPS + 1 - resumedAt);
    // A restart from scratch would have asked the model all STEPS + 1 turns again.
    assert.ok(
      all.length < before + STEPS + 1,
      `${all.length} model calls; from scratch would be ${before + STEPS + 1}`,
    );

    t.diagnostic(
      `checkpoint seen at turn ${saved.turns}; ${before} model calls before the kill, ${afterKill.length} after ` +
        `(resumed at turn ${resumedAt}); ${all.length} in all, from scratch ${before + STEPS + 1}`,
    );

    // Steps done before the checkpoint ran once; every step ran.
    const log = readFileSync(path.join(cwd, 'steps.log'), 'utf8').trim().split('\n');
    for (let i = 1; i <= STEPS; i++) {
      const times = log.filter((l) => l === `step${i}`).length;
      if (i <= saved.turns) assert.equal(times, 1, `step${i} ran ${times} times`);
      else assert.ok(times >= 1, `step${i} never ran`);
    }

    // The completing attempt was Temporal's second, and it says how far it was resumed.
    const history = await client.temporal.workflow.getHandle(runId).fetchHistory();
    const done = history.events?.find(
      (e) => e.activityTaskCompletedEventAttributes,
    )?.activityTaskCompletedEventAttributes;
    const result = defaultPayloadConverter.fromPayload<AgentResult>(done?.result?.payloads?.[0] as Payload);
    assert.equal(result.activityAttempt, 2);
    assert.equal(result.resumedTurns, resumedAt);
    assert.equal(result.turns, STEPS + 1);
    assert.equal(
      result.usage.outputTokens,
      all.filter((r) => r.status === 200).reduce((s, r) => s + (r.usage?.output_tokens ?? 0), 0) -
        lostTokens(all, killedAt),
    );
  });
});

/** Output tokens of answers the killed worker received but never saved in a checkpoint. */
function lostTokens(all: MockRequestLog[], killedAt: number): number {
  const afterKill = all.filter((r) => r.at > killedAt);
  const resumedAt = afterKill[0]?.turn ?? 0;
  return all
    .filter((r) => r.at <= killedAt && r.status === 200 && r.turn >= resumedAt)
    .reduce((s, r) => s + (r.usage?.output_tokens ?? 0), 0);
}
