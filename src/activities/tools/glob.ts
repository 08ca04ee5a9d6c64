import path from 'node:path';
import fg from 'fast-glob';
import { realInside, resolveInside } from './paths';
import type { AgentTool } from './tool-types';
import { ToolError } from './tool-types';

/** Matches returned at most; a broad pattern in a big tree would otherwise flood the context. */
export const GLOB_MAX_RESULTS = 100;

/** Folders no search descends into: version control internals and installed packages. */
export const SEARCH_IGNORES = ['**/.git/**', '**/node_modules/**'];

/** Claude Code's Glob: files matching a pattern, most recently modified first. */
export const globTool: AgentTool = {
  name: 'Glob',
  description:
    'Finds files by glob pattern (e.g. "**/*.ts", "src/**/*.{js,json}") under path (default: the working ' +
    `directory). Returns absolute paths, most recently modified first, at most ${GLOB_MAX_RESULTS}. ` +
    '.git and node_modules are skipped.',
  inputSchema: {
    type: 'object',
    properties: {
      pattern: { type: 'string', description: 'The glob pattern to match files against' },
      path: { type: 'string', description: 'The folder to search in; defaults to the working directory' },
    },
    required: ['pattern'],
    additionalProperties: false,
  },
  async run(input, ctx) {
    const base = input.path === undefined ? ctx.cwd : await resolveInside(ctx.cwd, input.path, 'path');
    let pattern = String(input.pattern);
    if (path.isAbsolute(pattern)) {
      // An absolute pattern is fine when it points inside the working directory.
      const rel = path.relative(base, pattern);
      if (rel.startsWith('..'))
        throw new ToolError(`pattern ${pattern} is outside the working directory ${ctx.cwd}`);
      pattern = rel.split(path.sep).join('/');
    }
    if (pattern.split('/').includes('..')) {
      throw new ToolError(
        'pattern may not climb out with ".."; give a path inside the working directory instead',
      );
    }
    const entries = await fg(pattern, {
      cwd: base,
      dot: true,
      onlyFiles: true,
      followSymbolicLinks: false,
      suppressErrors: true,
      ignore: SEARCH_IGNORES,
      stats: true,
      absolute: true,
    });
    ctx.heartbeat();
    // fast-glob follows a symlinked folder that the pattern names literally ("link-dir/**"), so
    // every match is checked by its real path, not the path it was found at.
    const inside = await Promise.all(
      entries.map(async (e) => ((await realInside(ctx.cwd, e.path)) ? e : null)),
    );
    const files = inside
      .filter((e) => e !== null)
      .sort((a, b) => (b.stats?.mtimeMs ?? 0) - (a.stats?.mtimeMs ?? 0) || a.path.localeCompare(b.path));
    if (files.length === 0) return 'No files found';
    const shown = files.slice(0, GLOB_MAX_RESULTS).map((e) => path.normalize(e.path));
    const more =
      files.length > GLOB_MAX_RESULTS
        ? `\n(${files.length - GLOB_MAX_RESULTS} more not shown; use a more specific pattern or path)`
        : '';
    return shown.join('\n') + more;
  },
};
