import { promises as fs } from 'node:fs';
import path from 'node:path';
import { resolveInside } from './paths';
import type { AgentTool } from './tool-types';
import { ToolError } from './tool-types';

/** Claude Code's Write: creates or overwrites a file, creating missing folders. */
export const writeTool: AgentTool = {
  name: 'Write',
  description:
    'Writes a file in the working directory, replacing it if it exists and creating missing parent ' +
    'folders. file_path may be absolute or relative to the working directory; paths outside it are refused.',
  inputSchema: {
    type: 'object',
    properties: {
      file_path: { type: 'string', description: 'The file to write' },
      content: { type: 'string', description: 'The content to write to the file' },
    },
    required: ['file_path', 'content'],
    additionalProperties: false,
  },
  async run(input, ctx) {
    const file = await resolveInside(ctx.cwd, input.file_path);
    const content = String(input.content);
    const existing = await fs.stat(file).catch(() => null);
    if (existing?.isDirectory()) throw new ToolError(`${String(input.file_path)} is a directory`);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content, 'utf8');
    const bytes = Buffer.byteLength(content);
    return `${existing ? 'Updated' : 'Created'} ${file} (${bytes} bytes)`;
  },
};
