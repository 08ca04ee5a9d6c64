/**
 * The mock model: a local Anthropic-compatible server steered by `[[mock:...]]` directives in the
 * prompt, and the deterministic schema data it (and weft's dry run) answers with.
 */
export { startMockModel, CLIENT_CLOSED_STATUS } from './server';
export type { FaultRule, MockModel, MockModelOptions, MockReplyKind, MockRequestLog } from './server';
export { generateFromSchema, corruptForSchema, isValidForSchema } from './schema-data';
export { parseDirectives, stripDirectives, DirectiveError } from './directives';
export type { Directives, ErrorDirective, ToolDirective } from './directives';
export { STRUCTURED_OUTPUT_TOOL } from './conversation';
export type { ToolResultRecord } from './conversation';
export { runMockModelCommand } from './cli';
