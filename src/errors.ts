/**
 * weft's error hierarchy. Every class's `name` is also the Temporal failure `type`, so a failure
 * that crossed an activity or workflow boundary can be matched by class name on the other side.
 */
/** Base class of every error weft raises on purpose. */
export class WeftError extends Error {
  /** Whether retrying the same operation could succeed. Non-retryable failures fail fast. */
  readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options?.retryable ?? false;
  }
}

/** A workflow script was refused: a syntax error, a forbidden construct, or an invalid `meta`. */
export class ScriptError extends WeftError {
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The one-line reason, without the location prefix. */
  readonly reason: string;

  constructor(reason: string, location: { file: string; line: number; column: number }) {
    super(`${location.file}:${location.line}:${location.column}: ${reason}`);
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
    this.reason = reason;
  }
}

/** One ajv validation failure, reduced to what a person and a model need to fix it. */
export interface ValidationIssue {
  /** JSON Pointer into the answer, e.g. `/items/0/title`; empty for the root. */
  path: string;
  message: string;
}

/** An agent never produced output that satisfied its schema (S202). */
export class AgentOutputError extends WeftError {
  readonly issues: ValidationIssue[];
  readonly attempts: number;

  constructor(message: string, issues: ValidationIssue[], attempts: number) {
    super(message);
    this.issues = issues;
    this.attempts = attempts;
  }
}

/** A schema passed to `agent()` can never be satisfied, or is not valid JSON Schema (S202). */
export class SchemaError extends WeftError {}

/** An agent ended on a terminal model or API error (S203, S404). */
export class AgentError extends WeftError {
  /** HTTP status of the model API's answer, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options?: { status?: number; retryable?: boolean; cause?: unknown }) {
    super(message, options);
    this.status = options?.status;
  }
}

/** Bad configuration or flags: a missing binary, an unreachable server, an invalid option. */
export class ConfigError extends WeftError {}

/** The run's token, cost or duration budget is spent (S210). */
export class BudgetExceededError extends WeftError {}

/** A per-run limit was hit: more than 1000 agents, more than 4096 items (S207, S212). */
export class LimitError extends WeftError {}

/**
 * A step of a YAML workflow failed (S601): its agent failed with `errorMode: fail`, ran out of
 * retries, or a person rejected it at its approval gate (S602). The message names the step.
 */
export class StepFailedError extends WeftError {}

// ---- Stratus-style TypeScript API (S701-S703); TaskFailedError and WorkflowRunError, which carry
// Stratus results, are in src/stratus/errors.ts ----

/**
 * A Stratus run was cancelled through its `AbortSignal` or its run manager (S703).
 * @example
 * ```ts
 * run.catch((err) => err instanceof WorkflowRunError && err.cause instanceof RunCancelledError && console.log('stopped'));
 * ```
 */
export class RunCancelledError extends WeftError {}

/**
 * A Stratus session whose caller went away: no task ran and no message came for its idle timeout
 * (S703). The failure type of such a session workflow.
 * @example
 * ```ts
 * // a session whose caller died fails with failure type 'RunAbandonedError'; resume it:
 * await runWorkflow(def, args, { resumeFrom: abandonedRunId });
 * ```
 */
export class RunAbandonedError extends WeftError {}
