/**
 * The embedded store on a small disk that fills up (test/store/disk-full-child.ts runs the store inside the
 * disk's mount namespace): writes fail with StoreUnavailableError, health() says the disk is full, and once
 * the space is back the store takes writes again by itself — also when DuckDB invalidated the database (a
 * checkpoint that could not be written) and the store had to reopen it. Nothing acknowledged is lost.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ProcessOutput } from '../support/serve.ts';
import { createSmallDisk, smallDiskUnsupported, type SmallDisk } from '../support/small-disk.ts';

const CHILD = new URL('./disk-full-child.ts', import.meta.url).pathname;
const BATCH_EVENTS = 2000;

const unsupported = smallDiskUnsupported();
if (unsupported && process.env.CI === 'true')
  throw new Error(`the disk-full test needs a tmpfs: ${unsupported}`);

interface Report {
  acknowledged: number;
  total: number;
  stored: number;
  unavailable: number;
  failures: string[];
  whileFull: { writable: boolean; problem?: string };
  recoveredMs: number;
  writeAfterRecovery: string;
}

let disk: SmallDisk;
before(async () => {
  if (!unsupported) disk = await createSmallDisk(48 << 20);
});
after(async () => {
  await disk?.dispose();
});

/** `mode`: bytes to leave free once the disk is full, or `read-only`. */
async function runChild(dir: string, mode: number | 'read-only'): Promise<Report> {
  const child = disk.spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(mode)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = new ProcessOutput(child);
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, output.stderr);
  await rm(disk.outside(dir), { recursive: true, force: true });
  return JSON.parse(output.stdout) as Report;
}

function checkReport(report: Report, problem = /the disk is full/): void {
  assert.ok(report.failures.length > 0, 'writes failed');
  for (const failure of report.failures) {
    assert.match(failure, /^StoreUnavailableError: /);
    assert.match(failure, problem);
  }
  assert.equal(report.whileFull.writable, false);
  assert.match(report.whileFull.problem ?? '', problem);
  assert.equal(report.writeAfterRecovery, 'ok', 'a write after the space came back');
  assert.ok(report.recoveredMs < 10_000, `writable again after ${report.recoveredMs} ms`);
  // Every acknowledged event is there; at most the one batch whose commit reached the log before the
  // checkpoint failed is there without having been acknowledged.
  assert.equal(report.stored, report.total);
  const extra = report.total - report.acknowledged;
  assert.ok(
    extra === 0 || extra === BATCH_EVENTS,
    `${report.total} stored, ${report.acknowledged} acknowledged`,
  );
}

describe('embedded store on a full or read-only disk', { skip: unsupported, timeout: 120_000 }, () => {
  it('refuses while the write-ahead log cannot grow, and resumes once there is room', async () => {
    const report = await runChild(`${disk.mountPoint}/wal`, 0);
    checkReport(report);
  });

  it('reopens a database DuckDB invalidated after a failed checkpoint', async () => {
    // Room for a batch in the log, not for the checkpoint it triggers.
    const report = await runChild(`${disk.mountPoint}/checkpoint`, 128 * 1024);
    checkReport(report);
    assert.match(report.whileFull.problem ?? '', /reopened/, 'the database was invalidated');
  });

  it('refuses while its directory is read-only, and resumes once it is writable', async () => {
    const report = await runChild(`${disk.mountPoint}/read-only`, 'read-only');
    checkReport(report, /the file system is read-only/);
  });
});
