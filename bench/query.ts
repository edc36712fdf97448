/**
 * `npm run bench:query`: flamegraph, top-N and sandwich (callers/callees) latency over the embedded store with 1 M and 10 M events, next to
 * "the floor": the same per-stack aggregation (events grouped by stack, joined with the stacks' frame lists)
 * as one raw SQL statement on the same DuckDB file and the same downsampling level. Everything above the floor
 * is the query layer's work (frame lookup, inline expansion, tree building, response building).
 *
 * Data sets are generated once and kept under $UNIPROF_CACHE/bench-query/. Sizes can be chosen with
 * UNIPROF_BENCH_QUERY_SIZES=1000000,10000000 (the default).
 *
 * A second part queries a fleet's store: what the load generator's 100 hosts send (800 samples every 5 s each,
 * native frames without symbols at many addresses, as a fleet without debug files has them), translated and
 * written as the collector does, UNIPROF_BENCH_QUERY_FLEET_SAMPLES samples (default 1,440,000, 90 s of that
 * fleet; 0 leaves the part out). A server's query layer keeps what it expanded for the next query: the part
 * prints the first whole-range flamegraph, the heap the query layer keeps after it, one after the 2 s that
 * misses are remembered (every frame without symbols looked up again), and one at once after that.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DuckDBInstance } from '@duckdb/node-api';
import { ProfileTranslator } from '../src/collector/translate.ts';
import { Workload, nanosFromMillis } from '../src/loadgen/index.ts';
import { decodeExportRequest, encodeExportRequest } from '../src/protocol/index.ts';
import {
  FrameType,
  emptyBatch,
  frameId,
  seededRandom,
  stackTraceId,
  type FrameRef,
  type ProfileBatch,
  type ProfilingEvent,
} from '../src/model/index.ts';
import { ProfilingQueries } from '../src/query/index.ts';
import { EmbeddedStore } from '../src/store/embedded/index.ts';
import { SCHEMA_VERSION, eventsTable } from '../src/store/embedded/schema.ts';

const START = 1_760_000_000;
const SPAN_SECONDS = 3600;
const STACKS = 5000;
const HOSTS = 100;
const WRITE_CHUNK = 250_000;
const REPEATS = 5;

const cacheDir = join(process.env.UNIPROF_CACHE ?? join(homedir(), '.cache', 'uniprof'), 'bench-query');
const sizes = (process.env.UNIPROF_BENCH_QUERY_SIZES ?? '1000000,10000000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);

/** A fleet-like set of stacks: a shared call tree (deep, mixed native/kernel/Python), Zipf-popular. */
function stackSet(): { batch: ProfileBatch; ids: string[]; cdf: Float64Array } {
  const random = seededRandom(42);
  const batch = emptyBatch();
  const files = {
    app: Buffer.alloc(16, 0x11).toString('base64url'),
    libc: Buffer.alloc(16, 0x12).toString('base64url'),
    kernel: Buffer.alloc(16, 0x13).toString('base64url'),
    python: Buffer.alloc(16, 0x14).toString('base64url'),
  };
  batch.executables = [
    { fileId: files.app, fileName: 'server', lastSeen: START },
    { fileId: files.libc, fileName: 'libc.so.6', lastSeen: START },
    { fileId: files.kernel, fileName: 'vmlinux', lastSeen: START },
  ];
  const known = new Set<string>();
  const frame = (file: string, address: number, type: number, name: string | undefined, inline?: string) => {
    const ref: FrameRef = { fileId: file, addressOrLine: BigInt(address) };
    const id = frameId(ref.fileId, ref.addressOrLine);
    if (!known.has(id) && name !== undefined) {
      known.add(id);
      batch.stackFrames.push({
        frameId: id,
        functionNames: inline ? [inline, name] : [name],
        fileNames: inline ? ['inline.h', `${name}.c`] : [`${name}.c`],
        lineNumbers: inline ? [7, 100] : [100],
        functionOffsets: inline ? [0, 0] : [0],
      });
    }
    return { ref, type };
  };
  const ids: string[] = [];
  const seen = new Set<string>();
  for (let s = 0; s < STACKS; s++) {
    const rootFirst: { ref: FrameRef; type: number }[] = [];
    const python = random() < 0.3;
    const depth = 10 + Math.floor(random() * 30);
    for (let d = 0; d < depth; d++) {
      const fanout = d < 4 ? 3 : 12;
      const child = Math.floor(random() * fanout);
      if (python && d > 2) {
        rootFirst.push(frame(files.python, d * 100 + child, FrameType.Python, `py_fn_${d}_${child}`));
      } else {
        const address = 0x400000 + d * 0x1000 + child * 0x40;
        // A fifth of native frames are not symbolized yet; some carry an inline chain.
        const name = (d + child) % 5 === 0 ? undefined : `native_fn_${d}_${child}`;
        const inline = child === 1 ? `inlined_${d}` : undefined;
        rootFirst.push(frame(files.app, address, FrameType.Native, name, inline));
      }
    }
    rootFirst.push(frame(files.libc, 0x9000 + Math.floor(random() * 8) * 0x10, FrameType.Native, undefined));
    if (random() < 0.4)
      rootFirst.push(frame(files.kernel, 0xffff0000 + (s % 16), FrameType.Kernel, `sys_${s % 16}`));
    const leafFirst = rootFirst.reverse();
    const id = stackTraceId(leafFirst.map((f) => f.ref));
    if (seen.has(id)) continue;
    seen.add(id);
    ids.push(id);
    batch.stackTraces.push({
      id,
      frameIds: leafFirst.map((f) => frameId(f.ref.fileId, f.ref.addressOrLine)),
      frameTypes: leafFirst.map((f) => f.type),
    });
  }
  const cdf = new Float64Array(ids.length);
  let sum = 0;
  for (let i = 0; i < ids.length; i++) cdf[i] = sum += 1 / (i + 1) ** 1.1;
  for (let i = 0; i < ids.length; i++) cdf[i] /= sum;
  batch.hosts = Array.from({ length: HOSTS }, (_, h) => ({
    hostId: `host-${h}`,
    hostName: `host-${h}`,
    timestamp: START,
    arch: h % 4 === 0 ? 'arm64' : 'amd64',
    projectId: 1,
    attributes: {},
  }));
  return { batch, ids, cdf };
}

function pick(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A store file under the cache directory, written by `fill` the first time. A data set of an older schema
 * cannot be opened by this store, so the version is part of its name; an empty marker says it was written
 * completely (an interrupted run starts over).
 */
async function cachedStore(
  name: string,
  what: string,
  fill: (store: EmbeddedStore) => Promise<void>,
): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const path = join(cacheDir, `${name}-v${SCHEMA_VERSION}.duckdb`);
  const done = `${path}.complete`;
  if (existsSync(path) && existsSync(done)) return path;
  rmSync(path, { force: true });
  rmSync(`${path}.wal`, { force: true });
  console.log(`writing ${what} into ${path} (once)…`);
  const started = performance.now();
  const store = new EmbeddedStore({ path, seed: 1 });
  await store.open();
  await fill(store);
  await store.close();
  writeFileSync(done, '');
  console.log(`  written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return path;
}

function ensureDataset(events: number): Promise<string> {
  return cachedStore(`events-${events}`, `${events.toLocaleString('en-US')} events`, (store) =>
    writeEvents(store, events),
  );
}

async function writeEvents(store: EmbeddedStore, events: number): Promise<void> {
  const { batch: stacks, ids, cdf } = stackSet();
  const random = seededRandom(7);
  let first = true;
  for (let written = 0; written < events; written += WRITE_CHUNK) {
    const batch = first ? stacks : emptyBatch();
    first = false;
    const chunk: ProfilingEvent[] = [];
    for (let i = written; i < Math.min(events, written + WRITE_CHUNK); i++) {
      const host = i % HOSTS;
      chunk.push({
        timestamp: START + Math.floor((i / events) * SPAN_SECONDS),
        stackTraceId: ids[pick(cdf, random())],
        count: 1,
        hostId: `host-${host}`,
        hostName: `host-${host}`,
        threadName: `worker-${i % 7}`,
        processName: 'server',
        containerName: `c-${host % 20}`,
        tags: [],
        projectId: 1,
      });
    }
    batch.events = chunk;
    await store.write(batch);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function time(run: () => Promise<unknown>): Promise<{ first: number; warm: number }> {
  let started = performance.now();
  await run();
  const first = performance.now() - started;
  const warm: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    started = performance.now();
    await run();
    warm.push(performance.now() - started);
  }
  return { first, warm: median(warm) };
}

interface Row {
  events: number;
  level: string;
  eventsRead: number;
  nodes: number;
  flamegraph: { first: number; warm: number };
  topN: { first: number; warm: number };
  /** Samples over time by thread (the chart above the views): 100 buckets, 8 groups. */
  timeline: number;
  /** Callers and callees of the function with the most self samples (warm). */
  sandwich: number;
  floor?: number;
  samplingLevel: number;
}

async function measure(events: number, path: string): Promise<Row[]> {
  const store = new EmbeddedStore({ path });
  await store.open();
  const rows: Row[] = [];
  const range = { from: START, to: START + SPAN_SECONDS };
  for (const level of [undefined, 0]) {
    const queries = new ProfilingQueries(store);
    const query = { ...range, samplingLevel: level };
    const graph = await queries.flamegraph(query);
    const fresh = () => new ProfilingQueries(store);
    // "first" is a cold query layer (no cached stacks); "warm" repeats on one instance, as a server does.
    const coldFlame = await time(() => fresh().flamegraph(query));
    const warmFlame = await time(() => queries.flamegraph(query));
    const coldTop = await time(() => fresh().topN(query, 1000));
    const warmTop = await time(() => queries.topN(query, 1000));
    const overTime = await time(() =>
      queries.timeline(query, { groupBy: 'process.thread.name', maxBuckets: 100, topGroups: 8 }),
    );
    // The sandwich a user opens first: the function with the most self samples, from the top-N list.
    const hottest = (await queries.topN(query, 1)).topn[0].id;
    const sandwich = await time(() => queries.sandwich(query, hottest));
    rows.push({
      events,
      level: level === undefined ? 'auto' : String(level),
      samplingLevel: graph.sampling.samplingLevel,
      eventsRead: graph.sampling.eventsRead,
      nodes: graph.size,
      flamegraph: { first: coldFlame.warm, warm: warmFlame.warm },
      topN: { first: coldTop.warm, warm: warmTop.warm },
      timeline: overTime.warm,
      sandwich: sandwich.warm,
    });
  }
  await store.close();
  // The floor, on the same file, read-only, with nothing else open on it.
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  for (const row of rows) {
    // Events name their stack by number; stack_numbers maps it to the ID stacktraces is keyed by.
    const sql = `SELECT n.id, a.n, s.frame_ids AS frames
                   FROM (SELECT e.stack_no, sum(e.count)::BIGINT AS n FROM ${eventsTable(row.samplingLevel)} e
                          WHERE e.ts >= ${range.from} AND e.ts < ${range.to} GROUP BY e.stack_no) a
                   JOIN stack_numbers n ON n.no = a.stack_no JOIN stacktraces s ON s.id = n.id`;
    const result = await time(async () => (await connection.runAndReadAll(sql)).getRows());
    row.floor = result.warm;
  }
  connection.closeSync();
  instance.closeSync();
  return rows;
}

function ms(value: number): string {
  return `${value.toFixed(0).padStart(6)} ms`;
}

async function main(): Promise<void> {
  console.log(
    'query benchmark: embedded store, flamegraph, top-N, timeline and sandwich over the whole range, median of 5',
  );
  console.log(
    '  cold = new query layer each time (no cached stacks/frames); warm = repeated on one instance',
  );
  console.log('  floor = one SQL statement: events grouped by stack joined with frame lists, same level\n');
  const all: Row[] = [];
  for (const events of sizes) all.push(...(await measure(events, await ensureDataset(events))));
  const header = `${'events'.padStart(11)} ${'level'.padStart(9)} ${'read'.padStart(9)} ${'nodes'.padStart(7)} ${'flame cold'.padStart(10)} ${'flame warm'.padStart(10)} ${'topN cold'.padStart(10)} ${'topN warm'.padStart(10)} ${'timeline'.padStart(10)} ${'sandwich'.padStart(10)} ${'floor'.padStart(10)} ${'cold/floor'.padStart(10)} ${'warm/floor'.padStart(10)}`;
  console.log(header);
  for (const row of all) {
    const ratio = row.floor ? (row.flamegraph.warm / row.floor).toFixed(2) : '-';
    const coldRatio = row.floor ? (row.flamegraph.first / row.floor).toFixed(2) : '-';
    console.log(
      `${row.events.toLocaleString('en-US').padStart(11)} ${`${row.level}→${row.samplingLevel}`.padStart(9)} ${row.eventsRead
        .toLocaleString('en-US')
        .padStart(
          9,
        )} ${String(row.nodes).padStart(7)} ${ms(row.flamegraph.first).padStart(10)} ${ms(row.flamegraph.warm).padStart(10)} ${ms(
        row.topN.first,
      ).padStart(
        10,
      )} ${ms(row.topN.warm).padStart(10)} ${ms(row.timeline).padStart(10)} ${ms(row.sandwich).padStart(10)} ${ms(row.floor ?? 0).padStart(10)} ${coldRatio.padStart(10)} ${ratio.padStart(10)}`,
    );
  }
}

const FLEET_HOSTS = 100;
const FLEET_REQUEST_SAMPLES = 800;
const FLEET_INTERVAL_SECONDS = 5;
const fleetSamples = Number(process.env.UNIPROF_BENCH_QUERY_FLEET_SAMPLES ?? 1_440_000);

/** The load generator's fleet, translated and written as the collector does; the range it covers. */
async function ensureFleetStore(samples: number): Promise<{ path: string; to: number }> {
  const rounds = Math.ceil(samples / (FLEET_HOSTS * FLEET_REQUEST_SAMPLES));
  const to = START + (rounds + 1) * FLEET_INTERVAL_SECONDS;
  const path = await cachedStore(
    `fleet-${samples}`,
    `${rounds} rounds of ${FLEET_HOSTS} hosts' requests`,
    async (store) => {
      const workload = new Workload({ seed: 42, hosts: FLEET_HOSTS });
      const translator = new ProfileTranslator();
      for (let i = 0; i < rounds * FLEET_HOSTS; i++) {
        const endSeconds = START + (Math.floor(i / FLEET_HOSTS) + 1) * FLEET_INTERVAL_SECONDS;
        const generated = workload.next(nanosFromMillis(endSeconds * 1000), FLEET_REQUEST_SAMPLES);
        const request = decodeExportRequest(encodeExportRequest(generated.request));
        const translation = translator.translate(request, { now: endSeconds });
        await store.write(translation.batch);
        translation.commit();
      }
    },
  );
  return { path, to };
}

/** Node's collector, reached without starting the process with --expose-gc. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function measureFleet(samples: number): Promise<void> {
  const { path, to } = await ensureFleetStore(samples);
  const gc = collector();
  const heapMb = () => {
    gc();
    return process.memoryUsage().heapUsed / 1048576;
  };
  const store = new EmbeddedStore({ path });
  await store.open();
  const query = { from: START, to };
  const queries = new ProfilingQueries(store);
  const before = heapMb();
  let started = performance.now();
  // Only the size is kept: the response itself must not count as what the query layer keeps.
  const nodes = (await queries.flamegraph(query)).size;
  const first = performance.now() - started;
  const kept = heapMb() - before;
  // Past the 2 s a miss is remembered: every frame still without symbols is looked up again.
  await sleep(2_100);
  started = performance.now();
  await queries.flamegraph(query);
  const expired = performance.now() - started;
  // At once after it, within those 2 s: what a second view of the same range costs.
  started = performance.now();
  await queries.flamegraph(query);
  const repeat = performance.now() - started;
  await store.close();
  console.log(
    `\nfleet store: ${samples.toLocaleString('en-US')} samples from ${FLEET_HOSTS} load-generator hosts, ` +
      `whole-range flamegraph of ${nodes.toLocaleString('en-US')} nodes`,
  );
  console.log(
    `  first ${ms(first)}, the query layer then keeping ${kept.toFixed(0)} MB of heap; once misses expired ` +
      `${ms(expired)}; again at once ${ms(repeat)}`,
  );
}

await main();
if (fleetSamples > 0) await measureFleet(fleetSamples);
