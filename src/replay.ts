import fs from 'node:fs';
import path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import type { ReplayWorkerOptions } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { dataConverterFromEnv } from './storage/data-converter';
import { ISOLATE_EXECUTION_TIMEOUT_MS } from './workflows/script-watchdog';

/** The outcome of replaying one run's history against the current workflow code (S307). */
export interface ReplayReport {
  workflowId: string;
  ok: boolean;
  events: number;
  durationMs: number;
  /** What diverged, when the replay failed. */
  error: string | null;
  /** True when the failure is a nondeterminism: the code would break the run if it were in flight. */
  nondeterministic: boolean;
}

/** The workflow code a worker would load now: the prebundle when built, else the sources. */
export function currentWorkflowCode(): Pick<ReplayWorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = path.resolve(__dirname, 'workflow-bundle.js');
  if (fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('./workflows') };
}

/**
 * Replays a recorded history against the current interpreter, as a worker picking the run up
 * would. A nondeterminism here means deploying this code would break runs like this one in flight.
 */
export async function replayHistory(
  history: temporal.api.history.v1.IHistory,
  workflowId: string,
  options: Partial<ReplayWorkerOptions> = {},
): Promise<ReplayReport> {
  const started = Date.now();
  const events = history.events?.length ?? 0;
  try {
    // Stored payloads are read back through the same store the workers wrote them to.
    await Worker.runReplayHistory(
      {
        ...currentWorkflowCode(),
        dataConverter: dataConverterFromEnv(),
        // A run failed by the script watchdog replays its endless loop up to the watchdog's limit.
        // Read by the SDK though not declared, as in src/worker.ts.
        ...({ isolateExecutionTimeout: ISOLATE_EXECUTION_TIMEOUT_MS } as Partial<ReplayWorkerOptions>),
        ...options,
      },
      history,
      workflowId,
    );
    return {
      workflowId,
      ok: true,
      events,
      durationMs: Date.now() - started,
      error: null,
      nondeterministic: false,
    };
  } catch (err) {
    return {
      workflowId,
      ok: false,
      events,
      durationMs: Date.now() - started,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      nondeterministic: err instanceof DeterminismViolationError || /nondetermin/i.test(String(err)),
    };
  }
}
