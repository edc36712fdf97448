import type { SymbolRange } from '../../model/index.ts';

/**
 * One depth of a file's ranges, sorted by start. `maxEnd[i]` is the largest end among ranges 0..i, so a
 * lookup walks back from the last range starting at or before the address only while an earlier range can
 * still reach it: one step for well-formed symbols (ranges of one depth are disjoint), and still exact when
 * a file's ranges overlap.
 */
interface DepthRanges {
  starts: Float64Array;
  ends: Float64Array;
  maxEnd: Float64Array;
  /** Row of each sorted range in the columns the file was loaded from. */
  rows: Uint32Array;
}

/** A file's ranges as loaded: bounds as numbers, the rest built into a `SymbolRange` only when looked up. */
export interface RangeColumns {
  starts: readonly number[];
  ends: readonly number[];
  depths: readonly number[];
  /** The whole range of a row; called at most once per row. */
  build(row: number): SymbolRange;
}

/**
 * A file's symbol ranges in memory, answering "which ranges contain this address" in O(depths · log n).
 * Only the bounds are held as numbers; a range's names and line table stay as loaded until an address
 * falls in it (most ranges of a big file are never hit, and building them all cost most of a load).
 */
export class FileSymbols {
  private readonly depths: DepthRanges[] = [];
  private readonly built: (SymbolRange | undefined)[];
  readonly size: number;

  constructor(private readonly columns: RangeColumns) {
    const { starts, ends, depths } = columns;
    this.size = starts.length;
    this.built = new Array<SymbolRange | undefined>(this.size);
    const rowsByDepth: number[][] = [];
    for (let row = 0; row < this.size; row++) (rowsByDepth[depths[row]] ??= []).push(row);
    for (const list of rowsByDepth) {
      if (list === undefined) continue;
      list.sort((a, b) => starts[a] - starts[b]);
      const depth: DepthRanges = {
        starts: new Float64Array(list.length),
        ends: new Float64Array(list.length),
        maxEnd: new Float64Array(list.length),
        rows: Uint32Array.from(list),
      };
      let reach = -Infinity;
      for (let i = 0; i < list.length; i++) {
        depth.starts[i] = starts[list[i]];
        depth.ends[i] = ends[list[i]];
        reach = Math.max(reach, depth.ends[i]);
        depth.maxEnd[i] = reach;
      }
      this.depths.push(depth);
    }
  }

  /** The ranges containing `address`, shallowest depth first. */
  containing(address: number): SymbolRange[] {
    const found: SymbolRange[] = [];
    for (const { starts, ends, maxEnd, rows } of this.depths) {
      // The last range that starts at or before the address.
      let low = 0;
      let high = starts.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (starts[mid] <= address) low = mid + 1;
        else high = mid;
      }
      for (let i = low - 1; i >= 0 && maxEnd[i] > address; i--) {
        if (ends[i] > address) found.push(this.range(rows[i]));
      }
    }
    return found;
  }

  private range(row: number): SymbolRange {
    return (this.built[row] ??= this.columns.build(row));
  }
}

/**
 * Files' symbols kept in memory, least recently used dropped first once they hold more than `maxRanges`
 * ranges together. A file is only cached when it fits alone (bigger ones are answered by SQL). Each file has
 * a generation, bumped when its symbols are replaced, so that a load that raced with the replacement is not
 * cached.
 */
export class SymbolCache {
  private readonly files = new Map<string, FileSymbols>();
  private readonly generations = new Map<string, number>();
  private ranges = 0;

  constructor(readonly maxRanges: number) {}

  get(fileId: string): FileSymbols | undefined {
    const symbols = this.files.get(fileId);
    if (symbols !== undefined) {
      // Map order is insertion order: moving the entry to the end marks it most recently used.
      this.files.delete(fileId);
      this.files.set(fileId, symbols);
    }
    return symbols;
  }

  generation(fileId: string): number {
    return this.generations.get(fileId) ?? 0;
  }

  /** Caches a file's symbols loaded while its generation was `generation`, unless they changed since. */
  set(fileId: string, symbols: FileSymbols, generation: number): void {
    if (generation !== this.generation(fileId) || symbols.size > this.maxRanges) return;
    this.invalidate(fileId, false);
    this.files.set(fileId, symbols);
    this.ranges += symbols.size;
    for (const [oldest, old] of this.files) {
      if (this.ranges <= this.maxRanges) break;
      this.files.delete(oldest);
      this.ranges -= old.size;
    }
  }

  /** The file's symbols were replaced: drop them, and make loads begun before now not count. */
  invalidate(fileId: string, bump = true): void {
    const symbols = this.files.get(fileId);
    if (symbols !== undefined) {
      this.files.delete(fileId);
      this.ranges -= symbols.size;
    }
    if (bump) this.generations.set(fileId, this.generation(fileId) + 1);
  }
}
