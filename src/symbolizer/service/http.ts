import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createHttpApp } from '../../collector/http-server.ts';
import type { SymbolizerMetrics } from './metrics.ts';

export interface SymbolizerReadiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

/** The symbolizer's own HTTP server: `/health`, `/ready`, `/metrics`, plus the routes of SYMBOL_ROUTES. */
export function createSymbolizerHttp(
  logger: Logger,
  metrics: SymbolizerMetrics,
  readiness: () => SymbolizerReadiness,
): FastifyInstance {
  const app = createHttpApp(logger);
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const report = readiness();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  return app;
}
