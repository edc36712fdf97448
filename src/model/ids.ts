import { Fnv1a128 } from './fnv.ts';

/**
 * Identifiers of the Universal Profiling model. All are written as unpadded base64url, which is what
 * Elasticsearch's profiling plugin and Kibana decode.
 */

export const FILE_ID_BYTES = 16;
export const FRAME_ID_BYTES = 24;

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function fromBase64Url(text: string): Buffer {
  return Buffer.from(text, 'base64url');
}

/** A file ID given as 32 hex digits (how the agent sends it) → base64url. */
export function fileIdFromHex(hex: string): string {
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`file ID must be 32 hex digits, got "${hex}"`);
  return Buffer.from(hex, 'hex').toString('base64url');
}

export function fileIdToHex(fileId: string): string {
  return fromBase64Url(fileId).toString('hex');
}

/** Frame ID = file ID (16 bytes) ‖ address-or-line (8 bytes, big-endian). */
export function frameId(fileId: string, addressOrLine: bigint): string {
  const bytes = Buffer.allocUnsafe(FRAME_ID_BYTES);
  if (bytes.write(fileId, 0, FILE_ID_BYTES, 'base64url') !== FILE_ID_BYTES) {
    throw new Error(`file ID "${fileId}" is not 16 bytes of base64url`);
  }
  bytes.writeBigUInt64BE(BigInt.asUintN(64, addressOrLine), FILE_ID_BYTES);
  return bytes.toString('base64url');
}

export function parseFrameId(id: string): { fileId: string; addressOrLine: bigint } {
  const bytes = fromBase64Url(id);
  if (bytes.length !== FRAME_ID_BYTES) throw new Error(`frame ID "${id}" is not 24 bytes`);
  return {
    fileId: bytes.subarray(0, FILE_ID_BYTES).toString('base64url'),
    addressOrLine: bytes.readBigUInt64BE(FILE_ID_BYTES),
  };
}

export interface FrameRef {
  fileId: string;
  addressOrLine: bigint;
}

/**
 * Content-addressed stack trace ID: FNV-1a 128 over, for each frame from the leaf up, the file ID's bytes
 * and the decimal text of the address-or-line.
 */
export function stackTraceId(frames: readonly FrameRef[]): string {
  const hash = new Fnv1a128();
  for (const frame of frames) {
    hash.update(fromBase64Url(frame.fileId));
    hash.updateAscii(frame.addressOrLine.toString(10));
  }
  return hash.digest().toString('base64url');
}
