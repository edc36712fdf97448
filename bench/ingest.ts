/**
 * `npm run bench:ingest`: samples per second per core, request latency and peak RSS for the collector's ingest
 * path, on requests from the load generator (agent-shaped: deep mixed stacks, Zipf popularity, the agent's
 * attributes), already decompressed as a receiver hands them over.
 *
 *   1. decode → translate (dedup caches committed after each request, as the collector does);
 *   2. the collector's ingest pipeline (admission control → decode → translate → write queue → the embedded
 *      DuckDB store, a fresh file), with one request in flight per host (a fleet of N agents has up to N exports
 *      outstanding, since an agent sends one at a time), so the store group-commits as it does in service.
 *      A request's latency runs from handing it to the pipeline to its answer (waiting for admission included).
 *
 * Phase 2 runs in a fresh child process started with the Node flags Uniprof's launchers use
 * (scripts/package/node-flags.ts), so its peak RSS is the collector's and not the generator's: it reads
 * each request's body from a file when it sends it (as a receiver hands a body over) and lets it go once
 * answered. Three passes:
 *   - cold: a fleet arriving at a fresh collector, every stack trace, frame and executable new;
 *   - settling: the first pass of the steady workload (it also pays for DuckDB checkpointing the cold pass's
 *     data and for compiling the store's steady-state path);
 *   - steady: the timed figure, as a collector that has been running for a while.
 *
 * "Per core" divides by the CPU time the whole process used (all threads, DuckDB's included), so the figure
 * does not flatter a run that spreads over several cores; only acknowledged samples count (the bench waits for
 * admission however long it takes, so none should fail). Knobs (environment): UNIPROF_BENCH_INGEST_SAMPLES
 * (samples per phase, default 1,000,000), UNIPROF_BENCH_INGEST_REQUEST_SAMPLES (per request, default 800: an
 * 8-core host at 20 Hz over the agent's 5 s interval), UNIPROF_BENCH_INGEST_HOSTS (default 100),
 * UNIPROF_BENCH_INGEST_ADMISSION_ITEMS (admission control's budget; a huge value turns it off, for comparison).
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { AdmissionGate, DEFAULT_ADMISSION_OPTIONS } from '../src/collector/admission.ts';
import { createAgentAuthenticator } from '../src/collector/auth.ts';
import { IngestPipeline } from '../src/collector/ingest.ts';
import { CollectorMetrics } from '../src/collector/metrics.ts';
import { resolveCollectorOptions } from '../src/collector/options.ts';
import { ProfileTranslator } from '../src/collector/translate.ts';
import { WriteQueue } from '../src/collector/write-queue.ts';
import { Workload, latencySummary, nanosFromMillis } from '../src/loadgen/index.ts';
import { decodeExportRequest, decodeExportRequestView, encodeExportRequest } from '../src/protocol/index.ts';
import { EmbeddedStore } from '../src/store/embedded/index.ts';
import { NODE_FLAGS } from '../scripts/package/node-flags.ts';
import { runChild } from './child.ts';

const TOTAL_SAMPLES = Number(process.env.UNIPROF_BENCH_INGEST_SAMPLES ?? 1_000_000);
const REQUEST_SAMPLES = Number(process.env.UNIPROF_BENCH_INGEST_REQUEST_SAMPLES ?? 800);
const HOSTS = Number(process.env.UNIPROF_BENCH_INGEST_HOSTS ?? 100);
/** Admission control's budget of new items in flight (the collector's default unless set). */
const ADMISSION_ITEMS = Number(
  process.env.UNIPROF_BENCH_INGEST_ADMISSION_ITEMS ?? DEFAULT_ADMISSION_OPTIONS.maxNewItemsInFlight,
);
const DISTINCT_REQUESTS = 300;
/** One outstanding export per agent: the agent waits for each answer before it sends the next. */
const WRITES_IN_FLIGHT = HOSTS;
const START_MS = Date.parse('2026-11-25T00:00:00Z');

interface Payload {
  bytes: Uint8Array;
  samples: number;
}

function payloads(): { list: Payload[]; shape: string } {
  const workload = new Workload({ seed: 42, hosts: HOSTS });
  const list: Payload[] = [];
  let bytes = 0;
  let samples = 0;
  let stacks = 0;
  let locations = 0;
  for (let i = 0; i < DISTINCT_REQUESTS; i++) {
    // Consecutive reporting intervals: the same hosts come back with their hot stacks, as in a real fleet.
    const end = nanosFromMillis(START_MS + Math.floor(i / HOSTS) * 5000 + 5000);
    const generated = workload.next(end, REQUEST_SAMPLES);
    const encoded = encodeExportRequest(generated.request);
    list.push({ bytes: encoded, samples: generated.samples });
    const view = decodeExportRequestView(encoded);
    bytes += encoded.length;
    samples += generated.samples;
    stacks += view.dictionary.stackCount - 1;
    locations += view.dictionary.locationCount - 1;
  }
  const shape =
    `${DISTINCT_REQUESTS} distinct requests from ${HOSTS} hosts, ${REQUEST_SAMPLES} samples each; per sample: ` +
    `${(bytes / samples).toFixed(0)} bytes, ${(stacks / samples).toFixed(2)} distinct stacks, ` +
    `${(locations / samples).toFixed(1)} locations`;
  return { list, shape };
}

interface Measurement {
  samples: number;
  wallSeconds: number;
  cpuSeconds: number;
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function report(name: string, m: Measurement): void {
  const perCore = m.samples / m.cpuSeconds;
  const wall = m.samples / m.wallSeconds;
  console.log(
    `${name.padEnd(34)} ${Math.round(perCore).toLocaleString('en-US').padStart(10)} samples/s per core` +
      `   (${Math.round(wall).toLocaleString('en-US')} samples/s wall, ${m.samples.toLocaleString('en-US')} samples,` +
      ` ${m.cpuSeconds.toFixed(1)} s CPU over ${m.wallSeconds.toFixed(1)} s)`,
  );
}

function decodeAndTranslate(list: Payload[]): Measurement {
  const translator = new ProfileTranslator();
  const now = Math.floor(START_MS / 1000);
  // Untimed: one pass over every distinct request, so caches and optimized code are in place.
  for (const payload of list) translator.translate(decodeExportRequest(payload.bytes), { now }).commit();
  const limit = TOTAL_SAMPLES;
  let samples = 0;
  let i = 0;
  const cpu0 = cpuSeconds();
  const wall0 = performance.now();
  while (samples < limit) {
    const payload = list[i++ % list.length];
    const translation = translator.translate(decodeExportRequest(payload.bytes), { now });
    translation.commit();
    samples += translation.samples;
  }
  return { samples, wallSeconds: (performance.now() - wall0) / 1000, cpuSeconds: cpuSeconds() - cpu0 };
}

interface StorePass extends Measurement {
  requests: number;
  failed: number;
  events: number;
  commits: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Why the first failed request failed. */
  firstFailure?: string;
  /** The child's peak RSS at the end of this pass (MiB). */
  peakRssMiB: number;
}

interface StorePhase {
  cold: StorePass;
  settling: StorePass;
  steady: StorePass;
  rssAfterMiB: number;
}

/** Phase 2, in the child: the collector's pipeline in front of a fresh embedded store. */
async function storePhase(payloadFile: string): Promise<StorePhase> {
  const { fd, list } = indexPayloads(payloadFile);
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-ingest-'));
  const store = new EmbeddedStore({ path: join(dir, 'bench.duckdb') });
  await store.open();
  try {
    const options = resolveCollectorOptions({
      auth: { disabled: true },
      writeQueue: { maxPendingRequests: WRITES_IN_FLIGHT },
      // Measured without shedding load on time: the figures must not depend on how busy the machine is.
      admission: { maxWaitMs: 3_600_000, maxNewItemsInFlight: ADMISSION_ITEMS },
    });
    const metrics = new CollectorMetrics({ processMetrics: false });
    const pipeline = new IngestPipeline({
      auth: createAgentAuthenticator(options.auth),
      translator: new ProfileTranslator(),
      admission: new AdmissionGate(options.admission),
      queue: new WriteQueue(store, options.writeQueue.maxPendingRequests),
      metrics,
      logger: pino({ level: 'silent' }),
    });
    const run = async (limit: number): Promise<StorePass> => {
      let samples = 0;
      let requests = 0;
      let failed = 0;
      let i = 0;
      const events0 = (await metrics.events.get()).values[0]?.value ?? 0;
      const commits0 = store.commits;
      const latencies: number[] = [];
      const inFlight = new Set<Promise<void>>();
      const cpu0 = cpuSeconds();
      const wall0 = performance.now();
      let sent = 0;
      let firstFailure: string | undefined;
      while (sent < limit) {
        const payload = list[i++ % list.length];
        sent += payload.samples;
        requests++;
        const startedAt = performance.now();
        const call = pipeline
          .handle({
            transport: 'grpc',
            body: payloadBody(fd, payload),
            format: 'protobuf',
            authorization: undefined,
            startedAt,
          })
          .then((result) => {
            latencies.push(performance.now() - startedAt);
            if (result.ok) samples += payload.samples;
            else {
              failed++;
              firstFailure ??= result.failure.message;
            }
          });
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
        if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      const wallSeconds = (performance.now() - wall0) / 1000;
      const cpu = cpuSeconds() - cpu0;
      return {
        samples,
        requests,
        failed,
        events: ((await metrics.events.get()).values[0]?.value ?? 0) - events0,
        commits: store.commits - commits0,
        wallSeconds,
        cpuSeconds: cpu,
        latencyMs: latencySummary(latencies),
        peakRssMiB: process.resourceUsage().maxRSS / 1024,
        firstFailure,
      };
    };
    const cold = await run(list.length * REQUEST_SAMPLES);
    const settling = await run(list.length * REQUEST_SAMPLES);
    const steady = await run(TOTAL_SAMPLES);
    return { cold, settling, steady, rssAfterMiB: process.memoryUsage().rss / 1048576 };
  } finally {
    closeSync(fd);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Payloads as a file the child reads: per payload, its sample count and byte length (u32 each), then its bytes. */
function writePayloads(list: Payload[], file: string): void {
  const parts: Buffer[] = [];
  for (const payload of list) {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(payload.samples, 0);
    head.writeUInt32LE(payload.bytes.length, 4);
    parts.push(head, Buffer.from(payload.bytes));
  }
  writeFileSync(file, Buffer.concat(parts));
}

/** Where each payload lies in the file, so the child reads a request's body only when it sends it. */
interface StoredPayload {
  offset: number;
  length: number;
  samples: number;
}

function indexPayloads(file: string): { fd: number; list: StoredPayload[] } {
  const fd = openSync(file, 'r');
  const size = fstatSync(fd).size;
  const head = Buffer.alloc(8);
  const list: StoredPayload[] = [];
  for (let at = 0; at < size;) {
    readSync(fd, head, 0, 8, at);
    const length = head.readUInt32LE(4);
    list.push({ offset: at + 8, length, samples: head.readUInt32LE(0) });
    at += 8 + length;
  }
  return { fd, list };
}

/** A request's body, read from the file as a receiver would hand it over: held only while it is in flight. */
function payloadBody(fd: number, payload: StoredPayload): Uint8Array {
  const body = new Uint8Array(payload.length);
  readSync(fd, body, 0, payload.length, payload.offset);
  return body;
}

function reportPass(name: string, pass: StorePass): void {
  report(name, pass);
  const failed = pass.failed > 0 ? `, ${pass.failed} FAILED: ${pass.firstFailure}` : '';
  console.log(
    `${''.padEnd(36)}requests: p50 ${pass.latencyMs.p50.toFixed(0)} ms, p99 ${pass.latencyMs.p99.toFixed(0)} ms, ` +
      `max ${pass.latencyMs.max.toFixed(0)} ms (${pass.requests} requests${failed}); ` +
      `${pass.commits} transactions; peak RSS so far ${pass.peakRssMiB.toFixed(0)} MiB`,
  );
}

async function main(): Promise<void> {
  console.log('ingest: decode → translate → store, on load-generator payloads (decompressed)');
  const { list, shape } = payloads();
  console.log(`payload: ${shape}`);
  const translated = decodeAndTranslate(list);
  report('decode → translate', translated);
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-payloads-'));
  try {
    const file = join(dir, 'payloads.bin');
    writePayloads(list, file);
    const phase = runChild<StorePhase>(
      fileURLToPath(import.meta.url),
      ['--store-phase', file],
      'the store phase',
      NODE_FLAGS,
    );
    reportPass('pipeline → embedded store (steady)', phase.steady);
    reportPass('  cold: first pass, fresh store', phase.cold);
    reportPass('  settling: second pass', phase.settling);
    console.log(
      `events written in the timed part: ${phase.steady.events.toLocaleString('en-US')} in ` +
        `${phase.steady.commits.toLocaleString('en-US')} transactions`,
    );
    console.log(
      `store phase RSS: peak ${phase.steady.peakRssMiB.toFixed(0)} MiB (${phase.cold.peakRssMiB.toFixed(0)} MiB by the ` +
        `end of the cold pass), ${phase.rssAfterMiB.toFixed(0)} MiB after the timed part`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    'targets: 250,000 samples/s per core steady; cold ≥ 100,000 samples/s per core, p99 < 1 s, peak RSS ≤ 512 MiB',
  );
}

if (process.argv[2] === '--store-phase') {
  console.log(JSON.stringify(await storePhase(process.argv[3])));
} else {
  await main();
}
