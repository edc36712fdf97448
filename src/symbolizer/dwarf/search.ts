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

interface SortedColumns {
  lows: Float64Array;
  highs: Float64Array;
  payloads: Int32Array;
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

  /** From entries in any order, or (from `fromColumns`) columns already in the index's order. */
  constructor(entries: { low: number; high: number; payload: number }[] | SortedColumns) {
    if (!Array.isArray(entries)) {
      this.lows = entries.lows;
      this.highs = entries.highs;
      this.payloads = entries.payloads;
      this.maxHigh = runningMax(this.highs);
      return;
    }
    entries.sort((a, b) => a.low - b.low || b.high - a.high);
    const n = entries.length;
    this.lows = new Float64Array(n);
    this.highs = new Float64Array(n);
    this.payloads = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const e = entries[i];
      this.lows[i] = e.low;
      this.highs[i] = e.high;
      this.payloads[i] = e.payload;
    }
    this.maxHigh = runningMax(this.highs);
  }

  /**
   * The same index from parallel columns (entry i is lows[i], highs[i], payloads[i]), ordered as the
   * constructor orders entries (a stable sort): function indexes build thousands of ranges per unit and
   * need no object per range.
   */
  static fromColumns(
    lows: readonly number[],
    highs: readonly number[],
    payloads: readonly number[],
  ): RangeIndex {
    const n = lows.length;
    let sorted = true;
    for (let i = 1; i < n && sorted; i++)
      sorted = lows[i] > lows[i - 1] || (lows[i] === lows[i - 1] && highs[i] <= highs[i - 1]);
    const l = new Float64Array(n);
    const h = new Float64Array(n);
    const p = new Int32Array(n);
    if (sorted) {
      l.set(lows);
      h.set(highs);
      p.set(payloads);
    } else {
      // Array.prototype.sort is stable, as the constructor's sort of entries is.
      // A plain loop: Array.from over `{ length }` reads every index as a generic property.
      const order: number[] = [];
      for (let i = 0; i < n; i++) order.push(i);
      order.sort((a, b) => lows[a] - lows[b] || highs[b] - highs[a]);
      for (let i = 0; i < n; i++) {
        const from = order[i];
        l[i] = lows[from];
        h[i] = highs[from];
        p[i] = payloads[from];
      }
    }
    return new RangeIndex({ lows: l, highs: h, payloads: p });
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

function runningMax(values: Float64Array): Float64Array {
  const out = new Float64Array(values.length);
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    max = Math.max(max, values[i]);
    out[i] = max;
  }
  return out;
}
