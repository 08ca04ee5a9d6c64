import Anthropic from '@anthropic-ai/sdk';
import { AgentError } from '../errors';

/** HTTP statuses that a later attempt can get past (S404). */
const RETRYABLE_STATUS = new Set([408, 409, 429, 500, 502, 503, 504, 529]);

/** Error types of an error event inside a stream (no HTTP status) that a later attempt can get past. */
const RETRYABLE_TYPES = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

/** How the API words a spend-limit 429 (`x-should-retry: false` marks it too). */
const SPEND_LIMIT = /usage limits?|spend(?:ing)? limit/i;
/** How the API words a request over the context window. */
export const PROMPT_TOO_LONG = /prompt is too long|exceeds? (?:the )?(?:model's )?(?:maximum )?context/i;

/** A stream that sent nothing for too long; the call is retried (S804). */
export class StreamIdleError extends Error {
  constructor(idleMs: number) {
    super(`the model stream sent nothing for ${Math.round(idleMs / 1000)} s`);
    this.name = 'StreamIdleError';
  }
}

/** How a failed model call should be handled. */
export interface ModelFailure {
  retryable: boolean;
  /** The API said the organisation's spend limit is reached: no agent can go on (S804). */
  spendLimit?: boolean;
  /** The request is larger than the model's context window (S803). */
  promptTooLong?: boolean;
  /** Server-requested wait before the next attempt, from `retry-after-ms` or `retry-after`. */
  retryAfterMs: number | null;
  error: AgentError;
}

/** Maps the SDK's errors to weft's retry decision: one place decides, so one layer retries. */
export function classifyModelError(err: unknown): ModelFailure {
  if (err instanceof StreamIdleError) {
    return {
      retryable: true,
      retryAfterMs: null,
      error: new AgentError(`model stream stalled: ${err.message}`, { retryable: true, cause: err }),
    };
  }
  if (err instanceof Anthropic.APIConnectionError) {
    return {
      retryable: true,
      retryAfterMs: null,
      error: new AgentError(`model API unreachable: ${err.message}`, { retryable: true, cause: err }),
    };
  }
  if (err instanceof Anthropic.APIError && err.status !== undefined) {
    const status = err.status;
    const message = apiMessage(err);
    // The API says itself whether a retry can help; only without that header does the status decide.
    const shouldRetry = err.headers?.get('x-should-retry') ?? null;
    const retryable =
      shouldRetry === 'true'
        ? true
        : shouldRetry === 'false'
          ? false
          : RETRYABLE_STATUS.has(status) || status >= 500;
    if (status === 429 && (shouldRetry === 'false' || SPEND_LIMIT.test(message))) {
      return {
        retryable: false,
        spendLimit: true,
        retryAfterMs: null,
        error: new AgentError(
          `model API spend limit reached (429, not retried): ${message} Raise the limit in the Anthropic Console, or wait until it resets.`,
          { status, retryable: false, cause: err },
        ),
      };
    }
    return {
      retryable,
      promptTooLong: status === 400 && PROMPT_TOO_LONG.test(message),
      retryAfterMs: retryAfterMs(err.headers),
      error: new AgentError(`model API error ${status}: ${message}`, {
        status,
        retryable,
        cause: err,
      }),
    };
  }
  if (err instanceof Anthropic.APIError) {
    // An error event in the middle of a stream: no status, only the error's type.
    const type = (err.error as { error?: { type?: string } } | undefined)?.error?.type ?? '';
    const retryable = RETRYABLE_TYPES.has(type);
    return {
      retryable,
      retryAfterMs: null,
      error: new AgentError(`model API error${type ? ` (${type})` : ''}: ${apiMessage(err)}`, {
        retryable,
        cause: err,
      }),
    };
  }
  if (err instanceof Anthropic.AnthropicError) {
    // The SDK's own errors outside an HTTP answer: a stream cut off or garbled on the way.
    return {
      retryable: true,
      retryAfterMs: null,
      error: new AgentError(`model stream failed: ${err.message}`, { retryable: true, cause: err }),
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { retryable: false, retryAfterMs: null, error: new AgentError(message, { cause: err }) };
}

function apiMessage(err: InstanceType<typeof Anthropic.APIError>): string {
  const body = err.error as { error?: { message?: string } } | undefined;
  return body?.error?.message ?? err.message;
}

function retryAfterMs(headers: Headers | undefined): number | null {
  const raw = headers?.get('retry-after-ms') ?? null;
  if (raw !== null && raw.trim() !== '' && Number.isFinite(Number(raw))) return Math.max(0, Number(raw));
  const seconds = headers?.get('retry-after') ?? null;
  if (seconds === null || seconds.trim() === '') return null;
  if (Number.isFinite(Number(seconds))) return Math.max(0, Number(seconds) * 1000);
  const at = Date.parse(seconds);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
