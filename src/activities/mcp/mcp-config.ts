import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors';

/** A server started as a child process, speaking MCP over its stdin and stdout. */
export interface StdioServerConfig {
  type: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** A server reached over MCP's streamable HTTP transport, or the older SSE one. */
export interface HttpServerConfig {
  type: 'http' | 'sse';
  url: string;
  headers: Record<string, string>;
}

/** One entry of `mcpServers`, with `${VAR}` references already expanded. */
export type McpServerConfig = StdioServerConfig | HttpServerConfig;

/** A server weft knows by name, or the one-line reason its configuration cannot be used. */
export interface McpServerEntry {
  name: string;
  /** The file it came from, for messages. */
  source: string;
  config: McpServerConfig | null;
  /** Why `config` is null: a missing variable, a wrong field. */
  problem: string | null;
  /** Values that came from the environment, which error messages must never show. */
  secrets: string[];
}

/** The file Claude Code reads a project's MCP servers from, at the project's root. */
export const PROJECT_MCP_FILE = '.mcp.json';

/**
 * Server names become part of tool names (`mcp__<server>__<tool>`), which the API allows only
 * letters, digits, `_` and `-` in.
 */
const SERVER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Expands `${VAR}` and `${VAR:-default}` as Claude Code does, from `env`. A variable that is unset
 * and has no default is a problem of the server, reported when an agent wants it.
 */
function expand(text: string, env: NodeJS.ProcessEnv, secrets: string[]): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_m, name: string, fallback?: string) => {
      const value = env[name];
      if (value !== undefined && value !== '') {
        secrets.push(value);
        return value;
      }
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`environment variable ${name} is not set`);
    },
  );
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`"${field}" must be an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new ConfigError(`"${field}.${k}" must be a string`);
    out[k] = v;
  }
  return out;
}

function parseServer(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  secrets: string[],
  baseDir: string,
): McpServerConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError('must be an object');
  const entry = raw as Record<string, unknown>;
  const x = (s: string): string => expand(s, env, secrets);
  const type = entry.type ?? (entry.url === undefined ? 'stdio' : 'http');
  if (type === 'stdio') {
    if (typeof entry.command !== 'string' || entry.command === '') {
      throw new ConfigError('"command" must be a non-empty string');
    }
    const args = entry.args ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
      throw new ConfigError('"args" must be a list of strings');
    }
    const envVars = Object.fromEntries(
      Object.entries(stringMap(entry.env, 'env')).map(([k, v]) => [k, x(v)]),
    );
    // A server's own variables are where tokens live, written out or not.
    secrets.push(...Object.values(envVars));
    const config: StdioServerConfig = {
      type: 'stdio',
      command: x(entry.command),
      args: args.map(x),
      env: envVars,
    };
    if (typeof entry.cwd === 'string') config.cwd = path.resolve(baseDir, x(entry.cwd));
    return config;
  }
  if (type === 'http' || type === 'sse' || type === 'streamable-http') {
    if (typeof entry.url !== 'string') throw new ConfigError('"url" must be a string');
    const url = x(entry.url);
    try {
      new URL(url);
    } catch {
      throw new ConfigError(`"url" is not a URL`);
    }
    const headers = Object.fromEntries(
      Object.entries(stringMap(entry.headers, 'headers')).map(([k, v]) => [k, x(v)]),
    );
    secrets.push(...Object.values(headers));
    return { type: type === 'sse' ? 'sse' : 'http', url, headers };
  }
  throw new ConfigError(`"type" must be stdio, http or sse, not ${JSON.stringify(type)}`);
}

/**
 * Reads one file in `.mcp.json` form (`{ "mcpServers": { name: {...} } }`). A file that is not
 * valid JSON or has no `mcpServers` object is a `ConfigError`; a single bad server is kept, with
 * its problem, so the other servers still work and the agent is told what is wrong.
 */
export function readMcpFile(file: string, env: NodeJS.ProcessEnv = process.env): McpServerEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${file}: ${code ? `cannot read it (${code})` : 'is not valid JSON'}`);
  }
  const servers = (parsed as { mcpServers?: unknown } | null)?.mcpServers;
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) {
    throw new ConfigError(`${file}: expected an object {"mcpServers": {...}}`);
  }
  return Object.entries(servers).map(([name, raw]) => {
    const secrets: string[] = [];
    if (!SERVER_NAME.test(name)) {
      return {
        name,
        source: file,
        config: null,
        problem: 'names may only use letters, digits, _ and -',
        secrets,
      };
    }
    try {
      return {
        name,
        source: file,
        config: parseServer(raw, env, secrets, path.dirname(file)),
        problem: null,
        secrets,
      };
    } catch (err) {
      return { name, source: file, config: null, problem: (err as Error).message, secrets };
    }
  });
}

/**
 * The servers an agent can use: the worker's `--mcp-config` files, then the project's `.mcp.json`
 * in the agent's working directory. A name defined twice keeps its first definition, so the
 * operator's configuration wins over a project's.
 */
export function loadMcpServers(
  options: { configFiles: readonly string[]; projectDir: string | null },
  env: NodeJS.ProcessEnv = process.env,
): McpServerEntry[] {
  const files = [...options.configFiles];
  if (options.projectDir) {
    const project = path.join(options.projectDir, PROJECT_MCP_FILE);
    try {
      readFileSync(project);
      files.push(project);
    } catch {
      // No project file: only the worker's servers.
    }
  }
  const byName = new Map<string, McpServerEntry>();
  for (const file of files) {
    for (const entry of readMcpFile(file, env)) if (!byName.has(entry.name)) byName.set(entry.name, entry);
  }
  return [...byName.values()];
}

/** Replaces every secret value in a message, so a server's error cannot carry one into history. */
export function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  // Longest first, so a secret containing another is replaced whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= 4) out = out.split(s).join('***');
  }
  return out;
}
