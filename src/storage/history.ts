import type { DataConverter, LoadedDataConverter } from '@temporalio/common';
import {
  extstoreInboundOptions,
  visit,
  walkGetWorkflowExecutionHistoryResponse,
} from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

/**
 * Replaces the payload-store references in a fetched history with the payloads they point at, in
 * place, and returns the history. `WorkflowHandle.fetchHistory()` returns references as they are
 * (unlike `result()` and queries), so code that decodes a history itself (resume, run views) must
 * call this first. `Worker.runReplayHistory` needs no such pass when it gets the same
 * `dataConverter` as the workers.
 *
 * @throws when a reference names a driver the converter lacks, or a payload is missing.
 */
export async function inlineStoredPayloads(
  history: History,
  dataConverter: DataConverter | LoadedDataConverter | undefined,
): Promise<History> {
  // Without a store, the SDK's inbound pass still fails loudly on a reference instead of letting it
  // be decoded as data.
  await visit(
    { history },
    walkGetWorkflowExecutionHistoryResponse,
    extstoreInboundOptions(dataConverter?.externalStorage),
  );
  return history;
}
