/**
 * End to end with the real agent: the OpenTelemetry eBPF profiler (built from the Go module proxy) profiles
 * real workloads on this machine and sends to `uniprof serve` (the real CLI: collector, query API and
 * symbolizer in one process, embedded store); then the store is opened and held to what the agent sent.
 *
 * What the agent sent is read independently: the agent talks to the collector through a byte-for-byte relay
 * (support/otlp-tap.ts) that decodes the requests with its own small protobuf walk. Counts per thread and
 * process in the store must equal the relay's, so a collector that drops or mis-decodes samples fails here.
 * Expected file IDs, build IDs and symbol addresses come from the binaries and the kernel themselves.
 *
 * Symbolization, as a user gets it: the symbolizer has no local debug files, only a real debuginfod (Debian's
 * package, indexing libc6-dbg's .deb), which is down when the agent starts and comes back during the run; the
 * stripped C program's symbols are pushed with one `uniprof symbtool push-symbols`. Every sampled address of
 * the stripped program and of libc must then carry the inline chain llvm-symbolizer gives for it on the
 * unstripped build and on libc6-dbg's debug file, and the top-N and flamegraph APIs must show the names.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import {
  FrameType,
  fileIdFromHex,
  fileIdToHex,
  frameId,
  frameTypeFromAgentName,
  isAddressFrame,
  parseFrameId,
  type StackTrace,
} from '../../src/model/index.ts';
import type { StatusResponse } from '../../src/api/index.ts';
import { bearer, TEST_READ_TOKEN } from '../support/reader-auth.ts';
import { startUniprof } from '../support/processes.ts';
import type {
  CompactFlamegraph,
  ElasticFlamegraph,
  TopNFunction,
  TopNResponse,
} from '../../src/query/index.ts';
import type { MissingSymbols } from '../../src/query/missing-symbols.ts';
import type { GroupedStacksResponse } from '../../src/query/stacks.ts';
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
import type { OracleFrame } from '../symbolizer/oracle.ts';
import {
  debuginfodAvailable,
  libc6DbgDebDirectory,
  startDebuginfod,
  type DebuginfodPeer,
} from '../peers/debuginfod.ts';
import {
  GrpcTap,
  tappedSamples,
  type TappedFrame,
  type TappedRequest,
  type TappedSample,
} from './support/otlp-tap.ts';
import { ResourceMonitor, type ResourceUse } from './support/process-stats.ts';
import { browseAgentData } from './support/ui-pass.ts';
import { chromiumSkip } from '../support/browser.ts';
import {
  arrivalToNameMs,
  chainText,
  expectedInlineChains,
  metricValue,
  runUniprof,
  storedChain,
  systemLibc,
  workerPasses,
  fileLogTail,
  nameableAddresses,
  type CliResult,
  type SystemLibc,
} from './support/symbolization.ts';
import {
  WORKLOAD_DIR,
  buildNativeWorkload,
  nodeForWorkload,
  pythonInterpreter,
  runningKernel,
  type KernelIdentity,
  type NativeWorkload,
} from './support/workloads.ts';

const CI = process.env.CI === 'true';
const RUN_SECONDS = 30;
const REPORT_INTERVAL_SECONDS = 2;
const SAMPLES_PER_SECOND = 50;
/** Short CPU bursts with their own thread names, started during the run, to time sample → queryable. */
const MARKER_COUNT = 3;
const MARKER_SECONDS = 3;
const MARKER_SPACING_SECONDS = 5;
/** The symbolizer's queue poll; names can show no sooner. */
const SYMBOLIZER_POLL_MS = 200;
/** Longest debuginfod outage: until libc frames arrived and waited for it (the agent may take 20 s to warm up). */
const OUTAGE_LIMIT_MS = 30_000;
/** How long the test waits after the push for every frame of the stripped program and libc to be named. */
const DRAIN_LIMIT_MS = 120_000;
/** Thread names the workloads give themselves. */
const WORKLOAD_THREADS = [
  'uprof-cpu',
  'uprof-cpu-s',
  'uprof-sys',
  'uprof-python',
  'uprof-node',
  'uprof-markhost',
];

/**
 * The workloads' hot functions, as the API checks above name them (C, stripped C after the push, Python,
 * Node.js): the browser pass looks for them on the UI's pages.
 */
const UI_FUNCTIONS = ['uniprof_hot_loop', 'uniprof_python_hot', 'uniprofNodeHot'];

const match = (field: 'process.thread.name' | 'process.executable.name', pattern: string): EventFilter => ({
  kind: 'match',
  field,
  pattern,
});

interface Serve {
  process: ChildProcess;
  grpcPort: number;
  /** The readers' HTTP server: query API, UI, and the collector's health and metrics. */
  http: string;
  /** The symbolizer's HTTP server: health, readiness, metrics, symbol upload. */
  symbolizer: string;
  dataDir: string;
  storePath: string;
  output(): string;
}

/**
 * `uniprof serve` (collector, query API and symbolizer in one process) on the embedded store. The symbolizer
 * may find debug files only through the debuginfod peer: no local debug directories (libc6-dbg is installed
 * here, under /usr/lib/debug), short polls and retries so the test is quick, debug logs for the worker's
 * passes (the latency figures are read from them).
 */
async function startServe(workDir: string, debuginfodUrl: string): Promise<Serve> {
  const dataDir = path.join(workDir, 'data');
  const storePath = path.join(dataDir, 'uniprof.duckdb');
  // Every listener on a port the system picks, learnt from its `listening` line (test/support/processes.ts).
  // The standalone agent sends no credentials (docs/agent-protocol.md), so token checks must be off for it.
  const child = await startUniprof('serve', {
    configFile: path.join(workDir, 'uniprof.yaml'),
    config: {
      dataDir,
      log: { level: 'debug' },
      collector: { auth: { disabled: true } },
      api: { auth: { tokens: [TEST_READ_TOKEN] } },
      output: { type: 'embedded', embedded: { path: storePath } },
      symbolizer: {
        debugDirectories: [],
        debuginfod: { urls: [debuginfodUrl], timeoutMs: 10000 },
        pollIntervalMs: SYMBOLIZER_POLL_MS,
        retry: { firstSeconds: 5, maxSeconds: 60 },
      },
    },
  });
  const http = child.url('api.http');
  const symbolizer = child.url('symbolizer.http');
  const ready = (url: string) =>
    fetch(`${url}/ready`, { signal: AbortSignal.timeout(5000) }).then(
      (response) => response.ok,
      () => false,
    );
  const deadline = Date.now() + 90_000;
  while (!((await ready(http)) && (await ready(symbolizer)))) {
    if (Date.now() > deadline) {
      await child.stop('SIGKILL');
      throw new Error(`uniprof serve not ready within 90 s:\n${child.output()}`);
    }
    await sleep(250);
  }
  return {
    process: child.process,
    grpcPort: child.port('collector.grpc'),
    http,
    symbolizer,
    dataDir,
    storePath,
    output: child.output,
  };
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
  collector: { http: string },
  threadName: string,
  fromSeconds: number,
): Promise<Marker> {
  const marker: Marker = { threadName, startedAt: Date.now() };
  markHost.stdin?.write(`${threadName}\n`);
  const deadline = marker.startedAt + 30_000;
  while (Date.now() < deadline) {
    const response = await fetch(
      `${collector.http}/api/fields/process.thread.name/values?from=${fromSeconds}&limit=10000`,
      { headers: bearer(), signal: AbortSignal.timeout(5000) },
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

/** What the symbolizer showed while the debuginfod peer was stopped, and when it came back. */
interface Outage {
  /** The symbolizer's metrics once libc frames had arrived and an executable waited for debuginfod. */
  metricsWhileDown?: string;
  /** The query API's status then, with the store's symbolization backlog (or the error reading it). */
  statusWhileDown: StatusResponse | string;
  /** /health of the collector and of the symbolizer then. */
  collectorHealth: number;
  symbolizerHealth: number;
  serveAlive: boolean;
  /** libc frames (distinct addresses) the collector had acknowledged before debuginfod came back. */
  libcFramesWhileDown: number;
  restartedAt: number;
}

/** The push of the stripped program's symbols and what the APIs showed afterwards. */
interface Symbolization {
  /** The top-N API before the push: its hint for the stripped program's frames without symbols. */
  hintBefore?: MissingSymbols;
  fileId: CliResult;
  push: CliResult;
  pushStartedAt: number;
  pushEndedAt: number;
  /** When the top-N API first listed uniprof_hot_loop of uniprof-cburn-s with a file and line. */
  namesVisibleAt?: number;
  /**
   * When the top-N API last listed a frame of uniprof-cburn-s or libc without a name that llvm-symbolizer
   * gives it (undefined: never drained).
   */
  drainedAt?: number;
  /** Whether a top-N entry is such a frame. */
  owesName: (entry: TopNFunction) => boolean;
  topN: TopNResponse;
  flamegraph: CompactFlamegraph;
  elasticFlamegraph: ElasticFlamegraph;
  status: StatusResponse;
  symbolizerMetrics: string;
  debuginfodResponses200: number;
  log: string;
}

/** Everything the run produced, for the assertions. */
interface RunResult {
  native: NativeWorkload;
  kernel: KernelIdentity;
  libc: SystemLibc;
  workDir: string;
  samples: TappedSample[];
  /** For each distinct (file ID, address) of a native frame: when the collector acknowledged it first. */
  nativeArrivals: Map<string, number>;
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
  /** Export requests the collector never answered (the agent gave up on them). */
  unanswered: string[];
  /** What the agent logged. */
  agentLog: string;
  outage: Outage;
  symbolization: Symbolization;
  /** Where the symbolizer of uniprof serve listens. */
  symbolizerUrl: string;
  /** The stack-traces API grouped by host name, over the run. */
  stacksByHost: GroupedStacksResponse;
}

const nativeKey = (fileIdHex: string, address: bigint) => `${fileIdHex}:${address.toString(16)}`;

/** First acknowledgement of every native frame the relay saw (the request that queued it for symbols). */
function nativeFrameArrivals(requests: readonly TappedRequest[]): Map<string, number> {
  const arrivals = new Map<string, number>();
  for (const request of requests) {
    for (const sample of tappedSamples(request.message)) {
      for (const frame of sample.frames) {
        if (frame.frameType !== 'native' || frame.fileIdHex === undefined) continue;
        const key = nativeKey(frame.fileIdHex, frame.addressOrLine);
        const at = request.answeredAt ?? Infinity;
        if (at < (arrivals.get(key) ?? Infinity)) arrivals.set(key, at);
      }
    }
  }
  return arrivals;
}

/** GETs with the test read token: the query API needs it, and the open routes ignore it. */
async function getText(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { headers: bearer(), signal: AbortSignal.timeout(10_000) });
  return { status: response.status, text: await response.text() };
}

async function getJson<T>(url: string): Promise<T> {
  const { status, text } = await getText(url);
  if (status !== 200) throw new Error(`GET ${url}: ${status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/**
 * debuginfod is down while the agent starts: waits until libc frames have arrived and the symbolizer has
 * tried debuginfod for them (an executable waits with reason debuginfod-unreachable), looks at the backlog and
 * health, then starts debuginfod again.
 */
async function debuginfodOutage(
  serve: Serve,
  tap: GrpcTap,
  debuginfod: DebuginfodPeer,
  libc: SystemLibc,
  limitMs: number,
): Promise<Outage> {
  const libcFrames = new Set<string>();
  let decoded = 0;
  let libcSeenAt: number | undefined;
  let metricsWhileDown: string | undefined;
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    for (; decoded < tap.requests.length && tap.requests[decoded].answeredAt !== undefined; decoded++) {
      for (const sample of tappedSamples(tap.requests[decoded].message))
        for (const frame of sample.frames)
          if (frame.fileIdHex === libc.fileIdHex) libcFrames.add(frame.addressOrLine.toString(16));
    }
    if (libcFrames.size > 0) libcSeenAt ??= Date.now();
    const metrics = await getText(`${serve.symbolizer}/metrics`).then(
      (r) => r.text,
      () => '',
    );
    const waiting = metricValue(
      metrics,
      'uniprof_symbolizer_waiting_executables',
      'reason="debuginfod-unreachable"',
    );
    // Two retry periods after libc's frames arrived, the symbolizer has asked debuginfod for them.
    if (libcSeenAt !== undefined && Date.now() - libcSeenAt > 5_000 && waiting > 0) {
      metricsWhileDown = metrics;
      break;
    }
    await sleep(250);
  }
  const health = (url: string) =>
    getText(`${url}/health`).then(
      (r) => r.status,
      () => 0,
    );
  const outage: Outage = {
    metricsWhileDown,
    statusWhileDown: await getJson<StatusResponse>(`${serve.http}/api/status`).catch(
      (error: Error) => error.message,
    ),
    collectorHealth: await health(serve.http),
    symbolizerHealth: await health(serve.symbolizer),
    serveAlive: serve.process.exitCode === null && serve.process.signalCode === null,
    libcFramesWhileDown: libcFrames.size,
    restartedAt: 0,
  };
  await debuginfod.start();
  outage.restartedAt = Date.now();
  return outage;
}

const isUnnamedNative = (entry: TopNFunction, executables: readonly string[]) =>
  entry.frame.frame_type === FrameType.Native &&
  executables.includes(entry.frame.executable_file_name) &&
  entry.frame.function_name === '';

/**
 * A frame of these executables (file name → debug file) without a name that llvm-symbolizer does give it:
 * one the symbolizer still owes (a PLT stub, which nobody names, is not).
 */
function owedNames(debugFiles: Record<string, string>): (entry: TopNFunction) => boolean {
  const nameable = new Map(Object.entries(debugFiles).map(([name, file]) => [name, nameableAddresses(file)]));
  return (entry) =>
    isUnnamedNative(entry, [...nameable.keys()]) &&
    nameable.get(entry.frame.executable_file_name)!(entry.frame.address_or_line);
}

/**
 * Pushes the stripped program's symbols with `uniprof symbtool push-symbols` (its debug info: the unstripped
 * build) and polls the top-N API until its hot function shows with file and line, and until no frame of it
 * or of libc is listed without a name; then reads the APIs the assertions look at.
 */
async function pushAndWatch(
  serve: Serve,
  native: NativeWorkload,
  libc: SystemLibc,
  debuginfod: DebuginfodPeer,
  range: { from: number; to: number },
): Promise<Symbolization> {
  const window = `from=${range.from}&to=${range.to}&samplingLevel=0`;
  const own = `filter=${encodeURIComponent('executable:"uniprof-cburn-s"')}`;
  // What a user sees first: the program's frames without names, and the command that uploads its symbols.
  const before = await getJson<TopNResponse>(
    `${serve.http}/api/topn/functions?${window}&${own}&limit=100000`,
  );
  const hintBefore = before.topn.find(
    (e) => e.frame.executable_file_name === 'uniprof-cburn-s' && e.missing_symbols !== undefined,
  )?.missing_symbols;
  const fileId = await runUniprof(['symbtool', 'file-id', '--json', native.stripped]);
  const token = (await readFile(path.join(serve.dataDir, 'symbol-upload-token'), 'utf8')).trim();
  const pushStartedAt = Date.now();
  const push = await runUniprof([
    'symbtool',
    'push-symbols',
    '-u',
    serve.symbolizer,
    '-t',
    token,
    '-e',
    native.stripped,
    '-d',
    native.withSymbols,
  ]);
  const pushEndedAt = Date.now();
  let namesVisibleAt: number | undefined;
  let drainedAt: number | undefined;
  const owesName = owedNames({ 'uniprof-cburn-s': native.withSymbols, 'libc.so.6': libc.debugFile });
  // The query layer looks frames without symbols up again after 30 s: names show within that.
  const deadline = Date.now() + DRAIN_LIMIT_MS;
  while (push.code === 0 && Date.now() < deadline) {
    const topN = await getJson<TopNResponse>(`${serve.http}/api/topn/functions?${window}&limit=100000`);
    const hot = topN.topn.find(
      (e) =>
        e.frame.function_name === 'uniprof_hot_loop' &&
        e.frame.executable_file_name === 'uniprof-cburn-s' &&
        e.frame.line_number > 0,
    );
    if (hot) namesVisibleAt ??= Date.now();
    if (hot && !topN.topn.some(owesName)) {
      drainedAt = Date.now();
      break;
    }
    await sleep(500);
  }
  return {
    hintBefore,
    fileId,
    push,
    pushStartedAt,
    pushEndedAt,
    namesVisibleAt,
    drainedAt,
    owesName,
    topN: await getJson<TopNResponse>(`${serve.http}/api/topn/functions?${window}&${own}&limit=100000`),
    flamegraph: await getJson<CompactFlamegraph>(`${serve.http}/api/flamegraph?${window}&${own}`),
    elasticFlamegraph: await getJson<ElasticFlamegraph>(
      `${serve.http}/api/flamegraph?${window}&${own}&format=elastic`,
    ),
    status: await getJson<StatusResponse>(`${serve.http}/api/status`),
    symbolizerMetrics: (await getText(`${serve.symbolizer}/metrics`)).text,
    debuginfodResponses200: await debuginfod.debuginfoResponses(200),
    log: serve.output(),
  };
}

async function runAgainstRealAgent(t: TestContext, binary: string, memlockShim?: string): Promise<RunResult> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-e2e-agent-'));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  const native = await buildNativeWorkload(workDir);
  const workloadNode = nodeForWorkload();
  const kernel = await runningKernel();
  const libc = await systemLibc();

  const cleanups: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });
  // A real debuginfod indexing Debian's libc6-dbg: the only place the symbolizer can find libc's debug file.
  const debuginfod = await startDebuginfod({
    debDirectories: [await libc6DbgDebDirectory()],
    readyBuildIds: [libc.buildId],
  });
  cleanups.push(() => debuginfod.dispose());
  const serve = await startServe(workDir, debuginfod.url);
  cleanups.push(() => stopProcess(serve.process, 'SIGKILL', 1000));
  const tap = new GrpcTap({ host: '127.0.0.1', port: serve.grpcPort });
  const tapPort = await tap.listen();
  cleanups.push(() => tap.close());
  // Taken away before the agent starts; brought back once the symbolizer has waited for it (debuginfodOutage).
  await debuginfod.stop();

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
    throw new AgentUnavailableError(`${error.message}\n--- uniprof serve log ---\n${serve.output()}`, {
      cause: error,
    });
  }
  cleanups.push(() => agent.stop());
  const agentStartedAt = Date.now();
  const monitor = new ResourceMonitor(serve.process.pid ?? -1);
  const outageRun = debuginfodOutage(serve, tap, debuginfod, libc, OUTAGE_LIMIT_MS);

  // Started through a symlink so that its main thread's name (the kernel takes it from the path that was
  // executed) tells it apart from the other Node.js processes here, uniprof serve and the test itself.
  const node = path.join(workDir, 'uprof-node');
  await symlink(workloadNode, node);
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
      markers.push(await runMarker(markHost.child, serve, `uprof-mark${i + 1}`, runStartSeconds - 5));
    }
    markHost.child.stdin?.end();
  })();
  const exitCodes = await Promise.all(workloads.map((w) => w.done));
  await markerRuns;
  const outage = await outageRun;
  assert.deepEqual(exitCodes, [0, 0, 0, 0, 0, 0], 'every workload ran to its end');
  const runEndSeconds = Math.ceil(Date.now() / 1000);

  // Let the agent report what it still holds, then stop it between two reports: an export cut short by
  // the agent's exit would leave the test unsure whether the collector stored it.
  await sleep(2 * REPORT_INTERVAL_SECONDS * 1000 + 1000);
  await betweenReports(tap);
  const collectorUse = monitor.stop();
  const agentSeconds = (Date.now() - agentStartedAt) / 1000;
  const agentStoppedAt = Date.now();
  const agentExitCode = await agent.stop();
  const unanswered = tap.requests.flatMap((r, i) =>
    r.answeredAt === undefined
      ? [
          `#${i + 1} of ${tap.requests.length}, sent ${r.sentAt - agentStoppedAt} ms after the agent was told to stop`,
        ]
      : [],
  );

  const metrics = (await getText(`${serve.http}/metrics`)).text;
  // What the UI's "Stack traces → Group by Host" asks for.
  const stacksByHost = await getJson<GroupedStacksResponse>(
    `${serve.http}/api/stacktraces?from=${runStartSeconds - 5}&to=${runEndSeconds + 4 * REPORT_INTERVAL_SECONDS}&groupBy=host.name`,
  );
  const symbolization = await pushAndWatch(serve, native, libc, debuginfod, {
    from: runStartSeconds - 5,
    to: runEndSeconds + 4 * REPORT_INTERVAL_SECONDS,
  });
  const collectorExitCode = await stopProcess(serve.process, 'SIGTERM', 30_000);

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
    libc,
    workDir,
    samples,
    nativeArrivals: nativeFrameArrivals(tap.requests),
    requestsTapped: tap.requests.length,
    metrics,
    markers,
    collectorUse,
    agentSeconds,
    ackDelaysMs,
    runStartSeconds,
    runEndSeconds,
    storePath: serve.storePath,
    agentExitCode,
    collectorExitCode,
    unanswered,
    agentLog: agent.log(),
    outage,
    symbolization,
    symbolizerUrl: serve.symbolizer,
    stacksByHost,
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

/** Distinct addresses of native frames of one file the agent sent, ascending. */
function sampledAddresses(arrivals: ReadonlyMap<string, number>, fileIdHex: string): number[] {
  return [...arrivals.keys()]
    .filter((key) => key.startsWith(`${fileIdHex}:`))
    .map((key) => Number.parseInt(key.slice(fileIdHex.length + 1), 16))
    .sort((a, b) => a - b);
}

/**
 * The stored frames of `fileIdHex` at `addresses` carry exactly the expected inline chains; a failure shows
 * what the serve process logged about the file last (`log`).
 */
async function assertStoredChains(
  store: StoreReader,
  fileIdHex: string,
  addresses: readonly number[],
  expected: readonly OracleFrame[][],
  log: string,
): Promise<void> {
  const fileId = fileIdFromHex(fileIdHex);
  const ids = addresses.map((a) => frameId(fileId, BigInt(a)));
  const stored = await store.getStackFrames(ids);
  const mismatches: string[] = [];
  addresses.forEach((address, i) => {
    const symbols = stored.get(ids[i]);
    const ours = symbols ? storedChain(symbols) : [];
    if (!isDeepStrictEqual(ours, expected[i]))
      mismatches.push(
        `0x${address.toString(16)}: stored ${chainText(ours)} | llvm ${chainText(expected[i])}`,
      );
  });
  assert.equal(
    mismatches.length,
    0,
    `${mismatches.length} of ${addresses.length} addresses differ from llvm-symbolizer:\n${mismatches.slice(0, 15).join('\n')}` +
      `\n--- what uniprof serve logged about the file last ---\n${fileLogTail(log, fileIdHex)}`,
  );
}

const msAfter = (time: number | undefined, since: number) =>
  time === undefined ? 'never' : `${time - since} ms`;

function describeLatencies(ms: readonly number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms, max ${percentile(sorted, 100)} ms`;
}

/** Arrival → name of libc's frames, split at debuginfod's return. */
function libcArrivalToName(run: RunResult): { whileDown: number[]; afterwards: number[] } {
  const arrivals = sampledAddresses(run.nativeArrivals, run.libc.fileIdHex)
    .map((a) => run.nativeArrivals.get(nativeKey(run.libc.fileIdHex, BigInt(a))) ?? NaN)
    .sort((a, b) => a - b);
  const latencies = arrivalToNameMs(arrivals, workerPasses(run.symbolization.log, run.libc.fileIdHex));
  return {
    whileDown: latencies.filter((_, i) => arrivals[i] < run.outage.restartedAt),
    afterwards: latencies.filter((_, i) => arrivals[i] >= run.outage.restartedAt),
  };
}

/** Executables waiting for their next attempt, by reason, from the symbolizer's metrics. */
function backlogReasons(metrics: string): Record<string, number> {
  const reasons: Record<string, number> = {};
  for (const match of metrics.matchAll(
    /^uniprof_symbolizer_waiting_executables\{reason="([^"]*)"\} (\S+)$/gm,
  ))
    reasons[match[1]] = Number(match[2]);
  return reasons;
}

test(
  'the real OpenTelemetry eBPF profiler agent → uniprof serve (collector + symbolizer) → embedded store',
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

    // Under CI=true a missing debuginfod throws here (never a skip).
    if (!debuginfodAvailable()) {
      t.skip('debuginfod or bsdtar is not installed (apt-get install debuginfod libarchive-tools)');
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
      `uniprof serve (collector and symbolizer) while the agent ran: ${(run.collectorUse.cpuCores * 100).toFixed(1)} % of a core ` +
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

    await t.test('the agent and uniprof serve stopped cleanly', () => {
      assert.equal(run.agentExitCode, 0, 'agent exit code after SIGINT');
      assert.equal(run.collectorExitCode, 0, 'uniprof serve exit code after SIGTERM');
    });

    await t.test('the collector accepted every request and stored every sample the agent sent', async () => {
      assert.deepEqual(
        run.unanswered,
        [],
        'the collector answered every export request the agent sent; the agent logged: ' +
          (run.agentLog.match(/level=(ERROR|WARN)[^\n]*/g) ?? []).join(' | '),
      );
      assert.ok(
        run.requestsTapped >= RUN_SECONDS / REPORT_INTERVAL_SECONDS / 2,
        `${run.requestsTapped} requests`,
      );
      assert.equal(metricValue(run.metrics, 'uniprof_collector_rejects_total'), 0, 'rejects');
      assert.equal(
        metricValue(run.metrics, 'uniprof_collector_samples_total'),
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
      // Named by that address too, so "Group by Host" shows the agent's machine and never one "(none)" group.
      assert.equal(host.hostName, '127.0.0.1');
      assert.deepEqual(await store.fieldValues('host.name', window.from, window.to, 10), ['127.0.0.1']);
      assert.deepEqual(
        run.stacksByHost.groups.map((group) => group.value),
        ['127.0.0.1'],
      );
      assert.ok(run.stacksByHost.totalCount > 0);
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

    // ---- symbolization -------------------------------------------------------------------------------------
    const sym = run.symbolization;
    const strippedHex = run.native.fileIdStripped;
    const strippedAddresses = sampledAddresses(run.nativeArrivals, strippedHex);
    const libcAddresses = sampledAddresses(run.nativeArrivals, run.libc.fileIdHex);
    const libcLatencies = libcArrivalToName(run);
    const m = sym.symbolizerMetrics;
    t.diagnostic(
      `symbtool push-symbols ran ${sym.pushEndedAt - sym.pushStartedAt} ms; the worker answered the stripped ` +
        `program's frames ${msAfter(workerPasses(sym.log, strippedHex).find((p) => p.timeMs >= sym.pushStartedAt)?.timeMs, sym.pushStartedAt)} after the push began; ` +
        `uniprof_hot_loop listed by the top-N API ${msAfter(sym.namesVisibleAt, sym.pushStartedAt)} after it ` +
        `(the query layer looks frames without symbols up again every 30 s); every frame of it and of libc named in the API ${msAfter(sym.drainedAt, sym.pushStartedAt)} after it`,
    );
    t.diagnostic(
      `libc frames via debuginfod, arrival (collector's acknowledgement) → name (worker pass, from its log): ` +
        `${describeLatencies(libcLatencies.whileDown)} for the ${libcLatencies.whileDown.length} that arrived while debuginfod was down ` +
        `(it came back ${((run.outage.restartedAt - run.runStartSeconds * 1000) / 1000).toFixed(1)} s into the run); ` +
        `${describeLatencies(libcLatencies.afterwards)} for the ${libcLatencies.afterwards.length} that arrived after`,
    );
    t.diagnostic(
      `symbolizer: ${metricValue(m, 'uniprof_symbolizer_frames_symbolized_total')} frames symbolized, ` +
        `${metricValue(m, 'uniprof_symbolizer_frames_without_symbols_total')} answered without symbols, ` +
        `${metricValue(m, 'uniprof_symbolizer_pending_frames')} still queued (executables nobody has symbols for: ` +
        `${JSON.stringify(backlogReasons(m))}); executables symbolized from debuginfod: ` +
        `${metricValue(m, 'uniprof_symbolizer_executables_symbolized_total', 'source="debuginfod"')}, ` +
        `${(metricValue(m, 'uniprof_symbolizer_debuginfod_downloaded_bytes_total') / 2 ** 20).toFixed(1)} MiB downloaded; ` +
        `sampled addresses: ${strippedAddresses.length} of uniprof-cburn-s, ${libcAddresses.length} of libc`,
    );

    await t.test('symbtool file-id gives the file ID the agent sent for the stripped program', () => {
      assert.equal(sym.fileId.code, 0, `symbtool file-id failed: ${sym.fileId.stderr}`);
      const cli = JSON.parse(sym.fileId.stdout) as { fileId: string; buildId: string | null };
      const { start, end } = run.native.hotLoop;
      const sent = new Set(
        onCpu
          .filter((s) => s.threadName === 'uprof-cpu-s')
          .flatMap((s) => s.frames)
          .filter((f) => f.frameType === 'native' && f.addressOrLine >= start && f.addressOrLine < end)
          .map((f) => f.fileIdHex),
      );
      assert.deepEqual([...sent], [cli.fileId], 'file IDs of the hot loop frames the agent sent');
      assert.equal(cli.fileId, run.native.fileIdStripped, 'the agent’s recipe computed by the test');
      assert.equal(cli.buildId, run.native.gnuBuildId, 'GNU build ID as readelf -n shows it');
    });

    await t.test('one symbtool push-symbols command uploads the stripped program’s symbols', () => {
      const hint = sym.hintBefore;
      assert.ok(hint, 'before the push, top-N says the program’s frames lack symbols');
      assert.equal(hint.buildId, run.native.gnuBuildId, 'the hint names the program’s build ID');
      assert.ok(
        hint.command.includes(`symbtool push-symbols -u ${sym.status.symbolizer.upload.symbolizerUrl}`) &&
          sym.status.symbolizer.upload.symbolizerUrl === run.symbolizerUrl &&
          hint.command.includes('symbol-upload-token'),
        `the hint's command targets this symbolizer and its token file: ${hint.command}`,
      );
      t.diagnostic(`top-N's hint before the push: ${hint.command}`);
      assert.equal(sym.push.code, 0, `push-symbols failed:\n${sym.push.stdout}\n${sym.push.stderr}`);
      t.diagnostic(`symbtool push-symbols: ${sym.push.stdout.trim().replace(/\n/g, ' | ')}`);
    });

    await t.test(
      'every sampled address of the stripped program has llvm-symbolizer’s inline chain (unstripped build)',
      async () => {
        assert.ok(strippedAddresses.length > 0, 'the agent sent native frames of uniprof-cburn-s');
        const expected = expectedInlineChains(run.native.withSymbols, strippedAddresses, run.workDir);
        assert.ok(
          expected.some((chain) => chain.length >= 2 && chain[0].functionName === 'uniprof_mix'),
          'some sampled address is in uniprof_mix inlined into uniprof_hot_loop (the workload exercises inlines)',
        );
        await assertStoredChains(store, strippedHex, strippedAddresses, expected, sym.log);
      },
    );

    await t.test(
      'libc frames are named from debuginfod with no upload: llvm-symbolizer’s chains on libc6-dbg’s file',
      async () => {
        const libcId = fileIdFromHex(run.libc.fileIdHex);
        const executable = (await store.getExecutables([libcId])).get(libcId);
        assert.ok(executable, `libc (${run.libc.path}) is stored as an executable under its file ID`);
        assert.equal(executable.fileName, 'libc.so.6');
        assert.equal(executable.buildId, run.libc.buildId, 'libc’s build ID as readelf -n shows it');
        assert.ok(libcAddresses.length > 0, 'the agent sent native frames of libc');
        const expected = expectedInlineChains(run.libc.debugFile, libcAddresses, run.workDir);
        await assertStoredChains(store, run.libc.fileIdHex, libcAddresses, expected, sym.log);
        assert.ok(
          metricValue(m, 'uniprof_symbolizer_executables_symbolized_total', 'source="debuginfod"') >= 1,
          'the symbolizer counts an executable symbolized from debuginfod',
        );
        assert.ok(
          sym.debuginfodResponses200 >= 1,
          'the debuginfod peer served a debug file (its own metrics)',
        );
      },
    );

    await t.test(
      'debuginfod down: libc frames wait, the backlog says why, nothing crashes; named once it is back',
      async () => {
        const { outage } = run;
        assert.ok(
          outage.metricsWhileDown !== undefined,
          `within ${OUTAGE_LIMIT_MS / 1000} s libc frames arrived and an executable waited with reason debuginfod-unreachable`,
        );
        const down = outage.metricsWhileDown;
        assert.ok(outage.libcFramesWhileDown > 0, 'libc frames arrived while debuginfod was down');
        assert.ok(
          metricValue(down, 'uniprof_symbolizer_waiting_executables', 'reason="debuginfod-unreachable"') >= 1,
          'backlog: executables waiting with reason debuginfod-unreachable',
        );
        assert.ok(metricValue(down, 'uniprof_symbolizer_pending_frames') > 0, 'backlog: frames queued');
        assert.equal(
          metricValue(down, 'uniprof_symbolizer_executables_symbolized_total', 'source="debuginfod"'),
          0,
          'nothing symbolized from debuginfod while it was down',
        );
        assert.ok(
          metricValue(down, 'uniprof_symbolizer_debuginfod_errors_total') > 0,
          'debuginfod errors counted',
        );
        assert.equal(outage.collectorHealth, 200, 'collector /health while debuginfod was down');
        assert.equal(outage.symbolizerHealth, 200, 'symbolizer /health while debuginfod was down');
        assert.ok(outage.serveAlive, 'uniprof serve still running');
        const status = outage.statusWhileDown;
        assert.ok(typeof status === 'object', `GET /api/status while debuginfod was down: ${String(status)}`);
        const backlog = status.symbolizer.backlog;
        assert.ok(backlog.available, `the status has the backlog: ${JSON.stringify(backlog)}`);
        assert.ok(
          (backlog.waitingByReason['debuginfod-unreachable'] ?? 0) >= 1 && backlog.pendingFrames > 0,
          `the status's backlog shows frames waiting for debuginfod: ${JSON.stringify(backlog)}`,
        );
        t.diagnostic(`status API backlog while debuginfod was down: ${JSON.stringify(backlog)}`);
        // Frames that arrived during the outage carry names now (their chains were checked above).
        const libcId = fileIdFromHex(run.libc.fileIdHex);
        const early = libcAddresses.filter(
          (a) =>
            (run.nativeArrivals.get(nativeKey(run.libc.fileIdHex, BigInt(a))) ?? Infinity) <
            outage.restartedAt,
        );
        assert.ok(early.length > 0, 'libc frames acknowledged before debuginfod came back');
        const frames = await store.getStackFrames(early.map((a) => frameId(libcId, BigInt(a))));
        const named = early.filter(
          (a) => (frames.get(frameId(libcId, BigInt(a)))?.functionNames.length ?? 0) > 0,
        );
        assert.equal(named.length, early.length, 'every libc frame that waited for debuginfod has a name');
      },
    );

    await t.test(
      'the top-N and flamegraph APIs show the stripped program’s functions with file:line and the inline chain',
      () => {
        assert.ok(sym.namesVisibleAt !== undefined, 'uniprof_hot_loop of uniprof-cburn-s listed by top-N');
        assert.ok(
          sym.drainedAt !== undefined,
          `every frame of uniprof-cburn-s and libc named in the top-N API within ${DRAIN_LIMIT_MS / 1000} s of the push`,
        );
        const own = (e: TopNFunction) => e.frame.executable_file_name === 'uniprof-cburn-s';
        const hot = sym.topN.topn.find((e) => own(e) && e.frame.function_name === 'uniprof_hot_loop');
        const mix = sym.topN.topn.find((e) => own(e) && e.frame.function_name === 'uniprof_mix');
        assert.ok(hot && mix, 'top-N lists uniprof_hot_loop and uniprof_mix of uniprof-cburn-s');
        assert.equal(hot.frame.inline, false);
        assert.equal(mix.frame.inline, true, 'uniprof_mix is listed as inlined');
        const [hotChain, mixChain] = expectedInlineChains(
          run.native.withSymbols,
          [hot.frame.address_or_line, mix.frame.address_or_line],
          run.workDir,
        );
        assert.deepEqual(
          [hot.frame.file_name, hot.frame.line_number],
          [hotChain.at(-1)?.fileName, hotChain.at(-1)?.line],
          `top-N uniprof_hot_loop file:line at 0x${hot.frame.address_or_line.toString(16)}`,
        );
        assert.deepEqual(
          [mix.frame.file_name, mix.frame.line_number],
          [mixChain[0]?.fileName, mixChain[0]?.line],
          `top-N uniprof_mix file:line at 0x${mix.frame.address_or_line.toString(16)}`,
        );
        assert.ok(
          !sym.topN.topn.some(sym.owesName),
          'no frame of uniprof-cburn-s or libc without a name in top-N (but where llvm-symbolizer has none)',
        );
        assert.ok(
          sym.topN.topn.some(
            (e) => e.frame.executable_file_name === 'libc.so.6' && e.frame.function_name !== '',
          ),
          'top-N of the program lists named libc functions',
        );

        // Elasticsearch-shaped flamegraph: uniprof_mix is an inline node under uniprof_hot_loop.
        const g = sym.elasticFlamegraph;
        const parentOf = new Map<number, number>();
        g.Edges.forEach((children, parent) => children.forEach((child) => parentOf.set(child, parent)));
        const mixNodes = g.FunctionName.flatMap((name, i) =>
          name === 'uniprof_mix' && g.ExeFilename[i] === 'uniprof-cburn-s' ? [i] : [],
        );
        assert.ok(mixNodes.length > 0, 'the flamegraph has uniprof_mix nodes of uniprof-cburn-s');
        const nodeChains = expectedInlineChains(
          run.native.withSymbols,
          mixNodes.flatMap((i) => [g.AddressOrLine[i], g.AddressOrLine[parentOf.get(i) ?? -1] ?? 0]),
          run.workDir,
        );
        mixNodes.forEach((i, k) => {
          const parent = parentOf.get(i) ?? -1;
          assert.equal(g.Inline[i], true, 'uniprof_mix node is inline');
          assert.equal(g.FunctionName[parent], 'uniprof_hot_loop', 'uniprof_mix node’s parent');
          const own = nodeChains[2 * k][0];
          const caller = nodeChains[2 * k + 1].at(-1);
          assert.deepEqual(
            [g.SourceFilename[i], g.SourceLine[i]],
            [own?.fileName, own?.line],
            'uniprof_mix file:line',
          );
          assert.deepEqual(
            [g.SourceFilename[parent], g.SourceLine[parent]],
            [caller?.fileName, caller?.line],
            'uniprof_hot_loop file:line',
          );
        });

        // The UI's compact flamegraph: the same nodes, labelled, with file:line.
        const f = sym.flamegraph;
        const hotFrames = f.frames.label.flatMap((label, i) =>
          label === 'uniprof_hot_loop' && f.frames.executable[i] === 'uniprof-cburn-s' ? [i] : [],
        );
        assert.ok(hotFrames.length > 0, 'compact flamegraph labels uniprof_hot_loop of uniprof-cburn-s');
        for (const i of hotFrames) {
          assert.equal(f.frames.symbolized[i], true);
          assert.equal(f.frames.sourceFile[i], hotChain.at(-1)?.fileName, 'uniprof_hot_loop’s file');
          assert.ok(f.frames.sourceLine[i] > 0, 'uniprof_hot_loop has a line');
        }
        const inlinedUnderHot = f.nodes.frame.some(
          (frame, node) =>
            frame >= 0 &&
            f.frames.label[frame] === 'uniprof_mix' &&
            f.frames.inline[frame] &&
            hotFrames.includes(f.nodes.frame[f.nodes.parent[node]] ?? -1),
        );
        assert.ok(inlinedUnderHot, 'compact flamegraph: inline uniprof_mix under uniprof_hot_loop');
      },
    );

    // ---- the web UI ----------------------------------------------------------------------------------------
    await t.test(
      'the web UI shows the workloads’ functions on the flamegraph, top functions and stack traces pages',
      { skip: chromiumSkip() },
      async () => {
        const pages = await browseAgentData(store, { ...window, filter: 'thread:uprof-*' }, UI_FUNCTIONS);
        for (const name of UI_FUNCTIONS) {
          assert.ok(
            pages.flamegraphMatches[name] > 0,
            `the flamegraph page's search finds ${name}: ${JSON.stringify(pages.flamegraphMatches)}`,
          );
          assert.ok(pages.topFunctions.includes(name), `the top functions page lists ${name}`);
          assert.ok(pages.stacks.includes(name), `a listed stack of the stack traces page has ${name}`);
        }
        for (const thread of ['uprof-cpu', 'uprof-cpu-s', 'uprof-python', 'uprof-node']) {
          assert.ok(
            pages.stackGroups.includes(thread),
            `stack traces by thread: ${thread} among ${pages.stackGroups}`,
          );
        }
      },
    );
  },
);
