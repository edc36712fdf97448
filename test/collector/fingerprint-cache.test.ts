import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FingerprintIdCache } from '../../src/collector/dedup.ts';

describe('fingerprint → stack trace ID cache', () => {
  it('finds what it holds and nothing else', () => {
    const cache = new FingerprintIdCache(1000);
    for (let i = 0; i < 1000; i++) cache.insert(i * 7919, i, -i, i ^ 0x5bd1e995, `id-${i}`);
    for (let i = 0; i < 1000; i++) {
      const slot = cache.find(i * 7919, i, -i, i ^ 0x5bd1e995);
      assert.ok(slot >= 0, `entry ${i}`);
      assert.equal(cache.idAt(slot), `id-${i}`);
    }
    // Same first lane (same home slot), any other lane different: a different fingerprint.
    assert.equal(cache.find(7919, 1, -1, 0), -1);
    assert.equal(cache.find(7919, 2, -1, 1 ^ 0x5bd1e995), -1);
  });

  it('never answers a wrong ID when fingerprints crowd one neighbourhood', () => {
    const cache = new FingerprintIdCache(16);
    // Forty fingerprints with the same home slot: more than a neighbourhood holds.
    for (let i = 0; i < 40; i++) cache.insert(5, i, i, i, `id-${i}`);
    let found = 0;
    for (let i = 0; i < 40; i++) {
      const slot = cache.find(5, i, i, i);
      if (slot < 0) continue;
      found++;
      assert.equal(cache.idAt(slot), `id-${i}`);
    }
    assert.ok(found >= 8, `a full neighbourhood keeps at least its size (${found})`);
    assert.ok(found < 40, 'the oldest were overwritten');
    assert.ok(cache.find(5, 39, 39, 39) >= 0, 'the newest entry is there');
  });

  it('keeps "stored" per fingerprint until forgotten, and a new entry starts unstored', () => {
    const cache = new FingerprintIdCache(100);
    cache.insert(1, 2, 3, 4, 'a');
    cache.insert(9, 2, 3, 4, 'b');
    assert.equal(cache.isStored(cache.find(1, 2, 3, 4)), false);
    cache.markStored(1, 2, 3, 4);
    cache.markStored(7, 7, 7, 7); // not held: no effect, no error
    assert.equal(cache.isStored(cache.find(1, 2, 3, 4)), true);
    assert.equal(cache.isStored(cache.find(9, 2, 3, 4)), false);
    cache.forgetStored();
    assert.equal(cache.isStored(cache.find(1, 2, 3, 4)), false);
    assert.equal(cache.idAt(cache.find(1, 2, 3, 4)), 'a', 'IDs outlive forgetting what is stored');
  });
});
