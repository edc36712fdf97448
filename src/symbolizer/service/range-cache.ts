/**
 * The worker's copy of hot files' symbol ranges, so that new frames of an executable already symbolized are
 * answered by in-memory lookups instead of a store search per batch (on Elasticsearch 0.7–1 s per 5,000
 * addresses). Bounded by an estimate of the bytes the ranges take, least recently used dropped first.
 *
 * Every entry carries the version of the symbols it was read from (`SymbolizationStore.symbolsVersion`: the
 * Elasticsearch marker's generation, the embedded store's upload time), and is used only while the store
 * still reports that version. The store answers that in real time, so a new upload of the file — by this
 * process or any other replica sharing the store — makes the entry stale at once; no time-to-live can be
 * both short enough for that and long enough to help.
 */
import type { SymbolRange } from '../../model/index.ts';
import { RangeIndex } from '../ranges/range-index.ts';

/**
 * Rough heap cost of one range held in a RangeIndex: the object and its fields, its two line arrays (8 bytes
 * an entry plus headers) and its strings (UTF-16 at worst; names decoded from a store are not shared).
 */
export function rangeBytes(range: SymbolRange): number {
  const strings = range.functionName.length + range.fileName.length + range.callFileName.length;
  return 200 + 2 * strings + 16 * range.lines.length;
}

/** Average bytes a range takes, for deciding before a load whether a file can fit at all. */
export const TYPICAL_RANGE_BYTES = 400;

interface Entry {
  version: string;
  index: RangeIndex;
  bytes: number;
}

export class RangeCache {
  private readonly entries = new Map<string, Entry>();
  private used = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  get files(): number {
    return this.entries.size;
  }

  /** The file's ranges if held for this version; an entry of another version is dropped. */
  get(fileId: string, version: string): RangeIndex | undefined {
    const entry = this.entries.get(fileId);
    if (entry === undefined) return undefined;
    this.drop(fileId);
    if (entry.version !== version) return undefined;
    // Map order is insertion order: put back at the end, the most recently used.
    this.entries.set(fileId, entry);
    this.used += entry.bytes;
    return entry.index;
  }

  /** Whether `ranges` ranges could be held at all (a file larger than the whole cache is not loaded). */
  couldHold(ranges: number): boolean {
    return ranges * TYPICAL_RANGE_BYTES <= this.maxBytes;
  }

  /** Holds the file's ranges of `version`, evicting the least recently used; returns the index either way. */
  set(fileId: string, version: string, ranges: readonly SymbolRange[]): RangeIndex {
    const index = RangeIndex.of(ranges);
    let bytes = 0;
    for (const range of ranges) bytes += rangeBytes(range);
    this.drop(fileId);
    if (bytes > this.maxBytes) return index;
    this.entries.set(fileId, { version, index, bytes });
    this.used += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.used -= entry.bytes;
    }
    return index;
  }

  drop(fileId: string): void {
    const entry = this.entries.get(fileId);
    if (entry === undefined) return;
    this.entries.delete(fileId);
    this.used -= entry.bytes;
  }
}
