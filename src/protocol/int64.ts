/**
 * 64-bit integers on the OTLP wire. protobufjs decodes them as Long objects (two 32-bit halves), which keep
 * every bit: addresses of kernel frames are above 2^63 and would be corrupted by a JS number. Requests built
 * in code (load generator, tests) may also give a plain number when the value is a safe integer.
 */
export interface Int64Bits {
  low: number;
  high: number;
  unsigned?: boolean;
}

export type Int64 = number | Int64Bits;

const TWO_POW_32 = 4294967296;

/** The value as an unsigned 64-bit bigint (two's complement for negative inputs). */
export function toUint64(value: Int64 | null | undefined): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'number') return BigInt.asUintN(64, BigInt(value));
  return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
}

/** The value as a signed 64-bit bigint. */
export function toInt64(value: Int64 | null | undefined): bigint {
  return BigInt.asIntN(64, toUint64(value));
}

/** True when the value is exactly zero, without allocating. */
export function isZero(value: Int64 | null | undefined): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value === 'number') return value === 0;
  return value.low === 0 && value.high === 0;
}

/**
 * A signed 64-bit value as a number, or undefined when it is outside ±2^53 (the caller decides whether that is
 * an error). Used for counts, line numbers and periods, which are small in practice.
 */
export function toSafeNumber(value: Int64 | null | undefined): number | undefined {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  const high = value.unsigned ? value.high >>> 0 : value.high | 0;
  const result = high * TWO_POW_32 + (value.low >>> 0);
  return Number.isSafeInteger(result) ? result : undefined;
}

/** floor(value / 1e9) for an unsigned nanosecond timestamp, exactly and without allocating. */
export function nanosToSeconds(value: Int64): number {
  if (typeof value === 'number') return Math.floor(value / 1e9);
  return nanosHalvesToSeconds(value.low >>> 0, value.high >>> 0);
}

/**
 * floor(nanoseconds / 1e9) for an unsigned 64-bit value given as 32-bit halves: long division by 1e9 over four
 * 16-bit digits, so every intermediate stays below 2^53 and the result is exact.
 */
export function nanosHalvesToSeconds(lo: number, hi: number): number {
  let current = hi >>> 16;
  let q = Math.floor(current / 1e9);
  let quotient = q;
  current = (current - q * 1e9) * 65536 + (hi & 0xffff);
  q = Math.floor(current / 1e9);
  quotient = quotient * 65536 + q;
  current = (current - q * 1e9) * 65536 + (lo >>> 16);
  q = Math.floor(current / 1e9);
  quotient = quotient * 65536 + q;
  current = (current - q * 1e9) * 65536 + (lo & 0xffff);
  q = Math.floor(current / 1e9);
  return quotient * 65536 + q;
}

/** An unsigned bigint as the two-halves form protobufjs encodes. */
export function uint64Bits(value: bigint): Int64Bits {
  const masked = BigInt.asUintN(64, value);
  return { low: Number(masked & 0xffffffffn) | 0, high: Number(masked >> 32n) | 0, unsigned: true };
}
