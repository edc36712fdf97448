import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashes in the PHC string format, `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (unpadded base64): the
 * parameters travel with each hash, so raising them later leaves older hashes verifiable.
 */

const DEFAULT_PARAMS = { ln: 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const PHC = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export class PasswordHashError extends Error {
  override readonly name = 'PasswordHashError';
}

interface ParsedHash {
  options: ScryptOptions;
  salt: Buffer;
  key: Buffer;
}

function derive(password: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  // 128·N·r bytes of scratch memory; node's default cap (32 MiB) is exactly ln=15, r=8 — leave headroom.
  const maxmem = 256 * (options.N ?? 1) * (options.r ?? 8);
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, length, { ...options, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  if (password.length === 0) throw new PasswordHashError('a password must not be empty');
  const salt = randomBytes(SALT_BYTES);
  const { ln, r, p } = DEFAULT_PARAMS;
  const key = await derive(password, salt, KEY_BYTES, { N: 2 ** ln, r, p });
  return `$scrypt$ln=${ln},r=${r},p=${p}$${unpadded(salt)}$${unpadded(key)}`;
}

/** Throws PasswordHashError naming the problem when `hash` is not a hash this module can check. */
export function parsePasswordHash(hash: string): ParsedHash {
  const match = PHC.exec(hash.trim());
  if (!match) {
    throw new PasswordHashError(
      'not a password hash: expected "$scrypt$ln=…,r=…,p=…$<salt>$<hash>" (make one with `uniprof hash-password`)',
    );
  }
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) {
    throw new PasswordHashError(`scrypt parameters out of range: ln=${ln}, r=${r}, p=${p}`);
  }
  const salt = Buffer.from(match[4], 'base64');
  const key = Buffer.from(match[5], 'base64');
  if (salt.length < 8 || key.length < 16) throw new PasswordHashError('salt or hash too short');
  return { options: { N: 2 ** ln, r, p }, salt, key };
}

/** Constant-time in the password: the derived key is compared with timingSafeEqual, same length by design. */
export async function verifyPassword(password: string, hash: ParsedHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.key.length, hash.options);
  return timingSafeEqual(key, hash.key);
}

function unpadded(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}
