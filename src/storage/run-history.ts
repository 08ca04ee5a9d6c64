import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { LoadedDataConverter, Payload } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { ConfigError } from '../errors';
import { inlineStoredPayloads } from './history';
import type { AgentRequest, AgentResult, RunInput } from '../types';

type History = temporal.api.history.v1.IHistory;

/** One `runAgent` activity of a run, as its history records it. */
export interface AgentActivity {
  request: AgentRequest;
  /** The activity's result when it completed. */
  result: AgentResult | null;
  /** Why the activity failed, when it did. */
  failure: string | null;
}

/** What a run's history says about it. */
export interface RunHistory {
  runId: string;
  /** The workflow type, i.e. the script's meta.name. */
  name: string;
  input: RunInput;
  agents: AgentActivity[];
  /** False while the run is still going. */
  closed: boolean;
}

async function decode(
  converter: LoadedDataConverter,
  payloads: Payload[] | null | undefined,
): Promise<unknown[]> {
  return decodeArrayFromPayloads(converter, payloads ?? []);
}

/** Reads a run's input and every agent activity from its Temporal history. */
export async function readRunHistory(client: Client, runId: string): Promise<RunHistory> {
  const handle = client.workflow.getHandle(runId);
  let history: History;
  try {
    // Large payloads live in the payload store; the history holds references to them.
    history = await inlineStoredPayloads(await handle.fetchHistory(), client.options.loadedDataConverter);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || /not found/i.test((err as Error).message)) {
      throw new ConfigError(`no run with id ${runId}`);
    }
    throw err;
  }
  return parseRunHistory(client.options.loadedDataConverter, runId, history);
}

/** Parses a fetched history; separate from fetching so recorded histories can be read too. */
export async function parseRunHistory(
  converter: LoadedDataConverter,
  runId: string,
  history: History,
): Promise<RunHistory> {
  const events = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  if (!started) throw new ConfigError(`run ${runId} has no start event`);
  const [input] = (await decode(converter, started.input?.payloads as Payload[])) as [RunInput];
  const scheduled = new Map<string, AgentActivity>();
  const agents: AgentActivity[] = [];
  let closed = false;
  for (const event of events) {
    const id = String(event.eventId ?? '');
    const sched = event.activityTaskScheduledEventAttributes;
    if (sched && sched.activityType?.name === 'runAgent') {
      const [request] = (await decode(converter, sched.input?.payloads as Payload[])) as [AgentRequest];
      const activity: AgentActivity = { request, result: null, failure: null };
      scheduled.set(id, activity);
      agents.push(activity);
      continue;
    }
    const done = event.activityTaskCompletedEventAttributes;
    if (done) {
      const activity = scheduled.get(String(done.scheduledEventId ?? ''));
      if (activity)
        activity.result = ((await decode(converter, done.result?.payloads as Payload[]))[0] ??
          null) as AgentResult;
      continue;
    }
    const failed = event.activityTaskFailedEventAttributes;
    if (failed) {
      const activity = scheduled.get(String(failed.scheduledEventId ?? ''));
      if (activity) activity.failure = failed.failure?.message ?? 'failed';
      continue;
    }
    if (
      event.workflowExecutionCompletedEventAttributes ||
      event.workflowExecutionFailedEventAttributes ||
      event.workflowExecutionCanceledEventAttributes ||
      event.workflowExecutionTerminatedEventAttributes ||
      event.workflowExecutionTimedOutEventAttributes ||
      event.workflowExecutionContinuedAsNewEventAttributes
    ) {
      closed = true;
    }
  }
  return { runId, name: started.workflowType?.name ?? input.script.meta.name, input, agents, closed };
}
