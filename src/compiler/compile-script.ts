/**
 * The script compiler: parses a workflow script, refuses what the runtime cannot run
 * deterministically or at all (S101, S103), reads `meta` without running anything, and rewrites
 * the module into a function body the interpreter can evaluate (S102).
 */
import { readFile } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { parse } from '@babel/parser';
import type { ParserOptions } from '@babel/parser';
import type * as t from '@babel/types';

import { ScriptError } from '../errors';
import type { CompiledScript, PhaseSpec, ScriptForm, ScriptMeta } from '../types';
import {
  ABSENT_HOST,
  DEFAULT_EXPORT_API,
  DEFAULT_EXPORT_BINDING,
  HOST_NAMES,
} from '../workflows/script-globals';
import { MAX_RUN_NAME_LENGTH, runNameProblem } from './run-names';
import { loopGuards } from './loop-guards';

const PARSER_OPTIONS: ParserOptions = {
  sourceType: 'module',
  allowReturnOutsideFunction: true,
  allowAwaitOutsideFunction: true,
};

const META_HINT = 'script must begin with `export const meta = { name, description }`';

/** `__weft_main`: the variable `DEFAULT_EXPORT_BINDING` assigns. */
const MAIN_BINDING = DEFAULT_EXPORT_BINDING.replace(/\s*=\s*$/, '');

const MODULE_REFUSAL = 'workflow scripts cannot load modules; pass data in args';

/** Where a node starts, in the 1-based terms a person reads. */
interface Location {
  line: number;
  column: number;
}

/**
 * Compiles a workflow script's source.
 *
 * @param source - The script text.
 * @param filename - How errors and the compiled script name the file (the path as given, or `<inline>`).
 * @param dir - The script's absolute folder, for nested `workflow({ scriptPath })`; null when inline.
 * @returns The script's static `meta`, its body form, and `code` whose line N is the source's line N.
 * @throws ScriptError - With file, line, column and a one-line reason, for any refused script.
 */
export function compileScript(source: string, filename: string, dir: string | null): CompiledScript {
  const fail: Fail = (reason, at) => {
    const loc =
      at === null || at === undefined ? { line: 1, column: 1 } : 'type' in at ? nodeLocation(at) : at;
    throw new ScriptError(reason, { file: filename, line: loc.line, column: loc.column });
  };

  const program = parseProgram(source, fail);
  checkForbidden(program, source, fail);

  const [first] = program.body;
  const directive = program.directives[0];
  if (directive !== undefined) fail(META_HINT, directive);
  if (first === undefined) fail(META_HINT, null);
  const metaDeclaration = asMetaDeclaration(first);
  if (metaDeclaration === null) {
    if (isMetaExport(first)) fail('meta must be declared as `export const meta = {...}`', first);
    const later = program.body.find(isMetaExport);
    fail(later === undefined ? META_HINT : '`export const meta` must be the first statement', later ?? first);
  }
  const meta = readMeta(metaDeclaration.init, fail);

  const defaultExport = findDefaultExport(program, fail);
  const form: ScriptForm = defaultExport === null ? 'body' : 'default-export';
  if (defaultExport !== null) checkNoTopLevelReturn(program, fail);

  const hosts = absentHostEdits(program);
  const code = rewrite(source, program, first as t.ExportNamedDeclaration, defaultExport, hosts.edits);
  const warnings = hosts.warnings.map((w) => ({ file: filename, ...w }));
  return {
    meta,
    form,
    code,
    guards: loopGuards(code),
    filename,
    dir,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * Reads and compiles a workflow script file.
 *
 * @param path - The script's path; errors name it as given.
 * @throws ScriptError - At 1:1 when the file cannot be read, or wherever the script is refused.
 */
export async function compileScriptFile(path: string): Promise<CompiledScript> {
  const source = await readWorkflowSource(path, 'script');
  return compileScript(source, path, nodePath.dirname(nodePath.resolve(path)));
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
};

/**
 * Reads a script or YAML definition for compiling.
 *
 * @throws ScriptError - At 1:1, with the error code and what it means, when the file cannot be read.
 */
export async function readWorkflowSource(path: string, what: 'script' | 'workflow'): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail =
      typeof code === 'string'
        ? `${code}${READ_ERRORS[code] ? ` (${READ_ERRORS[code]})` : ''}`
        : err instanceof Error
          ? err.message
          : String(err);
    throw new ScriptError(`cannot read ${what}: ${detail}`, { file: path, line: 1, column: 1 });
  }
}

type Fail = (reason: string, at: Location | t.Node | null | undefined) => never;

function nodeLocation(node: t.Node): Location {
  const start = node.loc?.start;
  return start === undefined ? { line: 1, column: 1 } : { line: start.line, column: start.column + 1 };
}

function parseProgram(source: string, fail: Fail): t.Program {
  let jsError: unknown;
  try {
    return parse(source, PARSER_OPTIONS).program;
  } catch (err) {
    jsError = err;
  }
  const jsLocation = errorLocation(jsError);
  let tsProgram: t.Program | null = null;
  try {
    tsProgram = parse(source, { ...PARSER_OPTIONS, plugins: ['typescript'] }).program;
  } catch {
    // Not TypeScript either: the plain-JavaScript error is the one the author needs.
  }
  if (tsProgram !== null) {
    // Without any TypeScript syntax, the TS parser was merely more lenient (it allows two default
    // exports, for one), so the JS error stands.
    const ts = firstTypeScript(tsProgram, source);
    if (ts !== null) {
      fail(`TypeScript syntax is not allowed (${ts.what}): workflow scripts are plain JavaScript`, ts.at);
    }
  }
  const raw = jsError instanceof Error ? jsError.message : String(jsError);
  // Babel appends the location, which the ScriptError already carries.
  const message = raw.replace(/\s*\(\d+:\d+\)$/, '').replace(/\s+/g, ' ');
  return fail(`syntax error: ${message}`, jsLocation);
}

function errorLocation(err: unknown): Location {
  const loc = (err as { loc?: { line?: unknown; column?: unknown } } | null)?.loc;
  if (typeof loc?.line === 'number' && typeof loc.column === 'number') {
    return { line: loc.line, column: loc.column + 1 };
  }
  return { line: 1, column: 1 };
}

/** Visits every node under `root`, parents before children; return false to skip a node's children. */
function walk(root: t.Node, visit: (node: t.Node, parent: t.Node | null) => boolean | void): void {
  const stack: [t.Node, t.Node | null][] = [[root, null]];
  while (stack.length > 0) {
    const [node, parent] = stack.pop()!;
    if (visit(node, parent) === false) continue;
    const children: t.Node[] = [];
    for (const [key, value] of Object.entries(node)) {
      // Comments are attached to several nodes at once and are never code.
      if (key === 'loc' || key.endsWith('Comments') || key === 'extra') continue;
      if (Array.isArray(value)) {
        for (const item of value) if (isNode(item)) children.push(item);
      } else if (isNode(value)) {
        children.push(value);
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]!, node]);
  }
}

function isNode(value: unknown): value is t.Node {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}

const TS_CONSTRUCTS: Record<string, string> = {
  TSTypeAnnotation: 'type annotation',
  TSInterfaceDeclaration: 'interface',
  TSTypeAliasDeclaration: 'type alias',
  TSAsExpression: '`as` cast',
  TSSatisfiesExpression: '`satisfies`',
  TSTypeAssertion: 'type assertion',
  TSNonNullExpression: 'non-null assertion',
  TSTypeParameterDeclaration: 'generic type parameters',
  TSTypeParameterInstantiation: 'generic type arguments',
  TSInstantiationExpression: 'generic type arguments',
  TSEnumDeclaration: 'enum',
  TSModuleDeclaration: 'namespace',
  TSDeclareFunction: 'function overload or declare',
  TSDeclareMethod: 'method overload',
  TSParameterProperty: 'parameter property',
  TSImportEqualsDeclaration: '`import =`',
  TSExportAssignment: '`export =`',
  TSIndexSignature: 'index signature',
  TSExpressionWithTypeArguments: 'implements clause',
  TSClassImplements: 'implements clause',
};

/** TypeScript syntax babel records as a property of a plain node rather than as a TS* node. */
const TS_FLAGS: [what: string, isSet: (node: Record<string, unknown>) => boolean][] = [
  ['access modifier', (n) => typeof n.accessibility === 'string'],
  ['`abstract`', (n) => n.abstract === true],
  ['`declare`', (n) => n.declare === true],
  ['definite assignment `!`', (n) => n.definite === true],
  ['`override`', (n) => n.override === true],
  ['`readonly`', (n) => n.readonly === true],
  ['type-only import', (n) => n.importKind === 'type' || n.importKind === 'typeof'],
  ['type-only export', (n) => n.exportKind === 'type'],
];

/**
 * The TypeScript-only syntax that starts first in the source, located where the author has to
 * edit. Most of it is a TS* node; some shows only as a flag on a plain node (`x?`, `private`,
 * `import type`).
 */
function firstTypeScript(program: t.Program, source: string): { what: string; at: Location } | null {
  let best: { what: string; offset: number } | null = null;
  const consider = (what: string, offset: number): void => {
    if (best === null || offset < best.offset) best = { what, offset };
  };
  walk(program, (node) => {
    if (node.type.startsWith('TS')) {
      consider(TS_CONSTRUCTS[node.type] ?? 'TypeScript construct', typeScriptOffset(node, source));
      // Types nested in a TS node start later and would only name a less useful construct.
      return false;
    }
    const flag = typeScriptFlag(node);
    if (flag !== null) consider(flag.what, flag.offset);
    return true;
  });
  if (best === null) return null;
  const { what, offset } = best as { what: string; offset: number };
  return { what, at: offsetLocation(source, offset) };
}

/** A TypeScript-only property set on a plain node, with the offset of its syntax. */
function typeScriptFlag(node: t.Node): { what: string; offset: number } | null {
  const n = node as unknown as Record<string, unknown>;
  const start = node.start ?? 0;
  if (n.optional === true && (node.type === 'Identifier' || node.type.startsWith('Class'))) {
    // The `?` follows the name; the node itself starts at the name.
    const end = node.type === 'Identifier' ? start + node.name.length : (n.key as t.Node | undefined)?.end;
    return { what: 'optional marker `?`', offset: end ?? start };
  }
  const flag = TS_FLAGS.find(([, isSet]) => isSet(n));
  return flag === undefined ? null : { what: flag[0], offset: start };
}

/** A cast starts at its operand; point at the keyword or `!` the author has to delete instead. */
function typeScriptOffset(node: t.Node, source: string): number {
  const start = node.start ?? 0;
  if (node.type === 'TSAsExpression' || node.type === 'TSSatisfiesExpression') {
    const keyword = node.type === 'TSAsExpression' ? 'as' : 'satisfies';
    const from = node.expression.end ?? start;
    const found = source.indexOf(keyword, from);
    return found >= 0 && found < (node.typeAnnotation.start ?? Infinity) ? found : start;
  }
  if (node.type === 'TSNonNullExpression') {
    const found = source.indexOf('!', node.expression.end ?? start);
    return found >= 0 ? found : start;
  }
  return start;
}

function offsetLocation(source: string, offset: number): Location {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    // Babel counts \r\n, \n, \r, U+2028 and U+2029 as line ends; so must we.
    const ch = source.charCodeAt(i);
    if (ch === 10 || ch === 0x2028 || ch === 0x2029 || (ch === 13 && source.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Refuses what can never run: module syntax anywhere (`import`, `import()`, `import.meta`,
 * re-exports), exports other than meta and one default, and `<!--`. `require` and other host
 * names are no syntax: they are absent at run time (see {@link absentHostEdits}).
 */
function checkForbidden(program: t.Program, source: string, fail: Fail): void {
  const found: { node: t.Node; reason: string }[] = [];
  const refuse = (node: t.Node, reason: string): void => void found.push({ node, reason });
  walk(program, (node, parent) => {
    switch (node.type) {
      case 'ImportDeclaration':
        refuse(node, `import is not allowed: ${MODULE_REFUSAL}`);
        return false;
      case 'Import':
      case 'ImportExpression':
        refuse(parent ?? node, `import() is not allowed: ${MODULE_REFUSAL}`);
        return false;
      case 'MetaProperty':
        if (node.meta.name === 'import') {
          refuse(node, 'import.meta is not allowed: workflow scripts are not modules');
        }
        return true;
      case 'ExportAllDeclaration':
        refuse(node, `export * is not allowed: ${MODULE_REFUSAL}`);
        return false;
      case 'ExportNamedDeclaration':
        if (node.source) refuse(node, `re-export is not allowed: ${MODULE_REFUSAL}`);
        else if (!isMetaExport(node)) {
          refuse(node, 'only `export const meta` and one `export default` may be exported');
        }
        return true;
      case 'UnaryExpression':
        // The interpreter runs the code as a script, where `<!--` starts a comment; in the module
        // we checked it is `< !--x`. Refusing it keeps what runs identical to what was checked.
        if (
          node.operator === '!' &&
          node.argument.type === 'UpdateExpression' &&
          node.argument.prefix &&
          node.argument.operator === '--' &&
          source[(node.start ?? 0) - 1] === '<' &&
          source[(node.start ?? 0) - 2] !== '<'
        ) {
          refuse(node, '`<!--` is not allowed: it is an HTML comment in scripts; add a space after `<`');
        }
        return true;
      default:
        return true;
    }
  });
  if (found.length === 0) return;
  found.sort((a, b) => (a.node.start ?? 0) - (b.node.start ?? 0));
  fail(found[0]!.reason, found[0]!.node);
}

/** Whether `node` exports something named meta, however malformed; the first-statement check says how. */
function isMetaExport(node: t.Node | undefined): boolean {
  if (node?.type !== 'ExportNamedDeclaration' || node.declaration?.type !== 'VariableDeclaration') {
    return false;
  }
  return node.declaration.declarations.some((d) => d.id.type === 'Identifier' && d.id.name === 'meta');
}

/** The `meta = {...}` declarator when `node` is exactly `export const meta = ...`, else null. */
function asMetaDeclaration(
  node: t.Statement | undefined,
): (t.VariableDeclarator & { init: t.Expression }) | null {
  if (node?.type !== 'ExportNamedDeclaration' || node.source) return null;
  const declaration = node.declaration;
  if (declaration?.type !== 'VariableDeclaration' || declaration.kind !== 'const') return null;
  if (declaration.declarations.length !== 1) return null;
  const [declarator] = declaration.declarations;
  if (declarator?.id.type !== 'Identifier' || declarator.id.name !== 'meta' || !declarator.init) return null;
  return declarator as t.VariableDeclarator & { init: t.Expression };
}

/** Evaluates a pure literal without running anything, refusing whatever would need evaluation. */
function evaluateLiteral(node: t.Node, fail: Fail): unknown {
  const refuse = (what: string, at: t.Node = node): never =>
    fail(`meta must be a pure literal: ${what} is not allowed`, at);
  switch (node.type) {
    case 'StringLiteral':
    case 'NumericLiteral':
    case 'BooleanLiteral':
      return node.value;
    case 'NullLiteral':
      return null;
    case 'TemplateLiteral':
      if (node.expressions.length > 0) return refuse('template interpolation', node.expressions[0]);
      return node.quasis[0]?.value.cooked ?? '';
    case 'UnaryExpression':
      if (node.operator === '-' && node.argument.type === 'NumericLiteral') return -node.argument.value;
      return refuse(`operator \`${node.operator}\``);
    case 'ArrayExpression':
      return node.elements.map((element) => {
        if (element === null) return refuse('an array hole');
        return evaluateLiteral(element, fail);
      });
    case 'ObjectExpression': {
      const object: Record<string, unknown> = {};
      for (const property of node.properties) {
        if (property.type === 'SpreadElement') return refuse('spread', property);
        if (property.type === 'ObjectMethod') {
          return refuse(property.kind === 'method' ? 'a method' : `a ${property.kind}ter`, property);
        }
        if (property.computed) return refuse('a computed key', property.key);
        const key = property.key;
        let name: string;
        if (key.type === 'Identifier') name = key.name;
        else if (key.type === 'StringLiteral') name = key.value;
        else if (key.type === 'NumericLiteral') name = String(key.value);
        else return refuse('a key of this kind', key);
        // defineProperty, because assigning a `__proto__` key would change the object's prototype.
        Object.defineProperty(object, name, {
          value: evaluateLiteral(property.value, fail),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
    case 'Identifier':
      return refuse(node.name === 'undefined' ? '`undefined`' : `variable \`${node.name}\``);
    case 'SpreadElement':
      return refuse('spread');
    case 'CallExpression':
    case 'OptionalCallExpression':
    case 'TaggedTemplateExpression':
      return refuse('a function call');
    case 'NewExpression':
      return refuse('`new`');
    case 'MemberExpression':
    case 'OptionalMemberExpression':
      return refuse('property access');
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      return refuse('a function');
    case 'BinaryExpression':
    case 'LogicalExpression':
      return refuse(`operator \`${node.operator}\``);
    default:
      return refuse(describeNode(node.type));
  }
}

function describeNode(type: string): string {
  // `ConditionalExpression` → `a conditional expression`: readable without a lookup table.
  const words = type.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return /^[aeiou]/.test(words) ? `an ${words}` : `a ${words}`;
}

function readMeta(init: t.Expression, fail: Fail): ScriptMeta {
  if (init.type !== 'ObjectExpression') {
    // A non-literal is refused with the pure-literal reason; a literal of the wrong shape, here.
    evaluateLiteral(init, fail);
    return fail('meta must be an object literal', init);
  }
  const raw = evaluateLiteral(init, fail) as Record<string, unknown>;
  const at = (key: string): t.Node => propertyValue(init, key) ?? init;

  const requiredString = (key: 'name' | 'description'): string => {
    const value = raw[key];
    if (typeof value !== 'string' || value.trim() === '') {
      fail(`meta.${key} is required and must be a non-empty string`, at(key));
    }
    return value as string;
  };
  const meta: ScriptMeta = { name: requiredString('name'), description: requiredString('description') };
  // meta.name is the runs' workflow type and id prefix: refuse what the server would.
  const nameProblem = runNameProblem(meta.name, 'meta.name', MAX_RUN_NAME_LENGTH);
  if (nameProblem !== null) fail(nameProblem, at('name'));

  if (raw.whenToUse !== undefined) {
    if (typeof raw.whenToUse !== 'string') fail('meta.whenToUse must be a string', at('whenToUse'));
    meta.whenToUse = raw.whenToUse as string;
  }
  if (raw.phases !== undefined) meta.phases = readPhases(raw.phases, propertyValue(init, 'phases')!, fail);
  return meta;
}

function readPhases(value: unknown, node: t.Node, fail: Fail): PhaseSpec[] {
  if (!Array.isArray(value) || node.type !== 'ArrayExpression') {
    return fail('meta.phases must be an array of { title, detail?, model? }', node);
  }
  return value.map((entry: unknown, i) => {
    const entryNode = node.elements[i] ?? node;
    if (
      typeof entry !== 'object' ||
      entry === null ||
      Array.isArray(entry) ||
      entryNode.type !== 'ObjectExpression'
    ) {
      return fail(`meta.phases[${i}] must be an object { title, detail?, model? }`, entryNode);
    }
    const record = entry as Record<string, unknown>;
    const at = (key: string): t.Node => propertyValue(entryNode, key) ?? entryNode;
    if (typeof record.title !== 'string' || record.title.trim() === '') {
      fail(`meta.phases[${i}].title is required and must be a non-empty string`, at('title'));
    }
    const phase: PhaseSpec = { title: record.title as string };
    for (const key of ['detail', 'model'] as const) {
      if (record[key] === undefined) continue;
      if (typeof record[key] !== 'string') fail(`meta.phases[${i}].${key} must be a string`, at(key));
      phase[key] = record[key] as string;
    }
    return phase;
  });
}

/** The value node of the last `key:` property, as evaluation lets the last duplicate win. */
function propertyValue(object: t.ObjectExpression, key: string): t.Node | undefined {
  let found: t.Node | undefined;
  for (const property of object.properties) {
    if (property.type !== 'ObjectProperty' || property.computed) continue;
    const k = property.key;
    const name = k.type === 'Identifier' ? k.name : k.type === 'StringLiteral' ? k.value : undefined;
    if (name === key) found = property.value;
  }
  return found;
}

function findDefaultExport(program: t.Program, fail: Fail): t.ExportDefaultDeclaration | null {
  // Babel already refuses a second default export, and exports only parse at the top level.
  const node = program.body.find(
    (s): s is t.ExportDefaultDeclaration => s.type === 'ExportDefaultDeclaration',
  );
  if (node === undefined) return null;
  const declaration = node.declaration.type;
  if (
    declaration !== 'FunctionDeclaration' &&
    declaration !== 'FunctionExpression' &&
    declaration !== 'ArrowFunctionExpression'
  ) {
    fail('export default must be a function: `export default async function ({ agent, ... }) {...}`', node);
  }
  return node;
}

/** With a default export, a top-level `return` would silently skip the exported function. */
function checkNoTopLevelReturn(program: t.Program, fail: Fail): void {
  walk(program, (node) => {
    if (node.type === 'ReturnStatement') {
      fail('top-level return is not allowed with `export default`; return from the exported function', node);
    }
    return !(
      node.type === 'FunctionDeclaration' ||
      node.type === 'FunctionExpression' ||
      node.type === 'ArrowFunctionExpression' ||
      node.type === 'ObjectMethod' ||
      node.type === 'ClassMethod' ||
      node.type === 'ClassPrivateMethod'
    );
  });
}

/** A replacement of `source.slice(start, end)` by `text`. */
interface Edit {
  start: number;
  end: number;
  text: string;
}

const HOST_NAME_SET: ReadonlySet<string> = new Set(HOST_NAMES);

const FUNCTION_TYPES: ReadonlySet<string> = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ObjectMethod',
  'ClassMethod',
  'ClassPrivateMethod',
]);

/** Patterns name assignment targets, not reads, unless in the default value of `a = x`. */
const PATTERN_TYPES: ReadonlySet<string> = new Set(['ObjectPattern', 'ArrayPattern', 'RestElement']);

/** The names a pattern binds: `a`, `{ a, b: [c] }`, `...d`, `e = 1`. */
function patternNames(node: t.Node | null | undefined, into: Set<string>): void {
  if (!node) return;
  switch (node.type) {
    case 'Identifier':
      into.add(node.name);
      return;
    case 'ObjectPattern':
      for (const property of node.properties) {
        patternNames(property.type === 'RestElement' ? property : (property.value as t.Node), into);
      }
      return;
    case 'ArrayPattern':
      for (const element of node.elements) patternNames(element, into);
      return;
    case 'AssignmentPattern':
      patternNames(node.left, into);
      return;
    case 'RestElement':
      patternNames(node.argument, into);
      return;
    default:
      return;
  }
}

/** Every name the script declares anywhere: variables, functions, classes, parameters, catch bindings. */
function declaredNames(program: t.Program): Set<string> {
  const names = new Set<string>();
  walk(program, (node) => {
    if (node.type === 'VariableDeclarator') patternNames(node.id, names);
    else if (node.type === 'CatchClause') patternNames(node.param, names);
    else if (node.type === 'ClassDeclaration' || node.type === 'ClassExpression')
      patternNames(node.id, names);
    if (FUNCTION_TYPES.has(node.type)) {
      const fn = node as t.Function;
      if ('id' in fn && fn.id) patternNames(fn.id, names);
      for (const param of fn.params) patternNames(param, names);
    }
  });
  return names;
}

/** Whether the Identifier at `key` of `parent` reads a variable (rather than naming a property, label or target). */
function isVariableRead(parent: t.Node, key: string, grandparent: t.Node | undefined): boolean {
  const p = parent as unknown as Record<string, unknown>;
  switch (parent.type) {
    case 'MemberExpression':
    case 'OptionalMemberExpression':
      return key !== 'property' || parent.computed;
    case 'ObjectProperty':
      if (key === 'key') return parent.computed;
      return grandparent?.type !== 'ObjectPattern';
    case 'ObjectMethod':
    case 'ClassMethod':
    case 'ClassPrivateMethod':
    case 'ClassProperty':
    case 'ClassAccessorProperty':
      return key !== 'key' || p.computed === true;
    case 'LabeledStatement':
    case 'BreakStatement':
    case 'ContinueStatement':
    case 'PrivateName':
    case 'MetaProperty':
      return false;
    case 'UnaryExpression':
      // `typeof require` is the one use of an undefined name that does not throw: it stays as is.
      return parent.operator !== 'typeof';
    case 'AssignmentExpression':
    case 'AssignmentPattern':
      return key !== 'left';
    case 'UpdateExpression':
      return false;
    case 'ForInStatement':
    case 'ForOfStatement':
      return key !== 'left';
    default:
      return !PATTERN_TYPES.has(parent.type);
  }
}

/** The host name a `globalThis.fetch` or `globalThis['fetch']` callee names, else null. */
function globalThisHostCallee(callee: t.Node, declared: ReadonlySet<string>): string | null {
  if (callee.type !== 'MemberExpression' && callee.type !== 'OptionalMemberExpression') return null;
  if (callee.object.type !== 'Identifier' || callee.object.name !== 'globalThis') return null;
  if (declared.has('globalThis')) return null;
  const property = callee.property;
  const name =
    !callee.computed && property.type === 'Identifier'
      ? property.name
      : callee.computed && property.type === 'StringLiteral'
        ? property.value
        : null;
  return name !== null && HOST_NAME_SET.has(name) ? name : null;
}

/**
 * Where the script uses a host name its scope does not define (S103), the edits that make the use
 * call `__weft_absent("name")`, which throws a ScriptError that says why and what to do, instead of
 * a bare ReferenceError. Reading an undeclared name throws in JavaScript anyway, so only the error
 * changes; `typeof require`, property names, labels and assignment targets are left alone. A name
 * the script declares anywhere is left alone everywhere: its own `fetch` must keep working.
 * Also returns a warning for each `require(...)` that runs at top level outside `try`, which will
 * always throw.
 */
function absentHostEdits(program: t.Program): {
  edits: Edit[];
  warnings: { line: number; column: number; message: string }[];
} {
  const declared = declaredNames(program);
  const edits: Edit[] = [];
  const warnings: { line: number; column: number; message: string }[] = [];
  // No parentheses: a line starting with `(` would join the previous statement when it has no `;`.
  // `new fetch()` becomes `new __weft_absent("fetch")()`, which throws the same way when it runs.
  const absent = (name: string): string => `${ABSENT_HOST}(${JSON.stringify(name)})`;

  const visit = (node: t.Node, ancestors: { node: t.Node; key: string }[]): void => {
    const last = ancestors[ancestors.length - 1];
    if (node.type === 'Identifier' && last !== undefined && HOST_NAME_SET.has(node.name)) {
      const grandparent = ancestors[ancestors.length - 2]?.node;
      if (!declared.has(node.name) && isVariableRead(last.node, last.key, grandparent)) {
        const shorthand = last.node.type === 'ObjectProperty' && last.node.shorthand;
        edits.push({
          start: node.start ?? 0,
          end: node.end ?? 0,
          text: shorthand ? `${node.name}: ${absent(node.name)}` : absent(node.name),
        });
        const called =
          (last.node.type === 'CallExpression' || last.node.type === 'OptionalCallExpression') &&
          last.key === 'callee';
        const guarded = ancestors.some(
          (a) => FUNCTION_TYPES.has(a.node.type) || (a.node.type === 'TryStatement' && a.key === 'block'),
        );
        if (node.name === 'require' && called && !guarded) {
          const at = nodeLocation(node);
          warnings.push({
            ...at,
            message:
              'warning: require() at top level always throws when the run starts: workflow scripts ' +
              'cannot load modules; have an agent() do it, or pass data in args',
          });
        }
      }
      return;
    }
    if (
      node.type === 'CallExpression' ||
      node.type === 'OptionalCallExpression' ||
      node.type === 'NewExpression'
    ) {
      const name = globalThisHostCallee(node.callee, declared);
      if (name !== null) {
        // A plain `globalThis.name` callee is marked, so a saved run's source can be recovered.
        const plain = node.callee.type === 'MemberExpression' && !node.callee.computed;
        const text = plain ? `${ABSENT_HOST}(${JSON.stringify(name)}, "globalThis")` : absent(name);
        edits.push({ start: node.callee.start ?? 0, end: node.callee.end ?? 0, text });
        ancestors.push({ node, key: 'arguments' });
        for (const argument of node.arguments) visit(argument, ancestors);
        ancestors.pop();
        return;
      }
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'loc' || key.endsWith('Comments') || key === 'extra') continue;
      const children: unknown[] = Array.isArray(value) ? value : [value];
      ancestors.push({ node, key });
      for (const child of children) if (isNode(child)) visit(child, ancestors);
      ancestors.pop();
    }
  };
  visit(program, []);
  return { edits, warnings };
}

/** `text` with every character but line ends turned into a space, so lines stay aligned. */
function blank(text: string): string {
  return text.replace(/[^\r\n\u2028\u2029]/g, ' ');
}

/**
 * Turns the checked module into a function body by splicing, never by regenerating, so every line
 * keeps its number and runtime errors point at the author's lines. `hostEdits` (from
 * {@link absentHostEdits}) replace uses of absent host names.
 */
function rewrite(
  source: string,
  program: t.Program,
  metaExport: t.ExportNamedDeclaration,
  defaultExport: t.ExportDefaultDeclaration | null,
  hostEdits: readonly Edit[],
): string {
  const edits: Edit[] = [...hostEdits];
  if (program.interpreter) {
    // A `#!` line is only legal at the start of a file, not inside a function body.
    const { start, end } = program.interpreter;
    edits.push({ start: start ?? 0, end: end ?? 0, text: blank(source.slice(start ?? 0, end ?? 0)) });
  }
  const metaStart = metaExport.start ?? 0;
  const metaDeclStart = metaExport.declaration?.start ?? metaStart;
  edits.push({ start: metaStart, end: metaDeclStart, text: blank(source.slice(metaStart, metaDeclStart)) });

  if (defaultExport !== null) {
    const start = defaultExport.start ?? 0;
    const declaration = defaultExport.declaration;
    // A parenthesized function starts inside its parentheses; the binding goes before them.
    const extra = declaration.extra as { parenthesized?: boolean; parenStart?: number } | undefined;
    const declStart = (extra?.parenthesized ? extra.parenStart : declaration.start) ?? start;
    const keywords = source.slice(start, declStart);
    if (/^export\s+default\s*$/.test(keywords) && !/[\r\n\u2028\u2029]/.test(keywords)) {
      edits.push({ start, end: declStart, text: DEFAULT_EXPORT_BINDING.padEnd(keywords.length, ' ') });
    } else {
      // Comments or line breaks between the keywords: blank them and bind just before the function.
      edits.push({ start, end: declStart, text: blank(keywords) + DEFAULT_EXPORT_BINDING });
    }
    if (declaration.type === 'FunctionDeclaration') {
      // Now an expression statement: without `;` a next line starting with `(` would call it.
      const end = declaration.end ?? declStart;
      edits.push({ start: end, end, text: ';' });
    }
  }

  edits.sort((a, b) => a.start - b.start);
  let code = '';
  let at = 0;
  for (const edit of edits) {
    code += source.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  code += source.slice(at);

  if (defaultExport === null) return code;
  const api = DEFAULT_EXPORT_API.join(', ');
  return `let ${MAIN_BINDING}; ${code}\n;return ${MAIN_BINDING}({ ${api} });`;
}
