import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { DimensionIds } from '../../src/store/embedded/dimension-ids.ts';
import { emptyBatch, type ProfileBatch } from '../../src/model/index.ts';

const T0 = 1_750_000_000;
const STACK = Buffer.from('one-stack-for-all-dims').toString('base64url');

/** Events of threads `from`..`to` (one dimensions row each), on two hosts. */
function threads(from: number, to: number, count: number): ProfileBatch {
  return {
    ...emptyBatch(),
    events: Array.from({ length: to - from }, (_, i) => ({
      timestamp: T0,
      stackTraceId: STACK,
      count,
      hostId: `host-${(from + i) % 2}`,
      processName: (from + i) % 3 === 0 ? undefined : 'app',
      threadName: `thread-${String(from + i).padStart(3, '0')}`,
      tags: (from + i) % 4 === 0 ? ['env:prod', 'team:a'] : [],
      projectId: 1,
    })),
  };
}

describe('DimensionIds', () => {
  it('keeps at most its capacity in memory and knows when a miss may be a forgotten id', () => {
    const ids = new DimensionIds(8);
    for (let i = 1; i <= 4; i++) ids.remember(`k${i}`, i);
    assert.equal(ids.complete, true, 'half the capacity is kept for sure');
    for (let i = 5; i <= 1000; i++) ids.remember(`k${i}`, i);
    assert.ok(ids.cached <= 8, `${ids.cached} ids in memory`);
    assert.equal(ids.complete, false);
    assert.equal(ids.assign('new'), 1001, 'new ids follow the highest one');
    ids.rollback();
    assert.equal(ids.assign('new'), 1001, 'a rolled-back id is handed out again');
  });
});

describe('EmbeddedStore dimensions beyond the cache', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'uniprof-store-dims-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('looks forgotten dimensions up instead of giving them a second id, writing and after a restart', async () => {
    const path = join(dir, 'bounded-dims.duckdb');
    const expected = (i: number) => (i < 5 ? 4 : 0) + (i < 20 ? 1 : 0) + (i >= 10 ? 2 : 0);
    const check = async (store: EmbeddedStore, extra = 0) => {
      const grouped = await store.aggregateEvents({ from: T0, to: T0 + 1, groupBy: 'process.thread.name' });
      const counts = new Map(grouped.rows.map((r) => [r.group, r.count]));
      for (let i = 0; i < 40; i++) {
        const name = `thread-${String(i).padStart(3, '0')}`;
        assert.equal(counts.get(name), expected(i) + (i >= 38 ? extra : 0), name);
      }
    };
    // A cache of 8 keeps 4 ids for sure: 40 threads are mostly looked up in event_dims.
    let store = new EmbeddedStore({ path, seed: 40, dimensionsCache: 8 });
    await store.open();
    await store.write(threads(0, 20, 1));
    await store.write(threads(10, 40, 2));
    // The first threads again, long evicted: they must keep their ids.
    await store.write(threads(0, 5, 4));
    await check(store);
    await store.close();

    store = new EmbeddedStore({ path, seed: 41, dimensionsCache: 8 });
    await store.open();
    await check(store);
    await store.write(threads(38, 40, 100));
    await check(store, 100);
    await store.close();

    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    const rows = await connection.runAndReadAll(
      'SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS d, max(id)::INTEGER AS m FROM event_dims',
    );
    assert.deepEqual(rows.getRowObjectsJS(), [{ n: 40, d: 40, m: 40 }], 'one row per distinct dimensions');
    connection.closeSync();
    instance.closeSync();
  });
});
