import { endianness } from 'node:os';

/**
 * Stack trace IDs in the events tables are UHUGEINT: 16 bytes copied straight into DuckDB's vectors instead of
 * a 22-character string per row. The number is the ID's 16 bytes read big-endian, so `hex(stacktrace_id)`
 * in SQL shows the ID's bytes in order (left-padded to 32 digits).
 *
 * DuckDB keeps a UHUGEINT in memory as (lower 64 bits, upper 64 bits), each in the host's byte order. On a
 * little-endian host that is the number's 16 bytes least significant first, i.e. the ID's bytes reversed,
 * written here as four 32-bit words: ID bytes 12..15, 8..11, 4..7, 0..3, each read big-endian.
 */
export const TRACE_ID_WORDS = 4;
const TRACE_ID_BYTES = 16;
const TRACE_ID_CHARS = 22;

/** The word layout above is that of a little-endian host; called when a store opens. */
export function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') {
    throw new Error(
      'the embedded store writes stack trace IDs in little-endian memory order; this host is big-endian',
    );
  }
}

/** Writes the UHUGEINT memory image of a base64url stack trace ID into `words` at `at`. */
export function traceIdToWords(id: string, words: Uint32Array, at: number): void {
  const bytes = Buffer.from(id, 'base64url');
  // Buffer's decoder skips what is not base64url, and a 22nd character with stray low bits decodes to the
  // same bytes as the canonical one: only an ID that re-encodes to itself reads back as written.
  if (id.length !== TRACE_ID_CHARS || bytes.length !== TRACE_ID_BYTES || bytes.toString('base64url') !== id) {
    throw new Error(`stack trace ID "${id}" is not 16 bytes of unpadded base64url`);
  }
  words[at] = bytes.readUInt32BE(12);
  words[at + 1] = bytes.readUInt32BE(8);
  words[at + 2] = bytes.readUInt32BE(4);
  words[at + 3] = bytes.readUInt32BE(0);
}

/** The base64url stack trace ID of a UHUGEINT read from an events table. */
export function traceIdFromUHugeInt(value: bigint): string {
  const bytes = Buffer.allocUnsafe(TRACE_ID_BYTES);
  bytes.writeBigUInt64BE(value >> 64n, 0);
  bytes.writeBigUInt64BE(BigInt.asUintN(64, value), 8);
  return bytes.toString('base64url');
}

/** Distinct IDs remembered before the cache starts over (16 bytes of words plus a map entry each). */
const CACHE_CAPACITY = 1 << 18;

/**
 * Memory images of recently written stack trace IDs. A fleet's hot stacks come back in every request, so
 * decoding and checking each ID once instead of once per event pays; when full, the cache simply starts over.
 */
export class TraceIdWords {
  /** Four words per cached ID, at `slot * TRACE_ID_WORDS`. */
  readonly words = new Uint32Array(CACHE_CAPACITY * TRACE_ID_WORDS);
  private readonly slots = new Map<string, number>();

  /** The offset in `words` of the ID's image; throws for a malformed ID. */
  offsetOf(id: string): number {
    const slot = this.slots.get(id);
    if (slot !== undefined) return slot;
    if (this.slots.size === CACHE_CAPACITY) this.slots.clear();
    const offset = this.slots.size * TRACE_ID_WORDS;
    traceIdToWords(id, this.words, offset);
    this.slots.set(id, offset);
    return offset;
  }
}
