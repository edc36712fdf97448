/**
 * End to end in the recommended deployment: the eBPF profiler running inside an OpenTelemetry Collector
 * (test/peers/otelcol.ts: the profiler's receiver, `resourcedetection` with the system detector, the OTLP
 * gRPC exporter authenticating with `bearertokenauth`) sends to `uniprof serve` as a user starts it: agent
 * token and reader auth on, tokens generated into the data directory.
 *
 * With a wrong token every export is refused (UNAUTHENTICATED) and nothing is stored; with the right one the
 * profiles are stored, and the host the collector detected (host.name, host.id, os.*) is what the query API
 * shows: stack traces grouped by host name and by host ID, and the hosts in the status.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { SetupInstructions, StatusResponse } from '../../src/api/index.ts';
import type { GroupedStacksResponse } from '../../src/query/stacks.ts';
import { AgentUnavailableError, buildMemlockShim, prepareAgentHost } from '../peers/agent.ts';
import { provisionOtelcol, startOtelcol, type RunningOtelcol } from '../peers/otelcol.ts';
import { bearer, generatedReadToken } from '../support/reader-auth.ts';
import { writeSelfSignedCertificate } from '../support/certificates.ts';
import { ProcessOutput, SERVE_READY, servedAddresses, serveOnFreePorts } from '../support/serve.ts';
import { buildNativeWorkload } from './support/workloads.ts';
import { metricValue } from './support/symbolization.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CI = process.env.CI === 'true';
const REPORT_INTERVAL = '2s';
/** How long each collector run may take to get its first export answered. */
const EXPORT_LIMIT_MS = 60_000;
const WORKLOAD_THREAD = 'uprof-cpu';

interface Serve {
  process: ChildProcess;
  grpc: string;
  otlpHttp: string;
  api: string;
  /** The agents' token `uniprof serve` generated on its first start. */
  agentToken: string;
  readToken: string;
}

/** `uniprof serve` with its defaults (agent and reader auth on), its gRPC receiver on TLS. */
async function startServe(
  t: TestContext,
  dataDir: string,
  tls: { cert: string; key: string },
): Promise<Serve> {
  const args = [
    ...serveOnFreePorts(dataDir),
    '--set',
    `collector.grpc.tls.cert=${tls.cert}`,
    '--set',
    `collector.grpc.tls.key=${tls.key}`,
  ];
  const child = spawn(process.execPath, ['bin/uniprof.mjs', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const output = new ProcessOutput(child);
  await output.until(SERVE_READY, 90_000);
  const addresses = servedAddresses(output.stdout);
  return {
    process: child,
    ...addresses,
    agentToken: (await readFile(path.join(dataDir, 'secret-token'), 'utf8')).trim(),
    readToken: generatedReadToken(dataDir),
  };
}

/**
 * The collector configuration the UI's "Add data" page gives for this server (`/api/setup`), run as a user would
 * copy it, with only what a test must change: its CA file, short report intervals, no DNS lookup for the host
 * name (this machine has no resolver), no retries for the wrong token, and no metrics port of its own.
 */
function collectorConfig(fromSetupPage: string, caFile: string, retry: boolean): Config {
  const config = parseYaml(fromSetupPage) as Config;
  const exporter = section(section(config, 'exporters'), 'otlp/uniprof');
  assert.deepEqual(section(exporter, 'tls'), { ca_file: '/etc/otelcol/uniprof-ca.pem' });
  assert.deepEqual(section(exporter, 'auth'), { authenticator: 'bearertokenauth/uniprof' });
  exporter.tls = { ca_file: caFile };
  exporter.retry_on_failure = { enabled: retry };
  section(config, 'receivers').profiling = {
    reporter_interval: REPORT_INTERVAL,
    reporter_jitter: 0,
    samples_per_second: 50,
  };
  section(section(section(config, 'processors'), 'resourcedetection'), 'system').hostname_sources = ['os'];
  section(config, 'service').telemetry = { metrics: { level: 'none' } };
  return config;
}

type Config = Record<string, unknown>;

function section(parent: Config, key: string): Config {
  const value = parent[key];
  assert.ok(value && typeof value === 'object', `the setup page's configuration has no "${key}"`);
  return value as Config;
}

async function getJson<T>(url: string, token: string): Promise<T> {
  const response = await fetch(url, { headers: bearer(token), signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${url}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

async function unauthenticatedRejects(serve: Serve): Promise<number> {
  const response = await fetch(`${serve.otlpHttp}/metrics`, { signal: AbortSignal.timeout(5000) });
  return metricValue(await response.text(), 'uniprof_collector_rejects_total', 'reason="unauthenticated"');
}

async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs / 1000} s`);
    await sleep(250);
  }
}

test(
  'the eBPF profiler in an OpenTelemetry Collector (resourcedetection, bearertokenauth) → uniprof serve with agent auth',
  { timeout: 30 * 60_000 },
  async (t) => {
    const readiness = await prepareAgentHost();
    const blocked = (message: string): void => {
      if (CI) assert.fail(`BLOCKED: ${message}`);
      t.skip(`BLOCKED: ${message}`);
    };
    if (readiness.blockers.length > 0 && !readiness.onlyMemlockBlocks) {
      blocked(`the profiler cannot run on this machine: ${readiness.blockers.join('; ')}`);
      return;
    }
    const memlockShim =
      readiness.onlyMemlockBlocks && process.env.UNIPROF_AGENT_MEMLOCK_SHIM === '1'
        ? await buildMemlockShim()
        : undefined;
    if (readiness.onlyMemlockBlocks && !memlockShim) {
      blocked(
        `${readiness.blockers[0]}; UNIPROF_AGENT_MEMLOCK_SHIM=1 runs the profiler with prlimit64 made a no-op`,
      );
      return;
    }
    let binary: string;
    try {
      const started = Date.now();
      binary = await provisionOtelcol();
      t.diagnostic(`otelcol-ebpf ready after ${((Date.now() - started) / 1000).toFixed(1)} s: ${binary}`);
    } catch (error) {
      if (CI || !(error instanceof AgentUnavailableError)) throw error;
      t.skip(error.message);
      return;
    }

    const workDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-e2e-otelcol-'));
    t.after(() => rm(workDir, { recursive: true, force: true }));
    const tls = { cert: path.join(workDir, 'uniprof.pem'), key: path.join(workDir, 'uniprof-key.pem') };
    writeSelfSignedCertificate(tls.cert, tls.key);
    const serve = await startServe(t, path.join(workDir, 'data'), tls);
    const native = await buildNativeWorkload(workDir);
    const workload = spawn(native.withSymbols, ['cpu', '600'], { stdio: 'ignore' });
    t.after(() => workload.kill('SIGKILL'));
    const runStart = Math.floor(Date.now() / 1000) - 5;
    const window = () => `from=${runStart}&to=${Math.ceil(Date.now() / 1000) + 5}`;
    const collectors: RunningOtelcol[] = [];
    t.after(async () => {
      for (const collector of collectors) await collector.stop();
    });
    const setup = await getJson<SetupInstructions>(`${serve.api}/api/setup`, serve.readToken);
    assert.equal(setup.grpcEndpoint, serve.grpc);
    assert.equal(setup.auth.token, undefined, "a read token is not shown the agents' token");
    const run = async (token: string, retry: boolean) => {
      const collector = await startOtelcol({
        binary,
        config: collectorConfig(setup.collectorConfig, tls.cert, retry),
        workDir,
        env: { UNIPROF_TOKEN: token },
        memlockShim,
      });
      collectors.push(collector);
      return collector;
    };

    // ---- a wrong token ----------------------------------------------------------------------------------
    const rejectsBefore = await unauthenticatedRejects(serve);
    const impostor = await run('not-the-uniprof-token', false);
    await until('an export refused as unauthenticated', EXPORT_LIMIT_MS, async () =>
      (await unauthenticatedRejects(serve)) > rejectsBefore ? true : undefined,
    );
    assert.equal(await impostor.stop(), 0, 'the collector stops cleanly');
    const impostorLog = impostor.log();
    const statusAfterImpostor = await getJson<StatusResponse>(`${serve.api}/api/status`, serve.readToken);

    await t.test('a wrong token: every export is refused with UNAUTHENTICATED and nothing is stored', () => {
      assert.match(impostorLog, /code = Unauthenticated/, 'the collector was told UNAUTHENTICATED');
      assert.equal(statusAfterImpostor.stats.events, 0, 'no events stored');
      assert.equal(statusAfterImpostor.stats.stackTraces, 0, 'no stack traces stored');
      assert.deepEqual(statusAfterImpostor.hosts, [], 'no host recorded');
    });

    // ---- the right token --------------------------------------------------------------------------------
    const exportsStarted = Date.now();
    const collector = await run(serve.agentToken, true);
    const byHostName = await until('the workload grouped by host name', EXPORT_LIMIT_MS, async () => {
      const url = `${serve.api}/api/stacktraces?${window()}&groupBy=process.thread.name&groups=1000`;
      const threads = await getJson<GroupedStacksResponse>(url, serve.readToken);
      if (!threads.groups.some((group) => group.value === WORKLOAD_THREAD)) return undefined;
      return getJson<GroupedStacksResponse>(
        `${serve.api}/api/stacktraces?${window()}&groupBy=host.name`,
        serve.readToken,
      );
    });
    t.diagnostic(
      `collector with the right token: workload queryable ${((Date.now() - exportsStarted) / 1000).toFixed(1)} s after start`,
    );
    assert.equal(await collector.stop(), 0, 'the collector stops cleanly');
    const byHostId = await getJson<GroupedStacksResponse>(
      `${serve.api}/api/stacktraces?${window()}&groupBy=host.id`,
      serve.readToken,
    );
    const status = await getJson<StatusResponse>(`${serve.api}/api/status`, serve.readToken);
    const machineId = (await readFile('/etc/machine-id', 'utf8')).trim();

    await t.test('the right token: profiles are stored', () => {
      assert.ok(status.stats.events > 0, `events stored: ${status.stats.events}`);
      assert.ok(byHostName.totalCount > 0);
    });

    await t.test('host.name from resource detection is the host name the stack traces are grouped by', () => {
      assert.deepEqual(
        byHostName.groups.map((group) => group.value),
        [os.hostname()],
      );
    });

    await t.test('host.id (the machine ID) is the host ID', () => {
      assert.deepEqual(
        byHostId.groups.map((group) => group.value),
        [machineId],
      );
    });

    await t.test('the host record carries name, ID, OS type, kernel release and architecture', () => {
      assert.equal(status.hosts.length, 1, JSON.stringify(status.hosts));
      const [host] = status.hosts;
      assert.equal(host.hostId, machineId);
      assert.equal(host.hostName, os.hostname());
      assert.equal(host.osType, 'linux');
      assert.equal(host.osKernel, os.release());
      assert.equal(host.arch, process.arch === 'x64' ? 'amd64' : process.arch);
    });

    await t.test('uniprof serve stops cleanly', async () => {
      const exited = new Promise<number | null>((resolve) => serve.process.once('exit', resolve));
      serve.process.kill('SIGTERM');
      assert.equal(await exited, 0);
    });
  },
);
