import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, envName, loadConfig } from '../../src/config/config.ts';
import { configFromOptions } from '../../src/cli/options.ts';
import { resolveSecretToken } from '../../src/cli/secret-token.ts';

const dir = mkdtempSync(join(tmpdir(), 'uniprof-config-'));

function yaml(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('configuration', () => {
  it('works with no configuration at all', () => {
    const config = loadConfig();
    assert.equal(config.collector.grpc.port, 4317);
    assert.equal(config.collector.http.port, 4318);
    assert.equal(config.api.http.port, 4320, 'the UI and API on a port of their own');
    assert.equal(config.output.type, 'embedded');
    assert.equal(config.collector.auth.disabled, false);
    assert.equal(config.api.auth.disabled, false, 'readers need credentials by default');
  });

  it('takes reader users and tokens from the environment, and the UI port and reader switch from flags', () => {
    const config = configFromOptions(
      { apiPort: '5000', apiHost: '0.0.0.0', insecureDisableReaderAuth: true },
      {
        UNIPROF_API_AUTH_USERS: '{alice: "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"}',
        UNIPROF_API_AUTH_TOKENS: 'first-read-token-0123456789, second-read-token-0123456789',
      },
    );
    assert.equal(config.api.http.port, 5000);
    assert.equal(config.api.http.host, '0.0.0.0');
    assert.equal(config.api.auth.disabled, true);
    assert.deepEqual(Object.keys(config.api.auth.users), ['alice']);
    assert.deepEqual(config.api.auth.tokens, ['first-read-token-0123456789', 'second-read-token-0123456789']);
    assert.throws(() => loadConfig({ overrides: ['api.auth.tokens=short'] }), /at least 16 characters/);
    const recording = configFromOptions(
      { recordDir: '/var/tmp/requests' },
      { UNIPROF_COLLECTOR_RECORD_MAX_BYTES: '1048576' },
    );
    assert.deepEqual(recording.collector.record, { dir: '/var/tmp/requests', maxBytes: 1_048_576 });
    assert.equal(configFromOptions({}, {}).collector.record.dir, undefined, 'recording is off by default');
  });

  it('takes flags over environment over file', () => {
    const file = yaml(
      'layers.yaml',
      'collector:\n  grpc:\n    port: 1111\n    host: 0.0.0.0\n  http:\n    port: 2222\ndataDir: /from/file\n',
    );
    const env = { UNIPROF_COLLECTOR_GRPC_PORT: '3333', UNIPROF_DATA_DIR: '/from/env' };
    const config = configFromOptions({ config: file, grpcPort: '4444' }, env);
    assert.equal(config.collector.grpc.port, 4444, 'flag wins');
    assert.equal(config.dataDir, '/from/env', 'env beats file');
    assert.equal(config.collector.http.port, 2222, 'file beats default');
    assert.equal(config.collector.grpc.host, '0.0.0.0');
  });

  it('names environment variables after the configuration keys', () => {
    assert.equal(
      envName(['collector', 'grpc', 'maxMessageBytes']),
      'UNIPROF_COLLECTOR_GRPC_MAX_MESSAGE_BYTES',
    );
    const config = loadConfig({
      env: {
        UNIPROF_OUTPUT_ELASTICSEARCH_HOSTS: 'http://a:9200, http://b:9200',
        UNIPROF_COLLECTOR_AUTH_DISABLED: 'true',
        UNIPROF_OUTPUT_ELASTICSEARCH_API_KEY: 'key',
      },
    });
    assert.deepEqual(config.output.elasticsearch.hosts, ['http://a:9200', 'http://b:9200']);
    assert.equal(config.collector.auth.disabled, true);
    assert.equal(config.output.elasticsearch.apiKey, 'key');
  });

  it('accepts --set for any key and the auth switch only when asked', () => {
    const config = configFromOptions(
      { set: ['output.type=elasticsearch', 'query.datacenterPue=1.2'], insecureDisableAuth: true },
      {},
    );
    assert.equal(config.output.type, 'elasticsearch');
    assert.equal(config.query.datacenterPue, 1.2);
    assert.equal(config.collector.auth.disabled, true);
  });

  it('takes the Elasticsearch replicas as a count or an auto-expand range', () => {
    assert.equal(loadConfig({}).output.elasticsearch.replicas, '0-1');
    assert.equal(
      loadConfig({ overrides: ['output.elasticsearch.replicas=2'] }).output.elasticsearch.replicas,
      2,
    );
    const env = { UNIPROF_OUTPUT_ELASTICSEARCH_REPLICAS: '0-all' };
    assert.equal(loadConfig({ env }).output.elasticsearch.replicas, '0-all');
    assert.throws(
      () => loadConfig({ overrides: ['output.elasticsearch.replicas=one'] }),
      /output\.elasticsearch\.replicas: a replica count or an auto-expand range/,
    );
    assert.throws(() => loadConfig({ overrides: ['output.elasticsearch.replicas=-1'] }), /replicas/);
  });

  it('takes when bulk requests go out, within bounds', () => {
    assert.deepEqual(loadConfig({}).output.elasticsearch.bulk, { maxBytes: 5 * 1024 ** 2, maxAgeMs: 1000 });
    const env = { UNIPROF_OUTPUT_ELASTICSEARCH_BULK_MAX_AGE_MS: '5000' };
    assert.equal(loadConfig({ env }).output.elasticsearch.bulk.maxAgeMs, 5000);
    assert.throws(
      () => loadConfig({ overrides: ['output.elasticsearch.bulk.maxAgeMs=600000'] }),
      /output\.elasticsearch\.bulk\.maxAgeMs/,
    );
  });

  it('says what is wrong with a bad configuration', () => {
    assert.throws(() => loadConfig({ overrides: ['collector.grpc.port=99999'] }), /collector\.grpc\.port/);
    assert.throws(() => loadConfig({ overrides: ['nope.key=1'] }), /unknown configuration key "nope.key"/);
    assert.throws(() => loadConfig({ file: yaml('typo.yaml', 'colector: {}\n') }), /colector/);
    assert.throws(
      () => loadConfig({ file: yaml('bad.yaml', 'a: [1,\n') }),
      (e: unknown) => e instanceof ConfigError && /not valid YAML/.test(e.message),
    );
    assert.throws(() => loadConfig({ file: join(dir, 'missing.yaml') }), /cannot read config file/);
    assert.throws(() => loadConfig({ overrides: ['output.type=mongodb'] }), /output\.type/);
  });
});

describe('secret token', () => {
  it('prefers the configured token, else generates one once and keeps it private', () => {
    const dataDir = join(dir, 'data');
    assert.deepEqual(resolveSecretToken('given', false, dataDir), { token: 'given' });
    assert.deepEqual(resolveSecretToken(undefined, true, dataDir), {});
    const first = resolveSecretToken(undefined, false, dataDir);
    assert.ok(first.token && first.token.length >= 32);
    assert.equal(first.generatedAt, join(dataDir, 'secret-token'));
    assert.equal(statSync(first.generatedAt!).mode & 0o777, 0o600);
    assert.equal(readFileSync(first.generatedAt!, 'utf8').trim(), first.token);
    assert.equal(resolveSecretToken(undefined, false, dataDir).token, first.token, 'stable across restarts');
  });
});
