import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createHttpApp, registerOperationalRoutes, type Readiness } from '../../collector/http-server.ts';
import type { TlsFiles } from '../../collector/options.ts';
import type { SymbolizerMetrics } from './metrics.ts';

/** The symbolizer's own HTTP server: `/health`, `/ready`, `/metrics`, plus the routes of SYMBOL_ROUTES. */
export function createSymbolizerHttp(
  logger: Logger,
  metrics: SymbolizerMetrics,
  readiness: () => Readiness,
  tls?: TlsFiles,
): FastifyInstance {
  const app = createHttpApp(logger, { tls, setting: 'symbolizer.http.tls' });
  registerOperationalRoutes(app, metrics, readiness);
  return app;
}
