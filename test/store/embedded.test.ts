import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { SCHEMA_VERSION } from '../../src/store/embedded/schema.ts';
import { StackNumbers } from '../../src/store/embedded/stack-numbers.ts';
import { createStore } from '../../src/store/open-store.ts';
import { loadConfig, ConfigError } from '../../src/config/config.ts';
import { pino } from 'pino';
import {
  FrameType,
  emptyBatch,
  eventsFromColumns,
  fileIdFromHex,
  frameId,
  stackTraceId,
  type EventColumns,
  type EventDimensions,
  type ProfileBatch,
  type ProfilingEvent,
} from '../../src/model/index.ts';
import {
  StoreBusyError,
  StoreUnavailableError,
  UnsupportedGroupByError,
  type EventField,
} from '../../src/store/store.ts';

const T0 = 1_750_000_000;
const FILE_A = fileIdFromHex('00112233445566778899aabbccddeeff');
const FILE_B = fileIdFromHex('ffeeddccbbaa99887766554433221100');

function trace(addresses: number[], fileId = FILE_A) {
  const frames = addresses.map((a) => ({ fileId, addressOrLine: BigInt(a) }));
  return {
    id: stackTraceId(frames),
    frameIds: frames.map((f) => frameId(f.fileId, f.addressOrLine)),
    frameTypes: addresses.map(() => FrameType.Native),
  };
}

function event(overrides: Partial<ProfilingEvent> & { stackTraceId: string }): ProfilingEvent {
  return { timestamp: T0, count: 1, hostId: 'host-1', tags: [], projectId: 1, ...overrides };
}

describe('EmbeddedStore', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'uniprof-store-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stores a batch and reads every part of it back', async () => {
    const store = new EmbeddedStore({ path: join(dir, 'roundtrip.duckdb'), seed: 1 });
    await store.open();
    const t1 = trace([0x1000, 0x2000, 0x3000]);
    const t2 = trace([0x1000, 0xffffffff81000000], FILE_B);
    const batch: ProfileBatch = {
      events: [
        event({ stackTraceId: t1.id, count: 3, threadName: 'main', processName: 'app' }),
        event({ stackTraceId: t1.id, count: 2, timestamp: T0 + 1, threadName: 'main', processName: 'app' }),
        event({ stackTraceId: t2.id, count: 4, hostId: 'host-2', threadName: 'worker', tags: ['env:prod'] }),
      ],
      stackTraces: [t1, t2, t1],
      stackFrames: [
        {
          frameId: t1.frameIds[0],
          functionNames: ['inner', 'outer'],
          fileNames: ['a.c', 'a.c'],
          lineNumbers: [10, 20],
          functionOffsets: [0, 0],
        },
      ],
      executables: [{ fileId: FILE_A, buildId: 'abcd', fileName: 'app', lastSeen: T0 }],
      hosts: [
        {
          hostId: 'host-1',
          timestamp: T0,
          hostName: 'box',
          projectId: 1,
          attributes: { 'host.arch': 'amd64' },
        },
      ],
    };
    await store.write(batch);

    const all = await store.aggregateEvents({ from: T0, to: T0 + 10 });
    assert.equal(all.samplingLevel, 0);
    assert.equal(all.totalCount, 9);
    assert.equal(all.eventsRead, 3);
    const byId = new Map(all.rows.map((r) => [r.stackTraceId, r.count]));
    assert.deepEqual(
      byId,
      new Map([
        [t1.id, 5],
        [t2.id, 4],
      ]),
    );

    const traces = await store.getStackTraces([t1.id, t2.id, 'missing']);
    assert.deepEqual(traces.get(t1.id), t1);
    assert.deepEqual(traces.get(t2.id), t2);
    assert.equal(traces.size, 2);

    const frames = await store.getStackFrames([t1.frameIds[0]]);
    assert.deepEqual(frames.get(t1.frameIds[0])?.functionNames, ['inner', 'outer']);
    const executables = await store.getExecutables([FILE_A, FILE_B]);
    assert.equal(executables.get(FILE_A)?.buildId, 'abcd');
    assert.equal(executables.has(FILE_B), false);
    const hosts = await store.listHosts(T0 - 10, T0 + 10);
    assert.deepEqual(
      hosts.map((h) => [h.hostId, h.hostName, h.attributes['host.arch']]),
      [['host-1', 'box', 'amd64']],
    );

    const stats = await store.stats();
    assert.equal(stats.events, 3);
    assert.equal(stats.stackTraces, 2);
    assert.equal(stats.oldestEvent, T0);
    assert.equal(stats.newestEvent, T0 + 1);
    await store.close();
  });

  it('filters and groups by event fields', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 2 });
    await store.open();
    const a = trace([1]);
    const b = trace([2]);
    await store.write({
      ...emptyBatch(),
      stackTraces: [a, b],
      events: [
        event({
          stackTraceId: a.id,
          count: 1,
          hostId: 'web-1',
          threadName: 'http_worker',
          tags: ['env:prod', 'team:a'],
        }),
        event({
          stackTraceId: a.id,
          count: 2,
          hostId: 'web-2',
          threadName: 'http_worker',
          tags: ['env:dev'],
        }),
        event({
          stackTraceId: b.id,
          count: 4,
          hostId: 'db-1',
          threadName: 'pg_50%_done',
          processName: 'postgres',
        }),
      ],
    });
    const total = async (filter: Parameters<EmbeddedStore['aggregateEvents']>[0]['filter']) =>
      (await store.aggregateEvents({ from: T0, to: T0 + 1, filter })).totalCount;
    assert.equal(await total({ kind: 'match', field: 'host.id', pattern: 'web-*' }), 3);
    assert.equal(await total({ kind: 'match', field: 'host.id', pattern: 'web-1' }), 1);
    assert.equal(await total({ kind: 'match', field: 'tags', pattern: 'env:prod' }), 1);
    assert.equal(await total({ kind: 'match', field: 'tags', pattern: 'env:*' }), 3);
    // LIKE's own wildcards are literal for the user.
    assert.equal(await total({ kind: 'match', field: 'process.thread.name', pattern: 'pg_50%_done' }), 4);
    assert.equal(await total({ kind: 'match', field: 'process.thread.name', pattern: 'pg_5_%' }), 0);
    assert.equal(
      await total({
        kind: 'not',
        filter: { kind: 'match', field: 'process.executable.name', pattern: 'postgres' },
      }),
      3,
    );
    assert.equal(
      await total({
        kind: 'or',
        filters: [
          { kind: 'match', field: 'host.id', pattern: 'db-1' },
          { kind: 'match', field: 'host.id', pattern: 'web-2' },
        ],
      }),
      6,
    );
    assert.equal(await total({ kind: 'match', field: 'profiling.project.id', pattern: '1' }), 7);
    // Time range is [from, to).
    assert.equal((await store.aggregateEvents({ from: T0 + 1, to: T0 + 2 })).totalCount, 0);

    const byHost = await store.aggregateEvents({ from: T0, to: T0 + 1, groupBy: 'host.id' });
    const groups = Object.fromEntries(
      byHost.rows.map((r) => [`${r.group}/${r.stackTraceId === a.id ? 'a' : 'b'}`, r.count]),
    );
    assert.deepEqual(groups, { 'web-1/a': 1, 'web-2/a': 2, 'db-1/b': 4 });
    const byTag = await store.aggregateEvents({ from: T0, to: T0 + 1, groupBy: 'tags' });
    assert.deepEqual(Object.fromEntries(byTag.rows.map((r) => [r.group, r.count])), {
      'env:prod': 1,
      'team:a': 1,
      'env:dev': 2,
    });
    assert.deepEqual(await store.fieldValues('host.id', T0, T0 + 1, 2), ['db-1', 'web-2']);
    // No event names a container: the rows carry no group rather than a made-up one.
    const byContainer = await store.aggregateEvents({ from: T0, to: T0 + 1, groupBy: 'container.name' });
    assert.ok(byContainer.rows.length > 0 && byContainer.rows.every((r) => r.group === undefined));
    await store.close();
  });

  it('downsamples by 5^N and scales counts back when reading a deeper level', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 3 });
    await store.open();
    const t = trace([7]);
    const events: ProfilingEvent[] = [];
    for (let i = 0; i < 100_000; i++)
      events.push(event({ stackTraceId: t.id, timestamp: T0 + (i % 1000), count: 1 + (i % 3) }));
    const expected = events.reduce((s, e) => s + e.count, 0);
    await store.write({ ...emptyBatch(), stackTraces: [t], events });
    for (const level of [1, 2, 3]) {
      const agg = await store.aggregateEvents({ from: T0, to: T0 + 1000, samplingLevel: level });
      assert.equal(agg.samplingLevel, level);
      // Binomial(n, 5^-level): allow five standard deviations of the scaled estimate.
      const p = 5 ** -level;
      const tolerance = 5 * Math.sqrt(expected * p * (1 - p)) * 5 ** level;
      assert.ok(
        Math.abs(agg.totalCount - expected) < tolerance,
        `level ${level}: ${agg.totalCount} vs ${expected}`,
      );
      assert.ok(
        agg.eventsRead < events.length / 5 ** (level - 1),
        `level ${level} read ${agg.eventsRead} rows`,
      );
    }
    // 100,000 events at level 0 → the chooser reads a level with ≥ 20,000 expected events: level 0 or 1.
    const chosen = await store.aggregateEvents({ from: T0, to: T0 + 1000 });
    assert.ok(
      chosen.samplingLevel <= 1 && chosen.eventsRead >= 20_000 / 5,
      JSON.stringify(chosen.samplingLevel),
    );
    await store.close();
  });

  it('keeps acknowledged data and its dimension keys across a restart', async () => {
    const path = join(dir, 'restart.duckdb');
    const t = trace([9]);
    let store = new EmbeddedStore({ path, seed: 4 });
    await store.open();
    await store.write({
      ...emptyBatch(),
      stackTraces: [t],
      events: [event({ stackTraceId: t.id, count: 2, threadName: 'x' })],
    });
    await store.close();
    store = new EmbeddedStore({ path, seed: 5 });
    await store.open();
    await store.write({
      ...emptyBatch(),
      stackTraces: [t],
      events: [event({ stackTraceId: t.id, count: 3, threadName: 'x' })],
    });
    const grouped = await store.aggregateEvents({ from: T0, to: T0 + 1, groupBy: 'process.thread.name' });
    assert.deepEqual(
      grouped.rows.map((r) => [r.group, r.count]),
      [['x', 5]],
    );
    const stats = await store.stats();
    assert.equal(stats.stackTraces, 1);
    await store.close();
  });

  it('commits concurrent writes together but fails a bad batch alone', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 6 });
    await store.open();
    const t = trace([11]);
    const good = Array.from({ length: 20 }, (_, i) =>
      store.write({
        ...emptyBatch(),
        stackTraces: [t],
        events: [event({ stackTraceId: t.id, count: i + 1 })],
      }),
    );
    const bad = store.write({
      ...emptyBatch(),
      events: [event({ stackTraceId: t.id, count: 1000 })],
      // 2^40 does not fit the INTEGER line-number column: the database refuses the batch.
      stackFrames: [
        {
          frameId: t.frameIds[0],
          functionNames: ['f'],
          fileNames: ['f.c'],
          lineNumbers: [2 ** 40],
          functionOffsets: [0],
        },
      ],
    });
    await Promise.all(good);
    await assert.rejects(bad);
    const agg = await store.aggregateEvents({ from: T0, to: T0 + 1 });
    assert.equal(agg.totalCount, (20 * 21) / 2, 'all good batches stored, nothing of the bad one');
    await store.close();
  });

  it('closing ends the reads in flight: they fail, close returns, later reads say the store is closed', async () => {
    const store = new EmbeddedStore({ path: join(dir, 'close-under-read.duckdb'), seed: 3 });
    await store.open();
    // Some 10 s of DuckDB work on this machine; closed after 200 ms.
    const started = Date.now();
    const read = assert.rejects(
      store.readRows('SELECT count(*) FROM range(3000000000) t(x) WHERE x % 7 = 3'),
      /interrupt/i,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await store.close();
    await read;
    assert.ok(Date.now() - started < 5_000, `closed after ${Date.now() - started} ms`);
    await assert.rejects(store.readRows('SELECT 1'), StoreUnavailableError);
  });

  it('refuses with StoreBusyError instead of queueing without bound', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 7, maxPendingEvents: 10 });
    await store.open();
    const t = trace([12]);
    const batch = {
      ...emptyBatch(),
      stackTraces: [t],
      events: Array.from({ length: 8 }, () => event({ stackTraceId: t.id })),
    };
    const first = store.write(batch);
    await assert.rejects(store.write(batch), StoreBusyError);
    await first;
    await store.write(batch);
    await store.close();
  });

  it('lets the symbolizer replace frames', async () => {
    const store = new EmbeddedStore({ path: ':memory:' });
    await store.open();
    const id = frameId(FILE_A, 0x1234n);
    await store.writeStackFrames([
      { frameId: id, functionNames: ['old'], fileNames: [''], lineNumbers: [0], functionOffsets: [0] },
    ]);
    await store.writeStackFrames([
      {
        frameId: id,
        functionNames: ['new', 'caller'],
        fileNames: ['n.c', 'c.c'],
        lineNumbers: [1, 2],
        functionOffsets: [0, 0],
      },
    ]);
    assert.deepEqual((await store.getStackFrames([id])).get(id)?.functionNames, ['new', 'caller']);
    // The collector's frames fill gaps only; one batch mixes frames of one entry and inline chains.
    const single = frameId(FILE_A, 0x2000n);
    const chain = frameId(FILE_A, 0x3000n);
    await store.write({
      ...emptyBatch(),
      stackFrames: [
        { frameId: id, functionNames: ['ignored'], fileNames: [''], lineNumbers: [0], functionOffsets: [0] },
        {
          frameId: single,
          functionNames: ['leaf'],
          fileNames: ['l.c'],
          lineNumbers: [7],
          functionOffsets: [3],
        },
        {
          frameId: chain,
          functionNames: ['a', 'b', 'c'],
          fileNames: ['a.h', 'b.h', 'c.c'],
          lineNumbers: [1, 2, 3],
          functionOffsets: [0, 4, 8],
        },
      ],
    });
    const stored = await store.getStackFrames([id, single, chain]);
    assert.deepEqual(stored.get(id)?.functionNames, ['new', 'caller']);
    assert.deepEqual(stored.get(single), {
      frameId: single,
      functionNames: ['leaf'],
      fileNames: ['l.c'],
      lineNumbers: [7],
      functionOffsets: [3],
    });
    assert.deepEqual(stored.get(chain), {
      frameId: chain,
      functionNames: ['a', 'b', 'c'],
      fileNames: ['a.h', 'b.h', 'c.c'],
      lineNumbers: [1, 2, 3],
      functionOffsets: [0, 4, 8],
    });
    // And the symbolizer may turn an inline chain back into a single frame.
    await store.writeStackFrames([
      { frameId: id, functionNames: ['only'], fileNames: ['o.c'], lineNumbers: [5], functionOffsets: [0] },
    ]);
    assert.deepEqual((await store.getStackFrames([id])).get(id)?.lineNumbers, [5]);
    await store.close();
  });

  it('groups by several fields at once, a missing field giving no value at its place', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 8 });
    await store.open();
    const a = trace([0x10, 0x20]);
    const b = trace([0x30]);
    const events = [
      event({ stackTraceId: a.id, count: 2, processName: 'app', threadName: 'main' }),
      event({ stackTraceId: a.id, count: 3, processName: 'app', threadName: 'main', hostId: 'host-2' }),
      event({ stackTraceId: a.id, count: 5, processName: 'app', threadName: 'worker' }),
      event({ stackTraceId: b.id, count: 7, processName: 'app', threadName: 'worker' }),
      event({ stackTraceId: b.id, count: 11, threadName: 'kworker/0:1' }),
      event({ stackTraceId: b.id, count: 13 }),
      event({ stackTraceId: a.id, count: 17, processName: 'db', threadName: 'main', timestamp: T0 + 9 }),
    ];
    await store.write({ ...emptyBatch(), stackTraces: [a, b], events });
    const fields: EventField[] = ['process.executable.name', 'process.thread.name'];
    // Independent expectation: sum the written events per stack and pair of values.
    const expected = new Map<string, number>();
    for (const e of events.filter((e) => e.timestamp < T0 + 5)) {
      const key = JSON.stringify([e.stackTraceId, e.processName ?? null, e.threadName ?? null]);
      expected.set(key, (expected.get(key) ?? 0) + e.count);
    }
    const result = await store.aggregateEvents({ from: T0, to: T0 + 5, groupBy: fields });
    const actual = new Map<string, number>();
    for (const row of result.rows) {
      assert.equal(row.group, undefined);
      assert.equal(row.groups?.length, 2);
      const key = JSON.stringify([row.stackTraceId, ...row.groups!.map((g) => g ?? null)]);
      actual.set(key, (actual.get(key) ?? 0) + row.count);
    }
    assert.deepEqual(actual, expected);
    assert.equal(
      result.totalCount,
      [...expected.values()].reduce((sum, n) => sum + n, 0),
    );
    assert.equal(result.eventsRead, 6);
    // The order of the list is the order of `groups`.
    const reversed = await store.aggregateEvents({ from: T0, to: T0 + 5, groupBy: [...fields].reverse() });
    assert.deepEqual(
      reversed.rows
        .map((r) => JSON.stringify([r.stackTraceId, ...r.groups!.reverse().map((g) => g ?? null)]))
        .sort(),
      [...expected.keys()].sort(),
    );
    await assert.rejects(
      store.aggregateEvents({ from: T0, to: T0 + 5, groupBy: ['host.id', 'tags'] }),
      (e: unknown) => e instanceof UnsupportedGroupByError && /tags/.test(e.message),
    );
    await store.close();
  });
});

/** A batch of `n` events of one stack (and the stack itself). */
function eventsBatch(n: number, count = 1): ProfileBatch {
  const t = trace([0x77]);
  return {
    ...emptyBatch(),
    stackTraces: [t],
    events: Array.from({ length: n }, () => event({ stackTraceId: t.id, count })),
  };
}

async function timed(promise: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await promise;
  return performance.now() - started;
}

describe('EmbeddedStore event columns', () => {
  it('stores a batch given as event columns as it stores the same events given as objects', async () => {
    // Sources taking turns, some equal in value but not in identity, over three stacks and several seconds.
    const stacks = [trace([0x100]), trace([0x200]), trace([0x300])];
    const sources: EventDimensions[] = Array.from({ length: 12 }, (_, i) => ({
      hostId: `host-${i % 3}`,
      threadName: `thread-${i % 6}`,
      processName: i % 2 === 0 ? 'app' : undefined,
      tags: i % 4 === 0 ? ['env:prod'] : [],
      projectId: 1,
    }));
    const columns: EventColumns = {
      length: 0,
      timestamps: [],
      stackTraceIds: [],
      counts: [],
      dimensions: [],
    };
    for (let i = 0; i < 600; i++) {
      // Five sources taking turns (the writer's recent ones), then all twelve (more than it keeps).
      const source = i < 300 ? sources[(i * 3) % 5] : sources[(i * 7) % sources.length];
      columns.timestamps.push(T0 + (i % 5));
      columns.stackTraceIds.push(stacks[Math.floor(i / 4) % stacks.length].id);
      columns.counts.push(1 + (i % 4));
      // Every other event gets an equal copy of its source: writers must not rely on identity alone.
      columns.dimensions.push(i % 2 === 0 ? source : { ...source, tags: [...source.tags] });
      columns.length++;
    }
    const asColumns = new EmbeddedStore({ path: ':memory:', seed: 30 });
    const asObjects = new EmbeddedStore({ path: ':memory:', seed: 30 });
    await asColumns.open();
    await asObjects.open();
    await asColumns.write({ ...emptyBatch(), stackTraces: stacks, eventColumns: columns });
    await asObjects.write({ ...emptyBatch(), stackTraces: stacks, events: eventsFromColumns(columns) });
    for (const groupBy of [undefined, 'process.thread.name', 'host.id', 'tags'] as const) {
      for (const samplingLevel of [0, 1]) {
        const query = { from: T0, to: T0 + 5, groupBy, samplingLevel };
        const sorted = (rows: { stackTraceId: string; group?: string; count: number }[]) =>
          rows.map((r) => `${r.stackTraceId}/${r.group}/${r.count}`).sort();
        const fromColumns = await asColumns.aggregateEvents(query);
        const fromObjects = await asObjects.aggregateEvents(query);
        assert.deepEqual(
          sorted(fromColumns.rows),
          sorted(fromObjects.rows),
          `${groupBy} level ${samplingLevel}`,
        );
        if (samplingLevel === 0 && groupBy === undefined) {
          assert.equal(
            fromColumns.totalCount,
            columns.counts.reduce((a, b) => a + b, 0),
          );
        }
      }
    }
    // And both are right: counts per stack, thread and process, summed here from the columns.
    const expected = new Map<string, number>();
    for (let i = 0; i < columns.length; i++) {
      const d = columns.dimensions[i];
      const key = JSON.stringify([columns.stackTraceIds[i], d.threadName, d.processName ?? null]);
      expected.set(key, (expected.get(key) ?? 0) + columns.counts[i]);
    }
    const byThreadAndProcess = await asColumns.aggregateEvents({
      from: T0,
      to: T0 + 5,
      samplingLevel: 0,
      groupBy: ['process.thread.name', 'process.executable.name'],
    });
    assert.deepEqual(
      new Map(
        byThreadAndProcess.rows.map((r) => [
          JSON.stringify([r.stackTraceId, r.groups![0], r.groups![1] ?? null]),
          r.count,
        ]),
      ),
      expected,
    );
    const threads = await asColumns.fieldValues('process.thread.name', T0, T0 + 5, 100);
    assert.deepEqual([...threads].sort(), [
      'thread-0',
      'thread-1',
      'thread-2',
      'thread-3',
      'thread-4',
      'thread-5',
    ]);
    await asColumns.close();
    await asObjects.close();
  });
});

describe('StackNumbers', () => {
  it('answers for numbers a query may see before the writer learns of the commit, and forgets rolled-back ones', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    await connection.run('CREATE TABLE stack_numbers (no UINTEGER NOT NULL, id VARCHAR NOT NULL)');
    const appender = await connection.createAppender('stack_numbers');
    const numbers = new StackNumbers(appender);
    numbers.load([1, 2], ['a', 'b']);
    assert.equal(numbers.numberOf('b'), 2);
    assert.equal(numbers.numberOf('c'), 3);
    assert.equal(numbers.numberOf('c'), 3);
    assert.equal(numbers.idOf(3), 'c');
    numbers.rollback();
    appender.clear();
    assert.throws(() => numbers.idOf(3), /no stack trace numbered 3/);
    assert.equal(numbers.numberOf('d'), 3);
    numbers.commit();
    appender.flushSync();
    assert.equal(numbers.idOf(3), 'd');
    assert.equal(numbers.numberOf('d'), 3);
    const rows = await connection.runAndReadAll('SELECT no, id FROM stack_numbers');
    assert.deepEqual(rows.getRowObjectsJS(), [{ no: 3, id: 'd' }]);
    appender.closeSync();
    connection.closeSync();
    instance.closeSync();
  });
});

describe('EmbeddedStore dimensions', () => {
  it('keeps apart dimension sets whose fields would spell the same text run together', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 40 });
    await store.open();
    const t = trace([0x400]);
    await store.write({
      ...emptyBatch(),
      stackTraces: [t],
      events: [
        event({ stackTraceId: t.id, count: 1, osKernel: 'a', tags: ['b'] }),
        event({ stackTraceId: t.id, count: 2, osKernel: 'ab', tags: [] }),
        event({ stackTraceId: t.id, count: 4, threadName: 'x', processName: 'y' }),
        event({ stackTraceId: t.id, count: 8, threadName: 'xy' }),
      ],
    });
    const byTag = await store.aggregateEvents({ from: T0, to: T0 + 1, groupBy: 'tags', samplingLevel: 0 });
    assert.deepEqual(
      byTag.rows.filter((r) => r.group !== undefined).map((r) => [r.group, r.count]),
      [['b', 1]],
    );
    const byThread = await store.aggregateEvents({
      from: T0,
      to: T0 + 1,
      groupBy: 'process.thread.name',
      samplingLevel: 0,
    });
    assert.deepEqual(
      new Map(byThread.rows.map((r) => [r.group, r.count])),
      new Map([
        [undefined, 3],
        ['x', 4],
        ['xy', 8],
      ]),
    );
    await store.close();
  });
});

describe('EmbeddedStore group commit', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'uniprof-store-commit-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('commits many concurrent writes in a few transactions, each resolving once its data is stored', async () => {
    const store = new EmbeddedStore({ path: ':memory:', seed: 10, commitIntervalMs: 600 });
    await store.open();
    // Writes trickle in, a few milliseconds apart, as a fleet's exports do: each would find the store idle
    // and get a transaction of its own if the store committed whenever something waits.
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      writes.push(store.write(eventsBatch(5, i + 1)));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(writes);
    // The first write finds the store idle and commits alone; the other 39 share the next commit (or two,
    // on a machine slow enough to stretch 40 short sleeps past the interval).
    assert.ok(store.commits >= 2 && store.commits <= 3, `${store.commits} transactions for 40 writes`);
    const stored = await store.aggregateEvents({ from: T0, to: T0 + 1, samplingLevel: 0 });
    assert.equal(stored.totalCount, 5 * ((40 * 41) / 2));
    await store.close();
  });

  it('commits a write to an idle store at once and makes the next one wait at most the interval', async () => {
    const interval = 400;
    const store = new EmbeddedStore({ path: ':memory:', seed: 11, commitIntervalMs: interval });
    await store.open();
    const first = await timed(store.write(eventsBatch(3)));
    assert.ok(first < interval / 2, `an idle store made a write wait ${first.toFixed(0)} ms`);
    const second = await timed(store.write(eventsBatch(3)));
    // It waits for the interval since the first commit began, and not much longer.
    assert.ok(second > interval / 2, `the second write waited only ${second.toFixed(0)} ms`);
    assert.ok(second < interval + 1500, `the second write waited ${second.toFixed(0)} ms`);
    assert.equal(store.commits, 2);
    await store.close();
  });

  it('commits without waiting for the interval once enough events wait', async () => {
    const store = new EmbeddedStore({
      path: ':memory:',
      seed: 12,
      commitIntervalMs: 20_000,
      commitEventThreshold: 100,
    });
    await store.open();
    await store.write(eventsBatch(10));
    const waiting = store.write(eventsBatch(60));
    const elapsed = await timed(Promise.all([waiting, store.write(eventsBatch(60))]));
    assert.ok(elapsed < 10_000, `120 waiting events (threshold 100) still waited ${elapsed.toFixed(0)} ms`);
    assert.equal(store.commits, 2);
    await store.close();
  });

  it('commits what waits for the interval when closed, and the data is there after reopening', async () => {
    const path = join(dir, 'close-flush.duckdb');
    let store = new EmbeddedStore({ path, seed: 13, commitIntervalMs: 60_000 });
    await store.open();
    await store.write(eventsBatch(4, 2));
    const late = [store.write(eventsBatch(6, 3)), store.write(eventsBatch(1, 5))];
    const closing = await timed(Promise.all([store.close(), ...late]));
    assert.ok(closing < 10_000, `close took ${closing.toFixed(0)} ms`);
    store = new EmbeddedStore({ path, seed: 14 });
    await store.open();
    const stored = await store.aggregateEvents({ from: T0, to: T0 + 1, samplingLevel: 0 });
    assert.equal(stored.totalCount, 4 * 2 + 6 * 3 + 5);
    await store.close();
  });

  it('takes the interval and threshold from the configuration (file, env or flag)', () => {
    const config = loadConfig({
      env: { UNIPROF_OUTPUT_EMBEDDED_COMMIT_INTERVAL_MS: '20' },
      overrides: ['output.embedded.commitEventThreshold=1234'],
    });
    assert.equal(config.output.embedded.commitIntervalMs, 20);
    assert.equal(config.output.embedded.commitEventThreshold, 1234);
    const defaults = loadConfig({}).output.embedded;
    assert.equal(defaults.commitIntervalMs, 50);
    assert.equal(defaults.commitEventThreshold, 50_000);
    assert.throws(
      () => loadConfig({ env: { UNIPROF_OUTPUT_EMBEDDED_COMMIT_INTERVAL_MS: '-1' } }),
      (e: unknown) => e instanceof ConfigError && /commitIntervalMs/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ overrides: ['output.embedded.commitEventThreshold=0'] }),
      (e: unknown) => e instanceof ConfigError && /commitEventThreshold/.test(e.message),
    );
    const store = createStore(config, pino({ level: 'silent' }));
    assert.ok(store instanceof EmbeddedStore);
  });

  it('bounds DuckDB: a memory limit and thread count from the configuration, applied when the store opens', async () => {
    const defaults = loadConfig({}).output.embedded;
    assert.equal(defaults.memoryLimit, '256MB');
    assert.equal(defaults.threads, 2);
    const config = loadConfig({
      overrides: [`output.embedded.path=${join(dir, 'bounded.duckdb')}`, 'output.embedded.memoryLimit=100MB'],
      env: { UNIPROF_OUTPUT_EMBEDDED_THREADS: '1' },
    });
    const store = createStore(config, pino({ level: 'silent' }));
    assert.ok(store instanceof EmbeddedStore);
    await store.open();
    try {
      const settings = await store.engineSettings();
      // DuckDB reports the limit in its own units (100 MB = 95.3 MiB).
      assert.match(settings.memoryLimit, /^95\.3 MiB$|^100\.0 MB$/);
      assert.equal(settings.threads, 1);
    } finally {
      await store.close();
    }
    assert.throws(
      () => loadConfig({ overrides: ['output.embedded.memoryLimit=lots'] }),
      (e: unknown) => e instanceof ConfigError && /memoryLimit/.test(e.message),
    );
  });
});

describe('EmbeddedStore stack numbers', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'uniprof-store-ids-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** IDs of all bytes set, none set, the top bit of either half set, and mixed bytes. */
  const ids = [
    'ffffffffffffffffffffffffffffffff',
    '80000000000000000000000000000000',
    '00000000000000008000000000000000',
    '00000000000000000000000000000000',
    'fedcba9876543210f0e1d2c3b4a59687',
    '0123456789abcdef8899aabbccddeeff',
  ].map((hex) => Buffer.from(hex, 'hex').toString('base64url'));

  async function countsById(store: EmbeddedStore, groupBy?: EventField | EventField[]) {
    const result = await store.aggregateEvents({ from: T0, to: T0 + 10, samplingLevel: 0, groupBy });
    const counts = new Map<string, number>();
    for (const row of result.rows)
      counts.set(row.stackTraceId, (counts.get(row.stackTraceId) ?? 0) + row.count);
    return counts;
  }

  it('reads back the IDs it numbered, across a restart and a rolled-back transaction', async () => {
    const path = join(dir, 'numbers.duckdb');
    let store = new EmbeddedStore({ path, seed: 20 });
    await store.open();
    const events = ids
      .slice(0, 3)
      .map((id, i) => event({ stackTraceId: id, count: 10 + i, threadName: `t${i}` }));
    await store.write({ ...emptyBatch(), events });
    // A batch the database refuses, naming a stack not seen before: its number must be handed out again.
    const refused = store.write({
      ...emptyBatch(),
      events: [event({ stackTraceId: ids[3], count: 1000 })],
      stackFrames: [
        {
          frameId: 'x',
          functionNames: ['f'],
          fileNames: ['f.c'],
          lineNumbers: [2 ** 40],
          functionOffsets: [0],
        },
      ],
    });
    await assert.rejects(refused);
    await store.write({ ...emptyBatch(), events: [event({ stackTraceId: ids[4], count: 14 })] });
    await store.write({ ...emptyBatch(), events: [event({ stackTraceId: ids[3], count: 13 })] });
    await store.close();

    store = new EmbeddedStore({ path, seed: 21 });
    await store.open();
    await store.write({
      ...emptyBatch(),
      events: [
        event({ stackTraceId: ids[5], count: 15, timestamp: T0 + 1 }),
        event({ stackTraceId: ids[0], count: 100, timestamp: T0 + 1 }),
      ],
    });
    const expected = new Map([
      [ids[0], 110],
      [ids[1], 11],
      [ids[2], 12],
      [ids[3], 13],
      [ids[4], 14],
      [ids[5], 15],
    ]);
    assert.deepEqual(await countsById(store), expected);
    assert.deepEqual(await countsById(store, 'process.thread.name'), expected);
    assert.deepEqual(await countsById(store, ['process.thread.name', 'host.id']), expected);
    await store.close();

    // Every stack has one number, and every event's number is one of them.
    const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(`SELECT
        (SELECT count(*) FROM stack_numbers)::INTEGER AS numbers,
        (SELECT count(DISTINCT no) FROM stack_numbers)::INTEGER AS distinct_numbers,
        (SELECT count(*) FROM events_all WHERE stack_no NOT IN (SELECT no FROM stack_numbers))::INTEGER AS orphans`);
    assert.deepEqual(reader.getRowObjectsJS(), [{ numbers: 6, distinct_numbers: 6, orphans: 0 }]);
    connection.closeSync();
    instance.closeSync();
  });

  it('refuses to open a store of an older schema version with a clear message, and lets go of the file', async () => {
    const path = join(dir, 'old.duckdb');
    const store = new EmbeddedStore({ path });
    await store.open();
    await store.close();
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run(`UPDATE uniprof_meta SET value = '2' WHERE key = 'schema_version'`);
    connection.closeSync();
    instance.closeSync();
    await assert.rejects(
      new EmbeddedStore({ path }).open(),
      (e: unknown) =>
        e instanceof Error &&
        e.message.includes(`schema version 2; this Uniprof writes version ${SCHEMA_VERSION}`) &&
        e.message.includes('output.embedded.path'),
    );
    // The refused store released the file: it can be opened again at once.
    const again = await DuckDBInstance.create(path);
    again.closeSync();
  });
});

describe('EmbeddedStore stack numbers beyond the cache', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'uniprof-store-numbers-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps at most its cache of numbers in memory and looks up the rest, writing and reading, across a restart', async () => {
    const path = join(dir, 'bounded-numbers.duckdb');
    // A cache of 8 keeps 4 numbers for sure: 40 stacks are mostly looked up in stack_numbers.
    const ids = Array.from({ length: 40 }, (_, i) =>
      Buffer.from(`stack-${String(i).padStart(9, '0')}`).toString('base64url'),
    );
    const batchOf = (from: number, to: number, count: number) => ({
      ...emptyBatch(),
      events: ids.slice(from, to).map((id, i) => event({ stackTraceId: id, count, threadName: `t${i % 3}` })),
    });
    let store = new EmbeddedStore({ path, seed: 30, stackNumberCache: 8 });
    await store.open();
    await store.write(batchOf(0, 20, 1));
    await store.write(batchOf(10, 40, 2));
    // The first stacks again, long evicted: they must keep their numbers, not get new ones.
    await store.write(batchOf(0, 5, 4));
    const expected = (i: number) => (i < 5 ? 4 : 0) + (i < 20 ? 1 : 0) + (i >= 10 ? 2 : 0);
    const check = async (s: EmbeddedStore) => {
      const result = await s.aggregateEvents({ from: T0, to: T0 + 10, samplingLevel: 0 });
      const counts = new Map<string, number>();
      for (const row of result.rows)
        counts.set(row.stackTraceId, (counts.get(row.stackTraceId) ?? 0) + row.count);
      assert.deepEqual([...counts].sort(), ids.map((id, i) => [id, expected(i)] as [string, number]).sort());
      const grouped = await s.aggregateEvents({
        from: T0,
        to: T0 + 10,
        samplingLevel: 0,
        groupBy: ['host.id'],
      });
      assert.equal(new Set(grouped.rows.map((r) => r.stackTraceId)).size, 40);
    };
    await check(store);
    await store.close();
    store = new EmbeddedStore({ path, seed: 31, stackNumberCache: 8 });
    await store.open();
    await check(store);
    await store.write(batchOf(38, 40, 100));
    const result = await store.aggregateEvents({ from: T0, to: T0 + 10, samplingLevel: 0 });
    assert.equal(result.totalCount, ids.reduce((sum, _, i) => sum + expected(i), 0) + 200);
    assert.equal(result.rows.length, 40, 'no stack got a second number');
    await store.close();
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    const numbers = await connection.runAndReadAll(
      'SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS d FROM stack_numbers',
    );
    assert.deepEqual(numbers.getRowObjectsJS(), [{ n: 40, d: 40 }]);
    connection.closeSync();
    instance.closeSync();
  });
});
