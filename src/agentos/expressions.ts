/**
 * Conditions, `until` expressions and `{{#if}}` tests of YAML workflows (S601), parsed on the host
 * with @babel/parser and kept to a small safe subset: variables and member access, literals,
 * comparisons, `&&`, `||`, `!` and parentheses. What passes is sent to the workflow as a JSON tree
 * that the YAML runner evaluates with a tiny walker, so no expression text is ever evaluated.
 */
import { parseExpression as babelParse } from '@babel/parser';
import type * as t from '@babel/types';

/** A comparison operator an expression may use. */
export type ComparisonOperator = '==' | '!=' | '===' | '!==' | '<' | '<=' | '>' | '>=';

/** A parsed expression, as JSON the runner walks. */
export type ExprNode =
  | { t: 'lit'; v: string | number | boolean | null }
  | { t: 'var'; path: Array<string | number> }
  | { t: 'cmp'; op: ComparisonOperator; l: ExprNode; r: ExprNode }
  | { t: 'and' | 'or'; l: ExprNode; r: ExprNode }
  | { t: 'not'; e: ExprNode };

/** A variable an expression reads, for checking names against the workflow's steps. */
export interface VariableRef {
  /** `tech_spec` for `{{tech_spec.api}}`. */
  root: string;
  path: Array<string | number>;
  /** Offset of the reference in the text that was parsed. */
  offset: number;
}

/** An expression or template was refused; `offset` points into the text that was parsed. */
export class ExpressionError extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(reason);
    this.name = 'ExpressionError';
  }
}

const COMPARISONS: ReadonlySet<string> = new Set(['==', '!=', '===', '!==', '<', '<=', '>', '>=']);

const SUBSET =
  'allowed: variables, a.b member access, literals, == != === !== < <= > >=, && || !, parentheses';

/**
 * Replaces each `{{ a.b }}` with the same text minus the braces (spaces instead), so the result is
 * plain JavaScript syntax whose offsets are the original's.
 */
function unbrace(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const open = text.indexOf('{{', at);
    const close = text.indexOf('}}', at);
    if (close >= 0 && (open < 0 || close < open)) throw new ExpressionError('unmatched `}}`', close);
    if (open < 0) break;
    const end = text.indexOf('}}', open + 2);
    if (end < 0) throw new ExpressionError('`{{` is not closed with `}}`', open);
    const inner = text.slice(open + 2, end);
    if (inner.includes('{{'))
      throw new ExpressionError('`{{` inside `{{...}}`', open + 2 + inner.indexOf('{{'));
    if (/^\s*[#/]/.test(inner)) {
      throw new ExpressionError(
        'block tags such as {{#if}} belong in promptTemplate, not in expressions',
        open,
      );
    }
    out += `${text.slice(at, open)}  ${inner}  `;
    at = end + 2;
  }
  return out + text.slice(at);
}

/** Where babel reports a syntax error, as an offset into the text. */
function syntaxOffset(err: unknown): number {
  const pos = (err as { pos?: unknown } | null)?.pos;
  return typeof pos === 'number' ? pos : 0;
}

/** Options for {@link parseExpression}. */
export interface ParseExpressionOptions {
  /**
   * Called for each comparison of a variable with a literal; a returned string refuses the
   * expression with that reason (e.g. a status value that can never occur).
   */
  checkComparison?: (path: Array<string | number>, literal: unknown) => string | null;
}

/**
 * Parses a condition such as `{{triage_result.severity}} == 'P0'` or `quality_score > 0.9`.
 * `{{x}}` and a bare `x` mean the same variable.
 *
 * @returns The JSON tree and every variable it reads.
 * @throws ExpressionError - With the offset of the refused part and a one-line reason.
 *
 * @example
 * const { ast } = parseExpression("{{health.status}} == 'critical'");
 * // ast: { t: 'cmp', op: '==', l: { t: 'var', path: ['health', 'status'] }, r: { t: 'lit', v: 'critical' } }
 */
export function parseExpression(
  text: string,
  options: ParseExpressionOptions = {},
): { ast: ExprNode; refs: VariableRef[] } {
  if (text.trim() === '') throw new ExpressionError('empty expression', 0);
  const js = unbrace(text);
  let node: t.Expression;
  try {
    node = babelParse(js, { errorRecovery: false });
  } catch (err) {
    const raw = err instanceof Error ? err.message : String(err);
    throw new ExpressionError(`syntax error: ${raw.replace(/\s*\(\d+:\d+\)$/, '')}`, syntaxOffset(err));
  }
  const refs: VariableRef[] = [];
  const ast = convert(node, refs, options);
  return { ast, refs };
}

function refuse(what: string, node: t.Node): never {
  throw new ExpressionError(`${what} is not allowed in expressions (${SUBSET})`, node.start ?? 0);
}

function convert(node: t.Node, refs: VariableRef[], options: ParseExpressionOptions): ExprNode {
  switch (node.type) {
    case 'StringLiteral':
    case 'NumericLiteral':
    case 'BooleanLiteral':
      return { t: 'lit', v: node.value };
    case 'NullLiteral':
      return { t: 'lit', v: null };
    case 'TemplateLiteral':
      if (node.expressions.length > 0) return refuse('template interpolation', node.expressions[0]!);
      return { t: 'lit', v: node.quasis[0]?.value.cooked ?? '' };
    case 'Identifier':
    case 'MemberExpression': {
      const path = memberPath(node);
      if (path.length === 1 && path[0] === 'undefined') return { t: 'lit', v: null };
      refs.push({ root: String(path[0]), path, offset: node.start ?? 0 });
      return { t: 'var', path };
    }
    case 'UnaryExpression':
      if (node.operator === '!') return { t: 'not', e: convert(node.argument, refs, options) };
      if (node.operator === '-' && node.argument.type === 'NumericLiteral') {
        return { t: 'lit', v: -node.argument.value };
      }
      return refuse(`operator \`${node.operator}\``, node);
    case 'BinaryExpression': {
      if (!COMPARISONS.has(node.operator)) return refuse(`operator \`${node.operator}\``, node);
      if (node.left.type === 'PrivateName') return refuse('a private name', node.left);
      const l = convert(node.left, refs, options);
      const r = convert(node.right, refs, options);
      checkComparison(l, r, node, options);
      checkComparison(r, l, node, options);
      return { t: 'cmp', op: node.operator as ComparisonOperator, l, r };
    }
    case 'LogicalExpression':
      if (node.operator === '??') return refuse('operator `??`', node);
      return {
        t: node.operator === '&&' ? 'and' : 'or',
        l: convert(node.left, refs, options),
        r: convert(node.right, refs, options),
      };
    case 'CallExpression':
    case 'OptionalCallExpression':
    case 'NewExpression':
    case 'TaggedTemplateExpression':
      return refuse('a function call', node);
    case 'AssignmentExpression':
    case 'UpdateExpression':
      return refuse('assignment', node);
    case 'OptionalMemberExpression':
      return refuse('`?.`', node);
    default:
      return refuse(describeNode(node.type), node);
  }
}

function checkComparison(
  variable: ExprNode,
  literal: ExprNode,
  node: t.Node,
  options: ParseExpressionOptions,
): void {
  if (!options.checkComparison || variable.t !== 'var' || literal.t !== 'lit') return;
  const reason = options.checkComparison(variable.path, literal.v);
  if (reason !== null) throw new ExpressionError(reason, node.start ?? 0);
}

/** `a.b[0].c` → `['a', 'b', 0, 'c']`; only names, numbers and string keys. */
function memberPath(node: t.Node): Array<string | number> {
  if (node.type === 'Identifier') return [node.name];
  if (node.type !== 'MemberExpression') return refuse(describeNode(node.type), node);
  const base = memberPath(node.object);
  const prop = node.property;
  if (!node.computed && prop.type === 'Identifier') return [...base, prop.name];
  if (node.computed && prop.type === 'NumericLiteral' && Number.isInteger(prop.value)) {
    return [...base, prop.value];
  }
  if (node.computed && prop.type === 'StringLiteral') return [...base, prop.value];
  return refuse('a computed member', prop);
}

function describeNode(type: string): string {
  const words = type.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return /^[aeiou]/.test(words) ? `an ${words}` : `a ${words}`;
}

/**
 * Parses the inside of `{{ ... }}` in a template: a variable path only (`tech_spec`, `input.files`,
 * `items[0]`).
 *
 * @throws ExpressionError - When it is anything but a variable path.
 */
export function parseVariablePath(text: string): VariableRef {
  const { ast, refs } = parseExpression(text);
  const first = refs[0];
  if (ast.t !== 'var' || first === undefined) {
    const lead = text.length - text.trimStart().length;
    throw new ExpressionError(
      '{{...}} takes a variable such as {{tech_spec}} or {{input.files}}; use {{#if expr}} for conditions',
      lead,
    );
  }
  return first;
}
