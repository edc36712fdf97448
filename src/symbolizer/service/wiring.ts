/**
 * The real implementations behind the worker's interfaces: one line each to change when a better one lands.
 */
import type { Config } from '../../config/config.ts';
import { LocalDebugLookup } from './local-debug-lookup.ts';
import type { SymbolizerMetrics } from './metrics.ts';
import type { DebugInfoLookup, RangeExtractor } from './sources.ts';

/** Where debug files come from: local debug directories (debuginfod: the sources module, when it lands). */
export function createDebugInfoLookup(config: Config, _metrics: SymbolizerMetrics): DebugInfoLookup {
  return new LocalDebugLookup(config.symbolizer.debugDirectories);
}

/** How a file's symbol ranges are read: the ranges module's `extractRanges`, when it lands. */
export const defaultRangeExtractor: RangeExtractor = (path) => {
  throw new Error(`symbol range extraction is not available in this build (asked for ${path})`);
};
