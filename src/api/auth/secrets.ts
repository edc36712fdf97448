import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh random secret: 32 bytes, base64url (what session ids, login links and generated tokens use). */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 of a secret: what is kept in memory and compared, never the secret itself. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * A set of secrets checked in constant time: the candidate's digest is compared with every member's (equal
 * lengths by construction, so timingSafeEqual applies), without stopping at the first match.
 */
export class SecretSet {
  private readonly digests: Buffer[];

  constructor(secrets: Iterable<string>) {
    this.digests = [...secrets].map(secretDigest);
  }

  get size(): number {
    return this.digests.length;
  }

  has(candidate: string): boolean {
    const digest = secretDigest(candidate);
    let found = false;
    for (const member of this.digests) found = timingSafeEqual(digest, member) || found;
    return found;
  }
}
