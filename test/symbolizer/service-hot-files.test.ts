/**
 * The worker with files already symbolized, on both stores (embedded DuckDB and a real Elasticsearch), with a
 * real stripped g++ program whose ranges were stored without return pads (as a `--no-return-pads` upload, or
 * symbols stored before pads existed) and whose executable is on this machine (the agent's path, same build
 * ID):
 *
 * - pads are made once from the stored ranges (no extraction: no range counted, no executable symbolized,
 *   the symbols' version unchanged), after which callers' frames are pad hits;
 * - later batches of the hot file are answered from the worker's range cache (hits counted), each frame
 *   exactly the engine's chain;
 * - new symbols for the file — on Elasticsearch stored through another client, as another replica would —
 *   make the cached ranges stale at once: the next frames get the new symbols' names, and the file's pads
 *   are made again from them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { fileIdFromHex, type StackFrameSymbols, type SymbolRange } from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import type { Store } from '../../src/store/store.ts';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { extractRanges } from '../../src/symbolizer/ranges/extract.ts';
import { RangeIndex } from '../../src/symbolizer/ranges/range-index.ts';
import { ExecutableCode } from '../../src/symbolizer/returnpads/generate.ts';
import { SymbolizerMetrics } from '../../src/symbolizer/service/metrics.ts';
import { createDebugInfoLookup, defaultRangeExtractor } from '../../src/symbolizer/service/wiring.ts';
import { SymbolizerWorker } from '../../src/symbolizer/service/worker.ts';
import { toStackFrameSymbols } from '../../src/symbolizer/symbolizer.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { canBuild, haveTool } from '../peers/toolchains.ts';
import { storeFor } from '../store-elasticsearch/helpers.ts';
import {
  nativeFrameId,
  nativeProfileBatch,
  programAddresses,
  randomFileIdHex,
  splitProgram,
  type ProfiledExecutable,
  type TestProgram,
} from './service-fixture.ts';

const NOW = Math.floor(Date.now() / 1000) - 60;
const canRun = canBuild('cpp') && haveTool('objcopy', 'apt-get install binutils');
const logger = pino({ level: process.env.UNIPROF_TEST_LOG ?? 'silent' });

interface Fixture {
  dir: string;
  program: TestProgram;
  ranges: SymbolRange[];
  /** Return addresses − 1 of calls, and addresses that are none, each in four disjoint sets. */
  returns: number[][];
  others: number[][];
}

let fixture: Fixture | undefined;

function programFixture(): Fixture {
  if (fixture) return fixture;
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-hot-files-'));
  const program = splitProgram(dir, 'cpp');
  const ranges: SymbolRange[] = [];
  for (const chunk of extractRanges(program.unstripped, { functionNames: 'dwarf' })) ranges.push(...chunk);
  const elf = ElfFile.open(program.stripped);
  try {
    const calls = new ExecutableCode(elf).calls(RangeIndex.of(ranges).rangesAt(0));
    const all = calls.map((c) => c.address + c.length - 1);
    const returns = [0, 1, 2, 3].map((k) => all.filter((_, i) => i % 4 === k));
    const taken = new Set(all);
    const rest = programAddresses(program.unstripped, 400).filter((a) => !taken.has(a));
    const others = [0, 1, 2, 3].map((k) => rest.filter((_, i) => i % 4 === k));
    fixture = { dir, program, ranges, returns, others };
    return fixture;
  } finally {
    elf.close();
  }
}

async function* chunked(ranges: readonly SymbolRange[]): AsyncIterable<readonly SymbolRange[]> {
  for (let i = 0; i < ranges.length; i += 4096) yield ranges.slice(i, i + 4096);
}

async function counter(metrics: SymbolizerMetrics, series: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `${what} within ${ms / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Queues frames at these addresses and waits until every one has its symbols; returns them. */
async function answer(
  store: Store,
  executable: ProfiledExecutable,
  addresses: number[],
  nudge: () => Promise<unknown>,
): Promise<Map<string, StackFrameSymbols>> {
  const batch = { ...executable, addresses };
  await store.write(nativeProfileBatch([batch], NOW));
  const ids = addresses.map((a) => nativeFrameId(batch, a));
  return until('every queued frame answered', async () => {
    const stored = await store.getStackFrames(ids);
    if (stored.size === ids.length) return stored;
    await nudge();
    return undefined;
  });
}

function checkNames(
  stored: Map<string, StackFrameSymbols>,
  executable: ProfiledExecutable,
  addresses: number[],
  ranges: readonly SymbolRange[],
): void {
  const index = RangeIndex.of(ranges);
  for (const address of addresses) {
    const id = nativeFrameId(executable, address);
    assert.deepEqual(
      stored.get(id),
      toStackFrameSymbols(id, index.symbolize(address)),
      `frame at ${address}`,
    );
  }
}

/**
 * `other` is a second handle on the same store where the store allows one (another replica), else the same;
 * `nudge` makes queued frames visible to the worker's lease at once (Elasticsearch: a refresh of the queue,
 * else the test would wait out the refresh interval each time).
 */
async function hotFileScenario(
  t: TestContext,
  store: Store,
  other: Store,
  nudge: () => Promise<unknown> = async () => undefined,
): Promise<void> {
  const { program, ranges, returns, others } = programFixture();
  const fileIdHex = randomFileIdHex();
  const fileId = fileIdFromHex(fileIdHex);
  // The agent's path is this machine's stripped copy: same build ID, so its code makes the pads.
  const executable = { fileIdHex, fileName: program.stripped, buildId: program.buildId, addresses: [] };
  const q = store.symbolization;
  const info = { source: 'upload' as const, buildId: program.buildId, fileName: program.stripped };
  await q.putSymbols(fileId, chunked(ranges), info);
  const version = await q.symbolsVersion(fileId);
  assert.equal(version?.ranges, ranges.length);
  assert.equal(await q.hasReturnPads(fileId), false);

  const metrics = new SymbolizerMetrics({ processMetrics: false });
  const config = loadConfig({
    overrides: [
      `dataDir=${programFixture().dir}/data`,
      'symbolizer.debugDirectories=',
      'symbolizer.debuginfod.urls=',
    ],
    env: {},
  });
  const worker = new SymbolizerWorker(
    {
      owner: `hot-files-${fileIdHex}`,
      concurrency: 1,
      pollIntervalMs: 50,
      leaseMs: 300_000,
      retry: config.symbolizer.retry,
      debugDirectories: [],
      frameBatchSize: 500,
    },
    {
      store: q,
      lookup: createDebugInfoLookup(config, metrics, {}),
      extractRanges: defaultRangeExtractor,
      metrics,
      logger,
    },
  );
  worker.start();
  t.after(() => worker.stop());

  // 1. Frames of the file: answered from the ranges; then its pads are made from the stored ranges.
  const first = [...returns[0], ...others[0]];
  checkNames(await answer(store, executable, first, nudge), executable, first, ranges);
  await until('pads made', async () => ((await q.hasReturnPads(fileId)) ? true : undefined));
  const pads = await q.returnPads(fileId, returns.flat());
  assert.equal(pads.size, returns.flat().length, 'a pad at every return address');
  assert.equal(await counter(metrics, 'uniprof_symbolizer_return_pad_backfills_total{result="stored"}'), 1);
  assert.equal(await counter(metrics, 'uniprof_symbolizer_symbol_ranges_total'), 0, 'nothing extracted');
  assert.equal(await counter(metrics, 'uniprof_symbolizer_executables_symbolized_total{source="local"}'), 0);
  assert.deepEqual(await q.symbolsVersion(fileId), version, 'the symbols were not stored again');

  // 2. More frames of the now hot file: pads for callers, the cached ranges for the rest.
  const hitsBefore = await counter(metrics, 'uniprof_symbolizer_return_pad_lookups_total{result="hit"}');
  const second = [...returns[1], ...others[1]];
  checkNames(await answer(store, executable, second, nudge), executable, second, ranges);
  const padHits =
    (await counter(metrics, 'uniprof_symbolizer_return_pad_lookups_total{result="hit"}')) - hitsBefore;
  assert.equal(padHits, returns[1].length, 'every caller frame is a pad hit');
  const cacheHits = await counter(metrics, 'uniprof_symbolizer_range_cache_lookups_total{result="hit"}');
  assert.ok(cacheHits >= 1, `${cacheHits} range cache hits`);
  assert.ok((await counter(metrics, 'uniprof_symbolizer_range_cache_bytes')) > 0);
  assert.equal(await counter(metrics, 'uniprof_symbolizer_range_cache_files'), 1);

  // 3. New symbols for the file, stored through the other handle: names differ, so a stale cache shows.
  const renamed = ranges.map((r) => ({ ...r, functionName: `v2::${r.functionName}` }));
  await other.symbolization.putSymbols(fileId, chunked(renamed), info);
  const third = [...returns[2], ...others[2]];
  checkNames(await answer(store, executable, third, nudge), executable, third, renamed);
  await until('pads made again', async () => ((await q.hasReturnPads(fileId)) ? true : undefined));
  const padsAgain = await q.returnPads(fileId, returns[3]);
  assert.equal(padsAgain.size, returns[3].length);
  assert.ok([...padsAgain.values()].every((chain) => chain.at(-1)!.functionName.startsWith('v2::')));
  // 4. And the next frames are answered from the new symbols (pads and, held again, ranges).
  const fourth = [...returns[3], ...others[3]];
  checkNames(await answer(store, executable, fourth, nudge), executable, fourth, renamed);
  assert.equal(await counter(metrics, 'uniprof_symbolizer_return_pad_backfills_total{result="stored"}'), 2);
  t.diagnostic(
    `${ranges.length} ranges, ${returns.flat().length} return addresses; range cache: ` +
      `${await counter(metrics, 'uniprof_symbolizer_range_cache_lookups_total{result="hit"}')} hits, ` +
      `${await counter(metrics, 'uniprof_symbolizer_range_cache_lookups_total{result="miss"}')} misses`,
  );
}

describe(
  'symbolizer worker: hot files and pads made later',
  { skip: !canRun && 'g++ or objcopy missing', timeout: 600_000 },
  () => {
    after(() => {
      if (fixture) rmSync(fixture.dir, { recursive: true, force: true });
    });

    it('embedded store', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'uniprof-hot-embedded-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const store = new EmbeddedStore({ path: join(dir, 'uniprof.duckdb'), seed: 1, commitIntervalMs: 0 });
      await store.open();
      try {
        await hotFileScenario(t, store, store);
      } finally {
        // Registered after the scenario's worker.stop(), so it runs after it (`t.after` hooks run in the order
        // registered): a DuckDB connection closed under a query in flight leaves that query unanswered.
        t.after(() => store.close());
      }
    });

    describe('Elasticsearch', () => {
      let peer: ElasticsearchPeer;
      let dir: string;
      before(async () => {
        peer = await startElasticsearch();
        dir = mkdtempSync(join(tmpdir(), 'uniprof-hot-es-'));
      });
      after(async () => {
        await peer?.dispose();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it('real Elasticsearch, new symbols stored by another replica', async (t) => {
        // Storing ranges on a loaded machine can take one bulk request past the helpers' 10 s.
        const store = storeFor(peer, join(dir, 'worker-spool'), { requestTimeoutMs: 60_000 });
        const replica = storeFor(peer, join(dir, 'replica-spool'), { requestTimeoutMs: 60_000 });
        await store.open();
        await replica.open();
        t.after(async () => {
          await store.close();
          await replica.close();
        });
        await hotFileScenario(t, store, replica, () =>
          peer.request('POST', '/.profiling-sq-*/_refresh?expand_wildcards=all'),
        );
      });
    });
  },
);
