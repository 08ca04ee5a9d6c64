import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { recoverSource } from '../../src/cli/commands/workflows';
import { compileScriptFile } from '../../src/compiler/compile-script';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel } from '../../src/mock-model/server';
import { FIXTURES, ROOT, runWeft, uniqueName, weftEnv } from '../helpers/harness';

let model: MockModel;

before(async () => {
  model = await startMockModel();
});
after(async () => {
  await model?.close();
});

function write(file: string, text: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

function workflowScript(
  name: string,
  extra = '',
  body = `return await agent('hi from ${name} [[mock:reply ${name} ran]]', { label: '${name}' })`,
): string {
  return `export const meta = {\n  name: '${name}',\n  description: 'The ${name} workflow',${extra}\n}\n${body}\n`;
}

/** A project folder and a home folder of their own. */
function sandbox(): { project: string; home: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'weft-ux-wf-'));
  const project = path.join(root, 'project');
  const home = path.join(root, 'home');
  mkdirSync(project);
  mkdirSync(home);
  return { project, home };
}

interface Listed {
  workflows: Array<{ name: string; description: string; whenToUse?: string; origin: string; path: string }>;
  broken: Array<{ path: string; error: string }>;
}

void describe('saved workflows', () => {
  test('S504 weft workflows lists project, .claude and personal folders with name, description, whenToUse and origin; the project wins a clash', async () => {
    const { project, home } = sandbox();
    write(
      path.join(project, '.weft', 'workflows', 'alpha.js'),
      workflowScript('ux-alpha', `\n  whenToUse: 'When alpha is due',`),
    );
    write(path.join(project, '.claude', 'workflows', 'beta.js'), workflowScript('ux-beta'));
    write(path.join(home, '.weft', 'workflows', 'alpha-personal.js'), workflowScript('ux-alpha'));
    write(path.join(home, '.weft', 'workflows', 'gamma.js'), workflowScript('ux-gamma'));
    write(path.join(home, '.weft', 'workflows', 'broken.js'), 'export const meta = { name: 1 }\n');
    const env = weftEnv({ taskQueue: uniqueName('ux-wf'), extra: { WEFT_HOME: home } });

    const res = await runWeft(['workflows', '--json'], { env, cwd: project });
    assert.equal(res.code, 0, res.stderr);
    const { workflows, broken } = res.json as Listed;
    const byName = new Map(workflows.map((w) => [w.name, w]));
    assert.equal(byName.get('ux-alpha')?.origin, 'project');
    assert.equal(byName.get('ux-alpha')?.path, path.join(project, '.weft', 'workflows', 'alpha.js'));
    assert.equal(byName.get('ux-alpha')?.whenToUse, 'When alpha is due');
    assert.equal(byName.get('ux-alpha')?.description, 'The ux-alpha workflow');
    assert.equal(byName.get('ux-beta')?.origin, 'project');
    assert.equal(byName.get('ux-gamma')?.origin, 'personal');
    assert.equal(byName.get('deep-research')?.origin, 'bundled');
    assert.match(byName.get('deep-research')?.whenToUse ?? '', /question/);
    assert.equal(workflows.filter((w) => w.name === 'ux-alpha').length, 1, 'one entry per name');
    assert.equal(broken.length, 1);
    assert.match(broken[0]?.error ?? '', /broken\.js:1:\d+: .*name/);

    const text = await runWeft(['workflows'], { env, cwd: project });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ux-alpha\s+project\s+The ux-alpha workflow$/m);
    assert.match(text.stdout, /^\s+when: When alpha is due$/m);
    assert.match(text.stdout, /^ux-gamma\s+personal\s+The ux-gamma workflow$/m);
    assert.match(text.stderr, /broken: .*broken\.js/);
  });

  test('S504 weft run <name> runs a saved workflow, the project copy over the personal one', async () => {
    const { project, home } = sandbox();
    write(
      path.join(project, '.weft', 'workflows', 'alpha.js'),
      workflowScript(
        'ux-alpha',
        '',
        `return await agent('project copy [[mock:reply project]]', { label: 'p' })`,
      ),
    );
    write(
      path.join(home, '.weft', 'workflows', 'alpha.js'),
      workflowScript(
        'ux-alpha',
        '',
        `return await agent('personal copy [[mock:reply personal]]', { label: 'h' })`,
      ),
    );
    const queue = uniqueName('ux-runname');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue, extra: { WEFT_HOME: home } });
    const res = await runWeft(['run', 'ux-alpha', '--json', '--id', queue], { env, cwd: project });
    assert.equal(res.code, 0, res.stderr);
    assert.equal((res.json as { result: string }).result, 'project');
  });

  test('S504 weft save copies a script in, or recovers the source a run started with, and refuses to write through symlinks', async () => {
    const { project, home } = sandbox();
    const queue = uniqueName('ux-save');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue, extra: { WEFT_HOME: home } });
    const saved = (name: string): string => path.join(project, '.weft', 'workflows', `${name}.js`);

    // From a file: copied byte for byte under its meta.name.
    const source = workflowScript('ux-saved', `\n  whenToUse: 'to test save',`);
    const file = write(path.join(project, 'scratch', 'saved.js'), source);
    const first = await runWeft(['save', file, '--json'], { env, cwd: project });
    assert.equal(first.code, 0, first.stderr);
    assert.equal((first.json as { path: string }).path, saved('ux-saved'));
    assert.equal(readFileSync(saved('ux-saved'), 'utf8'), source);
    const again = await runWeft(['save', file], { env, cwd: project });
    assert.equal(again.code, 2, 'an existing saved workflow is not replaced silently');
    assert.match(again.stderr, /exists: pass --force/);
    assert.equal((await runWeft(['save', file, '--force'], { env, cwd: project })).code, 0);

    // From a run: the source is recovered from the run's input, in both body forms.
    const defaultForm = `export const meta = { name: 'ux-default', description: 'default form' }

// a comment the saved copy keeps
export default async function ({ agent, args }) {
  return agent('default form ' + args + ' [[mock:reply d]]', { label: 'd' })
}
`;
    const defaultFile = write(path.join(project, 'scratch', 'default.js'), defaultForm);
    const run = await runWeft(['run', defaultFile, '--json', '--id', `${queue}-d`, '--args', '"x"'], {
      env,
      cwd: project,
    });
    assert.equal(run.code, 0, run.stderr);
    const fromRun = await runWeft(['save', `${queue}-d`, '--name', 'from-run'], { env, cwd: project });
    assert.equal(fromRun.code, 0, fromRun.stderr);
    assert.equal(readFileSync(saved('from-run'), 'utf8'), defaultForm);
    const byName = await runWeft(['run', 'from-run', '--json', '--id', `${queue}-again`, '--args', '"y"'], {
      env,
      cwd: project,
    });
    assert.equal(byName.code, 0, byName.stderr);
    assert.equal((byName.json as { result: string }).result, 'd');
    const unknown = await runWeft(['save', `${queue}-nope`], { env, cwd: project });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no run with id/);

    // Symlinks: at the file, at the workflows folder, at .weft. Nothing is written through them.
    const outside = mkdtempSync(path.join(os.tmpdir(), 'weft-ux-outside-'));
    const victim = write(path.join(outside, 'victim.js'), 'precious\n');
    symlinkSync(victim, saved('ux-linked'));
    const linkedFile = write(path.join(project, 'scratch', 'linked.js'), workflowScript('ux-linked'));
    for (const flags of [[], ['--force']]) {
      const res = await runWeft(['save', linkedFile, ...flags], { env, cwd: project });
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /refusing to write through a symlink/);
    }
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.ok(lstatSync(saved('ux-linked')).isSymbolicLink());

    for (const linkAt of ['.weft', path.join('.weft', 'workflows')]) {
      const other = sandbox().project;
      mkdirSync(path.join(other, path.dirname(linkAt)), { recursive: true });
      symlinkSync(outside, path.join(other, linkAt));
      const res = await runWeft(['save', linkedFile], { env, cwd: other });
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /refusing to write through a symlink/);
      assert.deepEqual(readdirSync(outside).sort(), ['victim.js'], `nothing written through ${linkAt}`);
    }
  });

  test('S504 the source recovered from a compiled script is the file, for every example, bundled workflow and fixture', async () => {
    const files = [
      ...readdirSync(path.join(ROOT, 'examples')).map((f) => path.join(ROOT, 'examples', f)),
      ...readdirSync(path.join(ROOT, 'workflows')).map((f) => path.join(ROOT, 'workflows', f)),
      ...readdirSync(FIXTURES)
        .filter((f) => /^(good|api)-.*\.js$/.test(f))
        .map((f) => path.join(FIXTURES, f)),
    ].filter((f) => f.endsWith('.js') && existsSync(f));
    assert.ok(files.length >= 10, `${files.length} scripts`);
    for (const file of files) {
      const script = await compileScriptFile(file);
      assert.equal(
        recoverSource(script),
        readFileSync(file, 'utf8'),
        `${path.relative(ROOT, file)} round-trips`,
      );
    }
  });
});

void describe('bundled deep-research', () => {
  interface Result {
    question?: string;
    error?: string;
    summary?: string;
    findings?: unknown[];
    sources?: unknown[];
    stats?: Record<string, number>;
  }

  test('S504 S806 deep-research runs end to end on the mock model: scope, search with WebSearch, fetch, claims, verify with a quorum, synthesize, with stats', async () => {
    const queue = uniqueName('ux-deep');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue });
    const question = 'How well do heat pumps work below -15 C?';
    const res = await runWeft(
      [
        'run',
        'deep-research',
        '--json',
        '--concurrency',
        '8',
        '--id',
        queue,
        '--args',
        JSON.stringify(question),
      ],
      { env, timeoutMs: 180_000 },
    );
    assert.equal(res.code, 0, res.stderr);
    const out = res.json as { status: string; agents: number; result: Result };
    assert.equal(out.status, 'completed');
    const { result } = out;
    assert.equal(result.question, question);
    assert.equal(typeof result.summary, 'string');
    assert.ok(Array.isArray(result.findings));
    const stats = result.stats ?? {};
    assert.ok((stats.angles ?? 0) >= 3 && (stats.angles ?? 0) <= 5, JSON.stringify(stats));
    assert.ok((stats.sourcesFetched ?? 0) > 0 && (stats.sourcesFetched ?? 0) <= 8);
    assert.ok((stats.claimsExtracted ?? 0) > 0);
    assert.equal(
      stats.claimsVerified,
      (stats.confirmed ?? 0) + (stats.refuted ?? 0) + (stats.unverified ?? 0),
    );
    assert.equal(stats.agentCalls, out.agents);
    // Every phase of the seed's shape ran, in order.
    for (const phase of ['Scope', 'Search', 'Fetch', 'Claims', 'Verify']) {
      assert.match(res.stderr, new RegExp(`▸ ${phase} — `), `phase ${phase} ran`);
    }
    const verifiers = model.requests.filter(
      (r) => r.prompt.includes(question) && r.prompt.startsWith('You are skeptic #'),
    );
    assert.equal(
      new Set(verifiers.map((r) => r.prompt)).size,
      (stats.claimsVerified ?? 0) * 3,
      'three skeptics per claim',
    );
    // S806: each searcher used WebSearch, the server tool, and its paused turn was sent back.
    const searches = model.requests.filter(
      (r) => r.prompt.includes(question) && r.prompt.startsWith('Use WebSearch') && r.turn === 0,
    );
    assert.equal(searches.length, stats.angles);
    for (const r of searches) {
      assert.deepEqual(r.serverTools, [{ type: 'web_search_20250305', name: 'web_search', max_uses: 5 }]);
      assert.equal(r.stopReason, 'pause_turn');
      assert.equal(r.content?.[0]?.type, 'server_tool_use');
    }
  });

  test('S504 deep-research returns early and gracefully: no question, and a scope agent that fails', async () => {
    const queue = uniqueName('ux-deep-early');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue });
    const none = await runWeft(['run', 'deep-research', '--json', '--id', `${queue}-none`], { env });
    assert.equal(none.code, 0, none.stderr);
    const noneOut = none.json as { agents: number; result: Result };
    assert.match(noneOut.result.error ?? '', /No research question provided/);
    assert.equal(noneOut.agents, 0);

    const broken = await runWeft(
      [
        'run',
        'deep-research',
        '--json',
        '--id',
        `${queue}-broken`,
        '--args',
        '"a question [[mock:error 400 always]]"',
      ],
      { env },
    );
    // The run completes with its graceful answer, but its only agent failed: exit 3 by the contract.
    assert.equal(broken.code, 3, broken.stderr);
    const brokenOut = broken.json as { agents: number; result: Result };
    assert.match(brokenOut.result.error ?? '', /Scope agent returned no result/);
    assert.equal(brokenOut.result.stats?.agentCalls, 1);
  });
});
