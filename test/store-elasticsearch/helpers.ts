import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  FrameType,
  emptyBatch,
  frameId,
  stackTraceId,
  type FrameRef,
  type ProfileBatch,
  type StackTrace,
} from '../../src/model/index.ts';
import { ElasticsearchStore, type ElasticsearchStoreOptions } from '../../src/store/elasticsearch/index.ts';
import type { ElasticsearchPeer } from '../peers/elasticsearch.ts';

const created: string[] = [];

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `uniprof-${prefix}-`));
  created.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  for (const dir of created.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** A store pointed at the peer as a user would configure it: basic auth over TLS with the cluster's CA. */
export function storeFor(
  peer: ElasticsearchPeer,
  spoolDir: string,
  extra: Partial<ElasticsearchStoreOptions> = {},
): ElasticsearchStore {
  return new ElasticsearchStore({
    hosts: [peer.url],
    username: peer.username,
    password: peer.password,
    tls: { caPem: peer.caPem },
    requestTimeoutMs: 10_000,
    spoolDir,
    shards: { events: 1, keyValue: 1 },
    bulk: { maxAgeMs: 200, maxRetryDelayMs: 2_000 },
    seed: 42,
    ...extra,
  });
}

export function fileIdOf(n: number): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUInt32BE(0xfeed0000 + n, 0);
  bytes.writeUInt32BE(n * 7919, 12);
  return bytes.toString('base64url');
}

/** A stack of `depth` frames: kernel at the leaf, then native, then Python. */
export function makeStack(seed: number, depth: number): { trace: StackTrace; refs: FrameRef[] } {
  const refs: FrameRef[] = [];
  const types: number[] = [];
  for (let i = 0; i < depth; i++) {
    const type = i === 0 ? FrameType.Kernel : i < depth / 2 ? FrameType.Native : FrameType.Python;
    refs.push({ fileId: fileIdOf((seed + i) % 17), addressOrLine: BigInt(0x400000 + seed * 0x100 + i) });
    types.push(type);
  }
  const trace = {
    id: stackTraceId(refs),
    frameIds: refs.map((r) => frameId(r.fileId, r.addressOrLine)),
    frameTypes: types,
  };
  return { trace, refs };
}

/** A batch of `events` events over `stacks` stacks and two hosts, one second apart from `start`. */
export function makeBatch(start: number, events: number, stacks = 10, countPerEvent = 1): ProfileBatch {
  const batch = emptyBatch();
  const traces = Array.from({ length: stacks }, (_, i) => makeStack(i, 3 + (i % 5)).trace);
  batch.stackTraces.push(...traces);
  for (let i = 0; i < events; i++) {
    batch.events.push({
      timestamp: start + (i % 60),
      stackTraceId: traces[i % stacks].id,
      count: countPerEvent,
      hostId: `host-${i % 2}`,
      hostName: `node-${i % 2}.example`,
      hostIp: `10.0.0.${1 + (i % 2)}`,
      threadName: `worker-${i % 3}`,
      processName: 'server',
      serviceName: 'checkout',
      tags: i % 2 === 0 ? ['prod', 'eu'] : [],
      projectId: 1,
    });
  }
  return batch;
}

/** Every document ID in the indices behind an alias (all generations, hidden ones too), duplicates kept. */
export async function allIds(es: Pick<ElasticsearchPeer, 'request'>, alias: string): Promise<string[]> {
  const ids: string[] = [];
  let response = await es.request('POST', `/.${alias}-*/_search?scroll=1m&expand_wildcards=all`, {
    size: 5000,
    _source: false,
    sort: ['_doc'],
  });
  for (;;) {
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const body = response.body as { _scroll_id: string; hits: { hits: { _id: string }[] } };
    if (body.hits.hits.length === 0) {
      // No body on DELETE: Node sends none of its length, and Elasticsearch would read it as the next request.
      await es.request('DELETE', '/_search/scroll/_all');
      return ids;
    }
    for (const hit of body.hits.hits) ids.push(hit._id);
    response = await es.request('POST', '/_search/scroll', { scroll: '1m', scroll_id: body._scroll_id });
  }
}

/** The IDs that occur more than once (each repeat listed). */
export function duplicates(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
}
