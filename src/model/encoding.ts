/**
 * The compact encodings of a stack trace that Elasticsearch's profiling documents use
 * (`Stacktrace.frame.ids`, `Stacktrace.frame.types`); the embedded store keeps the same strings.
 */
import type { FrameType } from './frame-type.ts';

const FRAME_ID_CHARS = 32;

export function encodeFrameIds(frameIds: readonly string[]): string {
  return frameIds.join('');
}

export function decodeFrameIds(encoded: string): string[] {
  if (encoded.length % FRAME_ID_CHARS !== 0) {
    throw new Error(`frame IDs: length ${encoded.length} is not a multiple of ${FRAME_ID_CHARS}`);
  }
  const ids: string[] = new Array(encoded.length / FRAME_ID_CHARS);
  for (let i = 0; i < ids.length; i++) ids[i] = encoded.slice(i * FRAME_ID_CHARS, (i + 1) * FRAME_ID_CHARS);
  return ids;
}

/** Run-length encoding as (count ≤ 255, type) byte pairs, then unpadded base64url. */
export function encodeFrameTypes(types: readonly FrameType[]): string {
  const bytes: number[] = [];
  let i = 0;
  while (i < types.length) {
    const type = types[i];
    let run = 1;
    while (i + run < types.length && types[i + run] === type && run < 255) run++;
    bytes.push(run, type);
    i += run;
  }
  return Buffer.from(bytes).toString('base64url');
}

export function decodeFrameTypes(encoded: string): FrameType[] {
  const bytes = Buffer.from(encoded, 'base64url');
  if (bytes.length % 2 !== 0) throw new Error('frame types: odd number of run-length bytes');
  const types: FrameType[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    for (let n = 0; n < bytes[i]; n++) types.push(bytes[i + 1]);
  }
  return types;
}
