// The bench harness's own pure parts: statistics and flags. Run with
// `node --import tsx --test bench/bench.test.ts` (the bench is not part of `npm test`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseBenchArgs } from './options';
import { quantile, summarize } from './stats';

void describe('bench statistics', () => {
  void test('bench: the median of an even count is the mean of the middle two', () => {
    assert.equal(summarize([4, 1, 3, 2]).median, 2.5);
  });

  void test('bench: quantiles interpolate between neighbours and clamp to the ends', () => {
    const sorted = [10, 20, 30, 40, 50];
    assert.equal(quantile(sorted, 0.1), 14);
    assert.equal(quantile(sorted, 0.9), 46);
    assert.equal(quantile(sorted, -1), 10);
    assert.equal(quantile(sorted, 2), 50);
  });

  void test('bench: summarize keeps samples in the order taken and reports min and max', () => {
    const s = summarize([3, 1, 2]);
    assert.deepEqual(s.samples, [3, 1, 2]);
    assert.equal(s.min, 1);
    assert.equal(s.max, 3);
    assert.equal(s.n, 3);
  });

  void test('bench: an empty sample gives NaN figures rather than throwing', () => {
    assert.ok(Number.isNaN(summarize([]).median));
  });
});

void describe('bench flags', () => {
  void test('bench: defaults are 5 runs of every scenario with the baseline', () => {
    const o = parseBenchArgs([]);
    assert.ok(o !== 'help');
    assert.equal(o.runs, 5);
    assert.equal(o.recoveryRuns, 5);
    assert.deepEqual([...o.only].sort(), ['1', '2', '3', '4', '5', '6a', '6b']);
    assert.equal(o.noBaseline, false);
  });

  void test('bench: --quick runs each scenario once', () => {
    const o = parseBenchArgs(['--quick']);
    assert.ok(o !== 'help' && o.runs === 1 && o.recoveryRuns === 1);
  });

  void test('bench: --only 6a brings in scenario 1, whose history it replays', () => {
    const o = parseBenchArgs(['--only', '6a,3']);
    assert.ok(o !== 'help');
    assert.deepEqual([...o.only].sort(), ['1', '3', '6a']);
  });

  void test('bench: --dev-config and --worker-option parse their values', () => {
    const o = parseBenchArgs([
      '--dev-config',
      'history.transferProcessorMaxPollRPS=1000',
      '--dev-config',
      'system.enableActivityEagerExecution=true',
      '--worker-option',
      'workflowTaskPollerBehavior={"type":"autoscaling"}',
    ]);
    assert.ok(o !== 'help');
    assert.deepEqual(o.devConfig, {
      'history.transferProcessorMaxPollRPS': 1000,
      'system.enableActivityEagerExecution': true,
    });
    assert.deepEqual(o.workerOptions, { workflowTaskPollerBehavior: { type: 'autoscaling' } });
  });

  void test('bench: unknown scenarios and bad counts are refused with a reason', () => {
    assert.throws(() => parseBenchArgs(['--only', '9']), /unknown scenario "9"/);
    assert.throws(() => parseBenchArgs(['--runs', '0']), /positive integer/);
    assert.throws(() => parseBenchArgs(['--dev-config', 'novalue']), /KEY=VALUE/);
  });
});
