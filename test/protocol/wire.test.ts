import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { InvalidRequestError } from '../../src/protocol/index.ts';
import { WireCursor } from '../../src/protocol/wire.ts';

/** Every varint length from one to ten bytes, and the edges between them. */
const VALUES: bigint[] = [
  0n,
  1n,
  127n,
  128n,
  300n,
  16383n,
  16384n,
  2n ** 21n - 1n,
  2n ** 21n,
  2n ** 28n - 1n,
  2n ** 28n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 35n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];

function encoded(values: readonly bigint[]): Uint8Array {
  const writer = protobuf.Writer.create();
  for (const value of values) writer.uint64(value.toString());
  return writer.finish();
}

describe('wire cursor varints', () => {
  it('reads 64-bit varints of every length as the encoder wrote them, at the end of the input too', () => {
    for (const value of VALUES) {
      // Alone (the value ends the input) and followed by another value.
      for (const values of [[value], [value, 5n]]) {
        const bytes = encoded(values);
        const cursor = new WireCursor(bytes);
        cursor.varint64(bytes.length);
        assert.equal((BigInt(cursor.hi) << 32n) | BigInt(cursor.lo), value, `value ${value}`);
        if (values.length === 2) {
          cursor.varint64(bytes.length);
          assert.equal(cursor.lo, 5);
        }
        assert.equal(cursor.pos, bytes.length);
      }
    }
  });

  it('reads 32-bit varints (low 32 bits kept) of every length', () => {
    for (const value of VALUES) {
      for (const values of [[value], [value, 7n]]) {
        const bytes = encoded(values);
        const cursor = new WireCursor(bytes);
        assert.equal(cursor.varint32(bytes.length) >>> 0, Number(value & 0xffffffffn), `value ${value}`);
        if (values.length === 2) assert.equal(cursor.varint32(bytes.length), 7);
        assert.equal(cursor.pos, bytes.length);
      }
    }
  });

  it('rejects a varint cut short by the end of its message', () => {
    for (const value of VALUES.filter((v) => v >= 128n)) {
      const bytes = encoded([value]);
      const end = bytes.length - 1;
      assert.throws(() => new WireCursor(bytes).varint64(end), InvalidRequestError, `varint64 ${value}`);
      assert.throws(() => new WireCursor(bytes).varint32(end), InvalidRequestError, `varint32 ${value}`);
    }
  });

  it('takes length prefixes below 2 GiB and refuses larger ones instead of keeping their low bits', () => {
    for (const value of VALUES) {
      // The prefix, then as many bytes as its low 32 bits say (so a truncating reader would find them).
      const low = Number(value & 0xffffn);
      const bytes = Buffer.concat([encoded([value]), new Uint8Array(low)]);
      const read = () => new WireCursor(bytes).delimited(bytes.length);
      if (value < 2n ** 31n) {
        if (value === BigInt(low)) assert.equal(read(), bytes.length, `length ${value}`);
        else assert.throws(read, /runs past the end/, `length ${value}`);
      } else assert.throws(read, /length prefix of 2 GiB or more/, `length ${value}`);
    }
  });
});
