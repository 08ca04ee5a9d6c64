import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors';
import { WorkflowRunError } from '../../src/stratus/errors';
import {
  Agent,
  checkWorkflowDraft,
  createModel,
  runWorkflow,
  workflow,
  workflowTask,
} from '../../src/stratus';
import { draftPrompt } from '../../src/stratus/draft';

test('S701 Agent is plain data: instructions, model, weft tool names; unknown tools are refused', () => {
  const agent = new Agent({
    name: 'reader',
    instructions: 'Read.',
    model: 'claude-haiku-4-5',
    tools: ['Read', 'Grep'],
  });
  assert.deepEqual(agent.toSpec(), {
    name: 'reader',
    instructions: 'Read.',
    model: 'claude-haiku-4-5',
    agentType: null,
    tools: ['Read', 'Grep'],
  });
  assert.deepEqual(new Agent({ name: 'plain' }).toSpec().tools, [], 'no tools unless given');
  assert.equal(
    new Agent({ name: 'typed', agentType: 'code-reviewer' }).toSpec().tools,
    null,
    "the type's tools",
  );
  assert.deepEqual(createModel(), { provider: 'anthropic', id: null });
  assert.throws(
    () => new Agent({ name: 'x', tools: ['Read', 'search_docs'] }),
    /unknown tools "search_docs"/,
  );
  assert.throws(() => new Agent({ name: '' }), ConfigError);
});

test('S701 workflow() and workflowTask() check their shape before anything runs', () => {
  const agent = new Agent({ name: 'a' });
  assert.throws(() => workflow({ name: 'bad/name', run: async () => null }), ConfigError);
  assert.throws(
    () => workflowTask({ id: 'both', agent, input: 'x', execute: () => 1 } as never),
    /exactly one of agent or execute/,
  );
  assert.throws(() => workflowTask({ id: 'empty', agent, input: '' }), /needs an input/);
  assert.throws(() => workflowTask({ id: 'turns', agent, input: 'x', maxTurns: 0 }), /maxTurns/);
  const task = workflowTask({ id: 'ok', agent, input: 'x', metadata: { k: 1 } });
  assert.ok(Object.isFrozen(task));
  const def = workflow({ name: 'fine-name', maxConcurrency: 2, run: async () => 'r' });
  assert.equal(def.maxConcurrency, 2);
});

test('S703 runWorkflow refuses a signal that is already aborted without starting anything', async () => {
  const controller = new AbortController();
  controller.abort();
  const def = workflow({ name: 'never-started', run: async () => 'r' });
  // No client is given and none is needed: nothing connects when the run is cancelled up front.
  const err = await runWorkflow(def, undefined, { signal: controller.signal }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowRunError);
  assert.equal(err.result.status, 'cancelled');
  assert.equal(err.result.tasks.length, 0);
});

test('S703 checkWorkflowDraft reads phases and agent counts of a valid script, and the compiler error of a broken one', () => {
  const valid = [
    "export const meta = { name: 'd', description: 'a draft', phases: [{ title: 'Find' }] }",
    "phase('Find')",
    "const xs = await parallel(args.map((a) => () => agent('find ' + a)))",
    "phase('Report')",
    "return agent('report ' + xs.length, { phase: 'Report' })",
  ].join('\n');
  const ok = checkWorkflowDraft('```js\n' + valid + '\n```');
  assert.equal(ok.valid, true);
  assert.equal(ok.script, valid, 'the markdown fence is removed');
  assert.deepEqual(ok.phases, [{ title: 'Find' }, { title: 'Report' }]);
  assert.equal(ok.estimatedTasks, 2);
  assert.ok(ok.warnings.some((w) => /"Report" is used but not declared/.test(w)));
  assert.ok(ok.warnings.some((w) => /1 of 2 agent\(\) calls sit in loops/.test(w)));

  const broken = checkWorkflowDraft(
    "export const meta = { name: 'd', description: 'x' }\nconst t = Date.now() as number\n",
  );
  assert.equal(broken.valid, false);
  assert.equal(broken.error?.line, 2);
  assert.match(broken.warnings[0] ?? '', /^workflow-draft\.js:2:\d+: TypeScript syntax/);
});

test('S703 S103 a draft with a top-level require() is valid and warns where it will throw', () => {
  const draft = checkWorkflowDraft(
    "export const meta = { name: 'd', description: 'x' }\nconst fs = require('fs')\nreturn agent('go')\n",
  );
  assert.equal(draft.valid, true);
  assert.ok(
    draft.warnings.some((w) =>
      /^workflow-draft\.js:2:12: warning: require\(\) at top level always throws/.test(w),
    ),
    draft.warnings.join('\n'),
  );
});

test('S703 the drafting prompt carries the task, the script format, the patterns and the constraints', () => {
  const prompt = draftPrompt('Audit routes', {
    patterns: ['adversarial-verification', 'my-own'],
    constraints: ['Preview first'],
    exampleArgs: ['src/a.ts'],
  });
  assert.match(prompt, /Audit routes/);
  assert.match(prompt, /export const meta/);
  assert.match(prompt, /- adversarial-verification: for each finding/);
  assert.match(prompt, /- my-own\n/);
  assert.match(prompt, /- Preview first/);
  assert.match(prompt, /"src\/a\.ts"/);
});
