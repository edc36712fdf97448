/**
 * A chunk of symbol ranges as the extraction thread sends it to the main thread: numbers in typed arrays
 * (moved, not copied) and each distinct string once. Posting the ranges as objects made V8 serialize and
 * rebuild every field of every range: for a 4.4-million-range file that was a third of the service's CPU time
 * (a chunk of ranges costs about a sixth as much this way).
 *
 * The main thread moves the buffers back once it has read them, and the thread packs the next chunk into
 * them (`BufferPool`): buffers moved to the main thread and left there are memory outside V8's heap that it
 * collects late (the 516 MB benchmark file's peak RSS grew by a fifth).
 */
import type { SymbolRange } from '../../model/symbols.ts';

export interface PackedRanges {
  /** start, end, depth, functionLine, callLine per range. */
  numbers: Float64Array;
  /** functionName, fileName, callFileName per range, as indexes into `strings`. */
  stringIndexes: Uint32Array;
  strings: string[];
  /** Line table entries per range; their offsets and lines follow each other in `lineOffsets` / `lines`. */
  lineCounts: Uint32Array;
  lineOffsets: Float64Array;
  lines: Float64Array;
}

const NUMBERS = 5;
const STRINGS = 3;

/** Spare buffers, kept to pack later chunks into. */
export class BufferPool {
  private readonly spare: ArrayBuffer[] = [];

  give(buffers: readonly ArrayBuffer[]): void {
    for (const buffer of buffers)
      if (buffer.byteLength > 0 && this.spare.length < MAX_SPARE) this.spare.push(buffer);
  }

  /** The smallest spare buffer of at least `bytes`, else a new one. */
  take(bytes: number): ArrayBuffer {
    if (bytes === 0) return new ArrayBuffer(0);
    let best = -1;
    for (let i = 0; i < this.spare.length; i++) {
      const size = this.spare[i].byteLength;
      if (size >= bytes && (best < 0 || size < this.spare[best].byteLength)) best = i;
    }
    return best >= 0 ? this.spare.splice(best, 1)[0] : new ArrayBuffer(bytes);
  }
}

/** One chunk's buffers and the next one's in flight: more are never needed at once. */
const MAX_SPARE = 10;

export function packRanges(ranges: readonly SymbolRange[], pool = new BufferPool()): PackedRanges {
  const count = ranges.length;
  let lineTotal = 0;
  for (const range of ranges) lineTotal += range.lines.length;
  const floats = (length: number) => new Float64Array(pool.take(length * 8), 0, length);
  const words = (length: number) => new Uint32Array(pool.take(length * 4), 0, length);
  const packed: PackedRanges = {
    numbers: floats(count * NUMBERS),
    stringIndexes: words(count * STRINGS),
    strings: [],
    lineCounts: words(count),
    lineOffsets: floats(lineTotal),
    lines: floats(lineTotal),
  };
  const { numbers, stringIndexes, strings, lineCounts, lineOffsets, lines } = packed;
  const indexes = new Map<string, number>();
  const indexOf = (text: string): number => {
    let index = indexes.get(text);
    if (index === undefined) {
      index = strings.length;
      strings.push(text);
      indexes.set(text, index);
    }
    return index;
  };
  let line = 0;
  for (let i = 0; i < count; i++) {
    const range = ranges[i];
    numbers[i * NUMBERS] = range.start;
    numbers[i * NUMBERS + 1] = range.end;
    numbers[i * NUMBERS + 2] = range.depth;
    numbers[i * NUMBERS + 3] = range.functionLine;
    numbers[i * NUMBERS + 4] = range.callLine;
    stringIndexes[i * STRINGS] = indexOf(range.functionName);
    stringIndexes[i * STRINGS + 1] = indexOf(range.fileName);
    stringIndexes[i * STRINGS + 2] = indexOf(range.callFileName);
    const rangeLines = range.lines;
    lineCounts[i] = rangeLines.length;
    for (let j = 0; j < rangeLines.length; j++) {
      lineOffsets[line] = range.lineOffsets[j];
      lines[line++] = rangeLines[j];
    }
  }
  return packed;
}

/** The buffers `postMessage` can move instead of copying. */
export function transferablesOf(packed: PackedRanges): ArrayBuffer[] {
  const { numbers, stringIndexes, lineCounts, lineOffsets, lines } = packed;
  return [numbers, stringIndexes, lineCounts, lineOffsets, lines].map((array) => array.buffer as ArrayBuffer);
}

export function unpackRanges(packed: PackedRanges): SymbolRange[] {
  const { numbers, stringIndexes, strings, lineCounts, lineOffsets, lines } = packed;
  const out: SymbolRange[] = [];
  let line = 0;
  for (let i = 0; i < lineCounts.length; i++) {
    const lineCount = lineCounts[i];
    // Exactly sized: arrays grown by push leave their smaller copies behind as garbage.
    const rangeOffsets = new Array<number>(lineCount);
    const rangeLines = new Array<number>(lineCount);
    for (let j = 0; j < lineCount; j++) {
      rangeOffsets[j] = lineOffsets[line];
      rangeLines[j] = lines[line++];
    }
    out.push({
      start: numbers[i * NUMBERS],
      end: numbers[i * NUMBERS + 1],
      depth: numbers[i * NUMBERS + 2],
      functionName: strings[stringIndexes[i * STRINGS]],
      functionLine: numbers[i * NUMBERS + 3],
      fileName: strings[stringIndexes[i * STRINGS + 1]],
      callFileName: strings[stringIndexes[i * STRINGS + 2]],
      callLine: numbers[i * NUMBERS + 4],
      lineOffsets: rangeOffsets,
      lines: rangeLines,
    });
  }
  return out;
}
