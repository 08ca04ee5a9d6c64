import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode } from '@temporalio/worker';
import { BudgetExceededError, ConfigError, LimitError, RunCancelledError } from '../../src/errors';
import { TaskFailedError, WorkflowRunError } from '../../src/stratus/errors';
import { replayHistory } from '../../src/replay';
import type { MockRequestLog } from '../../src/mock-model/server';
import {
  Agent,
  WorkflowRunManager,
  createModel,
  generateWorkflowDraft,
  runWorkflow,
  streamWorkflow,
  workflow,
  workflowTask,
} from '../../src/stratus';
import type { RunWorkflowOptions, WorkflowEvent, WorkflowTaskResult } from '../../src/stratus';
import type { StratusSessionOutput } from '../../src/workflows/stratus-session-types';
import { createWeftWorker } from '../../src/worker';
import { callerWorkflow } from '../fixtures/stratus/caller';
import {
  ROOT,
  spawnWorker,
  temporalAddress,
  uniqueName,
  until,
  useModelAndClient,
  weftEnv,
} from '../helpers/harness';

/**
 * The Stratus-style TypeScript API (S701-S703) against the real test server, real weft workers
 * and the local model server through the real @anthropic-ai/sdk. Each test has its own task queue
 * (and so its own worker) and run ids; prompts carry a per-test tag so the model's request log can
 * be read per test.
 */

const shared = useModelAndClient();
/** The workflow sandbox code, bundled once for every worker of this file. */
let workflowCode: string;

before(async () => {
  ({ code: workflowCode } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  }));
});

/** A worker of this process on a task queue of the test's own; options that point a run at it. */
async function setup(
  t: TestContext,
  prefix: string,
): Promise<{ queue: string; options: RunWorkflowOptions }> {
  const queue = uniqueName(`stratus-${prefix}`);
  const worker = await createWeftWorker({
    address: temporalAddress(),
    taskQueue: queue,
    activityDeps: {
      anthropic: () => new Anthropic({ apiKey: 'test', baseURL: shared.model.url, maxRetries: 0 }),
    },
    workerOptions: { workflowBundle: { code: workflowCode }, workflowsPath: undefined },
  });
  const running = worker.run();
  t.after(async () => {
    await worker.shutdown();
    await running;
  });
  return { queue, options: { client: shared.client, taskQueue: queue, runId: `${queue}-run` } };
}

/** Requests whose prompt carries `tag`. */
function asked(tag: string): MockRequestLog[] {
  return shared.model.requests.filter((r) => r.prompt.includes(tag));
}

/** The most requests carrying each tag that were in flight at once, sampled until `done` settles. */
async function maxInFlight(tags: string[], done: Promise<unknown>): Promise<number[]> {
  let settled = false;
  const watch = done.then(
    () => (settled = true),
    () => (settled = true),
  );
  const max = tags.map(() => 0);
  while (!settled) {
    tags.forEach((tag, i) => {
      max[i] = Math.max(max[i] ?? 0, asked(tag).filter((r) => r.status === 0).length);
    });
    await new Promise((r) => setTimeout(r, 5));
  }
  await watch;
  return max;
}

const reviewer = new Agent({
  name: 'reviewer',
  instructions: 'Review the target. Report concrete findings only.',
});
const synthesizer = new Agent({
  name: 'synthesizer',
  model: createModel(),
  instructions: 'Merge independent findings into a concise report.',
});

async function rejection(promise: Promise<unknown>): Promise<WorkflowRunError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WorkflowRunError, `expected a WorkflowRunError, got ${String(err)}`);
    return err;
  }
  assert.fail('the run was expected to fail');
}

async function sessionOutput(runId: string): Promise<StratusSessionOutput> {
  return (await shared.client.temporal.workflow.getHandle(runId).result()) as StratusSessionOutput;
}

describe('S701 workflow, tasks, phases, synthesis', () => {
  test('S701 a phase runs its tasks under the concurrency cap and returns results in task order', async (t) => {
    const { options } = await setup(t, 'phase');
    const tag = uniqueName('cap');
    const files = ['a', 'b', 'c', 'd', 'e', 'f'];
    const wide = Array.from({ length: 14 }, (_, i) => `w${i}`);
    const def = workflow({
      name: 'stratus-phase-cap',
      description: 'phase ordering and the concurrency cap',
      // Above Temporal's 10 updates in flight per workflow: tasks do not hold an update each.
      maxConcurrency: 12,
      run: async (ctx, names: string[]) => {
        const first = await ctx.phase(
          'review',
          names.map((f) =>
            workflowTask({
              id: f,
              name: `review ${f}`,
              agent: reviewer,
              input: `${tag} review ${f} [[mock:latency 250]] [[mock:tokens 7]] [[mock:reply finding in ${f}]]`,
              metadata: { file: f },
            }),
          ),
          { concurrency: 2 },
        );
        // Asks for 16 at once; the workflow's maxConcurrency of 12 caps it.
        const second = await ctx.phase(
          'recheck',
          wide.map((w) =>
            workflowTask({ id: w, agent: reviewer, input: `${tag}-second ${w} [[mock:latency 1000]]` }),
          ),
          { concurrency: 16 },
        );
        return { first: first.map((r) => r.output), second: second.length };
      },
    });
    const run = runWorkflow(def, files, options);
    const [firstCap, secondCap] = await maxInFlight([`${tag} `, `${tag}-second`], run);
    const result = await run;
    assert.equal(firstCap, 2, 'phase concurrency 2: two requests in flight at most, and two reached');
    assert.equal(
      secondCap,
      12,
      "the workflow's maxConcurrency caps the second phase: 12 in flight, not 16 nor 10",
    );
    assert.deepEqual(result.output, { first: files.map((f) => `finding in ${f}`), second: 14 });
    assert.equal(result.status, 'completed');
    const reviews = result.tasks.filter((r) => r.phase === 'review');
    assert.deepEqual(reviews.map((r) => r.id).sort(), [...files].sort());
    for (const r of reviews) {
      assert.equal(r.status, 'completed');
      assert.equal(r.kind, 'agent');
      assert.equal(r.name, `review ${r.id}`);
      assert.deepEqual(r.metadata, { file: r.id });
      assert.equal(r.usage.outputTokens, 7);
      assert.ok(r.usage.inputTokens > 0);
      assert.equal(r.usage.totalTokens, r.usage.inputTokens + 7);
      assert.equal(r.numTurns, 1);
      assert.ok(r.totalCostUsd > 0);
      assert.ok(r.startedAt <= r.completedAt);
      assert.equal(r.attempts, 1);
      assert.equal(r.error, null);
    }
    const total = result.tasks.reduce((sum, r) => sum + r.usage.totalTokens, 0);
    assert.equal(result.usage.totalTokens, total);
    assert.deepEqual(
      result.phases.map((p) => [p.name, p.status, p.tasks.length]),
      [
        ['review', 'completed', 6],
        ['recheck', 'completed', 14],
      ],
    );
    // One Temporal workflow for the run, typed by the Stratus name and named in its memo; one agent
    // activity per task, summarised by phase and task.
    const handle = shared.client.temporal.workflow.getHandle(result.runId);
    const description = await handle.describe();
    assert.equal(description.type, 'stratus-phase-cap');
    assert.equal(description.status.name, 'COMPLETED');
    assert.deepEqual(description.memo, {
      stratusName: 'stratus-phase-cap',
      stratusDescription: 'phase ordering and the concurrency cap',
    });
    const history = await handle.fetchHistory();
    const activities = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent',
    );
    assert.equal(activities.length, 20);
    // The session is deterministic: its history (updates, activities, signals) replays cleanly.
    const replay = await replayHistory(history, result.runId, {
      workflowBundle: { code: workflowCode },
      workflowsPath: undefined,
    });
    assert.ok(replay.ok, replay.error ?? '');
    const session = await sessionOutput(result.runId);
    assert.equal(session.tasks.length, 20);
    assert.deepEqual(session.output, result.output);
    // What `weft show` reads: a session is a run like any other, typed by its Stratus name.
    const details = await shared.client.runDetails(result.runId);
    assert.equal(details.name, 'stratus-phase-cap');
    assert.equal(details.status, 'completed');
    assert.equal(details.agents.length, 20);
    assert.ok(details.agents.every((a) => a.status === 'completed'));
  });

  test('S701 failFast (the default) stops the phase at the first failed task and cancels the rest', async (t) => {
    const { options } = await setup(t, 'failfast');
    const tag = uniqueName('ff');
    let caught: unknown = null;
    const def = workflow({
      name: 'stratus-fail-fast',
      run: async (ctx) => {
        try {
          return await ctx.phase(
            'review',
            [
              workflowTask({ id: 'slow', agent: reviewer, input: `${tag} slow [[mock:latency 8000]]` }),
              workflowTask({
                id: 'broken',
                agent: reviewer,
                input: `${tag} broken [[mock:error 400 always]]`,
              }),
              workflowTask({ id: 'queued', agent: reviewer, input: `${tag} queued` }),
            ],
            { concurrency: 2 },
          );
        } catch (err) {
          caught = err;
          throw err;
        }
      },
    });
    const err = await rejection(runWorkflow(def, undefined, options));
    assert.ok(caught instanceof TaskFailedError);
    assert.equal(caught.task.id, 'broken');
    assert.match(caught.task.error ?? '', /AgentError/);
    assert.deepEqual(
      caught.results.map((r) => [r.id, r.status]),
      [
        ['slow', 'cancelled'],
        ['broken', 'failed'],
        ['queued', 'cancelled'],
      ],
    );
    assert.ok(err.cause instanceof TaskFailedError);
    assert.equal(err.result.status, 'failed');
    assert.equal(asked(`${tag} queued`).length, 0, 'a task after the failure never started');
    assert.equal(err.result.phases[0]?.status, 'failed');
    // The slow sibling was cancelled through Temporal: its model request was abandoned.
    await until(
      () => asked(`${tag} slow`)[0]?.status === 499,
      'the cancelled sibling to drop its request',
      20_000,
    );
    const description = await shared.client.temporal.workflow.getHandle(err.result.runId).describe();
    assert.equal(description.status.name, 'FAILED');
  });

  test('S701 failFast false runs every task and reports the failed ones', async (t) => {
    const { options } = await setup(t, 'nofailfast');
    const tag = uniqueName('nff');
    const events: WorkflowEvent[] = [];
    const def = workflow({
      name: 'stratus-no-fail-fast',
      run: async (ctx) =>
        ctx.phase(
          'audit',
          ['one', 'two', 'three'].map((id) =>
            workflowTask({
              id,
              agent: reviewer,
              input: `${tag} ${id} ${id === 'two' ? '[[mock:error 401 always]]' : `[[mock:reply ok ${id}]]`}`,
            }),
          ),
          { failFast: false, concurrency: 1 },
        ),
    });
    const result = await runWorkflow(def, undefined, { ...options, onEvent: (e) => events.push(e) });
    const tasks = result.output as WorkflowTaskResult[];
    assert.deepEqual(
      tasks.map((r) => [r.id, r.status, r.output]),
      [
        ['one', 'completed', 'ok one'],
        ['two', 'failed', null],
        ['three', 'completed', 'ok three'],
      ],
    );
    assert.match(tasks[1]?.error ?? '', /AgentError/);
    assert.equal(asked(`${tag} three`).length, 1);
    assert.deepEqual(
      events
        .filter((e) => e.type === 'workflow_task_failed')
        .map((e) => (e.type === 'workflow_task_failed' ? e.task.id : '')),
      ['two'],
    );
  });

  test('S701 function tasks run in the caller, mix with agent tasks, and are recorded in the session', async (t) => {
    const { options } = await setup(t, 'function');
    const tag = uniqueName('fn');
    const calls: unknown[] = [];
    const logged: string[] = [];
    const def = workflow({
      name: 'stratus-function-tasks',
      run: async (ctx) => {
        const results = await ctx.phase(
          'prepare',
          [
            workflowTask({
              id: 'load-fixtures',
              input: { size: 2 },
              execute: async ({ input, phase, runId }) => {
                calls.push({ input, phase, runId });
                return JSON.stringify({ fixtures: ['x', 'y'] });
              },
            }),
            workflowTask({
              id: 'inspect',
              agent: reviewer,
              input: `${tag} inspect [[mock:reply inspected]]`,
            }),
            workflowTask({
              id: 'broken-loader',
              execute: () => {
                throw new RangeError('fixture file missing');
              },
            }),
          ],
          { failFast: false },
        );
        ctx.log(`prepared ${results.length}`);
        return results.map((r) => [r.id, r.kind, r.status, r.output, r.error]);
      },
    });
    const result = await runWorkflow(def, undefined, { ...options, onLog: (m) => logged.push(m) });
    assert.deepEqual(result.output, [
      ['load-fixtures', 'function', 'completed', '{"fixtures":["x","y"]}', null],
      ['inspect', 'agent', 'completed', 'inspected', null],
      ['broken-loader', 'function', 'failed', null, 'RangeError: fixture file missing'],
    ]);
    assert.deepEqual(calls, [{ input: { size: 2 }, phase: 'prepare', runId: result.runId }]);
    assert.deepEqual(result.logs, ['prepared 3']);
    assert.deepEqual(logged, ['prepared 3']);
    // The session's own record (its Temporal result) holds the function tasks too.
    const session = await sessionOutput(result.runId);
    const byId = new Map(session.tasks.map((r) => [r.id, r]));
    assert.equal(byId.get('load-fixtures')?.kind, 'function');
    assert.equal(byId.get('load-fixtures')?.output, '{"fixtures":["x","y"]}');
    assert.equal(byId.get('broken-loader')?.status, 'failed');
    assert.equal(byId.get('inspect')?.kind, 'agent');
    assert.deepEqual(
      session.logs.map((l) => l.message),
      ['prepared 3'],
    );
  });

  test('S701 ctx.synthesize runs an agent on the results and adds its usage to the run', async (t) => {
    const { options } = await setup(t, 'synth');
    const tag = uniqueName('syn');
    const def = workflow({
      name: 'stratus-synthesize',
      run: async (ctx) => {
        const findings = await ctx.phase(
          'review',
          ['x', 'y'].map((id) =>
            workflowTask({ id, agent: reviewer, input: `${tag} ${id} [[mock:reply issue ${id}]]` }),
          ),
        );
        const report = await ctx.synthesize(
          synthesizer,
          `${tag} merge [[mock:tokens 11]]\n` +
            findings.map((f) => `## ${f.name}\n${String(f.output)}`).join('\n\n'),
        );
        return report;
      },
    });
    const result = await runWorkflow(def, undefined, options);
    const report = result.output as WorkflowTaskResult;
    assert.equal(report.kind, 'synthesis');
    assert.equal(report.status, 'completed');
    assert.equal(report.usage.outputTokens, 11);
    assert.equal(result.tasks.length, 3);
    assert.equal(
      result.usage.totalTokens,
      result.tasks.reduce((s, r) => s + r.usage.totalTokens, 0),
    );
    const request = asked(`${tag} merge`)[0];
    assert.ok(request);
    assert.match(request.prompt, /## x\nissue x/);
    assert.match(request.prompt, /## y\nissue y/);
    assert.match(
      request.system,
      /Merge independent findings/,
      "the agent's instructions are its system prompt",
    );
    assert.deepEqual(request.tools, [], 'an agent without tools gets none');
  });
});

describe('S702 pattern helpers', () => {
  test('S702 fanOutAndSynthesize fans out one phase and synthesizes every result', async (t) => {
    const { options } = await setup(t, 'fanout');
    const tag = uniqueName('fan');
    const def = workflow({
      name: 'stratus-fan-out',
      run: async (ctx, services: string[]) => {
        const report = await ctx.fanOutAndSynthesize({
          name: 'inspect services',
          tasks: services.map((s) =>
            workflowTask({
              id: s,
              agent: reviewer,
              input: `${tag} inspect ${s} [[mock:reply ${s} is fine]]`,
            }),
          ),
          synthesizer,
          prompt: (results) => `${tag} synth\n` + results.map((r) => String(r.output)).join('\n'),
        });
        return { output: report.output, results: report.results.map((r) => r.id), kind: report.kind };
      },
    });
    const result = await runWorkflow(def, ['auth', 'billing', 'search'], options);
    assert.deepEqual((result.output as { results: string[] }).results, ['auth', 'billing', 'search']);
    assert.equal((result.output as { kind: string }).kind, 'synthesis');
    const synth = asked(`${tag} synth`);
    assert.equal(synth.length, 1);
    assert.match(synth[0]?.prompt ?? '', /auth is fine\nbilling is fine\nsearch is fine/);
    assert.deepEqual(
      result.phases.map((p) => p.name),
      ['inspect services'],
    );
  });

  test('S702 adversarialVerify keeps the findings a majority of verifiers could not refute', async (t) => {
    const { options } = await setup(t, 'verify');
    const tag = uniqueName('adv');
    const verifier = new Agent({ name: 'skeptic', instructions: 'Refute findings.' });
    const def = workflow({
      name: 'stratus-adversarial',
      run: async (ctx) =>
        ctx.adversarialVerify({
          name: 'verify findings',
          votes: 3,
          verifier,
          findings: [
            {
              id: 'sql',
              output: `${tag} SQL built from input [[mock:json {"refuted": false, "reason": "reproduced"}]]`,
            },
            {
              id: 'xss',
              output: `${tag} XSS in a comment [[mock:json {"refuted": true, "reason": "escaped"}]]`,
            },
          ],
        }),
    });
    const result = await runWorkflow(def, undefined, options);
    const checked = result.output as {
      accepted: Array<{ id: string; supporting: number }>;
      rejected: Array<{ id: string; supporting: number }>;
    };
    assert.deepEqual(
      checked.accepted.map((f) => [f.id, f.supporting]),
      [['sql', 3]],
    );
    assert.deepEqual(
      checked.rejected.map((f) => [f.id, f.supporting]),
      [['xss', 0]],
    );
    const requests = asked(tag);
    assert.equal(requests.length, 6, 'three independent verifiers per finding');
    assert.ok(requests.every((r) => r.tools.includes('StructuredOutput') && /refute/i.test(r.prompt)));
  });

  test('S702 generateAndFilter keeps only the candidates the filter accepts', async (t) => {
    const { options } = await setup(t, 'genfilter');
    const tag = uniqueName('gen');
    const bold = new Agent({ name: 'bold', instructions: 'Be creative.' });
    const careful = new Agent({ name: 'careful', instructions: 'Be careful.' });
    const critic = new Agent({ name: 'critic', instructions: 'Accept only strong candidates.' });
    const def = workflow({
      name: 'stratus-generate-filter',
      run: async (ctx) =>
        ctx.generateAndFilter({
          name: 'edge cases',
          generators: [bold, careful],
          candidatesPerGenerator: 2,
          input: (g) =>
            `${tag} propose an edge case (${g.name}) [[mock:reply ${g.name === 'bold' ? 'strong' : 'weak'} idea]]`,
          filter: critic,
          filterPrompt: (c) =>
            `${tag} judge ${c.id}: ${String(c.output)} ` +
            `[[mock:json {"accept": ${String(c.output).startsWith('strong')}, "reason": "checked"}]]`,
        }),
    });
    const result = await runWorkflow(def, undefined, options);
    const picked = result.output as {
      candidates: Array<{ id: string; generator: string }>;
      accepted: Array<{ id: string; generator: string; output: string }>;
      rejected: Array<{ id: string }>;
    };
    assert.equal(picked.candidates.length, 4);
    assert.deepEqual(
      picked.accepted.map((c) => [c.generator, c.output]),
      [
        ['bold', 'strong idea'],
        ['bold', 'strong idea'],
      ],
    );
    assert.equal(picked.rejected.length, 2);
    assert.equal(asked(`${tag} judge`).length, 4, 'the filter judged every candidate');
    assert.deepEqual(
      result.phases.map((p) => p.name),
      ['edge cases: generate', 'edge cases: filter'],
    );
  });

  test('S702 tournament runs a bracket of pairwise judgements and returns its winner', async (t) => {
    const { options } = await setup(t, 'tournament');
    const tag = uniqueName('tour');
    const competitors = ['ant', 'bee', 'cat'].map(
      (name) => new Agent({ name, instructions: `You are ${name}.` }),
    );
    const judge = new Agent({ name: 'judge', instructions: 'Compare attempts.' });
    // Each attempt answers with its competitor's strength; the judge picks the stronger one.
    const strength: Record<string, number> = { ant: 1, bee: 3, cat: 2 };
    const def = workflow({
      name: 'stratus-tournament',
      run: async (ctx) =>
        ctx.tournament({
          name: 'plans',
          competitors,
          judge,
          input: (agent) =>
            `${tag} attempt by ${agent.name} [[mock:reply ${agent.name}:${strength[agent.name]}]]`,
          comparePrompt: (a, b) => {
            const score = (r: WorkflowTaskResult) => Number(String(r.output).split(':')[1]);
            const winner = score(b) > score(a) ? 'B' : 'A';
            return `${tag} match ${String(a.output)} vs ${String(b.output)} [[mock:json {"winner": "${winner}", "reason": "stronger"}]]`;
          },
        }),
    });
    const result = await runWorkflow(def, undefined, options);
    const outcome = result.output as {
      winner: WorkflowTaskResult;
      matches: Array<{ round: number; a: string; b: string; winner: string }>;
    };
    assert.equal(outcome.winner.output, 'bee:3');
    assert.deepEqual(outcome.matches, [
      { round: 1, a: '1-ant', b: '2-bee', winner: '2-bee', reason: 'stronger' },
      { round: 2, a: '2-bee', b: '3-cat', winner: '2-bee', reason: 'stronger' },
    ]);
    assert.equal(asked(`${tag} match`).length, 2);
    assert.deepEqual(
      result.phases.map((p) => p.name),
      ['plans: attempts', 'plans: round 1', 'plans: round 2'],
    );
  });

  test('S702 loopUntilDone repeats its pass until the condition holds, and stops at maxIterations', async (t) => {
    const { options } = await setup(t, 'loop');
    const tag = uniqueName('loop');
    const finder = new Agent({ name: 'finder', instructions: 'Find bugs.' });
    const def = workflow({
      name: 'stratus-loop',
      run: async (ctx) => {
        const untilDry = await ctx.loopUntilDone({
          name: 'find',
          maxIterations: 10,
          task: (i) =>
            workflowTask({
              id: 'finder',
              agent: finder,
              input: `${tag} round ${i} [[mock:reply ${Math.max(0, 3 - i)} new]]`,
            }),
          until: ([r]) => r?.output === '0 new',
        });
        const capped = await ctx.loopUntilDone({
          name: 'never',
          maxIterations: 2,
          task: (i) => workflowTask({ id: 'again', agent: finder, input: `${tag} never ${i}` }),
          until: () => false,
        });
        return {
          done: untilDry.done,
          iterations: untilDry.iterations,
          outputs: untilDry.rounds.map((r) => r[0]?.output),
          capped: [capped.done, capped.iterations],
        };
      },
    });
    const result = await runWorkflow(def, undefined, options);
    assert.deepEqual(result.output, {
      done: true,
      iterations: 3,
      outputs: ['2 new', '1 new', '0 new'],
      capped: [false, 2],
    });
    assert.equal(asked(`${tag} round`).length, 3);
    assert.equal(asked(`${tag} never`).length, 2);
    assert.deepEqual(
      result.phases.map((p) => p.key),
      ['find', 'find#2', 'find#3', 'never', 'never#2'],
    );
    assert.ok(result.logs.some((l) => /never: stopped after maxIterations \(2\)/.test(l)));
  });
});

describe('S703 running, streaming, resuming, budgets, cancellation, the run manager, drafts', () => {
  test('S703 streamWorkflow emits every seed event name, in order', async (t) => {
    const { options } = await setup(t, 'events');
    const tag = uniqueName('ev');
    const def = workflow({
      name: 'stratus-events',
      run: async (ctx, mode: 'ok' | 'fail') => {
        const results = await ctx.phase(
          'review',
          [
            workflowTask({ id: 'good', agent: reviewer, input: `${tag} good [[mock:reply fine]]` }),
            workflowTask({ id: 'bad', agent: reviewer, input: `${tag} bad [[mock:error 400 always]]` }),
          ],
          { concurrency: 1, failFast: false },
        );
        if (mode === 'fail') throw new Error('the script gave up');
        return (await ctx.synthesize(synthesizer, `${tag} synth ${results.length}`)).output;
      },
    });
    const { stream, result } = streamWorkflow(def, 'ok', options);
    const types: string[] = [];
    const events: WorkflowEvent[] = [];
    for await (const event of stream) {
      types.push(event.type);
      events.push(event);
    }
    const final = await result;
    assert.deepEqual(types, [
      'workflow_started',
      'workflow_phase_started',
      'workflow_task_started',
      'workflow_task_completed',
      'workflow_task_started',
      'workflow_task_failed',
      'workflow_phase_completed',
      'workflow_synthesis_started',
      'workflow_synthesis_completed',
      'workflow_completed',
    ]);
    assert.ok(events.every((e) => e.runId === final.runId && e.workflow === 'stratus-events'));
    const completed = events.find((e) => e.type === 'workflow_task_completed');
    assert.ok(
      completed?.type === 'workflow_task_completed' &&
        completed.task.name === 'good' &&
        completed.task.status === 'completed',
    );
    const phaseDone = events.find((e) => e.type === 'workflow_phase_completed');
    assert.ok(phaseDone?.type === 'workflow_phase_completed' && phaseDone.phase.name === 'review');

    // A run whose script throws ends with workflow_failed; resuming it reuses the good task.
    const failing = streamWorkflow(def, 'fail', { ...options, runId: `${final.runId}-fail` });
    const failTypes: string[] = [];
    for await (const event of failing.stream) failTypes.push(event.type);
    const err = await rejection(failing.result);
    assert.equal(failTypes.at(-1), 'workflow_failed');
    assert.equal(err.result.status, 'failed');
    const resumed = streamWorkflow(def, 'ok', {
      ...options,
      runId: `${final.runId}-resumed`,
      resumeFrom: err.result,
    });
    const resumedTypes: string[] = [];
    for await (const event of resumed.stream) resumedTypes.push(event.type);
    await resumed.result;
    assert.deepEqual(resumedTypes.slice(0, 5), [
      'workflow_started',
      'workflow_phase_started',
      'workflow_task_skipped',
      'workflow_task_started',
      'workflow_task_failed',
    ]);
    const seen = new Set([...types, ...failTypes, ...resumedTypes]);
    assert.deepEqual([...seen].sort(), [
      'workflow_completed',
      'workflow_failed',
      'workflow_phase_completed',
      'workflow_phase_started',
      'workflow_started',
      'workflow_synthesis_completed',
      'workflow_synthesis_started',
      'workflow_task_completed',
      'workflow_task_failed',
      'workflow_task_skipped',
      'workflow_task_started',
    ]);
  });

  test('S703 resumeFrom reuses every completed task by phase and task id, even in a phase that never finished', async (t) => {
    const { options } = await setup(t, 'resume');
    const tag = uniqueName('res');
    let loaderWorks = false;
    let loaderCalls = 0;
    const def = workflow({
      name: 'stratus-resume',
      run: async (ctx, files: string[]) => {
        const reviews = await ctx.phase(
          'review',
          files.map((f) =>
            workflowTask({
              id: f,
              agent: reviewer,
              input: `${tag} review ${f} [[mock:reply reviewed ${f}]]`,
            }),
          ),
        );
        const second = await ctx.phase(
          'deep',
          [
            workflowTask({ id: 'deep-a', agent: reviewer, input: `${tag} deep a [[mock:reply deep a]]` }),
            workflowTask({
              id: 'loader',
              execute: () => {
                loaderCalls++;
                if (!loaderWorks) throw new Error('fixtures not there yet');
                return 'loaded';
              },
            }),
          ],
          { concurrency: 1 },
        );
        return [...reviews, ...second].map((r) => r.output);
      },
    });
    const files = ['a.ts', 'b.ts', 'c.ts'];
    const err = await rejection(runWorkflow(def, files, options));
    assert.equal(err.result.status, 'failed');
    assert.equal(asked(tag).length, 4);

    loaderWorks = true;
    const skipped: string[] = [];
    const resumed = await runWorkflow(def, files, {
      ...options,
      runId: `${options.runId}-2`,
      resumeFrom: err.result.runId,
      onEvent: (e) => e.type === 'workflow_task_skipped' && skipped.push(e.task.id),
    });
    assert.deepEqual(resumed.output, ['reviewed a.ts', 'reviewed b.ts', 'reviewed c.ts', 'deep a', 'loaded']);
    assert.deepEqual(skipped, ['a.ts', 'b.ts', 'c.ts', 'deep-a']);
    assert.equal(asked(tag).length, 4, 'no completed task reached the model again');
    assert.equal(loaderCalls, 2, 'the failed function task ran again');
    assert.equal(resumed.resumedFrom, err.result.runId);
    assert.ok(
      resumed.tasks.filter((r) => r.status === 'skipped').every((r) => r.resumedFrom === err.result.runId),
    );
    assert.equal(resumed.usage.totalTokens, 0, 'reused tasks are paid for by the run they came from');

    // A resume of the resume still finds everything (the reused tasks were recorded again).
    const third = await runWorkflow(def, files, {
      ...options,
      runId: `${options.runId}-3`,
      resumeFrom: resumed,
    });
    assert.ok(third.tasks.every((r) => r.status === 'skipped'));
    assert.equal(asked(tag).length, 4);
    assert.equal(loaderCalls, 2);

    const unknown = await rejection(
      runWorkflow(def, files, {
        ...options,
        runId: `${options.runId}-4`,
        resumeFrom: 'no-such-run-anywhere',
      }),
    );
    assert.ok(unknown.cause instanceof ConfigError);
    assert.match(unknown.message, /no run with id no-such-run-anywhere/);
  });

  /** A two-phase workflow: one task, then two; the budget should refuse the second phase. */
  function budgetWorkflow(tag: string, latency = 0) {
    return workflow({
      name: 'stratus-budget',
      run: async (ctx) => {
        await ctx.phase('first', [
          workflowTask({
            id: 'one',
            agent: reviewer,
            input: `${tag} first [[mock:tokens 40]] [[mock:latency ${latency}]]`,
          }),
        ]);
        await ctx.phase('second', [
          workflowTask({ id: 'two', agent: reviewer, input: `${tag} second-a` }),
          workflowTask({ id: 'three', agent: reviewer, input: `${tag} second-b` }),
        ]);
        return 'not reached';
      },
    });
  }

  for (const [budget, value, pattern] of [
    ['maxTotalTokens', { maxTotalTokens: 30 }, /total token \(maxTotalTokens\) budget exceeded/],
    ['maxPromptTokens', { maxPromptTokens: 5 }, /prompt token \(maxPromptTokens\) budget exceeded/],
    [
      'maxCompletionTokens',
      { maxCompletionTokens: 39 },
      /completion token \(maxCompletionTokens\) budget exceeded/,
    ],
    ['maxCostUsd', { maxCostUsd: 0.0000001 }, /cost \(maxCostUsd\) budget exceeded/],
    ['maxDurationMs', { maxDurationMs: 300 }, /duration budget exceeded \(maxDurationMs\)/],
  ] as const) {
    test(`S703 budget ${budget} refuses new tasks once completed work passed it`, async (t) => {
      const { options } = await setup(t, `budget-${budget.toLowerCase()}`);
      const tag = uniqueName(budget);
      const err = await rejection(
        runWorkflow(budgetWorkflow(tag, budget === 'maxDurationMs' ? 500 : 0), undefined, {
          ...options,
          budget: value,
        }),
      );
      assert.ok(err.cause instanceof BudgetExceededError, String(err.cause));
      assert.match(err.message, pattern);
      assert.equal(asked(`${tag} first`).length, 1);
      assert.equal(asked(`${tag} second`).length, 0, 'no task of the second phase reached the model');
      assert.deepEqual(
        err.result.phases.map((p) => [p.name, p.status]),
        [
          ['first', 'completed'],
          ['second', 'cancelled'],
        ],
      );
    });
  }

  test('S703 maxTasks refuses the task past the limit', async (t) => {
    const { options } = await setup(t, 'maxtasks');
    const tag = uniqueName('max');
    const def = workflow({
      name: 'stratus-max-tasks',
      run: async (ctx) =>
        ctx.phase(
          'many',
          ['a', 'b', 'c', 'd'].map((id) => workflowTask({ id, agent: reviewer, input: `${tag} ${id}` })),
          { concurrency: 1 },
        ),
    });
    const err = await rejection(runWorkflow(def, undefined, { ...options, maxTasks: 2 }));
    assert.ok(err.cause instanceof LimitError);
    assert.match(err.message, /at most 2 tasks \(maxTasks\)/);
    assert.equal(asked(tag).length, 2);
    assert.deepEqual(
      err.result.phases[0]?.tasks.map((r) => r.status),
      ['completed', 'completed', 'cancelled', 'cancelled'],
    );
  });

  test('S703 an AbortSignal cancels running tasks through Temporal and ends the session cancelled', async (t) => {
    const { options } = await setup(t, 'abort');
    const tag = uniqueName('abort');
    const controller = new AbortController();
    const events: WorkflowEvent[] = [];
    const def = workflow({
      name: 'stratus-abort',
      run: async (ctx) => {
        await ctx.phase(
          'hang',
          ['h1', 'h2', 'h3', 'h4'].map((id) =>
            workflowTask({ id, agent: reviewer, input: `${tag} ${id} [[mock:hang]]` }),
          ),
          { concurrency: 3 },
        );
        return 'not reached';
      },
    });
    const run = runWorkflow(def, undefined, {
      ...options,
      signal: controller.signal,
      onEvent: (e) => events.push(e),
    });
    await until(() => asked(tag).filter((r) => r.status === 0).length === 3, 'three hanging requests');
    controller.abort();
    const err = await rejection(run);
    assert.equal(err.result.status, 'cancelled');
    assert.ok(err.cause instanceof RunCancelledError, String(err.cause));
    assert.deepEqual(
      err.result.phases[0]?.tasks.map((r) => r.status),
      ['cancelled', 'cancelled', 'cancelled', 'cancelled'],
    );
    const description = await shared.client.temporal.workflow.getHandle(err.result.runId).describe();
    assert.equal(description.status.name, 'CANCELLED');
    const replay = await replayHistory(
      await shared.client.temporal.workflow.getHandle(err.result.runId).fetchHistory(),
      err.result.runId,
      { workflowBundle: { code: workflowCode }, workflowsPath: undefined },
    );
    assert.ok(replay.ok, replay.error ?? '');
    // The agents' model calls were abandoned: Temporal's cancellation reached the activities.
    await until(
      () => asked(tag).every((r) => r.status === 499),
      'the cancelled agents to drop their requests',
      30_000,
    );
    assert.equal(asked(`${tag} h4`).length, 0);
    assert.equal(events.at(-1)?.type, 'workflow_failed');
    assert.equal(
      events.filter((e) => e.type === 'workflow_task_completed').length,
      3,
      'interrupted tasks complete as cancelled',
    );
  });

  test('S703 the run manager starts, stops, resumes and restarts runs and keeps their events', async (t) => {
    const { options } = await setup(t, 'manager');
    const tag = uniqueName('mgr');
    let hang = true;
    const def = workflow({
      name: 'stratus-managed',
      run: async (ctx, items: string[]) => {
        const results = await ctx.phase(
          'work',
          items.map((id) =>
            workflowTask({
              id,
              agent: reviewer,
              input: `${tag} ${id} ${id === 'slow' && hang ? '[[mock:hang]]' : `[[mock:reply done ${id}]]`}`,
            }),
          ),
          { concurrency: 2, failFast: false },
        );
        return results.map((r) => r.output);
      },
    });
    const manager = new WorkflowRunManager({ client: shared.client, taskQueue: options.taskQueue });
    const first = manager.start(def, ['quick', 'slow']);
    const phases: string[] = [];
    first.onEvent((e) => {
      if (e.type === 'workflow_task_completed') phases.push(e.task.id);
    });
    await until(
      () => phases.includes('quick') && asked(`${tag} slow`).some((r) => r.status === 0),
      'quick done, slow hanging',
    );
    assert.equal(first.status, 'running');
    assert.equal(first.snapshot().tasks.length, 1);
    await manager.stop(first);
    assert.equal(first.status, 'cancelled');
    await assert.rejects(first.result, WorkflowRunError);
    assert.equal(
      (await shared.client.temporal.workflow.getHandle(first.runId).describe()).status.name,
      'CANCELLED',
    );

    hang = false;
    const resumed = manager.resume(first);
    const result = await resumed.result;
    assert.deepEqual(result.output, ['done quick', 'done slow']);
    assert.deepEqual(
      resumed.events
        .filter((e) => e.type === 'workflow_task_skipped')
        .map((e) => (e.type === 'workflow_task_skipped' ? e.task.id : '')),
      ['quick'],
    );
    assert.equal(asked(`${tag} quick`).length, 1, 'resume skipped the completed task');
    assert.equal(resumed.previousRunId, first.runId);

    const restarted = manager.restart(resumed);
    assert.deepEqual((await restarted.result).output, ['done quick', 'done slow']);
    assert.equal(asked(`${tag} quick`).length, 2, 'restart runs everything again');
    assert.equal(restarted.status, 'completed');
    assert.deepEqual(
      manager.list().map((r) => r.status),
      ['cancelled', 'completed', 'completed'],
    );
    assert.equal(manager.get(resumed.id), resumed);
    assert.equal(restarted.events[0]?.type, 'workflow_started');
    assert.equal(restarted.events.at(-1)?.type, 'workflow_completed');
  });

  test('S703 generateWorkflowDraft returns a compiled draft for review and never runs it', async (t) => {
    const { options } = await setup(t, 'draft');
    const tag = uniqueName('draft');
    const drafter = new Agent({
      name: 'workflow-drafter',
      instructions: 'Design safe weft workflow scripts.',
    });
    const valid = [
      "export const meta = { name: 'route-audit', description: 'Audit routes', phases: [{ title: 'Review' }, { title: 'Verify' }] }",
      'const routes = Array.isArray(args) ? args : []',
      "phase('Review')",
      "const found = await parallel(routes.map((r) => () => agent('Audit ' + r, { label: r })))",
      "phase('Verify')",
      "const checked = await agent('Verify: ' + found.filter(Boolean).join(', '), { label: 'verify' })",
      'return checked',
    ].join('\n');
    const answer = JSON.stringify({ script: valid, estimatedTasks: 5, notes: 'one agent per route' });
    const draft = await generateWorkflowDraft(
      drafter,
      `${tag} Audit every API route [[mock:json ${answer}]]`,
      {
        ...options,
        constraints: ['Preview the script before running'],
        patterns: ['fan-out-and-synthesize', 'adversarial-verification'],
      },
    );
    assert.equal(draft.valid, true, draft.warnings.join('\n'));
    assert.equal(draft.error, null);
    assert.equal(draft.script, valid);
    assert.equal(draft.meta?.name, 'route-audit');
    assert.deepEqual(draft.phases, [{ title: 'Review' }, { title: 'Verify' }]);
    assert.equal(draft.estimatedTasks, 5);
    assert.equal(draft.notes, 'one agent per route');
    assert.ok(
      draft.warnings.some((w) => /1 of 2 agent\(\) calls sit in loops or callbacks/.test(w)),
      draft.warnings.join('\n'),
    );
    const request = asked(tag);
    assert.equal(request.length, 1, 'only the drafting agent ran');
    assert.ok(request[0]?.tools.includes('StructuredOutput'));
    assert.match(request[0]?.prompt ?? '', /adversarial-verification/);
    assert.match(request[0]?.prompt ?? '', /Preview the script before running/);
    assert.equal(
      asked('Audit ').filter((r) => !r.prompt.includes(tag)).length,
      0,
      "none of the draft's agents ran",
    );
    // The drafting agent itself ran durably, as a Stratus run of its own.
    const description = await shared.client.temporal.workflow.getHandle(draft.runId).describe();
    assert.equal(description.type, 'weft-workflow-draft');
    assert.equal(description.status.name, 'COMPLETED');

    const broken =
      "export const meta = { name: 'bad', description: 'imports' }\nimport fs from 'node:fs'\nreturn 1";
    const bad = await generateWorkflowDraft(
      drafter,
      `${tag}-bad Audit routes [[mock:json ${JSON.stringify({ script: broken })}]]`,
      { ...options, runId: `${options.runId}-bad` },
    );
    assert.equal(bad.valid, false);
    assert.equal(bad.error?.line, 2);
    assert.equal(bad.error?.column, 1);
    assert.match(bad.warnings[0] ?? '', /^workflow-draft\.js:2:1: .*import/);
    assert.deepEqual(bad.phases, []);
  });
});

describe('S703 durability of a Stratus run', () => {
  test('S703 a caller process that dies mid-phase: its tasks finish, the session ends abandoned, a resume reuses them all', async (t) => {
    const { queue, options } = await setup(t, 'caller');
    const tag = uniqueName('caller');
    const runId = `${queue}-dead`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'test', 'fixtures', 'stratus', 'caller.ts'), tag, runId, '3000'],
      { cwd: ROOT, env: weftEnv({ taskQueue: queue }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | string>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? '')),
    );
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    await until(() => asked(tag).filter((r) => r.status === 0).length === 3, 'three tasks in flight');
    assert.match(out, new RegExp(`started ${runId}`));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    // The caller is gone; its tasks are not: they run to the end on the worker.
    await until(() => asked(tag).filter((r) => r.status === 200).length === 3, 'the three tasks to finish');
    // With no caller left, the session fails as abandoned after its idle timeout.
    const handle = shared.client.temporal.workflow.getHandle(runId);
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, 'RunAbandonedError');
      return true;
    });
    // Another process resumes it: every task that completed after the caller died is reused.
    const skipped: string[] = [];
    const resumed = await runWorkflow(callerWorkflow(tag), undefined, {
      ...options,
      resumeFrom: runId,
      onEvent: (e) => e.type === 'workflow_task_skipped' && skipped.push(e.task.id),
    });
    assert.deepEqual(resumed.output, ['did a', 'did b', 'did c']);
    assert.deepEqual(skipped, ['a', 'b', 'c']);
    assert.equal(asked(tag).length, 3, 'no task reached the model twice');
  });

  test('S703 a worker killed with SIGKILL mid-task: a new worker finishes the task, completed tasks never rerun', async (t) => {
    const queue = uniqueName('stratus-crash');
    const tag = uniqueName('crash');
    const env = weftEnv({ modelUrl: shared.model.url, taskQueue: queue });
    const first = await spawnWorker(t, env);
    const def = workflow({
      name: 'stratus-crash',
      run: async (ctx) => {
        const before = await ctx.phase('before', [
          workflowTask({ id: 'quick', agent: reviewer, input: `${tag} quick [[mock:reply quick done]]` }),
        ]);
        const during = await ctx.phase('during', [
          workflowTask({
            id: 'long',
            agent: reviewer,
            input: `${tag} long [[mock:latency 3000]] [[mock:reply long done]]`,
          }),
        ]);
        return [...before, ...during].map((r) => [r.output, r.attempts]);
      },
    });
    const run = runWorkflow(def, undefined, {
      client: shared.client,
      taskQueue: queue,
      runId: `${queue}-run`,
    });
    await until(() => asked(`${tag} long`).some((r) => r.status === 0), 'the long task in flight');
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');
    await spawnWorker(t, env);
    const result = await run;
    assert.deepEqual(result.output, [
      ['quick done', 1],
      ['long done', 2],
    ]);
    assert.equal(asked(`${tag} quick`).length, 1, 'the completed task never ran again');
    assert.equal(asked(`${tag} long`).length, 2, 'the task in flight ran again on the new worker');
  });
});
