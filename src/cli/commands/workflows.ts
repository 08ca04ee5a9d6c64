import { constants as fsConstants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { parse } from '@babel/parser';
import type { Command } from 'commander';
import { readRunHistory } from '../../storage/run-history';
import { WeftClient } from '../../client/weft-client';
import { isYamlPath } from '../../agentos/compile-yaml';
import { compileScript } from '../../compiler/compile-script';
import { compileWorkflowFile } from '../../workflow-files/compile-workflow-file';
import { listSavedWorkflows } from '../../workflow-files/saved-workflows';
import type { SavedWorkflow } from '../../workflow-files/saved-workflows';
import { BUNDLED_WORKFLOWS_DIR, loadConfig } from '../../config';
import { ConfigError } from '../../errors';
import type { CompiledScript } from '../../types';
import { DEFAULT_EXPORT_BINDING } from '../../workflows/script-globals';
import { EXIT, printJson, stderr, stdoutText } from '../command-context';
import type { CommandContext } from '../command-context';

const MAIN = DEFAULT_EXPORT_BINDING.replace(/\s*=\s*$/, '');

function firstStatementStart(code: string): number | null {
  try {
    const program = parse(code, {
      sourceType: 'module',
      allowReturnOutsideFunction: true,
      allowAwaitOutsideFunction: true,
    }).program;
    return program.body[0]?.start ?? null;
  } catch {
    return null;
  }
}

/**
 * Recovers a script's source from its compiled form, as a run's input carries it (S301). The
 * compiler splices rather than regenerates, so its edits can be undone; each candidate is
 * compiled again and kept only if it gives back exactly the same code, so what is saved is
 * guaranteed to run as the run did. Returns null when no candidate round-trips.
 */
export function recoverSource(script: CompiledScript): string | null {
  let body = script.code;
  if (script.form === 'default-export') {
    const prefix = `let ${MAIN}; `;
    const suffix = /\n;return [A-Za-z_$][\w$]*\(\{[^}]*\}\);$/;
    if (!body.startsWith(prefix) || !suffix.test(body)) return null;
    body = body.slice(prefix.length).replace(suffix, '');
  }
  // Host names the compiler turned into throwing calls (S103) go back to their plain reads; the
  // round trip below proves the undo right.
  body = body
    .replace(/__weft_absent\("([A-Za-z_$][\w$]*)", "globalThis"\)/g, 'globalThis.$1')
    .replace(/__weft_absent\("([A-Za-z_$][\w$]*)"\)/g, '$1');
  const candidates: string[] = [];
  const metaStart = firstStatementStart(script.form === 'default-export' ? `${body}` : body);
  if (metaStart === null) return null;
  // `export` and the blanks after it became spaces before `const meta`.
  for (let k = 7; k <= metaStart && /^ +$/.test(body.slice(metaStart - k, metaStart)); k++) {
    candidates.push(`${body.slice(0, metaStart - k)}export${' '.repeat(k - 6)}${body.slice(metaStart)}`);
  }
  const results = script.form === 'default-export' ? candidates.flatMap(undoDefaultExport) : candidates;
  for (const source of results) {
    try {
      if (compileScript(source, script.filename, script.dir).code === script.code) return source;
    } catch {
      // Not this candidate.
    }
  }
  return null;
}

/** Puts `export default` back where the compiler bound the default export, and drops its `;`. */
function undoDefaultExport(source: string): string[] {
  const at = source.indexOf(DEFAULT_EXPORT_BINDING);
  if (at < 0) return [];
  const restored = `${source.slice(0, at)}export default${source.slice(at + DEFAULT_EXPORT_BINDING.length)}`;
  const out = [restored];
  try {
    const program = parse(restored, {
      sourceType: 'module',
      allowReturnOutsideFunction: true,
      allowAwaitOutsideFunction: true,
    }).program;
    const node = program.body.find((s) => s.type === 'ExportDefaultDeclaration');
    const end = node?.type === 'ExportDefaultDeclaration' ? node.declaration.end : null;
    if (typeof end === 'number' && restored[end] === ';')
      out.unshift(restored.slice(0, end) + restored.slice(end + 1));
  } catch {
    // The plain candidate is still tried.
  }
  return out;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

async function lstatOrNull(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Makes `dir` (one level under an existing real folder) unless it exists; refuses symlinks. */
async function realDir(dir: string): Promise<void> {
  let stat = await lstatOrNull(dir);
  if (stat === null) {
    await fsp.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    stat = await lstatOrNull(dir);
  }
  if (stat?.isSymbolicLink()) throw new ConfigError(`refusing to write through a symlink: ${dir}`);
  if (!stat?.isDirectory()) throw new ConfigError(`${dir} exists and is not a folder`);
}

/**
 * Writes a saved workflow at `<root>/.weft/workflows/<name><ext>` (S504; `ext` is `.js`, or
 * `.yaml` for a YAML definition, S603), refusing to write through
 * a symlink anywhere below `root`: `.weft`, `workflows` and the file itself are checked with
 * lstat, and the file is created with O_EXCL|O_NOFOLLOW (or renamed into place with `force`).
 */
export async function writeSavedWorkflow(
  root: string,
  name: string,
  source: string,
  options: { force?: boolean; ext?: '.js' | '.yaml' } = {},
): Promise<string> {
  if (!NAME.test(name)) {
    throw new ConfigError(`invalid workflow name "${name}": use letters, digits, dot, dash and underscore`);
  }
  const weftDir = path.join(root, '.weft');
  const dir = path.join(weftDir, 'workflows');
  await realDir(weftDir);
  await realDir(dir);
  const file = path.join(dir, `${name}${options.ext ?? '.js'}`);
  const existing = await lstatOrNull(file);
  if (existing?.isSymbolicLink()) throw new ConfigError(`refusing to write through a symlink: ${file}`);
  if (existing && !options.force) throw new ConfigError(`${file} exists: pass --force to replace it`);
  if (existing && !existing.isFile()) throw new ConfigError(`${file} exists and is not a file`);
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
  const target = existing ? path.join(dir, `.${name}.${process.pid}.tmp`) : file;
  const handle = await fsp.open(target, flags, 0o644);
  try {
    await handle.writeFile(source);
  } finally {
    await handle.close();
  }
  // rename replaces a path without following it, so a symlink planted meanwhile is replaced, not followed.
  if (target !== file) await fsp.rename(target, file);
  return file;
}

function looksLikeFile(target: string): boolean {
  return target.endsWith('.js') || isYamlPath(target) || target.includes('/') || target.includes(path.sep);
}

/** The source to save for `weft save <runId|script>`, with the script's compiled form. */
async function sourceFor(target: string, cwd: string): Promise<{ source: string; script: CompiledScript }> {
  const file = path.resolve(cwd, target);
  if (looksLikeFile(target) || (await lstatOrNull(file))?.isFile()) {
    const script = await compileWorkflowFile(file);
    return { source: await fsp.readFile(file, 'utf8'), script };
  }
  const client = await WeftClient.connect();
  try {
    const history = await readRunHistory(client.temporal, target);
    const script = history.input.script;
    const source = recoverSource(script);
    if (source === null) {
      throw new ConfigError(
        `cannot recover the source of run ${target} from its input; save the script file instead (it was ${script.filename})`,
      );
    }
    return { source, script };
  } finally {
    await client.close();
  }
}

function workflowLines(workflows: SavedWorkflow[]): string[] {
  const width = Math.max(4, ...workflows.map((w) => w.name.length));
  const lines: string[] = [];
  for (const w of workflows) {
    lines.push(`${w.name.padEnd(width)}  ${w.origin.padEnd(8)}  ${w.description}`);
    if (w.whenToUse) lines.push(`${' '.repeat(width + 12)}when: ${w.whenToUse}`);
  }
  return lines;
}

/** Registers `weft workflows` and `weft save` (S504). */
export function registerWorkflowCommands(program: Command, ctx: CommandContext): void {
  program
    .command('workflows')
    .description(
      'list saved workflows: project (.weft/workflows, .claude/workflows), personal (~/.weft/workflows), bundled',
    )
    .option('--json', 'print {workflows, broken} as JSON')
    .action(async (flags: { json?: boolean }) => {
      const { workflows, broken } = await listSavedWorkflows({
        cwd: process.cwd(),
        home: loadConfig().home,
        bundledDir: BUNDLED_WORKFLOWS_DIR,
      });
      if (flags.json) {
        printJson({ workflows, broken });
      } else {
        if (workflows.length === 0) stderr('no saved workflows');
        else stdoutText(workflowLines(workflows));
        for (const b of broken) stderr(`broken: ${b.error}`);
      }
      ctx.setCode(EXIT.completed);
    });

  program
    .command('save')
    .description(
      'save a script, or the script a run ran, as .weft/workflows/<name>.js so `weft run <name>` finds it',
    )
    .argument('<runId|script>', 'a run id, or a path to a .js workflow script')
    .option('--name <name>', "file name to save under (default: the script's meta.name)")
    .option('--force', 'replace an existing saved workflow of that name')
    .option('--json', 'print {name, path} as JSON')
    .action(async (target: string, flags: { name?: string; force?: boolean; json?: boolean }) => {
      const cwd = process.cwd();
      const { source, script } = await sourceFor(target, cwd);
      const name = (flags.name ?? script.meta.name).replace(/\.(js|ya?ml)$/, '');
      const ext = isYamlPath(target) ? '.yaml' : '.js';
      const file = await writeSavedWorkflow(cwd, name, source, { force: flags.force ?? false, ext });
      if (flags.json) printJson({ name, metaName: script.meta.name, path: file });
      else
        stderr(`saved ${script.meta.name} as ${path.relative(cwd, file)}: run it with \`weft run ${name}\``);
      ctx.setCode(EXIT.completed);
    });
}
