import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { StepStatus, YamlRunStatus } from '../../src/client/yaml-runs';
import type { MockRequestLog } from '../../src/mock-model/server';
import type { RunProgress } from '../../src/types';
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
 * YAML workflows end to end (S601-S603): every run is the built CLI against the test dev server
 * and the local model server. Fixture prompts carry a `[tag]` so each test reads only its own
 * requests from the model's log, and `[[mock:...]]` directives steer replies and faults.
 */

const YAML = path.join(ROOT, 'test', 'fixtures', 'yaml');
const shared = useModelAndClient();

interface RunJson {
  runId: string;
  status: string;
  error?: string;
  result: { workflow: string; outputs: Record<string, unknown>; steps: StepStatus[] } | null;
}

function env(queue: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return weftEnv({ modelUrl: shared.model.url, taskQueue: queue, extra });
}

/** Requests whose prompt carries `[tag`, in the order the model got them. */
function requests(tag: string): MockRequestLog[] {
  return shared.model.requests.filter((r) => r.prompt.includes(`[${tag}`));
}

function steps(run: RunJson | YamlRunStatus): Array<[string, string]> {
  const list = 'result' in run ? (run.result?.steps ?? []) : run.steps;
  return list.map((s) => [s.name, s.status]);
}

async function runYaml(file: string, queue: string, extra: string[] = [], cwd?: string): Promise<CliResult> {
  return runWeft(['workflow', 'run', path.join(YAML, file), '--json', '--id', queue, ...extra], {
    env: env(queue),
    ...(cwd ? { cwd } : {}),
  });
}

void test('S601 fanout then collect, conditional true and false, outputVars passed between steps', async () => {
  const queue = uniqueName('yaml-modes');
  const res = await runYaml('modes.yaml', queue, [
    '--input',
    JSON.stringify({ files: ['a.ts', 'b.ts', 'c.ts'], team: 'payments' }),
  ]);
  assert.equal(res.code, 0, res.stderr);
  const out = res.json as RunJson;
  assert.equal(out.status, 'completed');
  assert.deepEqual(steps(out), [
    ['Analyze', 'completed'],
    ['Merge', 'completed'],
    ['Escalate', 'completed'],
    ['Archive', 'skipped'],
    ['Report', 'completed'],
  ]);
  // The fanout ran once per item and its results, in item order, reached the collect step.
  const analyze = requests('ym:analyze').map((r) => r.prompt);
  assert.equal(analyze.length, 3);
  assert.deepEqual(
    [...analyze].sort(),
    [0, 1, 2].map(
      (i) =>
        `[[mock:reply analysis of ${['a', 'b', 'c'][i]}.ts]] [ym:analyze] Analyze ${['a', 'b', 'c'][i]}.ts (item ${i})`,
    ),
  );
  assert.deepEqual(out.result?.outputs.analyses, [
    'analysis of a.ts',
    'analysis of b.ts',
    'analysis of c.ts',
  ]);
  const merge = requests('ym:merge');
  assert.equal(merge.length, 1);
  assert.ok(
    merge[0]?.prompt.endsWith(
      'Merge these analyses: ["analysis of a.ts","analysis of b.ts","analysis of c.ts"]',
    ),
    merge[0]?.prompt,
  );
  // The condition read a field of the collect step's JSON answer; the false branch never ran.
  assert.equal(
    requests('ym:escalate')[0]?.prompt,
    '[[mock:reply paged the on-call]] [ym:escalate] Escalate severity P0 for payments',
  );
  assert.equal(requests('ym:archive').length, 0);
  assert.equal(out.result?.outputs.archived, null);
  assert.equal(
    requests('ym:report')[0]?.prompt,
    '[ym:report] Report: escalation=paged the on-call archived= previous=skipped',
  );
});

void test('S601 loop until: a word in the output, an expression over its JSON, and maxIterations as the cap', async () => {
  const queue = uniqueName('yaml-loop');
  const res = await runYaml('loop.yaml', queue, ['--input', '{"topic": "durable agents"}']);
  assert.equal(res.code, 0, res.stderr);
  const out = res.json as RunJson;
  const [draft, score, capped] = out.result?.steps ?? [];
  assert.deepEqual([draft?.iterations, draft?.untilMet], [2, true]);
  assert.deepEqual([score?.iterations, score?.untilMet], [3, true]);
  assert.deepEqual([capped?.iterations, capped?.untilMet], [2, false]);
  assert.equal(out.result?.outputs.draft, 'LGTM after 1 rounds');
  const drafts = requests('yl:draft').map((r) => r.prompt);
  assert.match(drafts[0] ?? '', /Write a draft about durable agents/);
  // Iteration 1 sees the previous iteration's output through {{output}}.
  assert.match(drafts[1] ?? '', /Improve: first draft/);
  assert.deepEqual(
    requests('yl:score').map((r) => /Score round (\d) of (\d)/.exec(r.prompt)?.slice(1).join('/')),
    ['0/4', '1/4', '2/4'],
  );
  assert.equal(requests('yl:capped').length, 2);
});

void test('S601 errorMode retry runs maxRetries more attempts; skip nulls the output and the run goes on', async () => {
  const queue = uniqueName('yaml-errors');
  const res = await runYaml('errors.yaml', queue);
  assert.equal(res.code, 0, res.stderr);
  const out = res.json as RunJson;
  assert.deepEqual(steps(out), [
    ['Flaky', 'completed'],
    ['Optional', 'skipped'],
    ['After', 'completed'],
  ]);
  const [flaky, optional] = out.result?.steps ?? [];
  assert.equal(flaky?.attempts, 3);
  assert.equal(requests('ye:flaky').filter((r) => r.status === 400).length, 2);
  assert.equal(optional?.attempts, 1);
  assert.match(optional?.error ?? '', /AgentError/);
  assert.equal(out.result?.outputs.optional, null);
  assert.match(requests('ye:after')[0]?.prompt ?? '', /flaky=ok: .* optional=\[\]$/);
});

void test('S601 errorMode fail ends the run with the step name; results still lists each step', async () => {
  const queue = uniqueName('yaml-fail');
  const res = await runYaml('fail.yaml', queue);
  assert.equal(res.code, 1, res.stderr);
  const out = res.json as RunJson;
  assert.equal(out.status, 'failed');
  assert.match(out.error ?? '', /^StepFailedError: step "Break" failed: AgentError: /);
  assert.equal(requests('yf:never').length, 0);
  const results = await runWeft(['workflow', 'results', queue, '--format', 'json'], { env: env(queue) });
  assert.equal(results.code, 0, results.stderr);
  const view = results.json as YamlRunStatus;
  assert.equal(view.status, 'failed');
  assert.deepEqual(steps(view), [
    ['First', 'completed'],
    ['Break', 'failed'],
    ['Never', 'pending'],
  ]);
  assert.deepEqual(view.outputs, { first: 'first done' });
});

void test('S601 timeoutMs is enforced per agent: a slow step fails the run once, without a retry', async () => {
  const queue = uniqueName('yaml-timeout');
  const started = Date.now();
  const res = await runYaml('timeout.yaml', queue);
  assert.equal(res.code, 1, res.stderr);
  const out = res.json as RunJson;
  assert.match(
    out.error ?? '',
    /step "Slow" failed: AgentError: agent "Slow" timed out after 2s \(timeoutMs\)/,
  );
  assert.equal(requests('yt:slow').length, 1);
  assert.ok(Date.now() - started < 20_000, 'the run did not wait for the 20 s model answer');
});

void test('S601 the seed feature-build workflow runs end to end with weft run file.yaml', async () => {
  const queue = uniqueName('yaml-feature');
  const res = await runWeft(
    [
      'run',
      path.join(YAML, 'feature-build.yaml'),
      '--json',
      '--id',
      queue,
      '--args',
      '{"feature_description": "Add user authentication [yfb]"}',
    ],
    { env: env(queue) },
  );
  assert.equal(res.code, 0, res.stderr);
  const out = res.json as RunJson & { agents: number };
  assert.deepEqual(steps(out), [
    ['Spec', 'completed'],
    ['Implement', 'completed'],
    ['Review', 'completed'],
    ['Merge', 'completed'],
  ]);
  // The mock never says LGTM, so the review loop runs its 3 iterations.
  assert.equal(out.result?.steps[2]?.iterations, 3);
  assert.equal(out.agents, 6);
  const spec = shared.model.requests.find((r) =>
    r.prompt.startsWith('Design the feature: Add user authentication [yfb]'),
  );
  assert.ok(spec, 'the Spec prompt had the input variable');
  const techSpec = String(out.result?.outputs.tech_spec);
  assert.ok(
    shared.model.requests.some((r) =>
      r.prompt.startsWith(`Implement the feature based on this spec: ${techSpec}.`),
    ),
  );
  const described = await shared.client.describeRun(queue);
  assert.equal(described.name, 'feature-build');
});

/** Starts `weft workflow run` on the approval fixture; it waits, with its embedded worker. */
function startApprovalRun(queue: string, service: string): Promise<CliResult> {
  return runYaml('approval.yaml', queue, ['--input', JSON.stringify({ service })]);
}

async function waitingFor(runId: string, step: string): Promise<RunProgress> {
  return until(async () => {
    const p = await shared.client.tryProgress(runId, 1_000);
    return p?.approvals?.some((a) => a.step === step && a.status === 'waiting') ? p : null;
  }, `run ${runId} to wait for approval of ${step}`);
}

void test('S602 approval: sync waits for a person; status, show and approve --step; the step then runs', async () => {
  const queue = uniqueName('yaml-approve');
  const running = startApprovalRun(queue, `svc-${queue}`);
  await waitingFor(queue, 'Deploy');
  const status = await runWeft(['workflow', 'status', queue, '--format', 'json'], { env: env(queue) });
  assert.equal(status.code, 0, status.stderr);
  const view = status.json as YamlRunStatus;
  assert.deepEqual(steps(view), [
    ['Plan', 'completed'],
    ['Deploy', 'waiting'],
  ]);
  assert.equal(view.waiting[0]?.message, 'Deploy to production');
  const text = await runWeft(['workflow', 'status', queue], { env: env(queue) });
  assert.match(text.stdout, /Deploy\s+sequential\s+waiting for approval/);
  const show = await runWeft(['show', queue], { env: env(queue) });
  assert.match(show.stdout, /waiting for approval of step "Deploy": Deploy to production/);
  // Nothing deploys before the decision.
  assert.equal(requests('ya:deploy').filter((r) => r.prompt.includes(`svc-${queue}`)).length, 0);

  const wrong = await runWeft(['approve', queue, '--step', 'Plan'], { env: env(queue) });
  assert.equal(wrong.code, 2);
  assert.equal(
    wrong.stderr.trim(),
    `weft: run ${queue}: step "Plan" is not waiting for approval (waiting: Deploy)`,
  );

  const ok = await runWeft(
    ['approve', queue, '--step', 'Deploy', '--comment', 'ship it', '--by', 'ana', '--json'],
    { env: env(queue) },
  );
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(
    (({ step, status: s, by, comment }) => ({ step, status: s, by, comment }))(
      ok.json as Record<string, unknown>,
    ),
    { step: 'Deploy', status: 'approved', by: 'ana', comment: 'ship it' },
  );
  const res = await running;
  assert.equal(res.code, 0, res.stderr);
  const out = res.json as RunJson;
  assert.equal(out.result?.outputs.deploy, 'deployed');
  assert.deepEqual(out.result?.steps[1]?.approval, { approved: true, by: 'ana', comment: 'ship it' });
  assert.equal(requests('ya:deploy').filter((r) => r.prompt.includes(`svc-${queue}`)).length, 1);

  const late = await runWeft(['approve', queue], { env: env(queue) });
  assert.notEqual(late.code, 0);
  assert.equal(late.stderr.trim().split('\n').length, 1);
  assert.match(late.stderr, /nothing is waiting for approval/);
});

void test('S602 weft reject ends the run with a clear failure, and the rejected step never runs', async () => {
  const queue = uniqueName('yaml-reject');
  const running = startApprovalRun(queue, `svc-${queue}`);
  await waitingFor(queue, 'Deploy');
  const rejected = await runWeft(['reject', queue, '--comment', 'not on a Friday', '--by', 'bo'], {
    env: env(queue),
  });
  assert.equal(rejected.code, 0, rejected.stderr);
  assert.match(rejected.stderr, /step "Deploy" rejected by bo/);
  const res = await running;
  assert.equal(res.code, 1);
  const out = res.json as RunJson;
  assert.equal(out.error, 'StepFailedError: step "Deploy" was rejected by bo: not on a Friday');
  assert.equal(requests('ya:deploy').filter((r) => r.prompt.includes(`svc-${queue}`)).length, 0);
});

void test('S602 a run waiting for approval survives a SIGKILLed worker; a new worker finishes it after the approval', async (t) => {
  const queue = uniqueName('yaml-durable');
  const workerEnv = env(queue);
  const first = await spawnWorker(t, workerEnv);
  const started = await runWeft(
    [
      'start',
      path.join(YAML, 'approval.yaml'),
      '--json',
      '--id',
      queue,
      '--args',
      JSON.stringify({ service: `svc-${queue}` }),
    ],
    { env: workerEnv },
  );
  assert.equal(started.code, 0, started.stderr);
  await waitingFor(queue, 'Deploy');
  first.child.kill('SIGKILL');
  assert.equal(await first.exited, 'SIGKILL');
  await spawnWorker(t, workerEnv);
  // The new worker rebuilds the waiting state from history: it still answers as waiting.
  await waitingFor(queue, 'Deploy');
  const approved = await runWeft(['approve', queue, '--step', 'Deploy', '--by', 'ci'], { env: workerEnv });
  assert.equal(approved.code, 0, approved.stderr);
  const done = await runWeft(['wait', queue, '--json'], { env: workerEnv });
  assert.equal(done.code, 0, done.stderr);
  const out = done.json as RunJson;
  assert.deepEqual(out.result?.outputs, { plan: 'plan ready', deploy: 'deployed' });
  // The plan agent completed before the crash and never ran again.
  assert.equal(requests('ya:plan').filter((r) => r.prompt.includes(`svc-${queue}`)).length, 1);
});

void test('S603 workflow create --validate refuses a broken file with file:line:col and exit 2, and starts nothing', async () => {
  const queue = uniqueName('yaml-broken');
  const file = path.join(YAML, 'broken.yaml');
  const res = await runWeft(['workflow', 'create', file, '--validate'], { env: env(queue) });
  assert.equal(res.code, 2);
  assert.equal(
    res.stderr.trim(),
    `weft: ${file}:7:11: steps[0].mode must be one of sequential, fanout, collect, conditional, loop`,
  );
  const run = await runWeft(['workflow', 'run', file, '--id', queue], { env: env(queue) });
  assert.equal(run.code, 2);
  const listed = await shared.client.listRuns({ taskQueue: queue });
  assert.equal(listed.length, 0);
  const good = await runWeft(
    ['workflow', 'create', path.join(YAML, 'feature-build.yaml'), '--validate', '--json'],
    { env: env(queue) },
  );
  assert.equal(good.code, 0, good.stderr);
  assert.deepEqual(good.json, { ok: true, id: 'feature-build', name: 'Feature Build', steps: 4 });
  const badInput = await runWeft(['workflow', 'run', path.join(YAML, 'modes.yaml'), '--input', '{nope'], {
    env: env(queue),
  });
  assert.equal(badInput.code, 2);
  assert.match(badInput.stderr, /--input is not valid JSON/);
  const badRole = await runWeft(
    ['workflow', 'run', path.join(YAML, 'feature-build.yaml'), '--agent', 'tester=reader'],
    { env: env(queue) },
  );
  assert.equal(badRole.code, 2);
  assert.match(
    badRole.stderr,
    /the workflow has no agent role "tester" \(its agents: architect, coder, code-reviewer\)/,
  );
});

void test('S603 create saves into the project, list --format json finds it, run by id with --input @file and --agent role=type, nested workflow()', async () => {
  const queue = uniqueName('yaml-cli');
  const project = mkdtempSync(path.join(os.tmpdir(), 'weft-yaml-'));
  const defn = path.join(project, 'review.yaml');
  writeFileSync(
    defn,
    [
      'id: yaml-review',
      'name: Review',
      'description: Reviews one change with a reviewer role',
      'agents: [reviewer, writer]',
      'steps:',
      '  - name: Review',
      '    agent: reviewer',
      '    promptTemplate: "[[mock:reply reviewed {{change}}]] [yc:review] Review {{change}}"',
      '    outputVar: review',
      '  - name: Summary',
      '    agent: writer',
      '    promptTemplate: "[yc:summary] Summarize {{review}}"',
      '',
    ].join('\n'),
  );
  const agents = path.join(project, '.claude', 'agents');
  mkdirSync(agents, { recursive: true });
  writeFileSync(
    path.join(agents, 'strict-reviewer.md'),
    '---\nname: strict-reviewer\ndescription: Strict\n---\nYou are STRICT-REVIEWER-PROMPT.\n',
  );
  writeFileSync(
    path.join(agents, 'writer.md'),
    '---\nname: writer\ndescription: Writes\n---\nYou are WRITER-PROMPT.\n',
  );
  const input = path.join(project, 'input.json');
  writeFileSync(input, JSON.stringify({ change: `pr-${queue}` }));

  const created = await runWeft(['workflow', 'create', 'review.yaml'], { env: env(queue), cwd: project });
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stderr, /saved yaml-review as \.weft\/workflows\/yaml-review\.yaml/);
  assert.equal(
    readFileSync(path.join(project, '.weft', 'workflows', 'yaml-review.yaml'), 'utf8'),
    readFileSync(defn, 'utf8'),
  );
  const again = await runWeft(['workflow', 'create', 'review.yaml'], { env: env(queue), cwd: project });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists: pass --force/);

  const list = await runWeft(['workflow', 'list', '--format', 'json'], { env: env(queue), cwd: project });
  assert.equal(list.code, 0, list.stderr);
  const listed = (list.json as { workflows: Array<{ name: string; kind: string; origin: string }> })
    .workflows;
  assert.deepEqual(
    listed.filter((w) => w.name === 'yaml-review').map((w) => [w.kind, w.origin]),
    [['yaml', 'project']],
  );
  const badFormat = await runWeft(['workflow', 'list', '--format', 'xml'], { env: env(queue), cwd: project });
  assert.equal(badFormat.code, 2);

  // By id, from the project: the reviewer role runs as the override, the writer role as its namesake.
  const run = await runWeft(
    [
      'workflow',
      'run',
      'yaml-review',
      '--input',
      `@${input}`,
      '--agent',
      'reviewer=strict-reviewer',
      '--json',
      '--id',
      `${queue}-1`,
    ],
    { env: env(queue), cwd: project },
  );
  assert.equal(run.code, 0, run.stderr);
  const review = requests('yc:review').find((r) => r.prompt.includes(`pr-${queue}`));
  assert.match(review?.system ?? '', /STRICT-REVIEWER-PROMPT/);
  const summary = requests('yc:summary').find((r) => r.prompt.includes(`pr-${queue}`));
  assert.match(summary?.system ?? '', /WRITER-PROMPT/);
  assert.equal(summary?.prompt, `[yc:summary] Summarize reviewed pr-${queue}`);

  const results = await runWeft(['workflow', 'results', `${queue}-1`, '--format', 'json'], {
    env: env(queue),
  });
  assert.equal(results.code, 0, results.stderr);
  assert.deepEqual((results.json as YamlRunStatus).outputs?.review, `reviewed pr-${queue}`);
  const resultsText = await runWeft(['workflow', 'results', `${queue}-1`], { env: env(queue) });
  assert.match(resultsText.stdout, /✓ Review → review {2}\(completed\)\n {4}reviewed pr-/);

  // A JS script runs the saved YAML workflow by name through workflow().
  writeFileSync(
    path.join(project, 'outer.js'),
    "export const meta = { name: 'yaml-outer', description: 'calls a YAML workflow' };\n" +
      `const inner = await workflow('yaml-review', { change: 'nested-${queue}' });\nreturn inner.outputs.review;\n`,
  );
  const nested = await runWeft(['run', 'outer.js', '--json', '--id', `${queue}-2`], {
    env: env(queue),
    cwd: project,
  });
  assert.equal(nested.code, 0, nested.stderr);
  assert.equal((nested.json as { result: unknown }).result, `reviewed nested-${queue}`);
});

void test('S603 workflow watch follows a run, workflow cancel ends it, status --format json reports it', async () => {
  const queue = uniqueName('yaml-cancel');
  const running = startApprovalRun(queue, `svc-${queue}`);
  await waitingFor(queue, 'Deploy');
  const watching = runWeft(['workflow', 'watch', queue, '--json'], { env: env(queue) });
  const cancelled = await runWeft(['workflow', 'cancel', queue], { env: env(queue) });
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stderr, new RegExp(`run ${queue}: cancel requested`));
  const [watched, res] = await Promise.all([watching, running]);
  assert.equal(watched.code, 1);
  assert.equal((watched.json as RunJson).status, 'cancelled');
  assert.equal(res.code, 1);
  const status = await runWeft(['workflow', 'status', queue, '--format', 'json'], { env: env(queue) });
  assert.equal(status.code, 0, status.stderr);
  assert.equal((status.json as YamlRunStatus).status, 'cancelled');
  const unknown = await runWeft(['workflow', 'cancel', `${queue}-nope`], { env: env(queue) });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no run with id/);
  const help = await runWeft(['workflow', 'results', '--help'], { env: env(queue) });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--format <format>/);
});
