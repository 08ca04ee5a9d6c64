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

/** Where {@link FileSystemStorageDriver} keeps payloads. */
export interface FileSystemStorageDriverOptions {
  /** Folder of the store; created on the first store. Every worker and client must see the same one. */
  dir: string;
  /** Routing name written into references; default {@link FS_DRIVER_NAME}. */
  name?: string;
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

  constructor(options: FileSystemStorageDriverOptions) {
    this.dir = path.resolve(options.dir);
    this.name = options.name ?? FS_DRIVER_NAME;
  }

  /** The file that holds the payload with this digest. */
  pathOf(digest: string): string {
    return path.join(this.dir, 'sha256', digest.slice(0, 2), digest);
  }

  async store(_context: StorageDriverStoreContext, payloads: Payload[]): Promise<StorageDriverClaim[]> {
    return Promise.all(payloads.map((payload) => this.storeOne(payload)));
  }

  async retrieve(_context: StorageDriverRetrieveContext, claims: StorageDriverClaim[]): Promise<Payload[]> {
    return Promise.all(claims.map((claim) => this.retrieveOne(claim)));
  }

  private async storeOne(payload: Payload): Promise<StorageDriverClaim> {
    const bytes = PayloadProto.encode(PayloadProto.create(payload)).finish();
    const digest = sha256(bytes);
    const file = this.pathOf(digest);
    const claim = new StorageDriverClaim({ sha256: digest, size: String(bytes.length) });
    // Same name, same bytes: an existing file is already the right one. Its time is renewed so the
    // garbage collector's grace period counts from the newest store, not the first.
    if (await touch(file)) return claim;
    await fsp.mkdir(path.dirname(file), { recursive: true });
    // Written aside then renamed, so a reader (or a crash) never sees a partial payload.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fsp.writeFile(tmp, bytes);
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
