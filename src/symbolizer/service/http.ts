import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createHttpApp, registerOperationalRoutes, type Readiness } from '../../collector/http-server.ts';
import type { SymbolizerMetrics } from './metrics.ts';

/** The symbolizer's own HTTP server: `/health`, `/ready`, `/metrics`, plus the routes of SYMBOL_ROUTES. */
export function createSymbolizerHttp(
  logger: Logger,
  metrics: SymbolizerMetrics,
  readiness: () => Readiness,
): FastifyInstance {
  const app = createHttpApp(logger);
  registerOperationalRoutes(app, metrics, readiness);
  return app;
}
