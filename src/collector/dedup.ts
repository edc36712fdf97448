/**
 * Bounded memory of what the store already holds, so stack traces, frames, executables and hosts seen in
 * every batch are written once instead of every time.
 */

import { LruMap } from '../model/lru-map.ts';

export { LruMap };

export interface DedupCapacities {
  stackTraces: number;
  stackFrames: number;
  executables: number;
  hosts: number;
  /** Native frames known to be queued for the symbolizer (or symbolized). */
  queuedFrames: number;
}

export const DEFAULT_DEDUP_CAPACITIES: DedupCapacities = {
  stackTraces: 500_000,
  stackFrames: 500_000,
  executables: 100_000,
  hosts: 100_000,
  queuedFrames: 500_000,
};

/**
 * What is known to be stored. Stack traces and frames never change once written, so knowing the ID is enough.
 * Executables and hosts carry a "last seen" time that the store must keep fresh, so for them the cache keeps
 * when they were last written and they are written again once that is older than the refresh interval.
 */
export class StoredItems {
  readonly stackTraces: LruMap<string, true>;
  readonly stackFrames: LruMap<string, true>;
  readonly executables: LruMap<string, number>;
  readonly hosts: LruMap<string, number>;
  /**
   * Only saves work: the store ignores frames it already queued, so forgetting one costs a duplicate
   * queue entry at most. The value says whether it was queued as a stack's leaf (see PendingFrame.leaf): a
   * frame first queued inside a stack is queued again when it turns up as a leaf.
   */
  readonly queuedFrames: LruMap<string, boolean>;

  constructor(capacities: DedupCapacities = DEFAULT_DEDUP_CAPACITIES) {
    this.stackTraces = new LruMap(capacities.stackTraces);
    this.stackFrames = new LruMap(capacities.stackFrames);
    this.executables = new LruMap(capacities.executables);
    this.hosts = new LruMap(capacities.hosts);
    this.queuedFrames = new LruMap(capacities.queuedFrames);
  }

  /** Forgets these IDs (rows the store is about to delete), so later batches carry them again if needed. */
  forget(ids: StoredIds): void {
    for (const id of ids.stackTraces ?? []) this.stackTraces.delete(id);
    for (const id of ids.stackFrames ?? []) {
      this.stackFrames.delete(id);
      this.queuedFrames.delete(id);
    }
    for (const id of ids.executables ?? []) this.executables.delete(id);
  }

  clear(): void {
    this.stackTraces.clear();
    this.stackFrames.clear();
    this.executables.clear();
    this.hosts.clear();
    this.queuedFrames.clear();
  }
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
 * forgotten ID is only recomputed, a forgotten "stored" only checked again.
 */
export class FingerprintIdCache {
  private readonly lanes: Int32Array;
  private readonly ids: (string | undefined)[];
  private readonly stored: Uint8Array;
  private readonly mask: number;
  private nextVictim = 0;

  constructor(capacity: number) {
    const slots = 2 ** Math.max(4, Math.ceil(Math.log2(Math.max(1, capacity) * 1.5)));
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

  insert(h1: number, h2: number, h3: number, h4: number, id: string): void {
    const home = h1 & this.mask;
    let slot = home;
    for (let p = 0; this.ids[slot] !== undefined; p++, slot = (slot + 1) & this.mask) {
      if (p === PROBES - 1) {
        // A full neighbourhood: overwrite one of its slots, a different one each time.
        slot = (home + (this.nextVictim++ % PROBES)) & this.mask;
        break;
      }
    }
    const at = 4 * slot;
    this.lanes[at] = h1;
    this.lanes[at + 1] = h2;
    this.lanes[at + 2] = h3;
    this.lanes[at + 3] = h4;
    this.ids[slot] = id;
    this.stored[slot] = 0;
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
