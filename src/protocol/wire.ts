/**
 * Protobuf wire-format primitives for the columnar decoder: a cursor over a byte array that reads varints
 * (including 64-bit ones as two 32-bit halves, so nothing is allocated), fixed-width values and
 * length-delimited ranges, and rejects truncated or malformed input.
 */
import { InvalidRequestError } from './errors.ts';

export const WireType = { Varint: 0, I64: 1, Len: 2, StartGroup: 3, EndGroup: 4, I32: 5 } as const;

const TWO_POW_32 = 4294967296;

export class WireCursor {
  pos: number;
  /** Set by varint64(): the halves of the last 64-bit varint read. */
  lo = 0;
  hi = 0;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
  ) {
    this.pos = start;
  }

  fail(problem: string): never {
    throw new InvalidRequestError('malformed_protobuf', `malformed protobuf at byte ${this.pos}: ${problem}`);
  }

  /** A varint whose value must fit 32 bits (tags, lengths, int32 fields: their high bits are dropped). */
  varint32(end: number): number {
    // Most tags, indices and lengths take one or two bytes (a request's location indices run to the tens of
    // thousands): a path small enough for the JIT to inline.
    const pos = this.pos;
    if (pos + 1 < end) {
      const byte = this.bytes[pos];
      if (byte < 0x80) {
        this.pos = pos + 1;
        return byte;
      }
      const second = this.bytes[pos + 1];
      if (second < 0x80) {
        this.pos = pos + 2;
        return (byte & 0x7f) | (second << 7);
      }
    } else if (pos < end && this.bytes[pos] < 0x80) {
      this.pos = pos + 1;
      return this.bytes[pos];
    }
    return this.varint32Slow(end);
  }

  private varint32Slow(end: number): number {
    const bytes = this.bytes;
    let pos = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) this.fail('truncated varint');
      const byte = bytes[pos++];
      result |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        return result;
      }
    }
    // Longer encodings (negative int32 values take ten bytes): the remaining bytes only carry high bits.
    for (let i = 0; i < 5; i++) {
      if (pos >= end) this.fail('truncated varint');
      if (bytes[pos++] < 0x80) {
        this.pos = pos;
        return result;
      }
    }
    return this.fail('varint longer than ten bytes');
  }

  /** A varint up to 64 bits, left in `lo` / `hi` as unsigned halves. */
  varint64(end: number): void {
    // Values below 2^28 (small numbers, user-space addresses as offsets) without the general loop.
    const pos = this.pos;
    const b = this.bytes;
    if (pos + 3 < end) {
      let byte = b[pos];
      let value = byte & 0x7f;
      if (byte < 0x80) return this.done64(pos + 1, value, 0);
      byte = b[pos + 1];
      value |= (byte & 0x7f) << 7;
      if (byte < 0x80) return this.done64(pos + 2, value, 0);
      byte = b[pos + 2];
      value |= (byte & 0x7f) << 14;
      if (byte < 0x80) return this.done64(pos + 3, value, 0);
      byte = b[pos + 3];
      value |= (byte & 0x7f) << 21;
      if (byte < 0x80) return this.done64(pos + 4, value, 0);
    }
    this.varint64Slow(end);
  }

  private varint64Slow(end: number): void {
    const bytes = this.bytes;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let byte: number;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.fail('truncated varint');
      byte = bytes[pos++];
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.done64(pos, lo, hi);
    }
    if (pos >= end) this.fail('truncated varint');
    byte = bytes[pos++];
    lo |= (byte & 0x0f) << 28;
    hi = (byte & 0x70) >>> 4;
    if (byte < 0x80) return this.done64(pos, lo, hi);
    for (let shift = 3; shift < 32; shift += 7) {
      if (pos >= end) this.fail('truncated varint');
      byte = bytes[pos++];
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.done64(pos, lo, hi);
    }
    return this.fail('varint longer than ten bytes');
  }

  private done64(pos: number, lo: number, hi: number): void {
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** The last varint64 as a signed number, or NaN when it is outside ±2^53. */
  signedNumber(): number {
    const value = (this.hi | 0) * TWO_POW_32 + this.lo;
    return Number.isSafeInteger(value) ? value : NaN;
  }

  fixed64(end: number): void {
    const pos = this.pos;
    if (pos + 8 > end) this.fail('truncated fixed64');
    const b = this.bytes;
    this.lo = (b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16) | (b[pos + 3] << 24)) >>> 0;
    this.hi = (b[pos + 4] | (b[pos + 5] << 8) | (b[pos + 6] << 16) | (b[pos + 7] << 24)) >>> 0;
    this.pos = pos + 8;
  }

  /** Reads a length prefix and returns the end of the delimited range. */
  delimited(end: number): number {
    const start = this.pos;
    const length = this.varint32(end) >>> 0;
    // varint32 keeps the low 32 bits: a prefix of 2 GiB or more (protobuf's limit) would come out as
    // whatever its low bits say, and the bytes after it would be read as other fields.
    if (this.pos - start >= 5 && (this.pos - start > 5 || this.bytes[start + 4] > 0x07)) {
      this.pos = start;
      this.fail('length prefix of 2 GiB or more');
    }
    const stop = this.pos + length;
    if (stop > end) this.fail(`length ${length} runs past the end of its message`);
    return stop;
  }

  skip(wireType: number, end: number, field: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.varint64(end);
        return;
      case WireType.I64:
        if (this.pos + 8 > end) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WireType.Len:
        this.pos = this.delimited(end);
        return;
      case WireType.I32:
        if (this.pos + 4 > end) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      case WireType.StartGroup:
        this.skipGroup(end, field);
        return;
      default:
        this.fail(`invalid wire type ${wireType} for field ${field}`);
    }
  }

  private skipGroup(end: number, field: number): void {
    for (;;) {
      if (this.pos >= end) this.fail(`group of field ${field} is not closed`);
      const tag = this.varint32(end);
      if ((tag & 7) === WireType.EndGroup) {
        if (tag >>> 3 !== field) this.fail(`group of field ${field} closed as field ${tag >>> 3}`);
        return;
      }
      this.skip(tag & 7, end, tag >>> 3);
    }
  }
}
