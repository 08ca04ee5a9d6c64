import net from 'node:net';
import tls from 'node:tls';
import type { TemporalConnectOptions } from './config';

/**
 * Why a connection to Temporal failed, in words: the SDKs often report only "Failed to connect
 * before the deadline", so this opens one plain TCP, or TLS, connection with the same settings and
 * returns what went wrong (refused, unknown CA, certificate required…), or null when it got through.
 */
export async function explainConnectFailure(
  options: TemporalConnectOptions,
  timeoutMs = 3_000,
): Promise<string | null> {
  const colon = options.address.lastIndexOf(':');
  const host = options.address.slice(0, colon);
  const port = Number(options.address.slice(colon + 1));
  const useTls = options.tls !== undefined && options.tls !== false;
  const config = typeof options.tls === 'object' ? options.tls : {};
  return new Promise((resolve) => {
    let settled = false;
    const done = (reason: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(
      () => done(`no answer from ${options.address} within ${timeoutMs} ms`),
      timeoutMs,
    );
    const describe = (err: NodeJS.ErrnoException): string => {
      if (err.code === 'ECONNREFUSED') return `nothing listens on ${options.address} (connection refused)`;
      if (err.code === 'ENOTFOUND') return `unknown host ${host}`;
      if (!useTls) return err.message;
      // OpenSSL reports a server's alert as one long "error:0A00045C:SSL routines:…" string.
      const alert = /alert ([a-z ]+?)(?::|$)/.exec(err.message)?.[1];
      if (alert === 'certificate required')
        return 'TLS failed: the server requires a client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH)';
      if (alert) return `TLS failed: the server refused the handshake (${alert})`;
      const untrusted = [
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'SELF_SIGNED_CERT_IN_CHAIN',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      ];
      if (err.code && untrusted.includes(err.code))
        return `TLS failed: ${err.message}: the server's certificate is not signed by the CA weft trusts (TEMPORAL_TLS_SERVER_CA_CERT_PATH)`;
      if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
        return `TLS failed: ${err.message} (TEMPORAL_TLS_SERVER_NAME)`;
      return `TLS failed: ${err.message}`;
    };
    const socket: net.Socket = useTls
      ? tls.connect({
          host,
          port,
          servername: config.serverNameOverride ?? (net.isIP(host) ? undefined : host),
          ...(config.serverRootCACertificate ? { ca: Buffer.from(config.serverRootCACertificate) } : {}),
          ...(config.clientCertPair
            ? { cert: Buffer.from(config.clientCertPair.crt), key: Buffer.from(config.clientCertPair.key) }
            : {}),
          ALPNProtocols: ['h2'],
        })
      : net.connect({ host, port });
    socket.once('error', (err: NodeJS.ErrnoException) => done(describe(err)));
    // With TLS 1.3 a server that wants a client certificate says so just after the handshake.
    socket.once(useTls ? 'secureConnect' : 'connect', () => setTimeout(() => done(null), 300));
  });
}
