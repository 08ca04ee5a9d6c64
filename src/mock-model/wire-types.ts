/**
 * The request and reply shapes the mock reads and writes, apart from the conversation logic so
 * that the wire encoders and the request checks can name them without importing it.
 */

/** A content block as a client sent it; only the fields the mock reads are typed. */
export interface WireBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: unknown;
  is_error?: boolean;
}

/** One entry of `messages`. */
export interface WireMessage {
  role: 'user' | 'assistant';
  content: string | WireBlock[];
}

/** A tool definition from `tools`. */
export interface WireTool {
  name: string;
  input_schema?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** The body of `POST /v1/messages`, after {@link parseMessagesRequest} checked it. */
export interface MessagesRequest {
  model: string;
  max_tokens: number;
  messages: WireMessage[];
  system?: string | WireBlock[];
  tools?: WireTool[];
  tool_choice?: { type: string; name?: string };
  stream?: boolean;
  thinking?: { type: string; budget_tokens?: number };
  output_config?: { effort?: string; format?: { type: string; schema?: Record<string, unknown> } };
}

/** A tool result the client sent back, with its content flattened to text for easy assertions. */
export interface ToolResultRecord {
  tool_use_id: string;
  content: string;
  is_error: boolean;
}

/** A response content block as the API sends it (text, tool_use, thinking, server blocks...). */
export type ResponseBlock = { type: string } & Record<string, unknown>;

/** What the model says this turn. */
export interface Reply {
  /** `structured`: a StructuredOutput call, or a text answer in the requested native JSON format. */
  kind: 'text' | 'structured' | 'tool_use';
  blocks: ResponseBlock[];
  stopReason: string;
  stopDetails: Record<string, unknown> | null;
  /** Whether a structured answer was meant to satisfy the schema; null for other answers. */
  structuredValid: boolean | null;
  /** Usage fields a scripted turn adds, such as `server_tool_use`. */
  extraUsage: Record<string, unknown> | null;
}
