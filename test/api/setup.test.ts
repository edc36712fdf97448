/** The "Add data" instructions: this server's addresses, the token for whom may see it, and YAML that parses. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import {
  registerReaderAuth,
  registerSetupRoute,
  setupInstructions,
  type AgentEndpoints,
} from '../../src/api/index.ts';
import { bearer, TEST_USER, testReaderAccess } from '../support/reader-auth.ts';

const ENDPOINTS: AgentEndpoints = {
  grpc: { host: '0.0.0.0', port: 4317, tls: true },
  otlpHttp: { host: '127.0.0.1', port: 4318, tls: false },
  token: { value: 'agent-secret-0123456789', file: '/var/lib/uniprof/secret-token' },
  agentVersion: 'v0.0.202633',
  symbolUpload: {
    symbolizerUrl: 'http://127.0.0.1:4319',
    uploadToken: '$(cat /var/lib/uniprof/symbol-upload-token)',
  },
};

type Tree = Record<string, Record<string, Record<string, unknown>>>;

describe('Add data instructions', () => {
  it('name the host the reader reached for a listener on every interface, and the TLS exporter with bearertokenauth', () => {
    const setup = setupInstructions(ENDPOINTS, 'profiles.example.net', { kind: 'user', name: 'alice' });
    assert.equal(setup.grpcEndpoint, 'profiles.example.net:4317');
    assert.equal(setup.otlpHttpUrl, 'http://127.0.0.1:4318/v1development/profiles');
    assert.equal(setup.auth.token, 'agent-secret-0123456789', 'a person logged in sees the token');
    const config = parseYaml(setup.collectorConfig) as Tree;
    assert.deepEqual(config.exporters['otlp/uniprof'], {
      endpoint: 'profiles.example.net:4317',
      tls: { ca_file: '/etc/otelcol/uniprof-ca.pem' },
      auth: { authenticator: 'bearertokenauth/uniprof' },
    });
    assert.deepEqual(config.extensions['bearertokenauth/uniprof'], { token: '${env:UNIPROF_TOKEN}' });
    assert.deepEqual(config.service.pipelines, {
      profiles: { receivers: ['profiling'], processors: ['resourcedetection'], exporters: ['otlp/uniprof'] },
    });
    assert.match(setup.collectorCommand, /^export UNIPROF_TOKEN="agent-secret-0123456789"\n/);
    assert.match(setup.standaloneNote, /sends no token/);
    assert.equal(setup.standaloneCommand, 'sudo ./ebpf-profiler -collection-agent profiles.example.net:4317');
    assert.match(setup.symbolsCommand, /^uniprof symbtool push-symbols -u http:\/\/127.0.0.1:4319 /);
  });

  it('show a token reader where the token is, not the token; without TLS the token goes in a header', () => {
    const plain = { ...ENDPOINTS, grpc: { host: '10.1.2.3', port: 4317, tls: false } };
    const setup = setupInstructions(plain, 'ignored', { kind: 'token' });
    assert.equal(setup.auth.token, undefined);
    assert.equal(setup.auth.tokenSource, '$(sudo cat /var/lib/uniprof/secret-token)');
    assert.ok(!setup.collectorConfig.includes('agent-secret'));
    assert.ok(!setup.collectorCommand.includes('agent-secret'));
    const config = parseYaml(setup.collectorConfig) as Tree;
    assert.equal(config.extensions, undefined, 'bearertokenauth refuses plaintext, so it is not used');
    assert.deepEqual(config.exporters['otlp/uniprof'], {
      endpoint: '10.1.2.3:4317',
      tls: { insecure: true },
      headers: { authorization: 'Bearer ${env:UNIPROF_TOKEN}' },
    });
    assert.equal(
      setup.standaloneCommand,
      'sudo ./ebpf-profiler -collection-agent 10.1.2.3:4317 -disable-tls',
    );
  });

  it('give a DaemonSet whose ConfigMap holds the same collector configuration', () => {
    const setup = setupInstructions(ENDPOINTS, 'uniprof.monitoring.svc', { kind: 'user', name: 'alice' });
    const documents = parseAllDocuments(setup.kubernetesManifest).map((document) => document.toJS() as Tree);
    assert.deepEqual(
      documents.map((document) => document.kind),
      ['ConfigMap', 'DaemonSet'],
    );
    assert.equal(documents[0].data['otelcol.yaml'], setup.collectorConfig);
    assert.ok(!setup.kubernetesManifest.includes('agent-secret'), 'the token comes from a Secret');
  });

  it('say so when agents need no token', () => {
    const open = { ...ENDPOINTS, token: undefined };
    const setup = setupInstructions(open, 'h', { kind: 'user', name: 'alice' });
    assert.equal(setup.auth.required, false);
    assert.ok(!setup.collectorConfig.includes('UNIPROF_TOKEN'));
    assert.ok(!setup.collectorCommand.includes('UNIPROF_TOKEN'));
    assert.match(setup.standaloneNote, /authentication is off/);
  });

  it('are served at /api/setup to readers only, with the token for users who logged in', async (t) => {
    const app = Fastify();
    t.after(() => app.close());
    const access = await testReaderAccess();
    await registerReaderAuth(app, access);
    const bound: { endpoints?: AgentEndpoints } = {};
    registerSetupRoute(app, () => bound.endpoints);
    assert.equal((await app.inject({ url: '/api/setup' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/api/setup', headers: bearer() })).statusCode, 503);
    bound.endpoints = ENDPOINTS;
    const byToken = await app.inject({
      url: '/api/setup',
      headers: { ...bearer(), host: 'ui.example:4320' },
    });
    assert.equal(byToken.statusCode, 200);
    assert.equal(byToken.json().grpcEndpoint, 'ui.example:4317');
    assert.equal(byToken.json().auth.token, undefined);
    const login = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { user: TEST_USER.name, password: TEST_USER.password },
    });
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    const byUser = await app.inject({ url: '/api/setup', headers: { cookie } });
    assert.equal(byUser.json().auth.token, 'agent-secret-0123456789');
  });
});
