/**
 * One symbol range extraction in this (fresh) process, its figures printed as one JSON line for
 * `bench:symbolizer-pipeline`'s large part. It loads only what the extraction needs, so the process's peak
 * RSS is the extraction's plus Node's, not the rest of the bench's modules.
 *
 *   extraction-child.ts thread PATH   as the symbolizer service runs it: `threadedRangeExtractor`, in its
 *                                     extraction thread (with that thread's heap limits)
 *   extraction-child.ts main PATH     as `symbtool push-symbols` runs it: `extractRanges` on the main thread
 *   extraction-child.ts MODE ''       the same modules loaded, nothing extracted (the baseline)
 */
import { extractRanges } from '../src/symbolizer/ranges/extract.ts';
import { threadedRangeExtractor } from '../src/symbolizer/service/extract-thread-main.ts';
import { peakRssMb } from './child.ts';

export interface ExtractionResult {
  ms: number;
  /** CPU time (user + system) of the whole process, every thread. */
  cpuMs: number;
  ranges: number;
  maxRssMb: number;
}

const [mode, path = ''] = process.argv.slice(2);
const result: ExtractionResult = { ms: 0, cpuMs: 0, ranges: 0, maxRssMb: 0 };
if (path !== '') {
  const started = performance.now();
  const cpu = process.cpuUsage();
  if (mode === 'thread') {
    for await (const chunk of threadedRangeExtractor(path, {})) result.ranges += chunk.length;
  } else {
    for (const chunk of extractRanges(path)) result.ranges += chunk.length;
  }
  const used = process.cpuUsage(cpu);
  result.ms = performance.now() - started;
  result.cpuMs = (used.user + used.system) / 1000;
}
result.maxRssMb = peakRssMb();
console.log(JSON.stringify(result));
