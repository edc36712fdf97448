/**
 * Run by embedded-disk-full.test.ts inside the small disk's mount namespace (DuckDB resolves the
 * /proc/<pid>/root path the test could reach it by): an embedded store on the small disk, writes until the
 * disk is full (or, with `read-only`, until its directory is made read-only), then waits for the storage to
 * take writes again. Prints one JSON report on stdout.
 *
 * Read-only is a read-only bind mount of the directory onto itself: a file system cannot be remounted
 * read-only while files on it are open for writing, but a new bind mount can be, and files opened through it
 * (DuckDB's next write-ahead log) are refused with EROFS, as on a file system the kernel turned read-only.
 * Unmounting it makes the directory writable again.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { StoreUnavailableError } from '../../src/store/store.ts';
import { makeBatch } from '../store-elasticsearch/helpers.ts';
import { fillWithBallast } from '../support/small-disk.ts';

const [dir, mode] = process.argv.slice(2);
const readOnly = mode === 'read-only';
const leaveBytes = readOnly ? 0 : Number(mode ?? 0);
await mkdir(dir, { recursive: true });
const mount = (...args: string[]) => execFileSync('mount', [...args, dir]);
const path = join(dir, 'store.duckdb');
const ballast = join(dir, 'ballast');
// A checkpoint every few batches, so that one comes while the disk is full (DuckDB then invalidates the database).
const store = new EmbeddedStore({ path, commitIntervalMs: 0, checkpointThresholdBytes: 256 * 1024, seed: 1 });
await store.open();

let acknowledged = 0;
let start = 1_700_000_000;
async function write(events: number): Promise<unknown> {
  try {
    await store.write(makeBatch(start, events, 5));
    acknowledged += events;
    return undefined;
  } catch (error) {
    return error;
  } finally {
    start += 60;
  }
}

for (let i = 0; i < 20; i++) {
  const error = await write(2000);
  if (error) throw new Error('a write failed before the disk filled', { cause: error });
}

if (readOnly) {
  // Bound only now, so that the files the store holds open stay on the writable mount below.
  mount('--bind', dir);
  mount('-o', 'remount,bind,ro');
} else {
  // Give a little back: room for a batch in the write-ahead log, not for the checkpoint it triggers.
  await fillWithBallast(ballast, leaveBytes);
}

const failures: string[] = [];
let unavailable = 0;
for (let i = 0; i < 40; i++) {
  const error = await write(2000);
  if (error === undefined) continue;
  if (error instanceof StoreUnavailableError) unavailable++;
  failures.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
const whileFull = store.health();

if (readOnly) execFileSync('umount', [dir]);
else await rm(ballast);
const freedAt = Date.now();
while (!store.health().writable && Date.now() - freedAt < 15_000)
  await new Promise((resolve) => setTimeout(resolve, 50));
const recoveredMs = Date.now() - freedAt;
const afterRecovery = await write(2000);
await store.close();

const reopened = new EmbeddedStore({ path });
await reopened.open();
const stored = (await reopened.stats()).events;
const total = (await reopened.aggregateEvents({ from: 0, to: 4_000_000_000, samplingLevel: 0 })).totalCount;
await reopened.close();

console.log(
  JSON.stringify({
    acknowledged,
    total,
    stored,
    unavailable,
    failures: [...new Set(failures)],
    whileFull,
    recoveredMs,
    writeAfterRecovery: afterRecovery === undefined ? 'ok' : String(afterRecovery),
  }),
);
