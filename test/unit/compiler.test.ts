import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vm from 'node:vm';

import { compileScript, compileScriptFile } from '../../src/compiler/compile-script';
import { ScriptError } from '../../src/errors';
import type { CompiledScript } from '../../src/types';
import { SCRIPT_GLOBALS } from '../../src/workflows/script-globals';
import { absentHost } from '../../src/workflows/script-sandbox';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'scripts');
const META = "export const meta = { name: 'demo', description: 'A demo' };";

type Globals = Partial<Record<(typeof SCRIPT_GLOBALS)[number], unknown>>;

/** Runs compiled code exactly as the interpreter's contract says, with stub globals. */
async function evaluate(script: CompiledScript, globals: Globals = {}, strict = false): Promise<unknown> {
  const prefix = strict ? '"use strict";' : '';
  const fn = new Function(...SCRIPT_GLOBALS, `return (async () => {${prefix}${script.code}\n})();`) as (
    ...values: unknown[]
  ) => Promise<unknown>;
  const all: Globals = { __weft_absent: absentHost, ...globals };
  return fn(...SCRIPT_GLOBALS.map((name) => all[name]));
}

function stubs(): Globals & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    agent: (prompt: unknown) => Promise.resolve(`answer:${String(prompt)}`),
    parallel: async (thunks: (() => Promise<unknown>)[]) => Promise.all(thunks.map((t) => t())),
    pipeline: () => Promise.resolve([]),
    phase: (title: string) => void calls.push(`phase:${title}`),
    log: (message: string) => void calls.push(`log:${message}`),
    args: { who: 'tester' },
    budget: { total: null, spent: () => 0, remaining: () => Infinity },
    workflow: () => Promise.resolve('child'),
  };
}

/** Asserts compiling `source` fails at line:column with a reason matching `reason`. */
function assertRefused(source: string, line: number, column: number, reason: RegExp): void {
  assert.throws(
    () => compileScript(source, 'script.js', null),
    (err: unknown) => {
      assert.ok(err instanceof ScriptError, `expected ScriptError, got ${String(err)}`);
      assert.match(err.reason, reason);
      assert.deepEqual([err.file, err.line, err.column], ['script.js', line, column], err.message);
      assert.equal(err.message, `script.js:${line}:${column}: ${err.reason}`);
      assert.ok(!err.reason.includes('\n'), 'reason is one line');
      return true;
    },
  );
}

async function assertFixtureRefused(
  file: string,
  line: number,
  column: number,
  reason: RegExp,
): Promise<void> {
  const filename = path.join(FIXTURES, file);
  await assert.rejects(compileScriptFile(filename), (err: unknown) => {
    assert.ok(err instanceof ScriptError, String(err));
    assert.deepEqual([err.file, err.line, err.column], [filename, line, column], err.message);
    assert.match(err.reason, reason);
    return true;
  });
}

// ---- S101: meta ----

void test('S101 reads a full meta statically, without running the script', () => {
  const script = compileScript(
    `export const meta = {
  name: 'full',
  'description': \`Plain template\`,
  whenToUse: "when testing",
  phases: [{ title: 'Scan', detail: 'look' }, { title: 'Fix', model: 'claude-haiku' }],
  version: -1,
  extra: { nested: [true, null, 2.5] },
};
throw new Error('never runs during compile');`,
    'full.js',
    null,
  );
  assert.deepEqual(script.meta, {
    name: 'full',
    description: 'Plain template',
    whenToUse: 'when testing',
    phases: [
      { title: 'Scan', detail: 'look' },
      { title: 'Fix', model: 'claude-haiku' },
    ],
  });
  assert.equal(script.filename, 'full.js');
  assert.equal(script.dir, null);
});

void test('S101 a __proto__ key in meta cannot change the prototype of the evaluated meta', () => {
  const script = compileScript(
    "export const meta = { name: 'p', description: 'd', phases: [{ title: 'T', __proto__: { detail: 'x' } }] };",
    'p.js',
    null,
  );
  assert.deepEqual(script.meta.phases, [{ title: 'T' }]);
});

void test('S101 refuses a meta that is not a pure literal, at the offending node', () => {
  const at = (body: string, column: number, reason: RegExp): [string, number, number, RegExp] => [
    `export const meta = {\n  name: 'x',\n  ${body}\n};`,
    3,
    column,
    reason,
  ];
  const cases = [
    at('description: NAME,', 16, /^meta must be a pure literal: variable `NAME` is not allowed$/),
    at('description: describe(),', 16, /a function call is not allowed/),
    at('description: tag`x`,', 16, /a function call is not allowed/),
    at('...base,', 3, /^meta must be a pure literal: spread is not allowed$/),
    at("['description']: 'x',", 4, /a computed key is not allowed/),
    at("description() { return 'x' },", 3, /a method is not allowed/),
    at("get description() { return 'x' },", 3, /a getter is not allowed/),
    at(
      'description: `a ${1} b`,',
      21,
      /^meta must be a pure literal: template interpolation is not allowed$/,
    ),
    at("description: new String('x'),", 16, /`new` is not allowed/),
    at('description: undefined,', 16, /`undefined` is not allowed/),
    at("description: 'a' + 'b',", 16, /operator `\+` is not allowed/),
    at('description: a.b,', 16, /property access is not allowed/),
    at("description: () => 'x',", 16, /a function is not allowed/),
    at("description: x ? 'a' : 'b',", 16, /a conditional expression is not allowed/),
    at('description: [1, , 2],', 16, /an array hole is not allowed/),
    at('description: !0,', 16, /operator `!` is not allowed/),
  ];
  for (const [source, line, column, reason] of cases) assertRefused(source, line, column, reason);
});

void test('S101 name and description are required non-empty strings', () => {
  assertRefused(
    "export const meta = { description: 'd' };",
    1,
    21,
    /^meta\.name is required and must be a non-empty string$/,
  );
  assertRefused("export const meta = { name: 'n' };", 1, 21, /^meta\.description is required/);
  assertRefused("export const meta = { name: 42, description: 'd' };", 1, 29, /^meta\.name is required/);
  assertRefused("export const meta = { name: '  ', description: 'd' };", 1, 29, /^meta\.name is required/);
  assertRefused(
    "export const meta = { name: 'n', description: null };",
    1,
    47,
    /^meta\.description is required/,
  );
});

void test('S101 whenToUse must be a string and phases an array of { title, detail?, model? }', () => {
  const base = "export const meta = { name: 'n', description: 'd', ";
  assertRefused(`${base}whenToUse: 3 };`, 1, 63, /^meta\.whenToUse must be a string$/);
  assertRefused(`${base}phases: 'Scan' };`, 1, 60, /^meta\.phases must be an array/);
  assertRefused(`${base}phases: ['Scan'] };`, 1, 61, /^meta\.phases\[0\] must be an object/);
  assertRefused(
    `${base}phases: [{ title: 'A' }, { detail: 'x' }] };`,
    1,
    77,
    /^meta\.phases\[1\]\.title is required/,
  );
  assertRefused(
    `${base}phases: [{ title: 'A', detail: 1 }] };`,
    1,
    83,
    /^meta\.phases\[0\]\.detail must be a string$/,
  );
  assertRefused(
    `${base}phases: [{ title: 'A', model: false }] };`,
    1,
    82,
    /^meta\.phases\[0\]\.model must be a string$/,
  );
});

void test('S101 meta must be the first statement, declared as export const meta = {...}', () => {
  assertRefused('', 1, 1, /^script must begin with `export const meta = \{ name, description \}`$/);
  assertRefused('// only a comment\n', 1, 1, /^script must begin with `export const meta/);
  assertRefused('const a = 1;\nreturn a;', 1, 1, /^script must begin with `export const meta/);
  assertRefused(`const a = 1;\n${META}`, 2, 1, /^`export const meta` must be the first statement$/);
  assertRefused(`'use strict';\n${META}`, 1, 1, /^script must begin with `export const meta/);
  assertRefused(
    "export let meta = { name: 'n', description: 'd' };",
    1,
    1,
    /^meta must be declared as `export const meta/,
  );
  assertRefused(
    "export const meta = { name: 'n', description: 'd' }, other = 1;",
    1,
    1,
    /^meta must be declared as `export const meta/,
  );
  assertRefused("export const meta = 'demo';", 1, 21, /^meta must be an object literal$/);
  assertRefused('export const meta = someObject;', 1, 21, /variable `someObject` is not allowed/);
});

void test('S101 comments and blank lines may precede meta', () => {
  const script = compileScript(`// header\n/* block */\n\n${META}\nreturn 1;`, 's.js', null);
  assert.equal(script.meta.name, 'demo');
});

void test('S101 fixtures: bad-meta-call, missing-description and not-first are refused', async () => {
  await assertFixtureRefused(
    'bad-meta-call.js',
    4,
    16,
    /^meta must be a pure literal: a function call is not allowed$/,
  );
  await assertFixtureRefused('missing-description.js', 2, 21, /^meta\.description is required/);
  await assertFixtureRefused('not-first.js', 5, 1, /^`export const meta` must be the first statement$/);
});

// ---- S102: body forms ----

void test('S102 top-level body form compiles and returns its value with await and return', async () => {
  const script = compileScript(
    `${META}
phase('Work');
const answer = await agent('hi');
log(answer);
if (args.who) return { answer, who: args.who };
return null;`,
    'body.js',
    '/scripts',
  );
  assert.equal(script.form, 'body');
  assert.equal(script.dir, '/scripts');
  const globals = stubs();
  assert.deepEqual(await evaluate(script, globals), { answer: 'answer:hi', who: 'tester' });
  assert.deepEqual(globals.calls, ['phase:Work', 'log:answer:hi']);
  assert.deepEqual(await evaluate(script, stubs(), true), { answer: 'answer:hi', who: 'tester' });
});

void test('S102 meta stays readable as a constant in the body', async () => {
  const script = compileScript(`${META}\nreturn meta.name;`, 'm.js', null);
  assert.equal(await evaluate(script), 'demo');
});

void test('S102 export default async function form receives the API and returns its value', async () => {
  const script = compileScript(
    `${META}
const PREFIX = 'p:';

export default async function ({ agent, parallel, phase, args }) {
  phase('Go');
  const results = await parallel([() => agent('a'), () => agent('b')]);
  return results.map((r) => PREFIX + r + ':' + args.who);
}`,
    'default.js',
    null,
  );
  assert.equal(script.form, 'default-export');
  const globals = stubs();
  assert.deepEqual(await evaluate(script, globals), ['p:answer:a:tester', 'p:answer:b:tester']);
  assert.deepEqual(globals.calls, ['phase:Go']);
  assert.deepEqual(await evaluate(script, stubs(), true), ['p:answer:a:tester', 'p:answer:b:tester']);
});

void test('S102 export default accepts plain, named and arrow functions', async () => {
  const bodies = [
    "export default function ({ agent }) { return agent('x'); }",
    "export default function main({ agent }) { return agent('x'); }",
    "export default async ({ agent }) => agent('x');",
    "export default ({ agent }) => { return agent('x'); }",
    "export default (async ({ agent }) => agent('x'));",
    "export default ((function ({ agent }) { return agent('x'); }));",
  ];
  for (const body of bodies) {
    const script = compileScript(`${META}\n${body}`, 'd.js', null);
    assert.equal(script.form, 'default-export', body);
    assert.equal(await evaluate(script, stubs()), 'answer:x', body);
  }
});

void test('S102 every API name reaches the default export, and top-level statements run first', async () => {
  const script = compileScript(
    `${META}
export default async function (api) {
  return Object.keys(api).join(',') + '|' + order.join(',');
}
const order = [];
order.push('top');`,
    'd.js',
    null,
  );
  assert.equal(
    await evaluate(script, stubs()),
    'agent,parallel,pipeline,phase,log,args,budget,workflow,approval|top',
  );
});

void test('S102 a line starting with ( after the default function does not call it', async () => {
  const script = compileScript(
    `${META}\nexport default function () { return 'main'; }\n(() => 'iife')();`,
    'd.js',
    null,
  );
  assert.equal(await evaluate(script), 'main');
});

void test('S102 code keeps every source line at the same line number', () => {
  const source = `#!/usr/bin/env weft
${META}
const a = 1;

export default async function ({ agent }) {
  return agent('x' + a);
}
`;
  const script = compileScript(source, 'd.js', null);
  const sourceLines = source.split('\n');
  const codeLines = script.code.split('\n');
  // The default form appends one closing line; everything before it lines up.
  assert.equal(codeLines.length, sourceLines.length + 1);
  for (const i of [2, 3, 5, 7]) assert.equal(codeLines[i], sourceLines[i], `line ${i + 1}`);
  assert.match(codeLines[0]!, /^let __weft_main; {20}$/, 'the #! line is blanked');
  assert.equal(codeLines[1], META.replace('export', '      '));
  assert.equal(codeLines[4], '__weft_main =  async function ({ agent }) {');
  // The declaration became an expression statement, so it gets a `;` of its own.
  assert.equal(codeLines[6], '};');
  assert.equal(
    codeLines.at(-1),
    ';return __weft_main({ agent, parallel, pipeline, phase, log, args, budget, workflow, approval });',
  );

  const body = compileScript(`${META}\nconst b = 2;\nreturn b;`, 'b.js', null);
  assert.equal(body.code, `${META.replace('export', '      ')}\nconst b = 2;\nreturn b;`);
});

void test('S102 export and default on separate lines still keep line numbers', async () => {
  const source = `${META}\nexport /* the main */\ndefault\nasync function () {\n  return 'split';\n}`;
  const script = compileScript(source, 'd.js', null);
  assert.equal(script.code.split('\n').length, source.split('\n').length + 1);
  assert.equal(await evaluate(script), 'split');
});

void test('S102 a runtime error points at the same line in code as in the source', async () => {
  for (const source of [
    `${META}\nconst x = 1;\n\nthrow new Error('boom ' + x);`,
    `${META}\nexport default async function () {\n  const x = 1;\n  throw new Error('boom ' + x);\n}`,
  ]) {
    const script = compileScript(source, 'e.js', null);
    const err = await evaluate(script).then(
      () => assert.fail('expected a throw'),
      (e: unknown) => e as Error,
    );
    // new Function adds a two-line header before the body.
    const line = /<anonymous>:(\d+):\d+/.exec(err.stack ?? '')?.[1];
    assert.equal(Number(line) - 2, 4, err.stack);
  }
});

void test('S102 a top-level return beside export default is refused', () => {
  assertRefused(
    `${META}\nexport default async function () { return 1; }\nreturn 2;`,
    3,
    1,
    /^top-level return is not allowed with `export default`/,
  );
});

void test('S102 export default must be a function', () => {
  assertRefused(`${META}\nexport default 42;`, 2, 1, /^export default must be a function/);
  assertRefused(`${META}\nexport default class {}`, 2, 1, /^export default must be a function/);
});

void test('S102 fixtures good-body.js and good-default.js compile from files and run', async () => {
  const body = await compileScriptFile(path.join(FIXTURES, 'good-body.js'));
  assert.equal(body.form, 'body');
  assert.equal(body.dir, FIXTURES);
  assert.deepEqual(body.meta.phases, [{ title: 'Only', detail: 'the one phase' }]);
  assert.deepEqual(await evaluate(body, stubs(), true), { greeting: 'hello tester' });

  const main = await compileScriptFile(path.join(FIXTURES, 'good-default.js'));
  assert.equal(main.form, 'default-export');
  assert.deepEqual(await evaluate(main, { ...stubs(), args: { text: 'hi' } }, true), { echoed: 'hi!' });
  assert.deepEqual(await evaluate(main, { ...stubs(), args: undefined }), { echoed: 'nothing!' });
});

// ---- S103: forbidden constructs ----

void test('S103 refuses import with file:line:col', () => {
  assertRefused(
    `${META}\n\nimport fs from 'node:fs';`,
    3,
    1,
    /^import is not allowed: workflow scripts cannot load modules; pass data in args$/,
  );
  assertRefused(`import fs from 'node:fs';\n${META}`, 1, 1, /^import is not allowed/);
});

void test('S103 refuses import() anywhere, even nested in functions', () => {
  assertRefused(`${META}\nconst m = await import('x');`, 2, 17, /^import\(\) is not allowed/);
  assertRefused(
    `${META}\nexport default async function () {\n  if (true) {\n    return import('x');\n  }\n}`,
    4,
    12,
    /^import\(\) is not allowed/,
  );
  assertRefused(`${META}\nconst u = import.meta.url;`, 2, 11, /^import\.meta is not allowed/);
});

/**
 * Runs `body` after META in a fresh realm with only JavaScript's built-ins, as Temporal's workflow
 * sandbox is (this process's own `require`, `process` and `fetch` must not answer), and returns
 * its result as JSON data, an Error it returned, or the error it threw as `name: message`.
 */
async function outcome(body: string): Promise<unknown> {
  const script = compileScript(`${META}\n${body}`, 'script.js', null);
  const fn = vm.runInNewContext(
    `(function (${SCRIPT_GLOBALS.join(', ')}) {\nreturn (async () => {"use strict";${script.code}\n})();\n})`,
  ) as (...values: unknown[]) => Promise<unknown>;
  const globals: Globals = { ...stubs(), __weft_absent: absentHost };
  try {
    const result = await fn(...SCRIPT_GLOBALS.map((name) => globals[name]));
    return result instanceof Error ? result : (JSON.parse(JSON.stringify(result) ?? 'null') as unknown);
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

void test('S103 require, process, fs and the other host names compile; typeof gives undefined', async () => {
  const probe = `
function canLoad(id) {
  if (typeof require !== 'function') return 'no require';
  return require(id);
}
const kinds = () => [typeof require, typeof process, typeof fs, typeof module, typeof exports,
  typeof __dirname, typeof __filename, typeof Buffer, typeof setInterval, typeof fetch,
  typeof XMLHttpRequest];
return { kinds: kinds(), load: canLoad('node:fs') };`;
  assert.deepEqual(await outcome(probe), { kinds: Array(11).fill('undefined'), load: 'no require' });
  const compiled = compileScript(`${META}\nconst fs = require('node:fs');`, 's.js', null);
  assert.equal(compiled.code.split('\n').length, 2, 'lines stay where they were');
});

void test('S103 using a host name throws a catchable ScriptError that says why and what to do', async () => {
  for (const use of [
    "require('x')",
    'process.env.HOME',
    "fs.readFileSync('a')",
    'module.exports',
    'exports.a',
    '__dirname',
    '__filename',
    "Buffer.from('x')",
    'setInterval(() => {}, 10)',
    "fetch('https://example.com')",
    'new XMLHttpRequest()',
    "globalThis.fetch('u')",
    "globalThis['require']('x')",
    'new globalThis.XMLHttpRequest()',
    '({ fetch })',
    '[process][0]',
  ]) {
    const caught = await outcome(`try { ${use}; return 'no error'; } catch (err) { return err; }`);
    assert.ok(caught instanceof Error, `${use}: ${String(caught)}`);
    assert.equal(caught.name, 'ScriptError', use);
    assert.match(caught.message, /is not defined in workflow scripts/, use);
    assert.match(caught.message, /replayed on every resume/, use);
    assert.match(caught.message, /have an agent\(\) do it, or pass the data in through args$/, use);
  }
  // Uncaught, it ends the script with the same error.
  assert.match(
    String(await outcome("const m = require('node:fs');")),
    /^ScriptError: require is not defined/,
  );
});

void test("S103 host names as properties, labels, keys and the script's own bindings are left alone", async () => {
  assert.deepEqual(
    await outcome(`
const o = { require: 1, fs: 2, fetch() { return 3; } };
o.process = 4;
class C { #fetch = 5; get() { return this.#fetch; } }
process: for (const x of [1]) { break process; }
return [o.require, o.fs, o.fetch(), o.process, new C().get(), typeof globalThis.fetch];`),
    [1, 2, 3, 4, 5, 'undefined'],
  );
  assert.deepEqual(
    await outcome(`
const fetch = (u) => 'fetched ' + u;
function f(Buffer = 'b') { return Buffer; }
let fs;
try { throw 1; } catch (setInterval) { fs = typeof setInterval; }
return [fetch('u'), f(), fs];`),
    ['fetched u', 'b', 'number'],
  );
  // A statement starting with a host name after one without `;` still stands alone.
  assert.match(
    String(await outcome("const f = (x) => 'called ' + x\nfetch('u')\nreturn 'no error'")),
    /^ScriptError: fetch is not defined/,
  );
});

void test('S103 a top-level require() call is a warning with file:line:col, never a refusal', () => {
  const script = compileScript(
    `${META}\nconst a = require('a');\nfunction f() { return require('b'); }\ntry { require('c'); } catch {}`,
    'script.js',
    null,
  );
  assert.equal(script.form, 'body');
  assert.deepEqual(
    script.warnings?.map((w) => [w.file, w.line, w.column]),
    [['script.js', 2, 11]],
  );
  assert.match(script.warnings?.[0]?.message ?? '', /^warning: require\(\) at top level always throws/);
  assert.equal(compileScript(`${META}\nreturn typeof require;`, 's.js', null).warnings, undefined);
});

void test('S103 refuses export * , re-exports and exports other than meta and default', () => {
  assertRefused(`${META}\nexport * from 'x';`, 2, 1, /^export \* is not allowed/);
  assertRefused(`${META}\nexport { a } from 'x';`, 2, 1, /^re-export is not allowed/);
  assertRefused(
    `${META}\nexport const other = 1;`,
    2,
    1,
    /^only `export const meta` and one `export default`/,
  );
  assertRefused(
    `${META}\nconst a = 1;\nexport { a };`,
    3,
    1,
    /^only `export const meta` and one `export default`/,
  );
  assertRefused(`${META}\nexport function f() {}`, 2, 1, /^only `export const meta`/);
});

void test('S103 the first forbidden construct in the source is the one reported', () => {
  assertRefused(`${META}\nconst a = import.meta;\nimport b from 'b';`, 2, 11, /^import\.meta is not allowed/);
});

void test('S103 refuses TypeScript syntax: annotations, interfaces, generics, as casts', () => {
  const ts = (what: string): RegExp =>
    new RegExp(`^TypeScript syntax is not allowed \\(${what}\\): workflow scripts are plain JavaScript$`);
  assertRefused(`${META}\nconst files: string[] = [];`, 2, 12, ts('type annotation'));
  assertRefused(`${META}\nfunction f(a: number) { return a; }`, 2, 13, ts('type annotation'));
  assertRefused(`${META}\nfunction f(a): string { return a; }`, 2, 14, ts('type annotation'));
  assertRefused(`${META}\n\ninterface Finding {\n  title: string;\n}`, 3, 1, ts('interface'));
  assertRefused(`${META}\nfunction first<T>(xs) { return xs[0]; }`, 2, 15, ts('generic type parameters'));
  assertRefused(`${META}\nconst id = <T,>(x) => x;`, 2, 12, ts('generic type parameters'));
  assertRefused(`${META}\nconst n = (await agent('x')) as string;`, 2, 30, ts('`as` cast'));
  assertRefused(`${META}\ntype Id = string;`, 2, 1, ts('type alias'));
  assertRefused(`${META}\nenum Color { Red }`, 2, 1, ts('enum'));
  assertRefused(`${META}\nconst v = args!.x;`, 2, 15, ts('non-null assertion'));
  assertRefused(`${META}\nconst v = args satisfies object;`, 2, 16, ts('`satisfies`'));
  assertRefused(`${META}\nconst s = new Set<string>();`, 2, 18, ts('generic type arguments'));
});

void test('S103 TypeScript-only syntax without a TS node still names TypeScript', () => {
  const ts = (what: string): RegExp => new RegExp(`^TypeScript syntax is not allowed \\(${what}\\)`);
  assertRefused(`${META}\nfunction f(a?) { return a; }`, 2, 13, ts('optional marker `\\?`'));
  assertRefused(`${META}\nclass A {\n  private x = 1;\n}`, 3, 3, ts('access modifier'));
  assertRefused(`${META}\nabstract class A {}`, 2, 1, ts('`abstract`'));
  assertRefused(`${META}\nclass A {\n  m?() {}\n}`, 3, 4, ts('optional marker `\\?`'));
  assertRefused(`${META}\nimport type { X } from './x';`, 2, 1, ts('type-only import'));
});

void test('S103 refuses `<!--`, which the interpreter would read as a comment', () => {
  assertRefused(`${META}\nlet b = 2;\nif (1 <!--b) {}`, 3, 8, /^`<!--` is not allowed/);
  assert.equal(compileScript(`${META}\nlet b = 2;\nreturn 1 < !--b;`, 's.js', null).form, 'body');
});

void test('S103 reports syntax errors with the parser message and location', () => {
  assertRefused(`${META}\nconst x = agent('a';`, 2, 20, /^syntax error: Unexpected token, expected ","$/);
  assertRefused(`${META}\n\nlet = ;`, 3, 1, /^syntax error: /);
  assertRefused(`${META}\nconst a = <div />;`, 2, 11, /^syntax error: /);
  assertRefused(
    "export const meta = { name: 'n', description: 'd' };\nexport default 1;\nexport default 2;",
    3,
    1,
    /^syntax error: /,
  );
});

void test('S103 fixtures: bad-import, bad-dynamic-import, bad-ts and syntax-error are refused', async () => {
  await assertFixtureRefused('bad-import.js', 7, 1, /^import is not allowed/);
  await assertFixtureRefused('bad-dynamic-import.js', 7, 18, /^import\(\) is not allowed/);
  await assertFixtureRefused('bad-ts.js', 7, 12, /^TypeScript syntax is not allowed \(type annotation\)/);
  await assertFixtureRefused('syntax-error.js', 7, 27, /^syntax error: Unexpected token/);
});

void test('S103 an unreadable script file is a ScriptError at 1:1', async () => {
  const missing = path.join(FIXTURES, 'no-such-script.js');
  await assert.rejects(compileScriptFile(missing), (err: unknown) => {
    assert.ok(err instanceof ScriptError);
    assert.deepEqual(
      [err.file, err.line, err.column, err.reason],
      [missing, 1, 1, 'cannot read script: ENOENT (no such file)'],
    );
    return true;
  });
  await assert.rejects(compileScriptFile(FIXTURES), /cannot read script: EISDIR/);
});
