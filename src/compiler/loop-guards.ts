/**
 * Where a compiled script gets its loop guards: a call of the script-time watchdog at the top of
 * every loop body and every function body. Temporal stops a workflow task whose code runs too long
 * without yielding, and then retries that task forever, so a `while (true) {}` in a script would
 * leave its run open and a worker busy for good. With the guards, the interpreter's watchdog sees
 * the script run on and fails the run once, with a ScriptError naming the line (see
 * src/workflows/script-watchdog.ts).
 *
 * The guards are insertions the interpreter splices into `code` when it runs the script, so `code`
 * stays the script's own text (what `weft save` recovers from a run) and a run recorded before the
 * guards existed replays exactly as it ran.
 */
import { parse } from '@babel/parser';
import type * as t from '@babel/types';
import { SCRIPT_TICK } from '../workflows/script-globals';
import type { GuardInsertion } from '../types';

const FUNCTION_TYPES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ObjectMethod',
  'ClassMethod',
  'ClassPrivateMethod',
]);

const LOOP_TYPES = new Set([
  'WhileStatement',
  'DoWhileStatement',
  'ForStatement',
  'ForInStatement',
  'ForOfStatement',
]);

function isNode(value: unknown): value is t.Node {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}

function children(node: t.Node): t.Node[] {
  const out: t.Node[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'loc' || key.endsWith('Comments') || key === 'extra') continue;
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) out.push(item);
    } else if (isNode(value)) out.push(value);
  }
  return out;
}

function tick(line: number): string {
  return `${SCRIPT_TICK}(${line});`;
}

/** Guards the body `body` of a loop or function that starts on `line`. */
function guardBody(body: t.Node, line: number, directives: t.Directive[], out: GuardInsertion[]): void {
  const start = body.start ?? 0;
  const end = body.end ?? start;
  if (body.type === 'BlockStatement') {
    // A "use strict" prologue must stay first in its function body.
    const last = directives[directives.length - 1];
    out.push([last ? (last.end ?? start + 1) : start + 1, tick(line)]);
    return;
  }
  if (body.type.endsWith('Statement') || body.type.endsWith('Declaration')) {
    // A loop body that is a single statement becomes a block.
    out.push([start, `{${tick(line)}`], [end, '}']);
    return;
  }
  // An arrow function's expression body: evaluate the guard, then the expression.
  const extra = body.extra as { parenthesized?: boolean; parenStart?: number } | undefined;
  const from = extra?.parenthesized ? (extra.parenStart ?? start) : start;
  const to = extra?.parenthesized ? end + 1 : end;
  out.push([from, `(${SCRIPT_TICK}(${line}), `], [to, ')']);
}

/**
 * The guard insertions for a compiled script's `code`, in offset order. `code` is the body of an
 * async function (top-level `await` and `return` allowed); the compiler has already checked it.
 */
export function loopGuards(code: string): GuardInsertion[] {
  const program = parse(code, {
    sourceType: 'module',
    allowReturnOutsideFunction: true,
    allowAwaitOutsideFunction: true,
  }).program;
  const out: GuardInsertion[] = [];
  const stack: t.Node[] = [program];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const line = node.loc?.start.line ?? 1;
    if (LOOP_TYPES.has(node.type)) {
      guardBody((node as t.Loop).body, line, [], out);
    } else if (FUNCTION_TYPES.has(node.type)) {
      const fn = node as t.Function;
      guardBody(fn.body, line, fn.body.type === 'BlockStatement' ? fn.body.directives : [], out);
    }
    stack.push(...children(node));
  }
  // Outer nodes are found first. Where insertions share an offset, closings of inner nodes must
  // come before closings of outer ones (`for (;;) () => x` ends both at `x`), and openings of outer
  // nodes before inner ones.
  const closing = (text: string): boolean => text === '}' || text === ')';
  return out
    .map((g, i) => ({ g, order: closing(g[1]) ? -i : i, close: closing(g[1]) ? 0 : 1 }))
    .sort((a, b) => a.g[0] - b.g[0] || a.close - b.close || a.order - b.order)
    .map(({ g }) => g);
}
