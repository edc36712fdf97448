/** Index of the last element <= value in an ascending array, or -1. */
export function lastAtOrBelow(sorted: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * Possibly overlapping [low, high) ranges with payloads, sorted by low, plus a running maximum of high so
 * a lookup can walk back from the last low <= address and stop as soon as no earlier range can reach it.
 * The match with the greatest low wins: for nested ranges that is the innermost one.
 */
export class RangeIndex {
  readonly lows: Float64Array;
  readonly highs: Float64Array;
  readonly payloads: Int32Array;
  private readonly maxHigh: Float64Array;

  constructor(entries: { low: number; high: number; payload: number }[]) {
    entries.sort((a, b) => a.low - b.low || b.high - a.high);
    const n = entries.length;
    this.lows = new Float64Array(n);
    this.highs = new Float64Array(n);
    this.payloads = new Int32Array(n);
    this.maxHigh = new Float64Array(n);
    let max = 0;
    for (let i = 0; i < n; i++) {
      const e = entries[i];
      this.lows[i] = e.low;
      this.highs[i] = e.high;
      this.payloads[i] = e.payload;
      max = Math.max(max, e.high);
      this.maxHigh[i] = max;
    }
  }

  get size(): number {
    return this.lows.length;
  }

  /** Payload of the innermost range containing the address (and accepted, if a test is given), or -1. */
  find(address: number, accept?: (payload: number) => boolean): number {
    for (let i = lastAtOrBelow(this.lows, address); i >= 0 && this.maxHigh[i] > address; i--) {
      if (this.highs[i] > address && (!accept || accept(this.payloads[i]))) return this.payloads[i];
    }
    return -1;
  }

  /** Like `find`, accepting only ranges whose payload's parent (in `parents`) is `parent`. */
  findChild(address: number, parents: ArrayLike<number>, parent: number): number {
    for (let i = lastAtOrBelow(this.lows, address); i >= 0 && this.maxHigh[i] > address; i--) {
      if (this.highs[i] > address && parents[this.payloads[i]] === parent) return this.payloads[i];
    }
    return -1;
  }
}
