/**
 * Bounded memory of what the store already holds, so stack traces, frames, executables and hosts seen in
 * every batch are written once instead of every time.
 */

/** A least-recently-used map: a JS Map keeps insertion order, so re-inserting on use moves a key to the back. */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new Error(`LRU capacity must be ≥ 0, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Reads a value and marks the key as just used. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    if (this.entries.has(key)) this.entries.delete(key);
    else if (this.entries.size >= this.capacity) this.evictOldest();
    this.entries.set(key, value);
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.entries.delete(oldest.value);
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
