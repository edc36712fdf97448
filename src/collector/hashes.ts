/**
 * XXH64, for the synthetic file IDs of interpreted frames that come without one: derived as the OTLP →
 * Universal Profiling exporter derives them, so IDs agree with what that exporter writes to Elasticsearch.
 */

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
