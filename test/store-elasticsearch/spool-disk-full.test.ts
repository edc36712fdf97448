/**
 * The Elasticsearch store's spool on a small disk that fills up (spool-disk-full-child.ts runs the store
 * inside the disk's mount namespace, with the cluster out of reach so that everything stays in the spool):
 * writes fail with StoreUnavailableError, health() says the disk is full, writes resume by themselves once
 * the space is back, and the spool reads back every acknowledged event and nothing garbled — the append that
 * failed half-written leaves no torn record behind. No Elasticsearch needed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { ProcessOutput } from '../support/serve.ts';
import { createSmallDisk, smallDiskUnsupported, type SmallDisk } from '../support/small-disk.ts';

const CHILD = new URL('./spool-disk-full-child.ts', import.meta.url).pathname;

const unsupported = smallDiskUnsupported();
if (unsupported && process.env.CI === 'true')
  throw new Error(`the disk-full test needs a tmpfs: ${unsupported}`);

let disk: SmallDisk;
before(async () => {
  if (!unsupported) disk = await createSmallDisk(16 << 20);
});
after(async () => {
  await disk?.dispose();
});

describe('Elasticsearch spool on a full disk', { skip: unsupported, timeout: 120_000 }, () => {
  it('refuses with StoreUnavailableError, resumes once there is room, and keeps every acknowledged event', async () => {
    const child = disk.spawn(process.execPath, ['--import', 'tsx', CHILD, `${disk.mountPoint}/es`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = new ProcessOutput(child);
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, output.stderr);
    const report = JSON.parse(output.stdout) as {
      acknowledged: number;
      spooled: number;
      failures: string[];
      whileFull: { writable: boolean; problem?: string };
      recoveredMs: number;
      writeAfterRecovery: string;
    };
    assert.ok(report.failures.length > 0, 'writes failed on the full disk');
    for (const failure of report.failures)
      assert.match(failure, /^StoreUnavailableError: cannot write to the spool at .*: the disk is full$/);
    assert.equal(report.whileFull.writable, false);
    assert.match(report.whileFull.problem ?? '', /the disk is full/);
    assert.equal(report.writeAfterRecovery, 'ok');
    assert.ok(report.recoveredMs < 10_000, `writable again after ${report.recoveredMs} ms`);
    // Exactly the acknowledged events: nothing lost, and the half-written append left nothing behind.
    assert.equal(report.spooled, report.acknowledged);
  });
});
