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

  it('grows from a small table while keeping every ID and stored flag, up to its capacity', () => {
    const cache = new FingerprintIdCache(500_000);
    // Far more than the first table's slots: it doubles several times on the way.
    const entries = 200_000;
    for (let i = 0; i < entries; i++) {
      cache.insert(Math.imul(i, 0x9e3779b1), i, ~i, i * 3, `id-${i}`);
      if (i % 3 === 0) cache.markStored(Math.imul(i, 0x9e3779b1), i, ~i, i * 3);
    }
    let found = 0;
    for (let i = 0; i < entries; i++) {
      const slot = cache.find(Math.imul(i, 0x9e3779b1), i, ~i, i * 3);
      if (slot < 0) continue;
      found++;
      assert.equal(cache.idAt(slot), `id-${i}`);
      assert.equal(cache.isStored(slot), i % 3 === 0, `stored flag of ${i}`);
    }
    // Only a crowded neighbourhood may drop an entry; well-spread fingerprints in a half-empty table do not.
    assert.ok(found > entries * 0.999, `${found} of ${entries} found after growing`);

    const small = new FingerprintIdCache(16);
    for (let i = 0; i < 1000; i++) small.insert(Math.imul(i, 0x9e3779b1), i, i, i, `id-${i}`);
    let kept = 0;
    for (let i = 0; i < 1000; i++) if (small.find(Math.imul(i, 0x9e3779b1), i, i, i) >= 0) kept++;
    assert.ok(kept <= 32, `a capacity of 16 holds at most its 32 slots (${kept})`);
    assert.ok(small.find(Math.imul(999, 0x9e3779b1), 999, 999, 999) >= 0, 'the newest entry is there');
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
