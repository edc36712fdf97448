import { LIST, VARCHAR, listValue, type DuckDBConnection } from '@duckdb/node-api';
import { LruMap } from '../../model/lru-map.ts';

/** Like the stack numbers' caches: a few hundred bytes per entry, some tens of MB when full. */
export const DEFAULT_DIMENSIONS_CACHE = 200_000;

/**
 * `event_dims` ids by dimensions key, kept in memory as a bounded cache of the recently used ones: every
 * process and thread name of a fleet is a row, and they grow without end over weeks of deployments.
 *
 * While every id ever handed out still fits, a miss means new dimensions; past that, a write first looks its
 * unknown keys up in `event_dims` (`resolve`, by host, the one column every row has). Ids handed out in a
 * transaction count only once it commits.
 */
export class DimensionIds {
  private readonly ids: LruMap<string, number>;
  private readonly uncommitted = new Map<string, number>();
  /** Keys the running transaction looked up in the table: they must not get a new id, evicted or not. */
  private readonly resolved = new Map<string, number>();
  /** The next id to hand out; 0 is never handed out. */
  private next = 1;

  constructor(private readonly capacity = DEFAULT_DIMENSIONS_CACHE) {
    this.ids = new LruMap(capacity);
  }

  /** True while the cache holds every id handed out, so that a key it does not know is new. */
  get complete(): boolean {
    return this.next - 1 <= Math.floor(this.capacity / 2);
  }

  /** Ids held in memory (at most the capacity). */
  get cached(): number {
    return this.ids.size;
  }

  /** Adds a committed row of `event_dims`. */
  remember(key: string, id: number): void {
    this.ids.set(key, id);
    this.continueAfter(id);
  }

  /** The store's highest id so far, so that new ones follow it even when not all rows were loaded. */
  continueAfter(highest: number): void {
    this.next = Math.max(this.next, highest + 1);
  }

  /** The key's id if known (cached, looked up in this transaction, or handed out in it). */
  find(key: string): number | undefined {
    return this.ids.get(key) ?? this.uncommitted.get(key) ?? this.resolved.get(key);
  }

  /** Hands out the next id for a key not seen before (the caller appends its row). */
  assign(key: string): number {
    const id = this.next + this.uncommitted.size;
    this.uncommitted.set(key, id);
    return id;
  }

  /**
   * Before a write: once the cache may have forgotten some ids, looks the keys it does not know up in
   * `event_dims` (on the writer's connection, inside its transaction). `keysOfRow` turns the rows of the
   * keys' hosts into keys, as the writer builds them.
   */
  async resolve(
    connection: DuckDBConnection,
    wanted: ReadonlyMap<string, string>,
    keysOfRows: (rows: Record<string, unknown>[]) => { key: string; id: number }[],
  ): Promise<void> {
    if (this.complete) return;
    const hosts = new Set<string>();
    for (const [key, hostId] of wanted) {
      if (this.uncommitted.has(key) || this.resolved.has(key)) continue;
      // Pinned for the transaction: ids looked up below may push it out of the cache before it is used.
      const known = this.ids.get(key);
      if (known === undefined) hosts.add(hostId);
      else this.resolved.set(key, known);
    }
    if (hosts.size === 0) return;
    const reader = await connection.runAndReadAll(
      'SELECT * FROM event_dims WHERE host_id IN (SELECT unnest(?))',
      [listValue([...hosts])],
      [LIST(VARCHAR)],
    );
    for (const { key, id } of keysOfRows(reader.getRowObjectsJS())) {
      if (!wanted.has(key)) continue;
      this.resolved.set(key, id);
      this.remember(key, id);
    }
  }

  /** The transaction that appended the new ids' rows committed. */
  commit(): void {
    for (const [key, id] of this.uncommitted) this.remember(key, id);
    this.uncommitted.clear();
    this.resolved.clear();
  }

  /** The transaction rolled back: its ids are handed out again. */
  rollback(): void {
    this.uncommitted.clear();
    this.resolved.clear();
  }
}
