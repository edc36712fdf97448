/**
 * The query layer's cache of frame expansions (`LookupCache`): what it keeps must never show a reader
 * something other than what the store says, only say it sooner. Frames symbolized after a first query get
 * their names once the miss has expired, inline chains keep their order and lines, and a cache that started
 * over (it outgrew its limit) reads what it no longer keeps from the store again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expandStacks, LookupCache, type ExpandedStacks } from '../../src/query/frames.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { emptyBatch } from '../../src/model/index.ts';
import { FILES, STACKS, T0, fixtureBatch, nativeSymbols } from './fixture.ts';

const MISS_TTL_MS = 2_000;

/** Labels of one expanded stack, root first, with each frame's own source line. */
function labelled(expanded: ExpandedStacks, stackTraceId: string): string[] {
  const stack = expanded.stacks.get(stackTraceId);
  assert.ok(stack, `stack ${stackTraceId} expanded`);
  const lines = expanded.sourceLines(stackTraceId);
  assert.ok(lines, `source lines of ${stackTraceId}`);
  return Array.from(stack, (group, i) => {
    const { label, inline } = expanded.table.groups[group];
    return `${label}${inline ? ' (inline)' : ''}:${lines[i]}`;
  });
}

describe('frame expansions cached across queries', () => {
  let store: EmbeddedStore;
  let now = 0;
  const ids = [STACKS.s1.id, STACKS.s6.id, STACKS.s9.id];

  before(async () => {
    store = new EmbeddedStore({ path: ':memory:', seed: 7 });
    await store.open();
    // The collector's batch only: the app's native frames have no symbols yet.
    await store.write(fixtureBatch());
  });
  after(() => store.close());

  it('names frames symbolized after a first query once the miss expires, inline chains outermost first', async () => {
    const cache = new LookupCache(300_000, MISS_TTL_MS, () => now);
    now = 1_000_000;
    const first = await expandStacks(store, ids, cache);
    assert.deepEqual(labelled(first, STACKS.s1.id), ['app+0x1000:0', 'app+0x2000:0', 'libc.so.6+0x5000:0']);

    await store.writeStackFrames(nativeSymbols());
    now += MISS_TTL_MS / 2;
    const early = await expandStacks(store, ids, cache);
    assert.deepEqual(labelled(early, STACKS.s1.id), labelled(first, STACKS.s1.id), 'the miss is remembered');

    now += MISS_TTL_MS;
    const named = await expandStacks(store, ids, cache);
    assert.deepEqual(labelled(named, STACKS.s1.id), [
      'main:10',
      'process_request:42',
      'inlined_helper (inline):5',
      'libc.so.6+0x5000:0',
    ]);
    assert.deepEqual(labelled(named, STACKS.s9.id), [
      'main:10',
      'compress_block:140',
      'copy_words (inline):11',
      'load8 (inline):3',
      'file BgYGBgYG+0x100:0',
    ]);
    // One function is one group wherever it is met: main heads every stack with the same ID.
    const mains = ids.map((id) => named.stacks.get(id)?.[0]);
    assert.equal(new Set(mains).size, 1);
  });

  it('keeps a frame without symbols in its group until its executable is named, then names the group', async () => {
    const cache = new LookupCache(300_000, MISS_TTL_MS, () => now);
    now = 1_500_000;
    const first = await expandStacks(store, ids, cache);
    const libc = first.stacks.get(STACKS.s1.id)?.at(-1);
    const unknown = first.stacks.get(STACKS.s9.id)?.at(-1);
    assert.equal(first.table.groups[unknown ?? -1].label, 'file BgYGBgYG+0x100');

    const batch = emptyBatch();
    batch.executables = [{ fileId: FILES.unknown, fileName: 'libmystery.so', lastSeen: T0 }];
    await store.write(batch);
    now += MISS_TTL_MS + 1;
    const later = await expandStacks(store, ids, cache);
    // libc's frame was looked at again and still has no symbols: the same group, not a new one.
    assert.equal(later.stacks.get(STACKS.s1.id)?.at(-1), libc);
    const renamed = later.stacks.get(STACKS.s9.id)?.at(-1) ?? -1;
    assert.notEqual(renamed, unknown);
    assert.equal(later.table.groups[renamed].label, 'libmystery.so+0x100');
    assert.equal(later.table.groups[renamed].executable, 'libmystery.so');
  });

  it('reads symbols from the store again after starting over, with the same result', async () => {
    now = 2_000_000;
    const reference = await expandStacks(store, ids, new LookupCache(300_000, MISS_TTL_MS, () => now));
    // A limit of 1 entry: every query outgrows it, so the next one starts from an empty expansion state.
    const small = new LookupCache(1, MISS_TTL_MS, () => now);
    for (let round = 0; round < 3; round++) {
      const again = await expandStacks(store, ids, small);
      for (const id of ids) assert.deepEqual(labelled(again, id), labelled(reference, id), `round ${round}`);
      assert.notEqual(small.expansionState().table, again.table, 'the state started over after the query');
    }
  });
});
