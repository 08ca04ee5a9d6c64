import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startMockModel } from '../../src/mock-model/server';
import type { MockModel } from '../../src/mock-model/server';
import { ROOT, WEFT_BIN, runWeft, uniqueName, weftEnv } from '../helpers/harness';

let model: MockModel;
let scripts: string;

before(async () => {
  model = await startMockModel();
  scripts = mkdtempSync(path.join(os.tmpdir(), 'weft-ux-live-'));
});
after(async () => {
  await model?.close();
});

function script(name: string, meta: string, body: string): string {
  const file = path.join(scripts, `${name}.js`);
  writeFileSync(file, `export const meta = { ${meta} }\n${body}\n`);
  return file;
}

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the CLI under a pseudo-terminal, as a person at a terminal would, with util-linux's
 * `script`; returns everything the terminal received.
 */
function runInTerminal(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  assert.ok(existsSync('/usr/bin/script'), 'util-linux `script` is needed to give the CLI a terminal');
  const command = [process.execPath, WEFT_BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: ROOT,
      env: { ...env, TERM: 'xterm-256color', COLUMNS: '120', LINES: '40' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`weft ${args.join(' ')} timed out in a terminal:\n${output}`));
    }, 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const TWO_PHASES = `name: 'ux-live', description: 'two phases', phases: [{ title: 'Gather', detail: 'three readers', model: 'claude-haiku-4-5' }, { title: 'Report', detail: 'one writer' }]`;
const TWO_PHASE_BODY = `phase('Gather')
const notes = await parallel(['a', 'b', 'c'].map((x) => () => agent('read ' + x + ' [[mock:latency 1200]]', { label: 'reader-' + x })))
log('gathered ' + notes.length)
phase('Report')
return agent('write it up [[mock:latency 700]] [[mock:reply the report]]', { label: 'writer' })`;

void describe('live view', () => {
  test('S501 on a terminal the tree redraws in place: phases with detail and model, agents, log lines and totals', async () => {
    const queue = uniqueName('ux-tty');
    const file = script(`tty-${queue}`, TWO_PHASES, TWO_PHASE_BODY);
    const { code, output } = await runInTerminal(
      ['run', file, '--concurrency', '3', '--id', queue],
      weftEnv({ modelUrl: model.url, taskQueue: queue }),
    );
    assert.equal(code, 0, output);
    // log-update erases the lines of the previous frame and moves up before each new frame.
    assert.ok(output.includes('\u001b[2K'), 'erases lines in place');
    assert.ok(output.includes('\u001b[1A'), 'moves the cursor up to redraw');
    const plain = output
      .split('\u001b[')
      .map((part, i) => (i === 0 ? part : part.replace(/^[0-9;?]*[A-Za-z]/, '')))
      .join('');
    assert.match(plain, new RegExp(`ux-live ${queue} · running · \\d`));
    assert.match(plain, /Gather — three readers \[claude-haiku-4-5\]/);
    assert.match(plain, /Report — one writer/);
    assert.match(plain, /⠋|⠙|⠹|⠸|⠼|⠴|⠦|⠧|⠇|⠏/, 'a running agent has a spinner');
    assert.match(plain, /reader-a\s+running/);
    assert.match(plain, /✓ reader-b\s+completed\s+\d+ in \/ \d+ out\s+\d+\.\d+s/);
    assert.match(plain, /» gathered 3/);
    assert.match(plain, /agents 4\/4 done · tokens \d+ in \/ \d+ out · \$\d+\.\d+ · \d+\.\ds/);
    assert.match(plain, new RegExp(`ux-live ${queue} · completed`), 'the last frame shows the final state');
    assert.match(plain, /completed: 4 agents/);
  });

  test('S501 not on a terminal, progress is plain lines on stderr and stdout stays clean JSON', async () => {
    const queue = uniqueName('ux-plain');
    const file = script(`plain-${queue}`, TWO_PHASES, TWO_PHASE_BODY);
    const res = await runWeft(['run', file, '--json', '--concurrency', '3', '--id', queue], {
      env: weftEnv({ modelUrl: model.url, taskQueue: queue }),
    });
    assert.equal(res.code, 0, res.stderr);
    assert.equal((res.json as { result: string }).result, 'the report');
    assert.ok(!res.stderr.includes('\u001b['), 'no escape codes');
    const lines = res.stderr.split('\n');
    const index = (prefix: string): number => {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      assert.ok(i >= 0, `no line starting with "${prefix}":\n${res.stderr}`);
      return i;
    };
    assert.ok(index('▸ Gather — three readers [claude-haiku-4-5]') < index('  ✓ [Gather] reader-a'));
    assert.ok(index('  ✓ [Gather] reader-c') < index('▪ Gather: 3/3 done'));
    assert.ok(index('▪ Gather: 3/3 done') < index('  » gathered 3'));
    assert.ok(index('  » gathered 3') < index('▸ Report — one writer'));
    assert.ok(index('▸ Report — one writer') < index('  … [Report] writer'));
    assert.ok(index('  ✓ [Report] writer') < index('▪ Report: 1/1 done'));
  });
});

void describe('cost safety', () => {
  const fanOut = (n: number) =>
    `const r = await parallel(Array.from({ length: ${n} }, (_, i) => () => agent('item ' + i + ' [[mock:reply ok]]', { label: 'item-' + i })))\nreturn r.length`;

  test('S505 more than 25 agents scheduled gives one warning on stderr; 25 give none', async () => {
    const queue = uniqueName('ux-many');
    const env = weftEnv({ modelUrl: model.url, taskQueue: queue });
    const many = script(`many-${queue}`, `name: 'ux-many', description: 'many agents'`, fanOut(30));
    const res = await runWeft(['run', many, '--json', '--concurrency', '8', '--id', `${queue}-30`], { env });
    assert.equal(res.code, 0, res.stderr);
    assert.equal((res.json as { result: number }).result, 30);
    const warnings = res.stderr.split('\n').filter((l) => l.includes('warning'));
    assert.equal(warnings.length, 1, res.stderr);
    assert.match(
      warnings[0] ?? '',
      new RegExp(`run ${queue}-30 has scheduled \\d+ agents \\(more than 25\\)`),
    );

    const few = script(`few-${queue}`, `name: 'ux-few', description: '25 agents'`, fanOut(25));
    const quiet = await runWeft(['run', few, '--json', '--concurrency', '8', '--id', `${queue}-25`], { env });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.ok(!quiet.stderr.includes('warning'), quiet.stderr);
  });

  test('S505 --dry-run runs the whole orchestration on the built-in model, without key or network, and reports agents per phase and a token and cost estimate', async () => {
    const queue = uniqueName('ux-dry');
    // No model server and no key: a dry run needs neither.
    const env = weftEnv({ taskQueue: queue });
    const requestsBefore = model.requests.length;
    const res = await runWeft(
      [
        'run',
        'deep-research',
        '--dry-run',
        '--json',
        '--concurrency',
        '8',
        '--id',
        queue,
        '--args',
        '"Do heat pumps work in the cold?"',
      ],
      { env },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(model.requests.length, requestsBefore, 'no model was asked');
    const out = res.json as {
      status: string;
      agents: number;
      result: { stats?: { agentCalls: number } };
      dryRun: {
        agents: number;
        phases: Array<{
          phase: string;
          agents: number;
          usage: { inputTokens: number; outputTokens: number };
          estimatedCostUsd: number;
        }>;
        usage: { inputTokens: number; outputTokens: number };
        estimatedCostUsd: number;
        models: Record<string, number>;
      };
    };
    assert.equal(out.status, 'completed');
    assert.equal(out.dryRun.agents, out.agents);
    assert.equal(out.result.stats?.agentCalls, out.agents, 'the script counted the same agents');
    const phases = out.dryRun.phases.map((p) => p.phase);
    for (const p of phases)
      assert.ok(['Scope', 'Search', 'Fetch', 'Claims', 'Verify', 'Synthesize'].includes(p), p);
    assert.deepEqual(phases.slice(0, 3), ['Scope', 'Search', 'Fetch']);
    assert.equal(
      out.dryRun.phases.reduce((n, p) => n + p.agents, 0),
      out.agents,
    );
    assert.equal(out.dryRun.phases[0]?.agents, 1, 'one scope agent');
    assert.ok(out.dryRun.usage.inputTokens > 0 && out.dryRun.usage.outputTokens > 0);
    assert.ok(out.dryRun.estimatedCostUsd > 0);
    assert.deepEqual(Object.keys(out.dryRun.models), ['claude-sonnet-4-6']);

    const text = await runWeft(
      ['run', 'deep-research', '--dry-run', '--concurrency', '8', '--args', '"Why is the sky blue?"'],
      {
        env,
      },
    );
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /dry run: \d+ agents would run/);
    assert.match(text.stderr, /^ {2}Scope\s+1 agents\s+\d+ in\s+\d+ out\s+~\$\d/m);
    assert.match(
      text.stderr,
      /estimate: [\d.k]+ input \+ [\d.k]+ output tokens, ~\$\d+\.\d+ at list prices \(claude-sonnet-4-6 ×\d+\)/,
    );
  });

  test('S505 weft validate runs the static checks alone and starts nothing', async () => {
    const queue = uniqueName('ux-validate');
    const env = weftEnv({ taskQueue: queue });
    const ok = await runWeft(['validate', 'deep-research', '--json'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((ok.json as { meta: { name: string } }).meta.name, 'deep-research');
    const bad = script(
      `bad-${queue}`,
      `name: 'ux-bad', description: 'bad'`,
      `const x = Date.now()\nimport fs from 'fs'`,
    );
    const refused = await runWeft(['validate', bad], { env });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /bad-.*\.js:\d+:\d+: .*import/);
    const listed = await runWeft(['list', '--json'], { env });
    assert.deepEqual(listed.json, [], 'validate started no run');
  });
});
