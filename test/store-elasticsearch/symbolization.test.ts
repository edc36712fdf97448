/**
 * The symbolization queue and symbols of the Elasticsearch store, against a real Elasticsearch: the queue
 * filled through `write(batch)` and the spool, leases raced by two store instances (two collector/symbolizer
 * replicas on one cluster), uploads that fail half-way, and range look-ups compared with brute force.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import {
  emptyBatch,
  frameId,
  seededRandom,
  type PendingFrame,
  type ProfileBatch,
  type SymbolRange,
} from '../../src/model/index.ts';
import { InvalidBatchError, layout, type ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import {
  addressToIp,
  decodeUleb128,
  encodeUleb128,
  ipToBigInt,
  unpackAddresses,
} from '../../src/store/elasticsearch/symbol-documents.ts';
import { BACKLOG_CACHE_MS } from '../../src/store/elasticsearch/symbolization.ts';
import type { ExecutableWork, SymbolizationBacklog } from '../../src/store/symbolization.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { fileIdOf, removeTempDirs, storeFor, tempDir } from './helpers.ts';

let peer: ElasticsearchPeer;
/** Two replicas sharing the cluster, each with its own spool. */
let a: ElasticsearchStore;
let b: ElasticsearchStore;

before(async () => {
  peer = await startElasticsearch();
  a = storeFor(peer, await tempDir('es-sym-a'));
  b = storeFor(peer, await tempDir('es-sym-b'));
  await a.open();
  await b.open();
});

after(async () => {
  await a?.close();
  await b?.close();
  await peer?.dispose();
  await removeTempDirs();
});

const QUEUE_AND_SYMBOLS = [
  layout.SQ_EXECUTABLES,
  layout.SQ_LEAFFRAMES,
  layout.SQ_FRAMESETS,
  layout.SYMBOLS_PRIVATE,
  layout.SYMBOLS_GLOBAL,
  layout.STACKFRAMES,
];

async function refresh(): Promise<void> {
  const response = await peer.request('POST', '/.profiling-*/_refresh?expand_wildcards=all');
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

/** `backlog()` answers from a count up to BACKLOG_CACHE_MS old; wait that out so it counts what was just written. */
async function freshBacklog(store: ElasticsearchStore): Promise<SymbolizationBacklog> {
  await new Promise((resolve) => setTimeout(resolve, BACKLOG_CACHE_MS + 50));
  return store.symbolization.backlog();
}

/** Every test starts from an empty queue and no symbols (no delete-by-query here: search, then delete). */
async function clear(): Promise<void> {
  await refresh();
  for (const index of QUEUE_AND_SYMBOLS) {
    for (;;) {
      const found = await peer.request('POST', `/${index}/_search`, { size: 5000, _source: false });
      const hits = (found.body as { hits: { hits: { _index: string; _id: string }[] } }).hits.hits;
      if (hits.length === 0) break;
      // The peer's helper sends JSON, a bulk body is NDJSON: the store's client sends it.
      const response = await a.client.bulk({
        operations: hits.map((h) => ({ delete: { _index: h._index, _id: h._id } })),
      });
      assert.equal(response.errors, false);
      await refresh();
    }
  }
}

beforeEach(clear);

async function count(index: string, query?: object): Promise<number> {
  await refresh();
  const response = await peer.request(
    'POST',
    `/${index}/_count?ignore_unavailable=true`,
    query ? { query } : undefined,
  );
  return (response.body as { count: number }).count;
}

async function getDoc(
  index: string,
  id: string,
): Promise<{ source: Record<string, unknown>; seqNo: number } | undefined> {
  const response = await peer.request('GET', `/${index}/_doc/${encodeURIComponent(id)}`);
  if (response.status === 404) return undefined;
  const body = response.body as { _source: Record<string, unknown>; _seq_no: number };
  return { source: body._source, seqNo: body._seq_no };
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

function pending(fileId: string, address: number): PendingFrame {
  return { frameId: frameId(fileId, BigInt(address)), fileId, address };
}

/** A batch queueing `addresses` of each file; files named in `names` come with their executable record. */
function queueBatch(frames: PendingFrame[], names: Record<string, string> = {}): ProfileBatch {
  const batch = emptyBatch();
  batch.pendingFrames = frames;
  for (const [fileId, fileName] of Object.entries(names)) {
    batch.executables.push({ fileId, fileName, buildId: `build-${fileName}`, lastSeen: 1_760_000_000 });
  }
  return batch;
}

async function writeAndSend(store: ElasticsearchStore, batch: ProfileBatch): Promise<void> {
  await store.write(batch);
  await store.flush();
}

async function* yieldChunks(ranges: SymbolRange[], size = 100): AsyncGenerator<SymbolRange[]> {
  for (let i = 0; i < ranges.length; i += size) yield ranges.slice(i, i + size);
}

function range(
  start: number,
  end: number,
  depth: number,
  name: string,
  extra: Partial<SymbolRange> = {},
): SymbolRange {
  return {
    start,
    end,
    depth,
    functionName: name,
    functionLine: 0,
    fileName: '',
    callFileName: '',
    callLine: 0,
    lineOffsets: [],
    lines: [],
    ...extra,
  };
}

test('encodings: addresses as IPv6 numbers, line tables as ULEB128', () => {
  assert.equal(addressToIp(0x401000), '::0:0:40:1000');
  for (const address of [0, 1, 0x401000, 0xffff_0000_0000, 0xffff_ffff_ffff, 2 ** 53 - 1]) {
    assert.equal(ipToBigInt(addressToIp(address)), BigInt(address));
  }
  // How Elasticsearch may print addresses back: compressed, or IPv4 for the IPv4-mapped block.
  assert.equal(ipToBigInt('::ffff:1.2.3.4'), 0xffff_0102_0304n);
  assert.equal(ipToBigInt('1.2.3.4'), 0xffff_0102_0304n);
  assert.equal(ipToBigInt('::1:0:0:0'), 2n ** 48n);
  const values = [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 32 + 5, 2 ** 53 - 1];
  assert.deepEqual(decodeUleb128(encodeUleb128(values)), values);
  // Independently: 300 = 0b10_0101100 → 0xac 0x02.
  assert.deepEqual([...Buffer.from(encodeUleb128([300]), 'base64url')], [0xac, 0x02]);
});

test('write(batch) queues pending frames through the spool: a frame set per file, stack leaves one document each, the executable due', async () => {
  const x = fileIdOf(1);
  const y = fileIdOf(2);
  const frames = [
    { ...pending(x, 0x1000), leaf: true },
    pending(x, 0x2000),
    pending(x, 0x3000),
    pending(y, 0x10),
    { ...pending(y, 0x20), leaf: true },
  ];
  const leaves = [frames[0], frames[4]];
  const before = Date.now();
  await writeAndSend(a, queueBatch(frames, { [x]: 'libx.so' }));
  // Elastic's symbolizer reads stack leaves, one document each.
  assert.equal(await count(layout.SQ_LEAFFRAMES), 2);
  for (const frame of leaves) {
    const doc = await getDoc(layout.SQ_LEAFFRAMES, frame.frameId);
    assert.ok(doc, `leaf ${frame.frameId} queued`);
    assert.equal(field(doc.source, 'Stacktrace.frame.id'), frame.frameId);
    assert.equal(field(doc.source, 'Executable.file.id'), frame.fileId);
  }
  // Ours: every frame, one document per file and batch.
  assert.equal(await count(layout.SQ_FRAMESETS), 2);
  const sets = await peer.request('POST', `/${layout.SQ_FRAMESETS}/_search`, {
    query: { term: { 'Executable.file.id': x } },
  });
  const [setOfX] = (sets.body as { hits: { hits: { _source: Record<string, unknown> }[] } }).hits.hits;
  assert.deepEqual(
    unpackAddresses(field(setOfX._source, 'uniprof.addresses')),
    frames.slice(0, 3).map((f) => f.address),
  );
  assert.deepEqual(unpackAddresses(field(setOfX._source, 'uniprof.leaf_addresses')), [frames[0].address]);
  assert.equal(field(setOfX._source, 'uniprof.frame_count'), 3);
  const queued = await getDoc(layout.SQ_EXECUTABLES, x);
  assert.ok(queued);
  assert.equal(field(queued.source, 'Executable.file.name'), 'libx.so');
  assert.equal(field(queued.source, 'Executable.build.id'), 'build-libx.so');
  const next = Date.parse(String(field(queued.source, 'Symbolization.time.next')));
  assert.ok(next >= before && next <= Date.now(), `due since the write (${next})`);
  assert.ok(await getDoc(layout.SQ_EXECUTABLES, y), 'a file without an executable record is queued too');

  // The same frames again (an agent resending, or another collector): no duplicate leaves, and the
  // executable's document is not written again by a collector that created it (b never did: its create
  // conflicts).
  const conflictsBefore = a.counters.conflictsIgnored + b.counters.conflictsIgnored;
  await writeAndSend(b, queueBatch(frames.slice(0, 2)));
  await writeAndSend(a, queueBatch(frames.slice(0, 2)));
  assert.equal(a.counters.conflictsIgnored + b.counters.conflictsIgnored - conflictsBefore, 3);
  assert.equal(await count(layout.SQ_LEAFFRAMES), 2);
  assert.equal((await getDoc(layout.SQ_EXECUTABLES, x))!.seqNo, queued.seqNo);

  const bad = queueBatch([{ ...pending(x, 0x4000), address: -1 }]);
  await assert.rejects(a.write(bad), InvalidBatchError);

  // Each frame handed out once, whichever documents hold it.
  const pendingX = await b.symbolization.pendingFrames(x, 100);
  assert.deepEqual(
    pendingX.sort((p, q) => p.address - q.address),
    frames.slice(0, 3).map((f) => pending(f.fileId, f.address)),
  );
  assert.equal((await b.symbolization.pendingFrames(x, 2)).length, 2);
  await refresh();
  const backlog = await freshBacklog(b);
  // x's first three frames and y's two, then two of x's twice more: a frame queued twice counts twice.
  assert.equal(backlog.pendingFrames, 3 + 2 + 2 + 2);
  assert.equal(backlog.pendingExecutables, 2);

  // Resolving takes frames off every document holding them: the sets and the leaf documents.
  const handedOut = await b.symbolization.pendingFrames(x, 100);
  await b.symbolization.resolveFrames(
    [],
    handedOut.map((f) => f.frameId),
  );
  assert.equal(await count(layout.SQ_FRAMESETS, { term: { 'Executable.file.id': x } }), 0);
  assert.equal(await count(layout.SQ_LEAFFRAMES, { term: { 'Executable.file.id': x } }), 0);
  assert.equal(await count(layout.SQ_LEAFFRAMES), 1, "y's leaf stays");

  // Part of a set resolved: the set keeps the rest.
  await writeAndSend(a, queueBatch(frames.slice(0, 3)));
  const [first] = await b.symbolization.pendingFrames(x, 1);
  await b.symbolization.resolveFrames([], [first.frameId]);
  const rest = await b.symbolization.pendingFrames(x, 100);
  assert.deepEqual(
    rest.map((f) => f.frameId).sort(),
    frames
      .slice(0, 3)
      .map((f) => f.frameId)
      .filter((id) => id !== first.frameId)
      .sort(),
  );
});

test('resolveFrames over thousands of frame sets: every set keeps exactly the frames not resolved', async () => {
  // More rewritten sets than one bulk request's 5,000 operations, after a lone delete (the leaf's own
  // document): a request that parted a rewrite's action from its document would be refused whole.
  const x = fileIdOf(31);
  const sets = 5_200;
  const firstOf = (set: number) => 0x10_0000 + 2 * set;
  for (let set = 0; set < sets; set++) {
    const frames = [pending(x, firstOf(set)), pending(x, firstOf(set) + 1)];
    if (set === 0) frames[0] = { ...frames[0], leaf: true };
    await a.write(queueBatch(frames));
  }
  await a.flush();
  const handedOut = await b.symbolization.pendingFrames(x, 10_000);
  assert.equal(handedOut.length, 10_000, 'as many as asked for');
  const others = Array.from({ length: sets - 1 }, (_, i) => i + 1);
  const resolved = [
    frameId(x, BigInt(firstOf(0))),
    ...others.map((set) => frameId(x, BigInt(firstOf(set) + 1))),
  ];
  await b.symbolization.resolveFrames([], resolved);
  await refresh();
  assert.equal(await count(layout.SQ_FRAMESETS, { term: { 'Executable.file.id': x } }), sets);
  assert.equal(
    await count(layout.SQ_LEAFFRAMES, { term: { 'Executable.file.id': x } }),
    0,
    'the leaf is gone',
  );
  const left = await b.symbolization.pendingFrames(x, 10_000);
  const expected = [firstOf(0) + 1, ...others.map(firstOf)];
  assert.deepEqual(
    left.map((f) => f.address).sort((p, q) => p - q),
    expected.sort((p, q) => p - q),
  );
});

test('two replicas racing for due executables lease each exactly once while the leases hold', async () => {
  const files = Array.from({ length: 30 }, (_, i) => fileIdOf(100 + i));
  await writeAndSend(
    a,
    queueBatch(
      files.map((fileId, i) => pending(fileId, 0x400000 + i)),
      Object.fromEntries(files.map((fileId, i) => [fileId, `lib${i}.so`])),
    ),
  );
  const leasedBy = new Map<string, string[]>();
  const worker = async (store: ElasticsearchStore, owner: string): Promise<ExecutableWork[]> => {
    const mine = new Map<string, ExecutableWork>();
    for (let round = 0; round < 20; round++) {
      // As the service's worker asks: room for what it holds (handed back to it with fresh leases) and 3 more.
      const works = await store.symbolization.leaseExecutables(owner, mine.size + 3, 60_000);
      let fresh = 0;
      for (const work of works) {
        if (!mine.has(work.fileId)) {
          fresh++;
          leasedBy.set(work.fileId, [...(leasedBy.get(work.fileId) ?? []), owner]);
        }
        mine.set(work.fileId, work);
      }
      if (fresh === 0 && round > 2) break;
    }
    return [...mine.values()];
  };
  // Two workers per store instance, all at once; 30 due executables are more than one search page of a
  // lease call. Each has its own owner: an owner's own leases count as free to it (see the next test).
  const [fromA1, fromA2, fromB1, fromB2] = await Promise.all([
    worker(a, 'replica-a'),
    worker(a, 'replica-a2'),
    worker(b, 'replica-b'),
    worker(b, 'replica-b2'),
  ]);
  const fromA = [...fromA1, ...fromA2];
  const fromB = [...fromB1, ...fromB2];
  assert.deepEqual([...leasedBy.keys()].sort(), [...files].sort(), 'every due executable was leased');
  for (const [fileId, owners] of leasedBy) assert.equal(owners.length, 1, `${fileId} leased by ${owners}`);
  assert.ok(
    fromA.length > 0 && fromB.length > 0,
    `both replicas got work (${fromA.length} / ${fromB.length})`,
  );
  for (const work of [...fromA, ...fromB]) {
    assert.equal(work.fileName, `lib${files.indexOf(work.fileId)}.so`);
    assert.equal(work.hasSymbols, false);
    assert.equal(work.attempts, 0);
  }
  // The lease is recorded with its owner.
  for (const work of [fromA[0], fromB[0]]) {
    assert.equal(
      field((await getDoc(layout.SQ_EXECUTABLES, work.fileId))!.source, 'uniprof.lease.owner'),
      leasedBy.get(work.fileId)?.[0],
    );
  }
  // While the leases hold, nobody else gets them again.
  await refresh();
  assert.deepEqual(await a.symbolization.leaseExecutables('replica-c', 50, 60_000), []);
});

test('an owner takes back its own live lease at once (a restarted symbolizer); others wait for it', async () => {
  const x = fileIdOf(5);
  await writeAndSend(a, queueBatch([pending(x, 0x1000)], { [x]: 'libx.so' }));
  const [held] = await a.symbolization.leaseExecutables('replica-a', 10, 600_000);
  assert.equal(held?.fileId, x);
  await refresh();
  assert.deepEqual(await b.symbolization.leaseExecutables('replica-b', 10, 600_000), [], 'held for 10 min');
  // Work this instance is still doing is not handed back to it: it would take the place of new work.
  assert.deepEqual(await a.symbolization.leaseExecutables('replica-a', 10, 600_000), [], 'in progress here');
  // The same owner from another store instance, as after a restart: handed back with a fresh lease.
  const [back] = await b.symbolization.leaseExecutables('replica-a', 10, 600_000);
  assert.equal(back?.fileId, x);
  assert.notEqual(back.lease, held.lease);
  assert.equal(await a.symbolization.renewLease(held, 600_000), false, 'the old lease is gone');
  assert.equal(await b.symbolization.renewLease(back, 600_000), true);
  await b.symbolization.resolveFrames(
    [],
    (await b.symbolization.pendingFrames(x, 10)).map((f) => f.frameId),
  );
  assert.equal(await b.symbolization.releaseExecutable(back, {}), true);
  await refresh();
  assert.deepEqual(await b.symbolization.leaseExecutables('replica-a', 10, 600_000), [], 'done: rests');
});

test('an expired lease is leased again; the lapsed worker can neither renew nor release it', async () => {
  const x = fileIdOf(3);
  await writeAndSend(a, queueBatch([pending(x, 0x1000)], { [x]: 'libx.so' }));
  const [first] = await a.symbolization.leaseExecutables('replica-a', 10, 3000);
  assert.equal(first?.fileId, x);
  assert.equal(await a.symbolization.renewLease(first, 3000), true, 'renewed while held');
  assert.deepEqual(await b.symbolization.leaseExecutables('replica-b', 10, 60_000), [], 'held');
  await new Promise((resolve) => setTimeout(resolve, 3200));
  const [second] = await b.symbolization.leaseExecutables('replica-b', 10, 60_000);
  assert.equal(second?.fileId, x, 'the lapsed lease went to the other replica');
  assert.equal(await a.symbolization.renewLease(first, 60_000), false);
  assert.equal(await a.symbolization.releaseExecutable(first, {}), false);
  const frames = await b.symbolization.pendingFrames(x, 10);
  await b.symbolization.resolveFrames(
    [],
    frames.map((f) => f.frameId),
  );
  assert.equal(await b.symbolization.releaseExecutable(second, {}), true);
  await refresh();
  assert.deepEqual(await a.symbolization.leaseExecutables('replica-a', 10, 60_000), [], 'rests');
});

test('release: false when frames were queued meanwhile (it stays due); a retry waits; resolved frames leave the queue', async () => {
  const x = fileIdOf(4);
  await writeAndSend(a, queueBatch([pending(x, 0x1000), pending(x, 0x1004)], { [x]: 'libx.so' }));
  const [work] = await b.symbolization.leaseExecutables('replica-b', 10, 60_000);
  assert.equal(work.fileId, x);
  const frames = await b.symbolization.pendingFrames(x, 10);
  assert.equal(frames.length, 2);
  // A collector queues another frame of the file while the worker works.
  await writeAndSend(a, queueBatch([pending(x, 0x2000)]));
  assert.equal(await b.symbolization.renewLease(work, 60_000), true, 'still ours');
  await b.symbolization.resolveFrames(
    frames.map((f) => ({
      frameId: f.frameId,
      functionNames: [`fn_${f.address}`],
      fileNames: ['x.c'],
      lineNumbers: [10],
      functionOffsets: [0],
    })),
    frames.map((f) => f.frameId),
  );
  assert.equal(await b.symbolization.releaseExecutable(work, {}), false, 'frames came in meanwhile');
  const stored = await a.getStackFrames(frames.map((f) => f.frameId));
  assert.deepEqual(stored.get(frames[0].frameId)?.functionNames, [`fn_${0x1000}`]);

  // Still due, for anyone: the new frame is all that is left.
  await refresh();
  // Updates merged into synthetic source leave every field with one value (none gets a second copy).
  const queued = (await getDoc(layout.SQ_EXECUTABLES, x))!.source;
  for (const name of ['Symbolization.time.next', 'uniprof.queued', 'Executable.file.name'])
    assert.ok(typeof field(queued, name) === 'string', `${name}: ${JSON.stringify(field(queued, name))}`);
  assert.equal(field(queued, 'uniprof.lease.until'), undefined);
  const [again] = await a.symbolization.leaseExecutables('replica-a', 10, 60_000);
  assert.equal(again?.fileId, x);
  assert.deepEqual(
    (await a.symbolization.pendingFrames(x, 10)).map((f) => f.address),
    [0x2000],
  );
  // Nothing found: try again later, with the reason kept.
  const retryAt = Date.now() + 1500;
  assert.equal(await a.symbolization.releaseExecutable(again, { retryAt, reason: 'no-debuginfo' }), true);
  // The backlog counts as of the last refresh (it is read on every metrics scrape).
  await refresh();
  assert.deepEqual((await freshBacklog(a)).waitingByReason, { 'no-debuginfo': 1 });
  assert.deepEqual(await b.symbolization.leaseExecutables('replica-b', 10, 60_000), [], 'waits');
  await new Promise((resolve) => setTimeout(resolve, retryAt - Date.now() + 100));
  const [retried] = await b.symbolization.leaseExecutables('replica-b', 10, 60_000);
  assert.equal(retried?.fileId, x);
  assert.equal(retried.attempts, 1);
  assert.equal(retried.lastReason, 'no-debuginfo');
  const left = await b.symbolization.pendingFrames(x, 10);
  await b.symbolization.resolveFrames(
    [],
    left.map((f) => f.frameId),
  );
  assert.equal(await b.symbolization.releaseExecutable(retried, {}), true);
  assert.deepEqual(await b.symbolization.pendingFrames(x, 10), []);
  await refresh();
  const backlog = await freshBacklog(a);
  assert.equal(backlog.pendingFrames, 0);
  assert.deepEqual(backlog.waitingByReason, {});
});

test('retryWaitingNow: executables waiting for a source that is back are due at once; others keep their backoff', async () => {
  const [x, y] = [fileIdOf(21), fileIdOf(22)];
  await writeAndSend(
    a,
    queueBatch([pending(x, 0x1000), pending(y, 0x1000)], { [x]: 'libx.so', [y]: 'liby.so' }),
  );
  const works = await a.symbolization.leaseExecutables('replica-a', 10, 60_000);
  const work = (fileId: string) => works.find((w) => w.fileId === fileId)!;
  const hour = 3_600_000;
  await a.symbolization.releaseExecutable(work(x), {
    retryAt: Date.now() + hour,
    reason: 'debuginfod-unreachable',
  });
  await a.symbolization.releaseExecutable(work(y), { retryAt: Date.now() + hour, reason: 'not-found' });
  await refresh();
  assert.deepEqual(await b.symbolization.leaseExecutables('replica-b', 10, 60_000), [], 'both wait');

  assert.equal(await b.symbolization.retryWaitingNow(['debuginfod-unreachable']), 1);
  await refresh();
  const due = await b.symbolization.leaseExecutables('replica-b', 10, 60_000);
  assert.deepEqual(
    due.map((w) => w.fileId),
    [x],
    'only what waited for the source that is back',
  );
  assert.equal(due[0].attempts, 0, 'its backoff starts over');
  assert.equal(
    await b.symbolization.retryWaitingNow(['debuginfod-unreachable']),
    0,
    'leased: left to its worker',
  );
  await b.symbolization.resolveFrames(
    [],
    (await b.symbolization.pendingFrames(x, 10)).map((f) => f.frameId),
  );
  await b.symbolization.releaseExecutable(due[0], {});
  await refresh();
  assert.deepEqual((await freshBacklog(a)).waitingByReason, { 'not-found': 1 });
  const yFrames = await a.symbolization.pendingFrames(y, 10);
  await a.symbolization.resolveFrames(
    [],
    yFrames.map((f) => f.frameId),
  );
});

test('an executable waiting for its retry keeps waiting when frames come (from racing collectors too); stored symbols make it due', async () => {
  const [x, y, z] = [fileIdOf(11), fileIdOf(12), fileIdOf(13)];
  await writeAndSend(a, queueBatch([pending(x, 0x1000), pending(y, 0x1000), pending(z, 0x1000)]));
  const leased = await b.symbolization.leaseExecutables('replica-b', 10, 60_000);
  const work = new Map(leased.map((w) => [w.fileId, w]));
  assert.deepEqual([...work.keys()].sort(), [x, y, z].sort());
  const retryAt = Date.now() + 120_000;

  // x: nothing found, released at once.
  assert.equal(await b.symbolization.releaseExecutable(work.get(x)!, { retryAt, reason: 'not found' }), true);
  // y: frames queued by two collectors while the worker has it, some racing with the release itself. The
  // release says so, but the attempt found nothing, so y waits for its retry all the same.
  await writeAndSend(a, queueBatch([pending(y, 0x2000)]));
  const [releasedY] = await Promise.all([
    b.symbolization.releaseExecutable(work.get(y)!, { retryAt, reason: 'not found' }),
    writeAndSend(a, queueBatch([pending(y, 0x3000), pending(x, 0x3000)])),
    writeAndSend(b, queueBatch([pending(y, 0x4000), pending(x, 0x4000)])),
  ]);
  assert.equal(releasedY, false, 'frames came while the worker had y');
  // z: symbols stored while the worker has it: it stays due, retry or not.
  await a.symbolization.putSymbols(z, yieldChunks([range(0x1000, 0x1100, 0, 'z_main')]), {
    source: 'upload',
  });
  assert.equal(
    await b.symbolization.releaseExecutable(work.get(z)!, { retryAt, reason: 'store error' }),
    false,
  );

  // More frames for the waiting executables, from both collectors at once.
  await Promise.all([
    writeAndSend(a, queueBatch([pending(x, 0x5000), pending(y, 0x5000)], { [x]: 'libx.so' })),
    writeAndSend(b, queueBatch([pending(x, 0x6000), pending(y, 0x6000)])),
  ]);
  await refresh();
  for (const fileId of [x, y]) {
    const queued = (await getDoc(layout.SQ_EXECUTABLES, fileId))!.source;
    assert.equal(Date.parse(String(field(queued, 'Symbolization.time.next'))), retryAt, `${fileId} waits`);
    assert.equal(field(queued, 'Symbolization.retries'), 1, 'the attempt counted once');
    assert.equal(field(queued, 'uniprof.reason'), 'not found');
    assert.equal(field(queued, 'uniprof.lease.until'), undefined);
    // Every field keeps one value (the script writes nested objects, as synthetic source returns them).
    for (const name of ['Symbolization.time.next', 'uniprof.queued'])
      assert.ok(typeof field(queued, name) === 'string', `${name}: ${JSON.stringify(field(queued, name))}`);
  }
  const due = await a.symbolization.leaseExecutables('replica-a', 10, 60_000);
  assert.deepEqual(
    due.map((w) => [w.fileId, w.hasSymbols]),
    [[z, true]],
    'only z, whose symbols came, is due: new frames do not cut the backoff',
  );
  await a.symbolization.resolveFrames(
    [],
    (await a.symbolization.pendingFrames(z, 10)).map((f) => f.frameId),
  );
  assert.equal(await a.symbolization.releaseExecutable(due[0], {}), true);

  // Symbols stored for a waiting executable make it due at once, its attempts forgotten.
  await b.symbolization.putSymbols(x, yieldChunks([range(0x1000, 0x7000, 0, 'x_main')]), { source: 'local' });
  await refresh();
  const [symbolized] = await a.symbolization.leaseExecutables('replica-a', 10, 60_000);
  assert.equal(symbolized?.fileId, x);
  assert.equal(symbolized.hasSymbols, true);
  assert.equal(symbolized.attempts, 0);
  // Queued before a batch named it (the queue document is created once): named from the executables index.
  assert.equal(symbolized.fileName, 'libx.so');
  assert.equal(symbolized.lastReason, undefined);
  assert.deepEqual(await a.symbolization.leaseExecutables('replica-a', 10, 60_000), [], 'y still waits');
});

/** Random well-formed symbols: functions side by side, inlined calls nested inside them to depth 3. */
function randomRanges(seed: number, functions: number, base: number): SymbolRange[] {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const ranges: SymbolRange[] = [];
  const lineTable = (length: number) => {
    const offsets = [0];
    while (offsets.length < 4 && offsets.at(-1)! + 1 < length)
      offsets.push(offsets.at(-1)! + 1 + int(length / 4));
    const kept = offsets.filter((o) => o < length);
    return { lineOffsets: kept, lines: kept.map(() => 1 + int(5000)) };
  };
  const nest = (start: number, end: number, depth: number, name: string) => {
    ranges.push(
      range(start, end, depth, name, {
        functionLine: int(3) === 0 ? 0 : 1 + int(900),
        fileName: `src/${name}.c`,
        callFileName: depth > 0 ? `src/caller_${depth}.c` : '',
        callLine: depth > 0 ? 1 + int(400) : 0,
        ...(int(4) === 0 ? {} : lineTable(end - start)),
      }),
    );
    if (depth >= 3 || end - start < 8) return;
    // Up to two inlined calls, disjoint, inside this range.
    let cursor = start + int(4);
    for (let i = 0; i < 2 && cursor + 2 < end; i++) {
      const length = 1 + int(Math.max(1, (end - cursor) / 2));
      if (int(2) === 0) nest(cursor, Math.min(end, cursor + length), depth + 1, `${name}_inl${i}`);
      cursor += length + int(4);
    }
  };
  let address = base;
  for (let i = 0; i < functions; i++) {
    address += int(3) * 16; // gaps between some functions
    const length = 16 + int(400);
    nest(address, address + length, 0, `fn${i}`);
    address += length;
  }
  return ranges;
}

function bruteForce(ranges: SymbolRange[], addresses: number[]): Map<number, SymbolRange[]> {
  const result = new Map<number, SymbolRange[]>();
  for (const address of addresses) {
    const containing = ranges
      .filter((r) => r.start <= address && address < r.end)
      .sort((p, q) => p.depth - q.depth);
    if (containing.length > 0) result.set(address, containing);
  }
  return result;
}

test('symbolRanges equals brute force over random ranges, addresses above 2^32 and in the IPv4-mapped block included', async () => {
  const x = fileIdOf(5);
  const bases = [0x400000, 0x7f00_0000_0000, 0xffff_0000_0000 - 0x800];
  const ranges = bases.flatMap((base, i) => randomRanges(40 + i, 300, base));
  const result = await a.symbolization.putSymbols(x, yieldChunks(ranges, 250), {
    source: 'debuginfod',
    buildId: 'b1',
  });
  assert.equal(result.ranges, ranges.length);
  const random = seededRandom(7);
  const addresses: number[] = [];
  for (const base of bases) {
    for (let i = 0; i < 1500; i++) addresses.push(base - 64 + Math.floor(random() * 300 * 260));
  }
  addresses.push(addresses[0], addresses[1]); // duplicates
  const expected = bruteForce(ranges, addresses);
  assert.ok(
    expected.size > 2000 && expected.size < addresses.length,
    `a mix of hits and misses (${expected.size})`,
  );
  const started = performance.now();
  const actual = await b.symbolization.symbolRanges(x, addresses);
  const elapsed = performance.now() - started;
  assert.deepEqual(actual, expected);
  console.log(
    `symbolRanges: ${addresses.length} addresses over ${ranges.length} ranges in ${elapsed.toFixed(0)} ms`,
  );
  assert.deepEqual(await b.symbolization.filesWithSymbols([x, fileIdOf(6)]), new Set([x]));
  assert.equal(
    await count(layout.SYMBOLS_GLOBAL, { term: { 'Symbol.file.id': x } }),
    ranges.length + 1,
    'ranges and the marker',
  );

  // Looked up by bucket: the marker lists the ranges' size levels. Symbols stored before buckets existed
  // (a marker without them) are looked up by their ip_range, with the same answer.
  const marker = await getDoc(layout.SYMBOLS_GLOBAL, x);
  const levels = field(marker?.source, 'uniprof.symbols.levels') as number[];
  assert.ok(Array.isArray(levels) && levels.length > 1, `levels ${JSON.stringify(levels)}`);
  const { ['uniprof.symbols.levels']: dropped, ...older } = marker!.source;
  assert.ok(dropped, 'stored flat, as written');
  const rewritten = await peer.request('PUT', `/${layout.SYMBOLS_GLOBAL}/_doc/${x}`, older);
  assert.equal(rewritten.status, 200, JSON.stringify(rewritten.body));
  assert.deepEqual(await b.symbolization.symbolRanges(x, addresses), expected);
});

test('putSymbols: all or nothing when the ranges throw, idempotent on re-upload, replaced across sources', async () => {
  const x = fileIdOf(7);
  const ranges = randomRanges(3, 2000, 0x10000);
  const addresses = ranges.filter((r) => r.depth === 0).map((r) => r.start + 1);
  async function* failing(): AsyncGenerator<SymbolRange[]> {
    yield* yieldChunks(ranges.slice(0, 5000), 1000);
    throw new Error('debug file truncated');
  }
  await assert.rejects(
    a.symbolization.putSymbols(x, failing(), { source: 'upload' }),
    /debug file truncated/,
  );
  assert.equal(
    await count(`${layout.SYMBOLS_PRIVATE},${layout.SYMBOLS_GLOBAL}`, { term: { 'Symbol.file.id': x } }),
    0,
  );
  assert.deepEqual(await a.symbolization.filesWithSymbols([x]), new Set());
  assert.deepEqual(await a.symbolization.symbolRanges(x, addresses), new Map());

  await a.symbolization.putSymbols(x, yieldChunks(ranges, 700), { source: 'upload', fileName: 'x' });
  const first = await b.symbolization.symbolRanges(x, addresses);
  assert.deepEqual(first, bruteForce(ranges, addresses));
  const stored = () => count(layout.SYMBOLS_PRIVATE, { term: { 'Symbol.file.id': x } });
  assert.equal(await stored(), ranges.length + 1);

  // Uploading the same file again changes nothing, and leaves no second copy behind.
  await a.symbolization.putSymbols(x, yieldChunks(ranges, 333), { source: 'upload' });
  assert.deepEqual(await b.symbolization.symbolRanges(x, addresses), first);
  assert.equal(await stored(), ranges.length + 1);

  // A failing re-upload (and one with a malformed range) leaves the earlier symbols as they were.
  await assert.rejects(a.symbolization.putSymbols(x, failing(), { source: 'upload' }), /truncated/);
  const malformed = [...ranges.slice(0, 10), range(50, 40, 0, 'backwards')];
  await assert.rejects(
    a.symbolization.putSymbols(x, yieldChunks(malformed), { source: 'upload' }),
    /reversed/,
  );
  assert.deepEqual(await b.symbolization.symbolRanges(x, addresses), first);
  assert.equal(await stored(), ranges.length + 1);

  // What a crashed upload leaves (ranges of a generation no marker points at) goes with the next upload.
  const leftover = await a.client.bulk({
    refresh: true,
    operations: ranges.slice(0, 5).flatMap((r, i) => [
      { index: { _index: layout.SYMBOLS_PRIVATE, _id: `${x}.000000000dead.${i}` } },
      {
        'Symbol.file.id': x,
        'Symbol.exec.pcrange': { gte: addressToIp(r.start), lt: addressToIp(r.end) },
        'Symbol.linetable.base': r.start,
        'Symbol.linetable.length': r.end - r.start,
        'Symbol.function.name': 'stale',
        'uniprof.symbols.generation': '000000000dead',
      },
    ]),
  });
  assert.equal(leftover.errors, false);
  assert.deepEqual(await b.symbolization.symbolRanges(x, addresses), first, 'not read: no marker names it');

  // Symbols from another source replace these: they move to the global index.
  const other = randomRanges(4, 50, 0x10000);
  await b.symbolization.putSymbols(x, yieldChunks(other), { source: 'local' });
  assert.equal(await stored(), 0);
  assert.equal(await count(layout.SYMBOLS_GLOBAL, { term: { 'Symbol.file.id': x } }), other.length + 1);
  assert.deepEqual(await a.symbolization.symbolRanges(x, addresses), bruteForce(other, addresses));
});

test('putSymbols makes the executable due with hasSymbols; backlog counts', async () => {
  const x = fileIdOf(8);
  const y = fileIdOf(9);
  const z = fileIdOf(10);
  await writeAndSend(
    a,
    queueBatch(
      [pending(x, 0x1000), pending(x, 0x1100), pending(x, 0x1200), pending(y, 0x20), pending(y, 0x30)],
      {
        [x]: 'libx.so',
      },
    ),
  );
  // y's name is known only from an earlier batch's executable record.
  const named = emptyBatch();
  named.executables.push({ fileId: y, fileName: 'liby.so', lastSeen: 1_760_000_000 });
  await writeAndSend(b, named);
  await a.symbolization.putSymbols(y, yieldChunks([range(0x10, 0x40, 0, 'y_main')]), { source: 'upload' });
  // z was never queued: uploading creates its queue document.
  await a.symbolization.putSymbols(z, yieldChunks([range(0x10, 0x40, 0, 'z_main')]), {
    source: 'upload',
    fileName: 'libz.so',
    buildId: 'zz',
  });
  await refresh();
  const backlog = await freshBacklog(b);
  assert.deepEqual(backlog, {
    pendingExecutables: 1,
    pendingFrames: 5,
    symbolizedExecutables: 2,
    waitingByReason: {},
  });
  const works = await b.symbolization.leaseExecutables('replica-b', 10, 60_000);
  const byFile = new Map(works.map((w) => [w.fileId, w]));
  assert.deepEqual([...byFile.keys()].sort(), [x, y, z].sort());
  assert.equal(byFile.get(x)?.hasSymbols, false);
  assert.equal(byFile.get(y)?.hasSymbols, true);
  assert.equal(byFile.get(y)?.fileName, 'liby.so');
  assert.equal(byFile.get(z)?.hasSymbols, true);
  assert.equal(byFile.get(z)?.fileName, 'libz.so');
  assert.equal(byFile.get(z)?.buildId, 'zz');
  assert.deepEqual(await b.symbolization.pendingFrames(z, 10), []);
  assert.equal(await b.symbolization.releaseExecutable(byFile.get(z)!, {}), true);
  // Symbols arriving while a worker holds the lease: its release fails and the file stays due.
  await a.symbolization.putSymbols(x, yieldChunks([range(0x1000, 0x1300, 0, 'x_main')]), { source: 'local' });
  assert.equal(await b.symbolization.releaseExecutable(byFile.get(x)!, {}), false);
  await refresh();
  const [again] = await a.symbolization.leaseExecutables('replica-a', 10, 60_000);
  assert.equal(again?.fileId, x);
  assert.equal(again.hasSymbols, true);
  const resolved = await a.symbolization.symbolRanges(
    x,
    (await a.symbolization.pendingFrames(x, 10)).map((f) => f.address),
  );
  assert.deepEqual([...resolved.keys()].sort(), [0x1000, 0x1100, 0x1200]);
});

test('start-up gives a layout-1 queue index the alias and the fields it lacked', async () => {
  // As layout version 1 left it: no alias, only the plugin's fields.
  const index = `.${layout.SQ_LEAFFRAMES}-v001`;
  assert.equal((await peer.request('DELETE', `/_index_template/${layout.SQ_LEAFFRAMES}`)).status, 200);
  assert.equal((await peer.request('DELETE', `/${index}`)).status, 200);
  const created = await peer.request('PUT', `/${index}`, {
    settings: { index: { hidden: true, 'mapping.source.mode': 'synthetic' } },
    mappings: {
      dynamic: false,
      properties: {
        'Stacktrace.frame.id': { type: 'keyword', index: false },
        'Time.created': { type: 'date' },
        'Symbolization.time.next': { type: 'date' },
        'Symbolization.retries': { type: 'short' },
      },
    },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const upgraded = storeFor(peer, await tempDir('es-sym-upgrade'));
  await upgraded.open();
  try {
    assert.deepEqual(upgraded.layout?.changed, [
      `index template ${layout.SQ_LEAFFRAMES}`,
      `alias ${layout.SQ_LEAFFRAMES}`,
      `mapping of ${index}`,
    ]);
    const x = fileIdOf(11);
    await writeAndSend(upgraded, queueBatch([{ ...pending(x, 0x99), leaf: true }]));
    assert.deepEqual(await upgraded.symbolization.pendingFrames(x, 10), [pending(x, 0x99)]);
    assert.equal(await count(index), 1, 'written through the alias into the existing index');
  } finally {
    await upgraded.close();
  }
});
