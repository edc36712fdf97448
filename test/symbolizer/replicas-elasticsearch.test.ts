/**
 * The symbolizer service on a real Elasticsearch, with real processes only: `uniprof collector --output
 * elasticsearch` receives agent-shaped OTLP requests whose native frames are real function addresses (from
 * `nm`) of gcc -g builds, and queues them; two `uniprof symbolizer` replicas drain the queue together. Every
 * frame must get the engine's names for the unstripped file (SymbolizedBinary, 'dwarf' name policy), each
 * frame answered once and each file's symbols stored once across both replicas. Then a symbolizer killed with
 * SIGKILL in the middle of glibc's debug file (libc6-dbg): the next start under the same owner finishes it,
 * and readers never see the dead attempt's ranges.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileIdFromHex, frameId, type StackFrameSymbols } from '../../src/model/index.ts';
import { encodeExportRequest } from '../../src/protocol/index.ts';
import type { ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import type { SymbolizationBacklog } from '../../src/store/symbolization.ts';
import { SymbolizedBinary, toStackFrameSymbols } from '../../src/symbolizer/symbolizer.ts';
import { executableFileId } from '../e2e/support/workloads.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { haveTool } from '../peers/toolchains.ts';
import { storeFor } from '../store-elasticsearch/helpers.ts';
import { startUniprof, type UniprofChild } from '../support/processes.ts';
import { waitFor as waitForValue } from '../support/wait.ts';
import { nativeProfileRequest, type ProfiledExecutable } from './service-fixture.ts';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const SYMBOLS_INDICES = '.profiling-symbols-global*,.profiling-symbols-private*';
const GENERATION = 'uniprof.symbols.generation';
const EXECUTABLES = 12;

const canRun =
  haveTool('gcc', 'apt-get install gcc') &&
  haveTool('objcopy', 'apt-get install binutils') &&
  haveTool('nm', 'apt-get install binutils');

// ---- inputs ----

/**
 * A C program of 40 worker functions with inlined helpers; `VARIANT` changes constants in every function, so
 * each -DVARIANT build has its own code and GNU build ID.
 */
function generatedSource(): string {
  const lines = ['#include <stdio.h>', '#include <stdlib.h>', ''];
  const n = 40;
  for (let k = 0; k < n; k++) {
    lines.push(
      `static inline unsigned mix_${k}(unsigned x) { return (x ^ (x >> ${1 + (k % 7)})) * (${2654435761 + k}u + VARIANT); }`,
    );
  }
  for (let k = 0; k < n; k++) {
    lines.push(
      `static inline unsigned step_${k}(unsigned x, unsigned y) { return mix_${k}(x + y) ^ mix_${(k + 1) % n}(y); }`,
      `__attribute__((noinline)) unsigned work_${k}(const unsigned *a, int len) {`,
      `  unsigned s = ${k}u + VARIANT;`,
      `  for (int i = 0; i < len; i++) s = step_${k}(s, a[i]);`,
      k > 0 ? `  if ((s & 15u) == (VARIANT & 15u)) s += work_${k - 1}(a, len / 2);` : '',
      '  return s;',
      '}',
    );
  }
  lines.push('int main(int argc, char **argv) {', '  unsigned a[64], s = 0;');
  lines.push('  for (int i = 0; i < 64; i++) a[i] = (unsigned)(argc * i + VARIANT);');
  for (let k = 0; k < n; k++) lines.push(`  s += work_${k}(a, 64);`);
  lines.push('  printf("%u %s\\n", s, argv[0]);', '  return 0;', '}');
  return lines.join('\n');
}

interface BuiltExecutable {
  unstripped: string;
  stripped: string;
  buildId: string;
  profiled: ProfiledExecutable;
}

function gnuBuildId(file: string): string {
  const match = /Build ID:\s*([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', file], { encoding: 'utf8' }));
  if (!match) throw new Error(`readelf -n ${file} shows no GNU build ID`);
  return match[1];
}

/** Function symbols (text, sized) from `nm -S`: [start, size]. */
function functionsOf(file: string): [number, number][] {
  const out = execFileSync('nm', ['-S', '--defined-only', file], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seen = new Set<number>();
  const functions: [number, number][] = [];
  for (const line of out.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 4 || !/^[tTiW]$/.test(parts[2])) continue;
    const start = Number.parseInt(parts[0], 16);
    const size = Number.parseInt(parts[1], 16);
    if (size > 0 && start > 0 && !seen.has(start)) {
      seen.add(start);
      functions.push([start, size]);
    }
  }
  return functions.sort((a, b) => a[0] - b[0]);
}

/** Every `every`-th function's start and `inside` pseudo-random addresses inside it (deterministic). */
function addressesIn(functions: [number, number][], every: number, inside: number, seed: number): number[] {
  let state = seed >>> 0 || 1;
  const random = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const out = new Set<number>();
  for (let i = 0; i < functions.length; i += every) {
    const [start, size] = functions[i];
    out.add(start);
    for (let k = 0; k < Math.min(inside, size - 1); k++)
      out.add(start + 1 + Math.floor(random() * (size - 1)));
  }
  return [...out];
}

function debugPath(debugDir: string, buildId: string): string {
  return join(debugDir, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
}

/** gcc -g builds of the generated source, stripped copies, and their debug files laid out by build ID. */
async function buildExecutables(dir: string, debugDir: string): Promise<BuiltExecutable[]> {
  const source = join(dir, 'replica.c');
  writeFileSync(source, generatedSource());
  const optimisations = ['-O2', '-O1', '-O3', '-Os'];
  const built: BuiltExecutable[] = [];
  for (let i = 0; i < EXECUTABLES; i++) {
    const unstripped = join(dir, `replica-${i}`);
    const stripped = join(dir, `replica-${i}-stripped`);
    execFileSync('gcc', [
      '-g',
      optimisations[i % optimisations.length],
      i % 2 === 0 ? '-gdwarf-5' : '-gdwarf-4',
      `-DVARIANT=${i + 1}u`,
      '-o',
      unstripped,
      source,
    ]);
    const buildId = gnuBuildId(unstripped);
    const debugFile = debugPath(debugDir, buildId);
    mkdirSync(join(debugFile, '..'), { recursive: true });
    execFileSync('objcopy', ['--only-keep-debug', unstripped, debugFile]);
    execFileSync('objcopy', ['--strip-debug', unstripped, stripped]);
    built.push({
      unstripped,
      stripped,
      buildId,
      profiled: {
        fileIdHex: await executableFileId(stripped),
        fileName: `/opt/replicas/bin/replica-${i}`,
        buildId,
        addresses: addressesIn(functionsOf(unstripped), 1, 12, i + 1),
      },
    });
  }
  assert.equal(new Set(built.map((b) => b.buildId)).size, EXECUTABLES, 'every build has its own build ID');
  return built;
}

function nativeFrameId(executable: ProfiledExecutable, address: number): string {
  return frameId(fileIdFromHex(executable.fileIdHex), BigInt(address));
}

/** What the engine says for each address of the unstripped file ('dwarf' names), as readers get frames. */
function expectedSymbols(
  binaryPath: string,
  executable: ProfiledExecutable,
  debugDirectories?: string[],
): Map<string, StackFrameSymbols> {
  const binary = SymbolizedBinary.open(binaryPath, {
    functionNames: 'dwarf',
    ...(debugDirectories ? { debugDirectories } : {}),
  });
  try {
    const expected = new Map<string, StackFrameSymbols>();
    for (const address of executable.addresses) {
      const chain = binary.symbolize(address);
      const id = nativeFrameId(executable, address);
      if (chain.length > 0) expected.set(id, toStackFrameSymbols(id, chain));
    }
    return expected;
  } finally {
    binary.close();
  }
}

// ---- processes ----

function elasticsearchOutput(peer: ElasticsearchPeer, caFile: string): Record<string, unknown> {
  return {
    type: 'elasticsearch',
    elasticsearch: {
      hosts: [peer.url],
      username: peer.username,
      password: peer.password,
      tls: { ca: caFile },
    },
  };
}

/** No debuginfod from the environment: the symbolizers find debug files in the test's directory only. */
const CHILD_ENV = { ...process.env, DEBUGINFOD_URLS: '' };

interface Symbolizer extends UniprofChild {
  httpUrl: string;
  owner: string;
}

/** `uniprof symbolizer` on its own data directory; its owner is read from its banner. */
async function startSymbolizer(
  peer: ElasticsearchPeer,
  caFile: string,
  dataDir: string,
  debugDir: string,
  extra: Record<string, unknown> = {},
): Promise<Symbolizer> {
  const child = await startUniprof('symbolizer', {
    configFile: join(dataDir, 'uniprof.yaml'),
    env: CHILD_ENV,
    config: {
      dataDir,
      log: { level: 'info' },
      output: elasticsearchOutput(peer, caFile),
      symbolizer: {
        debugDirectories: [debugDir],
        debuginfod: { urls: [] },
        pollIntervalMs: 100,
        ...extra,
      },
    },
  });
  const owner = /\(health, ready, metrics; owner (\S+)\)/.exec(child.output())?.[1];
  if (!owner) throw new Error(`uniprof symbolizer named no owner:\n${child.output()}`);
  return Object.assign(child, { httpUrl: child.url('symbolizer.http'), owner });
}

/** Stops the child and resolves with its exit code. */
function stopChild(child: UniprofChild, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return child.stop(signal);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Each probe asks Elasticsearch or a replica something: every 200 ms is often enough. */
const waitFor = <T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> => waitForValue(what, probe, timeoutMs, intervalMs);

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** A sample's value in Prometheus text (`name{labels}` exactly as printed); 0 when absent. */
function sample(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

const FRAMES_SYMBOLIZED = 'uniprof_symbolizer_frames_symbolized_total';
const FRAMES_WITHOUT = 'uniprof_symbolizer_frames_without_symbols_total';
const EXECUTABLES_SYMBOLIZED = 'uniprof_symbolizer_executables_symbolized_total{source="local"}';
const RANGES = 'uniprof_symbolizer_symbol_ranges_total';

/** The "symbols stored" log lines of a symbolizer's output: file ID and milliseconds (extraction + upload). */
function storedLogLines(output: string): { fileId: string; ms: number }[] {
  const stored: { fileId: string; ms: number }[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; fileId?: string; ms?: number };
      if (entry.msg === 'symbols stored' && entry.fileId)
        stored.push({ fileId: entry.fileId, ms: entry.ms ?? 0 });
    } catch {
      // not a log line
    }
  }
  return stored;
}

// ---- Elasticsearch, read directly ----

interface RangeDocs {
  /** Range documents per generation. */
  generations: Map<string, number>;
  /** Marker documents: index and generation. */
  markers: { index: string; generation: string; ranges: number }[];
}

/** The backlog as of now: the store counts as of the last refresh (cheap for scrapes), the test wants now. */
async function currentBacklog(
  peer: ElasticsearchPeer,
  store: ElasticsearchStore,
): Promise<SymbolizationBacklog> {
  const refreshed = await peer.request('POST', '/.profiling-*/_refresh?expand_wildcards=all');
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  // Past the store's short cache of the last count.
  await sleep(1_100);
  return store.symbolization.backlog();
}

/** Every symbols document of a file in both symbols indices, read with scroll after a refresh. */
async function symbolDocuments(peer: ElasticsearchPeer, fileId: string): Promise<RangeDocs> {
  const refreshed = await peer.request('POST', `/${SYMBOLS_INDICES}/_refresh?expand_wildcards=all`);
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  const result: RangeDocs = { generations: new Map(), markers: [] };
  type Hit = { _index: string; _source: Record<string, unknown> };
  type Page = { _scroll_id?: string; hits: { hits: Hit[] } };
  let page = await peer.request(
    'POST',
    `/${SYMBOLS_INDICES}/_search?scroll=1m&expand_wildcards=all&ignore_unavailable=true`,
    {
      size: 5000,
      query: { term: { 'Symbol.file.id': fileId } },
      _source: [GENERATION, 'Symbol.exec.pcrange', 'uniprof.symbols.ranges', 'uniprof.symbols'],
    },
  );
  for (;;) {
    assert.equal(page.status, 200, JSON.stringify(page.body));
    const body = page.body as Page;
    if (body.hits.hits.length === 0) break;
    for (const hit of body.hits.hits) {
      const generation = String(field(hit._source, GENERATION));
      if (field(hit._source, 'Symbol.exec.pcrange') === undefined) {
        result.markers.push({
          index: hit._index,
          generation,
          ranges: Number(field(hit._source, 'uniprof.symbols.ranges')),
        });
      } else {
        result.generations.set(generation, (result.generations.get(generation) ?? 0) + 1);
      }
    }
    page = await peer.request('POST', '/_search/scroll', { scroll: '1m', scroll_id: body._scroll_id });
  }
  return result;
}

/** A field of a document whether Elasticsearch returned it flat or as nested objects. */
function field(doc: unknown, name: string): unknown {
  if (doc === null || typeof doc !== 'object') return undefined;
  const record = doc as Record<string, unknown>;
  if (name in record) return record[name];
  const parts = name.split('.');
  for (let i = 1; i < parts.length; i++) {
    const head = parts.slice(0, i).join('.');
    if (head in record) {
      const found = field(record[head], parts.slice(i).join('.'));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Write operations (index, update) Elasticsearch has applied to the executables queue so far. */
async function queueWrites(peer: ElasticsearchPeer): Promise<number> {
  const response = await peer.request(
    'GET',
    '/.profiling-sq-executables*/_stats/indexing?expand_wildcards=all',
  );
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const body = response.body as { _all: { primaries: { indexing?: { index_total?: number } } } };
  return body._all.primaries.indexing?.index_total ?? 0;
}

/** Compares every frame the readers get with the engine's answer; returns how many are named. */
async function assertFramesNamed(
  reader: ElasticsearchStore,
  executable: ProfiledExecutable,
  expected: Map<string, StackFrameSymbols>,
): Promise<number> {
  const ids = executable.addresses.map((a) => nativeFrameId(executable, a));
  const stored = await reader.getStackFrames(ids);
  let named = 0;
  for (const id of ids) {
    assert.deepEqual(stored.get(id), expected.get(id), `frame ${id} of ${executable.fileName}`);
    if (expected.has(id)) named++;
  }
  assert.ok(
    named > ids.length * 0.9,
    `most frames of ${executable.fileName} named (${named} of ${ids.length})`,
  );
  return named;
}

// ---- the tests ----

describe(
  'symbolizer replicas on Elasticsearch',
  { skip: !canRun && 'gcc or binutils missing', timeout: 1_500_000 },
  () => {
    let peer: ElasticsearchPeer;
    let reader: ElasticsearchStore;
    let collector: UniprofChild | undefined;
    let collectorUrl = '';
    let dir = '';
    let caFile = '';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'uniprof-replicas-es-'));
      peer = await startElasticsearch();
      caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, peer.caPem);
      const collectorDir = join(dir, 'collector');
      mkdirSync(collectorDir);
      // Every listener on a port the system picks (test/support/processes.ts); the UI and API are not under test.
      collector = await startUniprof('collector', {
        configFile: join(collectorDir, 'uniprof.yaml'),
        env: CHILD_ENV,
        config: {
          dataDir: collectorDir,
          collector: { auth: { disabled: true } },
          output: elasticsearchOutput(peer, caFile),
        },
      });
      collectorUrl = collector.url('collector.http');
      reader = storeFor(peer, join(dir, 'reader-spool'));
      await reader.open();
    });

    after(async () => {
      if (collector) await stopChild(collector);
      await reader?.close();
      await peer?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Sends an agent-shaped request to the collector over OTLP/HTTP (protobuf); resolves once acknowledged. */
    async function sendProfile(executables: readonly ProfiledExecutable[], seconds: number): Promise<void> {
      const response = await fetch(`${collectorUrl}/v1development/profiles`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: Buffer.from(encodeExportRequest(nativeProfileRequest(executables, seconds))),
      });
      assert.equal(response.status, 200, await response.text());
    }

    it('two replicas name every frame as the engine does, each frame once and each file once', async (t) => {
      const debugDir = join(dir, 'debug');
      const executables = await buildExecutables(join(dir), debugDir);
      const profiled = executables.map((e) => e.profiled);
      const expected = executables.map((e) => expectedSymbols(e.unstripped, e.profiled));
      const totalFrames = profiled.reduce((n, e) => n + e.addresses.length, 0);
      const namedFrames = expected.reduce((n, e) => n + e.size, 0);

      // Both replicas run before anything is queued: they race for the executables as the frames arrive.
      const replicas = await Promise.all(
        ['replica-a', 'replica-b'].map((name) =>
          startSymbolizer(peer, caFile, join(dir, name), debugDir, { concurrency: 2 }),
        ),
      );
      t.after(() => Promise.all(replicas.map((r) => stopChild(r, 'SIGKILL'))));
      assert.notEqual(replicas[0].owner, replicas[1].owner, 'distinct data directories, distinct owners');

      const writesBefore = await queueWrites(peer);
      const now = Math.floor(Date.now() / 1000) - 30;
      const started = performance.now();
      // One request per executable, as hosts would send them, all in flight at once.
      await Promise.all(profiled.map((executable, i) => sendProfile([executable], now + i)));
      const acknowledged = performance.now();

      const totals = await waitFor(
        'both replicas to answer every frame',
        async () => {
          const texts = await Promise.all(replicas.map((r) => scrape(r.httpUrl)));
          const answered = texts.reduce(
            (n, text) => n + sample(text, FRAMES_SYMBOLIZED) + sample(text, FRAMES_WITHOUT),
            0,
          );
          return answered >= totalFrames ? texts : undefined;
        },
        600_000,
        // Each scrape reads the backlog: once a second is enough.
        1_000,
      );
      const drained = performance.now();
      // Grace for a duplicate answer to show: the replicas keep polling the queue meanwhile.
      await sleep(3_000);
      const texts = await Promise.all(replicas.map((r) => scrape(r.httpUrl)));
      const writes = (await queueWrites(peer)) - writesBefore;
      const backlog = await currentBacklog(peer, reader);
      assert.equal(backlog.pendingFrames, 0, 'the queue is empty');
      assert.equal(backlog.pendingExecutables, 0);
      assert.equal(backlog.symbolizedExecutables, EXECUTABLES);

      const per = (series: string): number[] => texts.map((text) => sample(text, series));
      const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
      assert.equal(sum(per(FRAMES_SYMBOLIZED)), namedFrames, 'frames named, summed over both replicas');
      assert.equal(sum(per(FRAMES_WITHOUT)), totalFrames - namedFrames, 'frames without symbols, summed');
      assert.equal(sum(per(EXECUTABLES_SYMBOLIZED)), EXECUTABLES, 'symbols stored once per file, summed');
      assert.deepEqual(
        totals.map((text) => sample(text, FRAMES_SYMBOLIZED)),
        per(FRAMES_SYMBOLIZED),
        'no frame answered again after the queue was drained',
      );
      // The logs say the same, per file: one "symbols stored" line per file over both replicas.
      const storedBy = replicas.map((r) => storedLogLines(r.output()));
      const storedFiles = storedBy
        .flat()
        .map((s) => s.fileId)
        .sort();
      assert.deepEqual(storedFiles, profiled.map((e) => fileIdFromHex(e.fileIdHex)).sort());
      assert.ok(
        storedBy.every((files) => files.length > 0),
        `both replicas stored symbols (${storedBy.map((f) => f.length).join(' + ')})`,
      );

      // Readers get the engine's answer for every frame; each file has one marker and one generation of ranges.
      let rangesStored = 0;
      for (const [i, executable] of profiled.entries()) {
        await assertFramesNamed(reader, executable, expected[i]);
        const docs = await symbolDocuments(peer, fileIdFromHex(executable.fileIdHex));
        assert.equal(docs.markers.length, 1, `one marker for ${executable.fileName}`);
        assert.deepEqual(
          [...docs.generations.keys()],
          [docs.markers[0].generation],
          `only the marker's generation of ranges for ${executable.fileName}`,
        );
        assert.equal(docs.generations.get(docs.markers[0].generation), docs.markers[0].ranges);
        rangesStored += docs.markers[0].ranges;
      }
      assert.equal(
        sum(per(RANGES)),
        rangesStored,
        'ranges extracted = ranges stored (no file extracted twice)',
      );

      const seconds = (drained - acknowledged) / 1000;
      t.diagnostic(
        `${EXECUTABLES} executables, ${totalFrames} frames (${namedFrames} named), ${rangesStored} ranges; ` +
          `sending took ${((acknowledged - started) / 1000).toFixed(2)} s; drained ${seconds.toFixed(1)} s after the ` +
          `last acknowledgement: ${(totalFrames / seconds).toFixed(0)} frames/s, ${(EXECUTABLES / seconds).toFixed(2)} ` +
          `executables/s through queue -> debug file -> extraction -> Elasticsearch -> frames`,
      );
      const storeMs = storedBy.flat().map((s) => s.ms);
      const executableSeconds = sum(per('uniprof_symbolizer_executable_duration_seconds_sum'));
      const executableCount = sum(per('uniprof_symbolizer_executable_duration_seconds_count'));
      t.diagnostic(
        `worker task time (lease to release) ${executableSeconds.toFixed(1)} s over ${executableCount} tasks, ` +
          `of which extraction + putSymbols ${(sum(storeMs) / 1000).toFixed(1)} s over ${storeMs.length} files ` +
          `(max ${(Math.max(...storeMs) / 1000).toFixed(1)} s); the rest: lookup, answering frames, release; ` +
          `${writes} writes to the executables queue meanwhile (collector, leases, renewals, releases)`,
      );
      t.diagnostic(
        `split: replica a ${per(EXECUTABLES_SYMBOLIZED)[0]} files / ${per(FRAMES_SYMBOLIZED)[0]} frames, ` +
          `replica b ${per(EXECUTABLES_SYMBOLIZED)[1]} files / ${per(FRAMES_SYMBOLIZED)[1]} frames`,
      );

      // Frames of files whose symbols are stored are answered from the store: no file is extracted again.
      const more = executables.map((e, i) => ({
        ...e.profiled,
        addresses: addressesIn(functionsOf(e.unstripped), 1, 4, 1000 + i).filter(
          (a) => !e.profiled.addresses.includes(a),
        ),
      }));
      const moreFrames = more.reduce((n, e) => n + e.addresses.length, 0);
      const moreExpected = executables.map((e, i) => expectedSymbols(e.unstripped, more[i]));
      const moreNamed = moreExpected.reduce((n, e) => n + e.size, 0);
      await sendProfile(more, now + 100);
      await waitFor(
        'the new frames to be answered',
        async () => {
          const current = await Promise.all(replicas.map((r) => scrape(r.httpUrl)));
          const answered = sum(
            current.map((text) => sample(text, FRAMES_SYMBOLIZED) + sample(text, FRAMES_WITHOUT)),
          );
          return answered >= totalFrames + moreFrames ? true : undefined;
        },
        300_000,
      );
      await sleep(2_000);
      const final = await Promise.all(replicas.map((r) => scrape(r.httpUrl)));
      assert.equal(sum(final.map((text) => sample(text, FRAMES_SYMBOLIZED))), namedFrames + moreNamed);
      assert.equal(
        sum(final.map((text) => sample(text, EXECUTABLES_SYMBOLIZED))),
        EXECUTABLES,
        'no file again',
      );
      for (const [i, executable] of more.entries())
        await assertFramesNamed(reader, executable, moreExpected[i]);
      assert.equal((await currentBacklog(peer, reader)).pendingFrames, 0);

      for (const replica of replicas) assert.equal(await stopChild(replica), 0, replica.output());
    });

    it(
      'finishes glibc on the next start after a symbolizer was killed with SIGKILL in the middle of it',
      { skip: !existsSync(LIBC) && `${LIBC} missing` },
      async (t) => {
        const buildId = gnuBuildId(LIBC);
        const debugFile = debugPath('/usr/lib/debug', buildId);
        if (!existsSync(debugFile)) {
          if (process.env.CI === 'true') throw new Error(`${debugFile} missing: apt-get install libc6-dbg`);
          t.skip('libc6-dbg is not installed');
          return;
        }
        const libc: ProfiledExecutable = {
          fileIdHex: await executableFileId(LIBC),
          fileName: LIBC,
          buildId,
          // libc.so.6 has no symbol table of its own: its functions come from the debug file's.
          addresses: addressesIn(functionsOf(debugFile), 8, 3, 7),
        };
        const fileId = fileIdFromHex(libc.fileIdHex);
        const expected = expectedSymbols(LIBC, libc, ['/usr/lib/debug']);
        await sendProfile([libc], Math.floor(Date.now() / 1000) - 20);
        await waitFor(
          'the libc frames to be queued',
          async () =>
            (await reader.symbolization.backlog()).pendingFrames === libc.addresses.length ? true : undefined,
          60_000,
        );

        const dataDir = join(dir, 'crash');
        // Long leases: the next start must take its own work back at once, not wait for the lease to expire.
        const settings = { concurrency: 1, leaseSeconds: 900 };
        const first = await startSymbolizer(peer, caFile, dataDir, '/usr/lib/debug', settings);
        t.after(() => stopChild(first, 'SIGKILL'));
        // Killed once a good part of the file is extracted (glibc: about 13,700 ranges, 2,000 a bulk request,
        // two in flight, so some are already in Elasticsearch) and well before the last range. Only the metric
        // is polled: glibc's upload takes a few seconds on this cluster, too little for slower probes.
        let lastScrape = '';
        await waitFor(
          'extraction and upload to be under way',
          async () => {
            lastScrape = await scrape(first.httpUrl);
            return sample(lastScrape, RANGES) >= 6_000 || sample(lastScrape, EXECUTABLES_SYMBOLIZED) > 0
              ? true
              : undefined;
          },
          300_000,
          25,
        );
        await stopChild(first, 'SIGKILL');
        assert.equal(sample(lastScrape, EXECUTABLES_SYMBOLIZED), 0, 'glibc was finished before the kill');
        const rangesAtKill = sample(lastScrape, RANGES);
        const killed = await symbolDocuments(peer, fileId);
        assert.equal(killed.markers.length, 0, 'the killed attempt pointed no marker at its ranges');
        assert.ok(killed.generations.size <= 1, "at most the dead attempt's generation");
        const [killedGeneration] = killed.generations.keys();
        const leftover = killedGeneration === undefined ? 0 : killed.generations.get(killedGeneration)!;
        // Readers see none of the dead attempt's ranges.
        assert.equal((await reader.symbolization.filesWithSymbols([fileId])).size, 0);
        assert.equal((await reader.symbolization.symbolRanges(fileId, libc.addresses)).size, 0);
        assert.equal((await reader.getStackFrames([nativeFrameId(libc, libc.addresses[0])])).size, 0);

        const restartedAt = performance.now();
        const second = await startSymbolizer(peer, caFile, dataDir, '/usr/lib/debug', settings);
        t.after(() => stopChild(second, 'SIGKILL'));
        assert.equal(second.owner, first.owner, 'same data directory, same owner');
        // Its own lease (900 s) is no obstacle: it takes glibc back at once.
        await waitFor(
          'the next start to take glibc back',
          async () => (sample(await scrape(second.httpUrl), RANGES) > 0 ? true : undefined),
          60_000,
        );
        const finished = await waitFor(
          'the restarted symbolizer to finish glibc',
          async () => {
            const text = await scrape(second.httpUrl);
            return sample(text, EXECUTABLES_SYMBOLIZED) === 1 &&
              sample(text, FRAMES_SYMBOLIZED) + sample(text, FRAMES_WITHOUT) >= libc.addresses.length
              ? text
              : undefined;
          },
          600_000,
        );
        const seconds = (performance.now() - restartedAt) / 1000;
        await sleep(2_000);
        const text = await scrape(second.httpUrl);
        assert.equal(sample(text, EXECUTABLES_SYMBOLIZED), 1, 'glibc stored once by the second start');
        assert.equal(sample(text, FRAMES_SYMBOLIZED), expected.size);
        assert.equal(sample(text, FRAMES_WITHOUT), libc.addresses.length - expected.size);
        assert.equal((await currentBacklog(peer, reader)).pendingFrames, 0);
        await assertFramesNamed(reader, libc, expected);

        const docs = await symbolDocuments(peer, fileId);
        assert.equal(docs.markers.length, 1, 'one marker');
        const { generation, ranges } = docs.markers[0];
        assert.notEqual(generation, killedGeneration);
        assert.deepEqual([...docs.generations.keys()], [generation], "the killed attempt's ranges are gone");
        assert.equal(docs.generations.get(generation), ranges);
        const totalRanges = sample(finished, RANGES);
        assert.equal(ranges, totalRanges, 'every extracted range stored, once');
        assert.ok(rangesAtKill < totalRanges, 'the kill came before the last range');
        t.diagnostic(
          `glibc: ${libc.addresses.length} frames (${expected.size} named); killed after ${rangesAtKill} of ` +
            `${totalRanges} ranges extracted (last scrape), ${leftover} range documents of the dead attempt left ` +
            `in Elasticsearch (invisible to readers); the next start ` +
            `(same owner, lease 900 s) finished in ${seconds.toFixed(1)} s ` +
            `(${(totalRanges / seconds).toFixed(0)} ranges/s, ${(libc.addresses.length / seconds).toFixed(0)} frames/s)`,
        );
        assert.equal(await stopChild(second), 0, second.output());
      },
    );
  },
);
