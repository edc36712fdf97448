/**
 * Byte-level mutation of seed inputs as fast-check arbitraries: bit flips, byte and integer overwrites,
 * truncation, deletion, insertion, duplication, splicing with another seed, and the structure-aware ones —
 * a varint or an integer field at a known "hot spot" (a protobuf tag or length prefix, an ELF header field,
 * a DWARF unit length) replaced by an edge value such as a declared size of 4 GiB. A case is a seed index
 * plus a short list of mutations, so fast-check shrinks a failure to the fewest mutations that still fail.
 */
import fc from 'fast-check';

export interface Seed {
  /** Where the seed comes from (a corpus file, a built program), for messages. */
  name: string;
  bytes: Uint8Array;
  /** Offsets of fields worth corrupting: length prefixes, counts, offsets, tags. */
  hotSpots: readonly number[];
  /** Byte order of the integer fields at the hot spots (protobuf varints have none). */
  littleEndian?: boolean;
}

/** Values at the edges of the integer widths and of what a reader may allocate. */
export const EDGE_VALUES: readonly bigint[] = [
  0n,
  1n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n, // 4 GiB
  0x10000000000n,
  2n ** 53n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];

type Position = { hot: boolean; index: number };

export type Mutation =
  | { kind: 'flip'; at: Position; bit: number }
  | { kind: 'byte'; at: Position; value: number }
  | { kind: 'integer'; at: Position; width: 1 | 2 | 4 | 8; value: bigint; delta: number }
  | { kind: 'varint'; at: Position; value: bigint; delta: number }
  | { kind: 'truncate'; at: Position }
  | { kind: 'delete'; at: Position; length: number }
  | { kind: 'insert'; at: Position; bytes: Uint8Array }
  | { kind: 'duplicate'; at: Position; length: number }
  | { kind: 'splice'; at: Position; other: number; from: number; length: number };

const position = (hotWeight: number): fc.Arbitrary<Position> =>
  fc.record({ hot: fc.nat(99).map((n) => n < hotWeight), index: fc.nat() });

const edgeValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_VALUES) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
);

export function mutationArbitrary(seedCount: number, hotWeight = 50): fc.Arbitrary<Mutation> {
  const at = position(hotWeight);
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('byte' as const), at, value: fc.nat(255) }),
    fc.record({
      kind: fc.constant('integer' as const),
      at,
      width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      value: edgeValue,
      delta: fc.integer({ min: -2, max: 2 }),
    }),
    fc.record({
      kind: fc.constant('varint' as const),
      at,
      value: edgeValue,
      delta: fc.integer({ min: -2, max: 2 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
    fc.record({ kind: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({ kind: fc.constant('duplicate' as const), at, length: fc.integer({ min: 1, max: 256 }) }),
    fc.record({
      kind: fc.constant('splice' as const),
      at,
      other: fc.nat(Math.max(0, seedCount - 1)),
      from: fc.nat(),
      length: fc.integer({ min: 1, max: 4096 }),
    }),
  );
}

export interface MutatedCase {
  seed: number;
  mutations: Mutation[];
}

/** A seed and 1..maxMutations mutations, materialized into the bytes to feed the target. */
export function mutatedBytes(
  seeds: readonly Seed[],
  options: { maxMutations?: number; hotWeight?: number } = {},
): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('mutatedBytes needs at least one seed');
  return fc
    .record({
      seed: fc.nat(seeds.length - 1),
      mutations: fc.array(mutationArbitrary(seeds.length, options.hotWeight), {
        minLength: 1,
        maxLength: options.maxMutations ?? 6,
      }),
    })
    .map((c) => applyMutations(seeds, c));
}

export function applyMutations(seeds: readonly Seed[], c: MutatedCase): Uint8Array {
  const seed = seeds[c.seed];
  let bytes = seed.bytes;
  for (const mutation of c.mutations) bytes = applyMutation(bytes, mutation, seed, seeds);
  return bytes;
}

function resolve(at: Position, seed: Seed, length: number): number {
  if (length === 0) return 0;
  if (at.hot && seed.hotSpots.length > 0) {
    const spot = seed.hotSpots[at.index % seed.hotSpots.length];
    if (spot < length) return spot;
  }
  return at.index % length;
}

function applyMutation(bytes: Uint8Array, m: Mutation, seed: Seed, seeds: readonly Seed[]): Uint8Array {
  const at = resolve(m.at, seed, bytes.length);
  switch (m.kind) {
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const out = bytes.slice();
      out[at] ^= 1 << m.bit;
      return out;
    }
    case 'byte': {
      if (bytes.length === 0) return bytes;
      const out = bytes.slice();
      out[at] = m.value;
      return out;
    }
    case 'integer': {
      const out = bytes.slice();
      const value = BigInt.asUintN(m.width * 8, m.value + BigInt(m.delta));
      for (let i = 0; i < m.width && at + i < out.length; i++) {
        const shift = BigInt(8 * (seed.littleEndian === false ? m.width - 1 - i : i));
        out[at + i] = Number((value >> shift) & 0xffn);
      }
      return out;
    }
    case 'varint': {
      // Replace the varint starting here (whatever its length) with the encoding of another value.
      let end = at;
      while (end < bytes.length && end - at < 10 && bytes[end] & 0x80) end++;
      end = Math.min(bytes.length, end + 1);
      const value = BigInt.asUintN(64, m.value + BigInt(m.delta));
      return concat(bytes.subarray(0, at), encodeVarint(value), bytes.subarray(end));
    }
    case 'truncate':
      return bytes.subarray(0, at);
    case 'delete':
      return concat(bytes.subarray(0, at), bytes.subarray(at + m.length));
    case 'insert':
      return concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
    case 'duplicate':
      return concat(bytes.subarray(0, at + m.length), bytes.subarray(at));
    case 'splice': {
      const other = seeds[m.other].bytes;
      if (other.length === 0) return bytes;
      const from = m.from % other.length;
      return concat(bytes.subarray(0, at), other.subarray(from, from + m.length), bytes.subarray(at));
    }
  }
}

export function encodeVarint(value: bigint): Uint8Array {
  const out: number[] = [];
  let rest = value;
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return Uint8Array.from(out);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * The offsets of every tag and length prefix of a protobuf message, descending into length-delimited
 * fields that parse as messages themselves (strings and packed arrays simply fail to parse and are left).
 */
export function protobufHotSpots(bytes: Uint8Array, limit = 20_000): number[] {
  const spots: number[] = [];
  const walk = (start: number, end: number, depth: number): boolean => {
    let pos = start;
    const found: number[] = [];
    const nested: [number, number][] = [];
    while (pos < end) {
      found.push(pos);
      const tag = readVarint(bytes, pos, end);
      if (!tag || tag.value === 0) return false;
      pos = tag.next;
      switch (tag.value & 7) {
        case 0: {
          const v = readVarint(bytes, pos, end);
          if (!v) return false;
          pos = v.next;
          break;
        }
        case 1:
          pos += 8;
          break;
        case 5:
          pos += 4;
          break;
        case 2: {
          found.push(pos);
          const length = readVarint(bytes, pos, end);
          if (!length || length.next + length.value > end) return false;
          nested.push([length.next, length.next + length.value]);
          pos = length.next + length.value;
          break;
        }
        default:
          return false;
      }
      if (pos > end) return false;
    }
    for (const spot of found) if (spots.length < limit) spots.push(spot);
    if (depth < 12) for (const [s, e] of nested) if (e > s) walk(s, e, depth + 1);
    return true;
  };
  walk(0, bytes.length, 0);
  return spots;
}

function readVarint(
  bytes: Uint8Array,
  pos: number,
  end: number,
): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < end && i - pos < 10; i++) {
    value += (bytes[i] & 0x7f) * scale;
    scale *= 128;
    if (bytes[i] < 0x80) return { value, next: i + 1 };
  }
  return undefined;
}
