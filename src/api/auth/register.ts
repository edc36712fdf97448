import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Reader, type ReaderAccess } from './reader-access.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by registerReaderAuth: the query API and UI refuse to register on a server without it. */
    readerAccess: ReaderAccess;
  }
  interface FastifyRequest {
    /** Who is reading, once the reader-auth hook let the request through. */
    reader?: Reader;
  }
}

export const SESSION_COOKIE = 'uniprof_session';
export const LOGIN_PAGE = '/ui/login';

/**
 * Routes anyone may call on the readers' server. Everything else (the query API, pprof, `_profiling`, the
 * status, the UI, and any route added later) needs reader credentials: deny by default. Matched on the route
 * the router chose, so no spelling of a URL (`/%68ealth`, `/health/../api/…`) reaches a protected handler
 * through this list.
 */
export const OPEN_ROUTES: ReadonlySet<string> = new Set([
  // Probes and Prometheus metrics: counters and readiness, no profile data.
  '/health',
  '/ready',
  '/metrics',
  // The login page, the UI's static code (no data in it) and logging in and out.
  LOGIN_PAGE,
  '/ui/assets/*',
  '/api/auth/login',
  '/api/auth/logout',
]);

const BEARER = /^Bearer[ \t]+(\S+)\s*$/i;

/** Login attempts one client address may make a minute: enough for typos, too few to guess a password. */
export const LOGIN_ATTEMPTS_PER_MINUTE = 20;

const loginBody = z.union([
  z.object({ user: z.string().min(1).max(200), password: z.string().min(1).max(1000) }).strict(),
  z.object({ token: z.string().min(1).max(200) }).strict(),
]);

/**
 * Reader authentication on a fastify server: a hook in front of every route outside OPEN_ROUTES, and the
 * login, logout and session routes. With `access.enabled` false every request passes (the explicit opt-out).
 */
export async function registerReaderAuth(app: FastifyInstance, access: ReaderAccess): Promise<void> {
  await app.register(fastifyCookie);
  await app.register(fastifyRateLimit, { global: false });
  app.decorate('readerAccess', access);

  app.addHook('onRequest', async (request, reply) => {
    if (!access.enabled) {
      request.reader = { kind: 'anyone' };
      return;
    }
    const route = request.routeOptions.url;
    if (route !== undefined && OPEN_ROUTES.has(route)) return;
    const verdict = identify(request, access);
    if ('reader' in verdict) {
      request.reader = verdict.reader;
      return;
    }
    if (isUiRoute(route) && (request.method === 'GET' || request.method === 'HEAD')) {
      return reply.redirect(`${LOGIN_PAGE}?next=${encodeURIComponent(request.url)}`, 302);
    }
    return unauthorized(reply, verdict.problem);
  });

  const loginLimit = { rateLimit: { max: LOGIN_ATTEMPTS_PER_MINUTE, timeWindow: 60_000 } };
  app.post('/api/auth/login', { config: loginLimit }, async (request, reply) => {
    if (!access.enabled) return reply.send({ user: null, auth: 'disabled' });
    const parsed = loginBody.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({
        error: 'bad_request',
        message: 'send {"user": "…", "password": "…"} or {"token": "<one-time login link token>"} as JSON',
      });
    }
    const body = parsed.data;
    if ('token' in body) {
      const sessionId = access.redeemLoginLink(body.token);
      if (!sessionId) {
        request.log.warn({ ip: request.ip }, 'login refused: a used, expired or unknown login link');
        return unauthorized(
          reply,
          'this login link was already used or has expired (each link works once, for an hour): log in with a user name and password',
        );
      }
      request.log.info({ ip: request.ip }, 'reader logged in with the one-time login link');
      return startSession(request, reply, access, sessionId);
    }
    const sessionId = await access.login(body.user, body.password);
    if (!sessionId) {
      // No user name in the log: people type passwords into the wrong field.
      request.log.warn({ ip: request.ip }, 'login refused: wrong user name or password');
      return unauthorized(reply, 'wrong user name or password');
    }
    request.log.info({ ip: request.ip, user: body.user }, 'reader logged in');
    return startSession(request, reply, access, sessionId);
  });

  app.post('/api/auth/logout', async (request, reply) => {
    const sessionId = request.cookies[SESSION_COOKIE];
    if (sessionId) access.endSession(sessionId);
    return reply.clearCookie(SESSION_COOKIE, cookieOptions(request, access)).code(204).send();
  });

  app.get('/api/auth/session', async (request) => ({
    auth: access.enabled ? 'enabled' : 'disabled',
    reader: request.reader,
  }));
}

type Verdict = { reader: Reader } | { problem: string };

/** A bearer header, when present, decides alone; otherwise the session cookie. */
function identify(request: FastifyRequest, access: ReaderAccess): Verdict {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (!match) return { problem: 'the API takes "Authorization: Bearer <read token>"' };
    if (access.verifyToken(match[1])) return { reader: { kind: 'token' } };
    return { problem: 'the bearer token is not a read token of this server' };
  }
  const sessionId = request.cookies[SESSION_COOKIE];
  if (sessionId) {
    const user = access.sessionUser(sessionId);
    if (user !== undefined) return { reader: { kind: 'user', name: user } };
    return { problem: `the session has ended: log in again at ${LOGIN_PAGE}` };
  }
  return {
    problem:
      'credentials required: send "Authorization: Bearer <read token>" (api.auth.tokens, or the token ' +
      `generated into <dataDir>/read-token), or log in at ${LOGIN_PAGE}`,
  };
}

function isUiRoute(route: string | undefined): boolean {
  return route === '/' || route === '/ui' || (route?.startsWith('/ui/') ?? false);
}

function unauthorized(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="uniprof"')
    .send({ error: 'unauthorized', message });
}

function cookieOptions(request: FastifyRequest, access: ReaderAccess) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    // Secure whenever the browser reached us over TLS; a plain-HTTP loopback UI still gets its cookie.
    secure: request.protocol === 'https',
    maxAge: access.sessionTtlSeconds,
  };
}

function startSession(
  request: FastifyRequest,
  reply: FastifyReply,
  access: ReaderAccess,
  sessionId: string,
): FastifyReply {
  const user = access.sessionUser(sessionId);
  return reply
    .setCookie(SESSION_COOKIE, sessionId, cookieOptions(request, access))
    .header('cache-control', 'no-store')
    .send({ user });
}
