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
