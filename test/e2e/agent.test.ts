/**
 * End to end with the real agent: the OpenTelemetry eBPF profiler (built from the Go module proxy) profiles
 * real workloads on this machine and sends to `uniprof collector` (the real CLI, embedded store); then the
 * store is opened and held to what the agent sent.
 *
 * What the agent sent is read independently: the agent talks to the collector through a byte-for-byte relay
 * (support/otlp-tap.ts) that decodes the requests with its own small protobuf walk. Counts per thread and
 * process in the store must equal the relay's, so a collector that drops or mis-decodes samples fails here.
 * Expected file IDs, build IDs and symbol addresses come from the binaries and the kernel themselves.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  FrameType,
  fileIdFromHex,
  fileIdToHex,
  frameTypeFromAgentName,
  isAddressFrame,
  parseFrameId,
  type StackTrace,
} from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import type { EventFilter, EventQuery, StoreReader } from '../../src/store/store.ts';
import {
  AGENT_VERSION,
  AgentUnavailableError,
  buildMemlockShim,
  prepareAgentHost,
  provisionAgent,
  startAgent,
  type RunningAgent,
} from '../peers/agent.ts';
import { GrpcTap, tappedSamples, type TappedFrame, type TappedSample } from './support/otlp-tap.ts';
import { ResourceMonitor, type ResourceUse } from './support/process-stats.ts';
import {
  WORKLOAD_DIR,
  buildNativeWorkload,
  pythonInterpreter,
  runningKernel,
  type KernelIdentity,
  type NativeWorkload,
} from './support/workloads.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CI = process.env.CI === 'true';
const RUN_SECONDS = 30;
const REPORT_INTERVAL_SECONDS = 2;
const SAMPLES_PER_SECOND = 50;
/** Short CPU bursts with their own thread names, started during the run, to time sample → queryable. */
const MARKER_COUNT = 3;
const MARKER_SECONDS = 3;
const MARKER_SPACING_SECONDS = 5;
/** Thread names the workloads give themselves. */
const WORKLOAD_THREADS = [
  'uprof-cpu',
  'uprof-cpu-s',
  'uprof-sys',
  'uprof-python',
  'uprof-node',
  'uprof-markhost',
];

const match = (field: 'process.thread.name' | 'process.executable.name', pattern: string): EventFilter => ({
  kind: 'match',
  field,
  pattern,
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Collector {
  process: ChildProcess;
  grpcPort: number;
  http: string;
  storePath: string;
  output(): string;
}

async function startCollector(workDir: string): Promise<Collector> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const dataDir = path.join(workDir, 'data');
  const storePath = path.join(dataDir, 'uniprof.duckdb');
  const configFile = path.join(workDir, 'uniprof.yaml');
  // The standalone agent sends no credentials (docs/agent-protocol.md), so token checks must be off for it.
  await writeFile(
    configFile,
    [
      `dataDir: ${JSON.stringify(dataDir)}`,
      'log: { level: info }',
      'collector:',
      `  grpc: { host: 127.0.0.1, port: ${grpcPort} }`,
      `  http: { host: 127.0.0.1, port: ${httpPort} }`,
      '  auth: { disabled: true }',
      'output:',
      '  type: embedded',
      `  embedded: { path: ${JSON.stringify(storePath)} }`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['bin/uniprof.mjs', 'collector', '--config', configFile], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const http = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`uniprof collector exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`${http}/ready`, { signal: AbortSignal.timeout(5000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`uniprof collector not ready within 90 s:\n${output}`);
    }
    await sleep(250);
  }
  return { process: child, grpcPort, http, storePath, output: () => output };
}

async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

function runWorkload(
  command: string,
  args: string[],
  stdin: 'ignore' | 'pipe' = 'ignore',
): { child: ChildProcess; done: Promise<number | null> } {
  const child = spawn(command, args, { stdio: [stdin, 'ignore', 'ignore'] });
  return { child, done: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

interface Marker {
  threadName: string;
  startedAt: number;
  visibleAfterMs?: number;
}

/** Starts a marker burst (a new thread in the mark host) and polls the collector's query API until its thread shows up. */
async function runMarker(
  markHost: ChildProcess,
  collector: Collector,
  threadName: string,
  fromSeconds: number,
): Promise<Marker> {
  const marker: Marker = { threadName, startedAt: Date.now() };
  markHost.stdin?.write(`${threadName}\n`);
  const deadline = marker.startedAt + 30_000;
  while (Date.now() < deadline) {
    const response = await fetch(
      `${collector.http}/api/fields/process.thread.name/values?from=${fromSeconds}&limit=10000`,
      { signal: AbortSignal.timeout(5000) },
    ).catch(() => undefined);
    const body = response?.ok ? ((await response.json()) as { values?: string[] }) : undefined;
    if (body?.values?.includes(threadName)) {
      marker.visibleAfterMs = Date.now() - marker.startedAt;
      break;
    }
    await sleep(100);
  }
  return marker;
}

/** Sum of a Prometheus metric's samples over all label sets (0 when it has none yet). */
function metricTotal(metrics: string, name: string): number {
  return metrics
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const sumTimestamps = (samples: TappedSample[], keep: (s: TappedSample) => boolean) =>
  samples.filter(keep).reduce((total, s) => total + s.timestampsNs.length, 0);

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Resolves right after the collector answered the agent's latest export (reports come every interval). */
async function betweenReports(tap: GrpcTap): Promise<void> {
  const requestsBefore = tap.requests.length;
  const deadline = Date.now() + 4 * REPORT_INTERVAL_SECONDS * 1000;
  while (Date.now() < deadline) {
    const latest = tap.requests.at(-1);
    if (
      tap.requests.length > requestsBefore &&
      latest?.answeredAt !== undefined &&
      Date.now() - latest.answeredAt < 500
    ) {
      return;
    }
    await sleep(10);
  }
  throw new Error(`no export answered within ${4 * REPORT_INTERVAL_SECONDS} s`);
}

/** 1-based lines of a function in a workload's source: from its header to the line that closes it. */
async function sourceLines(file: string, header: string): Promise<{ first: number; last: number }> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const first = lines.findIndex((line) => line.startsWith(header));
  assert.ok(first >= 0, `${file} has "${header}"`);
  const closing = lines.findIndex((line, i) => i > first && (line === '' || /^\S/.test(line)));
  return { first: first + 1, last: (closing < 0 ? lines.length : closing) + 1 };
}

/** Resolves with the time once the relay has seen samples of every named thread (or the time limit hit). */
async function allThreadsReported(
  tap: GrpcTap,
  threads: readonly string[],
  limitMs: number,
): Promise<number> {
  const seen = new Set<string>();
  let decoded = 0;
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    for (; decoded < tap.requests.length; decoded++) {
      for (const sample of tappedSamples(tap.requests[decoded].message)) seen.add(sample.threadName ?? '');
    }
    if (threads.every((thread) => seen.has(thread))) break;
    await sleep(100);
  }
  return Date.now();
}

/**
 * A frame as text both sides can produce: type, file ID and address-or-line. Interpreted frames get their
 * file ID from the collector (a hash of function, file, line), and so do native frames the agent sent without
 * a mapping (it does that while it has not yet tied an address to a file): both compare as '?'.
 */
function frameKey(type: number | undefined, fileIdHex: string | undefined, addressOrLine: bigint): string {
  const fileId = type !== undefined && isAddressFrame(type) && fileIdHex !== undefined ? fileIdHex : '?';
  return `${type}:${fileId}:${addressOrLine.toString(16)}`;
}

const tappedFrameKey = (frame: TappedFrame) =>
  frameKey(frameTypeFromAgentName(frame.frameType), frame.fileIdHex, frame.addressOrLine);

/** `sentFileIds`: the file IDs the agent sent; any other stored ID must be one the collector derived. */
function storedTraceKey(trace: StackTrace | undefined, sentFileIds: ReadonlySet<string>): string {
  assert.ok(trace, 'every stored event has its stack trace');
  return trace.frameIds
    .map((id, i) => {
      const { fileId, addressOrLine } = parseFrameId(id);
      const hex = fileIdToHex(fileId);
      return frameKey(trace.frameTypes[i], sentFileIds.has(hex) ? hex : undefined, addressOrLine);
    })
    .join(' | ');
}

/** Everything the run produced, for the assertions. */
interface RunResult {
  native: NativeWorkload;
  kernel: KernelIdentity;
  samples: TappedSample[];
  requestsTapped: number;
  metrics: string;
  markers: Marker[];
  collectorUse: ResourceUse;
  agentSeconds: number;
  /** Milliseconds from each sample's timestamp to the collector's answer to the request carrying it. */
  ackDelaysMs: number[];
  /** Milliseconds the collector took to answer each request (receive → durable → answer). */
  answerMs: number[];
  runStartSeconds: number;
  runEndSeconds: number;
  storePath: string;
  agentExitCode: number | null;
  collectorExitCode: number | null;
}

async function runAgainstRealAgent(t: TestContext, binary: string, memlockShim?: string): Promise<RunResult> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-e2e-agent-'));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  const native = await buildNativeWorkload(workDir);
  const kernel = await runningKernel();

  const collector = await startCollector(workDir);
  const cleanups: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });
  cleanups.push(() => stopProcess(collector.process, 'SIGKILL', 1000));
  const tap = new GrpcTap({ host: '127.0.0.1', port: collector.grpcPort });
  const tapPort = await tap.listen();
  cleanups.push(() => tap.close());

  let agent: RunningAgent;
  try {
    agent = await startAgent({
      binary,
      collector: `127.0.0.1:${tapPort}`,
      reportIntervalSeconds: REPORT_INTERVAL_SECONDS,
      samplesPerSecond: SAMPLES_PER_SECOND,
      memlockShim,
    });
  } catch (error) {
    if (!(error instanceof AgentUnavailableError)) throw error;
    throw new AgentUnavailableError(`${error.message}\n--- collector log ---\n${collector.output()}`, {
      cause: error,
    });
  }
  cleanups.push(() => agent.stop());
  const agentStartedAt = Date.now();
  const monitor = new ResourceMonitor(collector.process.pid ?? -1);

  // Started through a symlink so that its main thread's name (the kernel takes it from the path that was
  // executed) tells it apart from the other Node.js processes here, the collector and the test itself.
  const node = path.join(workDir, 'uprof-node');
  await symlink(process.execPath, node);
  const runStartSeconds = Math.floor(Date.now() / 1000);
  const workloads = [
    runWorkload(native.withSymbols, ['cpu', String(RUN_SECONDS)]),
    runWorkload(native.stripped, ['cpu', String(RUN_SECONDS), 'uprof-cpu-s']),
    runWorkload(native.withSymbols, ['sys', String(RUN_SECONDS)]),
    runWorkload(pythonInterpreter(), [path.join(WORKLOAD_DIR, 'hot.py'), String(RUN_SECONDS)]),
    runWorkload(node, [path.join(WORKLOAD_DIR, 'hot-node.cjs'), String(RUN_SECONDS)]),
  ];
  const markHost = runWorkload(native.withSymbols, ['marks', String(MARKER_SECONDS)], 'pipe');
  workloads.push(markHost);
  for (const w of workloads) cleanups.push(() => stopProcess(w.child, 'SIGKILL', 1000));
  const markers: Marker[] = [];
  const markerRuns = (async () => {
    // The agent drops a new process's samples until it has read its mappings; the marks are threads of a
    // process it already reports, so that they time the pipeline and not the agent's process discovery.
    const warmUp = await allThreadsReported(tap, WORKLOAD_THREADS, 20_000);
    t.diagnostic(
      `the agent reported every workload thread ${((warmUp - agentStartedAt) / 1000).toFixed(1)} s after it attached`,
    );
    for (let i = 0; i < MARKER_COUNT; i++) {
      await sleep(Math.max(0, warmUp + i * MARKER_SPACING_SECONDS * 1000 - Date.now()));
      markers.push(await runMarker(markHost.child, collector, `uprof-mark${i + 1}`, runStartSeconds - 5));
    }
    markHost.child.stdin?.end();
  })();
  const exitCodes = await Promise.all(workloads.map((w) => w.done));
  await markerRuns;
  assert.deepEqual(exitCodes, [0, 0, 0, 0, 0, 0], 'every workload ran to its end');
  const runEndSeconds = Math.ceil(Date.now() / 1000);

  // Let the agent report what it still holds, then stop it between two reports: an export cut short by
  // the agent's exit would leave the test unsure whether the collector stored it.
  await sleep(2 * REPORT_INTERVAL_SECONDS * 1000 + 1000);
  await betweenReports(tap);
  const collectorUse = monitor.stop();
  const agentSeconds = (Date.now() - agentStartedAt) / 1000;
  const agentExitCode = await agent.stop();
  const unanswered = tap.requests.filter((r) => r.answeredAt === undefined).length;
  assert.equal(unanswered, 0, 'the collector answered every export request the agent sent');

  const metrics = await (
    await fetch(`${collector.http}/metrics`, { signal: AbortSignal.timeout(10_000) })
  ).text();
  const collectorExitCode = await stopProcess(collector.process, 'SIGTERM', 30_000);

  const samples = tap.requests.flatMap((r) => tappedSamples(r.message));
  const ackDelaysMs = tap.requests
    .flatMap((r) =>
      tappedSamples(r.message).flatMap((s) =>
        s.timestampsNs.map((ns) => (r.answeredAt ?? NaN) - Number(ns / 1_000_000n)),
      ),
    )
    .sort((a, b) => a - b);
  const answerMs = tap.requests.map((r) => (r.answeredAt ?? NaN) - r.sentAt).sort((a, b) => a - b);
  return {
    answerMs,
    native,
    kernel,
    samples,
    requestsTapped: tap.requests.length,
    metrics,
    markers,
    collectorUse,
    agentSeconds,
    ackDelaysMs,
    runStartSeconds,
    runEndSeconds,
    storePath: collector.storePath,
    agentExitCode,
    collectorExitCode,
  };
}

/** Count-weighted share of a query's stack traces whose leaf frame passes `isExpectedLeaf`. */
async function leafShare(
  store: StoreReader,
  query: EventQuery,
  isExpectedLeaf: (trace: StackTrace) => boolean,
): Promise<{ share: number; total: number; traces: Map<string, StackTrace> }> {
  const aggregation = await store.aggregateEvents({ ...query, samplingLevel: 0 });
  const traces = await store.getStackTraces(aggregation.rows.map((r) => r.stackTraceId));
  let matching = 0;
  for (const row of aggregation.rows) {
    const trace = traces.get(row.stackTraceId);
    assert.ok(trace, `stack trace ${row.stackTraceId} of an event is in the store`);
    if (trace.frameIds.length > 0 && isExpectedLeaf(trace)) matching += row.count;
  }
  return {
    share: aggregation.totalCount > 0 ? matching / aggregation.totalCount : 0,
    total: aggregation.totalCount,
    traces,
  };
}

test(
  'the real OpenTelemetry eBPF profiler agent → uniprof collector → embedded store',
  { timeout: 30 * 60_000 },
  async (t) => {
    const readiness = await prepareAgentHost();
    // Blocked, with evidence: under CI=true that is a failure, elsewhere a skip, never a silent pass.
    const blocked = (message: string): void => {
      if (CI) assert.fail(`BLOCKED: ${message}`);
      t.skip(`BLOCKED: ${message}`);
    };
    if (readiness.blockers.length > 0 && !readiness.onlyMemlockBlocks) {
      blocked(`the agent cannot run on this machine: ${readiness.blockers.join('; ')}`);
      return;
    }

    let binary: string;
    try {
      binary = await provisionAgent();
    } catch (error) {
      if (CI || !(error instanceof AgentUnavailableError)) throw error;
      t.skip(error.message);
      return;
    }
    const memlockShim =
      readiness.onlyMemlockBlocks && process.env.UNIPROF_AGENT_MEMLOCK_SHIM === '1'
        ? await buildMemlockShim()
        : undefined;
    if (memlockShim) t.diagnostic(`running the agent through the memlock shim: ${readiness.blockers[0]}`);

    let run: RunResult;
    try {
      run = await runAgainstRealAgent(t, binary, memlockShim);
    } catch (error) {
      // The unmodified agent is expected to fail on such hosts: report its own words as the evidence.
      if (!(error instanceof AgentUnavailableError) || !readiness.onlyMemlockBlocks || memlockShim)
        throw error;
      const agentError = /level=ERROR msg="[^\n]*/.exec(error.message)?.[0] ?? error.message.split('\n')[0];
      blocked(
        `the unmodified agent ${AGENT_VERSION} cannot start here. It logged: ${agentError} — because ` +
          `${readiness.blockers[0]}. UNIPROF_AGENT_MEMLOCK_SHIM=1 runs it with prlimit64 made a no-op ` +
          '(see test/peers/agent.ts, docs/agent-protocol.md)',
      );
      return;
    }
    const store = new EmbeddedStore({ path: run.storePath });
    await store.open();
    t.after(() => store.close());
    const window = { from: run.runStartSeconds - 2, to: run.runEndSeconds + 2 * REPORT_INTERVAL_SECONDS + 2 };
    const everything = { from: 0, to: 2 ** 31 };
    const onCpu = run.samples.filter((s) => s.sampleType === 'samples');
    const tappedTotal = sumTimestamps(onCpu, () => true);

    // ---- measurements --------------------------------------------------------------------------------------
    const markerDelays = run.markers.map((m) => m.visibleAfterMs ?? NaN);
    t.diagnostic(
      `agent → collector: ${run.requestsTapped} requests, ${tappedTotal} samples in ${run.agentSeconds.toFixed(1)} s ` +
        `= ${(tappedTotal / run.agentSeconds).toFixed(1)} samples/s received`,
    );
    t.diagnostic(
      `collector while the agent ran: ${(run.collectorUse.cpuCores * 100).toFixed(1)} % of a core ` +
        `(${run.collectorUse.cpuSeconds.toFixed(2)} s CPU in ${run.collectorUse.wallSeconds.toFixed(1)} s), ` +
        `RSS max ${(run.collectorUse.maxRssBytes / 2 ** 20).toFixed(1)} MiB, last ${(run.collectorUse.lastRssBytes / 2 ** 20).toFixed(1)} MiB`,
    );
    t.diagnostic(
      `sample → acknowledged (durable, queryable): p50 ${percentile(run.ackDelaysMs, 50)} ms, ` +
        `p95 ${percentile(run.ackDelaysMs, 95)} ms, max ${percentile(run.ackDelaysMs, 100)} ms ` +
        `(reporting interval ${REPORT_INTERVAL_SECONDS} s)`,
    );
    t.diagnostic(
      `collector answer time per export request: p50 ${percentile(run.answerMs, 50)} ms, ` +
        `max ${percentile(run.answerMs, 100)} ms (the agent waits for it before its next interval starts)`,
    );
    t.diagnostic(
      `marker burst start → its thread listed by the query API: ${markerDelays.map((d) => `${d} ms`).join(', ')}`,
    );

    await t.test('the agent and the collector stopped cleanly', () => {
      assert.equal(run.agentExitCode, 0, 'agent exit code after SIGINT');
      assert.equal(run.collectorExitCode, 0, 'collector exit code after SIGTERM');
    });

    await t.test('the collector accepted every request and stored every sample the agent sent', async () => {
      assert.ok(
        run.requestsTapped >= RUN_SECONDS / REPORT_INTERVAL_SECONDS / 2,
        `${run.requestsTapped} requests`,
      );
      assert.equal(metricTotal(run.metrics, 'uniprof_collector_rejects_total'), 0, 'rejects');
      assert.equal(
        metricTotal(run.metrics, 'uniprof_collector_samples_total'),
        tappedTotal,
        'samples metric',
      );
      const stored = await store.aggregateEvents({ ...everything, samplingLevel: 0 });
      assert.equal(stored.totalCount, tappedTotal, 'stored sample count = samples the agent sent');
    });

    await t.test(
      'events for every workload process and thread, with the agent’s counts and times',
      async () => {
        const threads = [...WORKLOAD_THREADS, ...run.markers.map((m) => m.threadName)];
        for (const thread of threads) {
          const expected = sumTimestamps(onCpu, (s) => s.threadName === thread);
          assert.ok(expected > 0, `the agent sampled thread ${thread}`);
          const all = await store.aggregateEvents({
            ...everything,
            filter: match('process.thread.name', thread),
            samplingLevel: 0,
          });
          assert.equal(all.totalCount, expected, `stored count for thread ${thread}`);
          const inRun = await store.aggregateEvents({
            ...window,
            filter: match('process.thread.name', thread),
            samplingLevel: 0,
          });
          assert.equal(inRun.totalCount, expected, `thread ${thread}'s events carry the times of the run`);
        }
        const python = path.basename(pythonInterpreter());
        for (const executable of ['uniprof-cburn', 'uniprof-cburn-s', python]) {
          const expected = sumTimestamps(onCpu, (s) => s.executableName === executable);
          assert.ok(expected > 0, `the agent sampled ${executable}`);
          const stored = await store.aggregateEvents({
            ...everything,
            filter: match('process.executable.name', executable),
            samplingLevel: 0,
          });
          assert.equal(stored.totalCount, expected, `stored count for executable ${executable}`);
        }
      },
    );

    await t.test(
      'stacks per thread are exactly the agent’s: frame types, file IDs, addresses and lines',
      async () => {
        const sentFileIds = new Set(onCpu.flatMap((s) => s.frames.flatMap((f) => f.fileIdHex ?? [])));
        for (const thread of [...WORKLOAD_THREADS, ...run.markers.map((m) => m.threadName)]) {
          const sent = new Map<string, number>();
          for (const sample of onCpu.filter((s) => s.threadName === thread)) {
            const key = sample.frames.map(tappedFrameKey).join(' | ');
            sent.set(key, (sent.get(key) ?? 0) + sample.timestampsNs.length);
          }
          const aggregation = await store.aggregateEvents({
            ...everything,
            filter: match('process.thread.name', thread),
            samplingLevel: 0,
          });
          const traces = await store.getStackTraces(aggregation.rows.map((r) => r.stackTraceId));
          const stored = new Map<string, number>();
          for (const row of aggregation.rows) {
            const key = storedTraceKey(traces.get(row.stackTraceId), sentFileIds);
            stored.set(key, (stored.get(key) ?? 0) + row.count);
          }
          const sorted = (m: Map<string, number>) => [...m].sort(([a], [b]) => a.localeCompare(b));
          assert.deepEqual(sorted(stored), sorted(sent), `stacks of thread ${thread}`);
        }
      },
    );

    await t.test(
      'C program: leaf frames in uniprof_hot_loop of its executable, by file ID and build ID',
      async () => {
        const cases = [
          { name: 'uniprof-cburn', thread: 'uprof-cpu', fileIdHex: run.native.fileIdWithSymbols },
          { name: 'uniprof-cburn-s', thread: 'uprof-cpu-s', fileIdHex: run.native.fileIdStripped },
        ];
        assert.notEqual(cases[0].fileIdHex, cases[1].fileIdHex, 'stripping changes the file ID');
        const { start, end } = run.native.hotLoop;
        for (const c of cases) {
          const { share, total } = await leafShare(
            store,
            {
              ...window,
              filter: {
                kind: 'and',
                filters: [match('process.executable.name', c.name), match('process.thread.name', c.thread)],
              },
            },
            (trace) => {
              const leaf = parseFrameId(trace.frameIds[0]);
              return (
                trace.frameTypes[0] === FrameType.Native &&
                fileIdToHex(leaf.fileId) === c.fileIdHex &&
                leaf.addressOrLine >= start &&
                leaf.addressOrLine < end
              );
            },
          );
          t.diagnostic(
            `${c.name}: ${(share * 100).toFixed(0)} % of ${total} samples end in uniprof_hot_loop`,
          );
          assert.ok(total > 0 && share >= 0.5, `${c.name}: share of leaves in uniprof_hot_loop is ${share}`);
          const executables = await store.getExecutables([fileIdFromHex(c.fileIdHex)]);
          const executable = executables.get(fileIdFromHex(c.fileIdHex));
          assert.ok(executable, `executable ${c.name} is stored under its file ID`);
          assert.equal(executable.fileName, c.name);
          assert.equal(
            executable.buildId,
            run.native.gnuBuildId,
            `${c.name}: GNU build ID as readelf -n shows it`,
          );
        }
      },
    );

    await t.test(
      'syscall loop: leaf frames in the kernel, by the kernel’s file ID and symbol names',
      async () => {
        const { share, total, traces } = await leafShare(
          store,
          { ...window, filter: match('process.thread.name', 'uprof-sys') },
          (trace) =>
            trace.frameTypes[0] === FrameType.Kernel &&
            fileIdToHex(parseFrameId(trace.frameIds[0]).fileId) === run.kernel.fileId,
        );
        t.diagnostic(`uprof-sys: ${(share * 100).toFixed(0)} % of ${total} samples end in the kernel`);
        assert.ok(total > 0 && share >= 0.5, `share of kernel leaves is ${share}`);
        const kernelFileId = fileIdFromHex(run.kernel.fileId);
        const vmlinux = (await store.getExecutables([kernelFileId])).get(kernelFileId);
        assert.ok(vmlinux, 'the kernel is stored as an executable');
        assert.equal(vmlinux.fileName, 'vmlinux');
        assert.equal(vmlinux.buildId, run.kernel.gnuBuildId, 'kernel build ID as /sys/kernel/notes has it');
        const kernelFrames = [...traces.values()].flatMap((trace) =>
          trace.frameIds.filter((_, i) => trace.frameTypes[i] === FrameType.Kernel),
        );
        const symbols = await store.getStackFrames([...new Set(kernelFrames)]);
        const names = new Set([...symbols.values()].flatMap((f) => f.functionNames));
        assert.ok(
          names.has('ksys_read') || names.has('vfs_read'),
          `kernel symbols of read(2) among ${[...names].slice(0, 20).join(', ')}`,
        );
      },
    );

    await t.test(
      'Python and Node.js: interpreted frames with the hot functions’ names, files and lines',
      async () => {
        const cases = [
          {
            type: FrameType.Python,
            thread: 'uprof-python',
            fn: 'uniprof_python_hot',
            file: 'hot.py',
            header: 'def uniprof_python_hot',
          },
          {
            type: FrameType.V8,
            thread: 'uprof-node',
            fn: 'uniprofNodeHot',
            file: 'hot-node.cjs',
            header: 'function uniprofNodeHot',
          },
        ];
        for (const c of cases) {
          const aggregation = await store.aggregateEvents({
            ...window,
            filter: match('process.thread.name', c.thread),
            samplingLevel: 0,
          });
          const lines = await sourceLines(path.join(WORKLOAD_DIR, c.file), c.header);
          const traces = await store.getStackTraces(aggregation.rows.map((r) => r.stackTraceId));
          const frameIds = [...traces.values()].flatMap((trace) =>
            trace.frameIds.filter((_, i) => trace.frameTypes[i] === c.type),
          );
          const frames = await store.getStackFrames([...new Set(frameIds)]);
          const hot = [...frames.values()].filter((f) => f.functionNames[0] === c.fn);
          assert.ok(hot.length > 0, `${c.fn} among ${frames.size} frames of ${c.thread}`);
          for (const frame of hot) {
            assert.ok(frame.fileNames[0].endsWith(c.file), `${c.fn} is in ${frame.fileNames[0]}`);
            assert.ok(
              frame.lineNumbers[0] >= lines.first && frame.lineNumbers[0] <= lines.last,
              `${c.fn} at line ${frame.lineNumbers[0]}, its source spans ${lines.first}-${lines.last}`,
            );
          }
          const hotIds = new Set(hot.map((f) => f.frameId));
          const hotCount = aggregation.rows
            .filter((r) => traces.get(r.stackTraceId)?.frameIds.some((id) => hotIds.has(id)))
            .reduce((sum, r) => sum + r.count, 0);
          t.diagnostic(`${c.thread}: ${hotCount} of ${aggregation.totalCount} samples in ${c.fn}`);
          assert.ok(
            hotCount >= aggregation.totalCount / 2,
            `${hotCount} of ${aggregation.totalCount} through ${c.fn}`,
          );
        }
      },
    );

    await t.test('host metadata and thread names', async () => {
      const hosts = await store.listHosts(window.from, window.to);
      // The standalone agent names no host; the collector takes the connection's peer address.
      const host = hosts.find((h) => h.hostId === '127.0.0.1');
      assert.ok(host, `host 127.0.0.1 among ${JSON.stringify(hosts.map((h) => h.hostId))}`);
      assert.equal(host.hostIp, '127.0.0.1');
      assert.equal(host.agentVersion, AGENT_VERSION);
      assert.deepEqual(await store.fieldValues('host.id', window.from, window.to, 10), ['127.0.0.1']);
      const threads = await store.fieldValues('process.thread.name', window.from, window.to, 10_000);
      for (const name of [
        'uprof-cpu',
        'uprof-cpu-s',
        'uprof-sys',
        'uprof-mark1',
        'uprof-mark2',
        'uprof-mark3',
      ]) {
        assert.ok(threads.includes(name), `thread name ${name} is stored`);
      }
    });

    await t.test('every marker burst became queryable through the collector’s API', () => {
      assert.equal(run.markers.length, MARKER_COUNT);
      for (const marker of run.markers) {
        assert.ok(marker.visibleAfterMs !== undefined, `${marker.threadName} showed up in the API`);
      }
    });
  },
);
