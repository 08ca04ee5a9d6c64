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
import { readOwnerRecords } from './fs-storage-driver';
import type { FileSystemStorageDriver, OwnerRecord } from './fs-storage-driver';

/** What {@link collectPayloadGarbage} is told to do. */
export interface PayloadGcOptions {
  /** A client of the namespace whose runs use the store. */
  client: Client;
  /**
   * The identity of the server `client` reaches ({@link serverIdentity}); a payload is deleted only
   * when every one of its owner records names this server and the client's namespace.
   */
  server: string;
  /**
   * Also delete unreferenced payloads that record no owner at all (stored by weft before owners
   * were recorded, or by a converter with no server bound). Only when this server and namespace
   * alone use the store.
   */
  includeUnowned?: boolean;
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
  /** Unreferenced here, but kept because another server or namespace stored them. */
  keptForeign: number;
  /** Unreferenced, but kept because no owner is recorded (see `includeUnowned`). */
  keptUnowned: number;
  /** The server and namespace swept. */
  server: string;
  namespace: string;
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
 * unreferenced files older than the grace period whose every owner record is this server and
 * namespace. The store is shared by every server and namespace of the user, so a payload another
 * server or namespace also stored is kept (this one's records of it are dropped), and so is a
 * payload with no owner recorded, unless `includeUnowned`.
 *
 * A payload is claimed by renaming it aside before it is deleted; a store of the same content that
 * raced the sweep (a fresh time, a new owner record) puts it back.
 */
export async function collectPayloadGarbage(options: PayloadGcOptions): Promise<PayloadGcReport> {
  const { client, driver, graceMs, dryRun, server } = options;
  const namespace = client.options.namespace;
  const isOurs = (record: OwnerRecord): boolean => record.server === server && record.namespace === namespace;
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
    keptForeign: 0,
    keptUnowned: 0,
    server,
    namespace,
    dryRun,
  };
  const isYoung = async (file: string): Promise<boolean | null> => {
    // Stat again: a store of the same content since the listing touched the file.
    const mtimeMs = await fsp.stat(file).then(
      (s) => s.mtimeMs,
      () => null,
    );
    return mtimeMs === null ? null : startedAt - mtimeMs < graceMs;
  };
  for (const stored of files) {
    if (stored.digest !== null && referenced.has(stored.digest)) {
      report.keptReferenced += 1;
      continue;
    }
    const young = await isYoung(stored.file);
    if (young === null) continue;
    if (young) {
      report.keptYoung += 1;
      continue;
    }
    if (stored.digest === null) {
      // A `.tmp` left by an interrupted store, older than any store takes: nobody references it.
      if (!dryRun) await fsp.rm(stored.file, { force: true });
      report.deleted += 1;
      report.deletedBytes += stored.size;
      continue;
    }
    const owners = await readOwnerRecords(driver.dir, stored.digest);
    const ours = owners.filter(isOurs);
    if (owners.length === 0 && !options.includeUnowned) {
      report.keptUnowned += 1;
      continue;
    }
    if (ours.length < owners.length) {
      // Another server or namespace needs it; this one's runs no longer do.
      if (!dryRun) await Promise.all(ours.map((r) => fsp.rm(r.file, { force: true })));
      report.keptForeign += 1;
      continue;
    }
    if (!dryRun && !(await claimAndDelete(driver, stored.file, stored.digest, owners, isYoung))) {
      report.keptYoung += 1;
      continue;
    }
    report.deleted += 1;
    report.deletedBytes += stored.size;
  }
  return report;
}

/**
 * Renames a payload aside, checks that no store raced the decision (the aside file's time still
 * old, no owner record added), then deletes it and the owner records read; otherwise puts it back.
 * Returns whether it was deleted.
 */
async function claimAndDelete(
  driver: FileSystemStorageDriver,
  file: string,
  digest: string,
  ownersRead: OwnerRecord[],
  isYoung: (file: string) => Promise<boolean | null>,
): Promise<boolean> {
  const aside = `${file}.gc-${process.pid}`;
  try {
    await fsp.rename(file, aside);
  } catch {
    return false;
  }
  const known = new Set(ownersRead.map((r) => r.file));
  const now = await readOwnerRecords(driver.dir, digest);
  if ((await isYoung(aside)) !== false || now.some((r) => !known.has(r.file))) {
    // A store touched or re-owned it meanwhile; one that found it gone has rewritten it, same bytes.
    await fsp.rename(aside, file).catch(() => fsp.rm(aside, { force: true }));
    return false;
  }
  await fsp.rm(aside, { force: true });
  await Promise.all(ownersRead.map((r) => fsp.rm(r.file, { force: true })));
  await fsp.rmdir(driver.ownersDirOf(digest)).catch(() => {});
  return true;
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
