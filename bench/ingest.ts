/**
 * `npm run bench:ingest`: samples per second per core and peak RSS for the collector's ingest path, on
 * requests from the load generator (agent-shaped: deep mixed stacks, Zipf popularity, the agent's
 * attributes), already decompressed as a receiver hands them over.
 *
 *   1. decode → translate (dedup caches committed after each request, as the collector does);
 *   2. decode → translate → write into the embedded DuckDB store (a fresh file), with one write in flight per
 *      host (a fleet of N agents has up to N exports outstanding, since an agent sends one at a time), so the
 *      store group-commits as it does in service; commit() only once a write is durable.
 *
 * Both are measured in steady state, as a collector that has been running for a while is: one untimed pass
 * over all distinct requests first (so the fleet's stack traces, frames and executables are known and stored),
 * then the timed samples. Phase 2 warms up with two passes: the first ("cold") writes the fleet's stack traces
 * and frames into the fresh store; the second ("settling") is the first pass of the steady workload, which
 * also pays for DuckDB checkpointing the cold pass's data and for compiling the store's steady-state path.
 * Both are reported, untimed by the steady figure.
 *
 * "Per core" divides by the CPU time the whole process used (all threads, DuckDB's included), so the figure
 * does not flatter a run that spreads over several cores. Knobs (environment): UNIPROF_BENCH_INGEST_SAMPLES
 * (samples per phase, default 1,000,000), UNIPROF_BENCH_INGEST_REQUEST_SAMPLES (per request, default 800: an
 * 8-core host at 20 Hz over the agent's 5 s interval), UNIPROF_BENCH_INGEST_HOSTS (default 100).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProfileTranslator } from '../src/collector/translate.ts';
import { Workload, nanosFromMillis } from '../src/loadgen/index.ts';
import { decodeExportRequest, decodeExportRequestView, encodeExportRequest } from '../src/protocol/index.ts';
import { eventCount } from '../src/model/index.ts';
import { EmbeddedStore } from '../src/store/embedded/index.ts';

const TOTAL_SAMPLES = Number(process.env.UNIPROF_BENCH_INGEST_SAMPLES ?? 1_000_000);
const REQUEST_SAMPLES = Number(process.env.UNIPROF_BENCH_INGEST_REQUEST_SAMPLES ?? 800);
const HOSTS = Number(process.env.UNIPROF_BENCH_INGEST_HOSTS ?? 100);
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

let coldPeakMiB = 0;

async function decodeTranslateStore(list: Payload[]): Promise<{
  cold: Measurement;
  settling: Measurement;
  steady: Measurement & { events: number; commits: number };
}> {
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-ingest-'));
  const store = new EmbeddedStore({ path: join(dir, 'bench.duckdb') });
  await store.open();
  try {
    const translator = new ProfileTranslator();
    const now = Math.floor(START_MS / 1000);
    const run = async (limit: number) => {
      let samples = 0;
      let events = 0;
      let i = 0;
      const commits0 = store.commits;
      const inFlight = new Set<Promise<void>>();
      const cpu0 = cpuSeconds();
      const wall0 = performance.now();
      while (samples < limit) {
        const payload = list[i++ % list.length];
        const translation = translator.translate(decodeExportRequest(payload.bytes), { now });
        samples += translation.samples;
        events += eventCount(translation.batch);
        const write = store.write(translation.batch).then(() => translation.commit());
        inFlight.add(write);
        void write.finally(() => inFlight.delete(write));
        if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      return {
        samples,
        events,
        commits: store.commits - commits0,
        wallSeconds: (performance.now() - wall0) / 1000,
        cpuSeconds: cpuSeconds() - cpu0,
      };
    };
    const cold = await run(list.length * REQUEST_SAMPLES);
    coldPeakMiB = process.resourceUsage().maxRSS / 1024;
    const settling = await run(list.length * REQUEST_SAMPLES);
    const steady = await run(TOTAL_SAMPLES);
    return { cold, settling, steady };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log('ingest: decode → translate → store, on load-generator payloads (decompressed)');
  const { list, shape } = payloads();
  console.log(`payload: ${shape}`);
  const translated = decodeAndTranslate(list);
  report('decode → translate', translated);
  const { cold, settling, steady } = await decodeTranslateStore(list);
  report('decode → translate → embedded store', steady);
  report('  (cold: first pass, fresh store)', cold);
  report('  (settling: second pass)', settling);
  console.log(
    `events written in the timed part: ${steady.events.toLocaleString('en-US')} in ${steady.commits.toLocaleString('en-US')} transactions`,
  );
  console.log(
    `RSS: ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB after the timed part; peak ` +
      `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (${coldPeakMiB.toFixed(0)} MiB already during the ` +
      `cold pass, which has a fleet's worth of new stack traces and frames in flight at once)`,
  );
  console.log('target: 250,000 samples/s per core into the embedded store');
}

await main();
