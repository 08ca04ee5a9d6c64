import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { StorageDriverClaim } from '@temporalio/common';
import type {
  Payload,
  StorageDriver,
  StorageDriverRetrieveContext,
  StorageDriverStoreContext,
} from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ConfigError } from '../errors';

const PayloadProto = temporal.api.common.v1.Payload;

/** The driver name weft writes into every reference; it must stay stable for old runs to read. */
export const FS_DRIVER_NAME = 'weft-fs';
/** The implementation id Temporal reports in worker heartbeats. */
export const FS_DRIVER_TYPE = 'weft.fsdriver';

/** Permissions of the store's folders: prompts and answers are private to their user. */
export const PAYLOAD_DIR_MODE = 0o700;
/** Permissions of the store's files. */
export const PAYLOAD_FILE_MODE = 0o600;

/**
 * Who stored a payload: the Temporal server (its cluster id, which stays the same across restarts
 * of one server and differs between servers, even on the same port), the namespace and the run.
 * `weft payloads gc` deletes a payload only when every owner is the server and namespace it sweeps.
 */
export interface PayloadOwner {
  server: string;
  namespace: string;
  workflowId?: string;
  runId?: string;
}

/** Where {@link FileSystemStorageDriver} keeps payloads. */
export interface FileSystemStorageDriverOptions {
  /** Folder of the store; created on the first store. Every worker and client must see the same one. */
  dir: string;
  /** Routing name written into references; default {@link FS_DRIVER_NAME}. */
  name?: string;
  /**
   * The identity of the Temporal server this process stores payloads for, or a function that finds
   * it out (once). Without one, payloads are stored with no owner, and gc never deletes them.
   */
  server?: string | (() => Promise<string | null>);
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A Temporal external-storage driver on a local (or shared, mounted) folder. Payloads are stored
 * content-addressed, as the serialized Payload protobuf under `<dir>/sha256/<2 hex>/<64 hex>`, so
 * identical payloads (a retried agent's prompt, a fan-out's shared context) are written once, a
 * store is idempotent, and a retrieve can verify what it read.
 *
 * The driver never deletes: a payload may be read again by a replay or a resume long after its run
 * ended. `weft payloads gc` ({@link collectPayloadGarbage}) removes the ones no run references.
 */
export class FileSystemStorageDriver implements StorageDriver {
  readonly name: string;
  readonly type = FS_DRIVER_TYPE;
  /** Absolute path of the store. */
  readonly dir: string;

  private serverSource: string | (() => Promise<string | null>) | null;
  private server: Promise<string | null> | null = null;
  private rootReady: Promise<void> | null = null;

  constructor(options: FileSystemStorageDriverOptions) {
    this.dir = path.resolve(options.dir);
    this.name = options.name ?? FS_DRIVER_NAME;
    this.serverSource = options.server ?? null;
  }

  /** Whether this driver already knows (or can find out) which server it stores for. */
  get hasServer(): boolean {
    return this.serverSource !== null;
  }

  /** Tells the driver which server it stores for, once its process has connected to one. */
  bindServer(server: string | (() => Promise<string | null>)): void {
    this.serverSource = server;
    this.server = null;
  }

  /** The file that holds the payload with this digest. */
  pathOf(digest: string): string {
    return path.join(this.dir, 'sha256', digest.slice(0, 2), digest);
  }

  /** The folder of the owner records of the payload with this digest. */
  ownersDirOf(digest: string): string {
    return ownersDirOf(this.dir, digest);
  }

  async store(context: StorageDriverStoreContext, payloads: Payload[]): Promise<StorageDriverClaim[]> {
    await this.ensureRoot();
    const owner = await this.ownerOf(context);
    return Promise.all(payloads.map((payload) => this.storeOne(payload, owner)));
  }

  private ownerOf(context: StorageDriverStoreContext): Promise<PayloadOwner | null> {
    const target = context.target;
    if (!target || this.serverSource === null) return Promise.resolve(null);
    const source = this.serverSource;
    this.server ??= (typeof source === 'string' ? Promise.resolve(source) : source()).catch(() => null);
    return this.server.then((server) =>
      server === null
        ? null
        : {
            server,
            namespace: target.namespace,
            ...(target.id ? { workflowId: target.id } : {}),
            ...(target.runId ? { runId: target.runId } : {}),
          },
    );
  }

  /** Makes the store's folder private to its user, also when an older weft created it open. */
  private ensureRoot(): Promise<void> {
    this.rootReady ??= (async () => {
      await fsp.mkdir(this.dir, { recursive: true, mode: PAYLOAD_DIR_MODE });
      const stat = await fsp.stat(this.dir);
      const mine = typeof process.getuid !== 'function' || stat.uid === process.getuid();
      if (mine && (stat.mode & 0o077) !== 0) await fsp.chmod(this.dir, PAYLOAD_DIR_MODE);
    })().catch((err: unknown) => {
      this.rootReady = null;
      throw err;
    });
    return this.rootReady;
  }

  async retrieve(_context: StorageDriverRetrieveContext, claims: StorageDriverClaim[]): Promise<Payload[]> {
    return Promise.all(claims.map((claim) => this.retrieveOne(claim)));
  }

  private async storeOne(payload: Payload, owner: PayloadOwner | null): Promise<StorageDriverClaim> {
    const bytes = PayloadProto.encode(PayloadProto.create(payload)).finish();
    const digest = sha256(bytes);
    const file = this.pathOf(digest);
    const claim = new StorageDriverClaim({ sha256: digest, size: String(bytes.length) });
    // The owner is recorded before the payload is touched or written: a gc that sees the fresh file
    // also sees who needs it.
    if (owner) await writeOwnerRecord(this.dir, digest, owner);
    // Same name, same bytes: an existing file is already the right one. Its time is renewed so the
    // garbage collector's grace period counts from the newest store, not the first.
    if (await touch(file)) return claim;
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: PAYLOAD_DIR_MODE });
    // Written aside then renamed, so a reader (or a crash) never sees a partial payload.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fsp.writeFile(tmp, bytes, { mode: PAYLOAD_FILE_MODE });
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return claim;
  }

  private async retrieveOne(claim: StorageDriverClaim): Promise<Payload> {
    const digest = claim.claimData.sha256;
    if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) {
      throw new ConfigError(`payload reference for driver ${this.name} has no valid sha256 claim`);
    }
    const file = this.pathOf(digest);
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(file);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') {
        throw new ConfigError(
          `payload sha256:${digest} is not in the payload store ${this.dir}: every worker and client must share one store (set WEFT_PAYLOAD_DIR, or WEFT_PAYLOAD_DRIVER for a remote one)`,
        );
      }
      throw err;
    }
    if (sha256(bytes) !== digest) {
      throw new ConfigError(`payload file ${file} is corrupt: its content does not match its sha256 name`);
    }
    const decoded = PayloadProto.decode(bytes);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}

async function touch(file: string): Promise<boolean> {
  try {
    const now = new Date();
    await fsp.utimes(file, now, now);
    return true;
  } catch {
    return false;
  }
}

/** The folder of the owner records of one payload: `<dir>/owners/<2 hex>/<sha256>/`. */
export function ownersDirOf(dir: string, digest: string): string {
  return path.join(dir, 'owners', digest.slice(0, 2), digest);
}

/** One file per server, namespace and workflow that stored the payload; its name is a hash of the three. */
async function writeOwnerRecord(dir: string, digest: string, owner: PayloadOwner): Promise<void> {
  const key = sha256(Buffer.from(`${owner.server}\n${owner.namespace}\n${owner.workflowId ?? ''}`)).slice(
    0,
    32,
  );
  const ownersDir = ownersDirOf(dir, digest);
  const file = path.join(ownersDir, `${key}.json`);
  const body = `${JSON.stringify({ ...owner, storedAt: new Date().toISOString() })}\n`;
  try {
    await fsp.writeFile(file, body, { flag: 'wx', mode: PAYLOAD_FILE_MODE });
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return;
    if (errorCode(err) !== 'ENOENT') throw err;
    await fsp.mkdir(ownersDir, { recursive: true, mode: PAYLOAD_DIR_MODE });
    await fsp.writeFile(file, body, { flag: 'wx', mode: PAYLOAD_FILE_MODE }).catch((e: unknown) => {
      if (errorCode(e) !== 'EEXIST') throw e;
    });
  }
}

/** An owner record as read back, with the file it came from. */
export interface OwnerRecord extends PayloadOwner {
  file: string;
}

/** Every owner record of a payload; unreadable records count as an unknown owner. */
export async function readOwnerRecords(dir: string, digest: string): Promise<OwnerRecord[]> {
  const ownersDir = ownersDirOf(dir, digest);
  const names = await fsp.readdir(ownersDir).catch(() => [] as string[]);
  const records: OwnerRecord[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(ownersDir, name);
    const text = await fsp.readFile(file, 'utf8').catch(() => null);
    if (text === null) continue;
    try {
      const parsed = JSON.parse(text) as Partial<PayloadOwner>;
      records.push({
        file,
        server: typeof parsed.server === 'string' ? parsed.server : '?',
        namespace: typeof parsed.namespace === 'string' ? parsed.namespace : '?',
        ...(typeof parsed.workflowId === 'string' ? { workflowId: parsed.workflowId } : {}),
        ...(typeof parsed.runId === 'string' ? { runId: parsed.runId } : {}),
      });
    } catch {
      records.push({ file, server: '?', namespace: '?' });
    }
  }
  return records;
}
