/**
 * Run by spool-disk-full.test.ts inside the small disk's mount namespace: an Elasticsearch store whose cluster
 * is out of reach (everything stays in the spool) writes until the spool's disk is full, then waits for the
 * space to come back. Afterwards a fresh spool reads back every record. Prints one JSON report on stdout.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import { Spool } from '../../src/store/elasticsearch/spool.ts';
import { fillWithBallast } from '../support/small-disk.ts';
import { makeBatch } from './helpers.ts';

const [dir] = process.argv.slice(2);
const spoolDir = join(dir, 'spool');
await mkdir(spoolDir, { recursive: true });
const ballast = join(dir, 'ballast');
// Port 1 on loopback: refused at once, so the store spools and retries in the background.
const store = new ElasticsearchStore({ hosts: ['http://127.0.0.1:1'], spoolDir, seed: 1 });
await store.open();

const EVENTS = 2000;
let acknowledged = 0;
let start = 1_700_000_000;
async function write(): Promise<unknown> {
  try {
    await store.write(makeBatch(start, EVENTS, 5));
    acknowledged += EVENTS;
    return undefined;
  } catch (error) {
    return error;
  } finally {
    start += 60;
  }
}

for (let i = 0; i < 10; i++) {
  const error = await write();
  if (error) throw new Error('a write failed before the disk filled', { cause: error });
}
// Room for part of a batch: its append fails half-written.
await fillWithBallast(ballast, 64 * 1024);

const failures: string[] = [];
for (let i = 0; i < 10; i++) {
  const error = await write();
  if (error) failures.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
const whileFull = store.health();

await rm(ballast);
const freedAt = Date.now();
while (!store.health().writable && Date.now() - freedAt < 15_000)
  await new Promise((resolve) => setTimeout(resolve, 50));
const recoveredMs = Date.now() - freedAt;
const afterRecovery = await write();
await store.close();

// Every record the spool holds, as the sender would read them after a restart.
const spool = new Spool({
  dir: spoolDir,
  maxBytes: 1 << 30,
  maxPendingBytes: 1 << 20,
  segmentMaxBytes: 1 << 20,
  segmentMaxAgeMs: 60_000,
  onSealed: () => undefined,
});
let spooled = 0;
for (const segment of await spool.open()) {
  const lines = await spool.readSegment(segment);
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const action = JSON.parse(lines[i]) as Record<string, { _index?: string }>;
    if (Object.values(action)[0]?._index !== 'profiling-events-all') continue;
    spooled += (JSON.parse(lines[i + 1]) as { 'Stacktrace.count': number })['Stacktrace.count'];
  }
}
await spool.close();

console.log(
  JSON.stringify({
    acknowledged,
    spooled,
    failures: [...new Set(failures)],
    whileFull,
    recoveredMs,
    writeAfterRecovery: afterRecovery === undefined ? 'ok' : String(afterRecovery),
    files: await readdir(spoolDir),
  }),
);
