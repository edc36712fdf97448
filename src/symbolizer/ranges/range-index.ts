import { framesAt, type SymbolizedFrame, type SymbolRange } from '../../model/symbols.ts';
import { lastAtOrBelow } from '../dwarf/search.ts';

/** Deeper inline chains than this cannot come from a real compiler (the engine stops at 512 too). */
export const MAX_RANGE_DEPTH = 512;

/** The ranges of one depth sorted by start, with a running maximum of ends for a backward walk. */
interface DepthLevel {
  starts: Float64Array;
  ends: Float64Array;
  maxEnds: Float64Array;
  ranges: SymbolRange[];
}

/**
 * Throws RangeError on a malformed range. No closure per call: this runs for every range of a file, and a
 * function created per call is a cost of its own (under tsx, each is also renamed through a helper).
 */
function checkRange(range: SymbolRange): void {
  if (
    !Number.isFinite(range.start) ||
    !Number.isFinite(range.end) ||
    range.start < 0 ||
    range.end <= range.start
  )
    throw new RangeError(`${rangeName(range)}: start and end must be finite with 0 <= start < end`);
  if (!Number.isInteger(range.depth) || range.depth < 0 || range.depth > MAX_RANGE_DEPTH)
    throw new RangeError(`${rangeName(range)}: depth must be an integer in 0..${MAX_RANGE_DEPTH}`);
  if (range.lineOffsets.length !== range.lines.length)
    throw new RangeError(
      `${rangeName(range)}: ${range.lineOffsets.length} line offsets for ${range.lines.length} lines`,
    );
}

function byStartThenLongest(a: SymbolRange, b: SymbolRange): number {
  return a.start - b.start || b.end - a.end;
}

/** Whether `ranges` is already as `byStartThenLongest` sorts it. */
function inOrder(ranges: readonly SymbolRange[]): boolean {
  for (let i = 1; i < ranges.length; i++) {
    const a = ranges[i - 1];
    const b = ranges[i];
    if (a.start > b.start || (a.start === b.start && a.end < b.end)) return false;
  }
  return true;
}

function rangeName(range: SymbolRange): string {
  return `range [${range.start}, ${range.end}) at depth ${range.depth}`;
}

/**
 * A file's symbol ranges held in memory for lookups: per depth, starts and ends in sorted typed arrays,
 * so `containing` is a binary search per depth. Where ranges of one depth overlap (inconsistent input),
 * the one starting last wins, as in the engine's indexes.
 */
export class RangeIndex {
  private readonly depths: DepthLevel[] = [];
  readonly size: number;

  /** From chunks as `extractRanges` yields them (or any iterable of range arrays). Throws RangeError on a malformed range. */
  constructor(chunks: Iterable<readonly SymbolRange[]>) {
    const byDepth: SymbolRange[][] = [];
    let size = 0;
    for (const chunk of chunks) {
      for (const range of chunk) {
        checkRange(range);
        (byDepth[range.depth] ??= []).push(range);
        size++;
      }
    }
    this.size = size;
    for (let depth = 0; depth < byDepth.length; depth++) {
      const ranges = byDepth[depth] ?? [];
      // Extraction yields each depth nearly in order: sorting (stable) changes nothing when it already is,
      // and a comparator call per pair showed in building the index for 236,000 ranges.
      if (!inOrder(ranges)) ranges.sort(byStartThenLongest);
      const n = ranges.length;
      const level: DepthLevel = {
        starts: new Float64Array(n),
        ends: new Float64Array(n),
        maxEnds: new Float64Array(n),
        ranges,
      };
      let maxEnd = 0;
      for (let i = 0; i < n; i++) {
        level.starts[i] = ranges[i].start;
        level.ends[i] = ranges[i].end;
        maxEnd = Math.max(maxEnd, ranges[i].end);
        level.maxEnds[i] = maxEnd;
      }
      this.depths.push(level);
    }
  }

  /** From a flat list of ranges. */
  static of(ranges: readonly SymbolRange[]): RangeIndex {
    return new RangeIndex([ranges]);
  }

  /** Number of depths (1 + the deepest inline depth); 0 when empty. */
  get depthCount(): number {
    return this.depths.length;
  }

  /** The ranges of one depth, by start address (depth 0: the functions). */
  rangesAt(depth: number): readonly SymbolRange[] {
    return this.depths[depth]?.ranges ?? [];
  }

  /** The ranges containing the address, one per depth at most, outermost first. */
  containing(address: number): SymbolRange[] {
    const out: SymbolRange[] = [];
    for (const level of this.depths) {
      for (let i = lastAtOrBelow(level.starts, address); i >= 0 && level.maxEnds[i] > address; i--) {
        if (level.ends[i] > address) {
          out.push(level.ranges[i]);
          break;
        }
      }
    }
    return out;
  }

  /** The inline chain at an address, innermost first; [] when no range contains it. */
  symbolize(address: number): SymbolizedFrame[] {
    return framesAt(this.containing(address), address);
  }
}
