import type { FastifyInstance } from 'fastify';

/**
 * Profiles must never be served on a server where nobody decided who may read them: the query API and the UI
 * refuse to register until registerReaderAuth has run (with credentials, or explicitly disabled).
 */
export function requireReaderAuth(app: FastifyInstance, what: string): void {
  if (!app.hasDecorator('readerAccess')) {
    throw new Error(
      `${what} needs reader authentication registered first (registerReaderAuth, or ReaderAccess.disabled() to serve without)`,
    );
  }
}
