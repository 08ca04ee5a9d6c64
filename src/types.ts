/**
 * Types shared by the compiler, the workflow sandbox, the activities and the client. This file
 * holds types only, so workflow code may import it without pulling anything into the sandbox.
 */

/** A JSON Schema object, as passed to `agent(prompt, { schema })`. */
export type JsonSchema = Record<string, unknown>;

/** One entry of `meta.phases`. */
export interface PhaseSpec {
  title: string;
  detail?: string;
  model?: string;
}

/** The statically read `export const meta = {...}` of a script (S101). */
export interface ScriptMeta {
  name: string;
  description: string;
  whenToUse?: string;
  phases?: PhaseSpec[];
}

/** Which body form a script uses (S102). */
export type ScriptForm = 'body' | 'default-export';

/** One loop guard: text to put before the character at `offset` of a compiled script's code. */
export type GuardInsertion = [offset: number, text: string];

/** A script that passed every static check, ready to travel in a workflow's input. */
export interface CompiledScript {
  meta: ScriptMeta;
  form: ScriptForm;
  /**
   * The body of an async function whose parameters are `SCRIPT_GLOBALS` in order. Line N of
   * `code` is line N of the source file, so runtime errors point at the user's lines.
   */
  code: string;
  /**
   * Loop guards to splice into `code` before it runs (src/compiler/loop-guards.ts), in offset
   * order. Absent in runs recorded before guards existed, which run their code as it is.
   */
  guards?: GuardInsertion[];
  /** The script's path as the user gave it, or `<inline>`. */
  filename: string;
  /** The script file's folder, for resolving nested `workflow({ scriptPath })`; null when inline. */
  dir: string | null;
  /**
   * What the static checks found suspicious but not wrong, e.g. a top-level `require()` that will
   * throw (S103). `weft validate` prints them; they never stop a run. Absent when there are none.
   */
  warnings?: ScriptWarning[];
}

/** A static-check finding that does not refuse the script. */
export interface ScriptWarning {
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** One line, starting with `warning:`. */
  message: string;
}

/**
 * Token counts. `inputTokens` are the input tokens read fresh; prompt-cache writes and reads are
 * counted apart, since each has its own price (S805). Absent counts are zero.
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens written to the prompt cache. */
  cacheWriteTokens?: number;
  /** Of those, the ones written with the 1-hour TTL, which cost more. */
  cacheWrite1hTokens?: number;
  /** Input tokens read from the prompt cache. */
  cacheReadTokens?: number;
  /** Server-side web searches the model ran. */
  webSearchRequests?: number;
}

/** Per-run settings, fixed when the run starts so replays see the same values. */
export interface RunOptions {
  /** At most this many agents run at once (S212). */
  concurrency: number;
  /** Hard ceiling on output tokens, or null for none (S210). */
  budgetTokens: number | null;
  /** Hard ceiling on agents per run (S212). */
  maxAgents: number;
  /** The run's default model; agents without `opts.model` use it. Null means the worker's default. */
  model: string | null;
  /** The agents' working directory. */
  cwd: string;
  /** Answer every agent from the built-in model (S505). */
  dryRun: boolean;
  /** Longest an agent may run, across its model turns and tools, before it is failed (S405). */
  agentTimeoutMs: number;
  /** Model round trips an agent may take (issue 3's max-turns bound). */
  maxTurns: number;
  /** A finished or failed run whose completed agents serve this run's matching calls (S305). */
  resumeFrom: string | null;
  /** Hard ceiling on estimated spend in US dollars. */
  maxCostUsd: number | null;
  /** Hard ceiling on the run's wall time; agents still running then are stopped. */
  maxDurationMs: number | null;
  /**
   * Publish weft's search attributes (S503). Set only when the namespace has them registered:
   * upserting an unknown attribute would fail the workflow task.
   */
  searchAttributes?: boolean;
}

/** What `weft run` and `weft start` send as the workflow's single argument. */
export interface RunInput {
  script: CompiledScript;
  /** The script's `args`, verbatim JSON; absent when none was passed (S209). */
  args?: unknown;
  options: RunOptions;
}

/** Options a script may pass to `agent(prompt, opts)` (S202, S204). */
export interface AgentOptions {
  label?: string;
  phase?: string;
  schema?: JsonSchema;
  model?: string;
  agentType?: string;
  isolation?: 'worktree';
  /**
   * Longest this agent may run, in milliseconds, instead of the run's `--agent-timeout` (S405).
   * Not part of the resume key: it does not change the agent's work.
   */
  timeoutMs?: number;
  /**
   * What a terminal failure does: `'null'` (the default) resolves to null and records the reason
   * on the agent (S203); `'throw'` rejects with the error (its `name` is the failure type, e.g.
   * `AgentError`), so the script can report why. A stopped agent gives null either way.
   */
  onError?: 'null' | 'throw';
  /** How much effort the model spends on its answer: the Messages API's `output_config.effort`. */
  effort?: AgentEffort;
  /**
   * Extended thinking for this agent: the Messages API's `thinking`. A script may also pass `true`
   * or `'adaptive'` (adaptive), `false` (disabled) or a number (a budget in tokens); `agent()`
   * stores the object form.
   */
  thinking?: AgentThinking;
}

/** The effort levels of the Messages API's `output_config.effort`. */
export type AgentEffort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

/** The Messages API's `thinking` configurations an agent may ask for. */
export type AgentThinking =
  { type: 'adaptive' } | { type: 'disabled' } | { type: 'enabled'; budget_tokens: number };

/** What the workflow asks the agent activity to do for one `agent()` call. */
export interface AgentRequest {
  runId: string;
  /** 0-based position of this agent in the run. */
  index: number;
  label: string;
  phase: string | null;
  prompt: string;
  schema: JsonSchema | null;
  /** Model requested by the script or the run; null means the worker's default. */
  model: string | null;
  /**
   * The model the script itself named in `opts.model`, null when it named none. It decides
   * whether an agent type's model applies: `opts.model` beats the type's model, which beats the
   * run's default (S403). When absent (an older workflow), `model` is taken as explicit.
   */
  explicitModel?: string | null;
  agentType: string | null;
  isolation: 'worktree' | null;
  cwd: string;
  /** Schema attempts before giving up (S202). */
  maxSchemaAttempts: number;
  /** Model round trips before the agent is failed. */
  maxTurns: number;
  /**
   * Output tokens this agent may spend, reserved from the run's budget when it was admitted; the
   * agent stops rather than pass it. Null when the run has no token budget.
   */
  maxOutputTokens: number | null;
  /**
   * US dollars this agent may spend, reserved from the run's `--max-cost` when it was admitted;
   * each model call asks for no more output than what is left pays for at worst. Absent when the
   * run has no cost ceiling.
   */
  maxCostUsd?: number;
  /** Content key of this call for resume (S305); see `agentKey`. */
  cacheKey: string;
  /**
   * Which setting the activity's start-to-close timeout came from, for the timeout message;
   * absent means the run's `--agent-timeout`.
   */
  timeoutSetting?: string;
  /** 1 for the first call with this key in the run, 2 for the second, and so on. */
  occurrence: number;
  dryRun: boolean;
  /**
   * The agent's own instructions (a Stratus `Agent`'s `instructions`, S701), placed in the system
   * prompt after an agent type's prompt and before weft's non-interactive rules. Absent for scripts.
   */
  instructions?: string | null;
  /**
   * Tool names the agent may use, instead of its agent type's list (or every tool); `[]` gives it
   * none. StructuredOutput is never removed. Absent for scripts.
   */
  tools?: string[] | null;
  /**
   * The script's `opts.effort`, for the activity to send as `output_config.effort`; absent when
   * the script named none (the model's default).
   */
  effort?: AgentEffort;
  /** The script's `opts.thinking`, for the activity to send as `thinking`; absent when none. */
  thinking?: AgentThinking;
}

/** One context compaction of an agent's conversation (S803). */
export interface CompactionRecord {
  /** The model turn after which it happened. */
  turn: number;
  /** `clear-tool-results`: old tool results were replaced; `summary`: the middle was summarised. */
  kind: 'clear-tool-results' | 'summary';
  /** Estimated input tokens of the conversation before and after. */
  tokensBefore: number;
  tokensAfter: number;
  /** What triggered it: nearing the window, the model's stop reason, or a "prompt is too long" 400. */
  trigger: 'threshold' | 'context-window-exceeded' | 'prompt-too-long';
}

/** A git worktree an agent changed, kept for the user (S204). */
export interface WorktreeReport {
  path: string;
  branch: string;
}

/** What the agent activity returns. */
export interface AgentResult {
  /** Final text, or the validated StructuredOutput object when a schema was given. */
  output: unknown;
  model: string;
  usage: TokenUsage;
  costUsd: number;
  /** Model round trips. */
  turns: number;
  /** StructuredOutput attempts used (0 without a schema). */
  schemaAttempts: number;
  durationMs: number;
  worktree: WorktreeReport | null;
  /** Model requests made, retried ones included (S404, S406). */
  modelCalls?: number;
  /** Which Temporal attempt of the activity produced this result: 1, or more after a lost worker (S406). */
  activityAttempt?: number;
  /** Model turns a retried attempt took over from the previous attempt's checkpoint; 0 when none (S405). */
  resumedTurns?: number;
  /** Context compactions of the conversation, oldest first (S803). */
  compactions?: CompactionRecord[];
  /** False when the model has no known price: `costUsd` is then 0 and means "unknown" (S805). */
  costKnown?: boolean;
}

/** Where an agent stands, as the progress views show it. */
export type AgentStatus = 'queued' | 'running' | 'completed' | 'failed' | 'skipped' | 'cached';

/** The run's record of one `agent()` call (S203, S406). */
export interface AgentRecord {
  index: number;
  label: string;
  phase: string | null;
  /** Name of the nested workflow that started this agent, if any (S211). */
  group: string | null;
  status: AgentStatus;
  model: string | null;
  prompt: string;
  usage: TokenUsage;
  costUsd: number;
  /** Activity attempts: more than 1 when a lost worker or a timeout made Temporal retry it (S406). */
  attempts: number;
  /** StructuredOutput answers the model gave before one validated (S202). */
  schemaAttempts: number;
  /** Workflow-clock milliseconds since the epoch. */
  startedAt: number | null;
  endedAt: number | null;
  /** Why the agent failed or was skipped. */
  error: string | null;
  worktree: WorktreeReport | null;
  /** Served from the resumed run instead of running again (S305). */
  cached: boolean;
  /** Context compactions of the agent's conversation (S803); absent when none. */
  compactions?: CompactionRecord[];
  /** False when the agent's model has no known price, so `costUsd` means "unknown" (S805). */
  costKnown?: boolean;
}

/** A narrator line from `log()` (S208). */
export interface LogLine {
  at: number;
  message: string;
  group: string | null;
}

/** The live state of a run, returned by the `progress` query and in the final result. */
export interface RunProgress {
  name: string;
  state: 'running' | 'paused' | 'completed' | 'failed';
  phases: PhaseSpec[];
  agents: AgentRecord[];
  logs: LogLine[];
  usage: TokenUsage;
  costUsd: number;
  concurrency: number;
  budgetTokens: number | null;
  startedAt: number;
  /** Why the run stopped admitting agents: a spent budget or a passed deadline. */
  stopReason: string | null;
  /** Every `approval()` of the run, waiting or decided (S602); absent in runs before approvals existed. */
  approvals?: ApprovalRecord[];
}

/** One `approval(step, message)` gate of a run (S602). */
export interface ApprovalRecord {
  /** 0-based position among the run's approvals. */
  index: number;
  /** The step (or any name the script chose) a person approves. */
  step: string;
  /** What the script asked, shown to the person. */
  message: string | null;
  /** Name of the nested workflow that asked, if any (S211). */
  group: string | null;
  status: 'waiting' | 'approved' | 'rejected';
  /** Workflow-clock milliseconds since the epoch. */
  requestedAt: number;
  decidedAt: number | null;
  /** Who decided, as the approver gave it. */
  by: string | null;
  comment: string | null;
}

/** What `weft approve` / `weft reject` send to a waiting run (S602). */
export interface ApprovalDecision {
  /** The waiting step; may be left out when exactly one approval is waiting. */
  step?: string;
  approved: boolean;
  by?: string;
  comment?: string;
}

/** What `approval()` resolves to in a script. */
export interface ApprovalResult {
  approved: boolean;
  by: string | null;
  comment: string | null;
}

/** What the interpreter workflow returns. */
export interface RunOutput {
  /** The script's return value. */
  result: unknown;
  /** Agents the run started. */
  agents: number;
  usage: TokenUsage;
  costUsd: number;
  records: AgentRecord[];
  logs: LogLine[];
  /** Agent calls served from the resumed run (S305). */
  cached: number;
  /** Set when a budget or deadline ended the run early; `result` is then partial or null. */
  stopReason: string | null;
  /** Every `approval()` of the run (S602); absent in runs before approvals existed. */
  approvals?: ApprovalRecord[];
}

/** One completed agent of an earlier run, offered to a resumed run (S305). */
export interface ResumeEntry {
  key: string;
  occurrence: number;
  label: string;
  result: AgentResult;
}

/** What a resumed run is served from. */
export interface ResumeCache {
  runId: string;
  entries: ResumeEntry[];
}

/** Where a nested `workflow()` call points (S211). */
export interface LoadWorkflowRequest {
  ref: string | { scriptPath: string };
  /** Folder of the calling script, for relative `scriptPath`s; null for inline scripts. */
  callerDir: string | null;
  /** The run's working directory, whose `.weft/workflows` and `.claude/workflows` are searched. */
  cwd: string;
}

/** A control request from `weft stop --agent` (S306). */
export interface StopAgentRequest {
  /** An agent's index, or a label matched exactly. */
  agent: number | string;
  reason?: string;
}

/** The activities that do an agent's work and load nested scripts; built by `createActivities`. */
export interface AgentActivities {
  runAgent(request: AgentRequest): Promise<AgentResult>;
  loadWorkflow(request: LoadWorkflowRequest): Promise<CompiledScript>;
}

/** The activities that read earlier runs from Temporal; built by `createRunHistoryActivities`. */
export interface RunHistoryActivities {
  fetchResumeCache(request: { runId: string }): Promise<ResumeCache>;
}

/** Every activity the interpreter workflow calls; the workflow sees only this type. */
export type WeftActivities = AgentActivities & RunHistoryActivities;
