/**
 * Seed 000's workflow patterns (S702), built on `ctx.phase()` and `ctx.synthesize()`: every agent
 * they start is an ordinary task of the run (durable, budgeted, resumable by phase and task id).
 */
export type { PatternCore } from './pattern-core';
export * from './fan-out-and-synthesize';
export * from './adversarial-verify';
export * from './generate-and-filter';
export * from './tournament';
export * from './loop-until-done';
