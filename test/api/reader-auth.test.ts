/**
 * Reader authentication over real HTTP, wired as `uniprof serve` wires it: the agents' server (OTLP, probes,
 * metrics) and the readers' server (the query API with pprof, `_profiling` and the status, the UI, the login
 * routes, probes and metrics); each credential good for its own scope only.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import Fastify from 'fastify';
import {
  LOGIN_ATTEMPTS_PER_MINUTE,
  ReaderAccess,
  registerQueryApi,
  registerReaderAuth,
  registerUi,
  SESSION_COOKIE,
} from '../../src/api/index.ts';
import { createApiServer, type ApiServer } from '../../src/cli/api-server.ts';
import { createCollector, type Collector } from '../../src/collector/collector.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { agentLikeBytes, httpExport, quietLogger, storedCounts, TOKEN } from '../collector/helpers.ts';
import { writeSelfSignedCertificate } from '../support/certificates.ts';
import { bearer, TEST_READ_TOKEN, TEST_USER, testReaderAccess } from '../support/reader-auth.ts';

const work = mkdtempSync(join(tmpdir(), 'uniprof-reader-auth-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A stand-in for the built UI: the two pages and one asset, enough to see which are served to whom. */
function fakeUiDir(): string {
  const dir = join(work, 'ui');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<html>the UI</html>');
  writeFileSync(join(dir, 'login.html'), '<html>log in</html>');
  writeFileSync(join(dir, 'assets', 'login-abc.js'), 'console.log(1)');
  return dir;
}

const PROTECTED = [
  '/api/flamegraph?from=0&to=4000000000',
  '/api/topn/functions?from=0&to=4000000000',
  '/api/stacktraces?from=0&to=4000000000',
  '/api/pprof?from=0&to=4000000000',
  '/api/fields/host.name/values',
  '/api/status',
  '/api/settings',
  '/api/storage',
  '/api/openapi.yaml',
  '/api/auth/session',
  '/api/no-such-route',
];

/** A cookie header value from a Set-Cookie answer. */
function sessionCookie(response: Response): string {
  const setCookie = response.headers.get('set-cookie') ?? '';
  const match = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(setCookie);
  assert.ok(match, `no session cookie in ${setCookie}`);
  return `${SESSION_COOKIE}=${match[1]}`;
}

describe("reader authentication on the readers' server", () => {
  let collector: Collector;
  let api: ApiServer;
  let store: EmbeddedStore;
  /** The readers' server. */
  let url: string;
  /** The agents' server (OTLP/HTTP). */
  let agentsUrl: string;
  let now = Date.now();
  let access: ReaderAccess;

  before(async () => {
    store = new EmbeddedStore({ path: join(work, 'uniprof.duckdb'), seed: 1 });
    const listen = { host: '127.0.0.1', port: 0 };
    collector = createCollector(
      { grpc: listen, http: listen, auth: { secretToken: TOKEN } },
      store,
      quietLogger(),
    );
    api = createApiServer(listen, collector, quietLogger());
    access = await testReaderAccess({ now: () => now });
    await registerReaderAuth(api.app, access);
    await registerQueryApi(api.app, { store });
    await registerUi(api.app, { directory: fakeUiDir() });
    agentsUrl = (await collector.start()).httpAddress;
    url = await api.start();
  });
  after(async () => {
    await api.stop(1000);
    await collector.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, { headers, redirect: 'manual' });

  it('refuses every API route without credentials, with 401 and a JSON message that says what to send', async () => {
    for (const path of PROTECTED) {
      const response = await get(path);
      assert.equal(response.status, 401, path);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="uniprof"');
      const body = (await response.json()) as { error: string; message: string };
      assert.equal(body.error, 'unauthorized', path);
      assert.match(body.message, /Authorization: Bearer <read token>.*log in at \/ui\/login/, path);
    }
    for (const [method, path] of [
      ['POST', '/_profiling/flamegraph'],
      ['POST', '/_profiling/topn/functions'],
      ['GET', '/_profiling/flamegraph?source={}'],
    ]) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      assert.equal(response.status, 401, path);
    }
  });

  it('sends a browser without a session to the login page, keeping where it was going', async () => {
    for (const path of ['/', '/ui', '/ui/', '/ui/index.html']) {
      const response = await get(path);
      assert.equal(response.status, 302, path);
      assert.equal(response.headers.get('location'), `/ui/login?next=${encodeURIComponent(path)}`, path);
    }
    const login = await get('/ui/login');
    assert.equal(login.status, 200);
    assert.equal(await login.text(), '<html>log in</html>');
    assert.equal((await get('/ui/assets/login-abc.js')).status, 200);
  });

  it('refuses wrong and malformed tokens, and the agent token', async () => {
    const path = '/api/flamegraph?from=0&to=4000000000';
    for (const authorization of [
      'Bearer wrong-token-0123456789abcdef',
      `Bearer ${TOKEN}`,
      `Basic ${Buffer.from(`${TEST_USER.name}:${TEST_USER.password}`).toString('base64')}`,
      TEST_READ_TOKEN,
      `Bearer ${TEST_READ_TOKEN}x`,
    ]) {
      const response = await get(path, { authorization });
      assert.equal(response.status, 401, authorization);
      assert.match(((await response.json()) as { message: string }).message, /bearer/i);
    }
    assert.equal((await get(path, bearer())).status, 200);
  });

  it('lets a read token read everything, pprof and _profiling included, but not ingest', async () => {
    for (const path of PROTECTED.filter((p) => p !== '/api/no-such-route')) {
      assert.equal((await get(path, bearer())).status, 200, path);
    }
    assert.equal((await get('/api/no-such-route', bearer())).status, 404);
    const profiling = await fetch(`${url}/_profiling/flamegraph`, {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: JSON.stringify({ query: { range: { '@timestamp': { gte: 0, lt: 4_000_000_000 } } } }),
    });
    assert.equal(profiling.status, 200, await profiling.clone().text());

    const before = await storedCounts(store);
    const refused = await httpExport(agentsUrl, { body: agentLikeBytes(), token: TEST_READ_TOKEN });
    assert.equal(refused.status, 401);
    assert.deepEqual(await storedCounts(store), before, 'nothing stored for a read token');
    const accepted = await httpExport(agentsUrl, { body: agentLikeBytes() });
    assert.equal(accepted.status, 200, 'the agent token still ingests');
    // Neither server offers the other's routes: no OTLP among the readers, no profiles among the agents.
    assert.equal((await httpExport(url, { body: agentLikeBytes() })).status, 401);
    const onAgentsPort = await fetch(`${agentsUrl}/api/status`, { headers: bearer() });
    assert.equal(onAgentsPort.status, 404);
  });

  it('keeps health, readiness and metrics open, on both servers', async () => {
    for (const base of [url, agentsUrl]) {
      for (const path of ['/health', '/ready', '/metrics']) {
        assert.equal((await fetch(`${base}${path}`)).status, 200, `${base}${path}`);
      }
    }
    const ready = (await (await get('/ready')).json()) as { checks: Record<string, boolean> };
    assert.deepEqual(ready.checks, { store: true, grpc: true, http: true, accepting: true, api: true });
    assert.match(await (await get('/metrics')).text(), /^uniprof_collector_requests_total/m);
  });

  it('logs a user in with name and password: an HttpOnly, SameSite=Strict session cookie that reads, until logout', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    for (const wrong of [
      { user: TEST_USER.name, password: 'wrong' },
      { user: 'nobody', password: TEST_USER.password },
    ]) {
      const response = await post(wrong);
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('set-cookie'), null);
      assert.equal(((await response.json()) as { message: string }).message, 'wrong user name or password');
    }
    assert.equal((await post({ user: TEST_USER.name })).status, 400);

    const response = await post({ user: TEST_USER.name, password: TEST_USER.password });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { user: TEST_USER.name });
    const setCookie = response.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Path=\//);
    assert.match(setCookie, /Max-Age=\d+/);
    assert.doesNotMatch(setCookie, /Secure/, 'plain HTTP: a Secure cookie would never come back');
    const cookie = sessionCookie(response);

    assert.equal((await get('/api/pprof?from=0&to=4000000000', { cookie })).status, 200);
    assert.equal((await get('/ui/', { cookie })).status, 200);
    const session = (await (await get('/api/auth/session', { cookie })).json()) as { reader: unknown };
    assert.deepEqual(session.reader, { kind: 'user', name: TEST_USER.name });

    const logout = await fetch(`${url}/api/auth/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(logout.status, 204);
    assert.equal((await get('/api/status', { cookie })).status, 401, 'the session ended on the server');
    assert.equal(
      (await get(`/api/status?x=${SESSION_COOKIE}`, { cookie: `${SESSION_COOKIE}=made-up` })).status,
      401,
    );
  });

  it('honours a one-time login link once, and not after it expires', async () => {
    const login = (token: string) =>
      fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
    const link = access.issueLoginLink();
    const first = await login(link);
    assert.equal(first.status, 200);
    assert.equal((await get('/api/status', { cookie: sessionCookie(first) })).status, 200);
    const again = await login(link);
    assert.equal(again.status, 401);
    assert.match(((await again.json()) as { message: string }).message, /already used or has expired/);

    const late = access.issueLoginLink();
    now += 3601 * 1000;
    try {
      assert.equal((await login(late)).status, 401);
      assert.equal((await login('never-issued')).status, 401);
    } finally {
      now -= 3601 * 1000;
    }
  });

  it('ends a session when it expires', async () => {
    const response = await fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: TEST_USER.name, password: TEST_USER.password }),
    });
    const cookie = sessionCookie(response);
    now += access.sessionTtlSeconds * 1000 + 1;
    try {
      const expired = await get('/api/status', { cookie });
      assert.equal(expired.status, 401);
      assert.match(((await expired.json()) as { message: string }).message, /session has ended/);
    } finally {
      now -= access.sessionTtlSeconds * 1000 + 1;
    }
  });
});

describe('reader auth, explicitly off', () => {
  it('serves the API and UI without credentials', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 1 });
    await store.open();
    const app = Fastify();
    try {
      await registerReaderAuth(app, ReaderAccess.disabled());
      await registerQueryApi(app, { store });
      await registerUi(app, { directory: fakeUiDir() });
      const api = await app.inject('/api/flamegraph?from=0&to=4000000000');
      assert.equal(api.statusCode, 200);
      assert.equal((await app.inject('/ui/')).statusCode, 200);
      // A token that means something only where auth is on gives nothing extra, and no error either.
      assert.equal((await app.inject({ url: '/api/status', headers: bearer() })).statusCode, 200);
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('is a decision someone made: the API and UI refuse to register without one', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 1 });
    const app = Fastify();
    await assert.rejects(registerQueryApi(app, { store }), /reader authentication registered first/);
    await assert.rejects(registerUi(app), /reader authentication registered first/);
    await app.close();
  });
});

describe('login attempts', () => {
  it('are limited per client address: guessing passwords meets 429', async () => {
    const app = Fastify();
    try {
      await registerReaderAuth(app, await testReaderAccess());
      const attempt = () =>
        app.inject({ method: 'POST', url: '/api/auth/login', payload: { user: TEST_USER.name } });
      for (let i = 0; i < LOGIN_ATTEMPTS_PER_MINUTE; i++) assert.equal((await attempt()).statusCode, 400);
      const limited = await attempt();
      assert.equal(limited.statusCode, 429);
      assert.match(limited.body, /retry in/i);
      // Reading with a token is not a login attempt: it is not limited.
      assert.equal((await app.inject({ url: '/api/auth/session', headers: bearer() })).statusCode, 200);
    } finally {
      await app.close();
    }
  });
});

describe('behind a reverse proxy (api.http.trustProxy)', () => {
  /** The readers' server as `serve` builds it, with reader auth only: a login's answer is what is looked at. */
  async function readersServer(t: TestContext, trustProxy?: string): Promise<string> {
    const collector = createCollector(
      { grpc: { host: '127.0.0.1', port: 0 }, auth: { secretToken: TOKEN } },
      new EmbeddedStore({ path: ':memory:', seed: 1 }),
      quietLogger(),
    );
    const api = createApiServer({ host: '127.0.0.1', port: 0, trustProxy }, collector, quietLogger());
    t.after(() => api.stop(1000));
    await registerReaderAuth(api.app, await testReaderAccess());
    return api.start();
  }
  const login = (url: string, forwardedFor: string, password = TEST_USER.password) =>
    fetch(`${url}/api/auth/login`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': forwardedFor,
        'x-forwarded-proto': 'https',
      },
      body: JSON.stringify({ user: TEST_USER.name, password }),
    });

  it('takes the scheme and client address from the trusted proxy: Secure cookie, rate limit per reader', async (t) => {
    const url = await readersServer(t, '127.0.0.1');
    const ok = await login(url, '10.0.0.1');
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('set-cookie') ?? '', /; Secure/);
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_MINUTE; i++)
      assert.equal((await login(url, '10.0.0.2', 'wrong')).status, 401);
    assert.equal((await login(url, '10.0.0.2', 'wrong')).status, 429, 'the guessing reader is limited');
    assert.equal((await login(url, '10.0.0.3')).status, 200, 'another reader behind the same proxy is not');
  });

  it('ignores forwarding headers by default: a client cannot claim another address or scheme', async (t) => {
    const url = await readersServer(t);
    const ok = await login(url, '10.0.0.1');
    assert.equal(ok.status, 200);
    assert.doesNotMatch(ok.headers.get('set-cookie') ?? '', /Secure/);
    for (let i = 1; i < LOGIN_ATTEMPTS_PER_MINUTE; i++)
      assert.equal((await login(url, `10.0.1.${i}`, 'wrong')).status, 401);
    assert.equal((await login(url, '10.0.2.1')).status, 429, 'every attempt counted against the real peer');
  });
});

describe('reader auth over TLS', () => {
  it('marks the session cookie Secure', async (t) => {
    const cert = join(work, 'cert.pem');
    const key = join(work, 'key.pem');
    writeSelfSignedCertificate(cert, key);
    const app = Fastify({ https: { cert: readFileSync(cert), key: readFileSync(key) } });
    t.after(() => app.close());
    await registerReaderAuth(app, await testReaderAccess());
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const setCookie = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ user: TEST_USER.name, password: TEST_USER.password });
      const request = httpsRequest(
        `${address}/api/auth/login`,
        { method: 'POST', ca: readFileSync(cert), headers: { 'content-type': 'application/json' } },
        (response) => {
          response.resume();
          assert.equal(response.statusCode, 200);
          resolve(String(response.headers['set-cookie'] ?? ''));
        },
      );
      request.once('error', reject);
      request.end(body);
    });
    assert.match(setCookie, /; Secure/);
    assert.match(setCookie, /HttpOnly/);
  });
});
