/**
 * Cheap content fingerprints of dictionary entries, so a stack seen in an earlier request is recognised
 * without recomputing its frame IDs and 128-bit FNV stack trace ID. A request's dictionary indices mean
 * nothing in the next request; what a location contains (file ID, address, frame type, lines) does. Each
 * entry gets two independent 32-bit lanes; a stack combines its locations' lanes into four, 117 bits of which
 * key and verify the cache — as collision-safe as the 128-bit content-addressed IDs themselves.
 */

const M1 = 0x85ebca6b;
const M2 = 0xc2b2ae35;
const M3 = 0x27d4eb2f;
const M4 = 0x165667b1;
export const SEED1 = 0x3c6ef372;
export const SEED2 = 0x6a09e667;
export const SEED3 = 0x510e527f;
export const SEED4 = 0x1f83d9ab;

export function mix1(h: number, v: number): number {
  h = Math.imul(h ^ v, M1);
  return h ^ (h >>> 15);
}

export function mix2(h: number, v: number): number {
  h = Math.imul(h ^ v, M2);
  return h ^ (h >>> 13);
}

export function mix3(h: number, v: number): number {
  h = Math.imul(h ^ v, M3);
  return h ^ (h >>> 16);
}

export function mix4(h: number, v: number): number {
  h = Math.imul(h ^ v, M4);
  return h ^ (h >>> 14);
}

/** Two lanes over a string's UTF-16 code units, written to out[at], out[at + 1]. */
export function fingerprintString(
  text: string,
  out: Int32Array,
  at: number,
  seed1: number,
  seed2: number,
): void {
  let h1 = mix1(seed1, text.length);
  let h2 = mix2(seed2, text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = mix1(h1, c);
    h2 = mix2(h2, c);
  }
  out[at] = h1;
  out[at + 1] = h2;
}

export interface CachedStackId {
  id: string;
  check1: number;
  check2: number;
}

/** The 53-bit map key from the first two stack lanes. */
export function stackKey(h1: number, h2: number): number {
  return (h1 >>> 0) * 2097152 + ((h2 >>> 0) & 0x1fffff);
}
