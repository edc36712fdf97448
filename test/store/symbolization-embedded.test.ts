import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EmbeddedStore, type EmbeddedStoreOptions } from '../../src/store/embedded/index.ts';
import type { ExecutableWork } from '../../src/store/symbolization.ts';
import {
  FrameType,
  emptyBatch,
  fileIdFromHex,
  frameId,
  framesAt,
  seededRandom,
  stackTraceId,
  toStackFrameSymbols,
  type PendingFrame,
  type ProfileBatch,
  type SymbolRange,
} from '../../src/model/index.ts';

const T0 = 1_750_000_000;
const FILE_A = fileIdFromHex('00112233445566778899aabbccddeeff');
const FILE_B = fileIdFromHex('ffeeddccbbaa99887766554433221100');
const FILES = Array.from({ length: 6 }, (_, i) => fileIdFromHex(i.toString(16).padStart(32, '0')));
const SYMBOL_TABLES = ['symbolization_queue', 'symbolization_frames', 'symbol_ranges', 'symbol_files'];

function pending(fileId: string, address: number): PendingFrame {
  return { frameId: frameId(fileId, BigInt(address)), fileId, address };
}

/** A batch as the collector writes it: one event of a stack over the frames, and the frames queued. */
function batchWith(
  frames: PendingFrame[],
  executable?: { fileId: string; fileName: string; buildId?: string },
) {
  const refs = frames.map((f) => ({ fileId: f.fileId, addressOrLine: BigInt(f.address) }));
  const trace = {
    id: stackTraceId(refs),
    frameIds: frames.map((f) => f.frameId),
    frameTypes: frames.map(() => FrameType.Native),
  };
  const batch: ProfileBatch = {
    ...emptyBatch(),
    events: frames.length
      ? [{ timestamp: T0, stackTraceId: trace.id, count: 1, hostId: 'h', tags: [], projectId: 1 }]
      : [],
    stackTraces: frames.length ? [trace] : [],
    executables: executable ? [{ ...executable, lastSeen: T0 }] : [],
    pendingFrames: frames,
  };
  return batch;
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

async function* chunks(ranges: readonly SymbolRange[], size = 1000): AsyncIterable<readonly SymbolRange[]> {
  for (let i = 0; i < ranges.length; i += size) yield ranges.slice(i, i + size);
}

/** A clock the test moves by hand, so that lease expiry and retry times are exact. */
class Clock {
  now = 1_800_000_000_000;
  readonly read = () => this.now;
}

/**
 * Random well-formed symbols: disjoint functions (depth 0) with gaps between them, each holding disjoint
 * inlined calls, recursively, up to depth 3, with line tables; as a file's DWARF would give.
 */
function randomRanges(seed: number, functions: number): SymbolRange[] {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const ranges: SymbolRange[] = [];
  const fill = (start: number, end: number, depth: number, path: string) => {
    const lineOffsets: number[] = [];
    const lines: number[] = [];
    for (let offset = 0; offset < end - start; offset += 1 + int(8)) {
      lineOffsets.push(offset);
      lines.push(1 + int(500));
    }
    ranges.push(
      range(start, end, depth, `f${path}`, {
        functionLine: int(100),
        fileName: `src/${path}.c`,
        callFileName: depth > 0 ? `src/call${path}.c` : '',
        callLine: depth > 0 ? 1 + int(900) : 0,
        lineOffsets,
        lines,
      }),
    );
    if (depth === 3) return;
    let at = start + int(4);
    for (let child = 0; at < end - 2 && child < 3; child++) {
      const childEnd = Math.min(end, at + 1 + int(Math.max(1, (end - start) / 2)));
      if (random() < 0.7) fill(at, childEnd, depth + 1, `${path}.${child}`);
      at = childEnd + int(3);
    }
  };
  let at = 2 ** 40 + int(100);
  for (let f = 0; f < functions; f++) {
    const size = 4 + int(200);
    fill(at, at + size, 0, String(f));
    at += size + int(20);
  }
  return ranges;
}

const byDepth = (a: SymbolRange, b: SymbolRange) => a.depth - b.depth || a.start - b.start;

describe('embedded store: symbolization queue and symbols', () => {
  let dir: string;
  let n = 0;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'uniprof-symq-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function openStore(options: Partial<EmbeddedStoreOptions> = {}, path = join(dir, `s${n++}.duckdb`)) {
    const store = new EmbeddedStore({ path, commitIntervalMs: 0, seed: 1, ...options });
    await store.open();
    return store;
  }

  async function count(path: string, sql: string): Promise<number> {
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(sql);
      return Number(reader.getRows()[0][0]);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }

  it('queues pending frames with their batch: once each, the executable due, repeats not bumping it', async () => {
    const clock = new Clock();
    const path = join(dir, 'queue.duckdb');
    const store = await openStore({ clock: clock.read }, path);
    const q = store.symbolization;
    const a1 = pending(FILE_A, 0x2000);
    const a2 = pending(FILE_A, 0x1000);
    // One batch carries a frame twice; another in the same group commit brings it again.
    await Promise.all([
      store.write(batchWith([a1, a2, a1], { fileId: FILE_A, fileName: 'app', buildId: 'beef' })),
      store.write(batchWith([a1])),
    ]);
    assert.deepEqual(await q.pendingFrames(FILE_A, 10), [a2, a1], 'each frame once, by address');
    assert.deepEqual(await q.pendingFrames(FILE_A, 1), [a2]);
    assert.deepEqual(await q.backlog(), {
      pendingExecutables: 1,
      pendingFrames: 2,
      symbolizedExecutables: 0,
      waitingByReason: {},
    });
    const [work, ...others] = await q.leaseExecutables('w1', 10, 60_000);
    assert.equal(others.length, 0);
    assert.deepEqual(
      { ...work, lease: '' },
      {
        fileId: FILE_A,
        buildId: 'beef',
        fileName: 'app',
        hasSymbols: false,
        attempts: 0,
        lastReason: undefined,
        lease: '',
      },
    );
    // Frames already queued arrive again while it is leased: no new work.
    await store.write(batchWith([a1, a2]));
    assert.equal(await q.releaseExecutable(work, {}), true);
    assert.deepEqual(await q.leaseExecutables('w1', 10, 60_000), [], 'it rests: nothing new was queued');
    // Frames queued before their executable was reported: a lease finds the name in executables.
    await store.write(batchWith([pending(FILE_B, 0x99)]));
    await store.write({
      ...emptyBatch(),
      executables: [{ fileId: FILE_B, fileName: 'lib.so', buildId: 'b2', lastSeen: T0 }],
    });
    const [unnamed] = await q.leaseExecutables('w1', 10, 60_000);
    assert.deepEqual([unnamed.fileId, unnamed.fileName, unnamed.buildId], [FILE_B, 'lib.so', 'b2']);
    assert.equal(await q.releaseExecutable(unnamed, {}), true);
    await store.write(batchWith([a2]));
    assert.deepEqual(await q.leaseExecutables('w1', 10, 60_000), [], 'a repeated frame does not wake it');
    // A batch without pending frames (the usual one) leaves the queue alone.
    await store.write(batchWith([]));
    await store.write({ ...emptyBatch(), pendingFrames: undefined });
    const a3 = pending(FILE_A, 0x3000);
    await store.write(batchWith([a3]));
    const again = await q.leaseExecutables('w1', 10, 60_000);
    assert.deepEqual(
      again.map((w) => w.fileId),
      [FILE_A],
      'a new frame makes it due',
    );
    assert.equal((await q.pendingFrames(FILE_A, 10)).length, 3);
    await store.close();
    assert.equal(
      await count(path, `SELECT count(*) FROM symbolization_frames WHERE file_id = '${FILE_A}'`),
      3,
    );
  });

  it('past its memory bound the queue looks frames of files it let go up in the table: none queued twice, across a reopen', async () => {
    const clock = new Clock();
    const path = join(dir, 'bounded-queue.duckdb');
    const options = { clock: clock.read, queuedFramesInMemory: 4, commitIntervalMs: 100 };
    let store = await openStore(options, path);
    const [f0, f1] = FILES;
    const frames0 = [0x10, 0x20, 0x30].map((a) => pending(f0, a));
    const frames1 = [0x10, 0x20, 0x30].map((a) => pending(f1, a));
    await store.write(batchWith(frames0, { fileId: f0, fileName: 'zero' }));
    // Six frames in memory are two over the bound: file 0, queued to least recently, is let go.
    await store.write(batchWith(frames1, { fileId: f1, fileName: 'one' }));
    for (const work of await store.symbolization.leaseExecutables('w', 10, 60_000))
      assert.equal(await store.symbolization.releaseExecutable(work, {}), true);
    // Its frames again, a new one twice in two batches of one commit: only the new one is queued, once.
    const new0 = pending(f0, 0x40);
    await Promise.all([
      store.write(batchWith([...frames0, new0])),
      store.write(batchWith([new0, frames0[1]])),
    ]);
    const due = await store.symbolization.leaseExecutables('w', 10, 60_000);
    assert.deepEqual(
      due.map((w) => w.fileId),
      [f0],
      'the new frame makes file 0 due; file 1 got nothing new',
    );
    assert.equal(await store.symbolization.releaseExecutable(due[0], {}), true);
    await store.write(batchWith(frames0));
    assert.deepEqual(await store.symbolization.leaseExecutables('w', 10, 60_000), [], 'repeats wake nothing');
    await store.close();
    // Reopened: 4 + 3 queued frames, more than the bound, so only file 1 (the smaller) is loaded.
    store = await openStore(options, path);
    await store.write(batchWith([...frames0, new0, ...frames1, pending(f1, 0x40)]));
    assert.deepEqual(
      (await store.symbolization.pendingFrames(f0, 10)).map((f) => f.address),
      [0x10, 0x20, 0x30, 0x40],
    );
    // A frame taken off the queue is queued again when it comes back; one still queued is not.
    await store.symbolization.resolveFrames([], [frames0[0].frameId]);
    await store.write(batchWith([frames0[0], frames0[1]]));
    await store.close();
    assert.equal(await count(path, 'SELECT count(*) FROM symbolization_frames'), 4 + 4);
    assert.equal(
      await count(path, 'SELECT count(*) - count(DISTINCT (file_id, address)) FROM symbolization_frames'),
      0,
      'no frame queued twice',
    );
  });

  it('refuses bad pending frames with a clear error, without failing the batches that shared the commit', async () => {
    const store = await openStore({ commitIntervalMs: 200 });
    const bad = { frameId: 'x', fileId: FILE_B, address: -1 };
    const good = pending(FILE_A, 0x10);
    const results = await Promise.allSettled([
      store.write(batchWith([good])),
      store.write({ ...batchWith([]), pendingFrames: [bad] }),
      store.write({ ...batchWith([]), pendingFrames: [{ ...good, frameId: 'a,b' }] }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.match(
      String((results[1] as PromiseRejectedResult).reason),
      /pendingFrames\[0\]\.address must be a non-negative integer/,
    );
    assert.match(String((results[2] as PromiseRejectedResult).reason), /pendingFrames\[0\]\.frameId.*comma/);
    assert.deepEqual(await store.symbolization.pendingFrames(FILE_A, 10), [good]);
    assert.deepEqual(await store.symbolization.pendingFrames(FILE_B, 10), []);
    // A batch refused after some of its frames were taken: those are not queued, and come again later.
    const first = pending(FILE_B, 0x20);
    await assert.rejects(store.write({ ...batchWith([]), pendingFrames: [first, bad] }), /address/);
    assert.deepEqual(await store.symbolization.pendingFrames(FILE_B, 10), []);
    await store.write(batchWith([first]));
    assert.deepEqual(await store.symbolization.pendingFrames(FILE_B, 10), [first]);
    await store.close();
  });

  it('leases: two owners never share an executable, renewals hold, expired leases go to others', async () => {
    const clock = new Clock();
    const store = await openStore({ clock: clock.read });
    const q = store.symbolization;
    for (const file of FILES) await store.write(batchWith([pending(file, 0x100)]));
    // Ten workers asking at once, through the same store.
    const leased = await Promise.all(
      Array.from({ length: 10 }, (_, i) => q.leaseExecutables(`w${i}`, 2, 1000)),
    );
    const all = leased.flat().map((w) => w.fileId);
    assert.equal(all.length, FILES.length, 'every due executable leased');
    assert.deepEqual(new Set(all), new Set(FILES), 'each to one worker only');
    assert.deepEqual(await q.leaseExecutables('late', 10, 1000), []);

    const owner = leased.findIndex((list) => list.length > 0);
    const work = leased[owner][0];
    clock.now += 900;
    assert.equal(await q.renewLease(work, 1000), true);
    clock.now += 900; // 1,800 ms after the lease, 900 after the renewal
    const stillHeld = await q.leaseExecutables('other', 10, 1000);
    assert.ok(!stillHeld.some((w) => w.fileId === work.fileId), 'the renewed lease holds');
    assert.equal(stillHeld.length, FILES.length - 1, 'the others (not renewed) expired and are leased again');
    clock.now += 200;
    const taken = await q.leaseExecutables('other', 10, 1000);
    assert.deepEqual(
      taken.map((w) => w.fileId),
      [work.fileId],
    );
    assert.equal(await q.renewLease(work, 1000), false, 'the first owner lost it');
    assert.equal(await q.releaseExecutable(work, { retryAt: clock.now + 10 }), false);
    assert.equal(taken[0].attempts, 0, 'the lost release did not count an attempt');
    assert.equal(await q.releaseExecutable(taken[0], {}), true);
    assert.equal(await q.releaseExecutable(taken[0], {}), false, 'a lease ends once');
    await assert.rejects(q.leaseExecutables('', 1, 1000), /owner must be a non-empty string/);
    await assert.rejects(q.leaseExecutables('w', 1.5, 1000), /limit must be a non-negative integer/);
    await assert.rejects(q.leaseExecutables('w', 1, 0), /leaseMs must be a positive number/);
    await store.close();
  });

  it('release: a retry time counts the attempt and waits, new frames or not; without a retry new frames keep it due', async () => {
    const clock = new Clock();
    const store = await openStore({ clock: clock.read });
    const q = store.symbolization;
    await store.write(batchWith([pending(FILE_A, 0x10)], { fileId: FILE_A, fileName: 'a' }));
    await store.write(batchWith([pending(FILE_B, 0x10)], { fileId: FILE_B, fileName: 'b' }));

    const [a] = await q.leaseExecutables('w', 1, 60_000);
    assert.equal(a.fileId, FILE_A, 'due first, leased first');
    assert.equal(
      await q.releaseExecutable(a, { retryAt: clock.now + 5000, reason: 'debuginfod: not found' }),
      true,
    );
    const [b] = await q.leaseExecutables('w', 10, 60_000);
    assert.equal(b.fileId, FILE_B, 'A waits for its retry time');
    assert.equal(await q.releaseExecutable(b, { retryAt: clock.now + 9000, reason: 'no build ID' }), true);
    assert.deepEqual((await q.backlog()).waitingByReason, { 'debuginfod: not found': 1, 'no build ID': 1 });
    clock.now += 4999;
    assert.deepEqual(await q.leaseExecutables('w', 10, 60_000), []);
    clock.now += 1;
    const [retried, ...rest] = await q.leaseExecutables('w', 10, 60_000);
    assert.equal(rest.length, 0);
    assert.equal(retried.fileId, FILE_A);
    assert.equal(retried.attempts, 1);
    assert.equal(retried.lastReason, 'debuginfod: not found');

    // Frames queued while the worker had it: release says so, but a failed attempt keeps its backoff (an
    // executable nobody has symbols for must not be tried again on every agent report).
    await store.write(batchWith([pending(FILE_A, 0x20)]));
    assert.equal(
      await q.releaseExecutable(retried, { retryAt: clock.now + 60_000, reason: 'still nothing' }),
      false,
    );
    assert.deepEqual(await q.leaseExecutables('w', 10, 60_000), [], 'A waits for its retry time');
    // New frames while it waits do not make it due either.
    await store.write(batchWith([pending(FILE_A, 0x28)]));
    assert.deepEqual(await q.leaseExecutables('w', 10, 60_000), [], 'new frames do not cut the backoff');
    clock.now += 60_000;
    const due = await q.leaseExecutables('w', 10, 60_000);
    assert.deepEqual(due.map((w) => w.fileId).sort(), [FILE_A, FILE_B].sort(), 'both retry times passed');
    const third = due.find((w) => w.fileId === FILE_A) as ExecutableWork;
    const waitingB = due.find((w) => w.fileId === FILE_B) as ExecutableWork;
    assert.equal(await q.releaseExecutable(waitingB, { retryAt: clock.now + 600_000 }), true);
    assert.equal(third.attempts, 2, 'the attempt still counted');
    assert.equal(third.lastReason, 'still nothing');
    await store.write(batchWith([pending(FILE_A, 0x30)]));
    assert.equal(await q.releaseExecutable(third, {}), false);
    const [fourth] = await q.leaseExecutables('w', 10, 60_000);
    assert.equal(fourth.fileId, FILE_A, 'still due after a release without retry');
    assert.equal(await q.releaseExecutable(fourth, {}), true);
    assert.deepEqual(await q.leaseExecutables('w', 10, 60_000), [], 'rests until frames come');
    await assert.rejects(
      q.releaseExecutable(fourth, { retryAt: Number.NaN }),
      /retryAt must be epoch milliseconds/,
    );
    await store.close();
  });

  it('retryWaitingNow: executables waiting for a source that is back are due at once; others keep their backoff', async () => {
    const clock = new Clock();
    const store = await openStore({ clock: clock.read });
    const q = store.symbolization;
    const [unreachable, notFound, otherReason, working] = FILES;
    for (const [i, fileId] of [unreachable, notFound, otherReason, working].entries())
      await store.write(batchWith([pending(fileId, 0x10 + i)], { fileId, fileName: `f${i}` }));
    const works = await q.leaseExecutables('w', 10, 60_000);
    assert.equal(works.length, 4);
    const work = (fileId: string) => works.find((w) => w.fileId === fileId) as ExecutableWork;
    const hour = 3_600_000;
    await q.releaseExecutable(work(unreachable), {
      retryAt: clock.now + hour,
      reason: 'debuginfod-unreachable',
    });
    await q.releaseExecutable(work(notFound), { retryAt: clock.now + hour, reason: 'not-found' });
    await q.releaseExecutable(work(otherReason), { retryAt: clock.now + hour, reason: 'bad-debug-file' });
    assert.deepEqual((await q.backlog()).waitingByReason, {
      'bad-debug-file': 1,
      'debuginfod-unreachable': 1,
      'not-found': 1,
    });

    // `working` is still leased: its worker's release decides.
    assert.equal(await q.retryWaitingNow(['debuginfod-unreachable']), 1);
    const due = await q.leaseExecutables('w', 10, 60_000);
    assert.deepEqual(
      due.map((w) => w.fileId),
      [unreachable],
      'only what waited for the source that is back',
    );
    assert.equal(due[0].attempts, 0, 'its backoff starts over');
    assert.equal(due[0].lastReason, 'debuginfod-unreachable', 'the reason is kept');
    assert.deepEqual((await q.backlog()).waitingByReason, { 'bad-debug-file': 1, 'not-found': 1 });
    assert.equal(await q.retryWaitingNow(['debuginfod-unreachable']), 0, 'nothing waits for it any more');
    assert.equal(await q.retryWaitingNow([]), 0);
    await assert.rejects(q.retryWaitingNow(['a,b']), /must not hold a comma/);
    await store.close();
  });

  it('putSymbols is all or nothing, replaces earlier ranges and is idempotent', async () => {
    const path = join(dir, 'put.duckdb');
    const store = await openStore({}, path);
    const q = store.symbolization;
    const first = [
      range(0x1000, 0x1100, 0, 'main'),
      range(0x1010, 0x1020, 1, 'inlined'),
      range(0x2000, 0x2010, 0, 'g'),
    ];
    assert.deepEqual(await q.putSymbols(FILE_A, chunks(first, 2), { source: 'upload', fileName: 'app' }), {
      ranges: 3,
    });

    async function* failing(): AsyncIterable<readonly SymbolRange[]> {
      yield [range(0x1000, 0x1200, 0, 'other')];
      yield [range(0x3000, 0x3100, 0, 'more')];
      throw new Error('the debug file is truncated');
    }
    await assert.rejects(q.putSymbols(FILE_A, failing(), { source: 'upload' }), /truncated/);
    await assert.rejects(q.putSymbols(FILE_B, failing(), { source: 'debuginfod' }), /truncated/);
    const bad = [range(0x10, 0x20, 0, 'ok'), range(0x30, 0x30, 0, 'empty')];
    await assert.rejects(
      q.putSymbols(FILE_B, chunks(bad), { source: 'local' }),
      /range 1: end 48 is not past start 48/,
    );
    const badLines = [range(0x10, 0x20, 0, 'f', { lineOffsets: [0, 4], lines: [3] })];
    await assert.rejects(
      q.putSymbols(FILE_B, chunks(badLines), { source: 'local' }),
      /lineOffsets and lines/,
    );
    const downLines = [range(0x10, 0x20, 0, 'f', { lineOffsets: [0, 4, 4, 2], lines: [3, 4, 5, 6] })];
    await assert.rejects(
      q.putSymbols(FILE_B, chunks(downLines), { source: 'local' }),
      /range 0: lineOffsets go down at 3 \(4, then 2\)/,
    );
    await assert.rejects(
      q.putSymbols(FILE_B, chunks(first), { source: 'ftp' as 'upload' }),
      /source must be one of upload, debuginfod, local/,
    );

    const lookup = async (file: string) =>
      [...(await q.symbolRanges(file, [0x1015, 0x10ff, 0x1100, 0x2005, 0x3050])).entries()].map(
        ([address, list]) => [address, list.map((r) => r.functionName).sort()],
      );
    const expected = [
      [0x1015, ['inlined', 'main']],
      [0x10ff, ['main']],
      [0x2005, ['g']],
    ];
    assert.deepEqual(await lookup(FILE_A), expected, 'the failed upload left the first one as it was');
    assert.deepEqual(await lookup(FILE_B), []);
    assert.deepEqual(await q.filesWithSymbols([FILE_A, FILE_B]), new Set([FILE_A]));

    // The same upload again, in other chunks: nothing changes.
    assert.deepEqual(await q.putSymbols(FILE_A, chunks(first, 1), { source: 'upload' }), { ranges: 3 });
    assert.deepEqual(await lookup(FILE_A), expected);
    // Another upload replaces the ranges.
    await q.putSymbols(FILE_A, chunks([range(0x1000, 0x1100, 0, 'renamed')]), { source: 'upload' });
    assert.deepEqual(await lookup(FILE_A), [
      [0x1015, ['renamed']],
      [0x10ff, ['renamed']],
    ]);
    assert.equal((await q.backlog()).symbolizedExecutables, 1);
    await store.close();
    assert.equal(await count(path, 'SELECT count(*) FROM symbol_ranges'), 1);
    assert.equal(await count(path, `SELECT count(*) FROM symbol_files WHERE file_id = '${FILE_B}'`), 0);
    assert.equal(
      await count(path, `SELECT count(*) FROM symbolization_queue WHERE file_id = '${FILE_B}'`),
      0,
    );
  });

  // Were the upload holding the writer, the write below would wait for the gate: the timeout fails it.
  it(
    'an upload in progress holds neither ingest nor the queue, and close() makes it give up',
    { timeout: 60_000 },
    async () => {
      const path = join(dir, 'slow-upload.duckdb');
      const store = await openStore({}, path);
      const q = store.symbolization;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let produced = 0;
      async function* slow(): AsyncIterable<readonly SymbolRange[]> {
        yield [range(0x0, 0x10, 0, 'first')];
        produced++;
        await gate;
        yield [range(0x10, 0x20, 0, 'second')];
        produced++;
      }
      const upload = q.putSymbols(FILE_A, slow(), { source: 'upload' });
      const outcome = upload.then(
        () => 'stored',
        (error: Error) => error.message,
      );
      while (produced === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // The upload waits for its producer; writes and leases go on meanwhile.
      await store.write(batchWith([pending(FILE_A, 0x5)]));
      assert.deepEqual(
        (await q.leaseExecutables('w', 10, 60_000)).map((w) => [w.fileId, w.hasSymbols]),
        [[FILE_A, false]],
      );
      assert.deepEqual(await q.filesWithSymbols([FILE_A]), new Set(), 'nothing of the upload is visible yet');
      const closed = store.close();
      release();
      await closed;
      assert.match(await outcome, /putSymbols\(.*\): the embedded store is closing/);
      assert.equal(await count(path, 'SELECT count(*) FROM symbol_ranges'), 0);
      assert.equal(await count(path, 'SELECT count(*) FROM symbolization_frames'), 1, 'the write went in');
    },
  );

  it('an upload before the first sample creates the queue row; frames queued later are due with symbols', async () => {
    const clock = new Clock();
    const store = await openStore({ clock: clock.read });
    const q = store.symbolization;
    await q.putSymbols(FILE_A, chunks([range(0x100, 0x200, 0, 'f')]), {
      source: 'upload',
      fileName: 'up',
      buildId: 'b1',
    });
    assert.deepEqual(await q.leaseExecutables('w', 10, 1000), [], 'no frames: nothing to do');
    await store.write(batchWith([pending(FILE_A, 0x150)]));
    const [work] = await q.leaseExecutables('w', 10, 1000);
    assert.deepEqual(
      { ...work, lease: '' },
      {
        fileId: FILE_A,
        buildId: 'b1',
        fileName: 'up',
        hasSymbols: true,
        attempts: 0,
        lastReason: undefined,
        lease: '',
      },
    );
    assert.deepEqual(
      (await q.backlog()).pendingExecutables,
      0,
      'frames of a file with symbols are not waiting for a source',
    );

    // Symbols stored while a worker holds a file with frames: its release learns of it, and it stays due.
    await store.write(batchWith([pending(FILE_B, 0x10)]));
    const [b] = await q.leaseExecutables('w', 10, 1000);
    assert.equal(b.hasSymbols, false);
    await q.putSymbols(FILE_B, chunks([range(0x0, 0x100, 0, 'h')]), { source: 'upload' });
    assert.equal(await q.releaseExecutable(b, { retryAt: clock.now + 60_000, reason: 'not found' }), false);
    const [again] = await q.leaseExecutables('w', 10, 1000);
    assert.equal(again.fileId, FILE_B);
    assert.equal(again.hasSymbols, true);
    assert.equal(await q.releaseExecutable(again, {}), true);

    // Symbols stored for an executable waiting for its retry make it due at once, its attempts forgotten.
    const fileC = fileIdFromHex('0123456789abcdef0123456789abcdef');
    await store.write(batchWith([pending(fileC, 0x10)]));
    const [c] = await q.leaseExecutables('w', 10, 1000);
    assert.equal(c.fileId, fileC);
    assert.equal(await q.releaseExecutable(c, { retryAt: clock.now + 60_000, reason: 'not found' }), true);
    await store.write(batchWith([pending(fileC, 0x20)]));
    assert.deepEqual(await q.leaseExecutables('w', 10, 1000), [], 'new frames do not cut the backoff');
    await q.putSymbols(fileC, chunks([range(0x0, 0x100, 0, 'c')]), { source: 'upload' });
    const [symbolized] = await q.leaseExecutables('w', 10, 1000);
    assert.deepEqual([symbolized?.fileId, symbolized?.hasSymbols, symbolized?.attempts], [fileC, true, 0]);
    await store.close();
  });

  for (const [label, cacheRanges] of [
    ['in memory', undefined],
    ['in SQL (file bigger than the cache)', 10],
  ] as const) {
    it(`symbolRanges returns exactly the ranges containing each address (${label}), and framesAt works over them`, async () => {
      const store = await openStore({ symbolCacheRanges: cacheRanges });
      const q = store.symbolization;
      const ranges = randomRanges(7, 400);
      await q.putSymbols(FILE_A, chunks(ranges, 333), { source: 'local' });
      const random = seededRandom(11);
      const low = ranges[0].start - 50;
      const high = Math.max(...ranges.map((r) => r.end)) + 50;
      const addresses = Array.from({ length: 3000 }, () => low + Math.floor(random() * (high - low)));
      addresses.push(ranges[0].start, ranges[0].end, ranges[5].start, ranges[5].end - 1);
      const found = await q.symbolRanges(FILE_A, addresses);
      let hits = 0;
      for (const address of addresses) {
        const expected = ranges.filter((r) => r.start <= address && address < r.end).sort(byDepth);
        const got = (found.get(address) ?? []).slice().sort(byDepth);
        assert.deepEqual(got, expected, `address ${address}`);
        if (expected.length > 0) hits++;
        assert.deepEqual(framesAt(got, address), framesAt(expected, address));
        assert.equal(framesAt(got, address).length, expected.length, 'well-formed: a frame per depth');
      }
      assert.ok(hits > 1000 && hits < addresses.length, `the addresses hit and missed (${hits})`);
      assert.ok(
        !found.has(ranges[0].end) || found.get(ranges[0].end)!.every((r) => r !== ranges[0]),
        'end is exclusive',
      );
      assert.deepEqual(
        await q.symbolRanges(FILE_B, addresses.slice(0, 10)),
        new Map(),
        'a file without symbols',
      );
      assert.deepEqual(await q.symbolRanges(FILE_A, []), new Map());
      await assert.rejects(q.symbolRanges(FILE_A, [1, -2]), /address 1 must be a non-negative integer/);

      // A replacement is seen by the next lookup (the cached ranges are dropped).
      await q.putSymbols(FILE_A, chunks([range(low, high, 0, 'everything')]), { source: 'upload' });
      const replaced = await q.symbolRanges(FILE_A, addresses.slice(0, 20));
      assert.equal(replaced.size, 20);
      for (const list of replaced.values())
        assert.deepEqual(
          list.map((r) => r.functionName),
          ['everything'],
        );
      await store.close();
    });
  }

  it('resolveFrames stores the symbols for getStackFrames and takes the frames off the queue', async () => {
    const store = await openStore();
    const q = store.symbolization;
    const frames = [pending(FILE_A, 0x1015), pending(FILE_A, 0x10ff), pending(FILE_A, 0x5000)];
    await store.write(batchWith(frames, { fileId: FILE_A, fileName: 'app' }));
    await store.write(batchWith([pending(FILE_B, 0x1)]));
    await q.putSymbols(
      FILE_A,
      chunks([
        range(0x1000, 0x1100, 0, 'main', {
          functionLine: 10,
          fileName: 'main.c',
          lineOffsets: [0, 0x20],
          lines: [11, 14],
        }),
        range(0x1010, 0x1020, 1, 'helper', {
          functionLine: 40,
          fileName: 'helper.h',
          callFileName: 'main.c',
          callLine: 12,
          lineOffsets: [0, 4],
          lines: [41, 42],
        }),
      ]),
      { source: 'upload' },
    );
    const [work] = (await q.leaseExecutables('w', 10, 60_000)).filter((w) => w.fileId === FILE_A);
    assert.equal(work.hasSymbols, true);
    const queued = await q.pendingFrames(FILE_A, 100);
    const found = await q.symbolRanges(
      FILE_A,
      queued.map((f) => f.address),
    );
    const symbols = queued
      .filter((f) => found.has(f.address))
      .map((f) => toStackFrameSymbols(f.frameId, framesAt(found.get(f.address)!, f.address)));
    assert.equal(symbols.length, 2, 'the frame at 0x5000 has no symbol');
    await q.resolveFrames(
      symbols,
      queued.map((f) => f.frameId),
    );
    assert.equal(await q.releaseExecutable(work, {}), true);
    const stored = await store.getStackFrames(frames.map((f) => f.frameId));
    assert.deepEqual(stored.get(frames[0].frameId), {
      frameId: frames[0].frameId,
      functionNames: ['helper', 'main'],
      fileNames: ['helper.h', 'main.c'],
      lineNumbers: [42, 12],
      functionOffsets: [2, 2],
    });
    assert.deepEqual(stored.get(frames[1].frameId), {
      frameId: frames[1].frameId,
      functionNames: ['main'],
      fileNames: ['main.c'],
      lineNumbers: [14],
      functionOffsets: [4],
    });
    assert.equal(stored.has(frames[2].frameId), false);
    assert.deepEqual(await q.pendingFrames(FILE_A, 100), []);
    // Off the queue, a frame can be queued again (the collector sent it once more after a restart).
    await store.write(batchWith([frames[2]]));
    assert.deepEqual(await q.pendingFrames(FILE_A, 100), [frames[2]]);
    await q.resolveFrames([], [frames[2].frameId]);
    assert.deepEqual(await q.pendingFrames(FILE_A, 100), []);
    assert.deepEqual(await q.backlog(), {
      pendingExecutables: 1,
      pendingFrames: 1,
      symbolizedExecutables: 1,
      waitingByReason: {},
    });
    // A better answer later replaces the stored one.
    const better = { ...symbols[1], functionNames: ['main_v2'] };
    await q.resolveFrames([better], []);
    assert.deepEqual((await store.getStackFrames([better.frameId])).get(better.frameId), better);
    await assert.rejects(
      q.resolveFrames([{ ...better, lineNumbers: [] }], []),
      /lineNumbers must be an array as long as functionNames/,
    );
    await store.close();
  });

  it('backlog counts pending executables and frames, symbolized files and waiting reasons', async () => {
    const clock = new Clock();
    const store = await openStore({ clock: clock.read });
    const q = store.symbolization;
    assert.deepEqual(await q.backlog(), {
      pendingExecutables: 0,
      pendingFrames: 0,
      symbolizedExecutables: 0,
      waitingByReason: {},
    });
    for (let i = 0; i < 4; i++) {
      await store.write(
        batchWith(Array.from({ length: i + 1 }, (_, k) => pending(FILES[i], 0x100 * (k + 1)))),
      );
    }
    await q.putSymbols(FILES[0], chunks([range(0, 1, 0, 'x')]), { source: 'upload' });
    await q.putSymbols(FILES[5], chunks([range(0, 1, 0, 'y')]), { source: 'debuginfod' });
    const works = await q.leaseExecutables('w', 10, 1000);
    const reasons = ['not found', 'not found', 'no build ID'];
    for (const work of works.filter((w) => !w.hasSymbols)) {
      await q.releaseExecutable(work, { retryAt: clock.now + 1000, reason: reasons.shift() });
    }
    assert.deepEqual(await q.backlog(), {
      pendingExecutables: 3,
      pendingFrames: 1 + 2 + 3 + 4,
      symbolizedExecutables: 2,
      waitingByReason: { 'no build ID': 1, 'not found': 2 },
    });
    await store.close();
  });

  it('everything survives close and reopen; leases of the closed process are void', async () => {
    const clock = new Clock();
    const path = join(dir, 'reopen.duckdb');
    let store = await openStore({ clock: clock.read }, path);
    let q = store.symbolization;
    const frames = [pending(FILE_A, 0x150), pending(FILE_B, 0x10)];
    await store.write(batchWith(frames, { fileId: FILE_A, fileName: 'app', buildId: 'aa' }));
    const ranges = randomRanges(3, 50);
    await q.putSymbols(FILE_A, chunks(ranges), { source: 'upload' });
    const leased = await q.leaseExecutables('w', 10, 3_600_000);
    assert.equal(leased.length, 2);
    const b = leased.find((w) => w.fileId === FILE_B)!;
    await q.releaseExecutable(b, { retryAt: clock.now + 1000, reason: 'not found' });
    await q.resolveFrames(
      [
        {
          frameId: frames[0].frameId,
          functionNames: ['f'],
          fileNames: [''],
          lineNumbers: [0],
          functionOffsets: [0],
        },
      ],
      [],
    );
    await store.close();

    store = await openStore({ clock: clock.read }, path);
    q = store.symbolization;
    assert.deepEqual(await q.pendingFrames(FILE_A, 10), [frames[0]]);
    // The reopened store knows what is queued: the same frames again queue nothing and wake nobody.
    await store.write(batchWith(frames));
    assert.deepEqual(await q.pendingFrames(FILE_A, 10), [frames[0]]);
    assert.deepEqual(await q.pendingFrames(FILE_B, 10), [frames[1]]);
    assert.deepEqual(await q.filesWithSymbols([FILE_A, FILE_B]), new Set([FILE_A]));
    const addresses = ranges.map((r) => r.start);
    const found = await q.symbolRanges(FILE_A, addresses);
    for (const address of addresses) {
      assert.deepEqual(
        found.get(address)!.slice().sort(byDepth),
        ranges.filter((r) => r.start <= address && address < r.end).sort(byDepth),
      );
    }
    assert.equal(
      (await store.getStackFrames([frames[0].frameId])).get(frames[0].frameId)?.functionNames[0],
      'f',
    );
    const again = await q.leaseExecutables('w2', 10, 60_000);
    assert.deepEqual(
      again.map((w) => [w.fileId, w.hasSymbols, w.fileName, w.buildId]),
      [[FILE_A, true, 'app', 'aa']],
      'A, leased by the closed process, is leasable again; B waits for its retry',
    );
    clock.now += 1000;
    const [retry] = await q.leaseExecutables('w2', 10, 1000);
    assert.deepEqual([retry.fileId, retry.attempts, retry.lastReason], [FILE_B, 1, 'not found']);
    assert.deepEqual((await q.backlog()).waitingByReason, { 'not found': 1 });
    await store.close();
  });

  it('a store written before the symbolization tables existed opens and gains them', async () => {
    const path = join(dir, 'older.duckdb');
    let store = await openStore({}, path);
    await store.write(batchWith([pending(FILE_A, 0x10)]));
    await store.close();
    // Back to the tables of schema 3 as main wrote it: the same file without this work's tables.
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run(SYMBOL_TABLES.map((t) => `DROP TABLE ${t};`).join('\n'));
    connection.closeSync();
    instance.closeSync();
    assert.equal(
      await count(path, `SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'symbol%'`),
      0,
    );

    store = await openStore({}, path);
    const stats = await store.stats();
    assert.equal(stats.events, 1, 'the older data is there');
    const q = store.symbolization;
    assert.deepEqual(await q.backlog(), {
      pendingExecutables: 0,
      pendingFrames: 0,
      symbolizedExecutables: 0,
      waitingByReason: {},
    });
    await store.write(batchWith([pending(FILE_A, 0x20)]));
    await q.putSymbols(FILE_A, chunks([range(0x0, 0x100, 0, 'f')]), { source: 'upload' });
    assert.deepEqual(
      (await q.leaseExecutables('w', 10, 1000)).map((w) => w.fileId),
      [FILE_A],
    );
    await store.close();
    for (const table of SYMBOL_TABLES) {
      assert.equal(
        await count(path, `SELECT count(*) FROM duckdb_tables() WHERE table_name = '${table}'`),
        1,
        table,
      );
    }
  });

  it('stores a large upload in chunks and looks up thousands of addresses quickly', async () => {
    const store = await openStore();
    const q = store.symbolization;
    const ranges = randomRanges(5, 10_000);
    let started = performance.now();
    const { ranges: stored } = await q.putSymbols(FILE_A, chunks(ranges, 5000), { source: 'local' });
    const putMs = performance.now() - started;
    assert.equal(stored, ranges.length);
    const random = seededRandom(3);
    const addresses = Array.from({ length: 5000 }, () => ranges[Math.floor(random() * ranges.length)].start);
    started = performance.now();
    const first = await q.symbolRanges(FILE_A, addresses);
    const coldMs = performance.now() - started;
    started = performance.now();
    const second = await q.symbolRanges(FILE_A, addresses);
    const warmMs = performance.now() - started;
    assert.equal(first.size, new Set(addresses).size);
    assert.deepEqual(second, first);
    console.log(
      `# ${ranges.length} ranges stored in ${putMs.toFixed(0)} ms; 5,000 lookups ${coldMs.toFixed(0)} ms cold, ${warmMs.toFixed(1)} ms warm`,
    );
    assert.ok(warmMs < 500, `warm lookups took ${warmMs} ms`);
    await store.close();
  });
});
