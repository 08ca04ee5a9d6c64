/**
 * Saved workflows (S504) and how `workflow(nameOrRef)` finds a script (S211): project folders,
 * then the personal folder, then the workflows weft ships with.
 */
import { readdir, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';

import { isYamlPath } from '../agentos/compile-yaml';
import { ConfigError } from '../errors';
import { compileWorkflowFile } from './compile-workflow-file';

/** Where a saved workflow came from; earlier origins win a name clash. */
export type WorkflowOrigin = 'project' | 'personal' | 'bundled';

/** A saved workflow script that compiled, as listings show it. */
export interface SavedWorkflow {
  name: string;
  description: string;
  whenToUse?: string;
  /** Absolute path of the script. */
  path: string;
  origin: WorkflowOrigin;
  /** A JS workflow script, or an AgentOS-style YAML definition (S601). */
  kind: 'script' | 'yaml';
}

/** A saved workflow script that failed to compile, kept so listings can say why it is missing. */
export interface BrokenWorkflow {
  path: string;
  /** The compiler's message, `file:line:column: reason`. */
  error: string;
}

/** One folder searched for saved workflows. */
export interface SavedWorkflowDir {
  /** Absolute path. */
  dir: string;
  origin: WorkflowOrigin;
  /** How messages name the folder, e.g. `~/.weft/workflows`. */
  label: string;
}

/** Where to look for saved workflows. */
export interface SavedWorkflowOptions {
  /** The project folder. */
  cwd: string;
  /** The user's home folder. */
  home: string;
  /** The workflows shipped with weft, searched last. */
  bundledDir?: string;
}

/**
 * The folders searched for saved workflows, in priority order: `<cwd>/.weft/workflows`,
 * `<cwd>/.claude/workflows` (project), `<home>/.weft/workflows` (personal), then `bundledDir`.
 * A folder listed twice (e.g. cwd is home) appears once, with its first origin.
 */
export function savedWorkflowDirs(opts: SavedWorkflowOptions): SavedWorkflowDir[] {
  const candidates: SavedWorkflowDir[] = [
    { dir: nodePath.resolve(opts.cwd, '.weft', 'workflows'), origin: 'project', label: '.weft/workflows' },
    {
      dir: nodePath.resolve(opts.cwd, '.claude', 'workflows'),
      origin: 'project',
      label: '.claude/workflows',
    },
    {
      dir: nodePath.resolve(opts.home, '.weft', 'workflows'),
      origin: 'personal',
      label: '~/.weft/workflows',
    },
  ];
  if (opts.bundledDir !== undefined) {
    candidates.push({
      dir: nodePath.resolve(opts.bundledDir),
      origin: 'bundled',
      label: 'bundled workflows',
    });
  }
  const seen = new Set<string>();
  return candidates.filter((c) => !seen.has(c.dir) && seen.add(c.dir));
}

/**
 * Every `*.js` script and `*.yaml`/`*.yml` definition (S601) in the saved-workflow folders, by
 * `meta.name` (a definition's `id`). On a name clash the first
 * folder in priority order wins (project beats personal beats bundled); within a folder, the
 * alphabetically first file. Scripts that fail to compile are returned in `broken`.
 */
export async function listSavedWorkflows(
  opts: SavedWorkflowOptions,
): Promise<{ workflows: SavedWorkflow[]; broken: BrokenWorkflow[] }> {
  const workflows: SavedWorkflow[] = [];
  const broken: BrokenWorkflow[] = [];
  const names = new Set<string>();
  for (const { dir, origin } of savedWorkflowDirs(opts)) {
    for (const path of await scriptsIn(dir)) {
      let meta;
      try {
        ({ meta } = await compileWorkflowFile(path));
      } catch (err) {
        broken.push({ path, error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      if (names.has(meta.name)) continue;
      names.add(meta.name);
      const workflow: SavedWorkflow = {
        name: meta.name,
        description: meta.description,
        path,
        origin,
        kind: isYamlPath(path) ? 'yaml' : 'script',
      };
      if (meta.whenToUse !== undefined) workflow.whenToUse = meta.whenToUse;
      workflows.push(workflow);
    }
  }
  return { workflows, broken };
}

/**
 * Finds the script `workflow(ref)` or `weft run <name>` means, without compiling it (the caller
 * does, so an unreadable or broken script fails with its own ScriptError).
 *
 * A name resolves, folder by folder in priority order, to `<dir>/<name>.js`, `<name>.yaml` or
 * `<name>.yml`, else to a script in that folder whose `meta.name` (a definition's `id`) is the name. `{ scriptPath }` resolves against `callerDir`, or
 * `cwd` when the caller has no folder (an inline script); a leading `~/` means `home`.
 *
 * @returns An absolute path.
 * @throws ConfigError - For an unknown name or a ref that is neither a name nor `{ scriptPath }`.
 */
export async function resolveWorkflowRef(
  ref: string | { scriptPath: string },
  opts: SavedWorkflowOptions & { callerDir: string | null },
): Promise<string> {
  // The ref comes from a running script, so its type is only a hope.
  const raw: unknown = ref;
  if (typeof raw === 'object' && raw !== null && 'scriptPath' in raw) {
    const scriptPath: unknown = raw.scriptPath;
    if (typeof scriptPath !== 'string' || scriptPath === '') {
      throw new ConfigError('workflow({ scriptPath }) needs a non-empty string path');
    }
    if (scriptPath === '~' || scriptPath.startsWith('~/')) {
      return nodePath.resolve(opts.home, scriptPath.slice(2));
    }
    return nodePath.resolve(opts.callerDir ?? opts.cwd, scriptPath);
  }
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new ConfigError('workflow() takes a saved workflow name or { scriptPath: "..." }');
  }

  const name = raw;
  const dirs = savedWorkflowDirs(opts);
  // A name with a path separator would escape the folders; it can still match a meta.name.
  const plainFileName = !/[/\\]/.test(name) && name !== '.' && name !== '..';
  for (const { dir } of dirs) {
    if (plainFileName) {
      for (const ext of WORKFLOW_EXTENSIONS) {
        const candidate = nodePath.join(dir, `${name}${ext}`);
        if (await isFile(candidate)) return candidate;
      }
    }
    for (const path of await scriptsIn(dir)) {
      try {
        if ((await compileWorkflowFile(path)).meta.name === name) return path;
      } catch {
        // A broken script matches no name; listings report it.
      }
    }
  }
  throw new ConfigError(`unknown workflow "${name}": not found in ${dirs.map((d) => d.label).join(', ')}`);
}

/** File endings of saved workflows: JS scripts, then YAML definitions (S601). */
const WORKFLOW_EXTENSIONS = ['.js', '.yaml', '.yml'] as const;

/** Absolute paths of the saved-workflow files in `dir`, sorted; none when the folder is missing. */
async function scriptsIn(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const scripts: string[] = [];
  for (const entry of entries.sort()) {
    if (!WORKFLOW_EXTENSIONS.some((ext) => entry.endsWith(ext))) continue;
    const path = nodePath.join(dir, entry);
    // stat, not the dirent, so symlinked scripts count.
    if (await isFile(path)) scripts.push(path);
  }
  return scripts;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
