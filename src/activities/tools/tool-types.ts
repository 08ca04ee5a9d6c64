import { WeftError } from '../../errors';
import type { JsonSchema } from '../../types';

/** What a tool may use while it runs. */
export interface ToolContext {
  /** Real path (symlinks resolved) of the agent's working directory; file tools stay inside it. */
  cwd: string;
  /** Aborted when the agent is cancelled; long tools stop and kill what they started. */
  signal: AbortSignal;
  /** Tells Temporal the agent is alive; long tools call it as they go. */
  heartbeat: () => void;
}

/** A tool's answer; `isError` marks it as a failed call for the model (`is_error`). */
export interface ToolOutput {
  content: string;
  isError: boolean;
}

/** A tool an agent can call, named and shaped as Claude Code's (S401). */
export interface AgentTool {
  name: string;
  description: string;
  /** JSON Schema of the input, sent to the model and checked before the tool runs. */
  inputSchema: JsonSchema;
  run(input: Record<string, unknown>, ctx: ToolContext): Promise<string | ToolOutput>;
  /**
   * For a server tool the API runs itself (WebSearch, S806): the tool parameter sent in place of
   * name, description and input schema. Such a tool is never run by weft.
   */
  apiTool?: { type: string; name: string } & Record<string, unknown>;
}

/**
 * A tool call that failed in a way the model should see and can react to: a refused path, a
 * missing file, an ambiguous edit. It never leaves the agent loop, which turns it into an
 * `is_error` tool result.
 */
export class ToolError extends WeftError {}
