import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { costOf } from '../../src/activities/pricing';
import { dryRunReport, formatDryRunReport } from '../../src/cli/dry-run-report';
import { LiveView, fitLine, formatTokens, renderLiveView, visibleLength } from '../../src/cli/live-view';
import { AgentCountWarning, ProgressPrinter } from '../../src/cli/progress-printer';
import type { AgentRecord, RunProgress } from '../../src/types';

const T0 = 1_700_000_000_000;

function agent(index: number, over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    index,
    label: `agent-${index}`,
    phase: null,
    group: null,
    status: 'completed',
    model: 'claude-sonnet-4-6',
    prompt: 'p',
    usage: { inputTokens: 1200, outputTokens: 300 },
    costUsd: 0.0081,
    attempts: 1,
    schemaAttempts: 0,
    startedAt: T0 + 1_000,
    endedAt: T0 + 4_000,
    error: null,
    worktree: null,
    cached: false,
    ...over,
  };
}

function progress(agents: AgentRecord[], over: Partial<RunProgress> = {}): RunProgress {
  return {
    name: 'deep-research',
    state: 'running',
    phases: [
      { title: 'Scope', detail: 'decompose the question', model: 'claude-haiku-4-5' },
      { title: 'Verify', detail: 'skeptics per claim' },
      { title: 'Synthesize' },
    ],
    agents,
    logs: [
      { at: T0 + 4_000, message: 'Decomposed into 3 angles', group: null },
      { at: T0 + 5_000, message: 'child says hi', group: 'child-flow' },
    ],
    usage: { inputTokens: 3600, outputTokens: 900 },
    costUsd: 0.0243,
    concurrency: 4,
    budgetTokens: null,
    startedAt: T0,
    stopReason: null,
    ...over,
  };
}

const sample = (): RunProgress =>
  progress([
    // Out of meta order on purpose: the tree follows meta.phases, not the order agents started.
    agent(0, {
      label: 'v0:claim',
      phase: 'Verify',
      status: 'running',
      endedAt: null,
      usage: { inputTokens: 0, outputTokens: 0 },
    }),
    agent(1, { label: 'scope', phase: 'Scope' }),
    agent(2, { label: 'loose', phase: null, status: 'failed', error: 'AgentError: overloaded' }),
    agent(3, { label: 'inner', phase: 'Inner', group: 'child-flow' }),
    agent(4, { label: 'v1:claim', phase: 'Verify', status: 'queued', startedAt: null, endedAt: null }),
  ]);

void describe('live terminal view', () => {
  void test('S501 tree: run, phases in meta order with detail and model, agents, log lines and totals', () => {
    const lines = renderLiveView(sample(), {
      runId: 'dr-1',
      now: T0 + 12_000,
      width: 200,
      lastTools: new Map([[0, 'WebFetch https://example.org/paper']]),
    });
    const text = lines.join('\n');
    assert.match(lines[0] ?? '', /^deep-research dr-1 · running · 12\.0s$/);
    const at = (needle: string): number => {
      const i = lines.findIndex((l) => l.includes(needle));
      assert.ok(i >= 0, `no line with ${needle}:\n${text}`);
      return i;
    };
    // Phases keep meta.phases order; agents outside every phase come after them; nested workflows last.
    assert.ok(
      at('Scope') < at('Verify') && at('Verify') < at('Synthesize') && at('Synthesize') < at('(no phase)'),
    );
    assert.ok(at('(no phase)') < at('workflow child-flow') && at('workflow child-flow') < at('Inner'));
    assert.match(
      lines[at('Scope')] ?? '',
      /Scope — decompose the question \[claude-haiku-4-5\]\s+1\/1 done · 300 out/,
    );
    assert.match(lines[at('Verify')] ?? '', /1 running · 0\/2 done · 1 queued/);
    assert.match(lines[at('Synthesize')] ?? '', /\(not started\)/);
    // A running agent: label, status, elapsed and its last tool call; a finished one: tokens and time.
    assert.match(
      lines[at('v0:claim')] ?? '',
      /v0:claim\s+running\s+11\.0s\s+▸ WebFetch https:\/\/example\.org\/paper/,
    );
    assert.match(lines[at('scope ')] ?? '', /✓ scope\s+completed\s+1200 in \/ 300 out\s+3\.0s/);
    assert.match(lines[at('loose')] ?? '', /✗ loose\s+failed .*AgentError: overloaded/);
    assert.ok(!text.includes('v1:claim'), 'queued agents are counted, not listed');
    assert.match(text, /» Decomposed into 3 angles/);
    assert.match(text, /» \[child-flow\] child says hi/);
    assert.match(
      lines.at(-1) ?? '',
      /^agents 3\/5 done · 1 running · 1 failed · tokens 3600 in \/ 900 out · \$0\.0243 · 12\.0s$/,
    );
    assert.ok(!text.includes('\u001b['), 'no colour codes unless asked');
  });

  void test('S501 fits the terminal: lines cut to the width, agent lists folded to the rows', () => {
    const many = Array.from({ length: 60 }, (_, i) =>
      agent(i, {
        label: `fetch:source-number-${i}-with-a-long-name`,
        phase: 'Verify',
        endedAt: T0 + 2_000 + i,
      }),
    );
    const lines = renderLiveView(progress(many), { now: T0 + 9_000, width: 60, rows: 16, color: true });
    assert.ok(lines.length <= 16, `${lines.length} lines`);
    for (const line of lines) assert.ok(visibleLength(line) <= 60, `too wide: ${line}`);
    const plain = lines.map((l) =>
      l
        .split('\u001b[')
        .map((part, i) => (i === 0 ? part : part.replace(/^[0-9;]*m/, '')))
        .join(''),
    );
    assert.ok(
      plain.some((l) => /… \d+ more: \d+\/\d+ done/.test(l)),
      plain.join('\n'),
    );
    assert.equal(fitLine('abcdef', 4), 'abc…');
    assert.equal(formatTokens(12_345), '12.3k');
  });

  void test('S501 redraws in place on a terminal with log-update, and keeps the last frame at the end', async () => {
    let out = '';
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out += chunk.toString();
        cb();
      },
    }) as Writable & Partial<NodeJS.WriteStream>;
    Object.assign(stream, { isTTY: true, columns: 100, rows: 30 });
    const view = await LiveView.create(stream as NodeJS.WriteStream, 'dr-2');
    view.update(sample());
    const first = out;
    assert.match(first, /deep-research/);
    view.update(progress([agent(1, { label: 'scope', phase: 'Scope' })]));
    const second = out.slice(first.length);
    // log-update erases the previous frame's lines (erase line, cursor up) before drawing the next.
    assert.ok(second.includes('\u001b[2K'), 'erases lines');
    assert.ok(second.includes('\u001b[1A'), 'moves the cursor up');
    view.note('weft: warning: many agents');
    assert.match(out, /weft: warning: many agents\n/);
    view.done(undefined, 'completed');
    assert.match(out.slice(out.lastIndexOf('deep-research')), /completed/);
  });

  void test('S501 plain lines when not a terminal: phases, agents and log lines, no escape codes', () => {
    const lines: string[] = [];
    const printer = new ProgressPrinter((l) => lines.push(l), 'dr-3');
    printer.update(
      progress([agent(0, { label: 'scope', phase: 'Scope', status: 'running', endedAt: null })], {
        logs: [],
      }),
    );
    printer.update(
      progress([
        agent(0, { label: 'scope', phase: 'Scope' }),
        agent(1, {
          label: 'v0',
          phase: 'Verify',
          status: 'failed',
          error: 'AgentError: nope',
          startedAt: T0 + 6_000,
          endedAt: T0 + 7_000,
        }),
      ]),
    );
    assert.deepEqual(lines, [
      '▸ Scope — decompose the question [claude-haiku-4-5]',
      '  … [Scope] scope',
      // Ordered by the workflow's clock: the agent ends, its phase ends, then the script's log lines.
      '  ✓ [Scope] scope (300 out, 3.0s)',
      '▪ Scope: 1/1 done, 300 out, $0.0081',
      '  » Decomposed into 3 angles',
      '  » [child-flow] child says hi',
      '▸ Verify — skeptics per claim',
      '  … [Verify] v0',
      '  ✗ [Verify] v0: AgentError: nope',
    ]);
    assert.ok(lines.every((l) => !l.includes('\u001b[')));
  });
});

void describe('cost safety', () => {
  void test('S505 more than 25 scheduled agents gives one warning', () => {
    const warning = new AgentCountWarning('run-9');
    assert.equal(warning.check({ agents: Array.from({ length: 25 }, (_, i) => agent(i)) }), null);
    const line = warning.check({ agents: Array.from({ length: 26 }, (_, i) => agent(i)) });
    assert.match(line ?? '', /run run-9 has scheduled 26 agents \(more than 25\)/);
    assert.equal(
      warning.check({ agents: Array.from({ length: 40 }, (_, i) => agent(i)) }),
      null,
      'only once',
    );
  });

  void test('S505 dry-run report: agent count, per-phase counts, tokens and a cost estimate at list prices', () => {
    const records = [
      agent(0, { phase: 'Scope', model: 'claude-haiku-4-5', costUsd: 0 }),
      agent(1, { phase: 'Verify', costUsd: 0 }),
      agent(2, { phase: 'Verify', costUsd: 0 }),
      agent(3, { phase: 'Inner', group: 'child', costUsd: 0 }),
      agent(4, { phase: null, costUsd: 0 }),
    ];
    const report = dryRunReport(records);
    assert.equal(report.agents, 5);
    assert.deepEqual(
      report.phases.map((p) => [p.phase, p.agents]),
      [
        ['Scope', 1],
        ['Verify', 2],
        ['child › Inner', 1],
        ['(no phase)', 1],
      ],
    );
    assert.deepEqual(report.usage, { inputTokens: 6000, outputTokens: 1500 });
    const expected =
      (costOf('claude-haiku-4-5', { inputTokens: 1200, outputTokens: 300 }) ?? NaN) +
      4 * (costOf('claude-sonnet-4-6', { inputTokens: 1200, outputTokens: 300 }) ?? NaN);
    assert.ok(
      Math.abs(report.estimatedCostUsd - expected) < 1e-6,
      `${report.estimatedCostUsd} vs ${expected}`,
    );
    assert.deepEqual(report.models, { 'claude-haiku-4-5': 1, 'claude-sonnet-4-6': 4 });
    const text = formatDryRunReport(report).join('\n');
    assert.match(text, /dry run: 5 agents would run/);
    assert.match(text, /Verify\s+2 agents/);
    assert.match(text, /estimate: 6000 input \+ 1500 output tokens, ~\$0\.0\d+ at list prices/);
  });
});
