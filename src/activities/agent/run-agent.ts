import type Anthropic from '@anthropic-ai/sdk';
import { AgentError, AgentOutputError } from '../../errors';
import type { ValidationIssue } from '../../errors';
import type { AgentRequest, AgentResult, JsonSchema, TokenUsage } from '../../types';
import { classifyModelError } from '../model-errors';
import { costOf } from '../pricing';
import { compileSchema, formatIssues, validateAgainst } from '../schema';

/** The tool a schema agent must call to answer (S202). */
export const STRUCTURED_OUTPUT = 'StructuredOutput';

/** Everything the loop needs from its surroundings, so tests and the activity inject real parts. */
export interface AgentLoopDeps {
  client: Anthropic;
  model: string;
  /** Called on every turn and while waiting, so Temporal knows the agent is alive. */
  heartbeat: (details?: unknown) => void;
  /** Aborted when the run or this agent is cancelled. */
  signal: AbortSignal;
  sleep: (ms: number) => Promise<void>;
  maxTurns?: number;
  maxTokens?: number;
  /** Retries of one model call on rate limits, overload and 5xx (S404). */
  maxModelRetries?: number;
}

const NON_INTERACTIVE = [
  'You are a subagent started by a workflow script. No person reads your messages and no one will',
  'answer questions: never ask for clarification, make reasonable assumptions and state them.',
  'Your final message is data returned to the script, not a message to a person: return exactly',
  'what the task asks for, with no preamble or sign-off.',
].join(' ');

function systemPrompt(schema: JsonSchema | null): string {
  if (!schema) return NON_INTERACTIVE;
  return `${NON_INTERACTIVE}\n\nWhen you are done, answer by calling the ${STRUCTURED_OUTPUT} tool exactly once with your result; its input must satisfy the tool's schema. Do not answer in prose.`;
}

/** Runs a model call with weft as the single retry owner: the SDK's own retries are off. */
async function callModel(
  deps: AgentLoopDeps,
  params: Anthropic.MessageCreateParamsNonStreaming,
): Promise<Anthropic.Message> {
  const maxRetries = deps.maxModelRetries ?? 6;
  for (let attempt = 0; ; attempt++) {
    deps.heartbeat();
    try {
      return await deps.client.messages.stream(params, { signal: deps.signal, maxRetries: 0 }).finalMessage();
    } catch (err) {
      if (deps.signal.aborted) throw err;
      const failure = classifyModelError(err);
      if (!failure.retryable || attempt >= maxRetries) throw failure.error;
      const backoff = Math.min(30_000, 500 * 2 ** attempt);
      await deps.sleep(failure.retryAfterMs ?? backoff);
    }
  }
}

function addUsage(total: TokenUsage, message: Anthropic.Message): void {
  total.inputTokens += message.usage.input_tokens;
  total.outputTokens += message.usage.output_tokens;
}

function finalText(message: Anthropic.Message): string {
  return message.content
    .filter((b): b is Anthropic.TextBlock => b.type === 'text')
    .map((b) => b.text)
    .join('');
}

/**
 * One agent: a conversation with the model until it ends its turn, or until it calls
 * StructuredOutput with a valid answer when a schema was asked for (S201, S202, S404).
 */
export async function runAgentLoop(request: AgentRequest, deps: AgentLoopDeps): Promise<AgentResult> {
  const started = Date.now();
  const usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  const schema = request.schema;
  // An invalid schema fails before any model call, so no tokens are spent on it (S202).
  if (schema) compileSchema(schema);
  const tools: Anthropic.Tool[] = schema
    ? [
        {
          name: STRUCTURED_OUTPUT,
          description: 'Return your final answer to the workflow script. Call this exactly once, when done.',
          input_schema: schema as Anthropic.Tool.InputSchema,
        },
      ]
    : [];
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: request.prompt }];
  const maxTurns = deps.maxTurns ?? request.maxTurns;
  let schemaAttempts = 0;
  let lastIssues: ValidationIssue[] = [];
  let turns = 0;

  const result = (output: unknown): AgentResult => ({
    output,
    model: deps.model,
    usage,
    costUsd: costOf(deps.model, usage),
    turns,
    schemaAttempts,
    durationMs: Date.now() - started,
    worktree: null,
  });

  try {
    while (turns < maxTurns) {
      const message = await callModel(deps, {
        model: deps.model,
        max_tokens: deps.maxTokens ?? 16_000,
        system: systemPrompt(schema),
        messages,
        ...(tools.length > 0 ? { tools } : {}),
      });
      turns++;
      addUsage(usage, message);
      deps.heartbeat({ turns });
      messages.push({ role: 'assistant', content: message.content });
      const toolUses = message.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');

      if (!schema) {
        if (toolUses.length === 0) return result(finalText(message));
        messages.push({ role: 'user', content: toolUses.map((t) => unknownTool(t)) });
        continue;
      }

      const answer = toolUses.find((t) => t.name === STRUCTURED_OUTPUT);
      if (!answer) {
        schemaAttempts++;
        if (schemaAttempts >= request.maxSchemaAttempts) break;
        const nudge = `You must answer by calling the ${STRUCTURED_OUTPUT} tool with input that matches its schema. Do not answer in prose.`;
        messages.push({
          role: 'user',
          content:
            toolUses.length > 0
              ? [...toolUses.map((t) => unknownTool(t)), { type: 'text', text: nudge }]
              : [{ type: 'text', text: nudge }],
        });
        lastIssues = [{ path: '', message: `answered in prose instead of calling ${STRUCTURED_OUTPUT}` }];
        continue;
      }
      schemaAttempts++;
      const issues = validateAgainst(schema, answer.input);
      if (issues.length === 0) return result(answer.input);
      lastIssues = issues;
      if (schemaAttempts >= request.maxSchemaAttempts) break;
      messages.push({
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: answer.id,
            is_error: true,
            content: `Your answer does not match the schema: ${formatIssues(issues)}. Call ${STRUCTURED_OUTPUT} again with corrected input.`,
          },
          ...toolUses.filter((t) => t !== answer).map((t) => unknownTool(t)),
        ],
      });
    }
  } catch (err) {
    throw withUsage(err, usage, deps.model);
  }
  if (schema) {
    throw withUsage(
      new AgentOutputError(
        `agent "${request.label}" gave no valid StructuredOutput after ${schemaAttempts} attempts: ${formatIssues(lastIssues)}`,
        lastIssues,
        schemaAttempts,
      ),
      usage,
      deps.model,
    );
  }
  throw withUsage(new AgentError(`agent "${request.label}" did not finish within ${maxTurns} turns`), usage, deps.model);
}

function unknownTool(use: Anthropic.ToolUseBlock): Anthropic.ToolResultBlockParam {
  return { type: 'tool_result', tool_use_id: use.id, is_error: true, content: `Unknown tool: ${use.name}` };
}

/** Attaches the tokens spent so far to a failure, so the run's budget still counts them (S406). */
function withUsage(err: unknown, usage: TokenUsage, model: string): unknown {
  if (err instanceof Error) Object.assign(err, { usage: { ...usage }, costUsd: costOf(model, usage) });
  return err;
}
