/** The query layer's behaviour over any store: the same assertions run on the embedded store and Elasticsearch. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrameType } from '../../src/model/index.ts';
import {
  ProfilingQueries,
  parseFilter,
  type CompactFlamegraph,
  DEFAULT_IMPACT_FACTORS,
  UnknownFrameError,
} from '../../src/query/index.ts';
import type { StoreReader } from '../../src/store/store.ts';
import {
  ELASTIC_RANGE,
  EVENTS,
  FILES,
  LABELS,
  LIBZ_BUILD_ID,
  NATIVE_RANGE,
  STACKS,
  T0,
  expectedCount,
} from './fixture.ts';

export interface OpenedStore {
  store: StoreReader;
  close(): Promise<void>;
}

const RANGE = { from: T0, to: T0 + 120 };

/** Total of the node reached by following labels from the root, or undefined if there is none. */
function nodeAt(graph: CompactFlamegraph, path: string[]): number | undefined {
  let node = 0;
  for (const label of path) {
    let next = -1;
    for (let i = node + 1; i < graph.size; i++) {
      if (graph.nodes.parent[i] === node && graph.frames.label[graph.nodes.frame[i]] === label) next = i;
    }
    if (next < 0) return undefined;
    node = next;
  }
  return node;
}

function countOf(...ids: string[]): number {
  return EVENTS.filter((e) => ids.includes(e.stackTraceId) && e.timestamp < RANGE.to).reduce(
    (s, e) => s + e.count,
    0,
  );
}

/** Samples of these stacks in NATIVE_RANGE, from the events written. */
function nativeCount(...ids: string[]): number {
  return EVENTS.filter(
    (e) => ids.includes(e.stackTraceId) && e.timestamp >= NATIVE_RANGE.from && e.timestamp < NATIVE_RANGE.to,
  ).reduce((s, e) => s + e.count, 0);
}

/** What the upload hint must say, given the target the suite's query layer was made with. */
export const UPLOAD_TARGET = { symbolizerUrl: 'http://symbols.example:4319', uploadToken: '$(cat /d/token)' };

/** Every node of a compact graph as "label > label …" (root excluded) → [total, self]. */
export function labelPaths(graph: CompactFlamegraph): Map<string, [number, number]> {
  const path: string[] = new Array<string>(graph.size);
  const out = new Map<string, [number, number]>();
  for (let i = 1; i < graph.size; i++) {
    const label = graph.frames.label[graph.nodes.frame[i]];
    const parent = graph.nodes.parent[i];
    path[i] = parent > 0 ? `${path[parent]} > ${label}` : label;
    out.set(path[i], [graph.nodes.total[i], graph.nodes.self[i]]);
  }
  return out;
}

export function queryLayerSuite(name: string, open: () => Promise<OpenedStore>): void {
  describe(`query layer over ${name}`, () => {
    let opened: OpenedStore;
    let queries: ProfilingQueries;
    before(async () => {
      opened = await open();
      queries = new ProfilingQueries(opened.store, {}, UPLOAD_TARGET);
    });
    after(() => opened?.close());

    it('builds a flamegraph whose root and nodes hold the event counts, inline frames expanded', async () => {
      const graph = await queries.flamegraph({ ...RANGE, samplingLevel: 0 });
      assert.equal(graph.sampling.samplingLevel, 0);
      assert.equal(graph.nodes.total[0], expectedCount(RANGE.from, RANGE.to));
      const { main, request, inlined, libc, syscall } = LABELS;
      assert.equal(
        graph.nodes.total[nodeAt(graph, [main])!],
        countOf(STACKS.s1.id, STACKS.s2.id, STACKS.s3.id),
      );
      assert.equal(graph.nodes.total[nodeAt(graph, [main, request])!], countOf(STACKS.s1.id, STACKS.s2.id));
      assert.equal(graph.nodes.self[nodeAt(graph, [main, request])!], countOf(STACKS.s2.id));
      const inlineNode = nodeAt(graph, [main, request, inlined])!;
      assert.equal(graph.frames.inline[graph.nodes.frame[inlineNode]], true);
      assert.equal(graph.nodes.self[nodeAt(graph, [main, request, inlined, libc])!], countOf(STACKS.s1.id));
      const unsymbolized = nodeAt(graph, [main, libc])!;
      assert.equal(graph.frames.symbolized[graph.nodes.frame[unsymbolized]], false);
      assert.equal(graph.nodes.self[nodeAt(graph, [main, libc, syscall])!], countOf(STACKS.s3.id));
      // Preorder: each parent comes before its children.
      graph.nodes.parent.forEach((p, i) => assert.ok(p < i));
    });

    it('applies filter strings and frame-type filters', async () => {
      const filter = parseFilter('host:web-1 and not thread:python3');
      const graph = await queries.flamegraph({ ...RANGE, filter, samplingLevel: 0 });
      assert.equal(
        graph.totalCount,
        expectedCount(RANGE.from, RANGE.to, (e) => e.hostName === 'web-1' && e.threadName !== 'python3'),
      );
      const kernelOnly = await queries.flamegraph({
        ...RANGE,
        frameTypes: [FrameType.Kernel],
        samplingLevel: 0,
      });
      assert.equal(kernelOnly.totalCount, countOf(STACKS.s3.id));
      const tagged = await queries.topN(
        { ...RANGE, filter: parseFilter('tags:(canary)'), samplingLevel: 0 },
        10,
      );
      assert.equal(
        tagged.total_count,
        expectedCount(RANGE.from, RANGE.to, (e) => e.tags.includes('canary')),
      );
    });

    it('ranks top functions by self count, counting recursion once, with CO2 and cost', async () => {
      const top = await queries.topN({ ...RANGE, samplingLevel: 0 }, 100);
      const byLabel = new Map(top.topn.map((f) => [f.label, f]));
      assert.equal(byLabel.get(LABELS.main)!.total_count, countOf(STACKS.s1.id, STACKS.s2.id, STACKS.s3.id));
      assert.equal(byLabel.get(LABELS.main)!.self_count, 0);
      assert.equal(byLabel.get(LABELS.libc)!.total_count, countOf(STACKS.s1.id, STACKS.s3.id));
      assert.equal(byLabel.get(LABELS.pyHandler)!.self_count, countOf(STACKS.s4.id));
      for (let i = 1; i < top.topn.length; i++)
        assert.ok(top.topn[i - 1].self_count >= top.topn[i].self_count);
      assert.deepEqual(
        top.topn.map((f) => f.rank),
        top.topn.map((_, i) => i + 1),
      );
      // Independent CO2 estimate: samples/20 Hz core-seconds over 120 s, scaled to a year, × 7 W × PUE × grid.
      const samples = byLabel.get(LABELS.pyHandler)!.self_count;
      const annualCoreHours = ((samples / 20) * ((365 * 86400) / 120)) / 3600;
      const co2 = annualCoreHours * 0.007 * DEFAULT_IMPACT_FACTORS.datacenterPue * 0.000379069;
      assert.ok(Math.abs(byLabel.get(LABELS.pyHandler)!.self_annual_co2_tons - co2) < 1e-12);
      assert.ok(
        Math.abs(byLabel.get(LABELS.pyHandler)!.self_annual_costs_usd - annualCoreHours * 0.0425) < 1e-9,
      );
    });

    it('groups stacks by a dimension', async () => {
      const grouped = await queries.stacks({ ...RANGE, samplingLevel: 0 }, 'host.name', 10, 10);
      const web2 = grouped.groups.find((g) => g.value === 'web-2')!;
      assert.equal(
        web2.count,
        expectedCount(RANGE.from, RANGE.to, (e) => e.hostName === 'web-2'),
      );
      assert.equal(web2.stackCount, 3);
      const s1 = web2.stacks.find((s) => s.stackTraceId === STACKS.s1.id)!;
      assert.deepEqual(
        s1.frames.map((f) => f.label),
        [LABELS.main, LABELS.request, LABELS.inlined, LABELS.libc],
      );
    });

    it('counts samples over time: every bucket of the range, the largest groups, the rest as other', async () => {
      // 300 s in at most 12 buckets: 30 s is the smallest round width whose aligned buckets fit (T0 is not a
      // multiple of 30, so the first bucket starts 20 s before it and there are 11).
      const range = { from: T0, to: T0 + 300, samplingLevel: 0 };
      const plain = await queries.timeline(range, { maxBuckets: 12, topGroups: 10 });
      assert.equal(plain.bucketSeconds, 30);
      assert.deepEqual(
        plain.starts,
        Array.from({ length: 11 }, (_, i) => T0 - 20 + 30 * i),
      );
      assert.deepEqual(
        plain.totals,
        plain.starts.map((start) => expectedCount(Math.max(start, T0), start + 30)),
      );
      assert.deepEqual(plain.series, []);

      const byThread = await queries.timeline(range, {
        groupBy: 'process.thread.name',
        maxBuckets: 12,
        topGroups: 2,
      });
      const threadTotal = (name: string | undefined) =>
        expectedCount(range.from, range.to, (e) => e.threadName === name);
      // main (7+4+8) ranks first, worker (5+3+2+6) second; the rest (python3, kworker and the events with no
      // thread name) is summed as other.
      assert.deepEqual(
        byThread.series.map((s) => [s.group, s.total]),
        [
          ['main', threadTotal('main')],
          ['worker', threadTotal('worker')],
        ],
      );
      assert.ok(threadTotal('main') > threadTotal('worker'));
      const workerAt = (start: number) =>
        expectedCount(Math.max(start, T0), start + 30, (e) => e.threadName === 'worker');
      assert.deepEqual(byThread.series[1].counts, byThread.starts.map(workerAt));
      for (let i = 0; i < byThread.starts.length; i++) {
        const stacked = byThread.series.reduce((sum, s) => sum + s.counts[i], byThread.other![i]);
        assert.equal(stacked, byThread.totals[i], `bucket ${i}: series and other add up to the total`);
      }

      const filtered = await queries.timeline(
        { ...range, filter: parseFilter('host.name:web-2') },
        { groupBy: 'host.name', maxBuckets: 12, topGroups: 5 },
      );
      assert.deepEqual(
        filtered.series.map((s) => s.group),
        ['web-2'],
      );
      assert.equal(
        filtered.series[0].total,
        expectedCount(range.from, range.to, (e) => e.hostName === 'web-2'),
      );
    });

    it('scales a downsampled timeline by 5^level', async () => {
      const line = await queries.timeline({ ...RANGE, samplingLevel: 1 }, { maxBuckets: 4, topGroups: 1 });
      assert.equal(line.samplingLevel, 1);
      for (const total of line.totals) assert.equal(total % 5, 0);
    });

    it('normalises the baseline of a differential view by total samples', async () => {
      const comparison = { from: T0 + 60, to: T0 + 120, samplingLevel: 0 };
      const baseline = { from: T0, to: T0 + 60, samplingLevel: 0 };
      const diff = await queries.diffTopN(comparison, baseline, 100);
      const nowTotal = expectedCount(T0 + 60, T0 + 120);
      const beforeTotal = expectedCount(T0, T0 + 60);
      assert.equal(diff.scale, nowTotal / beforeTotal);
      const handler = diff.functions.find((f) => f.label === LABELS.pyHandler)!;
      assert.equal(handler.comparison.self, 0);
      assert.ok(Math.abs(handler.baseline.self - 11 * (nowTotal / beforeTotal)) < 1e-9);
      assert.ok(handler.selfDelta < 0);
      const graph = await queries.diffFlamegraph(comparison, baseline);
      assert.equal(graph.nodes.total[0], nowTotal);
      assert.equal(graph.nodes.baselineTotal![0], beforeTotal);
      assert.equal(graph.baseline!.scale, nowTotal / beforeTotal);
    });

    it('reads a downsampled level when asked and says so', async () => {
      const graph = await queries.flamegraph({ ...RANGE, samplingLevel: 1 });
      assert.equal(graph.sampling.samplingLevel, 1);
      assert.equal(graph.sampling.scale, 5);
      assert.equal(graph.totalCount % 5, 0);
    });

    it('shows native frames the symbolizer named as functions: one node per function, inline chains expanded', async () => {
      const graph = await queries.flamegraph({ ...NATIVE_RANGE, samplingLevel: 0 });
      const { main, compress, copyWords, load8, libz, unknownFile } = LABELS;
      const { s6, s7, s8, s9, s10 } = STACKS;
      assert.equal(graph.nodes.total[0], nativeCount(s6.id, s7.id, s8.id, s9.id, s10.id));
      // compress_block at five addresses is one node under main, not five.
      const compressNodes = graph.nodes.frame.filter((f) => f >= 0 && graph.frames.label[f] === compress);
      assert.equal(compressNodes.length, 1);
      const compressNode = nodeAt(graph, [main, compress])!;
      assert.equal(graph.nodes.total[compressNode], nativeCount(s6.id, s7.id, s8.id, s9.id, s10.id));
      assert.equal(graph.nodes.self[compressNode], nativeCount(s10.id));
      const compressFrame = graph.nodes.frame[compressNode];
      assert.equal(graph.frames.inline[compressFrame], false);
      assert.equal(graph.frames.symbolized[compressFrame], true);
      assert.equal(graph.frames.sourceFile[compressFrame], 'zlib.c');
      assert.ok([120, 125, 126, 130, 140].includes(graph.frames.sourceLine[compressFrame]));
      // copy_words, inlined at three addresses, is one inline node under its caller.
      const copyNode = nodeAt(graph, [main, compress, copyWords])!;
      assert.equal(graph.nodes.total[copyNode], nativeCount(s6.id, s8.id, s9.id));
      assert.equal(graph.nodes.self[copyNode], nativeCount(s6.id, s8.id));
      assert.equal(graph.frames.inline[graph.nodes.frame[copyNode]], true);
      assert.equal(graph.frames.sourceFile[graph.nodes.frame[copyNode]], 'copy.h');
      const loadNode = nodeAt(graph, [main, compress, copyWords, load8])!;
      assert.equal(graph.frames.inline[graph.nodes.frame[loadNode]], true);
      assert.equal(graph.frames.sourceLine[graph.nodes.frame[loadNode]], 3);
      // Frames without symbols keep executable+address, and point at the executable to upload symbols for.
      const libzNode = nodeAt(graph, [main, compress, libz])!;
      assert.equal(graph.nodes.self[libzNode], nativeCount(s7.id));
      const libzFrame = graph.nodes.frame[libzNode];
      assert.equal(graph.frames.symbolized[libzFrame], false);
      const libzMissing = graph.missingSymbols[graph.frames.missingSymbols[libzFrame]];
      assert.equal(libzMissing.executable, 'libz.so.1');
      assert.equal(libzMissing.buildId, LIBZ_BUILD_ID);
      assert.equal(libzMissing.fileId, FILES.libz);
      assert.equal(
        libzMissing.command,
        'uniprof symbtool push-symbols -u http://symbols.example:4319 -t "$(cat /d/token)" -e /path/to/libz.so.1',
      );
      const unknownNode = nodeAt(graph, [main, compress, copyWords, load8, unknownFile])!;
      const unknownMissing =
        graph.missingSymbols[graph.frames.missingSymbols[graph.nodes.frame[unknownNode]]];
      assert.equal(unknownMissing.executable, '');
      assert.equal(unknownMissing.fileId, FILES.unknown);
      assert.match(unknownMissing.command, /-e <path to the executable>$/);
      // The per-frame identity the UI's details panel and URL state use, the same from every store.
      assert.equal(graph.frames.functionName[compressFrame], 'compress_block');
      assert.equal(graph.frames.functionName[libzFrame], '');
      assert.equal(graph.frames.buildId[libzFrame], LIBZ_BUILD_ID);
      assert.equal(graph.frames.buildId[compressFrame], '');
      assert.equal(graph.frames.fileId[libzFrame], FILES.libz);
      assert.equal(graph.frames.fileId[compressFrame], FILES.app);
      assert.equal(graph.frames.addressOrLine[libzFrame], 0x7000);
      assert.equal(new Set(graph.frames.key).size, graph.frames.key.length, 'one key per frame group');
      assert.equal(graph.frames.key[compressFrame], `s|o|${FrameType.Native}|app|zlib.c|compress_block`);
      assert.equal(graph.frames.key[libzFrame], `u|${FrameType.Native}|${FILES.libz}|${0x7000}|libz.so.1`);
      // Symbolized frames point at nothing; each executable is listed once.
      assert.equal(graph.frames.missingSymbols[compressFrame], -1);
      assert.equal(graph.missingSymbols.length, 2);
    });

    it('lists a native function once in top-N across its addresses, with inline flags and upload hints', async () => {
      const top = await queries.topN({ ...NATIVE_RANGE, samplingLevel: 0 }, 100);
      const { s6, s7, s8, s9, s10 } = STACKS;
      const rows = (label: string) => top.topn.filter((f) => f.label === label);
      assert.equal(rows(LABELS.compress).length, 1);
      const compress = rows(LABELS.compress)[0];
      assert.equal(compress.total_count, nativeCount(s6.id, s7.id, s8.id, s9.id, s10.id));
      assert.equal(compress.self_count, nativeCount(s10.id));
      assert.equal(compress.frame.function_name, 'compress_block');
      assert.equal(compress.frame.file_name, 'zlib.c');
      assert.equal(compress.frame.inline, false);
      assert.equal(compress.frame.frame_type, FrameType.Native);
      assert.equal(compress.frame.executable_file_name, 'app');
      assert.equal(compress.symbolized, true);
      assert.equal(compress.missing_symbols, undefined);
      const copy = rows(LABELS.copyWords)[0];
      assert.equal(copy.frame.inline, true);
      assert.equal(copy.self_count, nativeCount(s6.id, s8.id));
      assert.equal(copy.total_count, nativeCount(s6.id, s8.id, s9.id));
      const libz = rows(LABELS.libz)[0];
      assert.equal(libz.symbolized, false);
      assert.equal(libz.frame.address_or_line, 0x7000);
      assert.equal(libz.missing_symbols?.buildId, LIBZ_BUILD_ID);
      assert.match(
        libz.missing_symbols?.command ?? '',
        /-u http:\/\/symbols\.example:4319 .*-e \/path\/to\/libz\.so\.1$/,
      );
    });

    it('lists native stacks with inline chains as consecutive entries with file:line', async () => {
      const grouped = await queries.stacks({ ...NATIVE_RANGE, samplingLevel: 0 }, 'host.name', 10, 10);
      const web2 = grouped.groups.find((g) => g.value === 'web-2')!;
      const s9 = web2.stacks.find((s) => s.stackTraceId === STACKS.s9.id)!;
      assert.deepEqual(
        s9.frames.map((f) => [f.label, f.inline, f.sourceFile, f.sourceLine, f.symbolized]),
        [
          ['main', false, 'main.c', 10, true],
          ['compress_block', false, 'zlib.c', 140, true],
          ['copy_words', true, 'copy.h', 11, true],
          ['load8', true, 'bytes.h', 3, true],
          [LABELS.unknownFile, false, '', 0, false],
        ],
      );
      assert.equal(s9.frames[4].missingSymbols?.fileId, FILES.unknown);
      // Each frame names its group as the flamegraph does, so the UI can find the stack's path in it.
      const graph = await queries.flamegraph({ ...NATIVE_RANGE, samplingLevel: 0 });
      for (const frame of s9.frames) assert.ok(graph.frames.key.includes(frame.key), frame.key);
      assert.equal(s9.frames[0].missingSymbols, undefined);
      const s7 = web2.stacks.find((s) => s.stackTraceId === STACKS.s7.id)!;
      assert.equal(s7.frames[2].missingSymbols?.executable, 'libz.so.1');
      assert.deepEqual(grouped.missingSymbols.map((m) => m.executable).sort(), ['', 'libz.so.1']);
    });

    it('produces the Elasticsearch flamegraph shape', async () => {
      const es = await queries.elasticFlamegraph({ ...RANGE, samplingLevel: 0 }, 'process.executable.name');
      assert.equal(es.Size, es.Edges.length);
      assert.equal(es.FrameType[0], 0x100);
      assert.equal(es.CountInclusive[0], expectedCount(RANGE.from, RANGE.to));
      const exeNodes = es.Edges[0].map((i) => es.ExeFilename[i]).sort();
      assert.deepEqual(exeNodes, ['app', 'python3']);
      for (const i of es.Edges[0]) assert.equal(es.FrameType[i], 0x101);
      assert.equal(es.SelfCPU, expectedCount(RANGE.from, RANGE.to));
    });

    it('puts executable then thread levels above the frames, as Elasticsearch does', async () => {
      const es = await queries.elasticFlamegraph({ ...ELASTIC_RANGE, samplingLevel: 0 });
      // Independent expectation from the events written: executable name, or "kernel" for a nameless
      // event whose root frame (the last, stacks being leaf first) is a kernel frame; then the thread name.
      const expected = new Map<string, number>();
      const add = (key: string, count: number) => expected.set(key, (expected.get(key) ?? 0) + count);
      const rootFrameType = new Map(Object.values(STACKS).map((s) => [s.id, s.frameTypes.at(-1)]));
      for (const e of EVENTS) {
        if (e.timestamp < ELASTIC_RANGE.from || e.timestamp >= ELASTIC_RANGE.to) continue;
        let executable = e.processName ?? '';
        if (executable === '' && rootFrameType.get(e.stackTraceId) === FrameType.Kernel)
          executable = 'kernel';
        add(executable, e.count);
        add(`${executable} / ${e.threadName ?? ''}`, e.count);
      }
      assert.ok(
        expected.has('kernel') && expected.has('') && expected.has('app / '),
        'the fixture covers it',
      );
      const actual = new Map<string, number>();
      for (const exe of es.Edges[0]) {
        assert.equal(es.FrameType[exe], 0x101);
        assert.equal(es.FunctionName[exe], '');
        actual.set(es.ExeFilename[exe], es.CountInclusive[exe]);
        for (const thread of es.Edges[exe]) {
          assert.equal(es.FrameType[thread], 0x102);
          actual.set(`${es.ExeFilename[exe]} / ${es.ExeFilename[thread]}`, es.CountInclusive[thread]);
          // Then the real frames, root first.
          for (const frame of es.Edges[thread]) assert.ok(es.FrameType[frame] < 0x100);
        }
      }
      assert.deepEqual(actual, expected);
      assert.equal(es.CountInclusive[0], expectedCount(ELASTIC_RANGE.from, ELASTIC_RANGE.to));
      // Under app / main the first frame is main() (stacks s2), and the root of the kernel thread's stack is
      // its kernel frame.
      const appMain = es.Edges[es.Edges[0].find((i) => es.ExeFilename[i] === 'app')!].find(
        (i) => es.ExeFilename[i] === 'main',
      )!;
      assert.deepEqual(
        es.Edges[appMain].map((i) => es.FunctionName[i]),
        [LABELS.main],
      );
      const kworker = es.Edges[es.Edges[0].find((i) => es.ExeFilename[i] === 'kernel')!][0];
      assert.deepEqual(
        es.Edges[kworker].map((i) => es.FrameType[i]),
        [FrameType.Kernel],
      );
      // Every sample ends in exactly one leaf; the two levels add their counts to TotalCPU as on Elasticsearch.
      assert.equal(es.SelfCPU, expectedCount(ELASTIC_RANGE.from, ELASTIC_RANGE.to));
      assert.equal(
        es.TotalCPU,
        es.CountInclusive.reduce((s, c) => s + c, 0),
      );
    });
    it('answers the sandwich of a function: callers and callees merged over the profile', async () => {
      const query = { ...RANGE, samplingLevel: 0 };
      const top = await queries.topN(query, 100);
      const libc = top.topn.find((f) => f.label === LABELS.libc)!;
      const view = await queries.sandwich(query, libc.id);
      const { main, request, inlined, syscall } = LABELS;
      const s1 = countOf(STACKS.s1.id);
      const s3 = countOf(STACKS.s3.id);
      assert.equal(view.frame.label, LABELS.libc);
      assert.equal(view.total, s1 + s3);
      assert.equal(view.self, s1);
      assert.equal(view.profileTotal, expectedCount(RANGE.from, RANGE.to));
      // Callers, inverted: libc at the root, who called it below (s1 through the inline chain, s3 from main).
      assert.equal(view.callers.nodes.total[0], s1 + s3);
      assert.deepEqual(
        labelPaths(view.callers),
        new Map([
          [LABELS.libc, [s1 + s3, 0]],
          [`${LABELS.libc} > ${inlined}`, [s1, 0]],
          [`${LABELS.libc} > ${inlined} > ${request}`, [s1, 0]],
          [`${LABELS.libc} > ${inlined} > ${request} > ${main}`, [s1, s1]],
          [`${LABELS.libc} > ${main}`, [s3, s3]],
        ]),
      );
      assert.deepEqual(
        labelPaths(view.callees),
        new Map([
          [LABELS.libc, [s1 + s3, s1]],
          [`${LABELS.libc} > ${syscall}`, [s3, s3]],
        ]),
      );
      assert.equal(view.callees.frames.key[view.callees.nodes.frame[1]], libc.id);
      await assert.rejects(
        queries.sandwich(query, 'no such frame'),
        (e: unknown) => e instanceof UnknownFrameError,
      );
    });

    it('applies flamegraph actions: focus, hide, collapse, invert, keeping counts exact', async () => {
      const query = { ...RANGE, samplingLevel: 0 };
      const all = expectedCount(RANGE.from, RANGE.to);
      const { main, request, inlined, syscall, pyModule, pyHandler } = LABELS;
      const libc = LABELS.libc;
      const [s1, s2, s3, s4] = [STACKS.s1, STACKS.s2, STACKS.s3, STACKS.s4].map((s) => countOf(s.id));
      const keyOf = async (label: string) =>
        (await queries.topN(query, 100)).topn.find((f) => f.label === label)!.id;
      const requestKey = await keyOf(request);
      const focused = await queries.flamegraph(query, undefined, { focus: requestKey });
      assert.equal(focused.nodes.total[0], s1 + s2);
      assert.deepEqual(
        labelPaths(focused),
        new Map([
          [request, [s1 + s2, s2]],
          [`${request} > ${inlined}`, [s1, 0]],
          [`${request} > ${inlined} > ${libc}`, [s1, s1]],
        ]),
      );
      const hidden = await queries.flamegraph(query, undefined, { hide: [requestKey, await keyOf(libc)] });
      assert.equal(hidden.nodes.total[0], all);
      assert.deepEqual(
        labelPaths(hidden),
        new Map([
          [main, [s1 + s2 + s3, s2]],
          [`${main} > ${inlined}`, [s1, s1]],
          [`${main} > ${syscall}`, [s3, s3]],
          [pyModule, [s4, 0]],
          [`${pyModule} > ${pyHandler}`, [s4, s4]],
        ]),
      );
      const collapsed = await queries.flamegraph(query, undefined, { collapse: [await keyOf(main)] });
      assert.equal(collapsed.nodes.total[0], all);
      assert.deepEqual(labelPaths(collapsed).get(main), [s1 + s2 + s3, s1 + s2 + s3]);
      assert.equal(labelPaths(collapsed).size, 3);
      const inverted = await queries.flamegraph(query, undefined, { invert: true });
      assert.equal(inverted.nodes.total[0], all);
      assert.deepEqual(
        labelPaths(inverted),
        new Map([
          [libc, [s1, 0]],
          [`${libc} > ${inlined}`, [s1, 0]],
          [`${libc} > ${inlined} > ${request}`, [s1, 0]],
          [`${libc} > ${inlined} > ${request} > ${main}`, [s1, s1]],
          [request, [s2, 0]],
          [`${request} > ${main}`, [s2, s2]],
          [syscall, [s3, 0]],
          [`${syscall} > ${libc}`, [s3, 0]],
          [`${syscall} > ${libc} > ${main}`, [s3, s3]],
          [pyHandler, [s4, 0]],
          [`${pyHandler} > ${pyModule}`, [s4, s4]],
        ]),
      );
      await assert.rejects(
        queries.flamegraph(query, undefined, { focus: 'no such frame' }),
        (e: unknown) => e instanceof UnknownFrameError,
      );
    });
  });
}
