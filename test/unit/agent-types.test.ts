import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { findAgentType, parseAgentDefinition } from '../../src/activities/agent/agent-types';
import { resolveModel } from '../../src/activities/create-activities';
import type { AgentRequest } from '../../src/types';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function request(model: string | null, explicitModel?: string | null): AgentRequest {
  return {
    runId: 'r',
    index: 0,
    label: 'a',
    phase: null,
    prompt: 'p',
    schema: null,
    model,
    ...(explicitModel === undefined ? {} : { explicitModel }),
    agentType: 'x',
    isolation: null,
    cwd: '/',
    maxSchemaAttempts: 5,
    maxTurns: 10,
    maxOutputTokens: null,
    cacheKey: 'k',
    occurrence: 1,
    dryRun: false,
  };
}

void describe('agent definitions', () => {
  void test('S403 Claude Code format: frontmatter name, description, tools (comma list), model alias; body is the prompt', () => {
    const def = parseAgentDefinition(
      '---\nname: code-reviewer\ndescription: Reviews code\ntools: Read, Grep, Bash(git diff:*)\nmodel: haiku\n---\n\nYou review code.\n',
      '/x/code-reviewer.md',
    );
    assert.deepEqual(def, {
      name: 'code-reviewer',
      description: 'Reviews code',
      tools: ['Read', 'Grep', 'Bash'],
      model: 'claude-haiku-4-5',
      systemPrompt: 'You review code.',
      file: '/x/code-reviewer.md',
    });
  });

  void test('S403 tools as a YAML list, no tools line means every tool, inherit means no model, name defaults to the file', () => {
    const listed = parseAgentDefinition(
      '---\ntools:\n  - Glob\n  - Read\nmodel: inherit\n---\nbody',
      '/d/lister.md',
    );
    assert.deepEqual(listed.tools, ['Glob', 'Read']);
    assert.equal(listed.model, null);
    assert.equal(listed.name, 'lister');
    const open = parseAgentDefinition('---\nname: open\nmodel: claude-opus-4-7\n---\nbody', '/d/open.md');
    assert.equal(open.tools, null);
    assert.equal(open.model, 'claude-opus-4-7');
    assert.deepEqual(parseAgentDefinition('---\ntools: []\n---\n', '/d/none.md').tools, []);
  });

  void test('S403 malformed definitions are ConfigErrors naming the file', () => {
    assert.throws(() => parseAgentDefinition('no frontmatter', '/d/a.md'), /\/d\/a\.md: .*frontmatter/);
    assert.throws(() => parseAgentDefinition('---\nname: [unclosed\n---\n', '/d/b.md'), /not valid YAML/);
    assert.throws(() => parseAgentDefinition('---\ntools: 3\n---\n', '/d/c.md'), /"tools" must be/);
  });

  void test('S403 lookup: .weft/agents, then .claude/agents, then ~/.weft/agents; unknown types list the known ones', async () => {
    const cwd = tempDir('weft-agents-');
    const home = tempDir('weft-home-');
    write(path.join(cwd, '.claude/agents/shared.md'), '---\nname: shared\nmodel: sonnet\n---\nfrom claude');
    write(path.join(cwd, '.weft/agents/shared.md'), '---\nname: shared\nmodel: opus\n---\nfrom weft');
    write(path.join(cwd, '.claude/agents/renamed-file.md'), '---\nname: reviewer\n---\nreviews');
    write(path.join(cwd, '.claude/agents/broken.md'), '---\nname: [oops\n---\n');
    write(path.join(home, '.weft/agents/mine.md'), '---\nname: mine\ntools: Read\n---\npersonal');
    write(path.join(home, '.weft/agents/shared.md'), '---\nname: shared\n---\npersonal shared');
    const where = { cwd, home };
    assert.equal((await findAgentType('shared', where)).systemPrompt, 'from weft');
    assert.equal((await findAgentType('reviewer', where)).systemPrompt, 'reviews');
    assert.equal((await findAgentType('mine', where)).systemPrompt, 'personal');
    await assert.rejects(findAgentType('ghost', where), (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.match(err.message, /unknown agentType "ghost"/);
      assert.match(err.message, /known types: mine, reviewer, shared/);
      return true;
    });
    await assert.rejects(findAgentType('broken', where), /broken\.md: frontmatter is not valid YAML/);
  });

  void test('S204 S403 model precedence: opts.model, then the type, then the run default, then the worker', () => {
    const typed = {
      name: 't',
      description: '',
      tools: null,
      model: 'claude-haiku-4-5',
      systemPrompt: '',
      file: '',
    };
    assert.equal(resolveModel(request('claude-opus-4-7', 'claude-opus-4-7'), typed, 'w'), 'claude-opus-4-7');
    assert.equal(resolveModel(request('run-default', null), typed, 'w'), 'claude-haiku-4-5');
    assert.equal(resolveModel(request('run-default', null), null, 'w'), 'run-default');
    assert.equal(resolveModel(request(null, null), null, 'worker-default'), 'worker-default');
    // A workflow that does not say which model was explicit: its model is taken as explicit.
    assert.equal(resolveModel(request('from-run'), typed, 'w'), 'from-run');
    assert.equal(resolveModel(request(null), typed, 'w'), 'claude-haiku-4-5');
  });
});
