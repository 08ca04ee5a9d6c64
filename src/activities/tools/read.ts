import { openFileInside } from './paths';
import type { AgentTool } from './tool-types';
import { ToolError } from './tool-types';

/** Lines returned when the model gives no limit, as in Claude Code. */
export const READ_DEFAULT_LIMIT = 2000;
/** Longer lines are cut, so one minified file cannot flood the context. */
export const READ_MAX_LINE_CHARS = 2000;
/** Largest file Read loads at all. */
const READ_MAX_BYTES = 20 * 1024 * 1024;

/** Whether a buffer looks like binary data: a NUL byte in its first 8 KB, as git and grep decide. */
export function looksBinary(buf: Buffer): boolean {
  return buf.subarray(0, 8192).includes(0);
}

/** Claude Code's Read: a text file with `cat -n` line numbers, from `offset` for `limit` lines. */
export const readTool: AgentTool = {
  name: 'Read',
  description:
    'Reads a text file from the working directory. Output is numbered like `cat -n` (line number, tab, ' +
    `text). Reads up to ${READ_DEFAULT_LIMIT} lines from the start unless offset (1-based line to start at) ` +
    `and limit (number of lines) say otherwise; lines longer than ${READ_MAX_LINE_CHARS} characters are cut. ` +
    'file_path may be absolute or relative to the working directory; paths outside it are refused.',
  inputSchema: {
    type: 'object',
    properties: {
      file_path: { type: 'string', description: 'The file to read' },
      offset: { type: 'integer', minimum: 0, description: 'The line number to start reading from (1-based)' },
      limit: { type: 'integer', minimum: 1, description: 'The number of lines to read' },
    },
    required: ['file_path'],
    additionalProperties: false,
  },
  async run(input, ctx) {
    const opened = await openFileInside(ctx.cwd, input.file_path);
    let buf: Buffer;
    try {
      if (opened.stat.isDirectory()) {
        throw new ToolError(`${String(input.file_path)} is a directory; use Glob or Bash (ls) to list it`);
      }
      if (!opened.stat.isFile()) throw new ToolError(`${String(input.file_path)} is not a regular file`);
      if (opened.stat.size > READ_MAX_BYTES) {
        throw new ToolError(
          `file is ${opened.stat.size} bytes, more than Read loads (${READ_MAX_BYTES}); use Grep or Bash`,
        );
      }
      // Read from the descriptor that was checked, never by path again.
      buf = await opened.handle.readFile();
    } finally {
      await opened.handle.close();
    }
    if (looksBinary(buf))
      throw new ToolError(`${String(input.file_path)} is a binary file (${buf.length} bytes)`);
    const text = buf.toString('utf8');
    if (text.length === 0) return '(the file exists but is empty)';
    const lines = text.split(/\r?\n/);
    if (lines[lines.length - 1] === '') lines.pop();
    const offset = typeof input.offset === 'number' ? Math.max(1, input.offset) : 1;
    const limit = typeof input.limit === 'number' ? input.limit : READ_DEFAULT_LIMIT;
    if (offset > lines.length) {
      throw new ToolError(`offset ${offset} is past the end of the file (${lines.length} lines)`);
    }
    const slice = lines.slice(offset - 1, offset - 1 + limit);
    const body = slice
      .map((line, i) => {
        const cut =
          line.length > READ_MAX_LINE_CHARS ? `${line.slice(0, READ_MAX_LINE_CHARS)}… [line cut]` : line;
        return `${String(offset + i).padStart(6)}\t${cut}`;
      })
      .join('\n');
    const last = offset - 1 + slice.length;
    const more =
      last < lines.length
        ? `\n\n(lines ${offset}-${last} of ${lines.length}; use offset and limit to read more)`
        : '';
    return body + more;
  },
};
