import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { buildCallTree, toCompact } from '../../src/query/flamegraph.ts';
import { runQuery } from '../../src/query/run.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { RetentionJob, applyRetention } from '../../src/store/embedded/retention.ts';
import { startCollector, TOKEN } from '../collector/helpers.ts';
import { DAY, ExportClient, contents, missing, sendRequests, workload } from './retention-support.ts';

const NOW = Math.floor(Date.now() / 1000);
const CUTOFF = NOW - 30 * DAY;
const CRASH_CHILD = fileURLToPath(new URL('./retention-crash-child.ts', import.meta.url));

async function flamegraph(store: EmbeddedStore, from: number, to: number) {
  const result = await runQuery(store, { from, to, samplingLevel: 0 });
  return toCompact(buildCallTree(result), result);
}

describe('embedded store retention', () => {
  it('deletes old events and collects exactly what only they referenced; recent data reads the same', async (t) => {
    const running = await startCollector(t);
    const store = running.store as EmbeddedStore;
    const client = new ExportClient({
      target: running.addresses.grpcAddress,
      token: TOKEN,
      timeoutMs: 30_000,
    });
    t.after(() => client.close());
    // Old data from two fleets (different stacks, frames, executables); recent data from the second only, so
    // the first fleet's rows become unreferenced and the second's stay referenced.
    const oldFleet = workload(1);
    const keptFleet = workload(2);
    await sendRequests(client, oldFleet, NOW - 40 * DAY, 30);
    await sendRequests(client, keptFleet, NOW - 35 * DAY, 30);
    await sendRequests(client, keptFleet, NOW - 2 * DAY, 30);
    await sendRequests(client, keptFleet, NOW - 3600, 30);

    const before = await contents(store, CUTOFF);
    assert.ok(before.eventsBefore > 0, 'the fixture has old events');
    const recentFrom = CUTOFF;
    const flameBefore = await flamegraph(store, recentFrom, NOW + 60);
    assert.ok(flameBefore.frames.label.length > 10, 'the recent range has a flamegraph');

    const result = await applyRetention(store, {
      cutoff: CUTOFF,
      batchRows: 500,
      forget: (ids) => running.collector.forgetStored(ids),
    });
    const after = await contents(store, CUTOFF);

    // Old events gone from every level, recent ones all there.
    assert.equal(after.eventsBefore, 0);
    const deletedEvents =
      before.eventsPerLevel.reduce((a, b) => a + b) - after.eventsPerLevel.reduce((a, b) => a + b);
    assert.equal(result.deleted.events, before.eventsBefore);
    assert.equal(deletedEvents, before.eventsBefore);
    // Stack traces: exactly those events still name.
    assert.deepEqual(missing(after.namedStacks, after.stackTraces), [], 'every named stack is kept');
    assert.deepEqual(missing(after.stackTraces, after.namedStacks), [], 'no unnamed stack is left');
    assert.equal(result.deleted.stackTraces, before.stackTraces.size - after.stackTraces.size);
    assert.ok(result.deleted.stackTraces > 0);
    // Frames and executables: every one a kept stack names is kept; none other is left.
    const keptFrames = [...after.framesOfStacks].filter((id) => before.stackFrames.has(id));
    assert.deepEqual(missing(keptFrames, after.stackFrames), []);
    assert.deepEqual(missing(after.stackFrames, after.framesOfStacks), []);
    assert.ok(result.deleted.stackFrames > 0, 'frames only old stacks named were collected');
    const keptFiles = [...after.filesOfStacks].filter((id) => before.executables.has(id));
    assert.deepEqual(missing(keptFiles, after.executables), []);
    assert.deepEqual(missing(after.executables, after.filesOfStacks), []);
    assert.ok(result.deleted.executables > 0, 'executables only old stacks named were collected');
    assert.ok(result.transactions > 10, `batched: ${result.transactions} transactions`);

    // The kept range reads the same, to the frame.
    assert.deepEqual(await flamegraph(store, recentFrom, NOW + 60), flameBefore);

    // Ingest goes on: the collector forgot what the run collected, so it comes back whole when named again.
    await sendRequests(client, oldFleet, NOW - 60, 10);
    const again = await contents(store, CUTOFF);
    assert.deepEqual(missing(again.namedStacks, again.stackTraces), []);
    const framesBack = [...again.framesOfStacks].filter((id) => before.stackFrames.has(id));
    assert.deepEqual(
      missing(framesBack, again.stackFrames),
      [],
      'collected frames came back with their stacks',
    );
    const filesBack = [...again.filesOfStacks].filter((id) => before.executables.has(id));
    assert.deepEqual(missing(filesBack, again.executables), [], 'collected executables came back');
    const flame = await flamegraph(store, NOW - 3 * 60, NOW + 60);
    assert.ok(flame.frames.label.length > 10);

    // A second run finds nothing more to do.
    const second = await applyRetention(store, { cutoff: CUTOFF, batchRows: 500 });
    assert.deepEqual(second.deleted, { events: 0, hosts: 0, stackTraces: 0, stackFrames: 0, executables: 0 });
  });

  it('keeps every row that writes during the run reference, and pauses ingest only briefly', async (t) => {
    const running = await startCollector(t);
    const store = running.store as EmbeddedStore;
    const client = new ExportClient({
      target: running.addresses.grpcAddress,
      token: TOKEN,
      timeoutMs: 30_000,
    });
    t.after(() => client.close());
    // Two old fleets; the first one's stacks come back while the run collects, the second's do not.
    await sendRequests(client, workload(3), NOW - 40 * DAY, 60);
    await sendRequests(client, workload(4), NOW - 41 * DAY, 20);
    // The same stacks arrive while the run collects: each would be collected but for the writes.
    let writing = true;
    const writer = (async () => {
      let sent = 0;
      const live = workload(3);
      while (writing) sent += await sendRequests(client, live, NOW - 60, 2);
      return sent;
    })();
    const registry = new Registry();
    const job = new RetentionJob(
      store,
      { days: 30, intervalMinutes: 60, batchRows: 200 },
      {
        logger: pino({ level: 'silent' }),
        registry,
        forget: (ids) => running.collector.forgetStored(ids),
        now: () => NOW,
      },
    );
    const result = await job.runOnce();
    writing = false;
    const sent = await writer;
    assert.ok(result, 'the run finished');
    assert.ok(sent > 0);
    assert.ok(result.deleted.stackTraces > 0, "the second fleet's stacks were collected");
    const after = await contents(store, CUTOFF);
    assert.equal(after.eventsBefore, 0);
    assert.deepEqual(missing(after.namedStacks, after.stackTraces), [], 'no event names a missing stack');
    const framesStoredBefore = after.stackFrames;
    assert.deepEqual(missing(after.stackFrames, after.framesOfStacks), []);
    assert.ok(framesStoredBefore.size > 0);
    // The counters say what the run did.
    const metrics = await registry.getMetricsAsJSON();
    const deleted = metrics.find((m) => m.name === 'uniprof_retention_deleted_rows_total');
    const eventsDeleted = deleted?.values.find((v) => v.labels.table === 'events')?.value;
    assert.equal(eventsDeleted, result.deleted.events);
    const pause = metrics.find((m) => m.name === 'uniprof_retention_longest_pause_seconds')?.values[0]?.value;
    assert.equal(pause, result.longestPauseMs / 1000);
    console.log(
      `retention under ingest: ${result.transactions} transactions, longest pause ${result.longestPauseMs.toFixed(1)} ms, ` +
        `run ${result.durationMs.toFixed(0)} ms, deleted ${JSON.stringify(result.deleted)}, ${sent} samples written meanwhile`,
    );
  });
});

describe('embedded store retention racing a write', () => {
  it('spares the stacks, frames and executables a write names between the snapshot and their deletion', async (t) => {
    const running = await startCollector(t);
    const store = running.store as EmbeddedStore;
    const client = new ExportClient({
      target: running.addresses.grpcAddress,
      token: TOKEN,
      timeoutMs: 30_000,
    });
    t.after(() => client.close());
    const returning = workload(4);
    await sendRequests(client, returning, NOW - 40 * DAY, 20);
    await sendRequests(client, workload(5), NOW - 3600, 5);
    let wrote = false;
    const result = await applyRetention(store, {
      cutoff: CUTOFF,
      batchRows: 20,
      forget: (ids) => running.collector.forgetStored(ids),
      // After the first batch of stack traces is gone, the old fleet reports again: the stacks still waiting
      // in later batches are named by new events and must stay.
      afterTransaction: async (_done, phase) => {
        if (phase !== 'stackTraces' || wrote) return;
        wrote = true;
        await sendRequests(client, workload(4), NOW - 60, 20);
      },
    });
    assert.ok(wrote, 'the write went in mid-collection');
    const after = await contents(store, CUTOFF);
    assert.deepEqual(missing(after.namedStacks, after.stackTraces), [], 'no event names a missing stack');
    assert.deepEqual(missing(after.stackFrames, after.framesOfStacks), []);
    assert.ok(result.deleted.stackTraces > 0);
  });
});

describe('embedded store retention after a crash', () => {
  it('leaves a consistent store when killed mid-run, and the next run finishes the job', async (t) => {
    const running = await startCollector(t);
    const client = new ExportClient({
      target: running.addresses.grpcAddress,
      token: TOKEN,
      timeoutMs: 30_000,
    });
    await sendRequests(client, workload(1), NOW - 40 * DAY, 20);
    await sendRequests(client, workload(2), NOW - 3600, 20);
    client.close();
    await running.collector.stop();
    const path = running.dbPath;
    const readStore = async <T>(read: (store: EmbeddedStore) => Promise<T>): Promise<T> => {
      const store = new EmbeddedStore({ path, seed: 1 });
      await store.open();
      try {
        return await read(store);
      } finally {
        await store.close();
      }
    };
    const before = await readStore((store) => contents(store, CUTOFF));
    const flameBefore = await readStore((store) => flamegraph(store, CUTOFF, NOW + 60));
    // A crash in each phase: deleting events (the deepest levels first), then collecting what they named.
    for (const [phase, crashAfter] of [
      ['events', 3],
      ['events', 20],
      ['stackTraces', 1],
      ['stackFrames', 1],
      ['executables', 1],
    ] as const) {
      const child = spawnSync(
        process.execPath,
        ['--import', 'tsx', CRASH_CHILD, path, String(CUTOFF), '100', phase, String(crashAfter)],
        { encoding: 'utf8' },
      );
      assert.equal(
        child.signal,
        'SIGKILL',
        `the child crashed in ${phase} (${crashAfter}): ${child.stdout} ${child.stderr}`,
      );
      const crashed = await readStore((store) => contents(store, CUTOFF));
      assert.deepEqual(
        missing(crashed.namedStacks, crashed.stackTraces),
        [],
        'no event names a missing stack',
      );
      const needed = [...crashed.framesOfStacks].filter((id) => before.stackFrames.has(id));
      assert.deepEqual(missing(needed, crashed.stackFrames), [], 'no kept stack lost a frame');
      assert.deepEqual(await readStore((store) => flamegraph(store, CUTOFF, NOW + 60)), flameBefore);
    }
    const finished = await readStore((store) => applyRetention(store, { cutoff: CUTOFF, batchRows: 100 }));
    const after = await readStore((store) => contents(store, CUTOFF));
    assert.equal(after.eventsBefore, 0);
    assert.deepEqual(missing(after.stackTraces, after.namedStacks), []);
    assert.deepEqual(missing(after.stackFrames, after.framesOfStacks), []);
    assert.deepEqual(missing(after.executables, after.filesOfStacks), []);
    assert.ok(finished.transactions > 0);
    assert.deepEqual(await readStore((store) => flamegraph(store, CUTOFF, NOW + 60)), flameBefore);
  });
});
