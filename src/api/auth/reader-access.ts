import { hashPassword, parsePasswordHash, verifyPassword } from './passwords.ts';
import { SecretSet, randomSecret, secretDigest } from './secrets.ts';

/**
 * Who may read profiles (UI and query API): users with password hashes, bearer read tokens, browser sessions
 * and the one-time login links the start banner prints. Sessions and links live in memory only: a restart
 * logs browsers out and voids unused links, and nothing secret is written anywhere by this module.
 */

export interface ReaderAccessOptions {
  /** User name → scrypt password hash (`uniprof hash-password`). */
  users: Readonly<Record<string, string>>;
  /** Bearer tokens that may read. */
  tokens: readonly string[];
  sessionTtlSeconds?: number;
  loginLinkTtlSeconds?: number;
  /** Live sessions kept at most; past it the oldest ends (a flood of logins cannot grow memory). */
  maxSessions?: number;
  /** Milliseconds since the epoch (tests pin it). */
  now?: () => number;
}

/** Who made a request: a logged-in user, a read token, or anyone (reader auth off). */
export type Reader = { kind: 'user'; name: string } | { kind: 'token' } | { kind: 'anyone' };

export const LOGIN_LINK_USER = 'login link';
const DEFAULT_SESSION_TTL_SECONDS = 12 * 3600;
const DEFAULT_LOGIN_LINK_TTL_SECONDS = 3600;
const DEFAULT_MAX_SESSIONS = 10_000;

interface Expiring {
  user: string;
  expiresAt: number;
}

export class ReaderAccess {
  readonly enabled: boolean;
  readonly sessionTtlSeconds: number;
  private readonly users: Map<string, ReturnType<typeof parsePasswordHash>>;
  private readonly tokens: SecretSet;
  /** Keyed by the hex digest of the session id / link token. */
  private readonly sessions = new Map<string, Expiring>();
  private readonly loginLinks = new Map<string, Expiring>();
  private readonly loginLinkTtlSeconds: number;
  private readonly maxSessions: number;
  private readonly now: () => number;
  /** Checked for unknown user names too, so the answer takes as long whether or not the user exists. */
  private readonly decoy: Promise<ReturnType<typeof parsePasswordHash>>;

  static disabled(): ReaderAccess {
    return new ReaderAccess({ users: {}, tokens: [] }, false);
  }

  /** Throws PasswordHashError naming the user whose hash cannot be used. */
  constructor(options: ReaderAccessOptions, enabled = true) {
    this.enabled = enabled;
    this.users = new Map(
      Object.entries(options.users).map(([name, hash]) => {
        try {
          return [name, parsePasswordHash(hash)];
        } catch (error) {
          (error as Error).message = `user "${name}": ${(error as Error).message}`;
          throw error;
        }
      }),
    );
    this.tokens = new SecretSet(options.tokens);
    this.sessionTtlSeconds = options.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS;
    this.loginLinkTtlSeconds = options.loginLinkTtlSeconds ?? DEFAULT_LOGIN_LINK_TTL_SECONDS;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.now = options.now ?? Date.now;
    this.decoy = enabled ? hashPassword(randomSecret()).then(parsePasswordHash) : Promise.reject();
    this.decoy.catch(() => undefined);
  }

  get userNames(): string[] {
    return [...this.users.keys()];
  }

  get tokenCount(): number {
    return this.tokens.size;
  }

  verifyToken(token: string): boolean {
    return this.enabled && this.tokens.has(token);
  }

  /** A new session id for a right user name and password, undefined otherwise. */
  async login(user: string, password: string): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    const hash = this.users.get(user);
    const right = await verifyPassword(password, hash ?? (await this.decoy));
    return right && hash ? this.startSession(user) : undefined;
  }

  /** A one-time login link token, valid for `loginLinkTtlSeconds` or until used. */
  issueLoginLink(): string {
    const token = randomSecret();
    this.loginLinks.set(key(token), {
      user: LOGIN_LINK_USER,
      expiresAt: this.now() + this.loginLinkTtlSeconds * 1000,
    });
    return token;
  }

  /** A new session id for an unused, unexpired login link (which is spent by this), undefined otherwise. */
  redeemLoginLink(token: string): string | undefined {
    if (!this.enabled) return undefined;
    const id = key(token);
    const link = this.loginLinks.get(id);
    this.loginLinks.delete(id);
    if (!link || link.expiresAt <= this.now()) return undefined;
    return this.startSession(link.user);
  }

  /** The user of a live session. */
  sessionUser(sessionId: string): string | undefined {
    if (!this.enabled) return undefined;
    const id = key(sessionId);
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session.user;
  }

  endSession(sessionId: string): void {
    this.sessions.delete(key(sessionId));
  }

  private startSession(user: string): string {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
    while (this.sessions.size >= this.maxSessions) {
      this.sessions.delete(this.sessions.keys().next().value!);
    }
    const sessionId = randomSecret();
    this.sessions.set(key(sessionId), { user, expiresAt: now + this.sessionTtlSeconds * 1000 });
    return sessionId;
  }
}

/** Map keys are digests: a heap dump or a timing probe of the map shows no usable secret. */
function key(secret: string): string {
  return secretDigest(secret).toString('hex');
}
