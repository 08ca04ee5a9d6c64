/**
 * Finding and connecting to Temporal, shared by every caller of the runtime (weft's client and the
 * Stratus API): `TEMPORAL_ADDRESS`, or the embedded dev server, started or reused.
 */
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { describeConnection, loadConfig, oneLine, temporalConnectOptions } from '../config';
import type { WeftConfig } from '../config';
import { ensureDevServer } from '../dev-server/dev-server';
import { ConfigError } from '../errors';
import { WEFT_SEARCH_ATTRIBUTES } from '../search-attributes';
import { bindPayloadServer, dataConverterFromEnv } from '../storage/data-converter';

/** Options for connecting to Temporal. */
export interface ConnectOptions {
  config?: WeftConfig;
  /** Start or reuse the embedded dev server when no address is configured (default true). */
  embeddedServer?: boolean;
  /** Payload conversion and external storage; by default the payload store the environment names. */
  dataConverter?: DataConverter;
}

/** A Temporal client with the connection it owns and where it found the server. */
export interface TemporalConnection {
  client: Client;
  connection: Connection;
  config: WeftConfig;
  /** The frontend address in use. */
  address: string;
  /** The Web UI's base URL, when known (embedded server or `TEMPORAL_UI_URL`). */
  uiUrl: string | null;
}

/**
 * Connects to `TEMPORAL_ADDRESS`, or to the embedded dev server, started if need be.
 *
 * @throws ConfigError - When Temporal cannot be reached, or no address is set and the embedded
 * server is disabled.
 */
export async function connectTemporal(options: ConnectOptions = {}): Promise<TemporalConnection> {
  const config = options.config ?? loadConfig();
  let address = config.address;
  let uiUrl = process.env.TEMPORAL_UI_URL?.trim() || null;
  if (address === null) {
    if (options.embeddedServer === false) {
      throw new ConfigError('TEMPORAL_ADDRESS is not set and the embedded server is disabled');
    }
    const server = await ensureDevServer({
      stateDir: config.stateDir,
      searchAttributes: WEFT_SEARCH_ATTRIBUTES,
    });
    address = server.address;
    uiUrl ??= server.uiUrl;
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...temporalConnectOptions(config, address),
      connectTimeout: '5s',
    });
  } catch (err) {
    const how = describeConnection(config, address);
    throw new ConfigError(
      `cannot connect to Temporal at ${address}${how.tls ? ' over TLS' : ''}: ${oneLine(err)}`,
    );
  }
  // Must match the workers' converter, or results and queries come back as storage references.
  const dataConverter = options.dataConverter ?? dataConverterFromEnv(process.env, config);
  bindPayloadServer(dataConverter, connection);
  const client = new Client({ connection, namespace: config.namespace, dataConverter });
  return { client, connection, config, address, uiUrl };
}
