import type Anthropic from '@anthropic-ai/sdk';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import { AgentError, AgentOutputError, BudgetExceededError } from '../../errors';
import type { ValidationIssue } from '../../errors';
import type { AgentRequest, AgentResult, JsonSchema, TokenUsage } from '../../types';
import type { ContextState } from './context';
import { compactConversation, estimateTokens, needsCompaction } from './context';
import { StreamIdleError, classifyModelError } from '../model-errors';
import type { ModelLimits } from '../model-info';
import {
  builtInLimits,
  canDisableThinking,
  modelLimits,
  supportsStructuredOutputs,
  thinksByDefault,
} from '../model-info';
import { addUsage, turnCost } from '../pricing';
import { checkSchemaRoot, compileSchema, formatIssues, validateAgainst } from '../schema';
import { executeToolCall } from '../tools/execute';
import type { AgentTool, ToolContext } from '../tools/tool-types';
import type { AgentCheckpoint, LoopProgress } from './checkpoint';
import { CHECKPOINT_MAX_BYTES, fitCheckpoint } from './checkpoint';
import type { AgentWorktree } from './worktree';
import type { AffordableCall } from './cost-ceiling';
import { affordableCall, inputTokensBound, MIN_AFFORDABLE_OUTPUT_TOKENS } from './cost-ceiling';

/** The tool a schema agent must call to answer (S202). */
export const STRUCTURED_OUTPUT = 'StructuredOutput';

/** Retries of one model call before the agent gives up (S404). */
export const DEFAULT_MODEL_RETRIES = 8;
/** First backoff of a retried model call; it doubles per attempt, with jitter. */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** A server's `retry-after` is honoured up to this long. */
const RETRY_AFTER_MAX_MS = 10 * 60_000;
/** Answers cut off at max_tokens an agent may continue from before it fails (S801). */
export const MAX_CUT_ANSWERS = 3;
/** A stream that sends no event for this long is abandoned and the call retried (S804). */
export const DEFAULT_STREAM_IDLE_MS = 120_000;
/** Thinking budget when `thinking: true` meets a model without adaptive thinking. */
const DEFAULT_THINKING_BUDGET = 16_000;

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
  /** Cap on each call's max_tokens; by default the model's own limit (S801). */
  maxTokens?: number;
  /** The model's limits, instead of asking the Models API. */
  limits?: ModelLimits;
  /** A stream idle for this long is abandoned and retried; default {@link DEFAULT_STREAM_IDLE_MS}. */
  streamIdleMs?: number;
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
  progress: LoopProgress;
  /** Input tokens of the last request, as the API counted them (fresh, cache writes and reads). */
  lastInputTokens: number | null;
}

function freshProgress(): LoopProgress {
  return { paused: false, cuts: 0, continuedText: '', compactions: [], costUnknown: false };
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
    progress: freshProgress(),
    lastInputTokens: null,
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
    progress: { ...freshProgress(), ...(saved.loop ?? {}) },
    lastInputTokens: null,
  };
}

function backoffMs(attempt: number, base: number): number {
  const exp = Math.min(RETRY_MAX_MS, base * 2 ** attempt);
  // Full jitter on the upper half keeps agents that hit a rate limit together from retrying together.
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

/** One streamed call that gives up when no event arrives for `idleMs` (S804). */
async function streamOnce(
  deps: AgentLoopDeps,
  params: Anthropic.MessageCreateParamsNonStreaming,
  idleMs: number,
): Promise<Anthropic.Message> {
  const idle = new AbortController();
  const signal = AbortSignal.any([deps.signal, idle.signal]);
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new StreamIdleError(idleMs)), idleMs);
  };
  arm();
  try {
    const stream = deps.client.messages.stream(params, { signal, maxRetries: 0 });
    // Every event, `ping` included, proves the stream alive.
    stream.on('streamEvent', arm);
    return await stream.finalMessage();
  } catch (err) {
    if (idle.signal.aborted && !deps.signal.aborted) throw idle.signal.reason as Error;
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * One model call with weft as the single retry owner (the SDK's retries are off): retryable
 * failures wait (honouring `retry-after`) and try again; when retries run out, or the failure is
 * not retryable, the error is non-retryable so Temporal does not retry the whole agent (S404,
 * S804). The API's `x-should-retry` header decides over the status code; a spend-limit 429 is
 * terminal; a stalled stream is abandoned and retried.
 */
async function callModel(
  deps: AgentLoopDeps,
  state: LoopState,
  params: Anthropic.MessageCreateParamsNonStreaming,
): Promise<Anthropic.Message> {
  const maxRetries = deps.maxModelRetries ?? DEFAULT_MODEL_RETRIES;
  const idleMs = deps.streamIdleMs ?? DEFAULT_STREAM_IDLE_MS;
  for (let attempt = 0; ; attempt++) {
    deps.heartbeat();
    state.modelCalls++;
    try {
      return await streamOnce(deps, params, idleMs);
    } catch (err) {
      if (deps.signal.aborted) throw err;
      const failure = classifyModelError(err);
      if (!failure.retryable) {
        if (failure.promptTooLong) throw new PromptTooLong(failure.error);
        throw failure.error;
      }
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

/** A "prompt is too long" 400, which the loop answers by compacting once (S803). */
class PromptTooLong extends Error {
  constructor(readonly error: AgentError) {
    super(error.message);
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

/** Most blocks the API looks back from a breakpoint for an earlier cache entry. */
const CACHE_LOOKBACK = 20;

/**
 * The request's view of the conversation, with prompt-cache breakpoints: on the newest message,
 * and, when the newest turn added more blocks than the API looks back (a wide parallel tool
 * turn), also on the last block the previous request cached, so the earlier prefix is still
 * found. The system prompt holds a third. The stored conversation is left without them: the API
 * allows only four per request.
 */
function cachedMessages(messages: Anthropic.MessageParam[], ttl: '5m' | '1h'): Anthropic.MessageParam[] {
  const control =
    ttl === '1h' ? { type: 'ephemeral' as const, ttl: '1h' as const } : { type: 'ephemeral' as const };
  const out = messages.map((m) => ({ ...m }));
  const mark = (index: number): boolean => {
    const message = out[index];
    if (!message) return false;
    const blocks: Anthropic.ContentBlockParam[] =
      typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : [...message.content];
    const tail = blocks[blocks.length - 1];
    if (!tail || tail.type === 'thinking' || tail.type === 'redacted_thinking') return false;
    blocks[blocks.length - 1] = { ...tail, cache_control: control } as Anthropic.ContentBlockParam;
    out[index] = { ...message, content: blocks } as Anthropic.MessageParam;
    return true;
  };
  const last = out.length - 1;
  if (out[last]?.role !== 'user') return messages;
  mark(last);
  // Blocks added since the previous request's breakpoint (the user message before the last turn).
  const previous = last - 2;
  if (previous >= 0) {
    const added = out
      .slice(previous + 1)
      .reduce((n, m) => n + (typeof m.content === 'string' ? 1 : m.content.length), 0);
    if (added > CACHE_LOOKBACK - 2) mark(previous);
  }
  return out;
}

/** The schema as a strict tool's input schema: the subset native structured outputs accept. */
function strictSchema(schema: JsonSchema): Anthropic.Tool.InputSchema {
  try {
    return transformJSONSchema(schema) as Anthropic.Tool.InputSchema;
  } catch {
    return schema as Anthropic.Tool.InputSchema;
  }
}

/**
 * The thinking setting of a request, from `agent({ thinking })` and what the model can do (S802):
 * `adaptive` falls back to a budget where the model has no adaptive thinking, a budget is kept
 * below max_tokens, and `disabled` is left out where the model cannot stop thinking.
 */
function thinkingParam(
  asked: AgentRequest['thinking'],
  limits: ModelLimits,
  maxTokens: number,
): Anthropic.ThinkingConfigParam | undefined {
  if (!asked) return undefined;
  if (asked.type === 'disabled') return canDisableThinking(limits) ? { type: 'disabled' } : undefined;
  const adaptive = limits.capabilities?.thinking?.types?.adaptive?.supported !== false;
  const manual = limits.capabilities?.thinking?.types?.enabled?.supported !== false;
  if (asked.type === 'enabled' || !adaptive) {
    const wanted = asked.type === 'enabled' ? asked.budget_tokens : DEFAULT_THINKING_BUDGET;
    const budget = Math.max(1024, Math.min(wanted, maxTokens - 1));
    if (manual && budget < maxTokens) return { type: 'enabled', budget_tokens: budget };
  }
  return { type: 'adaptive' };
}

/**
 * One agent: a conversation with the model and its tools until the model ends its turn, or until
 * it calls StructuredOutput with a valid answer when a schema was asked for (S201, S202, S401).
 * Every stop reason is handled (S801): a cut answer is continued, never used as it stands; a
 * paused turn is resumed; a refusal fails the agent. Near the context window the conversation is
 * compacted (S803). After every step the state goes out as a checkpoint, so a retried attempt
 * continues from there; tool calls in flight when a worker died run again (S405).
 */
export async function runAgentLoop(request: AgentRequest, deps: AgentLoopDeps): Promise<AgentResult> {
  const now = deps.now ?? Date.now;
  const schema = request.schema;
  // An invalid schema fails before any model call, so no tokens are spent on it (S202, S802).
  if (schema) {
    checkSchemaRoot(schema);
    compileSchema(schema);
  }
  const tools = deps.tools ?? [];
  const cwd = deps.cwd ?? request.cwd;
  const state = initialState(request, deps, now());
  const resumedTurns = state.turns;
  const limits =
    deps.limits ??
    (await modelLimits(deps.client, deps.model, deps.signal).catch(() => builtInLimits(deps.model)));
  const strict = supportsStructuredOutputs(limits);
  // Server tools (WebSearch, S806) go as the API names them; their blocks come back in the turn.
  const toolParams: Anthropic.ToolUnion[] = tools.map((t) =>
    t.apiTool
      ? (t.apiTool as unknown as Anthropic.ToolUnion)
      : {
          name: t.name,
          description: t.description,
          input_schema: t.inputSchema as Anthropic.Tool.InputSchema,
        },
  );
  if (schema) {
    toolParams.push({
      name: STRUCTURED_OUTPUT,
      description: 'Return your final answer to the workflow script. Call this exactly once, when done.',
      // Where the model has structured outputs, the answer is constrained to the schema as it is
      // written (S802); ajv still checks the original schema, whose keywords strict mode drops.
      ...(strict
        ? { strict: true, input_schema: strictSchema(schema) }
        : { input_schema: schema as Anthropic.Tool.InputSchema }),
    });
  }
  const system = buildSystemPrompt({ instructions: deps.instructions ?? null, schema, cwd, tools });
  const maxTurns = deps.maxTurns ?? request.maxTurns;
  const allowance = request.maxOutputTokens ?? null;
  const costAllowance = request.maxCostUsd ?? null;
  const toolCtx: ToolContext = { cwd, signal: deps.signal, heartbeat: () => deps.heartbeat() };
  const modelMax = Math.min(limits.maxOutputTokens, deps.maxTokens ?? Infinity);
  const context: ContextState = {
    window: limits.contextWindow,
    client: deps.client,
    model: deps.model,
    signal: deps.signal,
  };
  // Long agents outlive the 5-minute cache TTL between turns (a long Bash, a slow tool): from the
  // third turn on, breakpoints ask for the 1-hour TTL.
  const cacheTtl = (): '5m' | '1h' => (state.turns >= 3 ? '1h' : '5m');

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
          loop: { ...state.progress, compactions: [...state.progress.compactions] },
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
    compactions: [...state.progress.compactions],
    costKnown: !state.progress.costUnknown,
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
  /**
   * The next call as the cost allowance still pays for it (S210). The allowance is checked against
   * a bound on the call's input first; only when that bound would cut the `want`ed answer short is
   * the API asked for the exact count, which costs a round trip but no tokens.
   */
  const affordable = async (want: number): Promise<AffordableCall> => {
    if (costAllowance === null) return { outputTokens: Infinity, tools: toolParams };
    const left = costAllowance - state.costUsd;
    const fit = (inputTokens: number): AffordableCall => {
      const call = affordableCall(deps.model, left, inputTokens, toolParams, cacheTtl());
      if (call === null) {
        throw new BudgetExceededError(
          `agent "${request.label}": the run's cost ceiling cannot be kept, weft has no price for ${deps.model}`,
        );
      }
      return call;
    };
    let call = fit(
      inputTokensBound({
        system,
        tools: toolParams,
        messages: state.messages,
        lastInputTokens: state.lastInputTokens,
      }),
    );
    if (call.outputTokens < want) {
      const counted = await countInputTokens(deps, system, toolParams, state.messages);
      if (counted !== null) call = fit(counted + INPUT_COUNT_SLACK_TOKENS);
    }
    if (call.outputTokens < MIN_AFFORDABLE_OUTPUT_TOKENS)
      throw costAllowanceSpent(request.label, costAllowance);
    return call;
  };
  const compact = async (
    trigger: 'threshold' | 'context-window-exceeded' | 'prompt-too-long',
  ): Promise<void> => {
    // The summary call is paid from the same allowance; its answer is at most 4096 tokens.
    if ((await affordable(4096)).outputTokens < 4096)
      throw costAllowanceSpent(request.label, costAllowance ?? 0);
    const before = estimateTokens(state.messages, state.lastInputTokens);
    const outcome = await compactConversation(state.messages, context, {
      force: trigger !== 'threshold',
      estimate: before,
    });
    for (const step of outcome.steps) {
      state.progress.compactions.push({ turn: state.turns, trigger, ...step });
    }
    if (outcome.summaryUsage) {
      const spent = turnCost(deps.model, outcome.summaryUsage);
      addUsage(state.usage, spent.usage);
      state.modelCalls++;
      if (spent.costUsd === null) state.progress.costUnknown = true;
      else state.costUsd += spent.costUsd;
    }
    state.messages = outcome.messages;
    state.lastInputTokens = null;
  };

  try {
    save();
    let reactedToTooLong = false;
    for (;;) {
      const last = state.messages[state.messages.length - 1];
      if (last?.role === 'assistant' && !state.progress.paused) {
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
          return result(state.progress.continuedText + finalText(last.content));
        }
        save();
        continue;
      }

      if (state.turns >= maxTurns) {
        throw new AgentError(
          `agent "${request.label}" did not finish within ${maxTurns} turns (--max-turns)`,
        );
      }
      let maxTokens = modelMax;
      if (allowance !== null) {
        const left = allowance - state.usage.outputTokens;
        if (left <= 0) throw allowanceSpent(request.label, allowance);
        maxTokens = Math.min(maxTokens, left);
      }
      if (needsCompaction(state.messages, state.lastInputTokens, maxTokens, context.window)) {
        await compact('threshold');
        save();
      }
      const afford = await affordable(maxTokens);
      const costCapped = afford.outputTokens < maxTokens;
      if (costCapped) maxTokens = afford.outputTokens;
      const thinking = thinkingParam(request.thinking, limits, maxTokens);
      const thinks = thinking ? thinking.type !== 'disabled' : thinksByDefault(limits);
      // On its last turn a schema agent must answer, rather than end with the work half reported.
      // Forcing a tool is refused while the model thinks, so then the agent is told instead (S802).
      const lastTurn = schema !== null && state.turns === maxTurns - 1;
      const force = lastTurn && !thinks;
      let messages = cachedMessages(state.messages, cacheTtl());
      if (lastTurn && !force) messages = withReminder(messages, LAST_TURN_REMINDER);
      const params: Anthropic.MessageCreateParamsNonStreaming = {
        model: deps.model,
        max_tokens: maxTokens,
        system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
        messages,
        ...(afford.tools.length > 0 ? { tools: afford.tools } : {}),
        ...(force ? { tool_choice: { type: 'tool', name: STRUCTURED_OUTPUT } } : {}),
        ...(thinking ? { thinking } : {}),
        ...(request.effort ? { output_config: { effort: request.effort } } : {}),
      };
      let message: Anthropic.Message;
      try {
        message = await callModel(deps, state, params);
      } catch (err) {
        if (!(err instanceof PromptTooLong)) throw err;
        // Our estimate was short of the API's count: compact once, then ask again (S803).
        if (reactedToTooLong) throw err.error;
        reactedToTooLong = true;
        // The API names the real limit ("… tokens > 200000 maximum"): later turns plan with it.
        const limit = /> (\d+) maximum/.exec(err.message)?.[1];
        if (limit) context.window = Math.min(context.window, Number(limit));
        await compact('prompt-too-long');
        save();
        continue;
      }
      reactedToTooLong = false;
      state.turns++;
      const spent = turnCost(deps.model, message.usage);
      addUsage(state.usage, spent.usage);
      if (spent.costUsd === null) state.progress.costUnknown = true;
      else state.costUsd += spent.costUsd;
      state.lastInputTokens =
        message.usage.input_tokens +
        (message.usage.cache_creation_input_tokens ?? 0) +
        (message.usage.cache_read_input_tokens ?? 0) +
        message.usage.output_tokens;
      state.progress.paused = false;

      const stop = message.stop_reason;
      if (stop === 'refusal') {
        // The refused turn is not kept: an empty assistant turn would be refused by the API.
        throw new AgentError(refusalMessage(request.label, message), { retryable: false });
      }
      if (stop === 'max_tokens' || stop === 'model_context_window_exceeded') {
        const cutByTokens = allowance !== null && state.usage.outputTokens >= allowance;
        const cutByCost = costCapped && message.usage.output_tokens >= maxTokens;
        const cutTool = message.content.some((b) => b.type === 'tool_use');
        if (cutByTokens || cutByCost) {
          // Cut off by the allowance. A plain text answer stands as far as it got (the run's next
          // agent() then stops the run); a cut tool call or StructuredOutput must not be acted on.
          if (schema || cutTool) {
            throw cutByTokens
              ? allowanceSpent(request.label, allowance ?? 0)
              : costAllowanceSpent(request.label, costAllowance ?? 0);
          }
          state.messages.push({ role: 'assistant', content: message.content });
          save();
          continue;
        }
        state.progress.cuts++;
        if (state.progress.cuts > MAX_CUT_ANSWERS) {
          throw new AgentError(
            `agent "${request.label}": the model's answer was cut off (${stop}) ${state.progress.cuts} times; a cut tool call or answer is never used`,
          );
        }
        if (schema && cutTool) {
          state.schemaAttempts += message.content.some(
            (b) => b.type === 'tool_use' && b.name === STRUCTURED_OUTPUT,
          )
            ? 1
            : 0;
          state.lastIssues = [{ path: '', message: `${STRUCTURED_OUTPUT} was cut off at the output limit` }];
        }
        continueAfterCut(state, message, cutTool, maxTokens);
        if (stop === 'model_context_window_exceeded') await compact('context-window-exceeded');
        save();
        continue;
      }
      const turn: Anthropic.MessageParam = { role: 'assistant', content: message.content };
      if (message.content.length === 0) {
        // An empty end_turn (the model had nothing to add) cannot be sent back; it ends the agent.
        if (!schema) return result(state.progress.continuedText);
        state.messages.push({ role: 'assistant', content: [{ type: 'text', text: '(no answer)' }] });
      } else {
        state.messages.push(turn);
      }
      if (stop === 'pause_turn') {
        // A long server-tool turn paused by the API: sending it back as it is lets the model go on.
        state.progress.paused = true;
        save();
        continue;
      }
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
    throw withUsage(err instanceof PromptTooLong ? err.error : err, state);
  }
}

const LAST_TURN_REMINDER = `This is your last turn: answer now by calling the ${STRUCTURED_OUTPUT} tool with your result so far.`;

/** The request's messages with a text block added to the final user message. */
function withReminder(messages: Anthropic.MessageParam[], text: string): Anthropic.MessageParam[] {
  const last = messages[messages.length - 1];
  if (last?.role !== 'user') return messages;
  const blocks: Anthropic.ContentBlockParam[] =
    typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : [...last.content];
  return [...messages.slice(0, -1), { role: 'user', content: [...blocks, { type: 'text', text }] }];
}

/**
 * Carries on after an answer cut off at max_tokens (S801). The cut tool calls are dropped, never
 * run with half their input; what the model wrote before them stays. A text answer is continued
 * and joined; a cut tool call is asked for again, smaller.
 */
function continueAfterCut(
  state: LoopState,
  message: Anthropic.Message,
  cutTool: boolean,
  maxTokens: number,
): void {
  const kept = message.content.filter(
    (b) => b.type !== 'tool_use' && b.type !== 'server_tool_use' && !(b.type === 'text' && b.text === ''),
  ) as Anthropic.ContentBlockParam[];
  const hasText = kept.some((b) => b.type === 'text');
  let note: string;
  if (cutTool) {
    note = `Your last tool call was cut off at the output limit (${maxTokens} tokens) and was not run. Call it again with less input: split large content over several calls.`;
  } else if (hasText) {
    state.progress.continuedText += finalText(kept);
    note =
      'Your answer was cut off at the output limit. Continue exactly where it stopped, without repeating anything.';
  } else {
    note = 'Your answer was cut off at the output limit while you were thinking. Think less and answer.';
  }
  // The turn stays, so the conversation shows what happened; with nothing said, a marker stands in
  // for it (an empty assistant turn is refused by the API). It is not part of the answer.
  if (!hasText) kept.push({ type: 'text', text: CUT_MARKER });
  state.messages.push({ role: 'assistant', content: kept });
  state.messages.push({ role: 'user', content: note });
}

/** Stands in for the text of an answer that was cut off before it said anything. */
const CUT_MARKER = '[cut off at the output limit]';

function refusalMessage(label: string, message: Anthropic.Message): string {
  const details = message.stop_details as { category?: string | null; explanation?: string | null } | null;
  const category = details?.category ? ` (${details.category})` : '';
  const explanation = details?.explanation ? `: ${details.explanation}` : '';
  return `agent "${label}": the model refused the request${category}${explanation}`;
}

function allowanceSpent(label: string, allowance: number): BudgetExceededError {
  return new BudgetExceededError(
    `agent "${label}" used up its share of the run's token budget (${allowance} output tokens)`,
  );
}

/** Room for what a call adds to the counted request: a last-turn reminder, the API's framing. */
const INPUT_COUNT_SLACK_TOKENS = 256;

/** The API's exact input count of a request, or null where the endpoint is not offered. */
async function countInputTokens(
  deps: AgentLoopDeps,
  system: string,
  tools: Anthropic.ToolUnion[],
  messages: Anthropic.MessageParam[],
): Promise<number | null> {
  try {
    const counted = await deps.client.messages.countTokens(
      { model: deps.model, system, messages, ...(tools.length > 0 ? { tools } : {}) },
      { signal: deps.signal },
    );
    return counted.input_tokens;
  } catch {
    // Some gateways have no count endpoint: the bound, never a guess, then stands.
    return null;
  }
}

function costAllowanceSpent(label: string, allowance: number): BudgetExceededError {
  return new BudgetExceededError(
    `agent "${label}" used up its share of the run's cost ceiling ($${allowance.toFixed(4)})`,
  );
}

/** Attaches the tokens spent so far to a failure, so the run's budget still counts them (S406). */
function withUsage(err: unknown, state: LoopState): unknown {
  if (err instanceof Error) {
    Object.assign(err, { usage: { ...state.usage }, costUsd: state.costUsd, modelCalls: state.modelCalls });
  }
  return err;
}
