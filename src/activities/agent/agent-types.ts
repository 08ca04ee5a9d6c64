import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../errors';
import { MODEL_ALIASES } from '../model-info';

/** A named agent definition in Claude Code's format (S403). */
export interface AgentDefinition {
  name: string;
  description: string;
  /** Tool names the type may use; null when the definition does not restrict them. */
  tools: string[] | null;
  /** The type's model, aliases expanded; null when it names none or says `inherit`. */
  model: string | null;
  /** The definition's body: the agent's system prompt. */
  systemPrompt: string;
  /** Where it was read from. */
  file: string;
}

/** Claude Code's model aliases in agent definitions, mapped to current model ids. */
export { MODEL_ALIASES };

/**
 * The folders searched for `<name>.md` definitions, first match wins: the project's own weft
 * folder, then Claude Code's, then the person's (S403).
 */
export function agentDirs(cwd: string, home: string): string[] {
  return [
    path.join(cwd, '.weft', 'agents'),
    path.join(cwd, '.claude', 'agents'),
    path.join(home, '.weft', 'agents'),
  ];
}

const FRONTMATTER = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)([\s\S]*)$/;

/** Tool names as written in a definition: `Read, Grep`, a YAML list, or Claude Code's `Bash(git:*)` rules. */
function parseTools(value: unknown, file: string): string[] | null {
  if (value === undefined || value === null) return null;
  let items: unknown[];
  if (typeof value === 'string') items = value.split(',');
  else if (Array.isArray(value)) items = value;
  else throw new ConfigError(`${file}: "tools" must be a comma-separated string or a list of tool names`);
  const names = items.map((item) => {
    if (typeof item !== 'string') throw new ConfigError(`${file}: every entry of "tools" must be a string`);
    // A permission rule such as Bash(git:*) grants the tool; weft does not narrow it further.
    return item
      .trim()
      .replace(/\(.*\)$/, '')
      .trim();
  });
  return [...new Set(names.filter((n) => n !== '' && n !== '*'))];
}

function parseModel(value: unknown, file: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.trim() === '')
    throw new ConfigError(`${file}: "model" must be a string`);
  const model = value.trim();
  if (model === 'inherit') return null;
  return MODEL_ALIASES[model] ?? model;
}

/**
 * Reads one definition file: YAML frontmatter (`name`, `description`, `tools`, `model`) between
 * `---` lines, then the system prompt. A file without a `name` is named after itself.
 *
 * @throws ConfigError when the frontmatter is missing or malformed.
 */
export function parseAgentDefinition(text: string, file: string): AgentDefinition {
  const match = FRONTMATTER.exec(text);
  if (!match)
    throw new ConfigError(`${file}: an agent definition starts with YAML frontmatter between --- lines`);
  let front: unknown;
  try {
    front = parseYaml(match[1] ?? '');
  } catch (err) {
    throw new ConfigError(`${file}: frontmatter is not valid YAML: ${(err as Error).message}`);
  }
  const meta = (front ?? {}) as Record<string, unknown>;
  if (typeof meta !== 'object' || Array.isArray(meta))
    throw new ConfigError(`${file}: frontmatter must be a mapping`);
  const name = meta.name === undefined ? path.basename(file, '.md') : meta.name;
  if (typeof name !== 'string' || name.trim() === '')
    throw new ConfigError(`${file}: "name" must be a string`);
  return {
    name: name.trim(),
    description: typeof meta.description === 'string' ? meta.description.trim() : '',
    tools: parseTools(meta.tools, file),
    model: parseModel(meta.model, file),
    systemPrompt: (match[2] ?? '').trim(),
    file,
  };
}

async function definitionsIn(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.md'))
    .map((e) => path.join(dir, e.name))
    .sort();
}

/**
 * Finds the definition of an agent type by name (S403). Files whose frontmatter cannot be read are
 * skipped unless they are the only candidate by file name, so one broken file does not hide the
 * others.
 *
 * @throws ConfigError (non-retryable) when no folder defines the type.
 */
export async function findAgentType(
  name: string,
  where: { cwd: string; home: string },
): Promise<AgentDefinition> {
  const dirs = agentDirs(where.cwd, where.home);
  const known: string[] = [];
  for (const dir of dirs) {
    for (const file of await definitionsIn(dir)) {
      const text = await fs.readFile(file, 'utf8').catch(() => null);
      if (text === null) continue;
      let definition: AgentDefinition;
      try {
        definition = parseAgentDefinition(text, file);
      } catch (err) {
        if (path.basename(file, '.md') === name) throw err;
        continue;
      }
      if (definition.name === name) return definition;
      known.push(definition.name);
    }
  }
  const list = known.length > 0 ? `; known types: ${[...new Set(known)].sort().join(', ')}` : '';
  throw new ConfigError(
    `unknown agentType "${name}": no definition with that name in ${dirs.join(', ')}${list}`,
  );
}
