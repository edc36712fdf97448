/**
 * The two hashes the Universal Profiling mapping needs on the ingest path, written for speed: no allocation
 * per byte and no BigInt in the FNV loop.
 *
 * - FNV-1a 128 (stack trace IDs). Same result as `Fnv1a128` in src/model/ids.ts, which stays the readable
 *   reference; this one keeps the state in four 32-bit limbs held in locals.
 * - XXH64 (synthetic file IDs of interpreted frames that come without one), as the OTLP → Universal Profiling
 *   exporter derives them, so IDs agree with what that exporter writes to Elasticsearch.
 */

const TWO_POW_32 = 4294967296;

/** FNV-1a 128 state: four 32-bit limbs, least significant first. */
export class FastFnv1a128 {
  private l0 = 0x6295c58d;
  private l1 = 0x62b82175;
  private l2 = 0x07bb0142;
  private l3 = 0x6c62272e;

  reset(): this {
    this.l0 = 0x6295c58d;
    this.l1 = 0x62b82175;
    this.l2 = 0x07bb0142;
    this.l3 = 0x6c62272e;
    return this;
  }

  /** Feeds bytes[start, end). */
  update(bytes: Uint8Array, start = 0, end = bytes.length): this {
    let l0 = this.l0;
    let l1 = this.l1;
    let l2 = this.l2;
    let l3 = this.l3;
    for (let i = start; i < end; i++) {
      l0 = (l0 ^ bytes[i]) >>> 0;
      // h·p mod 2^128 with p = 2^88 + 0x13b: h·0x13b plus h shifted left by 88 bits (two limbs and 24 bits).
      // Each product is below 2^41, so doubles hold it exactly.
      let v = l0 * 0x13b;
      const n0 = v >>> 0;
      v = l1 * 0x13b + Math.floor(v / TWO_POW_32);
      const n1 = v >>> 0;
      v = l2 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 & 0xff) * 0x1000000;
      const n2 = v >>> 0;
      v = l3 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 >>> 8) + (l1 & 0xff) * 0x1000000;
      l3 = v >>> 0;
      l0 = n0;
      l1 = n1;
      l2 = n2;
    }
    this.l0 = l0;
    this.l1 = l1;
    this.l2 = l2;
    this.l3 = l3;
    return this;
  }

  /** Feeds the characters of an ASCII string (decimal digits) as bytes, without encoding it first. */
  updateAscii(text: string): this {
    let l0 = this.l0;
    let l1 = this.l1;
    let l2 = this.l2;
    let l3 = this.l3;
    for (let i = 0; i < text.length; i++) {
      l0 = (l0 ^ (text.charCodeAt(i) & 0xff)) >>> 0;
      let v = l0 * 0x13b;
      const n0 = v >>> 0;
      v = l1 * 0x13b + Math.floor(v / TWO_POW_32);
      const n1 = v >>> 0;
      v = l2 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 & 0xff) * 0x1000000;
      const n2 = v >>> 0;
      v = l3 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 >>> 8) + (l1 & 0xff) * 0x1000000;
      l3 = v >>> 0;
      l0 = n0;
      l1 = n1;
      l2 = n2;
    }
    this.l0 = l0;
    this.l1 = l1;
    this.l2 = l2;
    this.l3 = l3;
    return this;
  }

  /** The 16-byte big-endian digest (as Go's hash.Sum writes it) into out[offset..offset+16). */
  digestInto<T extends Uint8Array>(out: T, offset = 0): T {
    writeUint32BE(out, offset, this.l3);
    writeUint32BE(out, offset + 4, this.l2);
    writeUint32BE(out, offset + 8, this.l1);
    writeUint32BE(out, offset + 12, this.l0);
    return out;
  }
}

function writeUint32BE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

const MASK64 = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

function rotl(value: bigint, bits: bigint): bigint {
  return ((value << bits) | (value >> (64n - bits))) & MASK64;
}

function round(accumulator: bigint, lane: bigint): bigint {
  const mixed = (accumulator + lane * P2) & MASK64;
  return (rotl(mixed, 31n) * P1) & MASK64;
}

function mergeRound(accumulator: bigint, value: bigint): bigint {
  const merged = accumulator ^ round(0n, value);
  return (merged * P1 + P4) & MASK64;
}

/**
 * XXH64 with seed 0. Only used once per distinct interpreted location without a file ID (results are cached by
 * the caller), so clarity wins over speed here.
 */
export function xxh64(input: Uint8Array): bigint {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const length = input.byteLength;
  let offset = 0;
  let hash: bigint;
  if (length >= 32) {
    let v1 = (P1 + P2) & MASK64;
    let v2 = P2;
    let v3 = 0n;
    let v4 = (0n - P1) & MASK64;
    for (; offset + 32 <= length; offset += 32) {
      v1 = round(v1, view.getBigUint64(offset, true));
      v2 = round(v2, view.getBigUint64(offset + 8, true));
      v3 = round(v3, view.getBigUint64(offset + 16, true));
      v4 = round(v4, view.getBigUint64(offset + 24, true));
    }
    hash = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK64;
    hash = mergeRound(hash, v1);
    hash = mergeRound(hash, v2);
    hash = mergeRound(hash, v3);
    hash = mergeRound(hash, v4);
  } else {
    hash = P5;
  }
  hash = (hash + BigInt(length)) & MASK64;
  for (; offset + 8 <= length; offset += 8) {
    hash ^= round(0n, view.getBigUint64(offset, true));
    hash = (rotl(hash, 27n) * P1 + P4) & MASK64;
  }
  if (offset + 4 <= length) {
    hash ^= (BigInt(view.getUint32(offset, true)) * P1) & MASK64;
    hash = (rotl(hash, 23n) * P2 + P3) & MASK64;
    offset += 4;
  }
  for (; offset < length; offset++) {
    hash ^= (BigInt(input[offset]) * P5) & MASK64;
    hash = (rotl(hash, 11n) * P1) & MASK64;
  }
  hash ^= hash >> 33n;
  hash = (hash * P2) & MASK64;
  hash ^= hash >> 29n;
  hash = (hash * P3) & MASK64;
  hash ^= hash >> 32n;
  return hash;
}
