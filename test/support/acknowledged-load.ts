/**
 * Load for the crash and disk tests: load-generator requests sent over gRPC, each one covering a time window
 * of its own, with a record of which ones the collector acknowledged. Because no two requests share a second,
 * what a store holds per window says exactly which requests it kept — and whether it kept any of them only in
 * part.
 */
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { ExportClient, Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import { encodeExportRequest } from '../../src/protocol/otlp-profiles.ts';
import type { ElasticsearchPeer } from '../peers/elasticsearch.ts';

/** Seconds of timestamps in one request; request `i` covers [start + i·W, start + (i+1)·W). */
export const WINDOW_SECONDS = 5;

export interface Ledger {
  /** The first window's start, epoch seconds (a multiple of WINDOW_SECONDS). */
  readonly start: number;
  /** Samples of every request sent so far, by window number. */
  readonly sent: Map<number, number>;
  /** Window numbers of the requests the collector acknowledged. */
  readonly acknowledged: Set<number>;
  /** gRPC status names of the refused requests, with how often each came back. */
  readonly refusals: Map<string, number>;
}

/** A ledger whose windows lie in the last day (recent enough for every store and query). */
export function newLedger(): Ledger {
  const start = Math.floor((Date.now() / 1000 - 86_400) / WINDOW_SECONDS) * WINDOW_SECONDS;
  return { start, sent: new Map(), acknowledged: new Set(), refusals: new Map() };
}

/** Requests answered so far, acknowledged or refused. */
export function answered(ledger: Ledger): number {
  let refused = 0;
  for (const count of ledger.refusals.values()) refused += count;
  return ledger.acknowledged.size + refused;
}

/** The window of an event's timestamp. */
export function windowOf(ledger: Ledger, timestamp: number): number {
  return Math.floor((timestamp - ledger.start) / WINDOW_SECONDS);
}

/** The next request of the ledger: its window number is taken, its samples entered as sent. */
export function nextRequest(
  ledger: Ledger,
  workload: Workload,
  samples: number,
): { window: number; body: Uint8Array } {
  const window = ledger.sent.size;
  const end = (ledger.start + (window + 1) * WINDOW_SECONDS) * 1000;
  const generated = workload.next(nanosFromMillis(end), samples, WINDOW_SECONDS);
  ledger.sent.set(window, generated.samples);
  return { window, body: encodeExportRequest(generated.request) };
}

export interface LoadOptions {
  target: string;
  token: string;
  seed: number;
  samplesPerRequest: number;
  concurrency: number;
  /** Pause of each sender after an acknowledgement (default none): a load a slow store can keep up with. */
  pauseMs?: number;
}

/**
 * Sends requests, `concurrency` at a time, until `stop()`; `stop()` resolves once every call has an answer
 * (an acknowledgement, a refusal, or the connection's loss).
 */
export function sendLoad(ledger: Ledger, options: LoadOptions): { stop(): Promise<void> } {
  const workload = new Workload({ seed: options.seed, hosts: 20, processesPerHost: 3 });
  // Refusals are answered at once: keep the client from spinning through the window numbers then.
  const client = new ExportClient({ target: options.target, token: options.token, timeoutMs: 10_000 });
  let running = true;
  const worker = async () => {
    while (running) {
      const { window, body } = nextRequest(ledger, workload, options.samplesPerRequest);
      const outcome = await client.export(body);
      if (outcome.ok) {
        ledger.acknowledged.add(window);
        if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
      } else {
        ledger.refusals.set(outcome.status, (ledger.refusals.get(outcome.status) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };
  const workers = Array.from({ length: options.concurrency }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      client.close();
    },
  };
}

/**
 * Compares what a store holds (samples per window) with the ledger: every acknowledged request is there in
 * full, and no request is there in part. Returns the problems found, empty when none.
 */
export function auditWindows(ledger: Ledger, stored: Map<number, number>): string[] {
  const problems: string[] = [];
  for (const window of ledger.acknowledged) {
    const have = stored.get(window) ?? 0;
    const want = ledger.sent.get(window)!;
    if (have !== want) problems.push(`acknowledged request ${window}: ${have} of ${want} samples stored`);
  }
  for (const [window, have] of stored) {
    const want = ledger.sent.get(window);
    if (want === undefined) problems.push(`window ${window} holds ${have} samples but no request was sent`);
    else if (have !== want) problems.push(`request ${window} stored in part: ${have} of ${want} samples`);
  }
  return problems;
}

/**
 * Samples per window in an embedded store's file, read as a second process would after a crash (read-only:
 * the write-ahead log is replayed in memory and left for the next `serve` to recover on its own).
 */
export async function embeddedStoreWindows(file: string, ledger: Ledger): Promise<Map<number, number>> {
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(
      'SELECT ts::BIGINT AS ts, sum(count)::BIGINT AS n FROM events_all GROUP BY ts',
    );
    const windows = new Map<number, number>();
    for (const [ts, n] of reader.getRows() as [bigint, bigint][]) {
      const window = windowOf(ledger, Number(ts));
      windows.set(window, (windows.get(window) ?? 0) + Number(n));
    }
    connection.closeSync();
    return windows;
  } finally {
    instance.closeSync();
  }
}

/**
 * Samples per window in an Elasticsearch cluster's profiling-events-all, refreshed first. Only the ledger's own
 * windows are read, unless `wholeIndex` (then a stray window anywhere in the index shows up in the audit too).
 */
export async function elasticsearchWindows(
  es: Pick<ElasticsearchPeer, 'request'>,
  ledger: Ledger,
  options: { wholeIndex?: boolean } = {},
): Promise<Map<number, number>> {
  const refreshed = await es.request('POST', '/profiling-events-all/_refresh');
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  const range = {
    '@timestamp': {
      gte: ledger.start,
      lt: ledger.start + ledger.sent.size * WINDOW_SECONDS,
      format: 'epoch_second',
    },
  };
  const { status, body } = await es.request('POST', '/profiling-events-all/_search', {
    size: 0,
    ...(options.wholeIndex ? {} : { query: { range } }),
    aggs: {
      windows: {
        // Windows start at multiples of WINDOW_SECONDS, as the buckets do; keys are epoch milliseconds.
        date_histogram: { field: '@timestamp', fixed_interval: `${WINDOW_SECONDS}s`, min_doc_count: 1 },
        aggs: { samples: { sum: { field: 'Stacktrace.count' } } },
      },
    },
  });
  assert.equal(status, 200, JSON.stringify(body));
  const buckets = (
    body as { aggregations: { windows: { buckets: { key: number; samples: { value: number } }[] } } }
  ).aggregations.windows.buckets;
  const windows = new Map<number, number>();
  for (const bucket of buckets)
    if (bucket.samples.value > 0) windows.set(windowOf(ledger, bucket.key / 1000), bucket.samples.value);
  return windows;
}
