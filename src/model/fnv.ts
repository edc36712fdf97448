/**
 * FNV-1a, 128 bits: the hash behind content-addressed stack trace IDs. The state is four 32-bit limbs held in
 * locals while bytes are fed, so the ingest path allocates nothing per byte and needs no BigInt.
 */

const TWO_POW_32 = 4294967296;

/** FNV-1a 128 state: four 32-bit limbs, least significant first. */
export class Fnv1a128 {
  private l0 = 0x6295c58d;
  private l1 = 0x62b82175;
  private l2 = 0x07bb0142;
  private l3 = 0x6c62272e;
  /** Room for the decimal digits of a 53-bit value. */
  private readonly digits = new Uint8Array(16);

  reset(): this {
    this.l0 = 0x6295c58d;
    this.l1 = 0x62b82175;
    this.l2 = 0x07bb0142;
    this.l3 = 0x6c62272e;
    return this;
  }

  /** Feeds bytes[start, end). */
  update(bytes: Uint8Array, start = 0, end = bytes.length): this {
    let l0 = this.l0;
    let l1 = this.l1;
    let l2 = this.l2;
    let l3 = this.l3;
    for (let i = start; i < end; i++) {
      l0 = (l0 ^ bytes[i]) >>> 0;
      // h·p mod 2^128 with p = 2^88 + 0x13b: h·0x13b plus h shifted left by 88 bits (two limbs and 24 bits).
      // Each product is below 2^41, so doubles hold it exactly.
      let v = l0 * 0x13b;
      const n0 = v >>> 0;
      v = l1 * 0x13b + Math.floor(v / TWO_POW_32);
      const n1 = v >>> 0;
      v = l2 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 & 0xff) * 0x1000000;
      const n2 = v >>> 0;
      v = l3 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 >>> 8) + (l1 & 0xff) * 0x1000000;
      l3 = v >>> 0;
      l0 = n0;
      l1 = n1;
      l2 = n2;
    }
    this.l0 = l0;
    this.l1 = l1;
    this.l2 = l2;
    this.l3 = l3;
    return this;
  }

  /**
   * Feeds the characters of an ASCII string (decimal digits) as bytes, without encoding it first. The loop is
   * `update`'s, repeated rather than shared: a per-byte call would cost the ingest path its speed.
   */
  updateAscii(text: string): this {
    let l0 = this.l0;
    let l1 = this.l1;
    let l2 = this.l2;
    let l3 = this.l3;
    for (let i = 0; i < text.length; i++) {
      l0 = (l0 ^ (text.charCodeAt(i) & 0xff)) >>> 0;
      let v = l0 * 0x13b;
      const n0 = v >>> 0;
      v = l1 * 0x13b + Math.floor(v / TWO_POW_32);
      const n1 = v >>> 0;
      v = l2 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 & 0xff) * 0x1000000;
      const n2 = v >>> 0;
      v = l3 * 0x13b + Math.floor(v / TWO_POW_32) + (l0 >>> 8) + (l1 & 0xff) * 0x1000000;
      l3 = v >>> 0;
      l0 = n0;
      l1 = n1;
      l2 = n2;
    }
    this.l0 = l0;
    this.l1 = l1;
    this.l2 = l2;
    this.l3 = l3;
    return this;
  }

  /**
   * Feeds the decimal digits of the unsigned 64-bit value hi·2^32 + lo (as `updateAscii(String(value))`
   * would), without building the string: this runs for every frame of every new stack trace.
   */
  updateDecimal(lo: number, hi: number): this {
    let value = hi * TWO_POW_32 + lo;
    if (value > Number.MAX_SAFE_INTEGER)
      return this.updateAscii(((BigInt(hi) << 32n) | BigInt(lo)).toString());
    const digits = this.digits;
    let at = digits.length;
    do {
      const next = Math.floor(value / 10);
      digits[--at] = 0x30 + (value - next * 10);
      value = next;
    } while (value > 0);
    return this.update(digits, at);
  }

  updateString(text: string): this {
    return this.update(Buffer.from(text, 'utf8'));
  }

  digest(): Buffer {
    return this.digestInto(Buffer.allocUnsafe(16));
  }

  /** The 16-byte big-endian digest (as Go's hash.Sum writes it) into out[offset..offset+16). */
  digestInto<T extends Uint8Array>(out: T, offset = 0): T {
    writeUint32BE(out, offset, this.l3);
    writeUint32BE(out, offset + 4, this.l2);
    writeUint32BE(out, offset + 8, this.l1);
    writeUint32BE(out, offset + 12, this.l0);
    return out;
  }
}

function writeUint32BE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}
