/**
 * Moves every timestamp of an encoded export request by the same amount, in place: the load generator builds
 * a pool of requests once and replays them with current times, which costs far less than generating each one.
 */
import { WireCursor, WireType } from '../protocol/wire.ts';

/** Field numbers on the path to the timestamps: request → resource_profiles → scope_profiles → profiles. */
const RESOURCE_PROFILES = 1;
const SCOPE_PROFILES = 2;
const PROFILES = 2;
const PROFILE_TIME = 3;
const SAMPLES = 2;
const SAMPLE_TIMESTAMPS = 5;

export function shiftTimestamps(bytes: Uint8Array, deltaNanos: bigint): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cursor = new WireCursor(bytes);
  const shift = (offset: number) =>
    view.setBigUint64(offset, BigInt.asUintN(64, view.getBigUint64(offset, true) + deltaNanos), true);

  const each = (end: number, visit: (field: number, wireType: number, end: number) => boolean) => {
    while (cursor.pos < end) {
      const tag = cursor.varint32(end);
      if (!visit(tag >>> 3, tag & 7, end)) cursor.skip(tag & 7, end, tag >>> 3);
    }
  };
  const sample = (end: number) =>
    each(end, (field, wireType) => {
      if (field !== SAMPLE_TIMESTAMPS || wireType !== WireType.Len) return false;
      const stop = cursor.delimited(end);
      for (let offset = cursor.pos; offset + 8 <= stop; offset += 8) shift(offset);
      cursor.pos = stop;
      return true;
    });
  const profile = (end: number) =>
    each(end, (field, wireType) => {
      if (field === PROFILE_TIME && wireType === WireType.I64) {
        shift(cursor.pos);
        cursor.pos += 8;
        return true;
      }
      if (field !== SAMPLES || wireType !== WireType.Len) return false;
      sample(cursor.delimited(end));
      return true;
    });
  const nested = (wanted: number, inner: (end: number) => void) => (end: number) =>
    each(end, (field, wireType) => {
      if (field !== wanted || wireType !== WireType.Len) return false;
      inner(cursor.delimited(end));
      return true;
    });
  nested(RESOURCE_PROFILES, nested(SCOPE_PROFILES, nested(PROFILES, profile)))(bytes.length);
}
