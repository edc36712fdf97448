/**
 * The worker's range cache (src/symbolizer/service/range-cache.ts): entries answer only for the symbols'
 * version they were read under, and the least recently used go first once the bytes exceed the bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SymbolRange } from '../../src/model/index.ts';
import { RangeCache, rangeBytes } from '../../src/symbolizer/service/range-cache.ts';

function ranges(count: number, name: string): SymbolRange[] {
  return Array.from({ length: count }, (_, i) => ({
    start: 0x1000 + i * 0x100,
    end: 0x1000 + i * 0x100 + 0x80,
    depth: 0,
    functionName: `${name}_${i}`,
    functionLine: 10,
    fileName: '/src/a.c',
    callFileName: '',
    callLine: 0,
    lineOffsets: [0, 0x40],
    lines: [11, 12],
  }));
}

const bytesOf = (list: SymbolRange[]) => list.reduce((sum, r) => sum + rangeBytes(r), 0);

test('an entry answers for its version only; another version drops it', () => {
  const cache = new RangeCache(1 << 20);
  const a = ranges(10, 'a');
  const index = cache.set('file-a', 'v1', a);
  assert.deepEqual(index.symbolize(0x1010)[0]?.functionName, 'a_0');
  assert.equal(cache.get('file-a', 'v1'), index);
  assert.equal(cache.bytes, bytesOf(a));
  assert.equal(cache.get('file-a', 'v2'), undefined, 'symbols stored since: stale');
  assert.equal(cache.get('file-a', 'v1'), undefined, 'and gone');
  assert.equal(cache.bytes, 0);
  assert.equal(cache.files, 0);
});

test('least recently used files go first once the bytes pass the bound; a file over it is not held', () => {
  const a = ranges(10, 'a');
  const cache = new RangeCache(bytesOf(a) * 2 + 1);
  cache.set('a', 'v', a);
  cache.set('b', 'v', ranges(10, 'b'));
  assert.ok(cache.get('a', 'v'), 'a used: b is now the least recently used');
  cache.set('c', 'v', ranges(10, 'c'));
  assert.equal(cache.files, 2);
  assert.ok(cache.get('a', 'v'));
  assert.ok(cache.get('c', 'v'));
  assert.equal(cache.get('b', 'v'), undefined, 'b evicted');
  assert.ok(cache.bytes <= cache.maxBytes);
  const huge = ranges(30, 'huge');
  const index = cache.set('huge', 'v', huge);
  assert.equal(index.symbolize(0x1010)[0]?.functionName, 'huge_0', 'the index is returned all the same');
  assert.equal(cache.get('huge', 'v'), undefined);
  assert.equal(cache.files, 2, 'and nothing else was evicted for it');
  assert.equal(cache.couldHold(1), true);
  assert.equal(cache.couldHold(1_000_000), false);
});
