/**
 * XXH64, for the synthetic file IDs of interpreted frames that come without one: derived as the OTLP →
 * Universal Profiling exporter derives them, so IDs agree with what that exporter writes to Elasticsearch.
 *
 * xxhash-wasm rather than 64-bit BigInt arithmetic in JS: a fleet arriving at a fresh collector brings every
 * interpreted frame new at once, and the BigInt version cost some 10 µs per frame there (a tenth of the cold
 * path's CPU).
 */
import xxhash from 'xxhash-wasm';

const { h64Raw } = await xxhash();

/** XXH64 with seed 0. */
export function xxh64(input: Uint8Array): bigint {
  return h64Raw(input, 0n);
}
