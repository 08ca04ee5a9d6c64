import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { DataConverter } from '@temporalio/common';
import { buildResumeCache } from './resume-cache';
import type { TemporalConnectOptions } from '../config';
import { WeftError } from '../errors';
import type { ResumeCache, RunHistoryActivities } from '../types';

/** Where the history activities find Temporal: the worker's own server and namespace. */
export interface RunHistoryDeps {
  /** The worker's own connection settings: address, TLS, API key. */
  connect: TemporalConnectOptions;
  namespace: string;
  dataConverter?: DataConverter;
}

/**
 * Builds the activities that read earlier runs. Workflow code cannot call Temporal's API, so a
 * resumed run asks an activity, and the cache it gets back is recorded in its own history.
 */
export function createRunHistoryActivities(deps: RunHistoryDeps): RunHistoryActivities {
  let client: Promise<Client> | null = null;
  const getClient = (): Promise<Client> =>
    (client ??= Connection.connect(deps.connect).then(
      (connection) =>
        new Client({
          connection,
          namespace: deps.namespace,
          ...(deps.dataConverter ? { dataConverter: deps.dataConverter } : {}),
        }),
    ));
  return {
    async fetchResumeCache({ runId }: { runId: string }): Promise<ResumeCache> {
      try {
        return await buildResumeCache(await getClient(), runId);
      } catch (err) {
        if (err instanceof WeftError) {
          throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
        }
        throw err;
      }
    },
  };
}
