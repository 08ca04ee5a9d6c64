import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalDecision, ApprovalRecord, RunProgress, StopAgentRequest } from '../types';

/** Live state of a run; cheap, and not recorded in history (S501). */
export const progressQuery = defineQuery<RunProgress>('weft.progress');

/** Stop admitting agents until `continueSignal` (S306). Running agents finish. */
export const pauseSignal = defineSignal('weft.pause');

/** Resume admitting agents after `pauseSignal` (S306). */
export const continueSignal = defineSignal('weft.continue');

/** Skip or stop one agent; its `agent()` gives null. Returns how many agents matched (S203, S306). */
export const stopAgentUpdate = defineUpdate<number, [StopAgentRequest]>('weft.stopAgent');

/**
 * Approve or reject a step waiting in `approval()` (S602). The validator refuses a decision when no
 * matching approval is waiting, so the caller learns it at once and nothing enters the history.
 * Returns the decided approval.
 */
export const approveUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('weft.approve');
