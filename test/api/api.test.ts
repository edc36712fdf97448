import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { parse } from 'yaml';
import {
  readBacklog,
  registerQueryApi,
  registerUi,
  symbolUploadTarget,
  type StatusResponse,
} from '../../src/api/index.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { FrameType, type ProfilingEvent } from '../../src/model/index.ts';
import type { CompactFlamegraph, GroupedStacksResponse, TopNResponse } from '../../src/query/index.ts';
import {
  EVENTS,
  FILES,
  LABELS,
  LIBZ_BUILD_ID,
  NATIVE_RANGE,
  STACKS,
  T0,
  UNSYMBOLIZED_NATIVE,
  expectedCount,
  fixtureStore,
} from '../query/fixture.ts';
import { bearer, withTestReaders } from '../support/reader-auth.ts';

/** The server's configuration as a user would write it: a symbolizer on its own host and port. */
const CONFIG = loadConfig({
  overrides: ['dataDir=/srv/uniprof', 'symbolizer.http.host=symbols.internal', 'symbolizer.http.port=4419'],
});
const UPLOAD_COMMAND_LIBZ =
  'uniprof symbtool push-symbols -u http://symbols.internal:4419 -t "$(cat /srv/uniprof/symbol-upload-token)" -e /path/to/libz.so.1';

interface ElasticLevels {
  Edges: number[][];
  FrameType: number[];
  ExeFilename: string[];
  CountInclusive: number[];
}

/** "executable / thread" → count, plus "executable" → count, read off the first two levels of a response. */
function levelCounts(es: ElasticLevels): Map<string, number> {
  const counts = new Map<string, number>();
  for (const exe of es.Edges[0]) {
    assert.equal(es.FrameType[exe], 0x101);
    counts.set(es.ExeFilename[exe], es.CountInclusive[exe]);
    for (const thread of es.Edges[exe]) {
      assert.equal(es.FrameType[thread], 0x102);
      counts.set(`${es.ExeFilename[exe]} / ${es.ExeFilename[thread]}`, es.CountInclusive[thread]);
    }
  }
  return counts;
}

/** The same, computed from the events written (kernel threads without a name count as "kernel"). */
function expectedLevels(from: number, to: number, keep: (e: ProfilingEvent) => boolean = () => true) {
  const counts = new Map<string, number>();
  const add = (key: string, count: number) => counts.set(key, (counts.get(key) ?? 0) + count);
  const stacks = new Map(Object.values(STACKS).map((s) => [s.id, s]));
  for (const e of EVENTS) {
    if (e.timestamp < from || e.timestamp >= to || !keep(e)) continue;
    const rootType = stacks.get(e.stackTraceId)!.frameTypes.at(-1);
    const exe = e.processName ?? (rootType === FrameType.Kernel ? 'kernel' : '');
    add(exe, e.count);
    add(`${exe} / ${e.threadName ?? ''}`, e.count);
  }
  return counts;
}

describe('query API over the embedded store', () => {
  let store: EmbeddedStore;
  let app: FastifyInstance;
  const range = `from=${T0}&to=${T0 + 120}&samplingLevel=0`;

  before(async () => {
    store = await fixtureStore();
    app = Fastify();
    await withTestReaders(app);
    await registerQueryApi(app, {
      store,
      options: { now: () => T0 + 120, symbolUpload: symbolUploadTarget(CONFIG) },
    });
    await registerUi(app, { directory: '/nonexistent-uniprof-ui' });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  /** Every request of these tests reads with the test read token. */
  const inject = (options: InjectOptions) =>
    app.inject({ ...options, headers: { ...bearer(), ...options.headers } });

  async function get(url: string) {
    const response = await inject({ method: 'GET', url });
    return { status: response.statusCode, body: response.json() as unknown };
  }

  it('serves a compact flamegraph with the root total and the sampling level used', async () => {
    const { status, body } = await get(`/api/flamegraph?${range}`);
    assert.equal(status, 200);
    const graph = body as { nodes: { total: number[] }; sampling: { samplingLevel: number } };
    assert.equal(graph.nodes.total[0], expectedCount(T0, T0 + 120));
    assert.equal(graph.sampling.samplingLevel, 0);
  });

  it('accepts relative times, filter strings and aliases', async () => {
    const filter = encodeURIComponent('host:web-2 or tag:canary');
    const { status, body } = await get(`/api/flamegraph?from=now-2m&to=now&filter=${filter}&samplingLevel=0`);
    assert.equal(status, 200);
    assert.equal(
      (body as { totalCount: number }).totalCount,
      expectedCount(T0, T0 + 120, (e) => e.hostName === 'web-2' || e.tags.includes('canary')),
    );
  });

  it('serves the Elasticsearch flamegraph and top-N shapes', async () => {
    const es = (await get(`/api/flamegraph?${range}&format=elastic`)).body as ElasticLevels & {
      Size: number;
      SamplingRate: number;
    };
    assert.equal(es.Edges.length, es.Size);
    assert.deepEqual(levelCounts(es), expectedLevels(T0, T0 + 120));
    const wide = (await get(`/api/flamegraph?from=${T0}&to=${T0 + 300}&samplingLevel=0&format=elastic`))
      .body as ElasticLevels;
    assert.deepEqual(levelCounts(wide), expectedLevels(T0, T0 + 300));
    assert.ok(levelCounts(wide).has('kernel'));
    // With groupBy, the one level asked for instead.
    const byHost = (await get(`/api/flamegraph?${range}&format=elastic&groupBy=host`)).body as ElasticLevels;
    assert.deepEqual(
      byHost.Edges[0].map((i) => byHost.ExeFilename[i]),
      ['web-1', 'web-2'],
    );
    assert.equal(es.CountInclusive[0], expectedCount(T0, T0 + 120));
    assert.equal(es.SamplingRate, 1);
    const top = (await get(`/api/topn/functions?${range}&limit=2`)).body as {
      topn: { rank: number; self_count: number; frame: { function_name: string } }[];
      total_count: number;
    };
    assert.equal(top.topn.length, 2);
    assert.equal(top.total_count, expectedCount(T0, T0 + 120));
    assert.equal(top.topn[0].rank, 1);
  });

  it('groups stack traces by thread', async () => {
    const { body } = await get(`/api/stacktraces?${range}&groupBy=thread`);
    const groups = (body as { groups: { value: string; count: number }[] }).groups;
    const expected = new Map<string, number>();
    for (const e of EVENTS) {
      if (e.timestamp < T0 + 120) expected.set(e.threadName!, (expected.get(e.threadName!) ?? 0) + e.count);
    }
    assert.deepEqual(new Map(groups.map((g) => [g.value, g.count])), expected);
  });

  it('serves samples over time by thread, the series adding up to the totals', async () => {
    const { status, body } = await get(`/api/timeline?${range}&groupBy=thread&buckets=4&groups=1`);
    assert.equal(status, 200);
    const line = body as {
      bucketSeconds: number;
      totals: number[];
      series: { counts: number[] }[];
      other: number[];
    };
    assert.equal(line.bucketSeconds, 60, '120 s in at most 4 aligned buckets');
    assert.equal(line.series.length, 1);
    const total = EVENTS.filter((e) => e.timestamp >= T0 && e.timestamp < T0 + 120).reduce(
      (s, e) => s + e.count,
      0,
    );
    assert.equal(
      line.totals.reduce((s, n) => s + n, 0),
      total,
    );
    line.totals.forEach((n, i) => assert.equal(line.series[0].counts[i] + line.other[i], n));
  });

  it('serves differential views with a separate baseline', async () => {
    const url = `/api/diff/topn?from=${T0 + 60}&to=${T0 + 120}&baselineFrom=${T0}&baselineTo=${T0 + 60}&samplingLevel=0`;
    const { status, body } = await get(url);
    assert.equal(status, 200);
    assert.equal(
      (body as { scale: number }).scale,
      expectedCount(T0 + 60, T0 + 120) / expectedCount(T0, T0 + 60),
    );
    const graph = await get(url.replace('/diff/topn', '/diff/flamegraph'));
    const nodes = (graph.body as { nodes: { baselineTotal: number[] } }).nodes;
    assert.equal(nodes.baselineTotal[0], expectedCount(T0, T0 + 60));
  });

  it('exports pprof', async () => {
    const response = await inject({ method: 'GET', url: `/api/pprof?${range}` });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/octet-stream');
    assert.ok(gunzipSync(response.rawPayload).length > 100);
  });

  it('lists field values and status', async () => {
    const values = (await get(`/api/fields/host/values?from=${T0}&to=${T0 + 1000}`)).body as {
      values: string[];
    };
    assert.deepEqual([...values.values].sort(), ['web-1', 'web-2']);
    const status = (await get('/api/status')).body as { stats: { events: number }; hosts: unknown[] };
    assert.ok(status.stats.events >= EVENTS.length);
    assert.equal(status.hosts.length, 2);
  });

  it('serves symbolized native frames: one entry per function, file:line, inline flags', async () => {
    const native = `from=${NATIVE_RANGE.from}&to=${NATIVE_RANGE.to}&samplingLevel=0`;
    const graph = (await get(`/api/flamegraph?${native}`)).body as CompactFlamegraph;
    const frameOf = (label: string) => graph.frames.label.indexOf(label);
    assert.equal(graph.frames.label.filter((l) => l === LABELS.compress).length, 1);
    const copy = frameOf(LABELS.copyWords);
    assert.equal(graph.frames.inline[copy], true);
    assert.equal(graph.frames.sourceFile[copy], 'copy.h');
    assert.equal(graph.frames.inline[frameOf(LABELS.compress)], false);
    const top = (await get(`/api/topn/functions?${native}`)).body as TopNResponse;
    const compress = top.topn.filter((f) => f.frame.function_name === 'compress_block');
    assert.equal(compress.length, 1);
    assert.equal(compress[0].total_count, expectedCount(NATIVE_RANGE.from, NATIVE_RANGE.to));
    assert.equal(top.topn.find((f) => f.label === LABELS.load8)?.frame.inline, true);
    const stacks = (await get(`/api/stacktraces?${native}&groupBy=host`)).body as GroupedStacksResponse;
    const s9 = stacks.groups.flatMap((g) => g.stacks).find((s) => s.stackTraceId === STACKS.s9.id)!;
    assert.deepEqual(
      s9.frames.map((f) => `${f.label}${f.inline ? ' (inline)' : ''} ${f.sourceFile}:${f.sourceLine}`),
      [
        'main main.c:10',
        'compress_block zlib.c:140',
        'copy_words (inline) copy.h:11',
        'load8 (inline) bytes.h:3',
        `${LABELS.unknownFile} :0`,
      ],
    );
  });

  it('says which native frames lack symbols and how to upload them, with the configured symbolizer', async () => {
    const native = `from=${NATIVE_RANGE.from}&to=${NATIVE_RANGE.to}&samplingLevel=0`;
    const graph = (await get(`/api/flamegraph?${native}`)).body as CompactFlamegraph;
    const libz = graph.frames.label.indexOf(LABELS.libz);
    assert.equal(graph.frames.symbolized[libz], false);
    assert.deepEqual(graph.missingSymbols[graph.frames.missingSymbols[libz]], {
      fileId: FILES.libz,
      executable: 'libz.so.1',
      buildId: LIBZ_BUILD_ID,
      command: UPLOAD_COMMAND_LIBZ,
    });
    // Symbolized and kernel/interpreted frames get no upload hint.
    graph.frames.label.forEach((label, i) => {
      const native = graph.frames.frameType[i] === FrameType.Native && !graph.frames.symbolized[i];
      assert.equal(graph.frames.missingSymbols[i] >= 0, native, label);
    });
    const top = (await get(`/api/topn/functions?${native}`)).body as TopNResponse;
    assert.equal(
      top.topn.find((f) => f.label === LABELS.libz)?.missing_symbols?.command,
      UPLOAD_COMMAND_LIBZ,
    );
    const stacks = (await get(`/api/stacktraces?${native}&groupBy=host`)).body as GroupedStacksResponse;
    assert.deepEqual(stacks.missingSymbols.map((m) => m.executable).sort(), ['', 'libz.so.1']);
    // The first range's unsymbolized libc frame, through the diff flamegraph's tooltips as well.
    const diff = (await get(`/api/diff/flamegraph?${range}&baselineFrom=${T0}&baselineTo=${T0 + 60}`))
      .body as CompactFlamegraph;
    assert.deepEqual(
      diff.missingSymbols.map((m) => m.command),
      [UPLOAD_COMMAND_LIBZ.replace('libz.so.1', 'libc.so.6')],
    );
    const diffTop = (await get(`/api/diff/topn?${range}&baselineFrom=${T0}&baselineTo=${T0 + 60}`)).body as {
      functions: { label: string; inline: boolean; missingSymbols?: { executable: string } }[];
    };
    assert.equal(
      diffTop.functions.find((f) => f.label === 'libc.so.6+0x5000')?.missingSymbols?.executable,
      'libc.so.6',
    );
    assert.equal(diffTop.functions.find((f) => f.label === 'inlined_helper')?.inline, true);
    assert.equal(diffTop.functions.find((f) => f.label === 'main')?.missingSymbols, undefined);
  });

  it('reports the symbolizer address and token location in the status, never the token', async () => {
    const status = (await get('/api/status')).body as StatusResponse;
    assert.deepEqual(status.symbolizer.upload, {
      symbolizerUrl: 'http://symbols.internal:4419',
      uploadToken: '$(cat /srv/uniprof/symbol-upload-token)',
    });
    assert.equal(
      status.symbolizer.command,
      'uniprof symbtool push-symbols -u http://symbols.internal:4419 -t "$(cat /srv/uniprof/symbol-upload-token)" -e <path to the executable>',
    );
    const configured = symbolUploadTarget(
      loadConfig({ overrides: ['symbolizer.uploadToken=s3cret-token', 'dataDir=/x y'] }),
    );
    assert.equal(configured.symbolizerUrl, 'http://127.0.0.1:4319');
    assert.ok(!JSON.stringify(configured).includes('s3cret-token'));
    assert.match(configured.uploadToken, /symbolizer\.uploadToken/);
    const generated = symbolUploadTarget(loadConfig({ overrides: ['dataDir=/x y'] }));
    assert.equal(generated.uploadToken, "$(cat '/x y/symbol-upload-token')");
  });

  it('gives up on a backlog that does not answer, and on one that fails, without failing', async () => {
    const started = Date.now();
    const hung = await readBacklog({ backlog: () => new Promise(() => undefined) }, 100);
    assert.deepEqual(hung, { available: false, reason: 'no answer within 100 ms' });
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(await readBacklog({ backlog: () => Promise.reject(new Error('index missing')) }, 100), {
      available: false,
      reason: 'index missing',
    });
    assert.deepEqual(await readBacklog(undefined, 100), {
      available: false,
      reason: 'this store has no symbolization queue',
    });
  });

  it('reports the store backlog of the frames the fixture queued', async () => {
    const status = (await get('/api/status')).body as StatusResponse;
    // The fixture queued one frame in each of three executables and uploaded no symbols.
    assert.deepEqual(status.symbolizer.backlog, {
      available: true,
      pendingExecutables: new Set(UNSYMBOLIZED_NATIVE.map((f) => f.ref.fileId)).size,
      pendingFrames: UNSYMBOLIZED_NATIVE.length,
      symbolizedExecutables: 0,
      waitingByReason: {},
    });
  });

  it('answers bad input with 400 and a message naming the parameter', async () => {
    const cases: [string, RegExp][] = [
      [`/api/flamegraph?${range}&filter=${encodeURIComponent('host:(a or')}`, /filter/],
      [`/api/flamegraph?from=yesterday`, /from/],
      [`/api/flamegraph?from=${T0 + 10}&to=${T0}`, /to must be after from/],
      [`/api/flamegraph?${range}&frameTypes=cobol`, /frameTypes/],
      [`/api/flamegraph?${range}&format=svg`, /format/],
      [`/api/topn/functions?${range}&limit=0`, /limit/],
      [`/api/stacktraces?${range}&groupBy=nosuch`, /groupBy/],
      [`/api/flamegraph?samplingLevel=99`, /samplingLevel/],
      [`/api/timeline?${range}&buckets=0`, /buckets/],
      [`/api/timeline?${range}&groups=101`, /groups/],
      [`/api/timeline?${range}&groupBy=nosuch`, /groupBy/],
    ];
    for (const [url, message] of cases) {
      const { status, body } = await get(url);
      assert.equal(status, 400, url);
      assert.match((body as { message: string }).message, message, url);
    }
  });

  it('answers Elasticsearch _profiling requests with the query DSL subset', async () => {
    const body = {
      query: {
        bool: {
          filter: [
            { range: { '@timestamp': { gte: String(T0), lt: String(T0 + 120), format: 'epoch_second' } } },
            { terms: { 'host.name': ['web-1'] } },
          ],
          must_not: [{ term: { 'process.thread.name': 'python3' } }],
        },
      },
      cost_per_core_hour: 1,
      requested_duration: 120,
    };
    const viaSource = `/_profiling/flamegraph?source=${encodeURIComponent(JSON.stringify(body))}`;
    for (const [method, url] of [
      ['POST', '/_profiling/flamegraph'],
      ['GET', viaSource],
    ] as const) {
      const response = await inject({ method, url, payload: method === 'POST' ? body : undefined });
      assert.equal(response.statusCode, 200, response.body);
      const es = response.json() as ElasticLevels & {
        TotalSamples: number;
        AnnualCostsUSDInclusive: number[];
      };
      const keep = (e: ProfilingEvent) => e.hostName === 'web-1' && e.threadName !== 'python3';
      const expected = expectedCount(T0, T0 + 120, keep);
      assert.equal(es.TotalSamples, expected);
      assert.deepEqual(levelCounts(es), expectedLevels(T0, T0 + 120, keep));
      // 1 USD per core-hour: samples / 20 Hz core-seconds in 120 s, scaled to a year.
      const annualCoreHours = ((expected / 20) * ((365 * 86400) / 120)) / 3600;
      assert.ok(Math.abs(es.AnnualCostsUSDInclusive[0] - annualCoreHours) < 1e-3);
    }
    const top = await inject({
      method: 'POST',
      url: '/_profiling/topn/functions',
      payload: { ...body, limit: 3 },
    });
    assert.equal((top.json() as { topn: unknown[] }).topn.length, 3);
    const bad = await inject({
      method: 'POST',
      url: '/_profiling/flamegraph',
      payload: { query: { term: { 'host.name': 'web-1' } } },
    });
    assert.equal(bad.statusCode, 400);
    assert.match((bad.json() as { message: string }).message, /range on @timestamp/);
    const unsupported = await inject({
      method: 'POST',
      url: '/_profiling/flamegraph',
      payload: { query: { geo_shape: {} } },
    });
    assert.match((unsupported.json() as { message: string }).message, /not supported/);
  });

  it('serves its OpenAPI description, listing every route', async () => {
    const response = await inject({ method: 'GET', url: '/api/openapi.yaml' });
    const spec = parse(response.body) as { paths: Record<string, unknown> };
    for (const path of [
      '/api/flamegraph',
      '/api/topn/functions',
      '/api/stacktraces',
      '/api/timeline',
      '/api/diff/flamegraph',
      '/api/diff/topn',
      '/api/pprof',
      '/api/status',
      '/api/settings',
      '/api/storage',
    ]) {
      assert.ok(spec.paths[path], path);
    }
  });

  it('says clearly when the UI was not built', async () => {
    const response = await inject({ method: 'GET', url: '/ui/' });
    assert.equal(response.statusCode, 503);
    assert.match(response.body, /npm run build:ui/);
  });
});
