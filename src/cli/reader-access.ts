import { hashPassword, ReaderAccess } from '../api/index.ts';
import { ConfigError, type Config } from '../config/config.ts';
import { existingToken, resolveReaderSecrets } from './secret-token.ts';

export interface ResolvedReaderAccess {
  access: ReaderAccess;
  /** The banner's "log in" line: a fresh one-time login link (undefined with reader auth off). */
  loginLine(baseUrl: string): string | undefined;
  /** The banner's line on how to read: files and settings, never a secret. */
  authLine: string;
}

/**
 * Reader credentials from `api.auth`, with the first start's generated admin password and read token, checked
 * to be separate from the agents' and the symbol upload's tokens (one secret, one scope).
 */
export async function resolveReaderAccess(
  config: Pick<Config, 'api' | 'dataDir' | 'symbolizer'>,
  agentToken: string | undefined,
): Promise<ResolvedReaderAccess> {
  const auth = config.api.auth;
  if (auth.disabled) {
    return {
      access: ReaderAccess.disabled(),
      loginLine: () => undefined,
      authLine: '  reader auth disabled (api.auth.disabled): anyone who reaches the port reads every profile',
    };
  }
  const secrets = resolveReaderSecrets(auth, config.dataDir);
  const uploadToken = config.symbolizer.uploadToken ?? existingToken(config.dataDir, 'symbol-upload-token');
  const otherScopes = [
    { token: agentToken, name: "the agents' token (collector.auth.secretToken)" },
    { token: uploadToken, name: 'the symbol upload token' },
  ];
  for (const other of otherScopes) {
    if (other.token !== undefined && secrets.tokens.includes(other.token)) {
      throw new ConfigError(
        `api.auth.tokens: a read token is also ${other.name}; give readers a token of their own`,
      );
    }
  }
  const hashes = { ...auth.users };
  if (secrets.adminPassword) hashes.admin = await hashPassword(secrets.adminPassword.password);
  let access: ReaderAccess;
  try {
    access = new ReaderAccess({
      users: hashes,
      tokens: secrets.tokens,
      sessionTtlSeconds: auth.sessionHours * 3600,
    });
  } catch (error) {
    throw new ConfigError(`api.auth.users: ${(error as Error).message}`);
  }
  const users = secrets.adminPassword
    ? `user "admin", password in ${secrets.adminPassword.file}`
    : `users from api.auth.users (${Object.keys(auth.users).join(', ')})`;
  const tokens = secrets.generatedToken
    ? `read token in ${secrets.generatedToken}`
    : `read tokens from api.auth.tokens (${secrets.tokens.length})`;
  return {
    access,
    loginLine: (baseUrl) =>
      `  log in      ${baseUrl}/ui/login#token=${access.issueLoginLink()}  (one-time link, valid for an hour)`,
    authLine: `  reader auth ${users}; API: "Authorization: Bearer <token>", ${tokens}`,
  };
}
