/**
 * weft's public API for programs: start, attach to, watch and stop runs of workflow scripts on
 * Temporal, host workers, and test against a local model. The CLI is built on the same pieces.
 *
 * Everything exported here is supported; modules imported by deeper paths are internals and may
 * change without notice.
 *
 * @example
 * ```ts
 * import { WeftClient, compileScriptFile } from 'weft';
 *
 * const client = await WeftClient.connect();
 * const run = await client.startRun(await compileScriptFile('review.js'), { args: { files: ['a.ts'] } });
 * for await (const event of run.events()) {
 *   if (event.type === 'workflow_task_completed') console.log(event.task.label, event.task.usage);
 * }
 * console.log((await run.result()).result);
 * await client.close();
 * ```
 *
 * @packageDocumentation
 */

// ---- The client: start, attach, result, stop, views and events ----
export { WeftClient } from './client/weft-client';
export type {
  ConnectOptions,
  RunStatus,
  RunSummary,
  StartOptions,
  WeftRunHandle,
} from './client/weft-client';
export { NO_PHASE, RunEventDiffer, lastToolFromHeartbeat, phaseKey, runEvents } from './client/run-events';
export type {
  RunEvent,
  RunEventEnd,
  RunEventPhase,
  RunEventPhaseTotals,
  RunEventSource,
  RunEventType,
  RunEventsOptions,
  RunSnapshot,
} from './client/run-events';
export { RUN_STATUSES, buildListQuery } from './client/run-views';
export type {
  AgentDetails,
  RunDetails,
  RunListEntry,
  RunListFilter,
  RunStatusName,
} from './client/run-views';

// ---- Scripts ----
export { compileScript, compileScriptFile } from './compiler/compile-script';
export { listSavedWorkflows, resolveWorkflowRef, savedWorkflowDirs } from './workflow-files/saved-workflows';
export type {
  BrokenWorkflow,
  SavedWorkflow,
  SavedWorkflowDir,
  SavedWorkflowOptions,
  WorkflowOrigin,
} from './workflow-files/saved-workflows';

// ---- Hosting workers ----
export { createWeftWorker } from './worker';
export type { WeftWorker, WeftWorkerOptions } from './worker';
// The public createActivities loads nested workflows, as a worker's do.
export { createWorkerActivities as createActivities } from './worker';
export type { ActivityDeps, WorkflowFileLoader } from './activities/create-activities';
export { costOf, priceFor } from './activities/pricing';

// ---- Configuration and the embedded server ----
export { DEFAULT_MODEL, MAX_AGENTS, defaultConcurrency, loadConfig } from './config';
export type { WeftConfig } from './config';
export { ensureDevServer, stopDevServer } from './dev-server/dev-server';
export type { DevServerInfo, DevServerOptions } from './dev-server/dev-server';
export {
  WEFT_AGENTS,
  WEFT_COST_USD,
  WEFT_DRY_RUN,
  WEFT_FAILED_AGENTS,
  WEFT_OUTPUT_TOKENS,
  WEFT_PHASE,
  WEFT_SEARCH_ATTRIBUTES,
  WEFT_SEARCH_ATTRIBUTE_KEYS,
} from './search-attributes';
export type { SearchAttributeTypeLabel } from './search-attributes';

// ---- Testing: a local Anthropic-compatible model ----
export { startMockModel } from './mock-model/server';
export type { FaultRule, MockModel, MockModelOptions, MockRequestLog } from './mock-model/server';

// ---- Errors: each class name is also the Temporal failure type ----
export {
  AgentError,
  AgentOutputError,
  BudgetExceededError,
  ConfigError,
  LimitError,
  SchemaError,
  ScriptError,
  WeftError,
} from './errors';
export type { ValidationIssue } from './errors';

// ---- Shared types ----
export type {
  AgentOptions,
  AgentRecord,
  AgentResult,
  AgentStatus,
  CompiledScript,
  JsonSchema,
  LogLine,
  PhaseSpec,
  RunInput,
  RunOptions,
  RunOutput,
  RunProgress,
  ScriptForm,
  ScriptMeta,
  TokenUsage,
  WorktreeReport,
} from './types';

// ==== Stratus-style TypeScript API (SPEC section 7, seed 000; docs/stratus-api.md) ====
// `run(ctx, args)` runs in the caller's process; each run is one Temporal workflow (a session typed by its name)
// whose agent tasks run durably as weft's agent activity on the weft workers of the task queue.
export {
  ACCEPT_SCHEMA,
  Agent,
  MATCH_SCHEMA,
  VERDICT_SCHEMA,
  WorkflowRunManager,
  checkWorkflowDraft,
  createModel,
  generateWorkflowDraft,
  runWorkflow,
  streamWorkflow,
  workflow,
  workflowTask,
} from './stratus';
export type {
  AdversarialVerifyOptions,
  AdversarialVerifyResult,
  AgentConfig,
  AgentWorkflowTask,
  Candidate,
  FanOutAndSynthesizeOptions,
  FanOutAndSynthesizeResult,
  Finding,
  FunctionTaskContext,
  FunctionWorkflowTask,
  GenerateAndFilterOptions,
  GenerateAndFilterResult,
  LoopUntilDoneOptions,
  LoopUntilDoneResult,
  ManagedWorkflowRun,
  PhaseOptions,
  ResumeSource,
  RunWorkflowOptions,
  StratusModel,
  SynthesizeOptions,
  TournamentMatch,
  TournamentOptions,
  TournamentResult,
  VerifiedFinding,
  WorkflowBudget,
  WorkflowConfig,
  WorkflowDefinition,
  WorkflowDraft,
  WorkflowDraftOptions,
  WorkflowEvent,
  WorkflowEventBase,
  WorkflowEventType,
  WorkflowPhaseRef,
  WorkflowPhaseResult,
  WorkflowRunResult,
  WorkflowRunStatus,
  WorkflowRuntimeContext,
  WorkflowStream,
  WorkflowTask,
  WorkflowTaskKind,
  WorkflowTaskResult,
  WorkflowTaskStatus,
  WorkflowUsage,
} from './stratus';
export { RunAbandonedError, RunCancelledError } from './errors';
export { TaskFailedError, WorkflowRunError } from './stratus/errors';
// ==== end of the Stratus-style API ====

// ==== AgentOS-style YAML workflows (SPEC section 6, seed 002; docs/yaml-workflows.md) ====
// A YAML definition compiles to an ordinary weft script (the YAML runner plus the checked
// definition), so `client.start(compileYamlWorkflow(...))` runs it like any script.
export {
  compileYamlWorkflow,
  compileYamlWorkflowFile,
  definitionOf,
  isYamlPath,
  parseYamlWorkflow,
} from './agentos/compile-yaml';
export type {
  CompileYamlOptions,
  CompiledDefinition,
  CompiledStep,
  ErrorMode,
  StepMode,
  YamlStep,
  YamlWorkflowDefinition,
} from './agentos/compile-yaml';
export { parseAgentOverrides, resolveAgentRoles } from './agentos/agent-roles';
export { yamlRunStatus } from './client/yaml-runs';
export type { StepState, StepStatus, YamlRunResult, YamlRunStatus } from './client/yaml-runs';
export { compileWorkflowFile } from './workflow-files/compile-workflow-file';
export { StepFailedError } from './errors';
export type { ApprovalDecision, ApprovalRecord, ApprovalResult } from './types';
// ==== end of the YAML workflows API ====
