import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Credentials a request carries, wherever a serializer or a log call might put its headers: never in a log.
 * (Fastify's own request serializer logs no headers; this holds if one ever does.)
 */
const SECRET_PATHS = ['authorization', 'cookie', 'set-cookie'].flatMap((header) => [
  `req.headers["${header}"]`,
  `res.headers["${header}"]`,
  `headers["${header}"]`,
  `request.headers["${header}"]`,
]);

/** JSON lines on stderr, so stdout stays for what a command prints for its user (URLs, figures). */
export function createLogger(level: string): Logger {
  return pino(
    { level, base: { service: 'uniprof' }, redact: { paths: SECRET_PATHS, censor: '[redacted]' } },
    pino.destination(2),
  );
}
