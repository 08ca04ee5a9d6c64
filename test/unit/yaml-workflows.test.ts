import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { compileYamlWorkflow, definitionOf, parseYamlWorkflow } from '../../src/agentos/compile-yaml';
import { ExpressionError, parseExpression } from '../../src/agentos/expressions';
import { parseTemplate } from '../../src/agentos/templates';
import { renderLiveView } from '../../src/cli/live-view';
import { ScriptError } from '../../src/errors';
import type { ApprovalResult } from '../../src/types';
import { SCRIPT_GLOBALS } from '../../src/workflows/script-globals';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'yaml');

/** A definition around `steps` (YAML text indented as list items under `steps:`). */
function yaml(steps: string, head = ''): string {
  return `id: demo\nname: Demo\ndescription: A demo\n${head}steps:\n${steps}`;
}

/** Asserts compiling `source` fails at line:column with a reason matching `reason`. */
function assertRefused(source: string, line: number, column: number, reason: RegExp): void {
  assert.throws(
    () => compileYamlWorkflow(source, 'flow.yaml', null),
    (err: unknown) => {
      assert.ok(err instanceof ScriptError, `expected ScriptError, got ${String(err)}`);
      assert.match(err.reason, reason);
      assert.deepEqual([err.line, err.column], [line, column], err.message);
      assert.equal(err.message, `flow.yaml:${line}:${column}: ${err.reason}`);
      assert.ok(!err.reason.includes('\n'), 'reason is one line');
      return true;
    },
  );
}

// ---- S601: parsing and checking definitions ----

void test('S601 the seed feature-build compiles: id is the workflow type, steps are phases, defaults filled in', () => {
  const source = readFileSync(path.join(FIXTURES, 'feature-build.yaml'), 'utf8');
  const script = compileYamlWorkflow(source, 'feature-build.yaml', null);
  assert.equal(script.meta.name, 'feature-build');
  assert.match(script.meta.description, /^Standard feature development workflow/);
  assert.deepEqual(
    script.meta.phases?.map((p) => p.title),
    ['Spec', 'Implement', 'Review', 'Merge'],
  );
  const def = definitionOf(script);
  assert.ok(def);
  assert.deepEqual(def.agents, ['architect', 'coder', 'code-reviewer']);
  const [spec, implement, review] = def.steps;
  assert.equal(spec?.outputVar, 'tech_spec');
  assert.equal(spec?.timeoutMs, 120000);
  assert.equal(implement?.errorMode, 'retry');
  assert.equal(implement?.maxRetries, 2);
  assert.deepEqual(review?.until, { kind: 'text', text: 'LGTM' });
  assert.equal(review?.maxIterations, 3);
  assert.equal(definitionOf({ code: 'return 1;' }), null);
});

void test('S601 defaults: mode sequential, errorMode fail, outputVar the step name, fanout items input.items', () => {
  const def = parseYamlWorkflow(
    yaml(
      `  - name: One\n    promptTemplate: hi\n  - name: Many\n    mode: fanout\n    promptTemplate: "{{item}}"\n`,
    ),
    'flow.yaml',
  );
  assert.equal(def.steps[0]?.mode, 'sequential');
  assert.equal(def.steps[0]?.errorMode, 'fail');
  assert.equal(def.steps[0]?.maxRetries, 0);
  assert.equal(def.steps[0]?.outputVar, 'One');
  assert.deepEqual(def.steps[1]?.items, ['input', 'items']);
});

void test('S601 refuses a bad definition shape at the offending line and column', () => {
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: hi\n    mode: parallel\n`),
    7,
    11,
    /steps\[0\]\.mode must be one of sequential, fanout, collect, conditional, loop/,
  );
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: hi\n    sandbox: docker\n`),
    7,
    5,
    /unknown key `sandbox` in steps\[0\]/,
  );
  assertRefused(
    'id: demo\nname: Demo\nsteps:\n  - name: A\n    promptTemplate: hi\n',
    1,
    1,
    /a workflow needs `description`/,
  );
  assertRefused(yaml(`  - name: A\n`), 5, 5, /steps\[0\] needs `promptTemplate`/);
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: hi\n    timeoutMs: soon\n`),
    7,
    16,
    /timeoutMs must be integer/,
  );
  assertRefused(
    'id: bad id\nname: D\ndescription: D\nsteps:\n  - name: A\n    promptTemplate: hi\n',
    1,
    5,
    /^id must be letters, digits/,
  );
  assertRefused('id: d\nname: D\ndescription: D\nsteps: [\n', 5, 1, /^YAML syntax error/);
  assertRefused(
    'id: d\nid: e\nname: D\ndescription: D\nsteps: []\n',
    2,
    1,
    /^YAML syntax error: Map keys must be unique/,
  );
});

void test('S601 refuses unknown functionIds, misplaced mode options and unknown agent roles', () => {
  assertRefused(
    yaml(`  - name: A\n    functionId: "tool::shell_exec"\n    promptTemplate: hi\n`),
    6,
    17,
    /functionId "tool::shell_exec" is not supported: weft runs "agent::chat" steps/,
  );
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: hi\n    until: LGTM\n`),
    7,
    5,
    /until applies to loop steps only; step "A" is mode sequential/,
  );
  assertRefused(
    yaml(`  - name: A\n    mode: loop\n    promptTemplate: hi\n`),
    5,
    5,
    /loop step "A" needs maxIterations/,
  );
  assertRefused(
    yaml(`  - name: A\n    mode: conditional\n    promptTemplate: hi\n`),
    5,
    5,
    /conditional step "A" needs a condition/,
  );
  assertRefused(
    yaml(`  - name: A\n    mode: collect\n    promptTemplate: hi\n`),
    6,
    5,
    /collect step "A" needs a fanout step before it/,
  );
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: hi\n    maxRetries: 2\n`),
    7,
    5,
    /maxRetries applies with errorMode: retry only/,
  );
  assertRefused(
    yaml(`  - name: A\n    agent: tester\n    promptTemplate: hi\n`, 'agents: [coder]\n'),
    7,
    12,
    /agent "tester" is not in the workflow's agents \(coder\)/,
  );
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: hi\n  - name: A\n    promptTemplate: ho\n`),
    7,
    11,
    /two steps are named "A"/,
  );
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: hi\n    outputVar: input\n`),
    7,
    16,
    /outputVar "input" is a name the runner sets itself/,
  );
});

void test('S601 refuses template and expression errors at their place inside the YAML value', () => {
  // The variable's own column inside the quoted scalar.
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: "Round {{iteration}}"\n`),
    6,
    30,
    /\{\{iteration\}\} is only set in loop steps; step "A" is mode sequential/,
  );
  // Inside a folded block: line and column of the tag on its own source line.
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: >\n      Start here.\n      {{#if ready}} go\n`),
    8,
    7,
    /\{\{#if\}\} is not closed with \{\{\/if\}\}/,
  );
  assertRefused(
    yaml(
      `  - name: A\n    promptTemplate: "Use {{later}}"\n  - name: B\n    promptTemplate: hi\n    outputVar: later\n`,
    ),
    6,
    28,
    /\{\{later\}\} is the output of step "B", which runs after step "A"/,
  );
  assertRefused(
    yaml(
      `  - name: A\n    mode: conditional\n    condition: "{{health.status}} == run()"\n    promptTemplate: hi\n`,
    ),
    7,
    38,
    /a function call is not allowed in expressions/,
  );
  assertRefused(
    yaml(
      `  - name: A\n    promptTemplate: hi\n  - name: B\n    mode: conditional\n    condition: "{{previous_step.status}} == 'success'"\n    promptTemplate: hi\n`,
    ),
    9,
    19,
    /previous_step\.status is one of completed, skipped, failed, never "success"/,
  );
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: "{{#each items}}x{{/each}}"\n`),
    6,
    22,
    /unsupported block \{\{#each\}\}: only \{\{#if expr\}\} is supported/,
  );
  assertRefused(
    yaml(`  - name: A\n    promptTemplate: "a {{b + 1}}"\n`),
    6,
    26,
    /operator `\+` is not allowed in expressions/,
  );
});

void test('S601 parseExpression keeps to the safe subset and reports offsets', () => {
  assert.deepEqual(parseExpression("{{triage_result.severity}} == 'P0'").ast, {
    t: 'cmp',
    op: '==',
    l: { t: 'var', path: ['triage_result', 'severity'] },
    r: { t: 'lit', v: 'P0' },
  });
  assert.deepEqual(parseExpression('!(a.b[0] >= -1) && c || null').ast, {
    t: 'or',
    l: {
      t: 'and',
      l: {
        t: 'not',
        e: { t: 'cmp', op: '>=', l: { t: 'var', path: ['a', 'b', 0] }, r: { t: 'lit', v: -1 } },
      },
      r: { t: 'var', path: ['c'] },
    },
    r: { t: 'lit', v: null },
  });
  const refused = (text: string, offset: number, reason: RegExp): void => {
    assert.throws(
      () => parseExpression(text),
      (err: unknown) => err instanceof ExpressionError && err.offset === offset && reason.test(err.reason),
      text,
    );
  };
  refused('a = 1', 0, /assignment/);
  refused('x > 1 ? 1 : 2', 0, /a conditional expression/);
  refused('a + b', 0, /operator `\+`/);
  refused('{{a}} == fetch(1)', 9, /function call/);
  refused('a[b]', 2, /computed member/);
  refused('a ==', 4, /syntax error/);
  refused('}} x', 0, /unmatched `}}`/);
});

void test('S601 parseTemplate builds #if/else nodes whose tests use the expression subset', () => {
  const { nodes, refs } = parseTemplate(
    '{{#if iteration > 0}}Improve {{output}}{{else}}Start {{task}}{{/if}}!',
  );
  assert.deepEqual(nodes, [
    {
      t: 'if',
      test: { t: 'cmp', op: '>', l: { t: 'var', path: ['iteration'] }, r: { t: 'lit', v: 0 } },
      then: [
        { t: 'text', v: 'Improve ' },
        { t: 'var', path: ['output'] },
      ],
      else: [
        { t: 'text', v: 'Start ' },
        { t: 'var', path: ['task'] },
      ],
    },
    { t: 'text', v: '!' },
  ]);
  assert.deepEqual(
    refs.map((r) => [r.root, r.offset]),
    [
      ['iteration', 6],
      ['output', 31],
      ['task', 55],
    ],
  );
  assert.throws(() => parseTemplate('{{else}}'), /outside/);
  assert.throws(() => parseTemplate('{{/if}}'), /without an open/);
  assert.throws(() => parseTemplate('a }} b'), /unmatched/);
});

// ---- S601: the runner's semantics, with stub script globals ----

interface StubOptions {
  args?: unknown;
  answer: (prompt: string, opts: Record<string, unknown>) => unknown;
  decision?: ApprovalResult;
}

async function runDefinition(source: string, stub: StubOptions) {
  const script = compileYamlWorkflow(source, 'flow.yaml', null);
  const prompts: Array<{ prompt: string; opts: Record<string, unknown> }> = [];
  const logs: string[] = [];
  const approvals: string[] = [];
  const api: Record<string, unknown> = {
    agent: async (prompt: string, opts: Record<string, unknown>) => {
      prompts.push({ prompt, opts });
      return stub.answer(prompt, opts);
    },
    parallel: async (thunks: Array<() => Promise<unknown>>) =>
      Promise.all(thunks.map((t) => t().catch(() => null))),
    phase: () => undefined,
    log: (m: string) => void logs.push(m),
    args: stub.args,
    approval: async (step: string) => {
      approvals.push(step);
      return stub.decision ?? { approved: true, by: 'tester', comment: null };
    },
  };
  const fn = new Function(...SCRIPT_GLOBALS, `return (async () => {"use strict";${script.code}\n})();`) as (
    ...values: unknown[]
  ) => Promise<unknown>;
  const run = fn(...SCRIPT_GLOBALS.map((name) => api[name]));
  return { run, prompts, logs, approvals };
}

void test('S601 runner: fanout runs per item, collect sees the results, conditional branches on JSON fields', async () => {
  const source = yaml(`  - name: Analyze
    mode: fanout
    items: input.files
    promptTemplate: "Analyze {{item}} ({{index}})"
    outputVar: analyses
  - name: Merge
    mode: collect
    promptTemplate: "Merge {{results}} / {{analyses}}"
    outputVar: merged
  - name: Hot
    mode: conditional
    condition: "{{merged.severity}} == 'P0' && previous_step.status == 'completed'"
    promptTemplate: "Escalate {{merged.severity}}"
    outputVar: hot
  - name: Cold
    mode: conditional
    condition: "merged.severity != 'P0'"
    promptTemplate: "never"
    outputVar: cold
`);
  const { run, prompts } = await runDefinition(source, {
    args: { files: ['a.ts', 'b.ts'] },
    answer: (p) => (p.startsWith('Merge') ? '```json\n{"severity": "P0"}\n```' : `seen ${p}`),
  });
  const result = (await run) as { outputs: Record<string, unknown>; steps: Array<Record<string, unknown>> };
  assert.deepEqual(
    prompts.map((p) => p.prompt),
    [
      'Analyze a.ts (0)',
      'Analyze b.ts (1)',
      'Merge ["seen Analyze a.ts (0)","seen Analyze b.ts (1)"] / ["seen Analyze a.ts (0)","seen Analyze b.ts (1)"]',
      'Escalate P0',
    ],
  );
  assert.deepEqual(prompts[0]?.opts, { label: 'Analyze [0]', phase: 'Analyze', onError: 'throw' });
  assert.equal(result.outputs.cold, null);
  assert.deepEqual(
    result.steps.map((s) => [s.name, s.status]),
    [
      ['Analyze', 'completed'],
      ['Merge', 'completed'],
      ['Hot', 'completed'],
      ['Cold', 'skipped'],
    ],
  );
});

void test('S601 runner: loop until an expression over the output JSON, with iteration in the template', async () => {
  const source = yaml(`  - name: Refine
    mode: loop
    maxIterations: 5
    until: "quality_score > 0.9"
    promptTemplate: "{{#if iteration > 0}}Improve {{output}} ({{iteration}}/{{maxIterations}}) {{feedback}}{{else}}Start {{task}}{{/if}}"
    outputVar: final_output
`);
  let n = 0;
  const { run, prompts } = await runDefinition(source, {
    args: { task: 'a poem' },
    answer: () => JSON.stringify({ quality_score: [0.5, 0.8, 0.95][n++], feedback: `fb${n}` }),
  });
  const result = (await run) as { outputs: Record<string, unknown>; steps: Array<Record<string, unknown>> };
  assert.deepEqual(
    prompts.map((p) => p.prompt),
    [
      'Start a poem',
      'Improve {"quality_score":0.5,"feedback":"fb1"} (1/5) fb1',
      'Improve {"quality_score":0.8,"feedback":"fb2"} (2/5) fb2',
    ],
  );
  assert.equal(result.steps[0]?.iterations, 3);
  assert.equal(result.steps[0]?.untilMet, true);
  assert.match(String(result.outputs.final_output), /0\.95/);
});

void test('S601 runner: errorMode retry tries maxRetries more times, skip nulls the output, fail names the step', async () => {
  const source = yaml(`  - name: Flaky
    errorMode: retry
    maxRetries: 2
    timeoutMs: 5000
    promptTemplate: flaky
  - name: Optional
    errorMode: skip
    promptTemplate: broken
    outputVar: optional
  - name: Critical
    promptTemplate: "critical after {{Flaky}} and [{{optional}}]"
  - name: Never
    promptTemplate: never
`);
  let flaky = 0;
  const { run, prompts } = await runDefinition(source, {
    answer: (p) => {
      const fail = (message: string): never => {
        const err = new Error(message);
        err.name = 'AgentError';
        throw err;
      };
      if (p === 'flaky') return ++flaky < 3 ? fail(`overloaded ${flaky}`) : 'finally';
      if (p === 'broken' || p.startsWith('critical')) return fail('bad request');
      return 'ok';
    },
  });
  await assert.rejects(run, (err: Error & { partialResult?: { steps: Array<Record<string, unknown>> } }) => {
    assert.equal(err.name, 'StepFailedError');
    assert.equal(err.message, 'step "Critical" failed: AgentError: bad request');
    assert.deepEqual(
      err.partialResult?.steps.map((s) => [s.name, s.status, s.attempts]),
      [
        ['Flaky', 'completed', 3],
        ['Optional', 'skipped', 1],
        ['Critical', 'failed', 1],
        ['Never', 'pending', 0],
      ],
    );
    return true;
  });
  assert.deepEqual(
    prompts.map((p) => [p.prompt, p.opts.label, p.opts.timeoutMs]),
    [
      ['flaky', 'Flaky', 5000],
      ['flaky', 'Flaky (attempt 2)', 5000],
      ['flaky', 'Flaky (attempt 3)', 5000],
      ['broken', 'Optional', undefined],
      ['critical after finally and []', 'Critical', undefined],
    ],
  );
});

void test('S602 runner: approval gates a step; a rejection fails the run, or skips the step with errorMode skip', async () => {
  const gated = (errorMode: string): string =>
    yaml(`  - name: Deploy
    approval: sync
    errorMode: ${errorMode}
    promptTemplate: deploy
  - name: After
    promptTemplate: "after [{{Deploy}}]"
`);
  const rejected: ApprovalResult = { approved: false, by: 'ana', comment: 'not today' };
  const failing = await runDefinition(gated('fail'), { answer: () => 'done', decision: rejected });
  await assert.rejects(failing.run, /step "Deploy" was rejected by ana: not today/);
  assert.deepEqual(failing.approvals, ['Deploy']);
  assert.equal(failing.prompts.length, 0);

  const skipping = await runDefinition(gated('skip'), { answer: () => 'done', decision: rejected });
  const result = (await skipping.run) as { steps: Array<Record<string, unknown>> };
  assert.deepEqual(
    skipping.prompts.map((p) => p.prompt),
    ['after []'],
  );
  assert.equal(result.steps[0]?.status, 'skipped');
  assert.deepEqual(result.steps[0]?.approval, rejected);

  const approved = await runDefinition(gated('fail'), { answer: () => 'done' });
  await approved.run;
  assert.deepEqual(
    approved.prompts.map((p) => p.prompt),
    ['deploy', 'after [done]'],
  );
});

void test('S602 the live view shows a run waiting for approval and how to approve it', () => {
  const lines = renderLiveView(
    {
      name: 'yaml-approval',
      state: 'running',
      phases: [{ title: 'Plan' }, { title: 'Deploy' }],
      agents: [],
      logs: [],
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      concurrency: 4,
      budgetTokens: null,
      startedAt: 0,
      stopReason: null,
      approvals: [
        {
          index: 0,
          step: 'Deploy',
          message: null,
          group: null,
          status: 'waiting',
          requestedAt: 0,
          decidedAt: null,
          by: null,
          comment: null,
        },
      ],
    },
    { runId: 'run-1', now: 1000 },
  );
  assert.ok(
    lines.includes('  ⏸ waiting for approval of step "Deploy" — weft approve run-1 --step "Deploy"'),
    lines.join('\n'),
  );
});
