/**
 * `npm run bench:retention`: how long one retention run over the embedded store keeps writes waiting.
 * Writes UNIPROF_BENCH_RETENTION_EVENTS events (default 2,000,000; three quarters 40 days old, in time order as
 * agents send them, over 20,000 stacks), reopens the file, then runs retention (cutoff 30 days) while a writer
 * commits 500 recent events every 20 ms. Prints the run's transactions, its longest transaction (the pause),
 * its duration, and the slowest concurrent write. UNIPROF_BENCH_RETENTION_BATCH sets batchRows (default: the
 * configuration's default).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameType, emptyBatch, frameId, stackTraceId } from '../src/model/index.ts';
import { EmbeddedStore } from '../src/store/embedded/index.ts';
import { DEFAULT_RETENTION, applyRetention } from '../src/store/embedded/retention.ts';

const EVENTS = Number(process.env.UNIPROF_BENCH_RETENTION_EVENTS ?? 2_000_000);
const BATCH_ROWS = Number(process.env.UNIPROF_BENCH_RETENTION_BATCH ?? DEFAULT_RETENTION.batchRows);
const STACKS = 20_000;
const DAY = 86_400;

const dir = mkdtempSync(join(tmpdir(), 'uniprof-bench-retention-'));
const path = join(dir, 'store.duckdb');
try {
  const now = Math.floor(Date.now() / 1000);
  const file = Buffer.alloc(16, 7).toString('base64url');
  const traces = Array.from({ length: STACKS }, (_, i) => {
    const refs = [0, 1, 2, 3].map((d) => ({ fileId: file, addressOrLine: BigInt(i * 16 + d) }));
    return {
      id: stackTraceId(refs),
      frameIds: refs.map((r) => frameId(r.fileId, r.addressOrLine)),
      frameTypes: refs.map(() => FrameType.Native),
    };
  });
  const writer = new EmbeddedStore({ path, seed: 1 });
  await writer.open();
  const perBatch = 100_000;
  for (let written = 0; written < EVENTS; written += perBatch) {
    const batch = emptyBatch();
    if (written === 0) batch.stackTraces.push(...traces);
    for (let n = written; n < Math.min(EVENTS, written + perBatch); n++) {
      // Old events use every stack; recent ones the first half, so the second half gets collected.
      const old = n % 4 !== 0;
      batch.events.push({
        timestamp: (old ? now - 40 * DAY : now - 3600) + Math.floor((n * 3000) / EVENTS),
        stackTraceId: traces[(n * 7) % (old ? STACKS : STACKS / 2)].id,
        count: 1 + (n % 3),
        hostId: `host-${n % 20}`,
        tags: [],
        projectId: 1,
      });
    }
    await writer.write(batch);
  }
  await writer.close();

  const store = new EmbeddedStore({ path, seed: 1 });
  await store.open();
  let writing = true;
  let writes = 0;
  let slowestWriteMs = 0;
  const live = (async () => {
    while (writing) {
      const batch = emptyBatch();
      for (let i = 0; i < 500; i++)
        batch.events.push({
          timestamp: now - 60,
          stackTraceId: traces[i].id,
          count: 1,
          hostId: 'live',
          tags: [],
          projectId: 1,
        });
      const started = performance.now();
      await store.write(batch);
      slowestWriteMs = Math.max(slowestWriteMs, performance.now() - started);
      writes++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const result = await applyRetention(store, { cutoff: now - 30 * DAY, batchRows: BATCH_ROWS });
  writing = false;
  await live;
  await store.close();
  console.log(
    `retention over ${EVENTS} events (batchRows ${BATCH_ROWS}): ${result.transactions} transactions, ` +
      `longest pause ${result.longestPauseMs.toFixed(0)} ms, run ${(result.durationMs / 1000).toFixed(1)} s, ` +
      `deleted ${JSON.stringify(result.deleted)}; ${writes} writes meanwhile, slowest ${slowestWriteMs.toFixed(0)} ms`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
