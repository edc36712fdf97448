import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { LruMap } from '../../model/lru-map.ts';

/** About 100 bytes per stack in each direction: some 40 MB when full. */
export const DEFAULT_STACK_NUMBER_CACHE = 200_000;

/**
 * Events name their stack trace by a small number the store hands out (`stack_numbers` maps it to the
 * base64url ID), as they name their dimensions by `dims_id`. A number is 4 bytes copied straight into the
 * events' data chunks, where a 22-character string costs a native call per row; on disk the numbers compress
 * to a byte or two per row and group in a query faster than strings or 128-bit integers.
 *
 * The map is kept in memory in both directions, as bounded caches of the recently used stacks (a fleet's
 * distinct stacks grow without end over weeks of deployments). While every number ever handed out still fits,
 * a miss means a new stack and costs nothing more; past that, a write first looks its unknown IDs up in
 * `stack_numbers` (`resolveIds`) and a query its unknown numbers (`loadNumbers`). Numbers handed out in a
 * transaction count only once it commits.
 */
export class StackNumbers {
  private readonly numbers: LruMap<string, number>;
  private readonly ids: LruMap<number, string>;
  private readonly uncommitted = new Map<string, number>();
  /** IDs the running transaction looked up in the table: they must not be numbered again, evicted or not. */
  private readonly resolved = new Map<string, number>();
  /** The next number to hand out; 0 is never handed out. */
  private next = 1;

  constructor(
    private readonly appender: DuckDBAppender,
    private readonly capacity = DEFAULT_STACK_NUMBER_CACHE,
  ) {
    this.numbers = new LruMap(capacity);
    this.ids = new LruMap(capacity);
  }

  /**
   * True while the caches hold every number handed out (a two-generation cache keeps at least half its
   * capacity), so that an ID they do not know is new.
   */
  get complete(): boolean {
    return this.next - 1 <= Math.floor(this.capacity / 2);
  }

  /** Adds committed rows of `stack_numbers` (the most recent ones when there are more than fit). */
  load(numbers: readonly number[], ids: readonly string[]): void {
    for (let i = 0; i < numbers.length; i++) this.remember(ids[i], numbers[i]);
  }

  /** The store's highest number so far, so that new ones follow it even when not all rows were loaded. */
  continueAfter(highest: number): void {
    this.next = Math.max(this.next, highest + 1);
  }

  /**
   * Before a write whose events name `ids`: once the caches may have forgotten some numbers, looks the unknown
   * IDs up in `stack_numbers` (on the writer's connection, inside its transaction).
   */
  async resolveIds(connection: DuckDBConnection, ids: Iterable<string>): Promise<void> {
    if (this.complete) return;
    const unknown = new Set<string>();
    for (const id of ids) {
      if (this.uncommitted.has(id) || this.resolved.has(id)) continue;
      // Pinned for the transaction: numbers looked up below may push it out of the cache before it is used.
      const known = this.numbers.get(id);
      if (known === undefined) unknown.add(id);
      else this.resolved.set(id, known);
    }

    if (unknown.size === 0) return;
    const reader = await connection.runAndReadAll(
      "SELECT no, id FROM stack_numbers WHERE id IN (SELECT unnest(string_split(?, ',')))",
      [[...unknown].join(',')],
    );
    if (reader.currentRowCount === 0) return;
    const [numbers, found] = reader.getColumnsJS() as [number[], string[]];
    for (let i = 0; i < numbers.length; i++) {
      this.resolved.set(found[i], numbers[i]);
      this.remember(found[i], numbers[i]);
    }
  }

  /** The ID's number, handing out (and appending a row for) the next one for an ID not seen before. */
  numberOf(id: string): number {
    const known = this.numbers.get(id) ?? this.uncommitted.get(id) ?? this.resolved.get(id);
    if (known !== undefined) return known;
    const number = this.next + this.uncommitted.size;
    this.uncommitted.set(id, number);
    this.appender.appendUInteger(number);
    this.appender.appendVarchar(id);
    this.appender.endRow();
    return number;
  }

  /** The transaction that appended the new numbers' rows committed. */
  commit(): void {
    // Remembering each number moves `next` past it.
    for (const [id, number] of this.uncommitted) this.remember(id, number);
    this.uncommitted.clear();
    this.resolved.clear();
  }

  /** The transaction rolled back (the caller clears the appender): its numbers are handed out again. */
  rollback(): void {
    this.uncommitted.clear();
    this.resolved.clear();
  }

  /**
   * Before reading query results: looks up in `stack_numbers` the numbers the cache does not know, and returns
   * the lookup to use for all of `numbers`.
   */
  async loadNumbers(
    connection: DuckDBConnection,
    numbers: readonly number[],
  ): Promise<(number: number) => string> {
    // Every answer is kept here: reading the cache moves entries between its generations and may drop others.
    const found = new Map<number, string>();
    const unknown = new Set<number>();
    for (const number of numbers) {
      if (found.has(number)) continue;
      const id = this.ids.get(number);
      if (id === undefined) unknown.add(number);
      else found.set(number, id);
    }
    if (unknown.size > 0 && !this.complete) {
      const reader = await connection.runAndReadAll(
        "SELECT no, id FROM stack_numbers WHERE no IN (SELECT unnest(string_split(?, ','))::UINTEGER)",
        [[...unknown].join(',')],
      );
      if (reader.currentRowCount > 0) {
        const [nos, ids] = reader.getColumnsJS() as [number[], string[]];
        for (let i = 0; i < nos.length; i++) found.set(nos[i], ids[i]);
      }
    }
    return (number) => found.get(number) ?? this.idOf(number);
  }

  /** The ID of a number read from an events table (one the cache holds: see `loadNumbers`). */
  idOf(number: number): string {
    const id = this.ids.get(number) ?? this.uncommittedId(number);
    if (id === undefined || number === 0) {
      throw new Error(`the embedded store has no stack trace numbered ${number} in stack_numbers`);
    }
    return id;
  }

  private remember(id: string, number: number): void {
    this.numbers.set(id, number);
    this.ids.set(number, id);
    this.continueAfter(number);
  }

  /**
   * A query may read rows of a transaction that has committed in the database before the writer has been
   * told so (and called `commit()`); their numbers are still in the uncommitted map.
   */
  private uncommittedId(number: number): string | undefined {
    for (const [id, candidate] of this.uncommitted) if (candidate === number) return id;
    return undefined;
  }
}
