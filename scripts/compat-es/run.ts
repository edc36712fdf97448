/**
 * Sends the same OTLP export requests once through the reference collector and once through
 * `uniprof collector`, each into a fresh single-node Elasticsearch of the same version (one after the other,
 * never two at once; a fresh data directory is the wipe, since the test distribution cannot delete data
 * streams), and dumps what each wrote. Both clusters get Uniprof's layout installed before anything is sent,
 * as a cluster that Uniprof set up would have it, so the reference's documents meet the same mappings.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ExportClient, Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import { encodeExportRequest } from '../../src/protocol/index.ts';
import { ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../../test/peers/elasticsearch.ts';
import {
  provisionReferenceCollector,
  startReferenceCollector,
} from '../../test/peers/reference-collector.ts';
import { startUniprof } from '../../test/support/processes.ts';
import { dumpProfilingIndices, type Dump } from './dump.ts';
import { freePort } from '../../test/support/ports.ts';

const REPOSITORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The reference collector's log of the last run is left here. */
const ARTIFACTS = path.join(REPOSITORY, 'test-artifacts', 'compat-es');

export type Log = (line: string) => void;

/** Load-generator requests: `requests` of `samplesPerRequest` samples each, from hosts chosen by the seed. */
export function loadgenRequests(options: {
  requests: number;
  samplesPerRequest: number;
  hosts: number;
  seed: number;
}): Uint8Array[] {
  const workload = new Workload({ seed: options.seed, hosts: options.hosts });
  const end = nanosFromMillis(Date.now());
  return Array.from({ length: options.requests }, () =>
    encodeExportRequest(workload.next(end, options.samplesPerRequest).request),
  );
}

/** Every `*.binpb` (or `.binpb.gz`) in a folder, in name order: the format `--record-dir` writes. */
export async function readRequestDir(dir: string): Promise<Uint8Array[]> {
  const names = (await readdir(dir)).filter((n) => /\.binpb(\.gz)?$/.test(n)).sort();
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(dir, name));
      return new Uint8Array(name.endsWith('.gz') ? gunzipSync(bytes) : bytes);
    }),
  );
}

/** Uniprof's layout, installed the way the store does at start-up. */
async function installLayout(peer: ElasticsearchPeer, workDir: string): Promise<void> {
  const store = new ElasticsearchStore({
    hosts: [peer.url],
    username: peer.username,
    password: peer.password,
    tls: { caPem: peer.caPem },
    requestTimeoutMs: 30_000,
    spoolDir: path.join(workDir, 'layout-spool'),
    shards: { events: 1, keyValue: 1 },
  });
  await store.open();
  await store.close();
}

/** One request at a time; with `intervalMs`, request i is not sent before i × intervalMs from the first. */
export async function send(
  target: string,
  requests: readonly Uint8Array[],
  { intervalMs = 0 }: { intervalMs?: number } = {},
): Promise<void> {
  const client = new ExportClient({ target, timeoutMs: 60_000 });
  const start = performance.now();
  try {
    for (const [i, body] of requests.entries()) {
      const wait = start + i * intervalMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const outcome = await client.export(body);
      if (!outcome.ok) throw new Error(`request ${i} to ${target}: ${outcome.status} ${outcome.message}`);
    }
  } finally {
    client.close();
  }
}

/** Documents in all profiling indices, refreshed; used to wait until a collector has written everything. */
export async function documentCount(peer: ElasticsearchPeer): Promise<number> {
  const pattern = 'profiling-*,.profiling-*';
  await peer.request('POST', `/${pattern}/_refresh?expand_wildcards=all`);
  const response = await peer.request('GET', `/${pattern}/_count?expand_wildcards=all`);
  return (response.body as { count?: number }).count ?? 0;
}

/**
 * Write operations Elasticsearch has done on the profiling indices (indexed, refused and deleted documents).
 * Read from the indexing statistics, which need no refresh: polling the document count instead would
 * refresh every index twice a second, work that lands on whichever collector is still writing.
 */
async function writeOperations(peer: ElasticsearchPeer): Promise<number> {
  const response = await peer.request(
    'GET',
    '/profiling-*,.profiling-*/_stats/indexing?expand_wildcards=all&filter_path=_all.total.indexing',
  );
  const indexing = (
    response.body as {
      _all?: {
        total?: { indexing?: { index_total?: number; index_failed?: number; delete_total?: number } };
      };
    }
  )._all?.total?.indexing;
  return (indexing?.index_total ?? 0) + (indexing?.index_failed ?? 0) + (indexing?.delete_total ?? 0);
}

/**
 * Resolves with the document count and when the last write happened (performance.now()), once no write
 * came for quietMs.
 */
export async function waitUntilSettled(
  peer: ElasticsearchPeer,
  quietMs = 3_000,
  timeoutMs = 180_000,
): Promise<{ count: number; lastChangeAt: number }> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let stableSince = Date.now();
  let lastChangeAt = performance.now();
  while (Date.now() < deadline) {
    const operations = await writeOperations(peer);
    if (operations !== last) {
      last = operations;
      stableSince = Date.now();
      lastChangeAt = performance.now();
    } else if (operations > 0 && Date.now() - stableSince >= quietMs) {
      return { count: await documentCount(peer), lastChangeAt };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`documents still arriving after ${timeoutMs / 1000} s`);
}

export async function withCluster<T>(
  work: (peer: ElasticsearchPeer, workDir: string) => Promise<T>,
): Promise<T> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-compat-es-'));
  const peer = await startElasticsearch();
  try {
    await installLayout(peer, workDir);
    return await work(peer, workDir);
  } finally {
    await peer.dispose();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The exporter logs each document Elasticsearch refused; counted by index and error, with one reason each. */
export function refusalSummary(log: string): string[] {
  const refusals = new Map<string, { count: number; example: string }>();
  for (const line of log.split('\n')) {
    if (!line.includes('failed to index document')) continue;
    const index = /"index": "([^"]*)"/.exec(line)?.[1] ?? '?';
    const type = /"error.type": "([^"]*)"/.exec(line)?.[1] ?? '?';
    const reason = /"error.reason": "((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? '';
    const key = `${index} ${type}`;
    const seen = refusals.get(key);
    if (seen) seen.count++;
    else refusals.set(key, { count: 1, example: reason.slice(0, 300) });
  }
  return [...refusals].map(([key, { count, example }]) => `${count} documents refused by ${key}: ${example}`);
}

export async function throughReference(requests: readonly Uint8Array[], log: Log): Promise<Dump> {
  const binary = await provisionReferenceCollector();
  return withCluster(async (peer, workDir) => {
    const caFile = path.join(workDir, 'ca.pem');
    await writeFile(caFile, peer.caPem);
    const collector = await startReferenceCollector({
      binary,
      workDir,
      grpcPort: await freePort(),
      elasticsearch: { url: peer.url, username: peer.username, password: peer.password, caFile },
    });
    try {
      await send(collector.endpoint, requests);
    } finally {
      // Shutting down flushes the exporter's batch.
      await collector.stop();
    }
    await waitUntilSettled(peer);
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, 'reference-collector.log'), collector.log());
    for (const line of refusalSummary(collector.log())) log(`reference: ${line}`);
    return dumpProfilingIndices(peer);
  });
}

export interface RunningUniprofCollector {
  /** host:port of its OTLP gRPC receiver. */
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** `uniprof collector` writing into the peer, with its data under workDir; resolves once it is running. */
export async function startUniprofCollector(
  peer: ElasticsearchPeer,
  workDir: string,
  options: { recordDir?: string; bulkMaxAgeMs?: number } = {},
): Promise<RunningUniprofCollector> {
  await writeFile(path.join(workDir, 'ca.pem'), peer.caPem);
  const config = {
    dataDir: path.join(workDir, 'data'),
    log: { level: 'warn' },
    collector: { auth: { disabled: true } },
    output: {
      type: 'elasticsearch',
      elasticsearch: {
        hosts: [peer.url],
        username: peer.username,
        password: peer.password,
        tls: { ca: path.join(workDir, 'ca.pem') },
        // Bulk requests of 5 MB can take longer than the default 30 s on a busy test machine.
        requestTimeoutMs: 120_000,
        ...(options.bulkMaxAgeMs === undefined ? {} : { bulk: { maxAgeMs: options.bulkMaxAgeMs } }),
      },
    },
  };
  const collector = await startUniprof('collector', {
    config,
    configFile: path.join(workDir, 'uniprof.yaml'),
    args: options.recordDir ? ['--record-dir', options.recordDir] : [],
    timeoutMs: 60_000,
  });
  return {
    endpoint: `127.0.0.1:${collector.port('collector.grpc')}`,
    pid: collector.process.pid ?? 0,
    stop: async () => {
      await collector.stop('SIGTERM', 120_000);
    },
  };
}

export async function throughUniprof(
  requests: readonly Uint8Array[],
  options: { recordDir?: string } = {},
): Promise<Dump> {
  return withCluster(async (peer, workDir) => {
    const collector = await startUniprofCollector(peer, workDir, options);
    try {
      await send(collector.endpoint, requests);
      await waitUntilSettled(peer);
    } finally {
      await collector.stop();
    }
    return dumpProfilingIndices(peer);
  });
}
