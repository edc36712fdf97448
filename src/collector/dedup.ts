/**
 * Bounded memory of what the store already holds, so stack traces, frames, executables and hosts seen in
 * every batch are written once instead of every time.
 */

/**
 * An approximately least-recently-used map in two generations: hits in the young generation cost one lookup;
 * hits in the old one move the key to the young one; when the young generation holds half the capacity it
 * becomes the old one and the previous old one is dropped. Keys used at least once per half-capacity of
 * insertions therefore stay, at far less cost per hit than reordering a single map.
 */
export class LruMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generation: number;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new Error(`LRU capacity must be ≥ 0, got ${capacity}`);
    this.generation = Math.max(1, Math.floor(capacity / 2));
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** Reads a value and marks the key as just used. */
  get(key: K): V | undefined {
    const value = this.young.get(key);
    if (value !== undefined) return value;
    const aged = this.old.get(key);
    if (aged !== undefined) {
      this.old.delete(key);
      this.insertYoung(key, aged);
    }
    return aged;
  }

  has(key: K): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    this.old.delete(key);
    if (this.young.has(key)) this.young.set(key, value);
    else this.insertYoung(key, value);
  }

  delete(key: K): boolean {
    const inYoung = this.young.delete(key);
    return this.old.delete(key) || inYoung;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  private insertYoung(key: K, value: V): void {
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}

export interface DedupCapacities {
  stackTraces: number;
  stackFrames: number;
  executables: number;
  hosts: number;
}

export const DEFAULT_DEDUP_CAPACITIES: DedupCapacities = {
  stackTraces: 500_000,
  stackFrames: 500_000,
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
  readonly stackFrames: LruMap<string, true>;
  readonly executables: LruMap<string, number>;
  readonly hosts: LruMap<string, number>;

  constructor(capacities: DedupCapacities = DEFAULT_DEDUP_CAPACITIES) {
    this.stackTraces = new LruMap(capacities.stackTraces);
    this.stackFrames = new LruMap(capacities.stackFrames);
    this.executables = new LruMap(capacities.executables);
    this.hosts = new LruMap(capacities.hosts);
  }

  clear(): void {
    this.stackTraces.clear();
    this.stackFrames.clear();
    this.executables.clear();
    this.hosts.clear();
  }
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
