/**
 * weft's Stratus-style TypeScript API (SPEC section 7, seed 000): `workflow()`, `workflowTask()`,
 * `Agent`, phases, synthesis, the pattern helpers, `runWorkflow()`, `streamWorkflow()`, the run
 * manager, `resumeFrom`, budgets, cancellation and `generateWorkflowDraft()`. See
 * docs/stratus-api.md.
 */
export { Agent, createModel } from './agent';
export type { AgentConfig, StratusModel } from './agent';
export { workflow } from './workflow';
export { workflowTask } from './workflow-task';
export type { WorkflowConfig, WorkflowDefinition, WorkflowRuntimeContext } from './workflow';
export { runWorkflow, streamWorkflow } from './run-workflow';
export type { WorkflowStream } from './run-workflow';
export { WorkflowRunManager } from './run-manager';
export type { ManagedWorkflowRun } from './run-manager';
export { checkWorkflowDraft, generateWorkflowDraft } from './draft';
export type { WorkflowDraft, WorkflowDraftOptions } from './draft';
export { ACCEPT_SCHEMA, MATCH_SCHEMA, VERDICT_SCHEMA } from './patterns';
export type * from './patterns';
export type * from './types';
