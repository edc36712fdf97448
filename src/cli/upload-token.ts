import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const UPLOAD_TOKEN_FILE = 'symbol-upload-token';

/**
 * The symbol upload token (symbolizer.uploadToken): the configured one, else the one generated on an earlier
 * start, else a new random one kept in `<dataDir>/symbol-upload-token` (mode 0600). Upload is never open:
 * unlike agent auth there is no switch to disable it, since uploads write to the store.
 */
export function resolveUploadToken(
  configured: string | undefined,
  dataDir: string,
): { token: string; generatedAt?: string } {
  if (configured) return { token: configured };
  const file = join(dataDir, UPLOAD_TOKEN_FILE);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing) return { token: existing, generatedAt: file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, generatedAt: file };
}
