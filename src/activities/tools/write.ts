import { writeFileInside } from './paths';
import type { AgentTool } from './tool-types';

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
    const content = String(input.content);
    const { real, existed } = await writeFileInside(ctx.cwd, input.file_path, content);
    const bytes = Buffer.byteLength(content);
    return `${existed ? 'Updated' : 'Created'} ${real} (${bytes} bytes)`;
  },
};
