/**
 * The YAML workflow compiler (S601): reads an AgentOS-style definition (`id`, `name`,
 * `description`, `agents`, `steps`), checks its shape with ajv and its templates and expressions
 * with a real parser, and turns it into an ordinary compiled weft script: the fixed YAML runner
 * with the checked definition in front of it as data. Every refusal is a `ScriptError` at the
 * YAML file's line and column, so a broken definition never starts a run, exactly like a refused
 * JS script (S105).
 */
import * as nodePath from 'node:path';
import Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';

import { readWorkflowSource } from '../compiler/compile-script';
import { ScriptError } from '../errors';
import type { CompiledScript } from '../types';
import { ExpressionError, parseExpression, parseVariablePath } from './expressions';
import type { ExprNode, ParseExpressionOptions, VariableRef } from './expressions';
import { parseTemplate } from './templates';
import type { TemplateNode } from './templates';
import { YAML_RUNNER_SOURCE } from './yaml-runner-source';
import { MAX_RUN_NAME_LENGTH } from '../compiler/run-names';

/** How a step runs (S601). */
export type StepMode = 'sequential' | 'fanout' | 'collect' | 'conditional' | 'loop';

/** What a failed step does (S601). */
export type ErrorMode = 'fail' | 'retry' | 'skip';

/** The only `functionId` weft runs: an agent with tools. */
export const AGENT_CHAT = 'agent::chat';

/** One step as written in the YAML file, after the shape check. */
export interface YamlStep {
  name: string;
  description?: string;
  functionId?: string;
  promptTemplate: string;
  mode?: StepMode;
  timeoutMs?: number;
  errorMode?: ErrorMode;
  maxRetries?: number;
  outputVar?: string;
  condition?: string;
  maxIterations?: number;
  until?: string;
  approval?: 'sync';
  items?: string;
  agent?: string;
}

/** A definition as written in the YAML file, after the shape check. */
export interface YamlWorkflowDefinition {
  id: string;
  name: string;
  description: string;
  agents?: string[];
  steps: YamlStep[];
}

/** One step as the runner receives it: defaults filled in, templates and expressions parsed. */
export interface CompiledStep {
  name: string;
  description: string | null;
  mode: StepMode;
  prompt: TemplateNode[];
  /** Per-agent timeout; null means the run's `--agent-timeout`. */
  timeoutMs: number | null;
  errorMode: ErrorMode;
  /** Extra attempts with `errorMode: retry`; 0 otherwise. */
  maxRetries: number;
  /** Where the output goes; the step name when the file names none. */
  outputVar: string;
  condition: ExprNode | null;
  maxIterations: number;
  until: { kind: 'text'; text: string } | { kind: 'expr'; ast: ExprNode } | null;
  approval: boolean;
  /** Fanout: the variable path of the items; null for other modes. */
  items: Array<string | number> | null;
  /** The role (`agents:` entry) the step names, if any. */
  agent: string | null;
  /** The weft agent type (S403) the role maps to for this run; null for a plain agent. */
  agentType: string | null;
}

/** The checked definition the runner walks. */
export interface CompiledDefinition {
  id: string;
  name: string;
  description: string;
  agents: string[];
  steps: CompiledStep[];
}

/** Options for {@link compileYamlWorkflow}. */
export interface CompileYamlOptions {
  /**
   * Agent type per role (`agents:` entry) for this run; a role left out (or null) runs as a plain
   * agent. See `resolveAgentRoles`.
   */
  agentTypes?: Readonly<Record<string, string | null>>;
}

/** Workflow ids name Temporal workflow types and saved files. */
const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Default extra attempts of a step with `errorMode: retry` and no `maxRetries`. */
export const DEFAULT_MAX_RETRIES = 2;

/** Variables the runner sets in every step. */
const GLOBAL_VARIABLES = new Set(['input', 'previous_step']);
/** Variables only some modes set, with the modes that set them. */
const MODE_VARIABLES: Record<string, StepMode[]> = {
  item: ['fanout'],
  index: ['fanout'],
  iteration: ['loop'],
  maxIterations: ['loop'],
  output: ['loop'],
  results: ['collect'],
};
const RESERVED = new Set([...GLOBAL_VARIABLES, ...Object.keys(MODE_VARIABLES), 'steps']);
const STEP_STATUSES = ['completed', 'skipped', 'failed'];

const STEP_KEYS = [
  'name',
  'description',
  'functionId',
  'promptTemplate',
  'mode',
  'timeoutMs',
  'errorMode',
  'maxRetries',
  'outputVar',
  'condition',
  'maxIterations',
  'until',
  'approval',
  'items',
  'agent',
] as const;

const DEFINITION_SCHEMA = {
  type: 'object',
  required: ['id', 'name', 'description', 'steps'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: ID_PATTERN, maxLength: MAX_RUN_NAME_LENGTH },
    name: { type: 'string', minLength: 1 },
    description: { type: 'string', minLength: 1 },
    agents: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true },
    steps: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'promptTemplate'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          description: { type: 'string' },
          functionId: { type: 'string' },
          promptTemplate: { type: 'string', minLength: 1 },
          mode: { enum: ['sequential', 'fanout', 'collect', 'conditional', 'loop'] },
          timeoutMs: { type: 'integer', minimum: 1 },
          errorMode: { enum: ['fail', 'retry', 'skip'] },
          maxRetries: { type: 'integer', minimum: 0, maximum: 10 },
          outputVar: { type: 'string', minLength: 1 },
          condition: { type: 'string', minLength: 1 },
          maxIterations: { type: 'integer', minimum: 1, maximum: 100 },
          until: { type: 'string', minLength: 1 },
          approval: { enum: ['sync'] },
          items: { type: 'string', minLength: 1 },
          agent: { type: 'string', minLength: 1 },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: true });
const validateShape = ajv.compile<YamlWorkflowDefinition>(DEFINITION_SCHEMA);

/** Whether a path names a YAML workflow definition rather than a JS script. */
export function isYamlPath(path: string): boolean {
  return /\.ya?ml$/i.test(path);
}

/** A 1-based place in the file. */
interface Place {
  line: number;
  column: number;
}

type Fail = (reason: string, at: Place) => never;

/** Everything the checks need to turn a path in the document into a line and column. */
class Locator {
  constructor(
    private readonly doc: Document.Parsed,
    private readonly source: string,
    private readonly lines: LineCounter,
  ) {}

  place(offset: number): Place {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  node(path: Array<string | number>): YamlNode | null {
    const found: unknown = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    return found && typeof found === 'object' && 'range' in found ? (found as YamlNode) : null;
  }

  /** The start of the value at `path`, or of the nearest parent that exists. */
  at(path: Array<string | number>): Place {
    for (let n = path.length; n >= 0; n--) {
      const node = this.node(path.slice(0, n));
      if (node?.range) return this.place(node.range[0]);
    }
    return { line: 1, column: 1 };
  }

  /** The key `key` of the map at `path`. */
  keyAt(path: Array<string | number>, key: string): Place {
    const map = this.node(path);
    if (isMap(map)) {
      for (const pair of map.items) {
        if (isScalar(pair.key) && pair.key.value === key && pair.key.range)
          return this.place(pair.key.range[0]);
      }
    }
    return this.at(path);
  }

  /**
   * The place of character `index` of the string value at `path`. Plain, quoted and block
   * scalars fold lines and indentation differently, so the value's characters are matched
   * against the source, treating any run of whitespace as equal to any other.
   */
  inValue(path: Array<string | number>, index: number): Place {
    const node = this.node(path);
    if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return this.at(path);
    const value = node.value;
    const [start, end] = node.range;
    let s = start;
    // Skip what opens the scalar: a quote, or a block indicator line such as `>` or `|-`.
    if (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') s++;
    else if (node.type === 'BLOCK_FOLDED' || node.type === 'BLOCK_LITERAL') {
      const nl = this.source.indexOf('\n', s);
      s = nl < 0 ? s : nl + 1;
    }
    let v = 0;
    while (v < index && s < end) {
      const vc = value[v] ?? '';
      const sc = this.source[s] ?? '';
      if (/\s/.test(vc)) {
        while (v < index && /\s/.test(value[v] ?? '')) v++;
        while (s < end && /\s/.test(this.source[s] ?? '')) s++;
      } else if (vc === sc) {
        v++;
        s++;
      } else if (/\s/.test(sc)) {
        s++;
      } else {
        // An escape sequence or a doubled quote: close enough, and never past the value.
        v++;
        s++;
      }
    }
    while (s < end && /\s/.test(this.source[s] ?? '') && /\S/.test(value[index] ?? '')) s++;
    return this.place(Math.min(s, Math.max(start, end - 1)));
  }
}

/** `/steps/0/mode` → `['steps', 0, 'mode']`. */
function pointerPath(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function describePath(path: Array<string | number>): string {
  return path.reduce<string>(
    (out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${p}` : p),
    '',
  );
}

function shapeError(error: ErrorObject, locate: Locator, fail: Fail): never {
  const path = pointerPath(error.instancePath);
  const where = describePath(path) || 'the definition';
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      const need = path.length === 0 ? 'a workflow' : 'a step';
      return fail(`${where === 'the definition' ? need : where} needs \`${missing}\``, locate.at(path));
    }
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = path.length === 0 ? 'id, name, description, agents, steps' : STEP_KEYS.join(', ');
      return fail(`unknown key \`${key}\` in ${where} (allowed: ${allowed})`, locate.keyAt(path, key));
    }
    case 'enum':
      return fail(
        `${where} must be one of ${(params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}`,
        locate.at(path),
      );
    case 'pattern':
      return fail(
        `${where} must be letters, digits, dot, dash and underscore, starting with a letter or digit`,
        locate.at(path),
      );
    case 'uniqueItems':
      return fail(`${where} lists a name twice`, locate.at(path));
    case 'minItems':
      return fail(`${where} needs at least one step`, locate.at(path));
    case 'minLength':
      return fail(`${where} must not be empty`, locate.at(path));
    default:
      return fail(`${where} ${error.message ?? error.keyword}`, locate.at(path));
  }
}

/** The runtime path of a fanout's `items`: `input.files`, `{{files}}`; default `input.items`. */
function itemsPath(
  step: YamlStep,
  locate: Locator,
  base: Array<string | number>,
  fail: Fail,
): Array<string | number> {
  if (step.items === undefined) return ['input', 'items'];
  const raw = step.items.trim().replace(/^\{\{([\s\S]*)\}\}$/, '$1');
  try {
    return parseVariablePath(raw).path;
  } catch (err) {
    if (err instanceof ExpressionError) {
      return fail(
        `items ${err.reason.replace(/^\{\{\.\.\.\}\} takes/, 'takes')}`,
        locate.at([...base, 'items']),
      );
    }
    throw err;
  }
}

/**
 * Parses and checks a YAML workflow definition.
 *
 * @param source - The YAML text.
 * @param filename - How errors name the file.
 * @returns The checked definition, with defaults filled in and templates parsed.
 * @throws ScriptError - At the file's line and column, with a one-line reason.
 */
export function parseYamlWorkflow(
  source: string,
  filename: string,
  options: CompileYamlOptions = {},
): CompiledDefinition {
  const fail: Fail = (reason, at) => {
    throw new ScriptError(reason, { file: filename, line: at.line, column: at.column });
  };
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locate = new Locator(doc, source, lines);
  const yamlError = doc.errors[0];
  if (yamlError) {
    const message =
      yamlError.message.split('\n')[0]?.replace(/\s*at line \d+, column \d+:?$/, '') ?? 'invalid YAML';
    fail(`YAML syntax error: ${message}`, locate.place(yamlError.pos[0]));
  }
  if (!isMap(doc.contents)) {
    fail('a YAML workflow is a map with id, name, description, agents and steps', { line: 1, column: 1 });
  }
  if (isSeq(doc.getIn(['steps'], true)) === false && doc.get('steps') !== undefined) {
    fail('steps must be a list of steps', locate.at(['steps']));
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!validateShape(raw)) {
    const first = validateShape.errors?.[0];
    return first ? shapeError(first, locate, fail) : fail('invalid definition', { line: 1, column: 1 });
  }
  const def = raw;
  const roles = def.agents ?? [];

  // Which step first writes each variable, to refuse reads of a later step's output.
  const writers = new Map<string, number>();
  const names = new Map<string, number>();
  def.steps.forEach((step, i) => {
    const base = ['steps', i];
    if (names.has(step.name)) {
      fail(
        `two steps are named "${step.name}" (steps[${names.get(step.name)}] and steps[${i}])`,
        locate.at([...base, 'name']),
      );
    }
    names.set(step.name, i);
    const outputVar = step.outputVar ?? step.name;
    if (step.outputVar !== undefined && !IDENTIFIER.test(step.outputVar)) {
      fail(
        `outputVar "${step.outputVar}" must be an identifier such as tech_spec`,
        locate.at([...base, 'outputVar']),
      );
    }
    if (RESERVED.has(outputVar)) {
      fail(
        `outputVar "${outputVar}" is a name the runner sets itself; choose another`,
        locate.at([...base, step.outputVar === undefined ? 'name' : 'outputVar']),
      );
    }
    if (!writers.has(outputVar)) writers.set(outputVar, i);
  });

  const steps = def.steps.map((step, i): CompiledStep => {
    const base: Array<string | number> = ['steps', i];
    const mode: StepMode = step.mode ?? 'sequential';
    const errorMode: ErrorMode = step.errorMode ?? 'fail';
    const outputVar = step.outputVar ?? step.name;
    const functionId = step.functionId ?? AGENT_CHAT;
    if (functionId !== AGENT_CHAT) {
      fail(
        `functionId "${functionId}" is not supported: weft runs "${AGENT_CHAT}" steps (an agent with Read, Write, Edit, Glob, Grep, Bash and WebFetch)`,
        locate.at([...base, 'functionId']),
      );
    }
    const only = (key: keyof YamlStep, modes: StepMode[], what: string): void => {
      if (step[key] !== undefined && !modes.includes(mode)) {
        fail(`${key} ${what}; step "${step.name}" is mode ${mode}`, locate.keyAt(base, key));
      }
    };
    only('condition', ['conditional'], 'applies to conditional steps only');
    only('maxIterations', ['loop'], 'applies to loop steps only');
    only('until', ['loop'], 'applies to loop steps only');
    only('items', ['fanout'], 'applies to fanout steps only');
    if (step.maxRetries !== undefined && errorMode !== 'retry') {
      fail(
        `maxRetries applies with errorMode: retry only; step "${step.name}" has errorMode ${errorMode}`,
        locate.keyAt(base, 'maxRetries'),
      );
    }
    if (mode === 'conditional' && step.condition === undefined) {
      fail(
        `conditional step "${step.name}" needs a condition, e.g. "{{health.status}} == 'critical'"`,
        locate.at(base),
      );
    }
    if (mode === 'loop' && step.maxIterations === undefined) {
      fail(`loop step "${step.name}" needs maxIterations`, locate.at(base));
    }
    if (mode === 'collect' && !def.steps.slice(0, i).some((s) => s.mode === 'fanout')) {
      fail(`collect step "${step.name}" needs a fanout step before it`, locate.keyAt(base, 'mode'));
    }
    if (step.agent !== undefined && !roles.includes(step.agent)) {
      fail(
        `agent "${step.agent}" is not in the workflow's agents (${roles.length > 0 ? roles.join(', ') : 'none listed'})`,
        locate.at([...base, 'agent']),
      );
    }

    // Names a reference may use in this step; anything else is taken for a key of the input.
    const checkRefs = (refs: VariableRef[], key: keyof YamlStep, extra: string[] = []): void => {
      for (const ref of refs) {
        const name = ref.root;
        const modes = MODE_VARIABLES[name];
        if (modes && !modes.includes(mode) && !extra.includes(name)) {
          fail(
            `{{${name}}} is only set in ${modes.join(' and ')} steps; step "${step.name}" is mode ${mode}`,
            locate.inValue([...base, key], ref.offset),
          );
        }
        const writer = writers.get(name);
        if (writer !== undefined && writer > i) {
          fail(
            `{{${name}}} is the output of step "${def.steps[writer]?.name}", which runs after step "${step.name}"`,
            locate.inValue([...base, key], ref.offset),
          );
        }
      }
    };
    const statusCheck: ParseExpressionOptions = {
      checkComparison: (path, literal) =>
        path[0] === 'previous_step' &&
        path[1] === 'status' &&
        path.length === 2 &&
        !STEP_STATUSES.includes(String(literal))
          ? `previous_step.status is one of ${STEP_STATUSES.join(', ')}, never ${JSON.stringify(literal)}`
          : null,
    };
    const parsed = <T>(key: keyof YamlStep, parse: () => T): T => {
      try {
        return parse();
      } catch (err) {
        if (err instanceof ExpressionError)
          return fail(err.reason, locate.inValue([...base, key], err.offset));
        throw err;
      }
    };

    const template = parsed('promptTemplate', () => parseTemplate(step.promptTemplate, statusCheck));
    checkRefs(template.refs, 'promptTemplate');
    let condition: ExprNode | null = null;
    if (step.condition !== undefined) {
      const expr = parsed('condition', () => parseExpression(step.condition ?? '', statusCheck));
      checkRefs(expr.refs, 'condition');
      condition = expr.ast;
    }
    let until: CompiledStep['until'] = null;
    if (step.until !== undefined) {
      const text = step.until;
      if (/^[\w-]+$/.test(text.trim())) until = { kind: 'text', text: text.trim() };
      else {
        const expr = parsed('until', () => parseExpression(text, statusCheck));
        checkRefs(expr.refs, 'until');
        until = { kind: 'expr', ast: expr.ast };
      }
    }
    const items = mode === 'fanout' ? itemsPath(step, locate, base, fail) : null;
    return {
      name: step.name,
      description: step.description ?? null,
      mode,
      prompt: template.nodes,
      timeoutMs: step.timeoutMs ?? null,
      errorMode,
      maxRetries: errorMode === 'retry' ? (step.maxRetries ?? DEFAULT_MAX_RETRIES) : 0,
      outputVar,
      condition,
      maxIterations: step.maxIterations ?? 1,
      until,
      approval: step.approval === 'sync',
      items,
      agent: step.agent ?? null,
      agentType: step.agent === undefined ? null : (options.agentTypes?.[step.agent] ?? null),
    };
  });
  return { id: def.id, name: def.name, description: def.description, agents: roles, steps };
}

/** What the live view shows beside each step's phase. */
function stepDetail(step: CompiledStep): string {
  const parts: string[] = [step.mode];
  if (step.mode === 'loop') parts[0] = `loop ×${step.maxIterations}`;
  if (step.approval) parts.push('approval');
  if (step.agent) parts.push(step.agentType ? `${step.agent} → ${step.agentType}` : step.agent);
  return parts.join(', ');
}

/**
 * Compiles a YAML workflow definition into a weft script that runs on the ordinary interpreter
 * (S601): `meta.name` is the definition's `id` (the Temporal workflow type), each step is a
 * phase, and the code is the YAML runner with the checked definition as data.
 *
 * @param source - The YAML text.
 * @param filename - How errors and the compiled script name the file.
 * @param dir - The file's folder, or null when inline.
 * @throws ScriptError - At the file's line and column for any refused definition.
 *
 * @example
 * const script = compileYamlWorkflow(readFileSync('feature-build.yaml', 'utf8'), 'feature-build.yaml', null);
 * await client.start(script, { args: { feature_description: 'Add login' } });
 */
export function compileYamlWorkflow(
  source: string,
  filename: string,
  dir: string | null,
  options: CompileYamlOptions = {},
): CompiledScript {
  const definition = parseYamlWorkflow(source, filename, options);
  return {
    meta: {
      name: definition.id,
      description: definition.description.trim(),
      phases: definition.steps.map((s) => ({ title: s.name, detail: stepDetail(s) })),
    },
    form: 'body',
    code: `${DEFINITION_PREFIX}${JSON.stringify(definition)};\n${YAML_RUNNER_SOURCE}`,
    filename,
    dir,
  };
}

/** How a compiled YAML script's code starts; `definitionOf` reads the definition back. */
const DEFINITION_PREFIX = 'const DEFINITION = ';

/**
 * The checked definition inside a script compiled from YAML (such as a run's input carries), or
 * null for any other script.
 */
export function definitionOf(script: Pick<CompiledScript, 'code'>): CompiledDefinition | null {
  if (!script.code.startsWith(DEFINITION_PREFIX)) return null;
  const end = script.code.indexOf(';\n');
  try {
    return JSON.parse(script.code.slice(DEFINITION_PREFIX.length, end)) as CompiledDefinition;
  } catch {
    return null;
  }
}

/**
 * Reads and compiles a YAML workflow file.
 *
 * @throws ScriptError - At 1:1 when the file cannot be read, or wherever the definition is refused.
 */
export async function compileYamlWorkflowFile(
  path: string,
  options: CompileYamlOptions = {},
): Promise<CompiledScript> {
  const source = await readWorkflowSource(path, 'workflow');
  return compileYamlWorkflow(source, path, nodePath.dirname(nodePath.resolve(path)), options);
}
