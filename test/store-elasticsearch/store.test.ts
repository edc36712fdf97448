import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FrameType, emptyBatch } from '../../src/model/index.ts';
import { StoreBusyError, StoreUnavailableError, UnsupportedGroupByError } from '../../src/store/store.ts';
import { ElasticsearchStore, InvalidBatchError, layout } from '../../src/store/elasticsearch/index.ts';
import { writeFile } from 'node:fs/promises';
import { runLoadgen } from '../../src/loadgen/index.ts';
import { ProfileTranslator } from '../../src/collector/translate.ts';
import { Workload } from '../../src/loadgen/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import type { EventQuery, StackTraceCount } from '../../src/store/store.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { createClient } from '../../src/store/elasticsearch/options.ts';
import https from 'node:https';
import { fileIdOf, makeBatch, makeStack, removeTempDirs, storeFor, tempDir } from './helpers.ts';
import { startUniprof } from '../support/processes.ts';

let peer: ElasticsearchPeer;
let spoolDir: string;
let store: ElasticsearchStore;

before(async () => {
  peer = await startElasticsearch();
  spoolDir = await tempDir('es-store');
});

after(async () => {
  await store?.close();
  await peer?.dispose();
  if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  await removeTempDirs();
});

type TemplateMeta = { version?: number; _meta?: Record<string, unknown> };

async function componentTemplate(
  name: string,
): Promise<TemplateMeta & { template: Record<string, unknown> }> {
  const response = await peer.request('GET', `/_component_template/${name}`);
  assert.equal(response.status, 200, `component template ${name}: ${JSON.stringify(response.body)}`);
  const body = response.body as {
    component_templates: { component_template: TemplateMeta & { template: Record<string, unknown> } }[];
  };
  return body.component_templates[0].component_template;
}

test('start-up installs the profiling layout, and a second start-up changes nothing', async () => {
  const store = storeFor(peer, spoolDir);
  await store.open();
  assert.equal(store.layout?.owner, 'uniprof');
  assert.ok(store.layout!.changed.includes('component template profiling-events'));
  await store.close();

  const events = await componentTemplate('profiling-events');
  const mappings = events.template.mappings as {
    properties: Record<string, { type: string; index?: boolean }>;
  };
  assert.equal(mappings.properties['Stacktrace.id'].type, 'keyword');
  assert.equal(mappings.properties['Stacktrace.id'].index, false);
  assert.equal(mappings.properties['Stacktrace.count'].type, 'short');
  assert.equal(mappings.properties['host.ip'].type, 'ip');
  assert.equal(events._meta?.managed_by, 'uniprof');

  for (const alias of layout.KEY_VALUE_INDICES) {
    const response = await peer.request('GET', `/_alias/${alias}`);
    assert.equal(response.status, 200, `alias ${alias}`);
    const indices = Object.keys(response.body as object);
    assert.deepEqual(indices, [`.${alias}-v001-000001`]);
  }
  for (const name of layout.PLAIN_INDICES) {
    assert.equal((await peer.request('HEAD', `/.${name}-v001`)).status, 200, `index .${name}-v001`);
  }
  const template = await peer.request('GET', '/_index_template/profiling-events');
  const indexTemplate = (
    template.body as {
      index_templates: { index_template: { index_patterns: string[]; data_stream?: object } }[];
    }
  ).index_templates[0].index_template;
  assert.deepEqual(indexTemplate.index_patterns, ['profiling-events*']);
  assert.ok(indexTemplate.data_stream, 'events are a data stream');
  // The downsampled levels get their own template, with the events mappings.
  for (const stream of ['profiling-events-5pow01', 'profiling-events-5pow11']) {
    const resolved = await resolvedTemplate(`/_index_template/_simulate_index/${stream}`);
    assert.ok(resolved.mappings.properties['@timestamp'], `${stream} has the events mappings`);
  }

  const again = storeFor(peer, spoolDir);
  await again.open();
  assert.deepEqual(again.layout?.changed, []);
  await again.close();
});

interface ResolvedTemplate {
  settings: { index: { number_of_shards: string } };
  mappings: { properties: Record<string, unknown> };
}

async function resolvedTemplate(path: string, body?: object): Promise<ResolvedTemplate> {
  const simulated = await peer.request('POST', path, body);
  assert.equal(simulated.status, 200, JSON.stringify(simulated.body));
  return (simulated.body as { template: ResolvedTemplate }).template;
}

test('downsampled events get a fifth of level 0 shards, at least one', async () => {
  const capabilities = {
    ilm: false,
    versionFieldType: true,
    unsignedLongFieldType: true,
    sourceModeSetting: true,
  };
  for (const [eventShards, expected] of [
    [4, '1'], // the plugin's default
    [10, '2'],
    [12, '3'],
  ] as const) {
    const settings = { eventShards, keyValueShards: 1, replicas: 0, capabilities };
    const downsampled = layout
      .indexTemplates(settings)
      .find((t) => t.name === 'profiling-events-downsampled');
    assert.ok(downsampled);
    // The template's own setting wins over the shared events component's (installed here with 1 shard).
    const resolved = await resolvedTemplate('/_index_template/_simulate', {
      ...(downsampled.body as object),
      priority: 500,
    });
    assert.equal(resolved.settings.index.number_of_shards, expected, `${eventShards} event shards`);
  }
});

test('an outdated template of ours is replaced; a template someone else owns is left alone', async () => {
  const current = await componentTemplate('profiling-stacktraces');
  await peer.request('PUT', '/_component_template/profiling-stacktraces', {
    template: current.template,
    version: 0,
    _meta: { managed_by: 'uniprof' },
  });
  const upgrading = storeFor(peer, spoolDir);
  await upgrading.open();
  assert.deepEqual(upgrading.layout?.changed, ['component template profiling-stacktraces']);
  await upgrading.close();
  assert.equal((await componentTemplate('profiling-stacktraces')).version, layout.LAYOUT_VERSION);

  const events = await componentTemplate('profiling-events');
  await peer.request('PUT', '/_component_template/profiling-events', {
    template: events.template,
    version: 99,
    _meta: { managed: true, description: 'installed by the profiling plugin' },
  });
  const guest = storeFor(peer, spoolDir);
  await guest.open();
  assert.equal(guest.layout?.owner, 'foreign');
  assert.deepEqual(guest.layout?.changed, []);
  await guest.close();
  const after = await componentTemplate('profiling-events');
  assert.equal(after.version, 99);
  assert.equal(after._meta?.managed_by, undefined);
  // Hand it back, outdated, for the tests below: the next start-up of ours upgrades it.
  await peer.request('PUT', '/_component_template/profiling-events', {
    template: events.template,
    version: 0,
    _meta: { managed_by: 'uniprof' },
  });
});

async function getDoc(index: string, id: string): Promise<Record<string, unknown>> {
  const response = await peer.request('GET', `/${index}/_doc/${encodeURIComponent(id)}`);
  assert.equal(response.status, 200, `${index}/${id}: ${JSON.stringify(response.body)}`);
  return (response.body as { _source: Record<string, unknown> })._source;
}

/** Reads a field from a document whether Elasticsearch returned it flat or as nested objects. */
function field(doc: unknown, name: string): unknown {
  if (doc === null || typeof doc !== 'object') return undefined;
  const record = doc as Record<string, unknown>;
  if (name in record) return record[name];
  const [head, ...rest] = name.split('.');
  for (let i = 1; i <= rest.length; i++) {
    const key = [head, ...rest.slice(0, i - 1)].join('.');
    if (key in record) return field(record[key], rest.slice(i - 1).join('.'));
  }
  return undefined;
}

async function countDocs(index: string, query?: object): Promise<number> {
  const response = await peer.request(
    'POST',
    `/${index}/_count?ignore_unavailable=true`,
    query ? { query } : undefined,
  );
  return (response.body as { count: number }).count;
}

test('the store opens on the installed layout', async () => {
  store = storeFor(peer, spoolDir);
  await store.open();
  assert.equal(store.layout?.owner, 'uniprof');
});

/*
 * Creating an API key needs the security index, whose mapping uses analysis-common, a module the
 * integration-test distribution lacks; so only the refusal of a key is exercised here.
 */
test('credentials Elasticsearch refuses fail start-up with a clear error', async () => {
  for (const credentials of [
    { apiKey: Buffer.from('nobody:nothing').toString('base64') },
    { username: 'elastic', password: 'wrong' },
  ]) {
    const refused = new ElasticsearchStore({
      hosts: [peer.url],
      ...credentials,
      tls: { caPem: peer.caPem },
      spoolDir: await tempDir('es-refused'),
    });
    await assert.rejects(refused.open(), /authentication failed/);
  }
  const untrusted = new ElasticsearchStore({
    hosts: [peer.url],
    username: peer.username,
    password: peer.password,
    spoolDir: await tempDir('es-untrusted'),
  });
  // Without the cluster's CA the handshake fails: a configuration mistake, said so, not an outage to wait out.
  await assert.rejects(untrusted.open(), /TLS: .*certificate.*tls\.ca/);
});

test('stack traces, frames, executables, hosts and events land under the right IDs with the right fields', async () => {
  const { trace, refs } = makeStack(3, 6);
  const batch = emptyBatch();
  batch.stackTraces.push(trace);
  batch.stackFrames.push({
    frameId: trace.frameIds[5],
    // Model order: innermost first.
    functionNames: ['inlined_helper', 'handle_request'],
    fileNames: ['util.py', 'app.py'],
    lineNumbers: [7, 42],
    functionOffsets: [0, 3],
  });
  batch.executables.push({
    fileId: refs[1].fileId,
    buildId: 'abc123',
    fileName: 'libc.so.6',
    lastSeen: 1_700_000_000,
  });
  batch.hosts.push({
    hostId: 'host-a',
    timestamp: 1_700_000_000,
    hostName: 'a.example',
    hostIp: '192.0.2.7',
    arch: 'x86_64',
    osKernel: '6.1.0',
    agentVersion: '0.0.202633',
    projectId: 2,
    attributes: { 'cloud.region': 'eu-west-1' },
  });
  batch.events.push({
    timestamp: 1_700_000_005,
    stackTraceId: trace.id,
    count: 40_000, // more than a short: split over two documents
    hostId: 'host-a',
    hostIp: '192.0.2.7',
    threadName: 'main',
    containerName: 'web',
    podName: 'web-0',
    tags: ['prod'],
    projectId: 2,
  });
  await store.write(batch);
  await store.flush();

  // Stack trace: frame IDs decode (independently of the model code) to file ID bytes + big-endian address.
  // Elasticsearch's profiling plugin reads the document root first, so it holds the model's leaf-first list
  // reversed.
  const traceDoc = await getDoc('profiling-stacktraces', trace.id);
  const ids = String(field(traceDoc, 'Stacktrace.frame.ids'));
  assert.equal(ids.length, 6 * 32);
  for (let i = 0; i < 6; i++) {
    const bytes = Buffer.from(ids.slice(i * 32, (i + 1) * 32), 'base64url');
    assert.equal(bytes.subarray(0, 16).toString('base64url'), refs[5 - i].fileId);
    assert.equal(bytes.readBigUInt64BE(16), refs[5 - i].addressOrLine);
  }
  const rle = [...Buffer.from(String(field(traceDoc, 'Stacktrace.frame.types')), 'base64url')];
  // Root first: three Python frames, two native frames, then the leaf kernel frame.
  assert.deepEqual(rle, [3, FrameType.Python, 2, FrameType.Native, 1, FrameType.Kernel]);

  // An inline chain is stored outermost first (the plugin treats the last entry as the innermost).
  const frameDoc = await getDoc('profiling-stackframes', trace.frameIds[5]);
  assert.deepEqual(field(frameDoc, 'Stackframe.function.name'), ['handle_request', 'inlined_helper']);
  assert.deepEqual(field(frameDoc, 'Stackframe.line.number'), [42, 7]);

  const executableDoc = await getDoc('profiling-executables', refs[1].fileId);
  assert.equal(field(executableDoc, 'Executable.file.name'), 'libc.so.6');
  assert.equal(field(executableDoc, 'Executable.build.id'), 'abc123');
  // Start of the week (Monday 00:00 UTC) of 2023-11-14 22:13:20 UTC.
  assert.equal(Number(field(executableDoc, '@timestamp')), Date.UTC(2023, 10, 13) / 1000);

  assert.equal(await countDocs('profiling-events-all'), 2);
  const counts = await peer.request('POST', '/profiling-events-all/_search', {
    size: 10,
    query: { term: { 'orchestrator.resource.name': 'web-0' } },
    aggs: { total: { sum: { field: 'Stacktrace.count' } } },
  });
  const body = counts.body as {
    hits: { hits: { _source: unknown }[] };
    aggregations: { total: { value: number } };
  };
  assert.equal(body.aggregations.total.value, 40_000);
  const event = body.hits.hits[0]._source;
  assert.equal(field(event, 'Stacktrace.id'), trace.id);
  assert.equal(field(event, 'host.ip'), '192.0.2.7');
  assert.equal(String(field(event, 'profiling.project.id')), '2');

  assert.deepEqual(await store.getStackTraces([trace.id, 'missing']), new Map([[trace.id, trace]]));
  const frames = await store.getStackFrames([trace.frameIds[5]]);
  assert.deepEqual(
    frames.get(trace.frameIds[5])?.fileNames,
    ['util.py', 'app.py'],
    'read back in model order',
  );
  const executables = await store.getExecutables([refs[1].fileId]);
  assert.equal(executables.get(refs[1].fileId)?.buildId, 'abc123');
  const hosts = await store.listHosts(1_699_999_000, 1_800_000_000);
  assert.equal(hosts.length, 1);
  assert.equal(hosts[0].hostIp, '192.0.2.7');
  assert.deepEqual(hosts[0].attributes, { 'cloud.region': 'eu-west-1' });
});

test('aggregation: exact counts at level 0, downsampled levels scaled by 5^N, filters and group-by', async () => {
  const start = 1_710_000_000;
  const batch = makeBatch(start, 3000, 10, 5);
  await store.write(batch);
  await store.flush();
  const all = await store.aggregateEvents({ from: start, to: start + 60 });
  assert.equal(all.samplingLevel, 0);
  assert.equal(all.eventsRead, 3000);
  assert.equal(all.totalCount, 15_000);
  assert.equal(all.rows.length, 10);
  for (const row of all.rows) assert.equal(row.count, 1500);

  const filtered = await store.aggregateEvents({
    from: start,
    to: start + 60,
    filter: {
      kind: 'and',
      filters: [
        { kind: 'match', field: 'host.id', pattern: 'host-0' },
        { kind: 'match', field: 'process.thread.name', pattern: 'work*-1' },
      ],
    },
  });
  // i even (host-0) and i % 3 == 1 (worker-1): i ≡ 4 (mod 6).
  assert.equal(filtered.totalCount, 500 * 5);

  const grouped = await store.aggregateEvents({ from: start, to: start + 60, groupBy: 'host.id' });
  const byHost = new Map<string, number>();
  for (const row of grouped.rows) byHost.set(row.group!, (byHost.get(row.group!) ?? 0) + row.count);
  assert.deepEqual(Object.fromEntries(byHost), { 'host-0': 7500, 'host-1': 7500 });

  // Several fields at once; no event names a container, so that place holds no value.
  const fields = ['host.id', 'process.thread.name', 'container.name'] as const;
  const expected = new Map<string, number>();
  for (const e of batch.events) {
    const key = JSON.stringify([e.stackTraceId, e.hostId, e.threadName ?? null, e.containerName ?? null]);
    expected.set(key, (expected.get(key) ?? 0) + e.count);
  }
  const multi = await store.aggregateEvents({ from: start, to: start + 60, groupBy: fields });
  const actual = new Map<string, number>();
  for (const row of multi.rows) {
    assert.equal(row.group, undefined);
    const key = JSON.stringify([row.stackTraceId, ...row.groups!.map((g) => g ?? null)]);
    actual.set(key, (actual.get(key) ?? 0) + row.count);
  }
  assert.deepEqual(actual, expected);
  await assert.rejects(
    store.aggregateEvents({ from: start, to: start + 60, groupBy: ['tags', 'host.id'] }),
    (e: unknown) => e instanceof UnsupportedGroupByError && /tags/.test(e.message),
  );

  const level1 = await store.aggregateEvents({ from: start, to: start + 60, samplingLevel: 1 });
  assert.equal(level1.samplingLevel, 1);
  assert.ok(level1.eventsRead > 0 && level1.eventsRead < 3000);
  // 15,000 units, each kept with probability 1/5: the scaled estimate is within a few percent.
  assert.ok(Math.abs(level1.totalCount - 15_000) < 1500, `level 1 estimate ${level1.totalCount}`);
  for (const row of level1.rows) assert.equal(row.count % 5, 0);

  assert.deepEqual(await store.fieldValues('host.id', start, start + 60, 10), ['host-0', 'host-1']);
  const stats = await store.stats();
  assert.ok(stats.events >= 3002);
  assert.ok(stats.stackTraces >= 10);
  assert.equal(stats.newestEvent, start + 59);
});

test('bad input is refused before anything is acknowledged', async () => {
  const batch = makeBatch(1_720_000_000, 2);
  batch.events[1].count = 0;
  await assert.rejects(store.write(batch), InvalidBatchError);
  await store.flush();
  assert.equal(
    await countDocs('profiling-events-all', {
      range: { '@timestamp': { gte: 1_720_000_000, format: 'epoch_second' } },
    }),
    0,
  );
});

test('documents Elasticsearch refuses are set aside while the rest of the bulk request lands', async () => {
  // A real partial failure: the executables index is closed, so those items fail while events succeed.
  assert.equal((await peer.request('POST', '/.profiling-executables-v001-000001/_close')).status, 200);
  try {
    const batch = makeBatch(1_730_000_000, 50);
    batch.executables.push({ fileId: fileIdOf(99), fileName: 'closed.so', lastSeen: 1_730_000_000 });
    const rejectedBefore = store.counters.documentsRejected;
    await store.write(batch);
    await store.flush();
    assert.equal(store.counters.documentsRejected - rejectedBefore, 1);
    assert.equal(
      await countDocs('profiling-events-all', {
        range: { '@timestamp': { gte: 1_730_000_000, format: 'epoch_second' } },
      }),
      50,
    );
    const rejected = (await readFile(path.join(spoolDir, 'rejected.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = rejected.at(-1) as {
      action: { create: { _id: string } };
      document: Record<string, unknown>;
      error: { type: string };
    };
    assert.equal(last.action.create._id, fileIdOf(99));
    assert.equal(last.document['Executable.file.name'], 'closed.so');
    assert.equal(last.error.type, 'index_closed_exception');
  } finally {
    await peer.request('POST', '/.profiling-executables-v001-000001/_open');
  }
});

test('a full spool refuses writes instead of growing', async () => {
  const tiny = storeFor(peer, await tempDir('es-tiny'), {
    spoolMaxBytes: 20_000,
    bulk: { maxAgeMs: 60_000 },
  });
  await tiny.open();
  try {
    await tiny.write(makeBatch(1_740_000_000, 5));
    await assert.rejects(tiny.write(makeBatch(1_740_000_000, 500)), (error: unknown) => {
      assert.ok(error instanceof StoreBusyError || error instanceof StoreUnavailableError);
      return true;
    });
  } finally {
    await tiny.close();
  }
});

/** Rows in a canonical order, so two stores' answers compare regardless of the order they come in. */
function canonical(rows: StackTraceCount[]): StackTraceCount[] {
  const key = (row: StackTraceCount) =>
    `${row.stackTraceId}\u0000${row.group ?? ''}\u0000${JSON.stringify(row.groups?.map((g) => g ?? null))}`;
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

test('the same load-generator data gives the same answers as the embedded store', async () => {
  const embedded = new EmbeddedStore({ path: ':memory:', seed: 11 });
  await embedded.open();
  try {
    const start = 1_760_000_000;
    const workload = new Workload({ seed: 9, hosts: 5, processesPerHost: 3, stacksPerRuntime: 200 });
    const translator = new ProfileTranslator();
    let samples = 0;
    for (let i = 0; i < 40; i++) {
      const now = start + 10 + i * 5;
      const generated = workload.next(BigInt(now) * 1_000_000_000n, 300);
      const translation = translator.translate(generated.request, { now });
      // Both stores get exactly the same batches, the way the collector hands them over.
      await Promise.all([embedded.write(translation.batch), store.write(translation.batch)]);
      translation.commit();
      samples += generated.samples;
    }
    await store.flush();

    const queries: EventQuery[] = [
      { from: start, to: start + 300 },
      { from: start + 50, to: start + 120 },
      { from: start, to: start + 300, groupBy: 'host.id' },
      { from: start, to: start + 300, groupBy: 'process.thread.name' },
      { from: start, to: start + 300, groupBy: ['process.executable.name', 'process.thread.name'] },
      { from: start + 50, to: start + 200, groupBy: ['host.name', 'container.id', 'service.name'] },
      {
        from: start,
        to: start + 300,
        filter: {
          kind: 'or',
          filters: [
            { kind: 'match', field: 'host.name', pattern: '*1*' },
            { kind: 'not', filter: { kind: 'match', field: 'process.executable.name', pattern: 'p*' } },
          ],
        },
      },
    ];
    for (const query of queries) {
      const [fromEmbedded, fromElasticsearch] = await Promise.all([
        embedded.aggregateEvents(query),
        store.aggregateEvents(query),
      ]);
      assert.equal(fromElasticsearch.samplingLevel, fromEmbedded.samplingLevel, JSON.stringify(query));
      assert.equal(fromElasticsearch.eventsRead, fromEmbedded.eventsRead, JSON.stringify(query));
      assert.equal(fromElasticsearch.totalCount, fromEmbedded.totalCount, JSON.stringify(query));
      assert.deepEqual(
        canonical(fromElasticsearch.rows),
        canonical(fromEmbedded.rows),
        JSON.stringify(query),
      );
    }
    const everything = await store.aggregateEvents(queries[0]);
    assert.equal(everything.totalCount, samples, 'every sample the generator sent is counted');

    const ids = [...new Set(everything.rows.map((row) => row.stackTraceId))];
    const [tracesEmbedded, tracesElasticsearch] = await Promise.all([
      embedded.getStackTraces(ids),
      store.getStackTraces(ids),
    ]);
    assert.equal(tracesElasticsearch.size, ids.length);
    assert.deepEqual(tracesElasticsearch, tracesEmbedded);

    const frameIds = [...new Set([...tracesEmbedded.values()].flatMap((trace) => trace.frameIds))];
    const [framesEmbedded, framesElasticsearch] = await Promise.all([
      embedded.getStackFrames(frameIds),
      store.getStackFrames(frameIds),
    ]);
    assert.ok(framesEmbedded.size > 0, 'the workload has interpreted frames with symbols');
    assert.deepEqual(framesElasticsearch, framesEmbedded);

    const fileIds = [
      ...new Set(frameIds.map((id) => Buffer.from(id, 'base64url').subarray(0, 16).toString('base64url'))),
    ];
    const [exeEmbedded, exeElasticsearch] = await Promise.all([
      embedded.getExecutables(fileIds),
      store.getExecutables(fileIds),
    ]);
    assert.deepEqual([...exeElasticsearch.keys()].sort(), [...exeEmbedded.keys()].sort());
    for (const [fileId, executable] of exeEmbedded) {
      assert.equal(exeElasticsearch.get(fileId)?.fileName, executable.fileName);
      assert.equal(exeElasticsearch.get(fileId)?.buildId, executable.buildId);
    }
    assert.deepEqual(
      await store.fieldValues('host.id', start, start + 300, 3),
      await embedded.fieldValues('host.id', start, start + 300, 3),
    );
  } finally {
    await embedded.close();
  }
});

test('`uniprof collector` pointed at the cluster stores every sample the agents had acknowledged', async () => {
  const dir = await tempDir('es-collector');
  await writeFile(path.join(dir, 'ca.pem'), peer.caPem);
  // Every listener on a port the system picks (test/support/processes.ts).
  const collector = await startUniprof('collector', {
    configFile: path.join(dir, 'uniprof.yaml'),
    echo: true,
    config: {
      dataDir: dir,
      collector: { auth: { disabled: true } },
      output: {
        type: 'elasticsearch',
        elasticsearch: {
          hosts: [peer.url],
          username: peer.username,
          password: peer.password,
          tls: { ca: path.join(dir, 'ca.pem') },
        },
      },
    },
  });
  try {
    const startedAt = Math.floor(Date.now() / 1000);
    const stats = await runLoadgen({
      target: `127.0.0.1:${collector.port('collector.grpc')}`,
      rate: 3000,
      duration: 3,
      hosts: 4,
      seed: 3,
    });
    assert.equal(stats.errors, 0, stats.errorMessages.join('; '));
    assert.ok(stats.samples > 0);

    // The collector acknowledged once the data was in its spool; it reaches Elasticsearch within seconds.
    const sumQuery = {
      size: 0,
      query: { range: { '@timestamp': { gte: startedAt - 3600, format: 'epoch_second' } } },
      aggs: { samples: { sum: { field: 'Stacktrace.count' } } },
    };
    let stored = 0;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      await peer.request('POST', '/profiling-events-all/_refresh');
      const response = await peer.request('POST', '/profiling-events-all/_search', sumQuery);
      stored = (response.body as { aggregations: { samples: { value: number } } }).aggregations.samples.value;
      if (stored >= stats.samples) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(stored, stats.samples);
  } finally {
    await collector.stop();
  }
});

/** A GET with the given Accept header, as raw as a client would send it. */
function getWithAccept(url: string, accept: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      url,
      { ca: peer.caPem, auth: `${peer.username}:${peer.password}`, headers: { accept } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
  });
}

/*
 * The 9.x JavaScript client asks for REST compatibility with 9 (`compatible-with=9`) unless told otherwise.
 * An 8.x node refuses that; plain JSON is what every 8.x and 9.x node takes, so the store sends that.
 */
test('the client sends plain JSON, which this node takes; the compatible-with=9 header it would refuse', async () => {
  const client = createClient({
    hosts: [peer.url],
    username: peer.username,
    password: peer.password,
    tls: { caPem: peer.caPem },
    spoolDir,
  });
  const sent: Record<string, unknown>[] = [];
  client.diagnostic.on('request', (_error, event) => {
    if (event) sent.push({ ...event.meta.request.params.headers });
  });
  try {
    const health = await client.cluster.health();
    assert.ok(health.status, 'the node answers the client');
  } finally {
    await client.close();
  }
  assert.equal(sent.length, 1);
  assert.match(String(sent[0].accept), /^application\/json/);
  assert.doesNotMatch(JSON.stringify(sent[0]), /compatible-with/);

  const health = `${peer.url}/_cluster/health`;
  assert.equal(await getWithAccept(health, 'application/json'), 200);
  assert.equal(await getWithAccept(health, 'application/vnd.elasticsearch+json; compatible-with=8'), 200);
  if (peer.version.startsWith('8.')) {
    assert.equal(await getWithAccept(health, 'application/vnd.elasticsearch+json; compatible-with=9'), 400);
  }
});
