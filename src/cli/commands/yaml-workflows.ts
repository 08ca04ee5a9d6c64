/**
 * `weft workflow ...` in AgentOS's shape (S603) for YAML workflows (S601), and `weft approve` /
 * `weft reject` for approval gates (S602). Runs go through the same paths as `weft run`,
 * `weft watch` and `weft stop`; only the step-level views are new.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { parseAgentOverrides } from '../../agentos/agent-roles';
import { compileYamlWorkflowFile, definitionOf, isYamlPath } from '../../agentos/compile-yaml';
import { yamlRunStatus } from '../../client/yaml-runs';
import type { StepStatus, YamlRunStatus } from '../../client/yaml-runs';
import { WeftClient } from '../../client/weft-client';
import { listSavedWorkflows } from '../../workflow-files/saved-workflows';
import { BUNDLED_WORKFLOWS_DIR, loadConfig } from '../../config';
import { ConfigError } from '../../errors';
import type { ApprovalRecord } from '../../types';
import { EXIT, printJson, stderr, stdoutText } from '../command-context';
import type { CommandContext } from '../command-context';
import { parseArgsOption } from '../parse-options';
import { addRunFlags, loadTarget, startOptions } from '../run-helpers';
import type { RunFlags } from '../run-helpers';
import { runCompiled, waitForRun } from './run';
import { writeSavedWorkflow } from './workflows';

async function withClient<T>(fn: (client: WeftClient) => Promise<T>): Promise<T> {
  const client = await WeftClient.connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** `--format json|text`. */
function parseFormat(raw: string): 'json' | 'text' {
  if (raw !== 'json' && raw !== 'text') throw new InvalidArgumentError(`expected json or text, got "${raw}"`);
  return raw;
}

/** `--input JSON|@file.json`: the run's input, which YAML templates read as variables (S603). */
function parseInput(raw: string): unknown {
  try {
    return parseArgsOption(raw);
  } catch (err) {
    throw new InvalidArgumentError(
      (err as Error).message.replace('--args', '--input').replace("--args '", "--input '"),
    );
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const ICONS: Record<StepStatus['status'], string> = {
  pending: '·',
  running: '…',
  waiting: '⏸',
  completed: '✓',
  skipped: '⊘',
  failed: '✗',
};

/** The step table of `weft workflow status` for people. */
export function formatStepStatus(run: YamlRunStatus): string[] {
  const lines = [`${run.runId}  ${run.workflow}  ${run.status}${run.error ? ` — ${run.error}` : ''}`];
  const width = Math.max(4, ...run.steps.map((s) => s.name.length));
  for (const s of run.steps) {
    const counts =
      s.attempts === 0
        ? ''
        : `${s.attempts} attempt${s.attempts === 1 ? '' : 's'}` +
          (s.mode === 'loop' ? `, ${s.iterations} iteration${s.iterations === 1 ? '' : 's'}` : '') +
          (s.items !== undefined
            ? `, ${s.items} items${s.failedItems ? ` (${s.failedItems} failed)` : ''}`
            : '');
    const state = s.status === 'waiting' ? 'waiting for approval' : s.status;
    const extra = s.error
      ? ` — ${s.error}`
      : s.approval?.approved
        ? ` — approved${s.approval.by ? ` by ${s.approval.by}` : ''}`
        : '';
    lines.push(
      `  ${ICONS[s.status]} ${s.name.padEnd(width)}  ${s.mode.padEnd(11)}  ${state}${counts ? `  ${counts}` : ''}${extra}`,
    );
  }
  for (const a of run.waiting) {
    lines.push(
      `waiting for approval of step "${a.step}"${a.message ? `: ${a.message}` : ''}`,
      `  approve: weft approve ${run.runId} --step ${JSON.stringify(a.step)}   reject: weft reject ${run.runId} --step ${JSON.stringify(a.step)}`,
    );
  }
  return lines;
}

function outputText(value: unknown): string {
  if (value === null || value === undefined) return '(none)';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/** `weft workflow results` for people: each step's status and output. */
export function formatStepResults(run: YamlRunStatus): string[] {
  const lines = [`${run.runId}  ${run.workflow}  ${run.status}${run.error ? ` — ${run.error}` : ''}`];
  if (run.outputs === null) lines.push('(the run has not ended: outputs are reported once it does)');
  for (const s of run.steps) {
    lines.push('', `${ICONS[s.status]} ${s.name} → ${s.outputVar}  (${s.status})`);
    if (run.outputs !== null && s.status !== 'pending') {
      lines.push(
        ...outputText(run.outputs[s.outputVar])
          .split('\n')
          .map((l) => `    ${l}`),
      );
    }
    if (s.error) lines.push(`    error: ${s.error}`);
  }
  return lines;
}

interface WorkflowRunFlags extends RunFlags {
  input?: unknown;
  agent?: string[];
  detach?: boolean;
}

async function runWorkflow(target: string, flags: WorkflowRunFlags): Promise<number> {
  if (flags.input !== undefined && flags.args !== undefined) {
    throw new ConfigError('give the input once: --input or --args, not both');
  }
  const cwd = path.resolve(flags.cwd ?? process.cwd());
  const overrides = parseAgentOverrides(flags.agent ?? []);
  const script = await loadTarget(target, cwd, overrides);
  const runFlags: RunFlags = { ...flags, ...(flags.input === undefined ? {} : { args: flags.input }) };
  if (!flags.detach) return runCompiled(script, runFlags);
  return withClient(async (client) => {
    const runId = await client.start(script, startOptions(runFlags, cwd));
    if (flags.json) printJson({ runId });
    else process.stdout.write(`${runId}\n`);
    return EXIT.completed;
  });
}

function decisionAction(approved: boolean, ctx: CommandContext) {
  return async (runId: string, flags: { step?: string; comment?: string; by?: string; json?: boolean }) => {
    const by = flags.by ?? (process.env.USER || os.userInfo().username);
    const record: ApprovalRecord = await withClient((client) =>
      client.approve(runId, {
        approved,
        by,
        ...(flags.step === undefined ? {} : { step: flags.step }),
        ...(flags.comment === undefined ? {} : { comment: flags.comment }),
      }),
    );
    if (flags.json) printJson(record);
    else stderr(`run ${runId}: step "${record.step}" ${record.status}${record.by ? ` by ${record.by}` : ''}`);
    ctx.setCode(EXIT.completed);
  };
}

/** Registers `weft workflow create|list|run|status|watch|results|cancel`, `weft approve` and `weft reject`. */
export function registerYamlWorkflowCommands(program: Command, ctx: CommandContext): void {
  const group = program
    .command('workflow')
    .description('AgentOS-style YAML workflows: create, list, run, status, watch, results, cancel');

  group
    .command('create')
    .description('check a YAML workflow and save it as .weft/workflows/<id>.yaml (--validate: check only)')
    .argument('<file.yaml>', 'a YAML workflow definition')
    .option('--validate', 'only check the definition; save nothing')
    .option('--force', 'replace a saved workflow with the same id')
    .option('--json', 'print {ok, id, name, steps, path?} as JSON')
    .action(async (file: string, flags: { validate?: boolean; force?: boolean; json?: boolean }) => {
      if (!isYamlPath(file))
        throw new ConfigError(`weft workflow create takes a .yaml or .yml file, got ${file}`);
      const cwd = process.cwd();
      const script = await compileYamlWorkflowFile(path.resolve(cwd, file));
      const definition = definitionOf(script);
      const summary = {
        ok: true,
        id: script.meta.name,
        name: definition?.name,
        steps: definition?.steps.length ?? 0,
      };
      if (flags.validate) {
        if (flags.json) printJson(summary);
        else
          stderr(
            `ok: ${summary.id} (${summary.name}), ${summary.steps} step${summary.steps === 1 ? '' : 's'}`,
          );
        ctx.setCode(EXIT.completed);
        return;
      }
      const source = await fsp.readFile(path.resolve(cwd, file), 'utf8');
      const saved = await writeSavedWorkflow(cwd, script.meta.name, source, {
        force: flags.force ?? false,
        ext: '.yaml',
      });
      if (flags.json) printJson({ ...summary, path: saved });
      else
        stderr(
          `saved ${summary.id} as ${path.relative(cwd, saved)}: run it with \`weft workflow run ${summary.id}\``,
        );
      ctx.setCode(EXIT.completed);
    });

  group
    .command('list')
    .description('list saved workflows, YAML and JS: project, personal, bundled')
    .option('--format <format>', 'json or text (default text)', parseFormat)
    .action(async (flags: { format?: 'json' | 'text' }) => {
      const { workflows, broken } = await listSavedWorkflows({
        cwd: process.cwd(),
        home: loadConfig().home,
        bundledDir: BUNDLED_WORKFLOWS_DIR,
      });
      if (flags.format === 'json') printJson({ workflows, broken });
      else {
        if (workflows.length === 0) stderr('no saved workflows');
        const width = Math.max(2, ...workflows.map((w) => w.name.length));
        if (workflows.length > 0)
          stdoutText(
            workflows.map(
              (w) =>
                `${w.name.padEnd(width)}  ${w.kind.padEnd(6)}  ${w.origin.padEnd(8)}  ${w.description.replace(/\s+/g, ' ')}`,
            ),
          );
        for (const b of broken) stderr(`broken: ${b.error}`);
      }
      ctx.setCode(EXIT.completed);
    });

  addRunFlags(
    group
      .command('run')
      .description(
        'run a YAML workflow (saved id or file) and wait for it; --detach returns the run id at once',
      )
      .argument('<id|file.yaml>', 'a saved workflow id, or a path to a YAML workflow'),
  )
    .option('--input <json|@file>', 'the workflow input: JSON, or @path to a JSON file', parseInput)
    .option('--agent <role=type>', 'run the role as this agent type (.claude/agents); repeatable', collect)
    .option('--detach', 'submit the run and print its id; `weft worker` processes execute it')
    .option('--no-worker', 'do not run an embedded worker; rely on `weft worker` processes')
    .action(async (target: string, flags: WorkflowRunFlags) => ctx.setCode(await runWorkflow(target, flags)));

  group
    .command('status')
    .description("a run's steps: pending, running, waiting for approval, completed, skipped or failed")
    .argument('<runId>')
    .option('--format <format>', 'json or text (default text)', parseFormat)
    .action(async (runId: string, flags: { format?: 'json' | 'text' }) => {
      const run = await withClient((client) => yamlRunStatus(client, runId));
      if (flags.format === 'json') printJson(run);
      else stdoutText(formatStepStatus(run));
      ctx.setCode(EXIT.completed);
    });

  group
    .command('watch')
    .description("attach the live view to a run; exits with the run's code when it ends")
    .argument('<runId>')
    .option('--json', 'print the final summary as one JSON object on stdout')
    .action(async (runId: string, flags: { json?: boolean }) => {
      // Fails fast for an unknown run, before any view is drawn.
      await withClient((client) => client.describeRun(runId));
      ctx.setCode(await waitForRun(runId, { json: flags.json ?? false, follow: true }));
    });

  group
    .command('results')
    .description("each step's status and output (outputVar)")
    .argument('<runId>')
    .option('--format <format>', 'json or text (default text)', parseFormat)
    .action(async (runId: string, flags: { format?: 'json' | 'text' }) => {
      const run = await withClient((client) => yamlRunStatus(client, runId));
      if (flags.format === 'json') {
        const { runId: id, workflow, status, outputs, steps, error } = run;
        printJson({ runId: id, workflow, status, outputs, steps, error });
      } else stdoutText(formatStepResults(run));
      ctx.setCode(EXIT.completed);
    });

  group
    .command('cancel')
    .description('cancel a run: running agents are cancelled and the run ends as cancelled')
    .argument('<runId>')
    .action(async (runId: string) => {
      await withClient(async (client) => {
        await client.describeRun(runId);
        await client.stop(runId);
      });
      stderr(`run ${runId}: cancel requested`);
      ctx.setCode(EXIT.completed);
    });

  for (const [name, approved] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    program
      .command(name)
      .description(`${name} a step waiting for approval (approval: sync, or approval() in a script)`)
      .argument('<runId>')
      .option('--step <name>', 'the waiting step (needed only when several wait)')
      .option('--comment <text>', 'recorded with the decision')
      .option('--by <name>', 'who decides (default: $USER)')
      .option('--json', 'print the decided approval as JSON')
      .action(decisionAction(approved, ctx));
  }
}
