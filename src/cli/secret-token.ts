import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ResolvedToken {
  token?: string;
  /** Where a generated token was kept, so the user can hand it to agents. */
  generatedAt?: string;
}

/**
 * A configured token wins. Without one (and unless auth is explicitly off) the first start generates a random
 * token and keeps it under the data directory, so the defaults work with no config and are still not open.
 */
export function resolveSecretToken(
  configured: string | undefined,
  authDisabled: boolean,
  dataDir: string,
): ResolvedToken {
  if (authDisabled && !configured) return {};
  return resolveToken(configured, dataDir, 'secret-token');
}

/**
 * The token `symbtool` presents to upload symbols: `symbolizer.uploadToken`, else one generated into
 * `<dataDir>/symbol-upload-token` — a secret of its own, so an agent's token cannot upload symbols.
 */
export function resolveUploadToken(
  configured: string | undefined,
  dataDir: string,
): { token: string; generatedAt?: string } {
  const resolved = resolveToken(configured, dataDir, 'symbol-upload-token');
  return { token: resolved.token!, generatedAt: resolved.generatedAt };
}

/**
 * The read token generated into `<dataDir>/read-token` when the configuration names none (`api.auth.tokens`),
 * and the password of the user "admin" in `<dataDir>/admin-password` when it names no users (`api.auth.users`).
 */
export function resolveReaderSecrets(
  configured: { users: Record<string, string>; tokens: string[] },
  dataDir: string,
): { tokens: string[]; generatedToken?: string; adminPassword?: { password: string; file: string } } {
  const generatedToken =
    configured.tokens.length === 0 ? resolveToken(undefined, dataDir, 'read-token') : undefined;
  const admin =
    Object.keys(configured.users).length === 0
      ? resolveToken(undefined, dataDir, 'admin-password')
      : undefined;
  return {
    tokens: generatedToken ? [generatedToken.token!] : configured.tokens,
    generatedToken: generatedToken?.generatedAt,
    adminPassword: admin ? { password: admin.token!, file: admin.generatedAt! } : undefined,
  };
}

/** A token already kept under the data directory, without generating one. */
export function existingToken(dataDir: string, fileName: string): string | undefined {
  try {
    return readFileSync(join(dataDir, fileName), 'utf8').trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function resolveToken(configured: string | undefined, dataDir: string, fileName: string): ResolvedToken {
  if (configured) return { token: configured };
  const file = join(dataDir, fileName);
  const existing = existingToken(dataDir, fileName);
  if (existing) return { token: existing, generatedAt: file };
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, generatedAt: file };
}
