/**
 * A tiny protobuf writer for tests: builds wire bytes by field number and wire type, independently of our
 * .proto files, so the decoder's field numbers are checked against the agent's revision rather than against
 * themselves.
 */
export type Field =
  | { field: number; varint: bigint | number }
  | { field: number; fixed64: bigint }
  | { field: number; bytes: Uint8Array | string }
  | { field: number; message: Field[] }
  | { field: number; packedVarints: (bigint | number)[] }
  | { field: number; packedFixed64: bigint[] };

export function varint(value: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

function fixed64(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  for (let i = 0; i < 8; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

function tag(field: number, wireType: number): number[] {
  return varint((field << 3) | wireType);
}

function delimited(field: number, payload: number[]): number[] {
  return [...tag(field, 2), ...varint(payload.length), ...payload];
}

export function encode(fields: Field[]): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if ('varint' in f) out.push(...tag(f.field, 0), ...varint(f.varint));
    else if ('fixed64' in f) out.push(...tag(f.field, 1), ...fixed64(f.fixed64));
    else if ('bytes' in f) {
      const payload = typeof f.bytes === 'string' ? [...Buffer.from(f.bytes, 'utf8')] : [...f.bytes];
      out.push(...delimited(f.field, payload));
    } else if ('message' in f) out.push(...delimited(f.field, encode(f.message)));
    else if ('packedVarints' in f)
      out.push(
        ...delimited(
          f.field,
          f.packedVarints.flatMap((v) => varint(v)),
        ),
      );
    else
      out.push(
        ...delimited(
          f.field,
          f.packedFixed64.flatMap((v) => fixed64(v)),
        ),
      );
  }
  return out;
}

export function bytes(fields: Field[]): Uint8Array {
  return Uint8Array.from(encode(fields));
}
