/**
 * The agent activity as workflow code calls it: one proxy with one heartbeat timeout and retry
 * policy, shared by the script interpreter and the Stratus session workflow, so an agent behaves
 * the same (checkpoints, lost-worker retries, cancellation) whichever API started it.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { WeftActivities } from '../types';

/**
 * StructuredOutput attempts before an agent with a schema gives up (S202).
 * @example
 * ```ts
 * const request: AgentRequest = { ...rest, maxSchemaAttempts: SCHEMA_ATTEMPTS };
 * ```
 */
export const SCHEMA_ATTEMPTS = 5;

/**
 * A dead worker's agents are retried once their heartbeat is this late (S405); agents heartbeat
 * every few seconds, even while a model call or a tool is in flight.
 * @example
 * ```ts
 * proxyActivities<WeftActivities>({ startToCloseTimeout: '1 hour', heartbeatTimeout: AGENT_HEARTBEAT_TIMEOUT });
 * ```
 */
export const AGENT_HEARTBEAT_TIMEOUT = '15 seconds';

// The agent activity owns retries of model calls (rate limits, overload); Temporal's policy here
// covers what the activity cannot: a lost worker, a missed heartbeat, a timeout.
/**
 * weft's agent activity, as every workflow calls it.
 * @example
 * ```ts
 * const result = await runAgent.executeWithOptions({ summary: label, startToCloseTimeout: timeoutMs }, [request]);
 * ```
 */
export const { runAgent } = proxyActivities<WeftActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: AGENT_HEARTBEAT_TIMEOUT,
  retry: {
    // What reaches this policy is a lost worker or a timeout: retry on a live worker at once.
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 6,
    nonRetryableErrorTypes: ['AgentOutputError', 'SchemaError', 'ConfigError'],
  },
});
