import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FrameState, FrameStates } from '../../src/collector/dedup.ts';

/** A frame ID as the translator spells it: file ID ‖ address-or-line big-endian, base64url. */
function frameId(fileId: Uint8Array, lo: number, hi: number): string {
  const bytes = Buffer.alloc(24);
  bytes.set(fileId, 0);
  bytes.writeUInt32BE(hi, 16);
  bytes.writeUInt32BE(lo, 20);
  return bytes.toString('base64url');
}

describe('frame states (what the store holds or has queued, by frame identity)', () => {
  it('answers the frames it holds, growing past its first table, and nothing else', () => {
    const states = new FrameStates(300_000);
    const files = Array.from({ length: 50 }, () => randomBytes(16));
    // 140,000 frames (a generation holds 150,000): many times the first table, whole files of neighbouring addresses.
    for (let i = 0; i < 140_000; i++)
      states.raise(files[i % 50], i, i % 3, i % 2 === 0 ? FrameState.Queued : FrameState.Stored);
    let forgotten = 0;
    for (let i = 0; i < 140_000; i++) {
      const state = states.get(files[i % 50], i, i % 3);
      if (state === FrameState.Unknown) forgotten++;
      else assert.equal(state, i % 2 === 0 ? FrameState.Queued : FrameState.Stored, `frame ${i}`);
    }
    // A crowded neighbourhood (32 slots in a table at most half full) overwrites a frame now and then.
    assert.ok(forgotten <= 20, `${forgotten} of 140,000 forgotten below the capacity`);
    // Same file and low half, another high half; another file; an address never set.
    assert.equal(states.get(files[0], 0, 1), FrameState.Unknown);
    assert.equal(states.get(randomBytes(16), 0, 0), FrameState.Unknown);
    assert.equal(states.get(files[1], 140_001, 0), FrameState.Unknown);
  });

  it('takes the whole address: halves at and above 2^31 and all ones', () => {
    const states = new FrameStates(100);
    const file = randomBytes(16);
    states.raise(file, 0xffffffff, 0x7fffffff, FrameState.Stored);
    states.raise(file, 0x80000000, 0, FrameState.QueuedLeaf);
    assert.equal(states.get(file, 0xffffffff, 0x7fffffff), FrameState.Stored);
    assert.equal(states.get(file, 0x80000000, 0), FrameState.QueuedLeaf);
    assert.equal(states.get(file, 0x7fffffff, 0xffffffff), FrameState.Unknown);
  });

  it('only advances: queued → queued as a leaf → stored, never back', () => {
    const states = new FrameStates(100);
    const file = randomBytes(16);
    states.raise(file, 10, 0, FrameState.Queued);
    states.raise(file, 10, 0, FrameState.QueuedLeaf);
    assert.equal(states.get(file, 10, 0), FrameState.QueuedLeaf);
    states.raise(file, 10, 0, FrameState.Queued);
    assert.equal(states.get(file, 10, 0), FrameState.QueuedLeaf, 'a leaf stays a leaf');
    states.raise(file, 10, 0, FrameState.Stored);
    states.raise(file, 10, 0, FrameState.QueuedLeaf);
    assert.equal(states.get(file, 10, 0), FrameState.Stored);
  });

  it('forgets a frame by its frame ID, and everything on clear', () => {
    const states = new FrameStates(100);
    const file = randomBytes(16);
    states.raise(file, 0x9abcdef0, 0x12345678, FrameState.Stored);
    states.raise(file, 7, 0, FrameState.Queued);
    states.forget(frameId(file, 0x9abcdef0, 0x12345678));
    assert.equal(states.get(file, 0x9abcdef0, 0x12345678), FrameState.Unknown);
    assert.equal(states.get(file, 7, 0), FrameState.Queued, 'only that frame');
    states.forget('not a frame id');
    states.raise(file, 0x9abcdef0, 0x12345678, FrameState.Queued);
    assert.equal(
      states.get(file, 0x9abcdef0, 0x12345678),
      FrameState.Queued,
      'a forgotten frame starts over',
    );
    states.clear();
    assert.equal(states.get(file, 7, 0), FrameState.Unknown);
  });

  it('stays within its capacity, overwriting older frames, and never answers a wrong frame', () => {
    const states = new FrameStates(1_000);
    const file = randomBytes(16);
    for (let i = 0; i < 20_000; i++)
      states.raise(file, i, 0, i % 2 === 0 ? FrameState.Queued : FrameState.Stored);
    let held = 0;
    for (let i = 0; i < 20_000; i++) {
      const state = states.get(file, i, 0);
      if (state === FrameState.Unknown) continue;
      held++;
      assert.equal(state, i % 2 === 0 ? FrameState.Queued : FrameState.Stored, `frame ${i}`);
    }
    assert.ok(held <= 1_000, `at most the capacity (${held})`);
    assert.ok(held >= 500, `at least the young generation (${held})`);
    assert.equal(states.get(file, 19_999, 0), FrameState.Stored, 'the newest frame is there');
  });

  it('keeps a frame that is used while others come and go', () => {
    const states = new FrameStates(1_000);
    const hot = randomBytes(16);
    const file = randomBytes(16);
    states.raise(hot, 1, 0, FrameState.QueuedLeaf);
    for (let i = 0; i < 20_000; i++) {
      states.raise(file, i, 0, FrameState.Queued);
      if (i % 400 === 0) assert.equal(states.get(hot, 1, 0), FrameState.QueuedLeaf, `after ${i} others`);
    }
    assert.equal(states.get(file, 0, 0), FrameState.Unknown, 'an old frame nobody used is gone');
  });

  it('with capacity 0 remembers nothing', () => {
    const states = new FrameStates(0);
    const file = randomBytes(16);
    states.raise(file, 1, 0, FrameState.Stored);
    assert.equal(states.get(file, 1, 0), FrameState.Unknown);
  });
});
