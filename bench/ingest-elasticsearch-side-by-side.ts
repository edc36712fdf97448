/**
 * The side-by-side part of `npm run bench:ingest-es`: the same OTLP export requests (load generator) sent over
 * gRPC once to the reference collector (OpenTelemetry Collector + contrib Elasticsearch exporter,
 * test/peers/reference-collector.ts) and once to `uniprof collector`, each writing into its own fresh
 * single-node Elasticsearch (one after the other, never both at once; the same start-up and the same
 * Uniprof layout installed first, as compat:es does it, so neither row meets data or merges the other left).
 *
 * Both collectors run as separate processes, so their CPU time comes from /proc/<pid>/stat (utime + stime)
 * and their peak RSS from /proc/<pid>/status (VmHWM), read until the process exits (what it flushes when
 * stopped included). Elasticsearch's CPU comes from its node statistics. The clock runs from the first
 * request until Elasticsearch's write counters last moved (no refreshes, equally for both).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ElasticsearchPeer } from '../test/peers/elasticsearch.ts';
import { provisionReferenceCollector, startReferenceCollector } from '../test/peers/reference-collector.ts';
import { freePort } from '../test/support/ports.ts';
import {
  loadgenRequests,
  refusalSummary,
  send,
  startUniprofCollector,
  waitUntilSettled,
  withCluster,
} from '../scripts/compat-es/run.ts';

const SAMPLES_PER_REQUEST = 800;
/**
 * How long Elasticsearch's CPU is sampled with nothing sent: a node's background work is counted in its CPU
 * for as long as a run lasts, which weighs on a slow collector's row; the table also shows the CPU above it.
 */
const IDLE_SAMPLE_MS = 10_000;
/** The reference collector's log of the last run is left here. */
const ARTIFACTS = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'test-artifacts',
  'bench-ingest-es',
);
const HOSTS = 100;
const SEED = 42;
/** Linux reports process times in clock ticks; USER_HZ is 100 on every architecture Node runs on here. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface SideBySideRow {
  collector: string;
  samples: number;
  documents: number;
  wallSeconds: number;
  collectorCpuSeconds: number;
  elasticsearchCpuSeconds: number;
  /**
   * What Elasticsearch would have spent idle over the run: its CPU per second with the collector started and
   * nothing sent (its background work), times the run's length.
   */
  elasticsearchIdleCpuSeconds: number;
  peakRssBytes: number;
  /** Per profiling index: documents, index operations and Elasticsearch's time spent indexing them. */
  indices: IndexWork[];
  /**
   * Documents Elasticsearch refused, by index and error (a refused document costs it less than a stored one,
   * so the rows only compare when both are empty or explained).
   */
  refusals: string[];
}

export interface IndexWork {
  index: string;
  documents: number;
  indexOperations: number;
  indexMillis: number;
  /** Index operations that failed (a `create` that met an existing `_id`, a refused document). */
  indexFailed: number;
  refreshes: number;
  refreshMillis: number;
  mergeMillis: number;
  flushMillis: number;
  searches: number;
  searchMillis: number;
  /** Real-time gets: the read half of each partial `update`, and mgets. */
  gets: number;
  getMillis: number;
}

async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!kib) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

async function elasticsearchCpuSeconds(peer: ElasticsearchPeer): Promise<number> {
  const { body } = await peer.request('GET', '/_nodes/stats/process');
  const nodes = (body as { nodes: Record<string, { process?: { cpu?: { total_in_millis?: number } } }> })
    .nodes;
  return Object.values(nodes).reduce(
    (sum, node) => sum + (node.process?.cpu?.total_in_millis ?? 0) / 1000,
    0,
  );
}

/** Where Elasticsearch's indexing time went, per profiling index (the attribution behind the CPU figure). */
async function indexWork(peer: ElasticsearchPeer): Promise<IndexWork[]> {
  const { body } = await peer.request(
    'GET',
    '/profiling-*,.profiling-*/_stats/docs,indexing,refresh,merge,flush,search,get?level=indices&expand_wildcards=all',
  );
  type Stats = {
    primaries: { docs?: { count?: number } };
    total: {
      indexing?: { index_total?: number; index_time_in_millis?: number; index_failed?: number };
      refresh?: { total?: number; total_time_in_millis?: number };
      merges?: { total_time_in_millis?: number };
      flush?: { total_time_in_millis?: number };
      search?: { query_total?: number; query_time_in_millis?: number; fetch_time_in_millis?: number };
      get?: { total?: number; time_in_millis?: number };
    };
  };
  const indices = (body as { indices: Record<string, Stats> }).indices;
  return Object.entries(indices)
    .map(([index, stats]) => ({
      index,
      documents: stats.primaries.docs?.count ?? 0,
      indexOperations: stats.total.indexing?.index_total ?? 0,
      indexMillis: stats.total.indexing?.index_time_in_millis ?? 0,
      indexFailed: stats.total.indexing?.index_failed ?? 0,
      refreshes: stats.total.refresh?.total ?? 0,
      refreshMillis: stats.total.refresh?.total_time_in_millis ?? 0,
      mergeMillis: stats.total.merges?.total_time_in_millis ?? 0,
      flushMillis: stats.total.flush?.total_time_in_millis ?? 0,
      searches: stats.total.search?.query_total ?? 0,
      searchMillis:
        (stats.total.search?.query_time_in_millis ?? 0) + (stats.total.search?.fetch_time_in_millis ?? 0),
      gets: stats.total.get?.total ?? 0,
      getMillis: stats.total.get?.time_in_millis ?? 0,
    }))
    .filter((work) => work.indexOperations + work.searches + work.gets > 0)
    .sort((a, b) => b.indexMillis - a.indexMillis);
}

interface RunningCollector {
  endpoint: string;
  pid: number;
  stop(): Promise<unknown>;
  /** What Elasticsearch refused, read after the collector stopped. */
  refusals(): Promise<string[]>;
}

/** Uniprof's sender appends each refused item to `rejected.ndjson` in its spool directory. */
async function uniprofRefusals(workDir: string): Promise<string[]> {
  const file = path.join(workDir, 'data', 'elasticsearch-spool', 'rejected.ndjson');
  const text = await readFile(file, 'utf8').catch(() => '');
  const counts = new Map<string, number>();
  for (const line of text.split('\n').filter(Boolean)) {
    const key = line.slice(0, 200);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, count]) => `${count} refused: ${key}`);
}

/**
 * Stops the collector and reads its CPU time and peak RSS until it is gone, so the work it does at shutdown
 * (the reference's exporter flushes what its sending queue still holds) is counted too.
 */
async function stopWatching(collector: RunningCollector): Promise<{ cpuSeconds: number; peakRss: number }> {
  const read = async () => ({
    cpuSeconds: await processCpuSeconds(collector.pid),
    peakRss: await peakRssBytes(collector.pid),
  });
  let last = await read();
  let running = true;
  const stopped = collector.stop().finally(() => (running = false));
  while (running) {
    try {
      last = await read();
    } catch {
      break; // exited
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await stopped;
  return last;
}

/**
 * One row: the requests sent, the collector stopped once its writes went quiet (the reference's exporter
 * held up to a tenth of its documents in its queue until then, 2026-11-28), then everything counted once
 * Elasticsearch is quiet again.
 */
async function measure(
  name: string,
  requests: readonly Uint8Array[],
  start: (peer: ElasticsearchPeer, workDir: string) => Promise<RunningCollector>,
  intervalMs = 0,
): Promise<SideBySideRow> {
  return withCluster(async (peer, workDir) => {
    const collector = await start(peer, workDir);
    let usage: { cpuSeconds: number; peakRss: number };
    let cpu0: number;
    let esCpu0: number;
    let idleCpuPerSecond: number;
    let wall0: number;
    let beforeStop: { count: number; lastChangeAt: number };
    try {
      cpu0 = await processCpuSeconds(collector.pid);
      const idle0 = await elasticsearchCpuSeconds(peer);
      const idleAt = performance.now();
      await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
      esCpu0 = await elasticsearchCpuSeconds(peer);
      idleCpuPerSecond = (esCpu0 - idle0) / ((performance.now() - idleAt) / 1000);
      wall0 = performance.now();
      await send(collector.endpoint, requests, { intervalMs });
      beforeStop = await waitUntilSettled(peer);
    } finally {
      usage = await stopWatching(collector);
    }
    const afterStop = await waitUntilSettled(peer);
    const { count } = afterStop;
    const lateCount = count - beforeStop.count;
    const late = lateCount > 0 ? [`${lateCount} documents written only when the collector stopped`] : [];
    // The first look after the stop counts as a change; only documents that came then move the end.
    const lastChangeAt = lateCount > 0 ? afterStop.lastChangeAt : beforeStop.lastChangeAt;
    return {
      collector: name,
      samples: requests.length * SAMPLES_PER_REQUEST,
      documents: count,
      wallSeconds: (lastChangeAt - wall0) / 1000,
      collectorCpuSeconds: usage.cpuSeconds - cpu0,
      elasticsearchCpuSeconds: (await elasticsearchCpuSeconds(peer)) - esCpu0,
      // Over the span its CPU was read, which runs past the wall clock's end by the settling waits.
      elasticsearchIdleCpuSeconds: (idleCpuPerSecond * (performance.now() - wall0)) / 1000,
      peakRssBytes: usage.peakRss,
      indices: await indexWork(peer),
      refusals: [...late, ...(await collector.refusals())],
    };
  });
}

/**
 * `paced`: a third row, Uniprof with its requests sent no faster than the reference took them (its wall time
 * over its requests), so that both Elasticsearches take documents at the same rate: unpaced, Uniprof delivers
 * an order of magnitude faster and Elasticsearch shares the machine's cores with it while it indexes.
 */
export async function sideBySide(
  samples: number,
  { paced = false, bulkMaxAgeMs }: { paced?: boolean; bulkMaxAgeMs?: number } = {},
): Promise<SideBySideRow[]> {
  const requests = loadgenRequests({
    requests: Math.max(1, Math.ceil(samples / SAMPLES_PER_REQUEST)),
    samplesPerRequest: SAMPLES_PER_REQUEST,
    hosts: HOSTS,
    seed: SEED,
  });
  const binary = await provisionReferenceCollector();
  const reference = await measure('reference (otelcol + ES exporter)', requests, async (peer, workDir) => {
    const caFile = path.join(workDir, 'ca.pem');
    await writeFile(caFile, peer.caPem);
    const collector = await startReferenceCollector({
      binary,
      workDir,
      grpcPort: await freePort(),
      elasticsearch: { url: peer.url, username: peer.username, password: peer.password, caFile },
    });
    const refusals = async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      await writeFile(path.join(ARTIFACTS, 'reference-collector.log'), collector.log());
      // Anything else it complained about (a bulk request that failed as a whole loses all its documents).
      const otherErrors = collector
        .log()
        .split('\n')
        .filter((line) => /\t(error|warn)\t/i.test(line) && !line.includes('failed to index document'));
      return [
        ...refusalSummary(collector.log()),
        ...otherErrors.slice(0, 5).map((line) => `log: ${line.slice(0, 300)}`),
        ...(otherErrors.length > 5 ? [`log: ${otherErrors.length - 5} more warnings or errors`] : []),
      ];
    };
    return { ...collector, refusals };
  });
  const startUniprof = async (peer: ElasticsearchPeer, workDir: string) => {
    const collector = await startUniprofCollector(peer, workDir, { bulkMaxAgeMs });
    return { ...collector, refusals: () => uniprofRefusals(workDir) };
  };
  const rows = [reference, await measure('uniprof collector', requests, startUniprof)];
  if (paced) {
    const intervalMs = (reference.wallSeconds * 1000) / requests.length;
    rows.push(
      await measure('uniprof collector, paced like the reference', requests, startUniprof, intervalMs),
    );
  }
  return rows;
}

const format = (n: number) => Math.round(n).toLocaleString('en-US');
/** Elasticsearch's CPU for the row less what it would have spent idle over the row's wall time. */
const aboveIdle = (row: SideBySideRow) => row.elasticsearchCpuSeconds - row.elasticsearchIdleCpuSeconds;

export function sideBySideTable(rows: readonly SideBySideRow[]): string[] {
  const header = [
    'collector',
    'samples/s per collector core',
    'documents/s',
    'ES CPU µs per sample',
    'above idle',
    'collector peak RSS',
    'documents',
    'collector CPU',
    'ES CPU',
    'wall',
  ];
  const cells = rows.map((row) => [
    row.collector,
    format(row.samples / row.collectorCpuSeconds),
    format(row.documents / row.wallSeconds),
    format((row.elasticsearchCpuSeconds / row.samples) * 1e6),
    format((aboveIdle(row) / row.samples) * 1e6),
    `${format(row.peakRssBytes / 2 ** 20)} MiB`,
    format(row.documents),
    `${row.collectorCpuSeconds.toFixed(1)} s`,
    `${row.elasticsearchCpuSeconds.toFixed(1)} s`,
    `${row.wallSeconds.toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: readonly string[]) => `| ${c.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  const lines = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)];
  const [reference, ...uniprofRows] = rows;
  const perCore = (row: SideBySideRow) => row.samples / row.collectorCpuSeconds;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  for (const uniprof of reference ? uniprofRows : []) {
    lines.push(
      `${uniprof.collector} / reference: ${ratio(perCore(uniprof), perCore(reference))} samples/s per ` +
        `collector core, ${ratio(uniprof.elasticsearchCpuSeconds, reference.elasticsearchCpuSeconds)} ` +
        `Elasticsearch CPU per sample, ${ratio(aboveIdle(uniprof), aboveIdle(reference))} above idle ` +
        `(Uniprof's documents include its downsampled copies)`,
    );
  }
  lines.push(
    `Elasticsearch's idle CPU over each row (its background work measured for ${IDLE_SAMPLE_MS / 1000} s before ` +
      `sending): ${rows.map((row) => `${row.elasticsearchIdleCpuSeconds.toFixed(1)} s`).join(', ')}`,
  );
  const columns: [string, (work: IndexWork) => number][] = [
    ['docs', (w) => w.documents],
    ['index ops', (w) => w.indexOperations],
    ['failed', (w) => w.indexFailed],
    ['index ms', (w) => w.indexMillis],
    ['refreshes', (w) => w.refreshes],
    ['refresh ms', (w) => w.refreshMillis],
    ['merge ms', (w) => w.mergeMillis],
    ['flush ms', (w) => w.flushMillis],
    ['searches', (w) => w.searches],
    ['search ms', (w) => w.searchMillis],
    ['gets', (w) => w.gets],
    ['get ms', (w) => w.getMillis],
  ];
  for (const row of rows) {
    lines.push(`${row.collector}:`);
    lines.push(`  ${'index'.padEnd(40)} ${columns.map(([name]) => name.padStart(10)).join(' ')}`);
    for (const work of row.indices)
      lines.push(
        `  ${work.index.padEnd(40)} ${columns.map(([, value]) => format(value(work)).padStart(10)).join(' ')}`,
      );
    for (const refusal of row.refusals) lines.push(`  ${refusal}`);
    if (row.refusals.length === 0) lines.push('  no documents refused');
  }
  return lines;
}
