import type Anthropic from '@anthropic-ai/sdk';
import { AgentError, AgentOutputError, BudgetExceededError } from '../../errors';
import type { ValidationIssue } from '../../errors';
import type { AgentRequest, AgentResult, JsonSchema, TokenUsage } from '../../types';
import { classifyModelError } from '../model-errors';
import { turnCost } from '../pricing';
import { compileSchema, formatIssues, validateAgainst } from '../schema';
import { executeToolCall } from '../tools/execute';
import type { AgentTool, ToolContext } from '../tools/tool-types';
import type { AgentCheckpoint } from './checkpoint';
import { CHECKPOINT_MAX_BYTES, fitCheckpoint } from './checkpoint';
import type { AgentWorktree } from './worktree';

/** The tool a schema agent must call to answer (S202). */
export const STRUCTURED_OUTPUT = 'StructuredOutput';

/** Retries of one model call before the agent gives up (S404). */
export const DEFAULT_MODEL_RETRIES = 8;
/** First backoff of a retried model call; it doubles per attempt, with jitter. */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** A server's `retry-after` is honoured up to this long. */
const RETRY_AFTER_MAX_MS = 10 * 60_000;
/** Output tokens one model call may produce unless the run's budget allows fewer. */
const DEFAULT_MAX_TOKENS = 16_000;

/** Everything the loop needs from its surroundings, so tests and the activity inject real parts. */
export interface AgentLoopDeps {
  client: Anthropic;
  model: string;
  /**
   * Called on every turn, while waiting and while tools run, so Temporal knows the agent is alive;
   * with details, the agent's latest checkpoint (S405).
   */
  heartbeat: (details?: AgentCheckpoint) => void;
  /** Aborted when the run or this agent is cancelled. */
  signal: AbortSignal;
  sleep: (ms: number) => Promise<void>;
  /** Tools the agent may call, besides StructuredOutput. */
  tools?: readonly AgentTool[];
  /** Real path of the folder the tools work in; the request's `cwd` unless a worktree replaces it. */
  cwd?: string;
  /** An agent type's system prompt, which the non-interactive rules are appended to (S403). */
  instructions?: string | null;
  /** Where an earlier attempt of this agent stopped. */
  resume?: AgentCheckpoint | null;
  /** The agent's worktree, saved in checkpoints so a retry works in the same one. */
  worktree?: AgentWorktree | null;
  maxTurns?: number;
  maxTokens?: number;
  /** Retries of one model call on rate limits, overload, 5xx and lost connections (S404). */
  maxModelRetries?: number;
  retryBaseMs?: number;
  checkpointMaxBytes?: number;
  now?: () => number;
}

const NON_INTERACTIVE = [
  'You are a subagent started by a workflow script. No person reads your messages and no one will',
  'answer questions: never ask for clarification, make reasonable assumptions and state them.',
  'Your final message is data returned to the script, not a message to a person: return exactly',
  'what the task asks for, with no preamble or sign-off. You cannot start workflows or other agents.',
].join(' ');

/**
 * The agent's system prompt: an agent type's own prompt first, then weft's non-interactive rules
 * (S402), where the tools work, and how to answer when a schema was asked for (S202).
 */
export function buildSystemPrompt(options: {
  instructions?: string | null;
  schema: JsonSchema | null;
  cwd: string;
  tools: readonly AgentTool[];
}): string {
  const parts: string[] = [];
  if (options.instructions) parts.push(options.instructions);
  parts.push(NON_INTERACTIVE);
  if (options.tools.length > 0) {
    parts.push(
      `Your working directory is ${options.cwd}. File tools only reach files inside it: give paths ` +
        'relative to it, or absolute paths within it. Bash commands start in it.',
    );
  }
  if (options.schema) {
    parts.push(
      `When you are done, answer by calling the ${STRUCTURED_OUTPUT} tool exactly once with your result; ` +
        "its input must satisfy the tool's schema. Do not answer in prose.",
    );
  }
  return parts.join('\n\n');
}

/** Everything that changes while the agent runs; a checkpoint is a copy of it. */
interface LoopState {
  startedAt: number;
  turns: number;
  modelCalls: number;
  usage: TokenUsage;
  costUsd: number;
  schemaAttempts: number;
  lastIssues: ValidationIssue[];
  messages: Anthropic.MessageParam[];
}

function freshState(request: AgentRequest, startedAt: number): LoopState {
  return {
    startedAt,
    turns: 0,
    modelCalls: 0,
    usage: { inputTokens: 0, outputTokens: 0 },
    costUsd: 0,
    schemaAttempts: 0,
    lastIssues: [],
    messages: [{ role: 'user', content: request.prompt }],
  };
}

/**
 * The state to start from: an earlier attempt's checkpoint when it carries the conversation for
 * the same model, so the agent continues from its last completed step; otherwise a fresh
 * conversation that still counts the tokens already spent (S405, S406).
 */
function initialState(request: AgentRequest, deps: AgentLoopDeps, now: number): LoopState {
  const saved = deps.resume;
  if (!saved) return freshState(request, now);
  if (saved.messages === null || saved.model !== deps.model) {
    return {
      ...freshState(request, saved.startedAt),
      modelCalls: saved.modelCalls,
      usage: { ...saved.usage },
      costUsd: saved.costUsd,
    };
  }
  return {
    startedAt: saved.startedAt,
    turns: saved.turns,
    modelCalls: saved.modelCalls,
    usage: { ...saved.usage },
    costUsd: saved.costUsd,
    schemaAttempts: saved.schemaAttempts,
    lastIssues: saved.lastIssues,
    messages: saved.messages,
  };
}

function backoffMs(attempt: number, base: number): number {
  const exp = Math.min(RETRY_MAX_MS, base * 2 ** attempt);
  // Full jitter on the upper half keeps agents that hit a rate limit together from retrying together.
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

/**
 * One model call with weft as the single retry owner (the SDK's retries are off): retryable
 * failures wait (honouring `retry-after`) and try again; when retries run out, or the failure is
 * not retryable, the error is non-retryable so Temporal does not retry the whole agent (S404).
 */
async function callModel(
  deps: AgentLoopDeps,
  state: LoopState,
  params: Anthropic.MessageCreateParamsNonStreaming,
): Promise<Anthropic.Message> {
  const maxRetries = deps.maxModelRetries ?? DEFAULT_MODEL_RETRIES;
  for (let attempt = 0; ; attempt++) {
    deps.heartbeat();
    state.modelCalls++;
    try {
      return await deps.client.messages.stream(params, { signal: deps.signal, maxRetries: 0 }).finalMessage();
    } catch (err) {
      if (deps.signal.aborted) throw err;
      const failure = classifyModelError(err);
      if (!failure.retryable) throw failure.error;
      if (attempt >= maxRetries) {
        throw new AgentError(`${failure.error.message} (gave up after ${attempt + 1} attempts)`, {
          ...(failure.error.status === undefined ? {} : { status: failure.error.status }),
          retryable: false,
          cause: err,
        });
      }
      const wait =
        failure.retryAfterMs !== null
          ? Math.min(failure.retryAfterMs, RETRY_AFTER_MAX_MS)
          : backoffMs(attempt, deps.retryBaseMs ?? RETRY_BASE_MS);
      await deps.sleep(wait);
    }
  }
}

function finalText(content: Anthropic.MessageParam['content']): string {
  if (typeof content === 'string') return content;
  return (content as Anthropic.ContentBlockParam[])
    .filter((b): b is Anthropic.TextBlockParam => b.type === 'text')
    .map((b) => b.text)
    .join('');
}

function toolUsesOf(message: Anthropic.MessageParam | undefined): Anthropic.ToolUseBlockParam[] {
  if (!message || typeof message.content === 'string') return [];
  return (message.content as Anthropic.ContentBlockParam[]).filter(
    (b): b is Anthropic.ToolUseBlockParam => b.type === 'tool_use',
  );
}

/**
 * The request's view of the conversation, with prompt-cache breakpoints on the system prompt and
 * on the newest message, so each turn re-reads the previous ones from the cache. The stored
 * conversation is left without them: the API allows only a few breakpoints per request.
 */
function cachedMessages(messages: Anthropic.MessageParam[]): Anthropic.MessageParam[] {
  const last = messages[messages.length - 1];
  if (last?.role !== 'user') return messages;
  const blocks: Anthropic.ContentBlockParam[] =
    typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : [...last.content];
  const tail = blocks[blocks.length - 1];
  if (!tail || (tail.type !== 'text' && tail.type !== 'tool_result')) return messages;
  blocks[blocks.length - 1] = { ...tail, cache_control: { type: 'ephemeral' } };
  return [...messages.slice(0, -1), { role: 'user', content: blocks }];
}

/**
 * One agent: a conversation with the model and its tools until the model ends its turn, or until
 * it calls StructuredOutput with a valid answer when a schema was asked for (S201, S202, S401).
 * After every step the state goes out as a checkpoint, so a retried attempt continues from there;
 * tool calls in flight when a worker died run again (S405).
 */
export async function runAgentLoop(request: AgentRequest, deps: AgentLoopDeps): Promise<AgentResult> {
  const now = deps.now ?? Date.now;
  const schema = request.schema;
  // An invalid schema fails before any model call, so no tokens are spent on it (S202).
  if (schema) compileSchema(schema);
  const tools = deps.tools ?? [];
  const cwd = deps.cwd ?? request.cwd;
  const toolParams: Anthropic.Tool[] = tools.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: t.inputSchema as Anthropic.Tool.InputSchema,
  }));
  if (schema) {
    toolParams.push({
      name: STRUCTURED_OUTPUT,
      description: 'Return your final answer to the workflow script. Call this exactly once, when done.',
      input_schema: schema as Anthropic.Tool.InputSchema,
    });
  }
  const system = buildSystemPrompt({ instructions: deps.instructions ?? null, schema, cwd, tools });
  const maxTurns = deps.maxTurns ?? request.maxTurns;
  const allowance = request.maxOutputTokens ?? null;
  const state = initialState(request, deps, now());
  const resumedTurns = state.turns;
  const toolCtx: ToolContext = { cwd, signal: deps.signal, heartbeat: () => deps.heartbeat() };

  const save = (): void => {
    deps.heartbeat(
      fitCheckpoint(
        {
          v: 1,
          startedAt: state.startedAt,
          model: deps.model,
          turns: state.turns,
          modelCalls: state.modelCalls,
          usage: { ...state.usage },
          costUsd: state.costUsd,
          schemaAttempts: state.schemaAttempts,
          lastIssues: state.lastIssues,
          // A copy, so the timer's beats resend this step rather than a later, unsettled one.
          messages: [...state.messages],
          worktree: deps.worktree ?? null,
        },
        deps.checkpointMaxBytes ?? CHECKPOINT_MAX_BYTES,
      ),
    );
  };
  const result = (output: unknown): AgentResult => ({
    output,
    model: deps.model,
    usage: { ...state.usage },
    costUsd: state.costUsd,
    turns: state.turns,
    schemaAttempts: state.schemaAttempts,
    durationMs: now() - state.startedAt,
    worktree: null,
    modelCalls: state.modelCalls,
    resumedTurns,
  });
  const outputError = (): AgentOutputError =>
    new AgentOutputError(
      `agent "${request.label}" gave no valid StructuredOutput after ${state.schemaAttempts} attempts: ${formatIssues(state.lastIssues)}`,
      state.lastIssues,
      state.schemaAttempts,
    );
  const runTools = async (uses: Anthropic.ToolUseBlockParam[]): Promise<Anthropic.ToolResultBlockParam[]> => {
    const results: Anthropic.ToolResultBlockParam[] = [];
    for (const use of uses) results.push(await executeToolCall(use, tools, toolCtx));
    if (deps.signal.aborted) throw deps.signal.reason ?? new Error('cancelled');
    return results;
  };

  try {
    save();
    for (;;) {
      const last = state.messages[state.messages.length - 1];
      if (last?.role === 'assistant') {
        // The model has spoken and its turn is not settled yet: either just now, or in the
        // checkpoint of an attempt whose worker died before its tool calls finished.
        const uses = toolUsesOf(last);
        const answer = schema ? uses.find((u) => u.name === STRUCTURED_OUTPUT) : undefined;
        if (schema && answer) {
          const issues = validateAgainst(schema, answer.input);
          if (issues.length === 0) return result(answer.input);
          if (state.schemaAttempts >= request.maxSchemaAttempts) throw outputError();
          const others = await runTools(uses.filter((u) => u !== answer));
          const feedback: Anthropic.ToolResultBlockParam = {
            type: 'tool_result',
            tool_use_id: answer.id,
            is_error: true,
            content: `Your answer does not match the schema: ${formatIssues(issues)}. Call ${STRUCTURED_OUTPUT} again with corrected input.`,
          };
          // Results go back in the order of the calls.
          const byId = new Map([...others, feedback].map((r) => [r.tool_use_id, r]));
          state.messages.push({
            role: 'user',
            content: uses.map((u) => byId.get(u.id) as Anthropic.ToolResultBlockParam),
          });
        } else if (uses.length > 0) {
          state.messages.push({ role: 'user', content: await runTools(uses) });
        } else if (schema) {
          if (state.schemaAttempts >= request.maxSchemaAttempts) throw outputError();
          state.messages.push({
            role: 'user',
            content: `You must answer by calling the ${STRUCTURED_OUTPUT} tool with input that matches its schema. Do not answer in prose.`,
          });
        } else {
          return result(finalText(last.content));
        }
        save();
        continue;
      }

      if (state.turns >= maxTurns) {
        throw new AgentError(
          `agent "${request.label}" did not finish within ${maxTurns} turns (--max-turns)`,
        );
      }
      let maxTokens = deps.maxTokens ?? DEFAULT_MAX_TOKENS;
      if (allowance !== null) {
        const left = allowance - state.usage.outputTokens;
        if (left <= 0) throw allowanceSpent(request.label, allowance);
        maxTokens = Math.min(maxTokens, left);
      }
      // On its last turn a schema agent must answer, rather than end with the work half reported.
      const mustAnswer = schema !== null && state.turns === maxTurns - 1;
      const message = await callModel(deps, state, {
        model: deps.model,
        max_tokens: maxTokens,
        system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
        messages: cachedMessages(state.messages),
        ...(toolParams.length > 0 ? { tools: toolParams } : {}),
        ...(mustAnswer ? { tool_choice: { type: 'tool', name: STRUCTURED_OUTPUT } } : {}),
      });
      state.turns++;
      const spent = turnCost(deps.model, message.usage);
      state.usage.inputTokens += spent.usage.inputTokens;
      state.usage.outputTokens += spent.usage.outputTokens;
      state.costUsd += spent.costUsd;
      if (
        allowance !== null &&
        message.stop_reason === 'max_tokens' &&
        state.usage.outputTokens >= allowance
      ) {
        // Cut off by the allowance. A plain text answer stands as far as it got (the run's next
        // agent() then stops the run); a cut tool call or StructuredOutput must not be acted on.
        const cutTool = message.content.some((b) => b.type === 'tool_use');
        if (schema || cutTool) throw allowanceSpent(request.label, allowance);
      }
      const turn: Anthropic.MessageParam = { role: 'assistant', content: message.content };
      state.messages.push(turn);
      if (schema) {
        const uses = toolUsesOf(turn);
        const answer = uses.find((u) => u.name === STRUCTURED_OUTPUT);
        if (answer) {
          state.schemaAttempts++;
          state.lastIssues = validateAgainst(schema, answer.input);
        } else if (uses.length === 0) {
          state.schemaAttempts++;
          state.lastIssues = [
            { path: '', message: `answered in prose instead of calling ${STRUCTURED_OUTPUT}` },
          ];
        }
      }
      save();
    }
  } catch (err) {
    throw withUsage(err, state);
  }
}

function allowanceSpent(label: string, allowance: number): BudgetExceededError {
  return new BudgetExceededError(
    `agent "${label}" used up its share of the run's token budget (${allowance} output tokens)`,
  );
}

/** Attaches the tokens spent so far to a failure, so the run's budget still counts them (S406). */
function withUsage(err: unknown, state: LoopState): unknown {
  if (err instanceof Error) {
    Object.assign(err, { usage: { ...state.usage }, costUsd: state.costUsd, modelCalls: state.modelCalls });
  }
  return err;
}
