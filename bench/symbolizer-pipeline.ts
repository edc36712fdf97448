/**
 * `npm run bench:symbolizer-pipeline`: the symbolizer service as a whole, with real parts (the collector's
 * translator and gRPC receiver, the embedded DuckDB store, the service's worker with its real debug-file
 * lookup and threaded extractor, the query API over HTTP). Each part runs in a fresh child process, so its
 * peak RSS is its own.
 *
 *   fleet    a fleet's worth of new executables (several real gcc/g++ -g programs, each copied with its own
 *            GNU build ID into a local debug directory, as distributions' debug packages install them), each
 *            with frames queued by the translator from agent-shaped samples; the service started on the
 *            backlog: wall time until the queue is empty, frames/s and executables/s, CPU, peak RSS.
 *   latency  symbols already uploaded (`symbtool push-symbols`' endpoint); agent-shaped profiles sent one by
 *            one to the collector's gRPC receiver, each with a frame never seen before: the time from sending
 *            to the frame's name (a) in the store, (b) in a query with nothing cached, (c) in the query API's
 *            top functions over HTTP as a user polling it sees it (`to=now`, so the current second is not
 *            shown yet; a frame once answered without a name stays cached so for a while, see LookupCache);
 *            p50/p95, with the worker's default poll interval and with a short one.
 *   large    peak RSS of symbol range extraction over a ≥ 500 MB debug file (generated once into the cache,
 *            see large-debug-program.ts), in a fresh process (extraction-child.ts) as the service runs it
 *            (its extraction thread) and as symbtool does (main thread), against its largest DWARF section.
 *   hot-elasticsearch (not run by default: it starts the Elasticsearch test peer, or uses UNIPROF_BENCH_ES_URL
 *            + _USERNAME / _PASSWORD / _CA) an executable already symbolized on Elasticsearch (the large C++
 *            program's ranges, no return pads) gets rounds of 5,000 new frames, each round queued as the
 *            collector queues them and answered by a worker: time per round until every frame has its name,
 *            with the worker's range cache off (every batch searched in the store) and on.
 *
 * `npm run bench:symbolizer-pipeline -- fleet` runs one part; `-- fleet-same-thread` (not run by default) runs
 * the fleet with extraction on the service's own thread, to show what its extraction thread per file costs.
 * Knobs (environment):
 * UNIPROF_BENCH_FLEET_EXECUTABLES (default 200), UNIPROF_BENCH_FLEET_FRAMES (frames per executable, 250),
 * UNIPROF_BENCH_LATENCY_SAMPLES (50), UNIPROF_BENCH_LARGE_MIB (size of the large file, 512),
 * UNIPROF_BENCH_HOT_ROUNDS (rounds of new frames per setting, 4).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { runChild } from './child.ts';
import { ReaderAccess, registerQueryApi, registerReaderAuth } from '../src/api/index.ts';
import { createCollector } from '../src/collector/collector.ts';
import { ProfileTranslator } from '../src/collector/translate.ts';
import { loadConfig, type Config } from '../src/config/config.ts';
import { fileIdFromHex, type SymbolRange } from '../src/model/index.ts';
import { encodeExportRequest } from '../src/protocol/index.ts';
import { LookupCache, ProfilingQueries, topNFunctions, type TopNResponse } from '../src/query/index.ts';
import { ElasticsearchStore } from '../src/store/elasticsearch/index.ts';
import { createClient } from '../src/store/elasticsearch/options.ts';
import { createStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import type { SymbolizationStore } from '../src/store/symbolization.ts';
import { ElfFile } from '../src/symbolizer/elf/elf.ts';
import { extractRanges } from '../src/symbolizer/ranges/extract.ts';
import { SymbolizerMetrics } from '../src/symbolizer/service/metrics.ts';
import { createSymbolizerService } from '../src/symbolizer/service/service.ts';
import { createDebugInfoLookup, defaultRangeExtractor } from '../src/symbolizer/service/wiring.ts';
import { SymbolizerWorker } from '../src/symbolizer/service/worker.ts';
import type { RangeExtractor } from '../src/symbolizer/service/sources.ts';
import { pushSymbols } from '../src/symbolizer/upload/client.ts';
import { NODE_FLAGS } from '../scripts/package/node-flags.ts';
import { grpcClient, grpcExport } from '../test/collector/helpers.ts';
import { startElasticsearch } from '../test/peers/elasticsearch.ts';
import { buildProgram, canBuild, type VariantName } from '../test/peers/toolchains.ts';
import {
  buildIdOf,
  buildIdPath,
  nativeFrameId,
  nativeProfileRequest,
  programAddresses,
  randomFileIdHex,
  type ProfiledExecutable,
} from '../test/symbolizer/service-fixture.ts';
import type { ExtractionResult } from './extraction-child.ts';
import { largeDebugProgram } from './large-debug-program.ts';

const FLEET_EXECUTABLES = Number(process.env.UNIPROF_BENCH_FLEET_EXECUTABLES ?? 200);
const FLEET_FRAMES = Number(process.env.UNIPROF_BENCH_FLEET_FRAMES ?? 250);
const LATENCY_SAMPLES = Number(process.env.UNIPROF_BENCH_LATENCY_SAMPLES ?? 50);
const LARGE_BYTES = Number(process.env.UNIPROF_BENCH_LARGE_MIB ?? 512) * 2 ** 20;
const HOT_ROUNDS = Number(process.env.UNIPROF_BENCH_HOT_ROUNDS ?? 4);
const HOT_FRAMES = 5_000;
/** Executables a host runs: one export request carries the samples of this many. */
const EXECUTABLES_PER_HOST = 10;
const UPLOAD_TOKEN = 'bench-symbol-upload-token';
const DEFAULT_POLL_MS = loadConfig({ env: {} }).symbolizer.pollIntervalMs;
const SHORT_POLL_MS = 50;

type ExtractOptions = Parameters<RangeExtractor>[1];

const silent = () => pino({ level: 'silent' });
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const cpuSeconds = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};
/** Other work on the machine moves wall times: printed with each part so runs can be compared. */
const machineLoad = () =>
  `machine load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function serviceConfig(dataDir: string, debugDirectory: string, pollIntervalMs = DEFAULT_POLL_MS): Config {
  return loadConfig({
    overrides: [
      `dataDir=${dataDir}`,
      'log.level=silent',
      'collector.auth.disabled=true',
      'collector.grpc.port=0',
      'collector.http.port=0',
      'symbolizer.http.port=0',
      `symbolizer.debugDirectories=${debugDirectory}`,
      'symbolizer.debuginfod.urls=',
      `symbolizer.pollIntervalMs=${pollIntervalMs}`,
    ],
    env: {},
  });
}

/** The highest RSS seen while `work` runs, sampled every 50 ms (the process peak may predate it). */
async function withRssSampling<T>(work: () => Promise<T>): Promise<{ result: T; peakRss: number }> {
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  try {
    const result = await work();
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    return { result, peakRss };
  } finally {
    clearInterval(timer);
  }
}

// ---- fleet: queue → source → engine → store for many new executables ----

interface FleetProgram {
  name: string;
  /** The program's separate debug file, as `objcopy --only-keep-debug` makes it. */
  debugFile: Buffer;
  /** Where the GNU build ID's bytes are in it. */
  buildIdAt: number;
  buildIdBytes: number;
  addresses: number[];
}

function fleetProgram(variant: VariantName, dir: string): FleetProgram {
  const unstripped = buildProgram(variant).binary;
  const path = join(dir, `${variant}.debug`);
  execFileSync('objcopy', ['--only-keep-debug', unstripped, path]);
  const debugFile = readFileSync(path);
  const buildId = Buffer.from(buildIdOf(path), 'hex');
  const elf = ElfFile.open(path);
  const note = elf.sections.find((s) => s.name === '.note.gnu.build-id');
  elf.close();
  if (!note) throw new Error(`${path} has no .note.gnu.build-id section`);
  const inNote = debugFile.subarray(note.offset, note.offset + note.size).indexOf(buildId);
  if (inNote < 0) throw new Error(`${path}: its build ID is not in its note`);
  return {
    name: variant,
    debugFile,
    buildIdAt: note.offset + inNote,
    buildIdBytes: buildId.length,
    addresses: programAddresses(unstripped, FLEET_FRAMES),
  };
}

/**
 * Installs a copy of the program's debug file with a build ID of its own in the debug directory: the same
 * program as built for another release or machine, a new executable to the symbolizer.
 */
function installCopy(program: FleetProgram, debugDirectory: string): string {
  const buildId = randomBytes(program.buildIdBytes);
  const copy = Buffer.from(program.debugFile);
  buildId.copy(copy, program.buildIdAt);
  const hex = buildId.toString('hex');
  const target = buildIdPath(debugDirectory, hex);
  mkdirSync(join(target, '..'), { recursive: true });
  writeFileSync(target, copy);
  if (buildIdOf(target) !== hex) throw new Error(`${target}: the build ID was not replaced`);
  return hex;
}

/**
 * `sameThread`: the extraction runs on the service's own thread instead of the service's worker thread per
 * file, to show what the thread costs (start-up, module loading, cold JIT in every new thread).
 */
async function fleet(extraction: 'thread' | 'same-thread'): Promise<void> {
  const variants = (['c-dwarf5', 'c-dwarf4', 'cpp', 'cpp-large'] as const).filter((v) => canBuild(v));
  if (variants.length === 0) throw new Error('no C/C++ toolchain: the fleet cannot be built');
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-fleet-'));
  try {
    const programs = variants.map((variant) => fleetProgram(variant, dir));
    const debugDirectory = join(dir, 'debug');
    let debugBytes = 0;
    const executables: ProfiledExecutable[] = [];
    for (let k = 0; k < FLEET_EXECUTABLES; k++) {
      const program = programs[k % programs.length];
      const buildId = installCopy(program, debugDirectory);
      debugBytes += program.debugFile.length;
      executables.push({
        fileIdHex: randomFileIdHex(),
        fileName: `/opt/fleet/${program.name}-${k}`,
        buildId,
        addresses: program.addresses,
      });
    }
    const frames = executables.reduce((sum, e) => sum + e.addresses.length, 0);
    console.log(
      `fleet: ${FLEET_EXECUTABLES} executables (${programs.map((p) => `${p.name}: ${p.addresses.length} frames`).join(', ')}), ` +
        `${frames.toLocaleString('en-US')} queued frames, ${mib(debugBytes)} of debug files in a local debug directory`,
    );

    const config = serviceConfig(dir, debugDirectory);
    const store = createStore(config, silent());
    await store.open();
    try {
      // Ingest: one export per host, translated as the collector does, the pending frames queued with it.
      const translator = new ProfileTranslator();
      const now = Math.floor(Date.now() / 1000) - 60;
      for (let k = 0; k < executables.length; k += EXECUTABLES_PER_HOST) {
        const request = nativeProfileRequest(executables.slice(k, k + EXECUTABLES_PER_HOST), now);
        const translation = translator.translate(request, { now });
        await store.write(translation.batch);
        translation.commit();
      }
      const queued = await store.symbolization.backlog();
      if (queued.pendingFrames !== frames)
        throw new Error(`${queued.pendingFrames} frames queued, expected ${frames}`);

      const service = createSymbolizerService({
        config,
        store,
        logger: silent(),
        manageStore: false,
        uploadToken: UPLOAD_TOKEN,
        owner: 'bench',
        ...(extraction === 'same-thread'
          ? { extractRanges: (path: string, options: ExtractOptions) => extractRanges(path, options) }
          : {}),
      });
      const load0 = os.loadavg()[0];
      const rssBefore = process.memoryUsage().rss;
      const cpu0 = cpuSeconds();
      const wall0 = performance.now();
      const { peakRss } = await withRssSampling(async () => {
        await service.start();
        for (;;) {
          const backlog = await store.symbolization.backlog();
          if (backlog.pendingFrames === 0 && backlog.pendingExecutables === 0) break;
          await sleep(20);
        }
      });
      const wallSeconds = (performance.now() - wall0) / 1000;
      const cpu = cpuSeconds() - cpu0;
      const load1 = os.loadavg()[0];
      const rssAfter = process.memoryUsage().rss;
      await service.stop();

      let named = 0;
      for (const executable of executables) {
        const ids = executable.addresses.map((a) => nativeFrameId(executable, a));
        for (const symbols of (await store.getStackFrames(ids)).values())
          if (symbols.functionNames.length > 0) named++;
      }
      const { concurrency } = config.symbolizer;
      console.log(
        `  extraction ${extraction === 'thread' ? "in the service's worker thread (as deployed)" : "on the service's own thread (for comparison)"}; ` +
          `machine load average ${load0.toFixed(1)} → ${load1.toFixed(1)} on ${os.availableParallelism()} cores\n` +
          `  drained in ${wallSeconds.toFixed(1)} s wall (service concurrency ${concurrency}, poll ${config.symbolizer.pollIntervalMs} ms): ` +
          `${Math.round(frames / wallSeconds).toLocaleString('en-US')} frames/s, ` +
          `${(FLEET_EXECUTABLES / wallSeconds).toFixed(1)} executables/s`,
      );
      console.log(
        `  CPU ${cpu.toFixed(1)} s (all threads; ${((cpu / FLEET_EXECUTABLES) * 1000).toFixed(0)} ms per executable, ` +
          `${Math.round(frames / cpu).toLocaleString('en-US')} frames/s per core); ` +
          `RSS ${mib(rssBefore)} before, peak ${mib(peakRss)} while draining, ${mib(rssAfter)} once drained`,
      );
      console.log(`  frames named: ${named.toLocaleString('en-US')} of ${frames.toLocaleString('en-US')}`);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- latency: a sample's arrival to its name, symbols available ----

interface Sample {
  executable: ProfiledExecutable;
  frameId: string;
  sentAt: number;
  ackMs?: number;
  stored?: number;
  queried?: number;
  api?: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(values: number[]): string {
  if (values.length === 0) return 'none';
  const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`);
  // Past 10 s means a wait on something other than the pipeline (the query layer's cache of misses).
  const slow = values.filter((v) => v >= 10_000).length;
  return (
    `p50 ${ms(percentile(values, 50))}, p95 ${ms(percentile(values, 95))}, max ${ms(Math.max(...values))}` +
    (slow > 0 ? ` (${slow} of ${values.length} over 10 s)` : '')
  );
}

async function latency(pollIntervalMs: number): Promise<void> {
  if (!canBuild('c-dwarf5')) throw new Error('gcc missing: no program to symbolize');
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-latency-'));
  const config = serviceConfig(dir, join(dir, 'no-debug-files'), pollIntervalMs);
  const store: Store = createStore(config, silent());
  const collector = createCollector(
    { ...config.collector, auth: { disabled: true } },
    store,
    silent().child({}),
  );
  // A benchmark on loopback, timing the query path alone: no reader credentials.
  await registerReaderAuth(collector.http, ReaderAccess.disabled());
  await registerQueryApi(collector.http, { store });
  const { grpcAddress, httpAddress } = await collector.start();
  const service = createSymbolizerService({
    config,
    store,
    logger: silent(),
    manageStore: false,
    uploadToken: UPLOAD_TOKEN,
    owner: 'bench',
  });
  const client = grpcClient(grpcAddress.replace(/^\w+:\/\//, ''));
  try {
    const { httpAddress: symbolizerAddress } = await service.start();
    const program = buildProgram('c-dwarf5').binary;
    const chunks: SymbolRange[][] = [...extractRanges(program)];
    const addresses = programAddresses(program, 400);
    // Each sample's executable is its own (so its row in the top functions is its own), symbols uploaded.
    const samples: Sample[] = [];
    for (let k = 0; k < LATENCY_SAMPLES; k++) {
      const fileIdHex = randomFileIdHex();
      const fileName = `/opt/app-${k}`;
      await pushSymbols({
        url: symbolizerAddress,
        token: UPLOAD_TOKEN,
        fileId: fileIdFromHex(fileIdHex),
        fileName,
        ranges: chunks,
      });
      const address = addresses[(k * 7) % addresses.length];
      const executable = { fileIdHex, fileName, addresses: [address] };
      samples.push({ executable, frameId: nativeFrameId(executable, address), sentAt: 0 });
    }

    const outstanding = new Set<Sample>();
    let sending = true;
    const pollers = [
      // (a) the frame's symbols in the store
      (async () => {
        while (sending || [...outstanding].some((s) => s.stored === undefined)) {
          const waiting = [...outstanding].filter((s) => s.stored === undefined);
          if (waiting.length > 0) {
            const found = await store.getStackFrames(waiting.map((s) => s.frameId));
            const now = performance.now();
            for (const s of waiting)
              if ((found.get(s.frameId)?.functionNames.length ?? 0) > 0) s.stored = now - s.sentAt;
          }
          await sleep(5);
        }
      })(),
      // (b) a top-functions query with nothing cached
      (async () => {
        const queries = new ProfilingQueries(store);
        while (sending || [...outstanding].some((s) => s.queried === undefined)) {
          if ([...outstanding].some((s) => s.queried === undefined)) {
            const to = Math.floor(Date.now() / 1000) + 1;
            const result = await queries.run({ from: to - 900, to }, undefined, new LookupCache());
            markNamed(topNFunctions(result, 100_000), outstanding, 'queried');
          }
          await sleep(10);
        }
      })(),
      // (c) the query API over HTTP, as the UI polls it
      (async () => {
        while (sending || [...outstanding].some((s) => s.api === undefined)) {
          if ([...outstanding].some((s) => s.api === undefined)) {
            const response = await fetch(`${httpAddress}/api/topn/functions?from=now-15m&limit=100000`);
            markNamed((await response.json()) as TopNResponse, outstanding, 'api');
          }
          await sleep(10);
        }
      })(),
    ];
    const deadline = Date.now() + LATENCY_SAMPLES * 1000 + 120_000;
    for (const sample of samples) {
      const now = Math.floor(Date.now() / 1000);
      const body = Buffer.from(encodeExportRequest(nativeProfileRequest([sample.executable], now)));
      sample.sentAt = performance.now();
      outstanding.add(sample);
      const answer = await grpcExport(client, body, null);
      if (answer.code !== 0) throw new Error(`export refused: ${answer.code} ${answer.details}`);
      sample.ackMs = performance.now() - sample.sentAt;
      // Arrivals spread over the worker's poll cycle.
      await sleep(200 + Math.random() * 400);
    }
    sending = false;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('timed out waiting for the samples to be named')),
        Math.max(0, deadline - Date.now()),
      );
    });
    await Promise.race([Promise.all(pollers), timedOut]).finally(() => clearTimeout(timer));
    const values = (key: 'ackMs' | 'stored' | 'queried' | 'api') =>
      samples.map((s) => s[key]).filter((v): v is number => v !== undefined);
    console.log(
      `latency, worker poll ${pollIntervalMs} ms: ${LATENCY_SAMPLES} samples, each with a new frame of an executable whose symbols were uploaded (${machineLoad()})`,
    );
    console.log(`  export acknowledged (gRPC, stored)       ${summary(values('ackMs'))}`);
    console.log(`  frame named in the store                 ${summary(values('stored'))}`);
    console.log(`  named in a top-functions query, no cache ${summary(values('queried'))}`);
    console.log(`  named in GET /api/topn/functions (HTTP)  ${summary(values('api'))}`);
  } finally {
    client.close();
    await service.stop();
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Marks the outstanding samples whose executable has a symbolized row in this top-N answer. */
function markNamed(topN: TopNResponse, outstanding: Set<Sample>, key: 'queried' | 'api'): void {
  const now = performance.now();
  const named = new Set(
    topN.topn.filter((row) => row.symbolized).map((row) => row.frame.executable_file_name),
  );
  for (const sample of outstanding)
    if (sample[key] === undefined && named.has(sample.executable.fileName)) sample[key] = now - sample.sentAt;
}

// ---- large: peak RSS extracting a ≥ 500 MB debug file ----

/** One extraction in a fresh process that loads only the extraction's modules (extraction-child.ts). */
function runExtractChild(
  mode: 'thread' | 'main',
  path: string,
  nodeFlags: readonly string[],
): ExtractionResult {
  return runChild(
    fileURLToPath(new URL('./extraction-child.ts', import.meta.url)),
    [mode, path],
    `extraction of ${path}`,
    nodeFlags,
  );
}

/** The target: peak RSS at most this many times the largest DWARF section. */
const LARGE_RSS_TARGET = 1.5;

async function large(): Promise<void> {
  const program = await largeDebugProgram(LARGE_BYTES);
  if (!program) throw new Error('gcc missing: the large debug file cannot be built');
  const elf = ElfFile.open(program.path);
  const sections = elf.sections
    .filter((s) => s.name.startsWith('.debug_'))
    .map((s) => ({ name: s.name, size: s.size }))
    .sort((a, b) => b.size - a.size);
  elf.close();
  const largest = sections[0];
  const largestMiB = largest.size / 2 ** 20;
  console.log(
    `large debug file: ${program.path}, ${(program.bytes / 1e6).toFixed(0)} MB (${mib(program.bytes)})` +
      (program.buildSeconds > 0 ? ` (built in ${program.buildSeconds.toFixed(0)} s)` : ' (from the cache)') +
      `; ${machineLoad()}`,
  );
  console.log(`  DWARF sections: ${sections.map((s) => `${s.name} ${mib(s.size)}`).join(', ')}`);
  console.log(
    `  target: peak RSS ≤ ${LARGE_RSS_TARGET}× the largest section (${largest.name}, ${largestMiB.toFixed(0)} MiB) = ` +
      `${(LARGE_RSS_TARGET * largestMiB).toFixed(0)} MiB`,
  );
  const runs = [
    {
      mode: 'thread',
      flags: NODE_FLAGS,
      label: 'service (extraction thread), release launcher flags',
    },
    { mode: 'main', flags: NODE_FLAGS, label: 'symbtool (main thread), release launcher flags' },
    { mode: 'thread', flags: [], label: 'service (extraction thread), Node defaults' },
  ] as const;
  for (const { mode, flags, label } of runs) {
    const baseline = runExtractChild(mode, '', [...flags]);
    const run = runExtractChild(mode, program.path, [...flags]);
    const peakMiB = run.maxRssMb;
    const ratio = peakMiB / largestMiB;
    console.log(
      `  ${label}: ${(run.ms / 1000).toFixed(1)} s (CPU ${(run.cpuMs / 1000).toFixed(1)} s), ` +
        `${run.ranges.toLocaleString('en-US')} ranges; peak RSS ${peakMiB.toFixed(0)} MiB = ${ratio.toFixed(2)}× ` +
        `(${ratio <= LARGE_RSS_TARGET ? 'met' : 'missed'}); Node with the modules loaded ${baseline.maxRssMb.toFixed(0)} MiB, ` +
        `the extraction's own ${(peakMiB - baseline.maxRssMb).toFixed(0)} MiB above it`,
    );
  }
}

// ---- hot-elasticsearch: new frames of an executable already symbolized, on Elasticsearch ----

async function hotElasticsearch(): Promise<void> {
  if (!canBuild('cpp-large')) throw new Error('g++ missing: no program to symbolize');
  const url = process.env.UNIPROF_BENCH_ES_URL;
  const ca = process.env.UNIPROF_BENCH_ES_CA;
  const peer = url ? undefined : await startElasticsearch();
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-hot-'));
  const options = {
    hosts: [url ?? peer!.url],
    username: url ? process.env.UNIPROF_BENCH_ES_USERNAME : peer!.username,
    password: url ? process.env.UNIPROF_BENCH_ES_PASSWORD : peer!.password,
    tls: { caPem: url ? (ca ? readFileSync(ca, 'utf8') : undefined) : peer!.caPem },
    spoolDir: join(dir, 'spool'),
    shards: { events: 1, keyValue: 1 },
    bulk: { maxAgeMs: 100 },
  };
  const store = new ElasticsearchStore(options);
  // The worker leases by search, which sees queued frames at the next refresh (10 s by default): the bench
  // refreshes the queue while it waits, so the rounds time the answering, not the refresh interval.
  const client = createClient(options);
  try {
    await store.open();
    const program = buildProgram('cpp-large').binary;
    const ranges: SymbolRange[] = [];
    for (const chunk of extractRanges(program, { functionNames: 'dwarf' })) ranges.push(...chunk);
    // Addresses inside the program's functions, a new set for every round of both settings.
    const addresses = programAddresses(program, HOT_FRAMES * HOT_ROUNDS * 2 * 2);
    if (addresses.length < HOT_FRAMES * HOT_ROUNDS * 2)
      throw new Error(`only ${addresses.length} distinct addresses in ${program}`);
    console.log(
      `hot-elasticsearch: an executable with ${ranges.length.toLocaleString('en-US')} ranges stored (no pads), ` +
        `${HOT_ROUNDS} rounds of ${HOT_FRAMES.toLocaleString('en-US')} new frames per setting (${machineLoad()})`,
    );
    let next = 0;
    for (const [label, rangeCacheBytes] of [
      ['range cache off (each batch searched)', 0],
      ['range cache on (default size)', undefined],
    ] as const) {
      const fileIdHex = randomFileIdHex();
      const fileId = fileIdFromHex(fileIdHex);
      await store.symbolization.putSymbols(
        fileId,
        (async function* () {
          for (let i = 0; i < ranges.length; i += 8192) yield ranges.slice(i, i + 8192);
        })(),
        { source: 'upload', fileName: '/opt/hot' },
      );
      const config = serviceConfig(dir, join(dir, 'no-debug-files'), 50);
      const metrics = new SymbolizerMetrics({ processMetrics: false });
      const { store: timedStore, lookups } = timedLookups(store.symbolization);
      const worker = new SymbolizerWorker(
        {
          owner: `bench-hot-${fileIdHex}`,
          concurrency: 1,
          pollIntervalMs: 50,
          leaseMs: 300_000,
          retry: config.symbolizer.retry,
          debugDirectories: [],
          // No executable here to make pads from: the frames are answered from the ranges.
          returnPads: false,
          ...(rangeCacheBytes === undefined ? {} : { rangeCacheBytes }),
        },
        {
          store: timedStore,
          lookup: createDebugInfoLookup(config, metrics, {}),
          extractRanges: defaultRangeExtractor,
          metrics,
          logger: silent(),
        },
      );
      worker.start();
      const times: number[] = [];
      const lookupTimes: number[] = [];
      try {
        for (let round = 0; round < HOT_ROUNDS; round++) {
          const executable = {
            fileIdHex,
            fileName: '/opt/hot',
            addresses: addresses.slice(next, (next += HOT_FRAMES)),
          };
          const ids = executable.addresses.map((a) => nativeFrameId(executable, a));
          const started = performance.now();
          const translation = new ProfileTranslator().translate(
            nativeProfileRequest([executable], Math.floor(Date.now() / 1000)),
            { now: Math.floor(Date.now() / 1000) },
          );
          await store.write(translation.batch);
          const lookupBefore = lookups.ms;
          for (;;) {
            if ((await store.getStackFrames(ids)).size === ids.length) break;
            await client.indices.refresh({ index: '.profiling-sq-*', expand_wildcards: 'all' });
            await sleep(100);
          }
          times.push(performance.now() - started);
          lookupTimes.push(lookups.ms - lookupBefore);
        }
      } finally {
        await worker.stop();
      }
      console.log(
        `  ${label}; per round of ${HOT_FRAMES.toLocaleString('en-US')} new frames:\n` +
          `    worker's symbol lookups (store calls and cache): ${lookupTimes.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}\n` +
          `    queued to every frame named: ${times.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')} (${machineLoad()})`,
      );
    }
  } finally {
    await client.close();
    await store.close();
    await peer?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The worker's ways to its symbols, timed: the store calls it makes to answer frames from ranges. */
const LOOKUP_CALLS = new Set(['symbolRanges', 'symbolsVersion', 'allSymbolRanges']);

function timedLookups(store: SymbolizationStore): { store: SymbolizationStore; lookups: { ms: number } } {
  const lookups = { ms: 0 };
  const timed = new Proxy(store, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof name !== 'string' || !LOOKUP_CALLS.has(name) || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const started = performance.now();
        try {
          return (await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
        } finally {
          lookups.ms += performance.now() - started;
        }
      };
    },
  });
  return { store: timed, lookups };
}

// ---- driver ----

/** The parts; those not `byDefault` run only when named. */
const PARTS: Record<string, { run: () => Promise<void>; byDefault: boolean }> = {
  fleet: { run: () => fleet('thread'), byDefault: true },
  'fleet-same-thread': { run: () => fleet('same-thread'), byDefault: false },
  [`latency-${DEFAULT_POLL_MS}ms`]: { run: () => latency(DEFAULT_POLL_MS), byDefault: true },
  [`latency-${SHORT_POLL_MS}ms`]: { run: () => latency(SHORT_POLL_MS), byDefault: true },
  large: { run: large, byDefault: true },
  'hot-elasticsearch': { run: hotElasticsearch, byDefault: false },
};

if (process.argv[2] === '--part') {
  const part = PARTS[process.argv[3] ?? ''];
  if (!part) throw new Error(`unknown part ${process.argv[3]}`);
  await part.run();
} else {
  const wanted = process.argv.slice(2);
  const names = Object.keys(PARTS).filter(
    (name) =>
      wanted.includes(name) ||
      (PARTS[name].byDefault && (wanted.length === 0 || wanted.some((w) => name.startsWith(`${w}-`)))),
  );
  if (names.length === 0)
    throw new Error(`no part matches ${wanted.join(' ')}; parts: ${Object.keys(PARTS).join(' ')}`);
  let failed = 0;
  for (const name of names) {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--part', name],
      {
        stdio: 'inherit',
      },
    );
    if (child.status !== 0) failed++;
    console.log('');
  }
  process.exitCode = failed > 0 ? 1 : 0;
}
