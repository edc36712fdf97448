/**
 * The real implementations behind the worker's interfaces: one line each to change when a better one lands.
 */
import type { Config } from '../../config/config.ts';
import { DebugInfoSources, type DebuginfodEvent } from '../sources/index.ts';
import { threadedRangeExtractor } from './extract-thread-main.ts';
import type { SymbolizerMetrics } from './metrics.ts';
import type { DebugInfoLookup, RangeExtractor } from './sources.ts';

/**
 * Where debug files come from: local debug directories, the executable itself when it is on this machine,
 * debuginfod (src/symbolizer/sources); the debuginfod client's events feed the metrics.
 */
export function createDebugInfoLookup(
  config: Config,
  metrics: SymbolizerMetrics,
  env: NodeJS.ProcessEnv = process.env,
): DebugInfoLookup {
  const sources = DebugInfoSources.fromConfig(config.symbolizer, config.dataDir, env);
  sources.debuginfod?.onEvent((event) => recordDebuginfodEvent(metrics, event));
  return sources;
}

function recordDebuginfodEvent(metrics: SymbolizerMetrics, event: DebuginfodEvent): void {
  switch (event.type) {
    case 'download':
      metrics.recordDebuginfodHit(event.bytes);
      break;
    case 'cache-hit':
      metrics.recordDebuginfodHit(0);
      break;
    case 'not-found':
    case 'negative-cache-hit':
      metrics.recordDebuginfodMiss();
      break;
    case 'error':
      metrics.recordDebuginfodError(event.kind);
      break;
    case 'evicted':
    case 'server-down':
    case 'server-up':
      break;
  }
}

/**
 * How a file's symbol ranges are read (src/symbolizer/ranges), a chunk at a time, in a worker thread so that
 * seconds of extraction never hold up the process's event loop (ingest, health checks, scrapes).
 */
export const defaultRangeExtractor: RangeExtractor = threadedRangeExtractor;
