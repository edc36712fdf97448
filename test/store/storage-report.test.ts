/** The storage explorer's report over the embedded store (Elasticsearch: test/store-elasticsearch/storage-layout.test.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { checkStore, knownBatch } from './storage-fixture.ts';

describe('storage report', () => {
  it('embedded store: rows and bytes per table, per host and per day exactly', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'uniprof-storage-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'store.duckdb');
    const { batch, events } = knownBatch();
    const writer = new EmbeddedStore({ path, seed: 1 });
    await writer.open();
    await writer.write(batch);
    await writer.close();
    // Reopened: closing checkpointed the data into the file, where DuckDB can say which blocks hold it.
    const store = new EmbeddedStore({ path, seed: 1 });
    await store.open();
    t.after(() => store.close());
    const report = await checkStore(store, events, 'events_all');
    const table = (name: string) => report.areas.find((a) => a.name === name)!;
    assert.equal(table('stacktraces').rows, 3);
    assert.equal(table('hosts').rows, 3);
    assert.ok(table('events_all').bytes! > 0, 'the events take blocks of the file');
    const tableBytes = report.areas.reduce((sum, a) => sum + (a.bytes ?? 0), 0);
    assert.ok(
      report.totalBytes! >= tableBytes,
      `the file (${report.totalBytes}) holds the tables (${tableBytes})`,
    );
  });
});
