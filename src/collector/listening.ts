/**
 * One log line per bound listener, the same for every listener uniprof has, so that people and programs
 * (supervisors, tests) learn where it listens: with port 0 in the config the system picks a free port, and
 * this line is where it is told. See docs/collector.md, "Listeners".
 */
import type { Server } from 'node:net';
import type { Logger } from 'pino';

/** The listeners, named as their config sections. */
export type ListenerName = 'collector.grpc' | 'collector.http' | 'api.http' | 'symbolizer.http';

/**
 * Logs `{"listener":"collector.grpc","address":"127.0.0.1:4317","host":"127.0.0.1","port":4317,"tls":false,
 * "msg":"listening"}` (info level).
 */
export function logListening(
  logger: Logger,
  listener: ListenerName,
  bound: { host: string; port: number; tls: boolean },
): void {
  const host = bound.host.includes(':') ? `[${bound.host}]` : bound.host;
  logger.info({ listener, address: `${host}:${bound.port}`, ...bound }, 'listening');
}

/** The port a listening server is bound to (the one the system chose when asked for port 0). */
export function boundPort(server: Pick<Server, 'address'>): number {
  const address = server.address();
  if (address === null || typeof address === 'string')
    throw new Error('the server is not listening on a port');
  return address.port;
}
