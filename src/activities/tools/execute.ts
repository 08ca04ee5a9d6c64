import type Anthropic from '@anthropic-ai/sdk';
import { formatIssues, validateAgainst } from '../schema';
import type { AgentTool, ToolContext } from './tool-types';
import { ToolError } from './tool-types';

/** Characters of one tool result sent back to the model at most. */
export const MAX_TOOL_RESULT_CHARS = 100_000;

function clip(text: string): string {
  if (text.length <= MAX_TOOL_RESULT_CHARS) return text;
  return `${text.slice(0, MAX_TOOL_RESULT_CHARS)}\n… [result cut at ${MAX_TOOL_RESULT_CHARS} characters]`;
}

/**
 * Runs one tool call of the model and turns whatever happens into a tool result: an unknown tool,
 * input that does not match the tool's schema, a refused path or a crash all go back to the model
 * as `is_error` results and never end the agent (S401). Only cancellation propagates.
 */
export async function executeToolCall(
  use: Pick<Anthropic.ToolUseBlock, 'id' | 'name' | 'input'>,
  tools: readonly AgentTool[],
  ctx: ToolContext,
): Promise<Anthropic.ToolResultBlockParam> {
  const error = (content: string): Anthropic.ToolResultBlockParam => ({
    type: 'tool_result',
    tool_use_id: use.id,
    is_error: true,
    content,
  });
  const tool = tools.find((t) => t.name === use.name);
  if (!tool) {
    const names = tools.map((t) => t.name).join(', ') || 'none';
    return error(`Unknown tool: ${use.name}. Tools available to you: ${names}.`);
  }
  const issues = validateAgainst(tool.inputSchema, use.input);
  if (issues.length > 0) return error(`Invalid input for ${tool.name}: ${formatIssues(issues)}`);
  ctx.heartbeat();
  try {
    const out = await tool.run(use.input as Record<string, unknown>, ctx);
    const { content, isError } = typeof out === 'string' ? { content: out, isError: false } : out;
    return {
      type: 'tool_result',
      tool_use_id: use.id,
      content: clip(content),
      ...(isError ? { is_error: true } : {}),
    };
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason ?? err;
    if (err instanceof ToolError) return error(err.message);
    return error(`${tool.name} failed: ${(err as Error)?.message ?? String(err)}`);
  } finally {
    ctx.heartbeat();
  }
}
