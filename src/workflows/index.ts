/**
 * The workflow module the worker loads into Temporal's sandbox. Its default export handles every
 * workflow type, so each run is recorded under its script's `meta.name` (S301).
 */
export { interpretScript as default } from './interpreter';
export { continueSignal, pauseSignal, progressQuery, stopAgentUpdate } from './definitions';
export { stratusSession } from './stratus-session';
