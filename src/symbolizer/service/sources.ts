/**
 * What the worker needs from the rest of the symbolizer, as small interfaces: where a file's debug
 * information is found (debuginfod, local debug directories) and how its symbol ranges are read. The real
 * implementations are wired in `wiring.ts`.
 */
import type { SymbolRange } from '../../model/symbols.ts';
import type { SymbolSource } from '../../store/symbolization.ts';

export interface DebugInfoQuery {
  /** GNU build ID (hex), when the agent reported one: what debuginfod and `.build-id` directories key on. */
  buildId?: string;
  /** The executable's file name as the agent reported it. */
  fileName: string;
}

export interface DebugInfoFound {
  /** An ELF file with the executable's debug information (a separate debug file, or the executable). */
  path: string;
  source: Exclude<SymbolSource, 'upload'>;
  /** Where the file's companions are (dwz supplementary file, …), for the extractor. */
  debugDirectories?: string[];
}
/** `notFound` is a short reason kept with the executable and used as a metric label (`no-build-id`, …). */
export type DebugInfoMissing = { notFound: string };

export interface DebugInfoLookup {
  find(query: DebugInfoQuery): Promise<DebugInfoFound | DebugInfoMissing>;
  /**
   * The executable itself (its code, for return pads) when the debug information found is a separate debug
   * file: a file with the same build ID, or undefined when no source has one. Never throws.
   */
  findExecutable?(query: DebugInfoQuery): Promise<string | undefined>;
  /**
   * Calls `listener` whenever a source that could not be reached answers again, with the `notFound` reasons
   * that work waiting for that source was given; returns a function that unsubscribes it.
   */
  onSourceBack?(listener: (reasons: readonly string[]) => void): () => void;
}

/**
 * Symbol ranges of an ELF file (an executable, or a separate debug file), produced a chunk at a time so a
 * large file is never held whole; in this thread (`extractRanges`) or another (`threadedRangeExtractor`).
 * Throws (from the iteration) when the file is malformed.
 */
export type RangeExtractor = (
  path: string,
  options: { debugFile?: string; debugDirectories?: string[] },
) => Iterable<SymbolRange[]> | AsyncIterable<SymbolRange[]>;

export function isMissing(result: DebugInfoFound | DebugInfoMissing): result is DebugInfoMissing {
  return 'notFound' in result;
}
