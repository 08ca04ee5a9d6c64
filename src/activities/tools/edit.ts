import { openFileInside, writeFileInside } from './paths';
import type { AgentTool } from './tool-types';
import { ToolError } from './tool-types';

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) count++;
  return count;
}

/**
 * Claude Code's Edit: exact string replacement. `old_string` must match exactly once unless
 * `replace_all` is set, so an edit never lands somewhere the model did not mean; an empty
 * `old_string` creates a new file.
 */
export const editTool: AgentTool = {
  name: 'Edit',
  description:
    'Replaces old_string with new_string in a file of the working directory. old_string must match ' +
    'the file exactly (whitespace included) and be unique, unless replace_all is true, which replaces ' +
    'every occurrence. An empty old_string creates a file that does not exist yet with new_string as content.',
  inputSchema: {
    type: 'object',
    properties: {
      file_path: { type: 'string', description: 'The file to modify' },
      old_string: { type: 'string', description: 'The text to replace' },
      new_string: {
        type: 'string',
        description: 'The text to replace it with (must differ from old_string)',
      },
      replace_all: { type: 'boolean', default: false, description: 'Replace every occurrence of old_string' },
    },
    required: ['file_path', 'old_string', 'new_string'],
    additionalProperties: false,
  },
  async run(input, ctx) {
    const oldString = String(input.old_string);
    const newString = String(input.new_string);
    if (oldString === newString)
      throw new ToolError('old_string and new_string are the same; nothing to change');
    let text: string;
    try {
      const opened = await openFileInside(ctx.cwd, input.file_path);
      try {
        if (!opened.stat.isFile()) throw new ToolError(`${String(input.file_path)} is not a regular file`);
        text = await opened.handle.readFile('utf8');
      } finally {
        await opened.handle.close();
      }
    } catch (err) {
      if (!(err instanceof ToolError) || !err.message.startsWith('file does not exist')) throw err;
      if (oldString !== '') throw err;
      const { real } = await writeFileInside(ctx.cwd, input.file_path, newString);
      return `Created ${real}`;
    }
    if (oldString === '') {
      if (text !== '') throw new ToolError('old_string is empty but the file already has content');
      const { real } = await writeFileInside(ctx.cwd, input.file_path, newString);
      return `Wrote ${real}`;
    }
    const count = countOccurrences(text, oldString);
    if (count === 0) throw new ToolError(`old_string was not found in ${String(input.file_path)}`);
    const all = input.replace_all === true;
    if (count > 1 && !all) {
      throw new ToolError(
        `old_string matches ${count} times in ${String(input.file_path)}; add surrounding context to make it ` +
          'unique, or set replace_all to true',
      );
    }
    // split/join rather than String.replace, whose `$&`-style patterns would mangle new_string.
    const updated = all
      ? text.split(oldString).join(newString)
      : text.slice(0, text.indexOf(oldString)) +
        newString +
        text.slice(text.indexOf(oldString) + oldString.length);
    const { real } = await writeFileInside(ctx.cwd, input.file_path, updated);
    return `Replaced ${all ? count : 1} occurrence${(all ? count : 1) === 1 ? '' : 's'} in ${real}`;
  },
};
