/**
 * Bounded memory of what the store already holds, so stack traces, frames, executables and hosts seen in
 * every batch are written once instead of every time.
 */

import { FILE_ID_BYTES } from '../model/ids.ts';
import { LruMap } from '../model/lru-map.ts';

export { LruMap };

export interface DedupCapacities {
  stackTraces: number;
  /** Frames whose document the store holds, and native frames queued for the symbolizer, together. */
  frames: number;
  executables: number;
  hosts: number;
}

export const DEFAULT_DEDUP_CAPACITIES: DedupCapacities = {
  stackTraces: 500_000,
  frames: 1_000_000,
  executables: 100_000,
  hosts: 100_000,
};

/**
 * What is known to be stored. Stack traces and frames never change once written, so knowing the ID is enough.
 * Executables and hosts carry a "last seen" time that the store must keep fresh, so for them the cache keeps
 * when they were last written and they are written again once that is older than the refresh interval.
 */
export class StoredItems {
  readonly stackTraces: LruMap<string, true>;
  readonly frames: FrameStates;
  readonly executables: LruMap<string, number>;
  readonly hosts: LruMap<string, number>;

  constructor(capacities: DedupCapacities = DEFAULT_DEDUP_CAPACITIES) {
    this.stackTraces = new LruMap(capacities.stackTraces);
    this.frames = new FrameStates(capacities.frames);
    this.executables = new LruMap(capacities.executables);
    this.hosts = new LruMap(capacities.hosts);
  }

  /** Forgets these IDs (rows the store is about to delete), so later batches carry them again if needed. */
  forget(ids: StoredIds): void {
    for (const id of ids.stackTraces ?? []) this.stackTraces.delete(id);
    for (const id of ids.stackFrames ?? []) this.frames.forget(id);
    for (const id of ids.executables ?? []) this.executables.delete(id);
  }

  clear(): void {
    this.stackTraces.clear();
    this.frames.clear();
    this.executables.clear();
    this.hosts.clear();
  }
}

/** What the store is known to hold of a frame. */
export const FrameState = {
  Unknown: 0,
  /** Queued for the symbolizer as a frame inside stacks. */
  Queued: 1,
  /** Queued as a stack's leaf (see PendingFrame.leaf): a frame first queued inside a stack is queued again as one. */
  QueuedLeaf: 2,
  /** Its frame document (the agent symbolized it): nothing left to queue. */
  Stored: 3,
} as const;
export type FrameStateValue = (typeof FrameState)[keyof typeof FrameState];

/** Lanes of a frame's key: its file ID as four 32-bit words, then its address-or-line's low and high halves. */
const FRAME_KEY_LANES = 6;
const FIRST_FRAME_SLOTS = 1 << 12;
/** Slot marks besides the states: never used (ends a probe), and forgotten (a probe goes on past it). */
const EMPTY_SLOT = 0;
const FORGOTTEN_SLOT = 255;
/** Slots probed from a frame's home slot before one of them is overwritten. */
const FRAME_PROBES = 32;

/**
 * Frame states by frame identity (file ID and address-or-line), for a capacity's worth of recently used
 * frames in two generations, as LruMap keeps them: a frame found in the old one moves to the young one, and
 * when the young one holds half the capacity it becomes the old one and the previous old one is dropped.
 * Only stack traces new to the translator look frames up, but that is half a million frames in a fleet's first
 * minute: string keys in Maps cost a probe per generation, a string and an entry per frame, and showed as the
 * largest item of translating a cold fleet; here a lookup hashes a few words and reads a few cache lines.
 */
export class FrameStates {
  private young: FrameTable;
  private old: FrameTable;
  private readonly generation: number;
  private readonly maxSlots: number;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new Error(`frame state capacity must be ≥ 0, got ${capacity}`);
    this.generation = Math.max(1, Math.floor(capacity / 2));
    // At most half full, so that probes stay short.
    this.maxSlots = 2 ** Math.ceil(Math.log2(Math.max(16, 2 * this.generation)));
    this.young = new FrameTable(this.maxSlots);
    this.old = new FrameTable(this.maxSlots);
  }

  /** `fileId`: the 16 bytes of the file ID; `lo`, `hi`: the address-or-line's unsigned 32-bit halves. */
  get(fileId: Uint8Array, lo: number, hi: number): FrameStateValue {
    if (this.capacity === 0) return FrameState.Unknown;
    const k0 = word(fileId, 0);
    const k1 = word(fileId, 4);
    const k2 = word(fileId, 8);
    const k3 = word(fileId, 12);
    const state = this.young.get(k0, k1, k2, k3, lo | 0, hi | 0);
    if (state !== FrameState.Unknown || this.old.size === 0) return state;
    const aged = this.old.take(k0, k1, k2, k3, lo | 0, hi | 0);
    if (aged !== FrameState.Unknown) this.insertYoung(k0, k1, k2, k3, lo | 0, hi | 0, aged);
    return aged;
  }

  /** Records `state` unless the frame is known in a later one (states only advance). */
  raise(fileId: Uint8Array, lo: number, hi: number, state: FrameStateValue): void {
    if (this.capacity === 0) return;
    const k0 = word(fileId, 0);
    const k1 = word(fileId, 4);
    const k2 = word(fileId, 8);
    const k3 = word(fileId, 12);
    if (this.young.raise(k0, k1, k2, k3, lo | 0, hi | 0, state)) return;
    const aged = this.old.size === 0 ? FrameState.Unknown : this.old.take(k0, k1, k2, k3, lo | 0, hi | 0);
    this.insertYoung(k0, k1, k2, k3, lo | 0, hi | 0, Math.max(aged, state));
  }

  /** Forgets a frame by its frame ID (file ID ‖ address-or-line big-endian, base64url). */
  forget(frameId: string): void {
    const bytes = Buffer.from(frameId, 'base64url');
    if (bytes.length !== FRAME_ID_BYTES) return;
    const key = [word(bytes, 0), word(bytes, 4), word(bytes, 8), word(bytes, 12)] as const;
    const lo = bytes.readInt32BE(FILE_ID_BYTES + 4);
    const hi = bytes.readInt32BE(FILE_ID_BYTES);
    this.young.take(...key, lo, hi);
    this.old.take(...key, lo, hi);
  }

  clear(): void {
    this.young = new FrameTable(this.maxSlots);
    this.old = new FrameTable(this.maxSlots);
  }

  private insertYoung(
    k0: number,
    k1: number,
    k2: number,
    k3: number,
    lo: number,
    hi: number,
    state: number,
  ): void {
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new FrameTable(this.maxSlots);
    }
    this.young.insert(k0, k1, k2, k3, lo, hi, state);
  }
}

/**
 * One generation of FrameStates: an open-addressing table of typed arrays (linear probing) that doubles
 * while half full, up to `maxSlots`. When a key's neighbourhood is full one of its entries is overwritten: a
 * forgotten frame only costs the store a duplicate it ignores. The key is the whole identity, so an answer is
 * never another frame's.
 */
class FrameTable {
  private keys: Int32Array;
  private states: Uint8Array;
  private mask: number;
  /** Frames held. */
  size = 0;
  /** Slots not empty (forgotten ones included, until the table grows). */
  private used = 0;
  private nextVictim = 0;

  constructor(private readonly maxSlots: number) {
    const slots = Math.min(maxSlots, FIRST_FRAME_SLOTS);
    this.keys = new Int32Array(FRAME_KEY_LANES * slots);
    this.states = new Uint8Array(slots);
    this.mask = slots - 1;
  }

  get(k0: number, k1: number, k2: number, k3: number, lo: number, hi: number): FrameStateValue {
    const slot = this.find(k0, k1, k2, k3, lo, hi);
    return slot < 0 ? FrameState.Unknown : (this.states[slot] as FrameStateValue);
  }

  /** Raises a frame it holds to `state` (states only advance); false if it does not hold the frame. */
  raise(k0: number, k1: number, k2: number, k3: number, lo: number, hi: number, state: number): boolean {
    const slot = this.find(k0, k1, k2, k3, lo, hi);
    if (slot < 0) return false;
    if (this.states[slot] < state) this.states[slot] = state;
    return true;
  }

  /** Removes a frame, returning its state (Unknown if not held). */
  take(k0: number, k1: number, k2: number, k3: number, lo: number, hi: number): FrameStateValue {
    const slot = this.find(k0, k1, k2, k3, lo, hi);
    if (slot < 0) return FrameState.Unknown;
    const state = this.states[slot] as FrameStateValue;
    this.states[slot] = FORGOTTEN_SLOT;
    this.size--;
    return state;
  }

  /** Adds a frame it does not hold. */
  insert(k0: number, k1: number, k2: number, k3: number, lo: number, hi: number, state: number): void {
    if (this.used + 1 > this.states.length / 2 && this.states.length < this.maxSlots) this.grow();
    const states = this.states;
    const start = home(k0, lo, hi) & this.mask;
    let slot = start;
    for (let p = 0; states[slot] !== EMPTY_SLOT && states[slot] !== FORGOTTEN_SLOT; p++) {
      if (p === FRAME_PROBES - 1) {
        // A full neighbourhood: overwrite one of its frames, a different one each time.
        slot = (start + (this.nextVictim++ % FRAME_PROBES)) & this.mask;
        this.size--;
        break;
      }
      slot = (slot + 1) & this.mask;
    }
    if (states[slot] === EMPTY_SLOT) this.used++;
    const at = FRAME_KEY_LANES * slot;
    const keys = this.keys;
    keys[at] = k0;
    keys[at + 1] = k1;
    keys[at + 2] = k2;
    keys[at + 3] = k3;
    keys[at + 4] = lo;
    keys[at + 5] = hi;
    states[slot] = state;
    this.size++;
  }

  /** The slot holding this frame, or -1. */
  private find(k0: number, k1: number, k2: number, k3: number, lo: number, hi: number): number {
    const keys = this.keys;
    const states = this.states;
    for (
      let p = 0, slot = home(k0, lo, hi) & this.mask;
      p < FRAME_PROBES;
      p++, slot = (slot + 1) & this.mask
    ) {
      const state = states[slot];
      if (state === EMPTY_SLOT) return -1;
      if (state === FORGOTTEN_SLOT) continue;
      const at = FRAME_KEY_LANES * slot;
      if (
        keys[at + 4] === lo &&
        keys[at] === k0 &&
        keys[at + 1] === k1 &&
        keys[at + 2] === k2 &&
        keys[at + 3] === k3 &&
        keys[at + 5] === hi
      )
        return slot;
    }
    return -1;
  }

  /** Doubles the table, moving every frame over (and leaving forgotten slots behind). */
  private grow(): void {
    const keys = this.keys;
    const states = this.states;
    const slots = 2 * states.length;
    this.keys = new Int32Array(FRAME_KEY_LANES * slots);
    this.states = new Uint8Array(slots);
    this.mask = slots - 1;
    this.size = 0;
    this.used = 0;
    for (let slot = 0; slot < states.length; slot++) {
      const state = states[slot];
      if (state === EMPTY_SLOT || state === FORGOTTEN_SLOT) continue;
      const at = FRAME_KEY_LANES * slot;
      this.insert(keys[at], keys[at + 1], keys[at + 2], keys[at + 3], keys[at + 4], keys[at + 5], state);
    }
  }
}

const FRAME_ID_BYTES = FILE_ID_BYTES + 8;

/** A little-endian 32-bit word of `bytes` at `at`. */
function word(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}

/** The home slot (before masking): murmur3's finalizer over the file's first word and the address. */
function home(k0: number, lo: number, hi: number): number {
  let h = k0 ^ Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi, 0x7feb352d);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** IDs of stored rows, by kind: what the store is about to delete (see StoredItems.forget). */
export interface StoredIds {
  stackTraces?: readonly string[];
  stackFrames?: readonly string[];
  executables?: readonly string[];
}

/**
 * Synthetic file IDs of interpreted frames by (function name, file name, line/column), in nested maps so a
 * lookup reuses the strings the request already holds instead of building a key. Bounded by starting over
 * when full: recomputing an ID is cheap compared with tracking recency on this path.
 */
export class SyntheticIdCache {
  private entries = new Map<string, Map<string, Map<number, Uint8Array>>>();
  private count = 0;

  constructor(readonly capacity: number) {}

  get(name: string, file: string, position: number): Uint8Array | undefined {
    return this.entries.get(name)?.get(file)?.get(position);
  }

  set(name: string, file: string, position: number, fileId: Uint8Array): void {
    if (this.count >= this.capacity) {
      this.entries = new Map();
      this.count = 0;
    }
    let byFile = this.entries.get(name);
    if (!byFile) this.entries.set(name, (byFile = new Map()));
    let byPosition = byFile.get(file);
    if (!byPosition) byFile.set(file, (byPosition = new Map()));
    if (!byPosition.has(position)) this.count++;
    byPosition.set(position, fileId);
  }
}

/**
 * Stack trace IDs by a 128-bit content fingerprint given as four 32-bit lanes, with whether the store holds
 * the trace, in an open-addressing table of typed arrays: a lookup hashes nothing and allocates nothing, which
 * a Map with 53-bit number keys (heap numbers) or 22-character string keys cannot offer on a path taken for
 * every stack of every request. When a key's neighbourhood is full one of its entries is overwritten: a
 * forgotten ID is only recomputed, a forgotten "stored" only checked again. The table doubles while half full,
 * up to the capacity's size: a collector with few stacks does not carry 25 MB of empty slots.
 */
export class FingerprintIdCache {
  private lanes: Int32Array;
  private ids: (string | undefined)[];
  private stored: Uint8Array;
  private mask: number;
  private readonly maxSlots: number;
  /** IDs held. */
  private size = 0;
  private nextVictim = 0;

  constructor(capacity: number) {
    this.maxSlots = 2 ** Math.max(4, Math.ceil(Math.log2(Math.max(1, capacity) * 1.5)));
    const slots = Math.min(this.maxSlots, FIRST_FINGERPRINT_SLOTS);
    this.mask = slots - 1;
    this.lanes = new Int32Array(4 * slots);
    this.ids = new Array<string | undefined>(slots).fill(undefined);
    this.stored = new Uint8Array(slots);
  }

  /** The slot holding this fingerprint, or -1. */
  find(h1: number, h2: number, h3: number, h4: number): number {
    const lanes = this.lanes;
    for (let p = 0, slot = h1 & this.mask; p < PROBES; p++, slot = (slot + 1) & this.mask) {
      const at = 4 * slot;
      if (lanes[at] === h1 && lanes[at + 1] === h2 && lanes[at + 2] === h3 && lanes[at + 3] === h4) {
        if (this.ids[slot] !== undefined) return slot;
      }
    }
    return -1;
  }

  idAt(slot: number): string {
    return this.ids[slot]!;
  }

  isStored(slot: number): boolean {
    return this.stored[slot] === 1;
  }

  /** Adds a fingerprint it does not hold (slots found before an insert are not valid after it). */
  insert(h1: number, h2: number, h3: number, h4: number, id: string, stored = false): void {
    if (this.size + 1 > this.ids.length / 2 && this.ids.length < this.maxSlots) this.grow();
    const home = h1 & this.mask;
    let slot = home;
    for (let p = 0; this.ids[slot] !== undefined; p++, slot = (slot + 1) & this.mask) {
      if (p === PROBES - 1) {
        // A full neighbourhood: overwrite one of its slots, a different one each time.
        slot = (home + (this.nextVictim++ % PROBES)) & this.mask;
        this.size--;
        break;
      }
    }
    const at = 4 * slot;
    this.lanes[at] = h1;
    this.lanes[at + 1] = h2;
    this.lanes[at + 2] = h3;
    this.lanes[at + 3] = h4;
    this.ids[slot] = id;
    this.stored[slot] = stored ? 1 : 0;
    this.size++;
  }

  /** Doubles the table, moving every entry over. */
  private grow(): void {
    const { lanes, ids, stored } = this;
    const slots = 2 * ids.length;
    this.mask = slots - 1;
    this.lanes = new Int32Array(4 * slots);
    this.ids = new Array<string | undefined>(slots).fill(undefined);
    this.stored = new Uint8Array(slots);
    this.size = 0;
    for (let slot = 0; slot < ids.length; slot++) {
      const id = ids[slot];
      if (id === undefined) continue;
      const at = 4 * slot;
      this.insert(lanes[at], lanes[at + 1], lanes[at + 2], lanes[at + 3], id, stored[slot] === 1);
    }
  }

  /** Notes that the store holds the trace with this fingerprint, if the cache still knows it. */
  markStored(h1: number, h2: number, h3: number, h4: number): void {
    const slot = this.find(h1, h2, h3, h4);
    if (slot >= 0) this.stored[slot] = 1;
  }

  /** Forgets what is stored (IDs stay: they never change). */
  forgetStored(): void {
    this.stored.fill(0);
  }

  /** Forgets that these stack traces are stored: one pass over the table, for a run of the store's retention. */
  forgetStoredIds(ids: ReadonlySet<string>): void {
    for (let slot = 0; slot < this.ids.length; slot++) {
      const id = this.ids[slot];
      if (id !== undefined && ids.has(id)) this.stored[slot] = 0;
    }
  }
}

/** Slots probed from a fingerprint's home slot. */
const PROBES = 8;
const FIRST_FINGERPRINT_SLOTS = 1 << 12;
