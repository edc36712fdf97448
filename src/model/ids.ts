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

/**
 * FNV-1a, 128 bits, kept as eight 16-bit limbs (least significant first) so every product stays well inside
 * a double's exact range: BigInt would be ten times slower on the ingest path.
 */
export class Fnv1a128 {
  private readonly limbs = new Uint32Array([0xc58d, 0x6295, 0x2175, 0x62b8, 0x0142, 0x07bb, 0x272e, 0x6c62]);

  update(bytes: Uint8Array): this {
    const h = this.limbs;
    for (let b = 0; b < bytes.length; b++) {
      h[0] ^= bytes[b];
      this.multiplyByPrime();
    }
    return this;
  }

  updateString(text: string): this {
    return this.update(Buffer.from(text, 'utf8'));
  }

  /** The prime is 2^88 + 0x13b: h·p = h·0x13b + (h << 88), both modulo 2^128. */
  private multiplyByPrime(): void {
    const h = this.limbs;
    const r0 = h[0] * 0x13b;
    const r1 = h[1] * 0x13b;
    const r2 = h[2] * 0x13b;
    const r3 = h[3] * 0x13b;
    const r4 = h[4] * 0x13b;
    let r5 = h[5] * 0x13b;
    let r6 = h[6] * 0x13b;
    let r7 = h[7] * 0x13b;
    // 88 bits = five limbs and eight bits.
    r5 += (h[0] << 8) & 0xffff;
    r6 += (h[0] >>> 8) + ((h[1] << 8) & 0xffff);
    r7 += (h[1] >>> 8) + ((h[2] << 8) & 0xffff);
    let carry = 0;
    const r = [r0, r1, r2, r3, r4, r5, r6, r7];
    for (let i = 0; i < 8; i++) {
      const v = r[i] + carry;
      h[i] = v & 0xffff;
      carry = Math.floor(v / 0x10000);
    }
  }

  /** Big-endian, as Go's hash.Sum writes it. */
  digest(): Buffer {
    const out = Buffer.allocUnsafe(16);
    for (let i = 0; i < 8; i++) out.writeUInt16BE(this.limbs[7 - i], i * 2);
    return out;
  }
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
    hash.updateString(frame.addressOrLine.toString(10));
  }
  return hash.digest().toString('base64url');
}
