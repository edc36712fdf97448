import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Collector } from '../collector/collector.ts';
import type { TlsFiles } from '../collector/options.ts';
import {
  closeHttp,
  createHttpApp,
  registerOperationalRoutes,
  type Readiness,
} from '../collector/http-server.ts';
import { boundPort, logListening } from '../collector/listening.ts';

/**
 * The readers' listener: the web UI and the query API on a port of their own (default 4320), so that exposing
 * the agents' OTLP ports to a fleet exposes no profile. It has `/health`, `/ready` and `/metrics` too (the
 * collector's registry and readiness, plus its own listening), so either port can be probed and scraped.
 */
export interface ApiServer {
  /** Register reader auth, the query API and the UI here before `start()`. */
  readonly app: FastifyInstance;
  /** Binds and resolves with `http://host:port`. */
  start(): Promise<string>;
  /** Stops accepting; in-flight requests finish unless `timeoutMs` passes first. */
  stop(timeoutMs: number): Promise<void>;
}

export function createApiServer(
  listen: { host: string; port: number; tls?: TlsFiles; trustProxy?: boolean | string },
  collector: Pick<Collector, 'metrics' | 'readiness'>,
  logger: Logger,
): ApiServer {
  const log = logger.child({ component: 'api' });
  const app = createHttpApp(log, { tls: listen.tls, setting: 'api.http.tls', trustProxy: listen.trustProxy });
  let listening = false;
  const readiness = (): Readiness => {
    const agents = collector.readiness();
    const checks = { ...agents.checks, api: listening };
    return { ...agents, ready: agents.ready && listening, checks };
  };
  registerOperationalRoutes(app, collector.metrics, readiness);
  return {
    app,
    async start() {
      const address = await app.listen({ host: listen.host, port: listen.port });
      listening = true;
      logListening(log, 'api.http', {
        host: listen.host,
        port: boundPort(app.server),
        tls: Boolean(listen.tls),
      });
      return address;
    },
    async stop(timeoutMs) {
      if (!listening) return;
      listening = false;
      await closeHttp(app, timeoutMs, log);
    },
  };
}
