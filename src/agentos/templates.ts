/**
 * `promptTemplate` of YAML workflows (S601): `{{var}}`, `{{a.b}}`, `{{#if expr}}…{{else}}…{{/if}}`.
 * This is not Handlebars: Handlebars' `#if` takes a value, while AgentOS templates write
 * `{{#if iteration > 0}}`, so templates are parsed here, on the host, into a JSON node list whose
 * tests use the expression subset of `expressions.ts`. The YAML runner renders the list.
 */
import { ExpressionError, parseExpression, parseVariablePath } from './expressions';
import type { ExprNode, ParseExpressionOptions, VariableRef } from './expressions';

/** A parsed template, as JSON the runner renders. */
export type TemplateNode =
  | { t: 'text'; v: string }
  | { t: 'var'; path: Array<string | number> }
  | { t: 'if'; test: ExprNode; then: TemplateNode[]; else: TemplateNode[] };

interface OpenIf {
  node: Extract<TemplateNode, { t: 'if' }>;
  offset: number;
  inElse: boolean;
}

/**
 * Parses a prompt template.
 *
 * @returns The node list and every variable it reads, with offsets into `text`.
 * @throws ExpressionError - With the offset of the refused tag and a one-line reason.
 *
 * @example
 * parseTemplate('{{#if iteration > 0}}Improve: {{output}}{{else}}Start: {{task}}{{/if}}');
 */
export function parseTemplate(
  text: string,
  options: ParseExpressionOptions = {},
): { nodes: TemplateNode[]; refs: VariableRef[] } {
  const root: TemplateNode[] = [];
  const refs: VariableRef[] = [];
  const stack: OpenIf[] = [];
  const current = (): TemplateNode[] => {
    const top = stack[stack.length - 1];
    if (!top) return root;
    return top.inElse ? top.node.else : top.node.then;
  };
  const pushText = (v: string, offset: number): void => {
    const stray = v.indexOf('}}');
    if (stray >= 0) throw new ExpressionError('unmatched `}}`', offset + stray);
    if (v === '') return;
    const list = current();
    const last = list[list.length - 1];
    if (last?.t === 'text') last.v += v;
    else list.push({ t: 'text', v });
  };
  /** Re-throws an error from parsing a tag's inside at its place in the template. */
  const within = <T>(base: number, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ExpressionError) throw new ExpressionError(err.reason, base + err.offset);
      throw err;
    }
  };

  let at = 0;
  for (;;) {
    const open = text.indexOf('{{', at);
    if (open < 0) break;
    pushText(text.slice(at, open), at);
    const end = text.indexOf('}}', open + 2);
    if (end < 0) throw new ExpressionError('`{{` is not closed with `}}`', open);
    const inner = text.slice(open + 2, end);
    const innerAt = open + 2;
    const tag = inner.trim();
    const tagAt = innerAt + (inner.length - inner.trimStart().length);
    if (tag.startsWith('#')) {
      const match = /^#(\w+)\s*([\s\S]*)$/.exec(tag);
      if (match?.[1] !== 'if') {
        throw new ExpressionError(
          `unsupported block {{${tag.split(/\s/)[0]}}}: only {{#if expr}} is supported`,
          open,
        );
      }
      const exprText = match[2] ?? '';
      if (exprText.trim() === '')
        throw new ExpressionError('{{#if}} needs a condition, e.g. {{#if iteration > 0}}', open);
      const exprAt = tagAt + tag.indexOf(exprText, 3);
      const parsed = within(exprAt, () => parseExpression(exprText, options));
      for (const ref of parsed.refs) refs.push({ ...ref, offset: exprAt + ref.offset });
      const node: Extract<TemplateNode, { t: 'if' }> = { t: 'if', test: parsed.ast, then: [], else: [] };
      current().push(node);
      stack.push({ node, offset: open, inElse: false });
    } else if (tag === 'else') {
      const top = stack[stack.length - 1];
      if (!top) throw new ExpressionError('{{else}} outside {{#if}}', open);
      if (top.inElse) throw new ExpressionError('a second {{else}} in one {{#if}}', open);
      top.inElse = true;
    } else if (tag.startsWith('/')) {
      if (tag !== '/if')
        throw new ExpressionError(`unsupported closing tag {{${tag}}}: only {{/if}} is supported`, open);
      if (!stack.pop()) throw new ExpressionError('{{/if}} without an open {{#if}}', open);
    } else {
      const ref = within(innerAt, () => parseVariablePath(inner));
      refs.push({ ...ref, offset: innerAt + ref.offset });
      current().push({ t: 'var', path: ref.path });
    }
    at = end + 2;
  }
  pushText(text.slice(at), at);
  const unclosed = stack[stack.length - 1];
  if (unclosed) throw new ExpressionError('{{#if}} is not closed with {{/if}}', unclosed.offset);
  return { nodes: root, refs };
}
