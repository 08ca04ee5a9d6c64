import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import {
  decodeReferencePayload,
  isReferencePayload,
  visit,
  walkGetWorkflowExecutionHistoryResponse,
} from '@temporalio/common/lib/internal-non-workflow';
import type { FileSystemStorageDriver } from './fs-storage-driver';

/** What {@link collectPayloadGarbage} is told to do. */
export interface PayloadGcOptions {
  /** A client of the namespace whose runs use the store. */
  client: Client;
  /** The store to sweep. */
  driver: FileSystemStorageDriver;
  /**
   * Files younger than this are kept even when no history references them yet: a worker stores a
   * payload before the server records the reference, and query results are never recorded at all.
   */
  graceMs: number;
  /** Report what would be deleted, delete nothing. */
  dryRun: boolean;
  /** Called after each run is scanned. */
  onProgress?: (scannedRuns: number) => void;
}

/** What a sweep found and did. */
export interface PayloadGcReport {
  /** Runs (open and closed) whose histories were scanned. */
  runs: number;
  /** Distinct payloads of this store that those histories reference. */
  referenced: number;
  /** Payload files in the store when the sweep started. */
  files: number;
  /** Files deleted (or, in a dry run, that would be). */
  deleted: number;
  deletedBytes: number;
  /** Files kept because a run references them. */
  keptReferenced: number;
  /** Files kept because they are younger than the grace period. */
  keptYoung: number;
  dryRun: boolean;
}

interface StoredFile {
  file: string;
  /** The sha256 name, or null for a leftover `.tmp` of an interrupted store. */
  digest: string | null;
  size: number;
  mtimeMs: number;
}

/**
 * Deletes the payload files that no run in the namespace references any more: mark (every
 * history, open and closed, plus the last heartbeat of every running activity), then sweep the
 * unreferenced files older than the grace period.
 *
 * The sweep only knows the namespace `client` reaches. A store shared by several namespaces or
 * servers must not be swept from one of them alone.
 */
export async function collectPayloadGarbage(options: PayloadGcOptions): Promise<PayloadGcReport> {
  const { client, driver, graceMs, dryRun } = options;
  // Listed before the mark, so a payload stored while the mark runs is never a candidate.
  const startedAt = Date.now();
  const files = await listStore(driver.dir);
  const referenced = new Set<string>();
  const collect = (payloads: Payload[]): Promise<Payload[]> => {
    for (const payload of payloads) {
      if (!isReferencePayload(payload)) continue;
      const reference = decodeReferencePayload(payload);
      const digest = reference.claimData.sha256;
      if (reference.driverName === driver.name && digest) referenced.add(digest);
    }
    return Promise.resolve(payloads);
  };
  const visitor = {
    transformPayloads: collect,
    transformPayload: (payload: Payload) => collect([payload]).then(() => payload),
    skipSearchAttributes: true,
  };

  let runs = 0;
  for await (const execution of client.workflow.list()) {
    const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
    await visit({ history: await handle.fetchHistory() }, walkGetWorkflowExecutionHistoryResponse, visitor);
    if (execution.status.name === 'RUNNING') {
      // A running agent's checkpoint lives in its pending heartbeat, not yet in history.
      const description = await handle.describe();
      for (const pending of description.raw.pendingActivities ?? []) {
        await collect((pending.heartbeatDetails?.payloads ?? []) as Payload[]);
      }
    }
    runs += 1;
    options.onProgress?.(runs);
  }

  const report: PayloadGcReport = {
    runs,
    referenced: referenced.size,
    files: files.length,
    deleted: 0,
    deletedBytes: 0,
    keptReferenced: 0,
    keptYoung: 0,
    dryRun,
  };
  for (const stored of files) {
    if (stored.digest !== null && referenced.has(stored.digest)) {
      report.keptReferenced += 1;
      continue;
    }
    // Stat again: a store of the same content since the listing touched the file.
    const mtimeMs = await fsp.stat(stored.file).then(
      (s) => s.mtimeMs,
      () => null,
    );
    if (mtimeMs === null) continue;
    if (startedAt - mtimeMs < graceMs) {
      report.keptYoung += 1;
      continue;
    }
    if (!dryRun) await fsp.rm(stored.file, { force: true });
    report.deleted += 1;
    report.deletedBytes += stored.size;
  }
  return report;
}

async function listStore(dir: string): Promise<StoredFile[]> {
  const root = path.join(dir, 'sha256');
  const out: StoredFile[] = [];
  let shards: string[];
  try {
    shards = await fsp.readdir(root);
  } catch {
    return out;
  }
  for (const shard of shards) {
    const shardDir = path.join(root, shard);
    const names = await fsp.readdir(shardDir).catch(() => [] as string[]);
    for (const name of names) {
      const file = path.join(shardDir, name);
      const stat = await fsp.stat(file).catch(() => null);
      if (!stat?.isFile()) continue;
      const digest = /^[0-9a-f]{64}$/.test(name) ? name : null;
      if (digest === null && !name.endsWith('.tmp')) continue;
      out.push({ file, digest, size: stat.size, mtimeMs: stat.mtimeMs });
    }
  }
  return out;
}
