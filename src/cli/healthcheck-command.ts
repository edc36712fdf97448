import type { Config } from '../config/config.ts';

/** Which of the process's HTTP servers to ask: the collector's (serve, collector) or the symbolizer's. */
export type HealthTarget = 'collector' | 'symbolizer';

/** A server bound to every address is asked on loopback; one bound to a single address, on that address. */
function dialHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function healthUrl(config: Config, target: HealthTarget): string {
  const server = target === 'symbolizer' ? config.symbolizer.http : config.collector.http;
  return `http://${dialHost(server.host)}:${server.port}/health`;
}

/**
 * `uniprof healthcheck`: asks a running Uniprof on this machine for /health, reading the same configuration
 * (file, UNIPROF_* environment, flags) as the server, so it follows a changed port or address. It is what a
 * container's health check runs, since the image has no curl or wget. Exit status 0 when healthy, 1 if not.
 */
export async function runHealthcheck(config: Config, target: HealthTarget, timeoutMs: number): Promise<void> {
  const url = healthUrl(config, target);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (response.ok) return;
    console.error(`uniprof healthcheck: ${url} answered ${response.status}`);
  } catch (error) {
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
    const cause = (error as Error).cause;
    const reason = cause instanceof Error ? cause.message : (error as Error).message;
    console.error(`uniprof healthcheck: ${url}: ${reason}`);
  }
  process.exitCode = 1;
}
