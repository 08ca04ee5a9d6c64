/**
 * The checks the real Messages API makes before it answers, with its own error messages, so a
 * client mistake that the real API would refuse with a 400 is refused by the mock too instead of
 * passing every test and failing in production. Messages are quoted from the API's answers.
 */
import type { MessagesRequest, WireBlock } from './wire-types';
import { mockModelInfo, traitsOf } from './wire';

/** Most `cache_control` breakpoints one request may carry. */
export const MAX_CACHE_BREAKPOINTS = 4;

/** Whether thinking is on for this request: asked for, or the model thinks unless told not to. */
export function requestThinks(req: MessagesRequest): boolean {
  const type = req.thinking?.type;
  if (type === 'enabled' || type === 'adaptive') return true;
  if (type === 'disabled' || type === 'between_tools') return false;
  return traitsOf(req.model).alwaysThinks;
}

/**
 * Checks a parsed request as the API does.
 *
 * @returns the `invalid_request_error` message, or null when the request is acceptable.
 */
export function validateMessagesRequest(req: MessagesRequest): string | null {
  const info = mockModelInfo(req.model);
  if (info?.max_tokens && req.max_tokens > info.max_tokens) {
    return `max_tokens: ${req.max_tokens} > ${info.max_tokens}, which is the maximum allowed number of output tokens for ${req.model}`;
  }
  const thinking = req.thinking;
  if (thinking !== undefined) {
    if (!['enabled', 'disabled', 'adaptive', 'between_tools'].includes(thinking.type)) {
      return `thinking.type: Input tag '${thinking.type}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive', 'between_tools'`;
    }
    if (traitsOf(req.model).alwaysThinks && (thinking.type === 'disabled' || thinking.type === 'enabled')) {
      return `thinking.type: '${thinking.type}' is not supported for model ${req.model}. Use 'adaptive' instead.`;
    }
    if (thinking.type === 'enabled') {
      const budget = thinking.budget_tokens;
      if (typeof budget !== 'number' || budget < 1024)
        return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
      if (budget >= req.max_tokens) return '`max_tokens` must be greater than `thinking.budget_tokens`.';
    }
  }
  const effort = req.output_config?.effort;
  if (
    effort !== undefined &&
    effort !== null &&
    !['low', 'medium', 'high', 'xhigh', 'max'].includes(effort)
  ) {
    return `output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'`;
  }
  const format = req.output_config?.format;
  if (format !== undefined && format !== null) {
    if (format.type !== 'json_schema') return `output_config.format.type: Input should be 'json_schema'`;
    if (format.schema?.type !== 'object') {
      return 'output_config.format.schema: The root schema must have "type": "object"';
    }
  }
  const choice = req.tool_choice?.type;
  if ((choice === 'any' || choice === 'tool') && requestThinks(req)) {
    return 'Thinking may not be enabled when tool_choice forces tool use.';
  }
  for (const [i, tool] of (req.tools ?? []).entries()) {
    // Server tools (web_search_...) carry a `type` and no input_schema.
    if (typeof tool.type === 'string' && tool.type !== 'custom') continue;
    const schema = tool.input_schema;
    if (schema === undefined) return `tools.${i}.custom.input_schema: Field required`;
    if (schema.type === undefined) return `tools.${i}.custom.input_schema.type: Field required`;
    if (schema.type !== 'object') return `tools.${i}.custom.input_schema.type: Input should be 'object'`;
  }

  let breakpoints = countBreakpoints(req.system);
  for (const tool of req.tools ?? []) if (tool.cache_control) breakpoints++;
  const last = req.messages.length - 1;
  for (const [i, message] of req.messages.entries()) {
    breakpoints += countBreakpoints(message.content);
    const empty = typeof message.content === 'string' ? message.content === '' : message.content.length === 0;
    // Only a final assistant message (a prefill) may be empty.
    if (empty && !(i === last && message.role === 'assistant')) {
      return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    }
    if (typeof message.content !== 'string') {
      for (const [j, block] of message.content.entries()) {
        if (
          block?.type === 'text' &&
          (block.text ?? '') === '' &&
          !(i === last && message.role === 'assistant')
        ) {
          return `messages.${i}.content.${j}.text: text content blocks must be non-empty`;
        }
      }
    }
    const pairing = pairingError(req, i);
    if (pairing) return pairing;
  }
  if (breakpoints > MAX_CACHE_BREAKPOINTS) {
    return `A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`;
  }
  // With thinking on, the assistant turn a tool loop continues from must start with its thinking.
  if (requestThinks(req)) {
    const lastAssistant = [...req.messages].reverse().find((m) => m.role === 'assistant');
    const blocks = lastAssistant && typeof lastAssistant.content !== 'string' ? lastAssistant.content : [];
    const lastUser = req.messages[last];
    const continuesToolLoop =
      lastUser?.role === 'user' &&
      typeof lastUser.content !== 'string' &&
      lastUser.content.some((b) => b?.type === 'tool_result');
    const first = blocks[0]?.type;
    if (continuesToolLoop && blocks.length > 0 && first !== 'thinking' && first !== 'redacted_thinking') {
      const index = req.messages.lastIndexOf(lastAssistant as (typeof req.messages)[number]);
      return `messages.${index}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`;
    }
  }
  return null;
}

function countBreakpoints(content: unknown): number {
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const block of content as Array<WireBlock & { cache_control?: unknown }>) {
    if (block && typeof block === 'object' && block.cache_control) n++;
  }
  return n;
}

/** tool_use blocks need their tool_result blocks in the very next user message, and vice versa. */
function pairingError(req: MessagesRequest, i: number): string | null {
  const message = req.messages[i];
  if (!message || typeof message.content === 'string') return null;
  if (message.role === 'assistant') {
    const ids = message.content.filter((b) => b?.type === 'tool_use').map((b) => b.id ?? '');
    if (ids.length === 0) return null;
    const next = req.messages[i + 1];
    // The last assistant message may end with tool calls: the model is about to be asked again.
    if (!next) return null;
    const answered = new Set(
      typeof next.content === 'string'
        ? []
        : next.content.filter((b) => b?.type === 'tool_result').map((b) => b.tool_use_id ?? ''),
    );
    const missing = ids.filter((id) => !answered.has(id));
    if (missing.length > 0) {
      return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
    }
    return null;
  }
  const prev = req.messages[i - 1];
  const offered = new Set(
    prev && prev.role === 'assistant' && typeof prev.content !== 'string'
      ? prev.content.filter((b) => b?.type === 'tool_use').map((b) => b.id ?? '')
      : [],
  );
  for (const [j, block] of message.content.entries()) {
    if (block?.type === 'tool_result' && !offered.has(block.tool_use_id ?? '')) {
      return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${block.tool_use_id ?? ''}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
    }
  }
  return null;
}
