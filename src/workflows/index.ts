/**
 * The workflow module the worker loads into Temporal's sandbox. Its default export handles every
 * workflow type, so each run is recorded under its own name: a script's `meta.name` (S301), a
 * YAML definition's `id`, a Stratus workflow's `name`.
 */
import type { StratusSessionInput, StratusSessionOutput } from './stratus-session-types';
import type { RunInput, RunOutput } from '../types';
import { interpretScript } from './interpreter';
import { isStratusSessionInput } from './stratus-definitions';
import { stratusSession } from './stratus-session';

/**
 * weft's default workflow: a Stratus session's input goes to the session, any other to the script
 * interpreter.
 */
export default async function weftWorkflow(
  input: RunInput | StratusSessionInput,
): Promise<RunOutput | StratusSessionOutput> {
  return isStratusSessionInput(input) ? stratusSession(input) : interpretScript(input);
}

export { continueSignal, pauseSignal, progressQuery, stopAgentUpdate } from './definitions';
// Still registered by name, so sessions started under the `stratusSession` type keep running.
export { stratusSession } from './stratus-session';
