import assert from 'node:assert/strict';
import { appendFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { Spool, SpoolFullError } from '../../src/store/elasticsearch/spool.ts';
import { removeTempDirs, tempDir } from './helpers.ts';

after(removeTempDirs);

function spoolAt(dir: string, sealed: string[] = [], maxBytes = 1 << 20): Spool {
  return new Spool({
    dir,
    maxBytes,
    maxPendingBytes: 1 << 20,
    segmentMaxBytes: 1 << 20,
    segmentMaxAgeMs: 60_000,
    onSealed: (segment) => sealed.push(segment),
  });
}

test('a torn tail (a write never acknowledged) is dropped on recovery; acknowledged records survive', async () => {
  const dir = await tempDir('spool');
  try {
    const first = spoolAt(dir);
    assert.deepEqual(await first.open(), []);
    await first.append(['{"create":{"_id":"a"}}', '{"n":1}']);
    await first.append(['{"create":{"_id":"b"}}', '{"n":2}']);
    await first.close();
    // A crash in the middle of the next append: a length header promising more than was written.
    const [openSegment] = (await readdir(dir)).filter((name) => name.endsWith('.open'));
    await appendFile(path.join(dir, openSegment), '40\n{"create":{"_id":"c"}}\n{"n"');

    const second = spoolAt(dir);
    const recovered = await second.open();
    assert.equal(recovered.length, 1);
    assert.deepEqual(await second.readSegment(recovered[0]), [
      '{"create":{"_id":"a"}}',
      '{"n":1}',
      '{"create":{"_id":"b"}}',
      '{"n":2}',
    ]);
    // New appends go to a new segment, numbered after the recovered one.
    const sealed: string[] = [];
    await second.close();
    const third = spoolAt(dir, sealed);
    await third.open();
    await third.append(['{"create":{"_id":"d"}}', '{"n":4}']);
    await third.sealNow();
    assert.equal(sealed.length, 1);
    assert.ok(sealed[0] > recovered[0]);
    await third.remove(recovered[0]);
    await third.close();
    assert.deepEqual((await readdir(dir)).sort(), [sealed[0]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('one spool directory, one owner; a full spool refuses without writing', async () => {
  const dir = await tempDir('spool');
  try {
    const owner = spoolAt(dir, [], 200);
    await owner.open();
    await assert.rejects(spoolAt(dir).open(), /in use by process/);
    await owner.append(['{"create":{}}', `{"x":"${'a'.repeat(100)}"}`]);
    const before = owner.bytes;
    await assert.rejects(owner.append(['{"create":{}}', `{"x":"${'b'.repeat(100)}"}`]), SpoolFullError);
    assert.equal(owner.bytes, before);
    await owner.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
