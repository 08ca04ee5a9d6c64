/**
 * What the Stratus caller and the session workflow send each other (S701, S703). Types only, so
 * the workflow sandbox may import this file.
 */
import type { JsonSchema, RunOutput, TokenUsage } from '../types';

/**
 * Per-run settings of a session, fixed at start so replays see the same values.
 * @example
 * ```ts
 * const input: StratusSessionInput = { name: 'audit', description: null, cwd: process.cwd(), model: null,
 *   agentTimeoutMs: 1_800_000, maxTurns: 50, dryRun: false, resumeFrom: null, idleTimeoutMs: 1_800_000 };
 * ```
 */
export interface StratusSessionInput {
  /**
   * Marks the input of a session, so weft's default workflow hands it to the session and not to the
   * script interpreter; that is what lets a session run under its Stratus name as workflow type.
   */
  kind: 'weft.stratus-session';
  /** The Stratus workflow's `name`. */
  name: string;
  description: string | null;
  /** The agents' working directory on the workers. */
  cwd: string;
  /** Default model for agents that name none; null means the worker's default. */
  model: string | null;
  /** Longest one agent task may run (its activity's start-to-close timeout). */
  agentTimeoutMs: number;
  /** Model round trips per agent task unless the task sets `maxTurns`. */
  maxTurns: number;
  /** Answer every agent task from weft's built-in model (no spend). */
  dryRun: boolean;
  /** The run this one reuses completed tasks from, if any; informational (the caller resolves it). */
  resumeFrom: string | null;
  /**
   * The session fails as abandoned after this long with no task running and no message from the
   * caller (a caller process that died leaves no open session behind for ever).
   */
  idleTimeoutMs: number;
}

/**
 * An agent as it travels to the worker: data only.
 * @example
 * ```ts
 * const spec: StratusAgentSpec = new Agent({ name: 'reviewer' }).toSpec();
 * ```
 */
export interface StratusAgentSpec {
  name: string;
  instructions: string | null;
  model: string | null;
  agentType: string | null;
  /** Tool names (Read, Grep, ...); null lets the agent type decide; `[]` gives none. */
  tools: string[] | null;
}

/**
 * What a task or a synthesis is.
 * @example
 * ```ts
 * const kind: StratusTaskKind = 'agent';
 * ```
 */
export type StratusTaskKind = 'agent' | 'function' | 'synthesis';

/**
 * One agent task (or synthesis) the caller asks the session to run durably.
 * @example
 * ```ts
 * await handle.signal(startTaskSignal, request);
 * ```
 */
export interface StratusTaskRequest {
  /** Unique within the run: `phaseKey/taskId`, or `synthesis#n`. */
  key: string;
  kind: 'agent' | 'synthesis';
  /** The phase's key (its name, `#n` after the first use of the name). */
  phase: string;
  /** The task's id (its resume key within the phase). */
  id: string;
  name: string;
  prompt: string;
  agent: StratusAgentSpec;
  /** Model round trips; null means the session's default. */
  maxTurns: number | null;
  schema: JsonSchema | null;
  /** Hash of the prompt, agent and schema, so a resumed synthesis is reused only for the same input. */
  inputHash: string;
}

/**
 * How a task ended, as the session records it.
 * @example
 * ```ts
 * if (record.status === 'failed') console.error(record.error);
 * ```
 */
export type StratusRecordStatus = 'completed' | 'failed' | 'cancelled';

/**
 * One task's durable record: what the session's history holds for it.
 * @example
 * ```ts
 * const [record]: StratusTaskRecord[] = (await handle.executeUpdate(waitTasksUpdate, { args: [{ after: 0 }] })).records;
 * ```
 */
export interface StratusTaskRecord {
  key: string;
  kind: StratusTaskKind;
  phase: string;
  id: string;
  name: string;
  status: StratusRecordStatus;
  output: unknown;
  /** `Type: message` of a failure, or why it was cancelled. */
  error: string | null;
  /** The failure's type (e.g. `AgentError`), when it failed. */
  errorType: string | null;
  usage: TokenUsage;
  costUsd: number;
  numTurns: number;
  /** Temporal activity attempts (more than 1 after a lost worker); 0 for function tasks. */
  attempts: number;
  model: string | null;
  /** Milliseconds since the epoch (workflow time for agent tasks, the caller's clock for function tasks). */
  startedAt: number;
  completedAt: number;
  inputHash: string | null;
  /** The run this record was reused from (resumeFrom), when it did not run here. */
  resumedFrom: string | null;
}

/**
 * What `weft.stratus.waitTasks` asks: the records after the first `after`.
 *
 * @example
 * ```ts
 * const request: StratusWaitRequest = { after: 12 };
 * ```
 */
export interface StratusWaitRequest {
  after: number;
}

/**
 * What `weft.stratus.waitTasks` answers: the new records, and how many the session has.
 *
 * @example
 * ```ts
 * const { records, total }: StratusWaitResult = await handle.executeUpdate(waitTasksUpdate, { args: [{ after }] });
 * ```
 */
export interface StratusWaitResult {
  records: StratusTaskRecord[];
  total: number;
}

/**
 * The caller's last word: how `run()` ended.
 * @example
 * ```ts
 * await handle.signal(finishSignal, { status: 'completed', output: 'report', error: null });
 * ```
 */
export interface StratusFinish {
  status: 'completed' | 'failed';
  /** `run()`'s return value, when it is JSON; null otherwise. */
  output: unknown;
  /** The error `run()` threw. */
  error: { name: string; message: string } | null;
}

/**
 * A `ctx.log()` line.
 * @example
 * ```ts
 * await handle.signal(logSignal, { at: Date.now(), message: '3 files reviewed' });
 * ```
 */
export interface StratusLogLine {
  at: number;
  message: string;
}

/**
 * What a completed session workflow returns: its own fields, and the fields of weft's `RunOutput`
 * (`result`, `agents`, `records`, `logs`, `cached`, `stopReason`), so `weft list` and `weft show`
 * read a session like a script run.
 * @example
 * ```ts
 * const output = (await client.workflow.getHandle(runId).result()) as StratusSessionOutput;
 * console.log(output.tasks.length, output.usage);
 * ```
 */
export interface StratusSessionOutput extends RunOutput {
  name: string;
  output: unknown;
  tasks: StratusTaskRecord[];
}
