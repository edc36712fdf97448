import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runLoadgen } from '../../src/loadgen/index.ts';
import { bearer, generatedReadToken } from '../support/reader-auth.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';
import { writeSelfSignedCertificate } from '../support/certificates.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-serve-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
/** Servers still up when the file ends (a test failed before stopping its own) would keep the run from ending. */
const started = new Set<ChildProcess>();
after(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Running {
  child: ChildProcess;
  grpc: string;
  /** The web UI and query API. */
  http: string;
  /** The agents' OTLP/HTTP server. */
  otlpHttp: string;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `uniprof serve` as a user would and reads the addresses from the banner it prints. */
async function startServe(
  extra: string[] = [],
  dir = dataDir,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Running> {
  const child = spawn(process.execPath, [BIN, ...serveOnFreePorts(dir), ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  started.add(child);
  const output = new ProcessOutput(child);
  await output.until(SERVE_READY);
  const { grpc, api: http, otlpHttp } = servedAddresses(output.stdout);
  assert.notEqual(http, otlpHttp, 'the UI and API listen apart from the agents');
  return { child, grpc, http, otlpHttp, stdout: () => output.stdout, stderr: () => output.stderr };
}

/** An HTTPS request trusting `ca` (fetch cannot be given a CA without another dependency). */
function httpsRequest(
  url: string,
  ca: Buffer,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string; setCookie: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, ca },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body,
            setCookie: String(response.headers['set-cookie'] ?? ''),
          }),
        );
      },
    );
    request.once('error', reject);
    request.end(options.body);
  });
}

async function stopServe(run: Running): Promise<number | null> {
  run.child.kill('SIGTERM');
  const [code] = (await once(run.child, 'exit')) as [number | null];
  return code;
}

async function flamegraphTotal(http: string): Promise<number> {
  const response = await fetch(`${http}/api/flamegraph?from=0&to=4000000000&samplingLevel=0`, {
    headers: bearer(generatedReadToken(dataDir)),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const body = (await response.json()) as { totalCount: number };
  return body.totalCount;
}

describe('uniprof serve', { timeout: 240_000 }, () => {
  it('ingests load, answers queries, stops cleanly and keeps everything acknowledged', async () => {
    let run = await startServe();
    const token = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
    assert.match(run.stdout(), /agent auth\s+bearer token/);
    assert.match(run.stdout(), /symbolizer\s+http:\/\/127\.0\.0\.1:\d+/);
    assert.match(run.stdout(), new RegExp(`symbol upload token in ${join(dataDir, 'symbol-upload-token')}`));
    const uploadToken = readFileSync(join(dataDir, 'symbol-upload-token'), 'utf8').trim();
    assert.notEqual(uploadToken, token, 'the upload token is a secret of its own');
    assert.equal(statSync(join(dataDir, 'symbol-upload-token')).mode & 0o777, 0o600);
    assert.ok(!run.stdout().includes(uploadToken) && !run.stderr().includes(uploadToken));

    const rejected = await runLoadgen({
      target: run.grpc,
      token: 'wrong',
      rate: 500,
      duration: 1,
      hosts: 2,
      timeoutMs: 30_000,
    });
    assert.equal(rejected.samples, 0);
    assert.ok((rejected.errorsByStatus.UNAUTHENTICATED ?? 0) > 0, JSON.stringify(rejected.errorsByStatus));

    const sent = await runLoadgen({
      target: run.grpc,
      token,
      rate: 3000,
      duration: 3,
      hosts: 4,
      timeoutMs: 30_000,
    });
    assert.equal(sent.errors, 0, JSON.stringify(sent.errorMessages));
    assert.ok(sent.samples > 1000, `sent ${sent.samples} samples`);
    assert.equal(await flamegraphTotal(run.http), sent.samples, 'every acknowledged sample is queryable');

    // The in-process symbolizer works on the same store: the load's native frames are queued, and their
    // made-up executables are looked for (and not found).
    const symbolizer = /symbolizer\s+(http:\/\/\S+)/.exec(run.stdout())![1];
    const ready = await fetch(`${symbolizer}/ready`);
    assert.equal(ready.status, 200, await ready.clone().text());
    const deadline = Date.now() + 60_000;
    let metrics = '';
    const failedAttempts = () =>
      [...metrics.matchAll(/^uniprof_symbolizer_executables_failed_total\{[^}]*\} (\d+)/gm)].reduce(
        (sum, match) => sum + Number(match[1]),
        0,
      );
    while (Date.now() < deadline) {
      metrics = await (await fetch(`${symbolizer}/metrics`)).text();
      if (failedAttempts() > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(failedAttempts() > 0, `the symbolizer looked for the load's executables:\n${metrics}`);
    assert.match(metrics, /^uniprof_symbolizer_pending_frames [1-9]\d*$/m);

    const ui = await fetch(`${run.http}/ui/`, { headers: bearer(generatedReadToken(dataDir)) });
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /<html/i);

    assert.equal(await stopServe(run), 0, run.stderr());

    run = await startServe();
    assert.equal(
      await flamegraphTotal(run.http),
      sent.samples,
      'nothing acknowledged was lost across the restart',
    );
    assert.equal(await stopServe(run), 0, run.stderr());
  });

  it('guards every profile with reader credentials: 0600 secrets, a one-time link, one scope per secret, nothing secret logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uniprof-serve-auth-'));
    try {
      // Trace level: every request line is logged, so the check below covers them.
      const run = await startServe(['--log-level', 'trace'], dir);
      const secret = (name: string) => readFileSync(join(dir, name), 'utf8').trim();
      for (const name of ['secret-token', 'read-token', 'admin-password', 'symbol-upload-token']) {
        assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
      }
      const [agentToken, readToken, adminPassword, uploadToken] = [
        secret('secret-token'),
        secret('read-token'),
        secret('admin-password'),
        secret('symbol-upload-token'),
      ];
      assert.equal(new Set([agentToken, readToken, adminPassword, uploadToken]).size, 4);
      const banner = run.stdout();
      const link = /log in\s+(http:\/\/\S+\/ui\/login#token=(\S+))/.exec(banner);
      assert.ok(link, banner);
      assert.ok(link[1].startsWith(`${run.http}/ui/login#token=`), banner);
      assert.ok(banner.includes(`user "admin", password in ${join(dir, 'admin-password')}`), banner);
      assert.ok(banner.includes(`read token in ${join(dir, 'read-token')}`), banner);

      const status = (headers: Record<string, string> = {}) =>
        fetch(`${run.http}/api/status`, { headers }).then((r) => r.status);
      assert.equal(await status(), 401, 'loopback is no exception');
      assert.equal(await status(bearer(agentToken)), 401, 'an agent token cannot read');
      assert.equal(await status(bearer(uploadToken)), 401, 'the symbol upload token cannot read');
      assert.equal(await status(bearer(readToken)), 200);
      const ingest = await fetch(`${run.otlpHttp}/v1development/profiles`, {
        method: 'POST',
        headers: { ...bearer(readToken), 'content-type': 'application/x-protobuf' },
        body: new Uint8Array(0),
      });
      assert.equal(ingest.status, 401, 'a read token cannot ingest');
      const agentsPort = await fetch(`${run.otlpHttp}/api/status`, { headers: bearer(readToken) });
      assert.equal(agentsPort.status, 404, "the agents' port serves no profiles");
      for (const base of [run.http, run.otlpHttp]) {
        assert.equal((await fetch(`${base}/ready`)).status, 200, `${base}/ready`);
        assert.match(await (await fetch(`${base}/metrics`)).text(), /uniprof_collector_requests_total/);
      }

      const login = (body: string) =>
        fetch(`${run.http}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
      const byLink = await login(JSON.stringify({ token: link[2] }));
      assert.equal(byLink.status, 200);
      const cookie = (byLink.headers.get('set-cookie') ?? '').split(';')[0];
      const pprof = await fetch(`${run.http}/api/pprof?from=0&to=4000000000`, { headers: { cookie } });
      assert.equal(pprof.status, 200, 'the link logged a browser in');
      assert.equal((await login(JSON.stringify({ token: link[2] }))).status, 401, 'a link works once');
      const byPassword = await login(JSON.stringify({ user: 'admin', password: adminPassword }));
      assert.equal(byPassword.status, 200);
      const passwordCookie = (byPassword.headers.get('set-cookie') ?? '').split(';')[0];
      assert.equal((await login(JSON.stringify({ user: 'admin', password: 'nope' }))).status, 401);
      // Broken JSON around a real password: the parser's error must not carry it into a log line.
      assert.equal((await login(`{"user":"admin","password":"${adminPassword}`)).status, 400);
      const wrongAgent = await runLoadgen({
        target: run.grpc,
        token: readToken,
        rate: 200,
        duration: 1,
        hosts: 1,
      });
      assert.equal(wrongAgent.samples, 0, 'a read token cannot ingest over gRPC either');
      const sent = await runLoadgen({
        target: run.grpc,
        token: agentToken,
        rate: 500,
        duration: 1,
        hosts: 1,
      });
      assert.equal(sent.errors, 0);

      assert.equal(await stopServe(run), 0, run.stderr());
      const log = run.stderr();
      assert.match(
        log,
        /"msg":"incoming request"/,
        'request lines were logged: the check below means something',
      );
      const secrets = {
        agentToken,
        readToken,
        adminPassword,
        uploadToken,
        loginLink: link[2],
        session: cookie.split('=')[1],
        passwordSession: passwordCookie.split('=')[1],
      };
      for (const [name, value] of Object.entries(secrets)) {
        assert.ok(value && value.length >= 16, name);
        assert.ok(!log.includes(value), `the log holds the ${name}`);
        if (name !== 'loginLink') assert.ok(!banner.includes(value), `the banner holds the ${name}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads users and tokens from the configuration, and serves everyone only when told to', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uniprof-serve-readers-'));
    try {
      const hashed = spawnSync(process.execPath, [BIN, 'hash-password'], {
        input: 'alice password\n',
        encoding: 'utf8',
      });
      assert.equal(hashed.status, 0, hashed.stderr);
      const hash = hashed.stdout.trim();
      assert.match(hash, /^\$scrypt\$ln=15,r=8,p=1\$/);
      const token = 'grafana-read-token-0123456789';
      const env = { ...process.env, UNIPROF_API_AUTH_USERS: `{alice: "${hash}"}` };
      let run = await startServe(['--set', `api.auth.tokens=${token}`], dir, env);
      assert.match(run.stdout(), /users from api\.auth\.users \(alice\)/);
      assert.throws(() => readFileSync(join(dir, 'admin-password')), /ENOENT/, 'no generated admin');
      assert.throws(() => readFileSync(join(dir, 'read-token')), /ENOENT/, 'no generated read token');
      const loggedIn = await fetch(`${run.http}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'alice', password: 'alice password' }),
      });
      assert.equal(loggedIn.status, 200);
      assert.equal((await fetch(`${run.http}/api/status`, { headers: bearer(token) })).status, 200);
      assert.equal(await stopServe(run), 0, run.stderr());

      run = await startServe(['--insecure-disable-reader-auth'], dir);
      assert.match(run.stdout(), /reader auth disabled/);
      assert.doesNotMatch(run.stdout(), /log in /);
      assert.equal((await fetch(`${run.http}/api/status`)).status, 200);
      assert.equal((await fetch(`${run.http}/ui/`)).status, 200);
      assert.equal(await stopServe(run), 0, run.stderr());

      const shared = spawnSync(
        process.execPath,
        [BIN, 'serve', '--data-dir', dir, '--secret-token', token, '--set', `api.auth.tokens=${token}`],
        { encoding: 'utf8', env },
      );
      assert.equal(shared.status, 2, shared.stderr);
      assert.match(shared.stderr, /api\.auth\.tokens: a read token is also the agents' token/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves the UI, API, OTLP/HTTP and symbol upload over TLS when given certificates, with a Secure session cookie', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uniprof-serve-tls-'));
    try {
      const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
      writeSelfSignedCertificate(cert, key);
      const tls = (setting: string) => ['--set', `${setting}.cert=${cert}`, '--set', `${setting}.key=${key}`];
      const run = await startServe(
        [...tls('api.http.tls'), ...tls('collector.http.tls'), ...tls('symbolizer.http.tls')],
        dir,
      );
      assert.match(run.http, /^https:\/\//, run.stdout());
      assert.match(run.otlpHttp, /^https:\/\//, run.stdout());
      const ca = readFileSync(cert);
      const password = readFileSync(join(dir, 'admin-password'), 'utf8').trim();
      const login = await httpsRequest(`${run.http}/api/auth/login`, ca, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'admin', password }),
      });
      assert.equal(login.status, 200, login.body);
      assert.match(login.setCookie, /; Secure/);
      assert.match(login.setCookie, /HttpOnly/);
      const cookie = login.setCookie.split(';')[0];
      assert.equal((await httpsRequest(`${run.http}/api/status`, ca, { headers: { cookie } })).status, 200);
      assert.equal((await httpsRequest(`${run.otlpHttp}/ready`, ca)).status, 200);
      const symbolizer = servedAddresses(run.stdout()).symbolizer;
      assert.match(symbolizer ?? '', /^https:\/\//, run.stdout());
      assert.equal((await httpsRequest(`${symbolizer}/health`, ca)).status, 200);
      const agentToken = readFileSync(join(dir, 'secret-token'), 'utf8').trim();
      const ingest = await httpsRequest(`${run.otlpHttp}/v1development/profiles`, ca, {
        method: 'POST',
        headers: { ...bearer(agentToken), 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(ingest.status, 200, ingest.body);
      assert.equal(await stopServe(run), 0, run.stderr());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains itself: help, configuration errors, when to run the symbolizer alone', () => {
    const help = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--grpc-port/);
    assert.match(help.stdout, /--config/);

    const bad = spawnSync(process.execPath, [BIN, 'serve', '--set', 'collector.grpc.port=70000'], {
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /collector\.grpc\.port/);

    const symbolizer = spawnSync(process.execPath, [BIN, 'symbolizer', '--help'], { encoding: 'utf8' });
    assert.equal(symbolizer.status, 0);
    assert.match(symbolizer.stdout, /one process only/);
    assert.match(symbolizer.stdout, /uniprof serve' already runs the symbolizer/);
  });
});
