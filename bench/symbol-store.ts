/**
 * `node --import tsx bench/symbol-store.ts`: the embedded store's symbolization side on a fresh file.
 *
 *   1. putSymbols of one file's ranges (functions with nested inlined calls and line tables), in chunks of
 *      10,000 as a symbolizer yields them: ranges/s and the process's peak RSS growth;
 *   2. symbolRanges for 5,000 addresses: cold (loads the file), warm (cached), and through SQL (a store whose
 *      cache is smaller than the file);
 *   3. the ingest cost of queueing: writes of batches with 200 new pending frames each, against the same
 *      writes without pending frames (CPU time per write, whole process).
 *
 * Then the same on Elasticsearch (`ElasticsearchSymbolization`, the test peer unless UNIPROF_BENCH_ES_URL
 * (+ _USERNAME / _PASSWORD / _CA) names a cluster): putSymbols; symbolRanges for 5,000 addresses (first and
 * second call), for 20,000, and for 50 (a worker answering a trickle of new frames), each checked against the
 * ranges the generator made; backlog() three times; putReturnPads of 3,000 pads (a call every 64 bytes on
 * average, chains of 1–4 frames) for a file without pads, again for the same file, and returnPads of all of
 * them (checked).
 *
 * Knobs (environment): UNIPROF_BENCH_SYMBOL_RANGES (ranges uploaded, default 500,000),
 * UNIPROF_BENCH_ES_SYMBOL_RANGES (on Elasticsearch, default 90,000), UNIPROF_BENCH_SYMBOL_STORES (which
 * stores, default `embedded,elasticsearch`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  emptyBatch,
  type ReturnPad,
  fileIdFromHex,
  frameId,
  seededRandom,
  type PendingFrame,
  type SymbolRange,
} from '../src/model/index.ts';
import { EmbeddedStore } from '../src/store/embedded/index.ts';
import { ElasticsearchStore } from '../src/store/elasticsearch/index.ts';
import { startElasticsearch } from '../test/peers/elasticsearch.ts';

const RANGES = Number(process.env.UNIPROF_BENCH_SYMBOL_RANGES ?? 500_000);
const ES_RANGES = Number(process.env.UNIPROF_BENCH_ES_SYMBOL_RANGES ?? 90_000);
const STORES = (process.env.UNIPROF_BENCH_SYMBOL_STORES ?? 'embedded,elasticsearch').split(',');
const LOOKUPS = 5000;
const PADS = 3000;
const FILE = fileIdFromHex('00112233445566778899aabbccddeeff');
const BASE = 0x40_0000;

/** About 3 ranges per function (one inlined call holding another), 6 line entries each. */
function* ranges(total = RANGES): Generator<SymbolRange[]> {
  let chunk: SymbolRange[] = [];
  const lineTable = (size: number) => {
    const lineOffsets = Array.from({ length: 6 }, (_, i) => Math.floor((i * size) / 6));
    return { lineOffsets, lines: lineOffsets.map((o) => 100 + o) };
  };
  for (let i = 0, produced = 0; produced < total; i++) {
    const start = BASE + i * 256;
    const file = `/usr/src/project/module${i % 300}/file${i % 7}.cc`;
    const base = { functionLine: 90, fileName: file, callFileName: '', callLine: 0 };
    chunk.push({
      ...base,
      start,
      end: start + 240,
      depth: 0,
      functionName: `ns::Class${i}::method(int)`,
      ...lineTable(240),
    });
    chunk.push({
      ...base,
      start: start + 16,
      end: start + 112,
      depth: 1,
      functionName: `inlined_helper${i % 1000}`,
      callFileName: file,
      callLine: 120,
      ...lineTable(96),
    });
    chunk.push({
      ...base,
      start: start + 32,
      end: start + 64,
      depth: 2,
      functionName: `std::vector<int>::size() const`,
      callFileName: '/usr/include/c++/vector',
      callLine: 300,
      ...lineTable(32),
    });
    produced += 3;
    if (chunk.length >= 10_000) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** Pads as a compiled file has them: a call every 8–128 bytes, chains of 1–4 frames. */
function benchPads(count: number): ReturnPad[] {
  const random = seededRandom(4);
  const pads: ReturnPad[] = [];
  let address = BASE;
  for (let i = 0; i < count; i++) {
    address += 8 + Math.floor(random() * 120);
    const depth = 1 + Math.floor(random() * 4);
    pads.push({
      address,
      frames: Array.from({ length: depth }, (_, d) => ({
        functionName:
          d === depth - 1 ? `ns::Class${i % 700}::method(int)` : `inlined_helper${(i + d) % 1000}`,
        fileName: `/usr/src/project/module${i % 300}/file${d}.cc`,
        line: 100 + ((i * 7 + d) % 900),
        startLine: 90,
      })),
    });
  }
  return pads;
}

async function* padChunks(pads: readonly ReturnPad[]): AsyncIterable<readonly ReturnPad[]> {
  for (let i = 0; i < pads.length; i += 1024) yield pads.slice(i, i + 1024);
}

async function* asyncRanges(total = RANGES): AsyncIterable<readonly SymbolRange[]> {
  yield* ranges(total);
}

/** How many ranges the generator made contain `address` (function i at BASE + 256·i, see ranges()). */
function expectedDepths(address: number, total: number): number {
  const offset = (address - BASE) % 256;
  const first = Math.floor((address - BASE) / 256) * 3;
  let depths = 0;
  if (offset < 240 && first < total) depths++;
  if (offset >= 16 && offset < 112 && first + 1 < total) depths++;
  if (offset >= 32 && offset < 64 && first + 2 < total) depths++;
  return depths;
}

function check(found: Map<number, SymbolRange[]>, addresses: readonly number[], total: number): void {
  for (const address of new Set(addresses)) {
    const want = expectedDepths(address, total);
    const got = found.get(address)?.length ?? 0;
    if (got !== want) throw new Error(`0x${address.toString(16)}: ${got} ranges, expected ${want}`);
  }
}

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

async function timed<T>(
  label: string,
  run: () => Promise<T>,
  per?: { count: number; unit: string },
): Promise<T> {
  const wall = performance.now();
  const cpu = cpuMs();
  const result = await run();
  const wallMs = performance.now() - wall;
  const cpuSpent = cpuMs() - cpu;
  const rate = per
    ? `   ${Math.round((per.count / cpuSpent) * 1000).toLocaleString('en-US')} ${per.unit}/s per core`
    : '';
  console.log(
    `${label.padEnd(44)} ${wallMs.toFixed(0).padStart(6)} ms wall ${cpuSpent.toFixed(0).padStart(6)} ms CPU${rate}`,
  );
  return result;
}

async function embedded(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-symbols-'));
  try {
    const path = join(dir, 'store.duckdb');
    let store = new EmbeddedStore({ path });
    await store.open();
    const q = store.symbolization;
    const rssBefore = process.memoryUsage().rss;
    const { ranges: stored } = await timed(
      'putSymbols',
      () => q.putSymbols(FILE, asyncRanges(), { source: 'local' }),
      {
        count: RANGES,
        unit: 'ranges',
      },
    );
    console.log(
      `  ${stored.toLocaleString('en-US')} ranges; RSS +${Math.round((process.memoryUsage().rss - rssBefore) / 2 ** 20)} MiB`,
    );

    const random = seededRandom(1);
    const functions = Math.ceil(RANGES / 3);
    const addresses = Array.from({ length: LOOKUPS }, () => BASE + Math.floor(random() * functions * 256));
    const cold = await timed(`symbolRanges ×${LOOKUPS}, cold (loads the file)`, () =>
      q.symbolRanges(FILE, addresses),
    );
    check(cold, addresses, RANGES);
    await timed(`symbolRanges ×${LOOKUPS}, warm`, () => q.symbolRanges(FILE, addresses));
    await store.close();

    store = new EmbeddedStore({ path, symbolCacheRanges: 1000 });
    await store.open();
    const bySql = await timed(`symbolRanges ×${LOOKUPS}, SQL range join`, () =>
      store.symbolization.symbolRanges(FILE, addresses),
    );
    if (bySql.size !== cold.size) throw new Error(`SQL found ${bySql.size} addresses, memory ${cold.size}`);

    // Ingest: the same writes with and without pending frames, one at a time (each its own transaction).
    const WRITES = 300;
    const FRAMES = 200;
    let next = 0;
    const batch = (withFrames: boolean) => {
      const frames: PendingFrame[] = [];
      for (let i = 0; withFrames && i < FRAMES; i++, next++) {
        frames.push({ frameId: frameId(FILE, BigInt(BASE + next)), fileId: FILE, address: BASE + next });
      }
      return { ...emptyBatch(), pendingFrames: frames };
    };
    for (const withFrames of [false, true, false, true]) {
      await timed(
        `${WRITES} writes ${withFrames ? `with ${FRAMES} new pending frames` : 'without pending frames'}`,
        async () => {
          for (let i = 0; i < WRITES; i++) await store.write(batch(withFrames));
        },
        { count: WRITES, unit: 'writes' },
      );
    }
    console.log(
      `  queued: ${(await store.symbolization.backlog()).pendingFrames.toLocaleString('en-US')} frames`,
    );
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function elasticsearch(): Promise<void> {
  const url = process.env.UNIPROF_BENCH_ES_URL;
  const ca = process.env.UNIPROF_BENCH_ES_CA;
  const peer = url ? undefined : await startElasticsearch();
  const spoolDir = mkdtempSync(join(tmpdir(), 'uniprof-bench-es-symbols-'));
  const store = new ElasticsearchStore({
    hosts: [url ?? peer!.url],
    username: url ? process.env.UNIPROF_BENCH_ES_USERNAME : peer!.username,
    password: url ? process.env.UNIPROF_BENCH_ES_PASSWORD : peer!.password,
    tls: { caPem: url ? (ca ? readFileSync(ca, 'utf8') : undefined) : peer!.caPem },
    spoolDir,
    shards: { events: 1, keyValue: 1 },
  });
  try {
    await store.open();
    const q = store.symbolization;
    console.log(`Elasticsearch, ${ES_RANGES.toLocaleString('en-US')} ranges:`);
    await timed('putSymbols', () => q.putSymbols(FILE, asyncRanges(ES_RANGES), { source: 'local' }), {
      count: ES_RANGES,
      unit: 'ranges',
    });
    const random = seededRandom(2);
    const span = Math.ceil(ES_RANGES / 3) * 256;
    const pick = (n: number) => Array.from({ length: n }, () => BASE + Math.floor(random() * span));
    for (const [label, addresses] of [
      [`symbolRanges ×${LOOKUPS}, first call`, pick(LOOKUPS)],
      [`symbolRanges ×${LOOKUPS}, other addresses`, pick(LOOKUPS)],
      [`symbolRanges ×20000`, pick(20_000)],
      [`symbolRanges ×50`, pick(50)],
    ] as const) {
      check(await timed(label, () => q.symbolRanges(FILE, addresses)), addresses, ES_RANGES);
    }
    for (let i = 0; i < 3; i++) {
      // Past the store's short cache of the last count: each call counts.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await timed('backlog()', () => q.backlog());
    }
    const pads = benchPads(PADS);
    for (const [n, padFile] of [FILE, fileIdFromHex('ffeeddccbbaa99887766554433221100')].entries()) {
      await timed(`putReturnPads ×${PADS} (file ${n + 1}, none before)`, () =>
        q.putReturnPads(padFile, padChunks(pads)),
      );
      await timed(`putReturnPads ×${PADS} again (same pads)`, () =>
        q.putReturnPads(padFile, padChunks(pads)),
      );
      const found = await timed(`returnPads ×${PADS} (every pad)`, () =>
        q.returnPads(
          padFile,
          pads.map((p) => p.address),
        ),
      );
      for (const pad of pads)
        if (JSON.stringify(found.get(pad.address)) !== JSON.stringify(pad.frames))
          throw new Error(`the pad at 0x${pad.address.toString(16)} did not come back as stored`);
    }
  } finally {
    await store.close();
    await peer?.dispose();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

if (STORES.includes('embedded')) await embedded();
if (STORES.includes('elasticsearch')) await elasticsearch();
