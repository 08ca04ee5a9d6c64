/**
 * How weft finds Temporal (S901): through @temporalio/envconfig, from TEMPORAL_* variables and the
 * `temporal` CLI's TOML profiles, with bad settings refused as one ConfigError line.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { describeConnection, loadConfig, temporalConnectOptions } from '../../src/config';
import { ConfigError } from '../../src/errors';

const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-envconfig-'));
// A HOME without a temporal.toml, so the developer's own profile never leaks into these tests.
const base = { HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config') };
writeFileSync(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
writeFileSync(path.join(dir, 'client.pem'), 'client-cert');
writeFileSync(path.join(dir, 'client-key.pem'), 'client-key');
const toml = path.join(dir, 'temporal.toml');
writeFileSync(
  toml,
  [
    '[profile.default]',
    'address = "default.example:7233"',
    '',
    '[profile.cloud]',
    'address = "weft.abcde.tmprl.cloud:7233"',
    'namespace = "weft.abcde"',
    'api_key = "secret-key-from-toml"',
    '',
    '[profile.mtls]',
    'address = "cluster.internal:7233"',
    'namespace = "prod"',
    '[profile.mtls.tls]',
    `client_cert_path = "${path.join(dir, 'client.pem')}"`,
    `client_key_path = "${path.join(dir, 'client-key.pem')}"`,
    `server_ca_cert_path = "${path.join(dir, 'ca.pem')}"`,
    'server_name = "cluster.internal"',
    '',
  ].join('\n'),
);

test('S901 nothing configured means the embedded dev server, with no TLS and no key', () => {
  const config = loadConfig(base);
  assert.equal(config.address, null);
  assert.equal(config.namespace, 'default');
  assert.equal(config.connection, undefined);
  const description = describeConnection(config, '127.0.0.1:7233');
  assert.equal(description.embedded, true);
  assert.equal(description.tls, false);
  assert.equal(description.auth, 'none');
});

test('S901 TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_API_KEY: TLS on, key sent, key never described', () => {
  const config = loadConfig({
    ...base,
    TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
    TEMPORAL_NAMESPACE: 'ns.acct',
    TEMPORAL_API_KEY: 'secret-env-key',
  });
  assert.equal(config.address, 'ns.acct.tmprl.cloud:7233');
  assert.equal(config.namespace, 'ns.acct');
  const options = temporalConnectOptions(config, 'ns.acct.tmprl.cloud:7233');
  assert.equal(options.apiKey, 'secret-env-key');
  // envconfig turns TLS on for an API key, as Temporal Cloud needs.
  assert.equal(options.tls, true);
  const description = describeConnection(config, config.address ?? '');
  assert.deepEqual(
    { tls: description.tls, auth: description.auth, embedded: description.embedded },
    { tls: true, auth: 'api-key', embedded: false },
  );
  assert.ok(!JSON.stringify(description).includes('secret-env-key'));
  // The embedded server never gets the remote server's key.
  assert.equal(temporalConnectOptions(config, '127.0.0.1:7233').apiKey, undefined);
});

test('S901 TEMPORAL_TLS_* variables give mutual TLS with the files read up front', () => {
  const config = loadConfig({
    ...base,
    TEMPORAL_ADDRESS: 'localhost:7233',
    TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client-key.pem'),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
  });
  const tls = temporalConnectOptions(config, 'localhost:7233').tls;
  assert.ok(typeof tls === 'object');
  assert.equal(tls.serverNameOverride, 'localhost');
  assert.equal(Buffer.from(tls.clientCertPair?.crt ?? []).toString(), 'client-cert');
  assert.equal(describeConnection(config, 'localhost:7233').auth, 'mtls');
  const plain = loadConfig({ ...base, TEMPORAL_ADDRESS: 'localhost:7233', TEMPORAL_TLS: 'true' });
  assert.equal(describeConnection(plain, 'localhost:7233').tls, true);
  assert.equal(describeConnection(plain, 'localhost:7233').auth, 'none');
});

test('S901 TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE select a TOML profile; variables override it', () => {
  const cloud = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud' });
  assert.equal(cloud.address, 'weft.abcde.tmprl.cloud:7233');
  assert.equal(cloud.namespace, 'weft.abcde');
  assert.equal(temporalConnectOptions(cloud, cloud.address ?? '').apiKey, 'secret-key-from-toml');
  const description = describeConnection(cloud, cloud.address ?? '');
  assert.equal(description.profile, 'cloud');
  assert.equal(description.configFile, toml);
  assert.ok(!JSON.stringify(description).includes('secret-key-from-toml'));

  const mtls = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'mtls' });
  assert.equal(describeConnection(mtls, mtls.address ?? '').auth, 'mtls');

  const defaulted = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: toml });
  assert.equal(defaulted.address, 'default.example:7233');
  const overridden = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_ADDRESS: 'other:7233' });
  assert.equal(overridden.address, 'other:7233');
});

test('S901 the temporal CLI default file is read from $XDG_CONFIG_HOME/temporalio/temporal.toml', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'weft-envconfig-home-'));
  const file = path.join(home, 'temporalio', 'temporal.toml');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '[profile.default]\naddress = "from-cli-file:7233"\nnamespace = "cli-ns"\n');
  const config = loadConfig({ HOME: home, XDG_CONFIG_HOME: home });
  assert.equal(config.address, 'from-cli-file:7233');
  assert.equal(config.namespace, 'cli-ns');
  assert.equal(describeConnection(config, 'from-cli-file:7233').configFile, file);
});

test('S901 bad settings are one ConfigError line: unknown profile, missing file, unreadable certificate, bad address', () => {
  const cases: [NodeJS.ProcessEnv, RegExp][] = [
    [{ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'nope' }, /Profile 'nope' not found/],
    [
      { TEMPORAL_CONFIG_FILE: path.join(dir, 'missing.toml') },
      /TEMPORAL_CONFIG_FILE names .* does not exist/,
    ],
    [
      { TEMPORAL_ADDRESS: 'h:7233', TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'no-ca.pem') },
      /cannot read TLS file .*no-ca\.pem/,
    ],
    [{ TEMPORAL_ADDRESS: 'no-port' }, /TEMPORAL_ADDRESS must be host:port/],
  ];
  for (const [env, pattern] of cases) {
    assert.throws(
      () => loadConfig({ ...base, ...env }),
      (err: unknown) =>
        err instanceof ConfigError && pattern.test(err.message) && !err.message.includes('\n'),
    );
  }
});
