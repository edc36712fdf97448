/**
 * `npm run bench:ingest-es`: samples per second per core and documents per second into Elasticsearch
 * through the ElasticsearchStore (spool, bulk sender, downsampled copies), on load-generator batches already
 * translated (decoding and translation are measured by bench:ingest).
 *
 * Two phases are timed: acknowledging (write() resolves once the batch is fsynced in the spool) and
 * end-to-end (until every document is in Elasticsearch and searchable). "Per core" divides by CPU time:
 * this process's for the collector side, and this process's plus the Elasticsearch node's (from its own
 * process statistics) for the whole pipeline.
 *
 * By default it starts the test peer (Elasticsearch 8.19 from Maven Central, 1 GB heap); set
 * UNIPROF_BENCH_ES_URL (+ UNIPROF_BENCH_ES_USERNAME / _PASSWORD / _CA) to measure an existing cluster.
 * UNIPROF_BENCH_ES_SAMPLES (default 400,000) sets the volume.
 *
 * A second part compares whole collectors on the same requests: the reference (OpenTelemetry Collector with
 * the contrib Elasticsearch exporter) and `uniprof collector`, each into a fresh test peer (see
 * ingest-elasticsearch-side-by-side.ts). It always uses the test peer, so it is left out when
 * UNIPROF_BENCH_ES_URL is set.
 *
 *   npm run bench:ingest-es                                   both parts
 *   npm run bench:ingest-es -- --part store                   the store alone
 *   npm run bench:ingest-es -- --part side-by-side --samples 100000   (side-by-side size; default 50,000)
 *   npm run bench:ingest-es -- --part side-by-side --paced   a third row: Uniprof sent at the reference's pace
 *   npm run bench:ingest-es -- --part side-by-side --bulk-age-ms 5000   Uniprof's output.elasticsearch.bulk.maxAgeMs
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ProfileTranslator } from '../src/collector/translate.ts';
import { Workload, nanosFromMillis } from '../src/loadgen/index.ts';
import type { ProfileBatch } from '../src/model/index.ts';
import { ElasticsearchStore } from '../src/store/elasticsearch/index.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../test/peers/elasticsearch.ts';
import { sideBySide, sideBySideTable } from './ingest-elasticsearch-side-by-side.ts';

const TOTAL_SAMPLES = Number(process.env.UNIPROF_BENCH_ES_SAMPLES ?? 400_000);
const REQUEST_SAMPLES = 800;
const HOSTS = 100;
const WRITES_IN_FLIGHT = 4;
const START_MS = Date.parse('2026-11-25T00:00:00Z');

interface Target {
  url: string;
  username?: string;
  password?: string;
  caPem?: string;
  peer?: ElasticsearchPeer;
}

async function target(): Promise<Target> {
  const url = process.env.UNIPROF_BENCH_ES_URL;
  if (url) {
    const ca = process.env.UNIPROF_BENCH_ES_CA;
    return {
      url,
      username: process.env.UNIPROF_BENCH_ES_USERNAME,
      password: process.env.UNIPROF_BENCH_ES_PASSWORD,
      caPem: ca ? readFileSync(ca, 'utf8') : undefined,
    };
  }
  const peer = await startElasticsearch();
  return { url: peer.url, username: peer.username, password: peer.password, caPem: peer.caPem, peer };
}

function batches(): { list: { batch: ProfileBatch; samples: number }[]; samples: number } {
  const workload = new Workload({ seed: 42, hosts: HOSTS });
  const translator = new ProfileTranslator();
  const list: { batch: ProfileBatch; samples: number }[] = [];
  let samples = 0;
  for (let i = 0; samples < TOTAL_SAMPLES; i++) {
    const endMs = START_MS + Math.floor(i / HOSTS) * 5000 + 5000;
    const generated = workload.next(nanosFromMillis(endMs), REQUEST_SAMPLES);
    const translation = translator.translate(generated.request, { now: Math.floor(endMs / 1000) });
    translation.commit();
    list.push({ batch: translation.batch, samples: translation.samples });
    samples += translation.samples;
  }
  return { list, samples };
}

const cpuSeconds = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

async function elasticsearchCpuSeconds(store: ElasticsearchStore): Promise<number> {
  const stats = await store.client.nodes.stats({ metric: 'process' });
  return Object.values(stats.nodes).reduce(
    (sum, node) => sum + (node.process?.cpu?.total_in_millis ?? 0) / 1000,
    0,
  );
}

const format = (n: number) => Math.round(n).toLocaleString('en-US');

async function storeAlone(): Promise<void> {
  const { list, samples } = batches();
  const documents = list.reduce(
    (n, { batch }) =>
      n +
      batch.events.length +
      batch.stackTraces.length +
      batch.stackFrames.length +
      batch.executables.length,
    0,
  );
  console.log(
    `${list.length} batches, ${format(samples)} samples, ${format(documents)} events/traces/frames/executables ` +
      `(before downsampled copies), ${HOSTS} hosts`,
  );
  const es = await target();
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-bench-es-'));
  const store = new ElasticsearchStore({
    hosts: [es.url],
    username: es.username,
    password: es.password,
    tls: { caPem: es.caPem },
    spoolDir,
    shards: es.peer ? { events: 1, keyValue: 1 } : undefined,
  });
  try {
    await store.open();
    const esCpu0 = await elasticsearchCpuSeconds(store);
    const cpu0 = cpuSeconds();
    const wall0 = performance.now();
    const inFlight = new Set<Promise<void>>();
    for (const { batch } of list) {
      const write = store.write(batch);
      inFlight.add(write);
      void write.finally(() => inFlight.delete(write));
      if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const ackWall = (performance.now() - wall0) / 1000;
    const ackCpu = cpuSeconds() - cpu0;
    await store.flush();
    const wall = (performance.now() - wall0) / 1000;
    const cpu = cpuSeconds() - cpu0;
    const esCpu = (await elasticsearchCpuSeconds(store)) - esCpu0;
    const counters = store.counters;
    const written = counters.documentsWritten + counters.conflictsIgnored;

    console.log(
      `acknowledge (spool, fsync)        ${format(samples / ackCpu).padStart(10)} samples/s per core   ` +
        `(${format(samples / ackWall)} samples/s wall, ${ackCpu.toFixed(1)} s CPU over ${ackWall.toFixed(1)} s)`,
    );
    console.log(
      `into Elasticsearch, collector     ${format(samples / cpu).padStart(10)} samples/s per core   ` +
        `(${format(samples / wall)} samples/s wall end-to-end, ${cpu.toFixed(1)} s CPU over ${wall.toFixed(1)} s)`,
    );
    console.log(
      `into Elasticsearch, collector+ES  ${format(samples / (cpu + esCpu)).padStart(10)} samples/s per core   ` +
        `(Elasticsearch used ${esCpu.toFixed(1)} s CPU)`,
    );
    console.log(
      `documents                         ${format(written / wall).padStart(10)} documents/s   ` +
        `(${format(written)} documents incl. downsampled copies, ${format(counters.bulkRequests)} bulk requests, ` +
        `${format(counters.conflictsIgnored)} already present, ${counters.documentsRejected} rejected)`,
    );
  } finally {
    await store.close();
    await es.peer?.dispose();
    await rm(spoolDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      part: { type: 'string' },
      samples: { type: 'string', default: '50000' },
      paced: { type: 'boolean', default: false },
      'bulk-age-ms': { type: 'string' },
    },
  });
  if (values.part !== undefined && values.part !== 'store' && values.part !== 'side-by-side') {
    throw new Error(`--part is store or side-by-side, not ${values.part}`);
  }
  if (values.part !== 'side-by-side') await storeAlone();
  if (values.part === 'store') return;
  if (process.env.UNIPROF_BENCH_ES_URL) {
    console.log('side-by-side left out: it needs fresh test peers, and UNIPROF_BENCH_ES_URL is set');
    return;
  }
  const samples = Number(values.samples);
  if (!Number.isInteger(samples) || samples <= 0)
    throw new Error(`--samples ${values.samples} is not a count`);
  const bulkMaxAgeMs = values['bulk-age-ms'] === undefined ? undefined : Number(values['bulk-age-ms']);
  if (bulkMaxAgeMs !== undefined && !(Number.isInteger(bulkMaxAgeMs) && bulkMaxAgeMs > 0))
    throw new Error(`--bulk-age-ms ${values['bulk-age-ms']} is not a number of milliseconds`);
  console.log(`\nside by side: ${format(samples)} samples through each collector into a fresh Elasticsearch`);
  const rows = await sideBySide(samples, { paced: values.paced, bulkMaxAgeMs });
  for (const line of sideBySideTable(rows)) console.log(line);
}

await main();
