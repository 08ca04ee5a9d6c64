import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..');
const SPEC = path.resolve(ROOT, '..', 'shared', 'SPEC.md');

/**
 * Spec items that open issues ask for and no test names yet. Each must leave this list the moment a
 * test names it.
 */
const NOT_YET_BUILT = new Set<string>([]);

function testNames(): string {
  const dirs = ['unit', 'integration'].map((d) => path.join(ROOT, 'test', d));
  return dirs
    .flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.test.ts'))
        .map((f) => path.join(dir, f)),
    )
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
}

/** IDs that appear at the start of a test or describe name. */
function testedIds(source: string): Set<string> {
  const ids = new Set<string>();
  const names = source.matchAll(/\b(?:test|it|describe)\(\s*[`'"]((?:S\d{3}\s+)+)/g);
  for (const match of names) for (const id of (match[1] ?? '').trim().split(/\s+/)) ids.add(id);
  // Tests generated in loops name their ID in a template literal.
  for (const match of source.matchAll(/\b(?:test|it)\(\s*`((?:S\d{3}\s+)+)/g)) {
    for (const id of (match[1] ?? '').trim().split(/\s+/)) ids.add(id);
  }
  return ids;
}

void test(
  'every SPEC.md item has a test whose name starts with its ID',
  { skip: !existsSync(SPEC) && 'no ../shared/SPEC.md beside the repository' },
  () => {
    const specIds = [...readFileSync(SPEC, 'utf8').matchAll(/^- (S\d{3})\b/gm)].map((m) => m[1] as string);
    assert.ok(specIds.length > 40, 'SPEC.md lists its items');
    const tested = testedIds(testNames());
    const missing = specIds.filter((id) => !tested.has(id) && !NOT_YET_BUILT.has(id));
    assert.deepEqual(missing, [], `spec items without a test: ${missing.join(' ')}`);
    const stale = [...NOT_YET_BUILT].filter((id) => tested.has(id));
    assert.deepEqual(stale, [], `now tested, remove from NOT_YET_BUILT: ${stale.join(' ')}`);
  },
);
