import type { DuckDBAppender } from '@duckdb/node-api';

/**
 * Events name their stack trace by a small number the store hands out (`stack_numbers` maps it to the
 * base64url ID), as they name their dimensions by `dims_id`. A number is 4 bytes copied straight into the
 * events' data chunks, where a 22-character string costs a native call per row; on disk the numbers compress
 * to a byte or two per row and group in a query faster than strings or 128-bit integers.
 *
 * The whole map lives in memory (about 100 bytes per distinct stack) so that both writing and turning query
 * results back into IDs are a lookup. Numbers handed out in a transaction count only once it commits.
 */
export class StackNumbers {
  private readonly numbers = new Map<string, number>();
  /** IDs by number; number 0 is never handed out. */
  private readonly ids: string[] = [''];
  private readonly uncommitted = new Map<string, number>();

  constructor(private readonly appender: DuckDBAppender) {}

  /** Adds committed rows of `stack_numbers`. */
  load(numbers: readonly number[], ids: readonly string[]): void {
    for (let i = 0; i < numbers.length; i++) {
      this.numbers.set(ids[i], numbers[i]);
      this.ids[numbers[i]] = ids[i];
    }
  }

  /** The ID's number, handing out (and appending a row for) the next one for an ID not seen before. */
  numberOf(id: string): number {
    const known = this.numbers.get(id) ?? this.uncommitted.get(id);
    if (known !== undefined) return known;
    const number = this.ids.length + this.uncommitted.size;
    this.uncommitted.set(id, number);
    this.appender.appendUInteger(number);
    this.appender.appendVarchar(id);
    this.appender.endRow();
    return number;
  }

  /** The transaction that appended the new numbers' rows committed. */
  commit(): void {
    for (const [id, number] of this.uncommitted) {
      this.numbers.set(id, number);
      this.ids[number] = id;
    }
    this.uncommitted.clear();
  }

  /** The transaction rolled back (the caller clears the appender): its numbers are handed out again. */
  rollback(): void {
    this.uncommitted.clear();
  }

  /** The ID of a number read from an events table. */
  idOf(number: number): string {
    const id = this.ids[number] ?? this.uncommittedId(number);
    if (id === undefined || number === 0) {
      throw new Error(`the embedded store has no stack trace numbered ${number} in stack_numbers`);
    }
    return id;
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
