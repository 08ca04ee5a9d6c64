import { promises as fs } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { SEARCH_IGNORES } from './glob';
import { openFileInside, realInside, resolveInside } from './paths';
import { looksBinary } from './read';
import type { AgentTool, ToolContext } from './tool-types';
import { ToolError } from './tool-types';

/** Characters of output at most, whatever head_limit says. */
export const GREP_MAX_OUTPUT_CHARS = 30_000;
/** Files larger than this are skipped, as rg skips what it cannot search usefully. */
const GREP_MAX_FILE_BYTES = 10 * 1024 * 1024;

/** File extensions of ripgrep's most used `--type` names. */
const TYPES: Record<string, string[]> = {
  js: ['js', 'jsx', 'mjs', 'cjs'],
  ts: ['ts', 'tsx', 'mts', 'cts'],
  py: ['py', 'pyi'],
  rust: ['rs'],
  go: ['go'],
  java: ['java'],
  c: ['c', 'h'],
  cpp: ['cpp', 'cc', 'cxx', 'hpp', 'hh', 'hxx', 'h'],
  rb: ['rb'],
  php: ['php'],
  sh: ['sh', 'bash', 'zsh'],
  json: ['json'],
  yaml: ['yaml', 'yml'],
  toml: ['toml'],
  md: ['md', 'markdown'],
  html: ['html', 'htm'],
  css: ['css', 'scss', 'less'],
  sql: ['sql'],
  kotlin: ['kt', 'kts'],
  swift: ['swift'],
  cs: ['cs'],
};

type OutputMode = 'content' | 'files_with_matches' | 'count';

interface GrepOptions {
  regex: RegExp;
  mode: OutputMode;
  lineNumbers: boolean;
  before: number;
  after: number;
  multiline: boolean;
}

function intOf(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, Math.floor(value)) : fallback;
}

async function filesToSearch(
  base: string,
  input: Record<string, unknown>,
  ctx: ToolContext,
): Promise<string[]> {
  const stat = await fs.stat(base).catch(() => null);
  if (!stat) throw new ToolError(`path does not exist: ${String(input.path)}`);
  if (stat.isFile()) return [base];
  let exts: string[] | null = null;
  if (typeof input.type === 'string' && input.type !== '') {
    exts = TYPES[input.type] ?? null;
    if (!exts) throw new ToolError(`unknown type "${input.type}"; known: ${Object.keys(TYPES).join(', ')}`);
  }
  let pattern = '**/*';
  if (typeof input.glob === 'string' && input.glob !== '') {
    // As in rg, a glob without a slash matches file names at any depth.
    pattern = input.glob.includes('/') ? input.glob : `**/${input.glob}`;
  }
  const matches = await fg(pattern, {
    cwd: base,
    onlyFiles: true,
    followSymbolicLinks: false,
    suppressErrors: true,
    ignore: SEARCH_IGNORES,
    absolute: true,
  });
  const wanted = matches.filter((f) => exts === null || exts.includes(path.extname(f).slice(1)));
  // fast-glob follows a symlinked folder that the glob names literally ("link-dir/**"): only files
  // whose real path is inside are searched.
  const inside = await Promise.all(
    wanted.map(async (f) => ((await realInside(ctx.cwd, f)) ? path.normalize(f) : null)),
  );
  return inside.filter((f) => f !== null).sort();
}

/**
 * A file's bytes for searching, read race-free from a checked descriptor ({@link openFileInside}),
 * or null when it is to be skipped: outside, hard-linked, not a regular file, too large or binary.
 */
async function readSearchable(cwd: string, file: string): Promise<{ buf: Buffer; stat: Stats } | null> {
  const opened = await openFileInside(cwd, file).catch(() => null);
  if (!opened) return null;
  try {
    if (!opened.stat.isFile() || opened.stat.size > GREP_MAX_FILE_BYTES) return null;
    const buf = await opened.handle.readFile();
    return looksBinary(buf) ? null : { buf, stat: opened.stat };
  } catch {
    return null;
  } finally {
    await opened.handle.close();
  }
}

/** Line numbers (0-based) each match of the file covers; one entry per matching line. */
function matchingLines(text: string, lines: string[], opts: GrepOptions): number[] {
  if (!opts.multiline) {
    const hits: number[] = [];
    lines.forEach((line, i) => {
      opts.regex.lastIndex = 0;
      if (opts.regex.test(line)) hits.push(i);
    });
    return hits;
  }
  const starts: number[] = [];
  let offset = 0;
  for (const line of lines) {
    starts.push(offset);
    offset += line.length + 1;
  }
  const lineAt = (index: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const hits = new Set<number>();
  const global = new RegExp(
    opts.regex.source,
    opts.regex.flags.includes('g') ? opts.regex.flags : `${opts.regex.flags}g`,
  );
  for (const m of text.matchAll(global)) {
    const first = lineAt(m.index);
    const last = lineAt(m.index + Math.max(0, m[0].length - 1));
    for (let i = first; i <= last; i++) hits.add(i);
    if (m[0].length === 0) break;
  }
  return [...hits].sort((a, b) => a - b);
}

/** Output lines of one file in content mode, with context, in grep's `path:n:text` / `path-n-text` form. */
function contentLines(file: string, lines: string[], hits: number[], opts: GrepOptions): string[] {
  const out: string[] = [];
  const hitSet = new Set(hits);
  let lastShown = -2;
  for (const hit of hits) {
    const from = Math.max(0, hit - opts.before);
    const to = Math.min(lines.length - 1, hit + opts.after);
    if (lastShown >= 0 && from > lastShown + 1 && (opts.before > 0 || opts.after > 0)) out.push('--');
    for (let i = Math.max(from, lastShown + 1); i <= to; i++) {
      const sep = hitSet.has(i) ? ':' : '-';
      out.push(opts.lineNumbers ? `${file}${sep}${i + 1}${sep}${lines[i]}` : `${file}${sep}${lines[i]}`);
      lastShown = i;
    }
  }
  return out;
}

/**
 * Claude Code's Grep: a regular-expression search over the working directory, in ripgrep's output
 * shapes. It is implemented in JavaScript (JS regular expressions), so it needs no binary and
 * behaves the same on every worker; .git and node_modules are skipped, binary files too.
 */
export const grepTool: AgentTool = {
  name: 'Grep',
  description:
    'Searches file contents with a regular expression (JavaScript syntax) under path (a file or folder; ' +
    'default: the working directory). Filter files with glob (e.g. "*.ts") or type (e.g. "js", "py"). ' +
    'output_mode: "files_with_matches" (default) lists matching files, "content" shows matching lines ' +
    '(-n line numbers, -A/-B/-C context), "count" gives matches per file. -i ignores case; multiline lets ' +
    'a pattern span lines ("." matches newlines). head_limit and offset page through the results.',
  inputSchema: {
    type: 'object',
    properties: {
      pattern: { type: 'string', description: 'The regular expression to search for' },
      path: { type: 'string', description: 'File or folder to search; defaults to the working directory' },
      glob: { type: 'string', description: 'Glob that file names must match, e.g. "*.js" or "src/**/*.tsx"' },
      type: { type: 'string', description: 'File type to search, e.g. js, ts, py, rust, go, java' },
      output_mode: {
        type: 'string',
        enum: ['content', 'files_with_matches', 'count'],
        description: 'What to show; default files_with_matches',
      },
      '-i': { type: 'boolean', description: 'Case-insensitive search' },
      '-n': { type: 'boolean', description: 'Show line numbers (content mode; default true)' },
      '-A': { type: 'integer', minimum: 0, description: 'Lines to show after each match (content mode)' },
      '-B': { type: 'integer', minimum: 0, description: 'Lines to show before each match (content mode)' },
      '-C': {
        type: 'integer',
        minimum: 0,
        description: 'Lines to show before and after each match (content mode)',
      },
      multiline: { type: 'boolean', description: 'Let the pattern span lines; "." matches newlines' },
      head_limit: { type: 'integer', minimum: 1, description: 'Show only the first N lines or entries' },
      offset: { type: 'integer', minimum: 0, description: 'Skip the first N lines or entries' },
    },
    required: ['pattern'],
    additionalProperties: false,
  },
  async run(input, ctx) {
    const base = input.path === undefined ? ctx.cwd : await resolveInside(ctx.cwd, input.path, 'path');
    const multiline = input.multiline === true;
    let regex: RegExp;
    try {
      regex = new RegExp(String(input.pattern), `${input['-i'] === true ? 'i' : ''}${multiline ? 'ms' : ''}`);
    } catch (err) {
      throw new ToolError(`invalid regular expression: ${(err as Error).message}`);
    }
    const context = intOf(input['-C'], 0);
    const opts: GrepOptions = {
      regex,
      mode: (input.output_mode as OutputMode | undefined) ?? 'files_with_matches',
      lineNumbers: input['-n'] !== false,
      before: intOf(input['-B'], context),
      after: intOf(input['-A'], context),
      multiline,
    };
    const files = await filesToSearch(base, input, ctx);
    const entries: string[] = [];
    const matchedFiles: Array<{ file: string; mtimeMs: number }> = [];
    for (const [i, file] of files.entries()) {
      if (ctx.signal.aborted) throw new ToolError('search cancelled');
      if (i % 200 === 0) ctx.heartbeat();
      const read = await readSearchable(ctx.cwd, file);
      if (!read) continue;
      const { buf, stat } = read;
      const text = buf.toString('utf8');
      const lines = text.split(/\r?\n/);
      const hits = matchingLines(text, lines, opts);
      if (hits.length === 0) continue;
      if (opts.mode === 'files_with_matches') matchedFiles.push({ file, mtimeMs: stat.mtimeMs });
      else if (opts.mode === 'count') entries.push(`${file}:${hits.length}`);
      else entries.push(...contentLines(file, lines, hits, opts));
    }
    if (opts.mode === 'files_with_matches') {
      // rg sorts by path; Claude Code shows the most recently modified first.
      matchedFiles.sort((a, b) => b.mtimeMs - a.mtimeMs || a.file.localeCompare(b.file));
      entries.push(...matchedFiles.map((m) => m.file));
    }
    if (entries.length === 0) return 'No matches found';
    const skip = intOf(input.offset, 0);
    const limit = typeof input.head_limit === 'number' ? input.head_limit : Infinity;
    const page = entries.slice(skip, skip + limit);
    let out = page.join('\n');
    if (out.length > GREP_MAX_OUTPUT_CHARS) {
      out = `${out.slice(0, GREP_MAX_OUTPUT_CHARS)}\n… (output cut at ${GREP_MAX_OUTPUT_CHARS} characters; narrow the search or use head_limit)`;
    } else if (skip + page.length < entries.length) {
      out += `\n(${entries.length - skip - page.length} more; raise offset to see them)`;
    }
    return opts.mode === 'files_with_matches' ? `Found ${matchedFiles.length} file(s)\n${out}` : out;
  },
};
