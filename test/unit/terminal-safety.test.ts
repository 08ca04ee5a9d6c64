/* eslint-disable no-control-regex -- these tests look for raw terminal control characters on purpose */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderLiveView } from '../../src/cli/live-view';
import { ProgressPrinter } from '../../src/cli/progress-printer';
import { formatRunDetails, formatRunTable } from '../../src/cli/commands/runs';
import { safeJsonText, safeLine, safeText } from '../../src/cli/terminal-text';
import { loopGuards } from '../../src/compiler/loop-guards';
import { compileScript } from '../../src/compiler/compile-script';
import { applyGuards, ScriptWatchdog, unstorable } from '../../src/workflows/script-watchdog';
import type { AgentRecord, RunProgress } from '../../src/types';
import type { RunDetails, RunListEntry } from '../../src/client/run-views';

const TITLE = '\u001b]0;PWNED\u0007';
const RED = '\u001b[31mred\u001b[0m';
/** Any byte that starts or ends a terminal control sequence. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;

const T0 = 1_700_000_000_000;

function hostileAgent(): AgentRecord {
  return {
    index: 0,
    label: `label${TITLE}`,
    phase: `phase${RED}`,
    group: null,
    status: 'failed',
    model: 'claude-sonnet-4-6',
    prompt: `prompt\r\u009b2J`,
    usage: { inputTokens: 1, outputTokens: 1 },
    costUsd: 0,
    attempts: 1,
    schemaAttempts: 0,
    startedAt: T0,
    endedAt: T0 + 1000,
    error: `AgentError: ${RED}\u202eevil`,
    worktree: null,
    cached: false,
    compactions: [],
  } as AgentRecord;
}

function hostileProgress(): RunProgress {
  return {
    name: `name${TITLE}`,
    state: 'running',
    phases: [{ title: `phase${RED}`, detail: `detail${TITLE}` }],
    agents: [hostileAgent()],
    logs: [{ at: T0, message: `log ${TITLE}\nsecond line`, group: null }],
    usage: { inputTokens: 1, outputTokens: 1 },
    costUsd: 0,
    concurrency: 4,
    budgetTokens: null,
    startedAt: T0,
    stopReason: null,
  };
}

void test('S501 the live view shows names, labels, phases, logs and errors with their escape sequences escaped', () => {
  for (const color of [false, true]) {
    const lines = renderLiveView(hostileProgress(), { now: T0 + 2000, width: 400, color });
    const text = lines.join('\n');
    // Our own colours are the only escapes, and each is a complete SGR sequence.
    const foreign = text.replace(/\u001b\[[0-9;]*m/g, '');
    assert.ok(!RAW_CONTROL.test(foreign), `no raw control characters: ${JSON.stringify(foreign)}`);
    assert.ok(foreign.includes('name\\x1b]0;PWNED\\x07'), 'the name is shown escaped');
    assert.ok(foreign.includes('label\\x1b]0;PWNED'), 'the label is shown escaped');
    assert.ok(foreign.includes('log \\x1b]0;PWNED\\x07\\nsecond line'), 'a log line stays one line');
    assert.ok(foreign.includes('\\u202eevil'), 'a bidi override is shown escaped');
  }
});

void test('S501 plain progress lines escape what the script and the model wrote', () => {
  const lines: string[] = [];
  const printer = new ProgressPrinter((l) => lines.push(l), 'run-1');
  printer.update(hostileProgress());
  const text = lines.join('\n');
  assert.ok(lines.length > 0);
  assert.ok(!RAW_CONTROL.test(text), `no raw control characters: ${JSON.stringify(text)}`);
  assert.ok(text.includes('label\\x1b]0;PWNED\\x07'));
});

void test('S502 list and show text escape names, labels, prompts and errors; their JSON stays exact', () => {
  const entry: RunListEntry = {
    runId: 'r-1',
    name: `name${TITLE}\nsecond`,
    status: 'completed',
    agents: 1,
    usage: { inputTokens: 1, outputTokens: 1 },
    costUsd: 0,
    phase: `phase${RED}`,
    startTime: new Date(T0).toISOString(),
    closeTime: new Date(T0 + 1000).toISOString(),
    durationMs: 1000,
    taskQueue: 'q',
  } as RunListEntry;
  const table = formatRunTable([entry]);
  assert.equal(table.length, 2, 'a name with a newline stays on its row');
  for (const line of table) assert.ok(!RAW_CONTROL.test(safeText(line)));
  assert.ok(!RAW_CONTROL.test(table.join('')), JSON.stringify(table));

  const details = {
    runId: 'r-1',
    name: `name${TITLE}`,
    status: 'completed',
    agents: [{ ...hostileAgent(), result: `answer ${TITLE}`, durationMs: 1000 }],
    usage: { inputTokens: 1, outputTokens: 1 },
    costUsd: 0,
    startTime: new Date(T0).toISOString(),
    durationMs: 1000,
    args: null,
    error: null,
    logs: [{ at: T0, message: `log ${RED}`, group: null }],
    result: `result ${TITLE}`,
  } as unknown as RunDetails;
  const shown = formatRunDetails(details, true).map(safeText).join('\n');
  assert.ok(!RAW_CONTROL.test(shown), JSON.stringify(shown));
  assert.ok(shown.includes('answer \\x1b]0;PWNED\\x07'));
  // JSON text for a person parses back to the exact value.
  const json = JSON.stringify({ s: `a\u009bb\u202e${TITLE}` });
  assert.deepEqual(JSON.parse(safeJsonText(json)), JSON.parse(json));
  assert.ok(!/[\u009b\u202e]/.test(safeJsonText(json)));
});

void test('S501 safeLine escapes every control character, safeText keeps newlines and tabs', () => {
  assert.equal(safeLine('a\u001b[2Jb\r\nc\td\u007f'), 'a\\x1b[2Jb\\r\\nc\\td\\x7f');
  assert.equal(safeText('a\u001b[2Jb\r\nc\td'), 'a\\x1b[2Jb\\r\nc\td');
  assert.equal(safeLine('plain text, ünïcode ✓'), 'plain text, ünïcode ✓');
});

void test('S102 every loop and function body of a script gets a guard, and the code still runs the same', () => {
  const source = [
    "export const meta = { name: 'guards', description: 'd' };",
    'const out = [];',
    'for (let i = 0; i < 3; i++) out.push(i);',
    'let n = 0; while (n < 2) n++;',
    'do n++; while (n < 4);',
    'for (const x of [1, 2]) out.push(x * 10);',
    'const f = (x) => ({ x });',
    'function g() { "use strict"; return 7; }',
    'class C { m() { return 8; } }',
    'label: for (;;) { for (;;) { break label; } }',
    'return [out, n, f(1), g(), new C().m()];',
  ].join('\n');
  const compiled = compileScript(source, 'guards.js', null);
  assert.ok(compiled.guards && compiled.guards.length >= 9, 'loops and functions are guarded');
  const ticks: unknown[] = [];
  const guarded = applyGuards(compiled.code, compiled.guards);
  const run = new Function('__weft_tick', `return (async () => {"use strict";${guarded}\n})();`) as (
    tick: (line: unknown) => void,
  ) => Promise<unknown>;
  return run((line) => ticks.push(line)).then((value) => {
    assert.deepEqual(value, [[0, 1, 2, 10, 20], 4, { x: 1 }, 7, 8]);
    assert.ok(
      ticks.includes(3) && ticks.includes(4) && ticks.includes(10),
      `ticks name lines: ${ticks.join()}`,
    );
    // The guards are insertions only: the script's own code is kept as it was.
    assert.equal(compiled.code.includes('__weft_tick'), false);
    assert.deepEqual(loopGuards(compiled.code), compiled.guards);
  });
});

void test('S102 the watchdog throws a ScriptError naming the line once a script runs on, and again on every later tick', () => {
  // One activation (a fixed activation time) while the real clock runs on.
  const watchdog = new ScriptWatchdog(30, { activation: () => 1, real: () => Date.now() });
  const tick = watchdog.tickFor('loop.js');
  let caught: Error | null = null;
  const deadline = Date.now() + 5_000;
  try {
    while (Date.now() < deadline) tick(3);
  } catch (err) {
    caught = err as Error;
  }
  assert.ok(caught, 'the watchdog fired');
  assert.equal(caught.name, 'ScriptError');
  assert.match(caught.message, /^loop\.js:3: the script ran 0 s without awaiting \(an endless loop\?\)/);
  assert.throws(() => tick(9), /loop\.js:3/);
  assert.equal(watchdog.failure, caught);
});

void test('S102 unstorable names BigInts and cycles with where they are', () => {
  assert.equal(unstorable({ a: [1, 'x', null] }, 'result'), null);
  assert.equal(unstorable(1n, 'result'), 'a BigInt');
  assert.equal(unstorable({ a: [1, { b: 2n }] }, 'result'), 'a BigInt at result.a[1].b');
  const loop: Record<string, unknown> = { x: {} };
  (loop.x as Record<string, unknown>).back = loop;
  assert.match(unstorable(loop, 'result') ?? '', /^a circular object \(result\.x\.back refers back/);
  // The same object twice, not inside itself, is fine.
  const shared = { k: 1 };
  assert.equal(unstorable({ a: shared, b: shared }, 'result'), null);
});
