import { formatError } from './errors.ts';

const TWO_POW_32 = 0x1_0000_0000;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Bounds-checked cursor over a byte array. Every read past the end throws a SymbolizerFormatError, so a
 * truncated or hostile file turns into an error for that file instead of garbage or a crash.
 *
 * 64-bit values are returned as JS numbers: user-space addresses and section sizes fit in 53 bits. Larger
 * values (DWARF tombstones such as 0xffffffffffffffff) lose precision but stay huge, which is all we need to
 * recognise and skip them.
 *
 * With a `base`, the bytes are a window of a larger section that starts at that offset: offsets stay the
 * section's (what DWARF references are relative to) while only the window is in memory.
 */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly littleEndian: boolean;
  readonly base: number;
  private readonly view: DataView;
  offset: number;

  constructor(bytes: Uint8Array, littleEndian: boolean, offset = 0, base = 0) {
    this.bytes = bytes;
    this.littleEndian = littleEndian;
    this.base = base;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  /** The offset just past the bytes (their length when there is no base). */
  get length(): number {
    return this.base + this.bytes.length;
  }

  get remaining(): number {
    return this.base + this.bytes.length - this.offset;
  }

  atEnd(): boolean {
    return this.offset >= this.base + this.bytes.length;
  }

  /** Advances over `count` bytes and returns the index (in `bytes`) of the first. */
  private need(count: number): number {
    const at = this.offset;
    const index = at - this.base;
    if (index < 0 || count < 0 || index + count > this.bytes.length) {
      throw formatError(`read of ${count} bytes past the end of a ${this.bytes.length}-byte buffer`, at);
    }
    this.offset = at + count;
    return index;
  }

  seek(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < this.base || offset > this.base + this.bytes.length) {
      throw formatError(`offset out of range of a ${this.bytes.length}-byte buffer`, offset);
    }
    this.offset = offset;
  }

  skip(count: number): void {
    this.need(count);
  }

  u8(): number {
    return this.bytes[this.need(1)];
  }

  i8(): number {
    return this.view.getInt8(this.need(1));
  }

  u16(): number {
    return this.view.getUint16(this.need(2), this.littleEndian);
  }

  u32(): number {
    return this.view.getUint32(this.need(4), this.littleEndian);
  }

  i32(): number {
    return this.view.getInt32(this.need(4), this.littleEndian);
  }

  u64(): number {
    const at = this.need(8);
    const first = this.view.getUint32(at, this.littleEndian);
    const second = this.view.getUint32(at + 4, this.littleEndian);
    return this.littleEndian ? second * TWO_POW_32 + first : first * TWO_POW_32 + second;
  }

  /** An unsigned integer of 1, 2, 4 or 8 bytes (address sizes, offset sizes). */
  uint(size: number): number {
    switch (size) {
      case 1:
        return this.u8();
      case 2:
        return this.u16();
      case 4:
        return this.u32();
      case 8:
        return this.u64();
      case 3: {
        const at = this.need(3);
        const b = this.bytes;
        return this.littleEndian
          ? b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)
          : (b[at] << 16) | (b[at + 1] << 8) | b[at + 2];
      }
      default:
        throw formatError(`unsupported integer size ${size}`, this.offset);
    }
  }

  uleb(): number {
    const b = this.bytes;
    const base = this.base;
    let at = this.offset - base;
    // One byte is the common case (abbreviation codes, forms, attribute names); past the end the
    // comparison with undefined fails and the loop below reports the truncation.
    const first = b[at];
    if (first < 0x80) {
      this.offset = base + at + 1;
      return first;
    }
    let result = 0;
    let multiplier = 1;
    for (;;) {
      if (at < 0 || at >= b.length) throw formatError('truncated LEB128', this.offset);
      const byte = b[at++];
      // Bits beyond 2^64 are dropped silently: they can only come from hostile input.
      if (multiplier < 2 ** 64) result += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) break;
    }
    this.offset = base + at;
    return result;
  }

  sleb(): number {
    const b = this.bytes;
    const base = this.base;
    let at = this.offset - base;
    const first = b[at];
    if (first < 0x80) {
      this.offset = base + at + 1;
      return first < 0x40 ? first : first - 0x80;
    }
    let result = 0;
    let multiplier = 1;
    let byte: number;
    do {
      if (at < 0 || at >= b.length) throw formatError('truncated LEB128', this.offset);
      byte = b[at++];
      if (multiplier < 2 ** 64) result += (byte & 0x7f) * multiplier;
      multiplier *= 128;
    } while (byte & 0x80);
    if (byte & 0x40 && multiplier < 2 ** 70) result -= multiplier;
    this.offset = base + at;
    return result;
  }

  /** A NUL-terminated string; throws if the terminator is missing. */
  cstring(): string {
    const start = this.offset - this.base;
    const end = start < 0 ? -1 : this.bytes.indexOf(0, start);
    if (end < 0) throw formatError('unterminated string', this.offset);
    this.offset = this.base + end + 1;
    return decodeAscii(this.bytes, start, end);
  }

  /** Skip a NUL-terminated string. */
  skipCString(): void {
    const start = this.offset - this.base;
    const end = start < 0 ? -1 : this.bytes.indexOf(0, start);
    if (end < 0) throw formatError('unterminated string', this.offset);
    this.offset = this.base + end + 1;
  }

  sub(start: number, length: number): Uint8Array {
    const index = start - this.base;
    if (index < 0 || length < 0 || index + length > this.bytes.length) {
      throw formatError(`range of ${length} bytes out of a ${this.bytes.length}-byte buffer`, start);
    }
    return this.bytes.subarray(index, index + length);
  }
}

/**
 * Node's own UTF-8 decoder, which Buffer uses and which accepts any Uint8Array: one native call giving a
 * flat string. Building names a character at a time made cons strings that every Map lookup then had to
 * flatten (glibc's names and file names took a tenth of range extraction's time and most of its garbage).
 */
const nativeUtf8Slice = (
  Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }
).utf8Slice;

/** Decode bytes [start, end) as UTF-8 (invalid sequences become U+FFFD). */
export function decodeAscii(bytes: Uint8Array, start: number, end: number): string {
  if (nativeUtf8Slice) return nativeUtf8Slice.call(bytes, start, end);
  return utf8.decode(bytes.subarray(start, end));
}

/** Read the NUL-terminated string at `offset` of a string table. */
export function stringAt(table: Uint8Array, offset: number): string {
  checkStringOffset(table, offset);
  let end = table.indexOf(0, offset);
  if (end < 0) end = table.length;
  return decodeAscii(table, offset, end);
}

/** Throws as `stringAt` would for an offset outside the table (for names decoded only later). */
export function checkStringOffset(table: Uint8Array, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= table.length) {
    throw formatError(`string offset out of range of a ${table.length}-byte string table`, offset);
  }
}
