/**
 * Stratus-style agents (S701): plain data that travels to a weft worker with each task, where it
 * runs as weft's agent activity (tool loop, StructuredOutput, retries, checkpoints).
 */
import { TOOL_NAMES } from '../activities/tools/registry';
import { ConfigError } from '../errors';
import type { StratusAgentSpec } from '../workflows/stratus-session-types';

/**
 * A model setting, as `createModel()` gives it. `id: null` means the worker's default model
 * (`WEFT_MODEL` on the worker, else weft's default).
 *
 * @example
 * ```ts
 * const model: StratusModel = createModel('claude-haiku-4-5');
 * ```
 */
export interface StratusModel {
  provider: 'anthropic';
  id: string | null;
}

/**
 * The model an agent uses. Without an id it is the worker's default model, so the process that
 * hosts the agents (not the caller) decides; with one, that Anthropic model id.
 *
 * @example
 * ```ts
 * const model = createModel();                    // the worker's default
 * const fast = createModel('claude-haiku-4-5');  // a named model
 * ```
 */
export function createModel(id?: string): StratusModel {
  if (id !== undefined && (typeof id !== 'string' || id.trim() === '')) {
    throw new ConfigError('createModel(id) needs a non-empty model id, or no argument for the default');
  }
  return { provider: 'anthropic', id: id?.trim() ?? null };
}

/**
 * What `new Agent()` takes.
 *
 * @example
 * ```ts
 * const config: AgentConfig = { name: 'reviewer', instructions: 'Report concrete findings only.' };
 * ```
 */
export interface AgentConfig {
  name: string;
  /** The agent's system prompt (weft appends its non-interactive rules). */
  instructions?: string;
  /** A `createModel()` value or a model id; default the worker's model. */
  model?: StratusModel | string;
  /**
   * weft tool names the agent may use: Read, Write, Edit, Glob, Grep, Bash, WebFetch. Default none,
   * or the agent type's list when `agentType` is set. StructuredOutput is added for schema tasks.
   */
  tools?: readonly string[];
  /** A Claude Code style agent definition (`.claude/agents/<name>.md`) found from the run's `cwd` on the worker. */
  agentType?: string;
}

/**
 * A Stratus-style agent: a name, instructions, a model, tools (S701). Plain data; it runs only
 * inside a task, on a weft worker.
 *
 * @example
 * ```ts
 * const reviewer = new Agent({
 *   name: 'reviewer',
 *   model: createModel(),
 *   instructions: 'Review the target carefully. Report concrete findings only.',
 *   tools: ['Read', 'Grep'],
 * });
 * ```
 */
export class Agent {
  readonly name: string;
  readonly instructions: string | null;
  readonly model: StratusModel;
  readonly tools: readonly string[] | null;
  readonly agentType: string | null;

  constructor(config: AgentConfig) {
    if (typeof config?.name !== 'string' || config.name.trim() === '') {
      throw new ConfigError('new Agent({ name }) needs a non-empty name');
    }
    if (config.instructions !== undefined && typeof config.instructions !== 'string') {
      throw new ConfigError(`agent ${config.name}: instructions must be a string`);
    }
    if (config.agentType !== undefined && (typeof config.agentType !== 'string' || config.agentType === '')) {
      throw new ConfigError(`agent ${config.name}: agentType must be a non-empty string`);
    }
    if (config.tools !== undefined) {
      if (!Array.isArray(config.tools))
        throw new ConfigError(`agent ${config.name}: tools must be an array of tool names`);
      // MCP tools (`mcp__<server>__<tool>`) are known only to the worker that connects the server.
      const unknown = config.tools.filter(
        (t) => typeof t !== 'string' || !(TOOL_NAMES.includes(t) || t.startsWith('mcp__')),
      );
      if (unknown.length > 0) {
        throw new ConfigError(
          `agent ${config.name}: unknown tools ${unknown.map((t) => JSON.stringify(t)).join(', ')}; ` +
            `weft agents can use ${TOOL_NAMES.join(', ')} and mcp__<server>__<tool> (function tools cannot run on a worker)`,
        );
      }
    }
    this.name = config.name.trim();
    this.instructions = config.instructions ?? null;
    this.model =
      typeof config.model === 'string' ? createModel(config.model) : (config.model ?? createModel());
    this.tools = config.tools === undefined ? null : [...config.tools];
    this.agentType = config.agentType ?? null;
    Object.freeze(this);
  }

  /**
   * The agent as it travels to the worker.
   *
   * @example
   * ```ts
   * const spec = reviewer.toSpec(); // { name, instructions, model, agentType, tools }
   * ```
   */
  toSpec(): StratusAgentSpec {
    return {
      name: this.name,
      instructions: this.instructions,
      model: this.model.id,
      agentType: this.agentType,
      // No tools unless given; an agent type's own list applies when it has one.
      tools: this.tools !== null ? [...this.tools] : this.agentType !== null ? null : [],
    };
  }
}
