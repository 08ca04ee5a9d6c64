/**
 * `generateWorkflowDraft()` (S703): an agent, run durably like any task, writes a weft workflow
 * script for a task; weft's own compiler checks it before anyone runs it. Drafts are plans, never
 * executed here.
 */
import { parse } from '@babel/parser';
import type * as t from '@babel/types';
import { compileScript } from '../compiler/compile-script';
import { ScriptError } from '../errors';
import type { JsonSchema, PhaseSpec, ScriptMeta } from '../types';
import { Agent } from './agent';
import { runWorkflow } from './run-workflow';
import type { RunWorkflowOptions, WorkflowUsage } from './types';
import { workflow } from './workflow';
import { workflowTask } from './workflow-task';

/** More agents than this in one draft earn a warning, as `weft run` gives one (S505). */
const MANY_AGENTS = 25;

/**
 * The file name the compiler's errors give a draft.
 * @example
 * ```ts
 * checkWorkflowDraft(source).error?.file === DRAFT_FILENAME; // 'workflow-draft.js'
 * ```
 */
export const DRAFT_FILENAME = 'workflow-draft.js';

/**
 * What the drafting agent answers with.
 * @example
 * ```ts
 * workflowTask({ id: 'draft', agent: drafter, input: draftPrompt(task, {}), schema: DRAFT_SCHEMA });
 * ```
 */
export const DRAFT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['script'],
  properties: {
    script: { type: 'string', description: 'the complete workflow script, plain JavaScript' },
    estimatedTasks: {
      type: 'integer',
      minimum: 0,
      description: 'agents the script will start for typical args',
    },
    notes: { type: 'string', description: 'assumptions and anything the reviewer should check' },
  },
};

/** Patterns the drafter knows by name, with how they look in a weft script. */
const PATTERN_HINTS: Readonly<Record<string, string>> = {
  'fan-out-and-synthesize':
    'fan out one agent per item with parallel() or pipeline(), then one agent synthesizes all results',
  'adversarial-verification':
    'for each finding, independent agents try to refute it (schema {refuted, reason}); keep findings a majority could not refute',
  'generate-and-filter': 'several agents generate candidates; a filter agent accepts only the strong ones',
  tournament: 'several agents attempt the same task; a judge agent compares attempts pairwise until one wins',
  'loop-until-done':
    'repeat a round of agents in a while loop until a condition holds (e.g. two rounds find nothing new), with a bound',
};

const SCRIPT_GUIDE = `A weft workflow script is ONE plain JavaScript file (no TypeScript, no import, no require):
- It begins with \`export const meta = { name, description, phases: [{ title, detail }] }\`: a pure object
  literal (no variables, calls, spreads or template interpolation). name and description are required.
- Then top-level code with top-level await and return (the return value is the result), using these globals:
  agent(prompt, { label, phase, schema, model }) runs one subagent and resolves to its final text, or to the
  validated object when a JSON Schema (root type 'object') is given; it resolves to null when the agent fails.
  parallel([() => agent(...), ...]) takes functions, runs them concurrently, is a barrier, gives results in
  order (null for failures). pipeline(items, stage1, stage2, ...) runs each item through every stage with no
  barrier; each stage gets (prev, item, index). phase(title) groups later agents (titles match meta.phases
  exactly). log(message) adds a progress line. args is the input, verbatim JSON. budget.total / remaining().
- Date.now(), Math.random() and new Date() without arguments throw: take timestamps and seeds from args.
- Filter nulls with .filter(Boolean) before using results. Bound every loop.`;

/**
 * Options of `generateWorkflowDraft()`: what to ask for, and how to run the drafting agent (any
 * `runWorkflow()` option: client, taskQueue, budget, signal...).
 *
 * @example
 * ```ts
 * const options: WorkflowDraftOptions = { constraints: ['Preview before running'], patterns: ['adversarial-verification'] };
 * ```
 */
export interface WorkflowDraftOptions extends Omit<RunWorkflowOptions, 'resumeFrom' | 'onEvent'> {
  /** Rules the script must follow. */
  constraints?: readonly string[];
  /** Pattern names (seed 000's, e.g. `fan-out-and-synthesize`) the script should use. */
  patterns?: readonly string[];
  /** An example of the args the script will get, to shape its code. */
  exampleArgs?: unknown;
}

/**
 * A checked draft (S703). `valid: false` means weft's compiler refused the script; `error` and the
 * first warning carry its `file:line:col: reason`. Nothing in a draft has run.
 *
 * @example
 * ```ts
 * if (draft.valid) await writeFile('audit.js', draft.script);
 * else console.error(draft.error?.message);
 * ```
 */
export interface WorkflowDraft {
  valid: boolean;
  /** The script as the agent wrote it (a markdown fence around it removed). */
  script: string;
  /** `meta` when the script compiled. */
  meta: ScriptMeta | null;
  /** `meta.phases`, plus phases the code uses that meta does not declare. */
  phases: PhaseSpec[];
  /** Agents the script is expected to start. */
  estimatedTasks: number;
  warnings: string[];
  /** The compiler's refusal, when the script did not compile. */
  error: { message: string; file: string; line: number; column: number; reason: string } | null;
  /** The drafting agent's notes. */
  notes: string | null;
  /** The drafting run (a Stratus run of its own) in Temporal. */
  runId: string;
  usage: WorkflowUsage;
  totalCostUsd: number;
}

/**
 * The drafting agent's prompt.
 * @example
 * ```ts
 * const prompt = draftPrompt('Audit every route', { patterns: ['adversarial-verification'], constraints: ['Preview first'] });
 * ```
 */
export function draftPrompt(
  task: string,
  options: Pick<WorkflowDraftOptions, 'constraints' | 'patterns' | 'exampleArgs'>,
): string {
  const parts = [`Write a weft workflow script for this task:\n\n${task}`, SCRIPT_GUIDE];
  if (options.patterns?.length) {
    parts.push(
      `Use these patterns:\n${options.patterns.map((p) => `- ${p}${PATTERN_HINTS[p] ? `: ${PATTERN_HINTS[p]}` : ''}`).join('\n')}`,
    );
  }
  if (options.constraints?.length)
    parts.push(`Constraints:\n${options.constraints.map((c) => `- ${c}`).join('\n')}`);
  if (options.exampleArgs !== undefined)
    parts.push(`Example args:\n${JSON.stringify(options.exampleArgs, null, 2)}`);
  parts.push(
    'Answer with the complete script in `script` (no markdown fence), the number of agents it will start ' +
      'for typical args in `estimatedTasks`, and your assumptions in `notes`.',
  );
  return parts.join('\n\n');
}

/** The script without a markdown code fence around it. */
function unfence(script: string): { script: string; fenced: boolean } {
  const m = /^\s*```[\w-]*\s*\n([\s\S]*?)\n```\s*$/.exec(script);
  return m?.[1] !== undefined ? { script: m[1], fenced: true } : { script, fenced: false };
}

/** What the static reading of a compiled script finds: agent() call sites, and phase titles in use. */
interface ScriptShape {
  agentCalls: number;
  /** agent() calls inside a loop or a callback, whose count depends on the data. */
  repeatedCalls: number;
  phases: string[];
}

function readShape(script: string): ScriptShape {
  const program = parse(script, {
    sourceType: 'module',
    allowReturnOutsideFunction: true,
    allowAwaitOutsideFunction: true,
  }).program;
  const shape: ScriptShape = { agentCalls: 0, repeatedCalls: 0, phases: [] };
  const visit = (node: t.Node, repeated: boolean, topFunction: boolean): void => {
    let inner = repeated;
    switch (node.type) {
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement':
      case 'WhileStatement':
      case 'DoWhileStatement':
        inner = true;
        break;
      case 'ArrowFunctionExpression':
      case 'FunctionExpression':
        inner = true;
        break;
      case 'FunctionDeclaration':
        // `export default async function (...)` is the script body, not a callback.
        inner = topFunction ? repeated : true;
        break;
      case 'CallExpression': {
        const callee = node.callee;
        if (callee.type === 'Identifier' && callee.name === 'agent') {
          shape.agentCalls++;
          if (repeated) shape.repeatedCalls++;
          const opts = node.arguments[1];
          if (opts?.type === 'ObjectExpression') {
            for (const p of opts.properties) {
              if (
                p.type === 'ObjectProperty' &&
                p.key.type === 'Identifier' &&
                p.key.name === 'phase' &&
                p.value.type === 'StringLiteral'
              ) {
                shape.phases.push(p.value.value);
              }
            }
          }
        }
        if (
          callee.type === 'Identifier' &&
          callee.name === 'phase' &&
          node.arguments[0]?.type === 'StringLiteral'
        ) {
          shape.phases.push(node.arguments[0].value);
        }
        break;
      }
      default:
        break;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'loc' || key === 'leadingComments' || key === 'trailingComments') continue;
      const children = Array.isArray(value) ? value : [value];
      for (const child of children) {
        if (child && typeof child === 'object' && typeof (child as t.Node).type === 'string') {
          visit(child as t.Node, inner, node.type === 'ExportDefaultDeclaration');
        }
      }
    }
  };
  visit(program, false, false);
  return shape;
}

/**
 * Checks a script with weft's compiler and reads its phases and agent count, without running it.
 *
 * @example
 * ```ts
 * const checked = checkWorkflowDraft(source);
 * if (!checked.valid) console.error(checked.warnings[0]); // workflow-draft.js:3:1: ...
 * ```
 */
export function checkWorkflowDraft(
  source: string,
  modelEstimate: number | null = null,
): Pick<WorkflowDraft, 'valid' | 'script' | 'meta' | 'phases' | 'estimatedTasks' | 'warnings' | 'error'> {
  const { script, fenced } = unfence(source);
  const warnings: string[] = [];
  if (fenced) warnings.push('the agent wrapped the script in a markdown fence; it was removed');
  let meta: ScriptMeta;
  try {
    const compiled = compileScript(script, DRAFT_FILENAME, null);
    meta = compiled.meta;
    // A top-level require() compiles but always throws when the run starts (S103).
    for (const w of compiled.warnings ?? []) warnings.push(`${w.file}:${w.line}:${w.column}: ${w.message}`);
  } catch (err) {
    if (!(err instanceof ScriptError)) throw err;
    return {
      valid: false,
      script,
      meta: null,
      phases: [],
      estimatedTasks: modelEstimate ?? 0,
      warnings: [err.message, ...warnings, 'the draft does not compile: it cannot run until it is fixed'],
      error: { message: err.message, file: err.file, line: err.line, column: err.column, reason: err.reason },
    };
  }
  const shape = readShape(script);
  const phases: PhaseSpec[] = [...(meta.phases ?? [])];
  for (const title of shape.phases) {
    if (!phases.some((p) => p.title === title)) {
      phases.push({ title });
      warnings.push(`phase "${title}" is used but not declared in meta.phases`);
    }
  }
  if (shape.agentCalls === 0) warnings.push('the script never calls agent(): it starts no agents');
  let estimatedTasks = shape.agentCalls;
  if (modelEstimate !== null && modelEstimate > estimatedTasks) estimatedTasks = modelEstimate;
  if (shape.repeatedCalls > 0) {
    warnings.push(
      `${shape.repeatedCalls} of ${shape.agentCalls} agent() calls sit in loops or callbacks: the real number of ` +
        `agents depends on args (estimate ${estimatedTasks}); try it with \`weft run --dry-run\` first`,
    );
  }
  if (estimatedTasks > MANY_AGENTS)
    warnings.push(`about ${estimatedTasks} agents: more than ${MANY_AGENTS}, check the cost first`);
  return { valid: true, script, meta, phases, estimatedTasks, warnings, error: null };
}

/**
 * Has `agent` draft a weft workflow script for `task` (S703). The agent runs durably as a task of
 * a Stratus run of its own (`weft-workflow-draft`); its script is then checked by weft's compiler
 * and read statically for phases and an agent count. The draft is returned for review and never
 * run: save it and start it with `weft run` once a person has read it.
 *
 * @example
 * ```ts
 * const drafter = new Agent({ name: 'workflow-drafter', instructions: 'Design safe weft workflow scripts with clear phases and budgets.' });
 * const draft = await generateWorkflowDraft(drafter, 'Audit every API route for missing auth checks', {
 *   constraints: ['Preview the script before running', 'Use adversarial verification'],
 *   patterns: ['fan-out-and-synthesize', 'adversarial-verification'],
 * });
 * console.log(draft.valid, draft.phases, draft.estimatedTasks, draft.warnings);
 * console.log(draft.script);
 * ```
 */
export async function generateWorkflowDraft(
  agent: Agent,
  task: string,
  options: WorkflowDraftOptions = {},
): Promise<WorkflowDraft> {
  if (!(agent instanceof Agent))
    throw new TypeError('generateWorkflowDraft(agent, task) needs a new Agent({...})');
  if (typeof task !== 'string' || task.trim() === '')
    throw new TypeError('generateWorkflowDraft needs a task description');
  const { constraints, patterns, exampleArgs, ...runOptions } = options;
  const prompt = draftPrompt(task, { constraints, patterns, exampleArgs });
  const drafting = workflow({
    name: 'weft-workflow-draft',
    description: `Draft a workflow script: ${task.slice(0, 120)}`,
    run: async (ctx) => {
      const [result] = await ctx.phase('draft', [
        workflowTask({
          id: 'draft',
          name: `draft (${agent.name})`,
          agent,
          input: prompt,
          schema: DRAFT_SCHEMA,
        }),
      ]);
      return result?.output as { script?: unknown; estimatedTasks?: unknown; notes?: unknown } | null;
    },
  });
  const run = await runWorkflow(drafting, undefined, runOptions);
  const answer = run.output ?? {};
  const source = typeof answer.script === 'string' ? answer.script : '';
  const estimate =
    typeof answer.estimatedTasks === 'number' &&
    Number.isInteger(answer.estimatedTasks) &&
    answer.estimatedTasks >= 0
      ? answer.estimatedTasks
      : null;
  const checked = checkWorkflowDraft(source, estimate);
  return {
    ...checked,
    notes: typeof answer.notes === 'string' ? answer.notes : null,
    runId: run.runId,
    usage: run.usage,
    totalCostUsd: run.totalCostUsd,
  };
}
