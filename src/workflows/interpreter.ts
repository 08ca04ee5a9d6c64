import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  inWorkflowContext,
  isCancellation,
  patched,
  proxyActivities,
  sleep,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  AgentEffort,
  AgentOptions,
  AgentRecord,
  AgentThinking,
  ApprovalDecision,
  ApprovalRecord,
  ApprovalResult,
  AgentRequest,
  AgentResult,
  CompiledScript,
  JsonSchema,
  LogLine,
  PhaseSpec,
  ResumeEntry,
  RunInput,
  RunOutput,
  RunProgress,
  StopAgentRequest,
  TokenUsage,
  WeftActivities,
} from '../types';
import {
  WEFT_AGENTS,
  WEFT_COST_USD,
  WEFT_FAILED_AGENTS,
  WEFT_OUTPUT_TOKENS,
  WEFT_PHASE,
} from '../search-attributes';
import { agentKey } from './agent-key';
import { runAgent, SCHEMA_ATTEMPTS } from './agent-activity';
import { approveUpdate, continueSignal, pauseSignal, progressQuery, stopAgentUpdate } from './definitions';
import { SCRIPT_GLOBALS, SCRIPT_TICK } from './script-globals';
import { absentHost, ScriptDate, ScriptMath } from './script-sandbox';
import { addTokenUsage } from './token-usage';
import { applyGuards, ScriptWatchdog, unstorable } from './script-watchdog';
import { Semaphore } from './semaphore';

/** Items one `parallel()` or `pipeline()` call accepts (S207). */
export const MAX_ITEMS = 4096;
/** Characters of each prompt kept in run records; the full prompt is in the activity's input. */
const PROMPT_PREVIEW = 500;
/** Counters in search attributes lag by at most this much workflow time; each upsert is an event. */
const ATTRIBUTE_INTERVAL_MS = 5_000;
/** Running agents named per phase in the Web UI's current details. */
const RUNNING_SHOWN = 5;

// The agent activity (heartbeat timeout, retry policy) is shared with the Stratus session workflow.

const { loadWorkflow, fetchResumeCache } = proxyActivities<WeftActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['ScriptError', 'ConfigError'] },
});

/**
 * The smallest output-token allowance an agent is admitted with while the budget allows it: an
 * agent needs room for a real answer, so under a tight budget fewer agents run at once instead of
 * many starting with allowances too small to finish.
 */
const MIN_TOKEN_ALLOWANCE = 1024;

/**
 * The smallest cost allowance an agent is admitted with while the ceiling allows it, for the same
 * reason: a few cents pays for a real answer on every priced model but the dearest.
 */
const MIN_COST_ALLOWANCE_USD = 0.05;

/**
 * Runs started before agents reserved cost allowances admitted by the average cost of finished
 * agents; their histories replay with that rule.
 */
const COST_ALLOWANCE_PATCH = 'cost-allowance';

/** Errors the script may see carry the failure type as their name, e.g. `AgentOutputError`. */
function namedError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** Turns an activity failure into the error the script sees: the cause's type and message. */
function unwrapActivityFailure(err: unknown): Error {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    return namedError(err.cause.type ?? 'Error', err.cause.message);
  }
  if (err instanceof ActivityFailure && err.cause) return namedError(err.cause.name, err.cause.message);
  return err instanceof Error ? err : new Error(describeThrown(err));
}

/**
 * A thrown non-Error as text. A script may throw anything, even an object String() cannot convert;
 * an exception here would fail the workflow task, which Temporal retries forever.
 */
function describeThrown(value: unknown): string {
  try {
    return String(value);
  } catch {
    return `the script threw a value that cannot be shown as text`;
  }
}

/**
 * Refuses schemas that can never be satisfied, before any agent starts (S202). Full JSON Schema
 * validity is checked by ajv in the activity, since ajv cannot be imported into the sandbox.
 */
function assertSatisfiableSchema(schema: unknown): asserts schema is JsonSchema {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw namedError('SchemaError', 'agent() schema must be a JSON Schema object');
  }
  const s = schema as Record<string, unknown>;
  if (s.type !== undefined && s.type !== 'object') {
    throw namedError(
      'SchemaError',
      `agent() schema root must be {type: 'object'} (StructuredOutput takes an object), got type ${JSON.stringify(s.type)}`,
    );
  }
  const required = Array.isArray(s.required) ? (s.required as unknown[]) : [];
  const properties =
    typeof s.properties === 'object' && s.properties !== null
      ? (s.properties as Record<string, unknown>)
      : {};
  if (s.additionalProperties === false) {
    for (const key of required) {
      if (typeof key === 'string' && !(key in properties)) {
        throw namedError(
          'SchemaError',
          `agent() schema can never be satisfied: required key "${key}" is forbidden by additionalProperties: false`,
        );
      }
    }
  }
}

/** The `agent()` options weft honours; scripts written for other runtimes may pass more. */
const KNOWN_AGENT_OPTIONS: ReadonlySet<string> = new Set([
  'label',
  'phase',
  'schema',
  'model',
  'agentType',
  'isolation',
  'timeoutMs',
  'onError',
  'effort',
  'thinking',
]);

const EFFORTS: readonly AgentEffort[] = ['low', 'medium', 'high', 'xhigh', 'max'];

/** `opts.thinking` in the API's object form, or null when weft cannot honour the value. */
function thinkingConfig(value: unknown): AgentThinking | null {
  if (value === true || value === 'adaptive') return { type: 'adaptive' };
  if (value === false) return { type: 'disabled' };
  // A bare number is a thinking budget, as other runtimes take it.
  if (typeof value === 'number' && Number.isFinite(value) && value >= 1) {
    return { type: 'enabled', budget_tokens: Math.floor(value) };
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.type === 'adaptive' || v.type === 'disabled') return { type: v.type };
  if (v.type === 'enabled' && typeof v.budget_tokens === 'number' && v.budget_tokens >= 1) {
    return { type: 'enabled', budget_tokens: Math.floor(v.budget_tokens) };
  }
  return null;
}

/**
 * Checks `agent()`'s arguments. Options weft does not know, and `effort`/`thinking` values it
 * cannot honour, are dropped and reported through `ignore` rather than failing the call: scripts
 * written for other runtimes pass them.
 */
function checkAgentOptions(prompt: unknown, opts: unknown, ignore: (option: string) => void): AgentOptions {
  if (typeof prompt !== 'string' || prompt.length === 0) {
    throw new TypeError('agent(prompt, opts?) needs a non-empty prompt string');
  }
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || Array.isArray(opts))
    throw new TypeError('agent() options must be an object');
  const o = opts as Record<string, unknown>;
  for (const key of ['label', 'phase', 'model', 'agentType'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'string') {
      throw new TypeError(`agent() option ${key} must be a string`);
    }
  }
  if (o.isolation !== undefined && o.isolation !== 'worktree') {
    throw new TypeError(`agent() option isolation must be 'worktree'`);
  }
  if (o.timeoutMs !== undefined && !(typeof o.timeoutMs === 'number' && o.timeoutMs >= 1)) {
    throw new TypeError('agent() option timeoutMs must be a number of milliseconds, at least 1');
  }
  if (o.onError !== undefined && o.onError !== 'null' && o.onError !== 'throw') {
    throw new TypeError(`agent() option onError must be 'null' or 'throw'`);
  }
  if (o.schema !== undefined) {
    // The schema travels to the agent activity as JSON; one JSON cannot hold fails here, not there.
    const why = unstorable(o.schema, 'schema');
    if (why !== null)
      throw new TypeError(`agent() option schema holds ${why}, which cannot be sent: use JSON values`);
    assertSatisfiableSchema(o.schema);
  }
  const checked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    if (!KNOWN_AGENT_OPTIONS.has(key)) ignore(key);
    else if (value !== undefined) checked[key] = value;
  }
  if (checked.effort !== undefined && !EFFORTS.includes(checked.effort as AgentEffort)) {
    ignore(`effort = ${JSON.stringify(checked.effort)}`);
    delete checked.effort;
  }
  if (checked.thinking !== undefined) {
    const thinking = thinkingConfig(checked.thinking);
    if (thinking === null) ignore(`thinking = ${JSON.stringify(checked.thinking)}`);
    if (thinking === null) delete checked.thinking;
    else checked.thinking = thinking;
  }
  return checked as AgentOptions;
}

/** Per-script state: the top-level script, or a nested `workflow()` child running inline (S211). */
interface ScriptContext {
  /** Nested workflow name the agents show under, or null at top level. */
  group: string | null;
  depth: number;
  phase: string | null;
  dir: string | null;
}

interface LiveAgent {
  record: AgentRecord;
  scope: CancellationScope;
  stopReason: string | null;
  /** Output tokens reserved for this agent while it runs; 0 before admission. */
  allowance: number;
  /** US dollars reserved for this agent while it runs, under `--max-cost`; 0 before admission. */
  costAllowance: number;
  admitted: boolean;
}

/** The state of one run and the script API bound to it. */
class Run {
  private readonly records: AgentRecord[] = [];
  private readonly logs: LogLine[] = [];
  private readonly approvals: ApprovalRecord[] = [];
  /** Fails the run when a script runs on without awaiting (an endless loop). */
  private readonly watchdog = new ScriptWatchdog();
  /** How the script ended, for queries that arrive after the end (a replay of a closed run). */
  private ended: 'completed' | 'failed' | null = null;
  private readonly usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  private costUsd = 0;
  private started = 0;
  private paused = false;
  private readonly semaphore: Semaphore;
  private readonly live = new Map<number, LiveAgent>();
  private readonly phases: PhaseSpec[];
  private readonly startedAt = Date.now();
  /** Completed agents of the resumed run, by `key#occurrence` (S305). */
  private readonly cache = new Map<string, ResumeEntry>();
  private readonly occurrences = new Map<string, number>();
  private cachedCount = 0;
  /** Set when a budget or the deadline stops the run from admitting agents. */
  private stopReason: string | null = null;
  /** The top-level script's current phase, as search attributes and current details show it. */
  private currentPhase: string | null = null;
  private attributesAt = -Infinity;
  // The start already carries zero counters (typedSearchAttributes), so there is nothing to upsert yet.
  private attributesPublished = '0/0/0/0';

  constructor(private readonly input: RunInput) {
    this.semaphore = new Semaphore(Math.max(1, input.options.concurrency));
    this.phases = [...(input.script.meta.phases ?? [])];
  }

  installHandlers(): void {
    setHandler(progressQuery, () => this.progress(this.ended ?? 'running'));
    setHandler(pauseSignal, () => {
      this.paused = true;
      this.semaphore.setPaused(true);
      this.publishDetails();
    });
    setHandler(continueSignal, () => {
      this.paused = false;
      this.semaphore.setPaused(false);
      this.publishDetails();
    });
    setHandler(stopAgentUpdate, (request) => this.stopAgent(request), {
      validator: (request: StopAgentRequest) => {
        if (typeof request?.agent !== 'number' && typeof request?.agent !== 'string') {
          throw new TypeError('stopAgent needs an agent index or label');
        }
      },
    });
    setHandler(approveUpdate, (decision) => this.decide(decision), {
      validator: (decision: ApprovalDecision) => void this.waitingApproval(decision),
    });
  }

  async execute(): Promise<RunOutput> {
    this.installHandlers();
    this.publishDetails();
    const { script, args, options } = this.input;
    try {
      if (options.resumeFrom) await this.loadResumeCache(options.resumeFrom);
      if (options.maxDurationMs !== null) this.startDeadline(options.maxDurationMs);
      // A tripped watchdog fails the run even when the script caught its error or waits forever.
      const result = await Promise.race([
        this.runScript(script, args, { group: null, depth: 0, phase: null, dir: script.dir }),
        this.watchdog.tripped,
      ]);
      if (this.watchdog.failure) throw this.watchdog.failure;
      // A result JSON cannot hold would fail every attempt to complete the run: fail it once instead.
      const why = unstorable(result, 'result');
      if (why !== null) {
        throw namedError(
          'ScriptError',
          `${script.filename}: the script returned ${why}, which cannot be stored: return JSON values`,
        );
      }
      this.ended = 'completed';
      return this.output(result);
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A budget that runs out ends the run cleanly with what it has, and says why.
      if (this.stopReason !== null && err instanceof Error && err.name === 'BudgetExceededError') {
        this.ended = 'completed';
        return this.output(null);
      }
      this.ended = 'failed';
      // A script error ends the run as failed, never as a workflow-task retry loop.
      const error = this.watchdog.failure ?? unwrapActivityFailure(err);
      // A script may leave what it got so far on its error (the YAML runner's step list), so a
      // failed run still shows it, when it can be stored.
      let partial: unknown;
      try {
        partial = (err as { partialResult?: unknown } | null)?.partialResult;
        if (unstorable(partial, 'partial') !== null) partial = undefined;
      } catch {
        partial = undefined;
      }
      throw ApplicationFailure.create({
        type: typeof error.name === 'string' && error.name ? error.name : 'Error',
        message: typeof error.message === 'string' ? error.message : describeThrown(error.message),
        nonRetryable: true,
        details: [{ agents: this.started, usage: this.usage, ...(partial === undefined ? {} : { partial }) }],
      });
    } finally {
      this.publishDetails(true);
    }
  }

  private async loadResumeCache(runId: string): Promise<void> {
    let cache;
    try {
      cache = await fetchResumeCache({ runId });
    } catch (err) {
      throw unwrapActivityFailure(err);
    }
    for (const entry of cache.entries) this.cache.set(`${entry.key}#${entry.occurrence}`, entry);
    this.logs.push({
      at: Date.now(),
      message: `resuming from ${runId}: ${cache.entries.length} completed agents available`,
      group: null,
    });
  }

  /** After the deadline, running agents are stopped and no more start (--max-duration). */
  private startDeadline(ms: number): void {
    void CancellationScope.nonCancellable(async () => {
      await sleep(ms);
      this.stop(`deadline passed: the run may take at most ${Math.round(ms / 1000)}s`);
      for (const live of this.live.values()) {
        live.stopReason = this.stopReason;
        live.scope.cancel();
      }
    });
  }

  private stop(reason: string): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.logs.push({ at: Date.now(), message: `run stops admitting agents: ${reason}`, group: null });
  }

  private async runScript(script: CompiledScript, args: unknown, ctx: ScriptContext): Promise<unknown> {
    // The sandbox allows code generation from strings; the script's globals are parameters so the
    // sandbox's frozen global object is never touched.
    // Scripts compiled with loop guards get them spliced in; older runs replay their code as it was.
    const code = script.guards ? applyGuards(script.code, script.guards) : script.code;
    const body = `return (async () => {"use strict";${code}\n})();`;
    const fn = new Function(...SCRIPT_GLOBALS, SCRIPT_TICK, body) as (
      ...globals: unknown[]
    ) => Promise<unknown>;
    const api = this.scriptApi(ctx);
    return fn(
      api.agent,
      api.parallel,
      api.pipeline,
      api.phase,
      api.log,
      args,
      api.budget,
      api.workflow,
      api.approval,
      ScriptDate,
      ScriptMath,
      absentHost,
      this.watchdog.tickFor(script.filename),
    );
  }

  private scriptApi(ctx: ScriptContext) {
    const budget = Object.freeze({
      total: this.input.options.budgetTokens,
      spent: (): number => this.usage.outputTokens,
      remaining: (): number =>
        this.input.options.budgetTokens === null
          ? Infinity
          : Math.max(0, this.input.options.budgetTokens - this.usage.outputTokens),
    });
    return {
      agent: (prompt: unknown, opts?: unknown) => this.agent(prompt, opts, ctx),
      parallel: (thunks: unknown) => this.parallel(thunks),
      pipeline: (items: unknown, ...stages: unknown[]) => this.pipeline(items, stages),
      phase: (title: unknown) => {
        if (typeof title !== 'string') throw new TypeError('phase(title) needs a string');
        ctx.phase = title;
        this.notePhase(title);
        if (ctx.group === null && title !== this.currentPhase) {
          this.currentPhase = title;
          if (this.input.options.searchAttributes)
            upsertSearchAttributes([{ key: WEFT_PHASE, value: title }]);
          this.publishDetails();
        }
      },
      log: (message: unknown) => {
        this.logs.push({
          at: Date.now(),
          message: typeof message === 'string' ? message : JSON.stringify(message),
          group: ctx.group,
        });
      },
      budget,
      workflow: (ref: unknown, childArgs?: unknown) => this.workflow(ref, childArgs, ctx),
      approval: (step: unknown, message?: unknown) => this.approval(step, message, ctx),
    };
  }

  /**
   * The script global `approval(step, message?)`: waits, with no timer and for as long as it takes,
   * until a person approves or rejects `step` through the `weft.approve` update (`weft approve` /
   * `weft reject`, S602). The wait is workflow state, so it survives worker restarts; cancelling
   * the run ends it. Resolves to `{ approved, by, comment }`; a rejection does not throw.
   *
   * @example
   * const { approved, comment } = await approval('Deploy', 'Deploy v2 to production?');
   * if (!approved) return { skipped: comment };
   */
  private async approval(step: unknown, message: unknown, ctx: ScriptContext): Promise<ApprovalResult> {
    if (typeof step !== 'string' || step.trim() === '') {
      throw new TypeError('approval(step, message?) needs a non-empty step name');
    }
    if (message !== undefined && message !== null && typeof message !== 'string') {
      throw new TypeError('approval() message must be a string');
    }
    const record: ApprovalRecord = {
      index: this.approvals.length,
      step,
      message: typeof message === 'string' ? message : null,
      group: ctx.group,
      status: 'waiting',
      requestedAt: Date.now(),
      decidedAt: null,
      by: null,
      comment: null,
    };
    this.approvals.push(record);
    this.logs.push({
      at: record.requestedAt,
      message: `waiting for approval of step "${step}"${record.message ? `: ${record.message}` : ''}`,
      group: ctx.group,
    });
    this.publishDetails();
    await condition(() => record.status !== 'waiting');
    return { approved: record.status === 'approved', by: record.by, comment: record.comment };
  }

  /** The waiting approval a decision names; throws (refusing the update) when there is none. */
  private waitingApproval(decision: ApprovalDecision): ApprovalRecord {
    if (typeof decision?.approved !== 'boolean') throw new TypeError('approve needs approved: true or false');
    const waiting = this.approvals.filter((a) => a.status === 'waiting');
    if (decision.step === undefined || decision.step === null) {
      if (waiting.length === 1) return waiting[0]!;
      if (waiting.length === 0) throw new Error('no step is waiting for approval');
      throw new Error(
        `${waiting.length} steps are waiting for approval (${waiting.map((a) => a.step).join(', ')}): name one`,
      );
    }
    const found = waiting.find((a) => a.step === decision.step);
    if (found) return found;
    throw new Error(
      `step "${decision.step}" is not waiting for approval` +
        (waiting.length > 0 ? ` (waiting: ${waiting.map((a) => a.step).join(', ')})` : ''),
    );
  }

  private decide(decision: ApprovalDecision): ApprovalRecord {
    const record = this.waitingApproval(decision);
    record.status = decision.approved ? 'approved' : 'rejected';
    record.decidedAt = Date.now();
    record.by = typeof decision.by === 'string' ? decision.by : null;
    record.comment = typeof decision.comment === 'string' ? decision.comment : null;
    this.logs.push({
      at: record.decidedAt,
      message:
        `step "${record.step}" ${record.status}${record.by ? ` by ${record.by}` : ''}` +
        `${record.comment ? `: ${record.comment}` : ''}`,
      group: record.group,
    });
    this.publishDetails();
    return record;
  }

  private notePhase(title: string): void {
    if (!this.phases.some((p) => p.title === title)) this.phases.push({ title });
  }

  private budgetError(): Error {
    return namedError(
      'BudgetExceededError',
      `${this.stopReason ?? 'budget spent'}; agent() refuses to start more agents`,
    );
  }

  /** Throws once a budget is spent or the deadline passed (S210). */
  private checkBudget(): void {
    const { budgetTokens, maxCostUsd } = this.input.options;
    if (budgetTokens !== null && this.usage.outputTokens >= budgetTokens) {
      this.stop(`token budget spent: ${this.usage.outputTokens} of ${budgetTokens} output tokens`);
    }
    if (maxCostUsd !== null && this.costUsd >= maxCostUsd) {
      this.stop(`cost budget spent: $${this.costUsd.toFixed(4)} of $${maxCostUsd}`);
    }
    if (this.stopReason !== null) throw this.budgetError();
  }

  /**
   * Admission control: an agent starts only when what is spent plus the worst case of the agents
   * in flight cannot pass the budget. Each admitted agent reserves an output-token allowance that
   * the activity enforces, so a concurrency window can never overshoot the ceiling.
   */
  private async admit(live: LiveAgent): Promise<void> {
    const { budgetTokens, maxCostUsd, concurrency } = this.input.options;
    for (;;) {
      this.checkBudget();
      const inFlight = [...this.live.values()].filter((l) => l.admitted);
      let allowance = 0;
      let fits = true;
      if (budgetTokens !== null) {
        const left = budgetTokens - this.usage.outputTokens;
        const room = left - inFlight.reduce((sum, l) => sum + l.allowance, 0);
        const want = Math.max(
          Math.ceil(left / Math.max(1, concurrency)),
          Math.min(MIN_TOKEN_ALLOWANCE, left),
        );
        if (room >= want) allowance = want;
        else if (inFlight.length === 0) allowance = left;
        else fits = false;
      }
      let costAllowance = 0;
      if (fits && maxCostUsd !== null && patched(COST_ALLOWANCE_PATCH)) {
        const left = maxCostUsd - this.costUsd;
        const room = left - inFlight.reduce((sum, l) => sum + l.costAllowance, 0);
        const want = Math.max(left / Math.max(1, concurrency), Math.min(MIN_COST_ALLOWANCE_USD, left));
        if (room >= want) costAllowance = want;
        else if (inFlight.length === 0) costAllowance = left;
        else fits = false;
      } else if (fits && maxCostUsd !== null && inFlight.length > 0) {
        const done = this.records.filter((r) => r.status === 'completed' || r.status === 'failed');
        const perAgent = done.length > 0 ? this.costUsd / done.length : Infinity;
        fits = this.costUsd + perAgent * (inFlight.length + 1) <= maxCostUsd;
      }
      if (fits) {
        live.allowance = allowance;
        live.costAllowance = costAllowance;
        live.admitted = true;
        return;
      }
      const settled = this.settledCount;
      await condition(() => this.settledCount !== settled || this.stopReason !== null);
    }
  }

  /** Bumped whenever an agent ends, so admission waiters re-check. */
  private settledCount = 0;
  /** `agent()` options already logged as ignored: one narrator line each per run, not per call. */
  private readonly ignoredOptions = new Set<string>();

  private noteIgnoredOption(option: string, ctx: ScriptContext): void {
    if (this.ignoredOptions.has(option)) return;
    this.ignoredOptions.add(option);
    this.logs.push({
      at: Date.now(),
      message: `agent() ignores option ${option}: weft does not honour it (later uses are not logged)`,
      group: ctx.group,
    });
  }

  private async agent(prompt: unknown, rawOpts: unknown, ctx: ScriptContext): Promise<unknown> {
    const opts = checkAgentOptions(prompt, rawOpts, (option) => this.noteIgnoredOption(option, ctx));
    const model = opts.model ?? this.input.options.model;
    const cacheKey = agentKey({
      prompt: prompt as string,
      schema: opts.schema ?? null,
      model,
      agentType: opts.agentType ?? null,
      isolation: opts.isolation ?? null,
      // Absent keys leave the key of an agent without them as it always was.
      ...(opts.effort === undefined ? {} : { effort: opts.effort }),
      ...(opts.thinking === undefined ? {} : { thinking: opts.thinking }),
    });
    const occurrence = (this.occurrences.get(cacheKey) ?? 0) + 1;
    this.occurrences.set(cacheKey, occurrence);
    if (this.records.length >= this.input.options.maxAgents) {
      throw namedError(
        'LimitError',
        `agent limit reached: a run may start at most ${this.input.options.maxAgents} agents`,
      );
    }
    this.checkBudget();
    const index = this.records.length;
    const phase = opts.phase ?? ctx.phase;
    if (phase !== null) this.notePhase(phase);
    const record: AgentRecord = {
      index,
      label: opts.label ?? `agent-${index}`,
      phase,
      group: ctx.group,
      status: 'queued',
      model,
      prompt: (prompt as string).slice(0, PROMPT_PREVIEW),
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      attempts: 0,
      schemaAttempts: 0,
      startedAt: null,
      endedAt: null,
      error: null,
      worktree: null,
      cached: false,
    };
    this.records.push(record);
    const hit = this.cache.get(`${cacheKey}#${occurrence}`);
    if (hit) {
      // Served from the resumed run: its tokens were spent there, not here.
      this.cachedCount++;
      Object.assign(record, {
        status: 'cached',
        cached: true,
        model: hit.result.model,
        usage: hit.result.usage,
        costUsd: hit.result.costUsd,
        attempts: 0,
        schemaAttempts: hit.result.schemaAttempts,
        worktree: hit.result.worktree,
        startedAt: Date.now(),
        endedAt: Date.now(),
      } satisfies Partial<AgentRecord>);
      this.publishDetails();
      return hit.result.output;
    }
    const live: LiveAgent = {
      record,
      scope: new CancellationScope(),
      stopReason: null,
      allowance: 0,
      costAllowance: 0,
      admitted: false,
    };
    this.live.set(index, live);
    const request: AgentRequest = {
      runId: workflowInfo().workflowId,
      index,
      label: record.label,
      phase,
      prompt: prompt as string,
      schema: opts.schema ?? null,
      model,
      explicitModel: opts.model ?? null,
      agentType: opts.agentType ?? null,
      isolation: opts.isolation ?? null,
      cwd: this.input.options.cwd,
      maxSchemaAttempts: SCHEMA_ATTEMPTS,
      maxTurns: this.input.options.maxTurns,
      maxOutputTokens: null,
      cacheKey,
      occurrence,
      dryRun: this.input.options.dryRun,
      ...(opts.timeoutMs === undefined ? {} : { timeoutSetting: 'timeoutMs' }),
      ...(opts.effort === undefined ? {} : { effort: opts.effort }),
      ...(opts.thinking === undefined ? {} : { thinking: opts.thinking }),
    };
    try {
      const result = await live.scope.run(async () => {
        await this.semaphore.acquire();
        try {
          // The budget may have run out while this agent waited for a slot.
          await this.admit(live);
          if (this.input.options.budgetTokens !== null) request.maxOutputTokens = live.allowance;
          if (live.costAllowance > 0) request.maxCostUsd = live.costAllowance;
          record.status = 'running';
          record.startedAt = Date.now();
          this.started++;
          this.publishDetails();
          return await runAgent.executeWithOptions(
            {
              summary: record.label,
              startToCloseTimeout: opts.timeoutMs ?? this.input.options.agentTimeoutMs,
            },
            [request],
          );
        } finally {
          this.semaphore.release();
        }
      });
      this.finishAgent(record, 'completed', result, null);
      return result.output;
    } catch (err) {
      if (live.stopReason !== null && isCancellation(err)) {
        this.finishAgent(record, 'skipped', null, live.stopReason);
        return null;
      }
      if (isCancellation(err)) {
        this.finishAgent(record, 'skipped', null, 'run stopped');
        throw err;
      }
      const error = unwrapActivityFailure(err);
      this.chargeFailedAttempts(record, err);
      // An agent that used up its allowance means the budget is spent for everyone after it.
      if (error.name === 'BudgetExceededError') this.stopForSpentAllowance(error.message);
      // An agent the budget kept from starting was skipped, not failed.
      const neverStarted = record.startedAt === null;
      this.finishAgent(record, neverStarted ? 'skipped' : 'failed', null, `${error.name}: ${error.message}`);
      // Output that never matched the schema, or a schema that can't be used, is the script's
      // problem to handle (S202); any other terminal failure gives null (S203).
      if (['AgentOutputError', 'SchemaError', 'BudgetExceededError', 'TypeError'].includes(error.name))
        throw error;
      if (opts.onError === 'throw') throw error;
      return null;
    } finally {
      this.live.delete(index);
      this.settledCount++;
    }
  }

  /** Stops the run after an agent used up its token or cost allowance. */
  private stopForSpentAllowance(message: string): void {
    const { budgetTokens, maxCostUsd } = this.input.options;
    if (maxCostUsd !== null && message.includes('cost ceiling')) {
      this.stop(`cost budget spent: $${this.costUsd.toFixed(4)} of $${maxCostUsd}`);
    } else if (budgetTokens !== null) {
      this.stop(`token budget spent: ${this.usage.outputTokens} of ${budgetTokens} output tokens`);
    }
  }

  /** Tokens spent by attempts that ended in a failure still count toward the budget (S406). */
  private chargeFailedAttempts(record: AgentRecord, err: unknown): void {
    if (!(err instanceof ActivityFailure) || !(err.cause instanceof ApplicationFailure)) return;
    const detail = err.cause.details?.[0] as
      { usage?: TokenUsage; costUsd?: number; worktree?: AgentRecord['worktree'] } | undefined;
    if (detail?.worktree) record.worktree = detail.worktree;
    record.attempts = Math.max(1, record.attempts);
    if (detail?.usage) {
      record.usage = detail.usage;
      addTokenUsage(this.usage, detail.usage);
    }
    if (typeof detail?.costUsd === 'number') {
      record.costUsd = detail.costUsd;
      this.costUsd += detail.costUsd;
    }
  }

  private finishAgent(
    record: AgentRecord,
    status: AgentRecord['status'],
    result: AgentResult | null,
    error: string | null,
  ): void {
    record.status = status;
    record.endedAt = Date.now();
    record.error = error;
    if (result) {
      record.model = result.model;
      record.usage = result.usage;
      record.costUsd = result.costUsd;
      record.attempts = result.activityAttempt ?? 1;
      record.schemaAttempts = result.schemaAttempts;
      record.worktree = result.worktree;
      if (result.compactions && result.compactions.length > 0) record.compactions = result.compactions;
      if (result.costKnown === false) record.costKnown = false;
      addTokenUsage(this.usage, result.usage);
      this.costUsd += result.costUsd;
    }
    this.publishDetails();
  }

  private stopAgent(request: StopAgentRequest): number {
    let matched = 0;
    for (const live of this.live.values()) {
      const { record } = live;
      if (record.index === request.agent || record.label === request.agent) {
        live.stopReason = request.reason ?? 'stopped by a person';
        live.scope.cancel();
        matched++;
      }
    }
    return matched;
  }

  private checkItems(name: string, items: unknown): unknown[] {
    if (!Array.isArray(items)) throw new TypeError(`${name}() needs an array`);
    if (items.length > MAX_ITEMS) {
      throw namedError('LimitError', `${name}() takes at most ${MAX_ITEMS} items, got ${items.length}`);
    }
    return items;
  }

  /**
   * Adds a narrator line of weft's own. Catch handlers can still run after a workflow task timed
   * out and the sandbox was disposed; touching the workflow clock then would crash the worker.
   */
  private note(message: string): void {
    if (!inWorkflowContext()) return;
    this.logs.push({ at: Date.now(), message, group: null });
  }

  /** Errors that must end the run rather than turn one item into null. */
  private isRunLevel(err: unknown): boolean {
    if (!inWorkflowContext()) return true;
    return isCancellation(err) && CancellationScope.current().consideredCancelled;
  }

  private async parallel(thunks: unknown): Promise<unknown[]> {
    const list = this.checkItems('parallel', thunks);
    list.forEach((thunk, i) => {
      if (typeof thunk !== 'function') {
        throw new TypeError(
          `parallel() takes functions, not promises or values (item ${i}): write () => agent(...)`,
        );
      }
    });
    return Promise.all(
      (list as Array<() => unknown>).map(async (thunk, i) => {
        try {
          return await thunk();
        } catch (err) {
          if (this.isRunLevel(err)) throw err;
          this.note(`parallel item ${i} failed: ${describe(err)}`);
          return null;
        }
      }),
    );
  }

  private async pipeline(items: unknown, stages: unknown[]): Promise<unknown[]> {
    const list = this.checkItems('pipeline', items);
    stages.forEach((stage, i) => {
      if (typeof stage !== 'function') throw new TypeError(`pipeline() stage ${i + 1} must be a function`);
    });
    const fns = stages as Array<(prev: unknown, item: unknown, index: number) => unknown>;
    return Promise.all(
      list.map(async (item, index) => {
        let value: unknown = item;
        for (const [s, stage] of fns.entries()) {
          try {
            value = await stage(value, item, index);
          } catch (err) {
            if (this.isRunLevel(err)) throw err;
            this.note(`pipeline item ${index} dropped at stage ${s + 1}: ${describe(err)}`);
            return null;
          }
        }
        return value;
      }),
    );
  }

  private async workflow(ref: unknown, childArgs: unknown, ctx: ScriptContext): Promise<unknown> {
    if (ctx.depth > 0) {
      throw namedError(
        'LimitError',
        'workflow() cannot be called inside a nested workflow: nesting is one level only',
      );
    }
    const isRef =
      typeof ref === 'string' ||
      (typeof ref === 'object' &&
        ref !== null &&
        typeof (ref as { scriptPath?: unknown }).scriptPath === 'string');
    if (!isRef) throw new TypeError('workflow() needs a saved workflow name or {scriptPath}');
    let child: CompiledScript;
    try {
      child = await loadWorkflow({
        ref: ref as string | { scriptPath: string },
        callerDir: ctx.dir,
        cwd: this.input.options.cwd,
      });
    } catch (err) {
      throw unwrapActivityFailure(err);
    }
    for (const p of child.meta.phases ?? []) this.notePhase(p.title);
    return this.runScript(child, childArgs, {
      group: child.meta.name,
      depth: ctx.depth + 1,
      phase: null,
      dir: child.dir,
    });
  }

  progress(state: RunProgress['state']): RunProgress {
    return {
      name: this.input.script.meta.name,
      state: state === 'running' && this.paused ? 'paused' : state,
      phases: this.phases,
      agents: this.records,
      logs: this.logs,
      usage: this.usage,
      costUsd: this.costUsd,
      concurrency: this.input.options.concurrency,
      budgetTokens: this.input.options.budgetTokens,
      startedAt: this.startedAt,
      stopReason: this.stopReason,
      ...(this.approvals.length > 0 ? { approvals: this.approvals } : {}),
    };
  }

  private output(result: unknown): RunOutput {
    return {
      result: result === undefined ? null : result,
      agents: this.started,
      usage: this.usage,
      costUsd: this.costUsd,
      records: this.records,
      logs: this.logs,
      cached: this.cachedCount,
      stopReason: this.stopReason,
      ...(this.approvals.length > 0 ? { approvals: this.approvals } : {}),
    };
  }

  /**
   * The phase tree as markdown for the Web UI's current details, and the counters as search
   * attributes (S503). Details are free (not history); attribute upserts are events, so counters
   * are published at most every few seconds of workflow time, and exactly at the end.
   */
  private publishDetails(final = false): void {
    interface Tally {
      done: number;
      running: string[];
      queued: number;
      failed: number;
    }
    const tallies = new Map<string, Tally>();
    const tally = (key: string): Tally => {
      let t = tallies.get(key);
      if (!t) tallies.set(key, (t = { done: 0, running: [], queued: 0, failed: 0 }));
      return t;
    };
    for (const p of this.phases) tally(p.title);
    let finished = 0;
    let failed = 0;
    for (const r of this.records) {
      const t = tally(r.group ? `${r.group} › ${r.phase ?? '(no phase)'}` : (r.phase ?? '(no phase)'));
      if (r.status === 'running') t.running.push(r.label);
      else if (r.status === 'queued') t.queued++;
      else if (r.status === 'failed') {
        t.failed++;
        failed++;
      } else t.done++;
      if (r.status !== 'running' && r.status !== 'queued') finished++;
    }
    const details = new Map(this.phases.map((p) => [p.title, p.detail]));
    const lines = [
      `**${this.input.script.meta.name}**${this.paused ? ' (paused)' : ''}` +
        `${this.currentPhase ? ` · phase **${this.currentPhase}**` : ''}` +
        ` · ${finished}/${this.records.length} agents · ${this.usage.outputTokens} output tokens` +
        ` · $${this.costUsd.toFixed(2)}${this.stopReason ? ` · stopped: ${this.stopReason}` : ''}`,
      '',
    ];
    for (const a of this.approvals) {
      if (a.status === 'waiting') lines.push(`**waiting for approval** of step **${a.step}**`, '');
    }
    for (const [title, t] of tallies) {
      const total = t.done + t.running.length + t.queued + t.failed;
      const detail = details.get(title);
      const counts =
        total === 0
          ? 'not started'
          : `${t.done} done, ${t.running.length} running, ${t.queued} queued, ${t.failed} failed`;
      lines.push(`- ${title}${detail ? ` (${detail})` : ''}: ${counts}`);
      if (t.running.length > 0) {
        const more = t.running.length > RUNNING_SHOWN ? ` and ${t.running.length - RUNNING_SHOWN} more` : '';
        lines.push(`  - running: ${t.running.slice(0, RUNNING_SHOWN).join(', ')}${more}`);
      }
    }
    setCurrentDetails(lines.join('\n'));
    if (!this.input.options.searchAttributes) return;
    const counters = [
      this.started,
      failed,
      this.usage.outputTokens,
      Math.round(this.costUsd * 10_000) / 10_000,
    ] as const;
    const snapshot = counters.join('/');
    const now = Date.now();
    if (snapshot === this.attributesPublished || (!final && now - this.attributesAt < ATTRIBUTE_INTERVAL_MS))
      return;
    this.attributesPublished = snapshot;
    this.attributesAt = now;
    upsertSearchAttributes([
      { key: WEFT_AGENTS, value: counters[0] },
      { key: WEFT_FAILED_AGENTS, value: counters[1] },
      { key: WEFT_OUTPUT_TOKENS, value: counters[2] },
      { key: WEFT_COST_USD, value: counters[3] },
    ]);
  }
}

function describe(err: unknown): string {
  const e = unwrapActivityFailure(err);
  return `${e.name}: ${e.message}`;
}

/**
 * The one workflow that runs every script (S301). Workers register it as the default workflow, so
 * Temporal records each run under the script's `meta.name` as its workflow type.
 */
export async function interpretScript(input: RunInput): Promise<RunOutput> {
  return new Run(input).execute();
}
