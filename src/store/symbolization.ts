import type {
  PendingFrame,
  ReturnPad,
  StackFrameSymbols,
  SymbolizedFrame,
  SymbolRange,
} from '../model/index.ts';

/**
 * Where a file's symbols came from. Uploaded symbols are private to this installation (Elasticsearch:
 * `profiling-symbols-private`); symbols from debuginfod or local debug files are public build artefacts
 * (`profiling-symbols-global`).
 */
export type SymbolSource = 'upload' | 'debuginfod' | 'local';

/** An executable leased to one symbolizer worker. */
export interface ExecutableWork {
  fileId: string;
  /** GNU build ID (hex), when the agent reported one. */
  buildId?: string;
  fileName: string;
  /** The store holds symbols for this file: queued frames are answered from them, no source is asked. */
  hasSymbols: boolean;
  /** Attempts so far that found no symbols. */
  attempts: number;
  /** Why the last attempt found none. */
  lastReason?: string;
  /** Opaque proof of the lease, checked when the work is released. */
  lease: string;
}

export interface SymbolizationBacklog {
  /** Executables with queued frames and no symbols yet (waiting for a source). */
  pendingExecutables: number;
  /** Native frames queued for symbols. */
  pendingFrames: number;
  /** Executables the store holds symbols for. */
  symbolizedExecutables: number;
  /** Executables waiting for their next attempt, by the reason the last one found nothing. */
  waitingByReason: Record<string, number>;
}

/** Which symbols a file has now: `version` changes with every `putSymbols` of the file, by any process. */
export interface SymbolsVersion {
  version: string;
  /** How many ranges they are. */
  ranges: number;
}

export interface PutSymbolsInfo {
  source: SymbolSource;
  buildId?: string;
  fileName?: string;
}

/**
 * The symbolization queue and the symbols themselves, as one store keeps them. The collector fills the
 * queue through `ProfileBatch.pendingFrames` (written with the batch, so an acknowledged frame is never
 * missing from it); symbolizer workers, in this process or others sharing the store, drain it.
 *
 * The unit of work is an executable: it is *due* when frames were queued for it since it was last worked
 * on, when symbols were stored for it, or when its retry time has passed. An executable whose last attempt
 * found no symbols waits for its retry time even when new frames come (else one nobody has symbols for would
 * be tried on every agent report). Leases keep two workers off the same executable; a lease that expires
 * (its worker died) makes the executable due again.
 */
export interface SymbolizationStore {
  /**
   * Up to `limit` due executables not leased by another worker, leased to `owner` for `leaseMs`.
   * A symbolizer's owner is stable across restarts (one per data directory): leases its earlier life held
   * are free to it, so one restarted after a crash takes its unfinished work back at once instead of waiting
   * for them to expire. Leases the running owner holds stay its own and are not handed out again.
   */
  leaseExecutables(owner: string, limit: number, leaseMs: number): Promise<ExecutableWork[]>;
  /** Keeps a lease alive during long work; false when it was lost. */
  renewLease(work: ExecutableWork, leaseMs: number): Promise<boolean>;
  /** Queued frames of one executable, at most `limit`. */
  pendingFrames(fileId: string, limit: number): Promise<PendingFrame[]>;
  /**
   * Stores a file's symbols, replacing any it had (uploading the same file again changes nothing). All or
   * nothing: when `ranges` throws, nothing of this call remains. The executable becomes due, so frames
   * already queued or stored for it get names.
   */
  putSymbols(
    fileId: string,
    ranges: AsyncIterable<readonly SymbolRange[]>,
    info: PutSymbolsInfo,
  ): Promise<{ ranges: number }>;
  /**
   * Stores a file's return pads (see `ReturnPad`), replacing any it had: storing the same pads again changes
   * nothing. All or nothing on the embedded store; on Elasticsearch a failure part way leaves some of the
   * new pads, each correct (lookups of the others fall back to the ranges). `putSymbols` drops a file's pads,
   * since they were computed from the ranges it replaces: store the pads after the symbols.
   */
  putReturnPads(fileId: string, pads: AsyncIterable<readonly ReturnPad[]>): Promise<{ pads: number }>;
  /** For each address that has a return pad of `fileId`, its chain (innermost first); point lookups. */
  returnPads(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolizedFrame[]>>;
  /** Which of these files the store holds symbols for. */
  filesWithSymbols(fileIds: readonly string[]): Promise<Set<string>>;
  /**
   * The version of the file's current symbols, undefined when it has none. Real time: symbols stored by
   * another process show at once, so a copy of the ranges kept under this version is known to be current.
   */
  symbolsVersion(fileId: string): Promise<SymbolsVersion | undefined>;
  /**
   * Every range of the file's current symbols and their version, all of one version (an upload finishing
   * meanwhile is read again); undefined when it has none or more than `maxRanges`.
   */
  allSymbolRanges(
    fileId: string,
    maxRanges: number,
  ): Promise<{ version: string; ranges: SymbolRange[] } | undefined>;
  /**
   * Whether return pads were stored for the file since its symbols were (`putReturnPads`, even of no pads):
   * false for files stored before pads existed, uploaded without them, or whose pad step never ran.
   */
  hasReturnPads(fileId: string): Promise<boolean>;
  /** For each address, the ranges of `fileId` that contain it (every depth); absent when none does. */
  symbolRanges(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolRange[]>>;
  /**
   * Stores the symbols of resolved frames (as the stack frames readers read) and takes `frameIds` off the
   * queue — those with symbols and those no symbol covers alike.
   */
  resolveFrames(symbols: readonly StackFrameSymbols[], frameIds: readonly string[]): Promise<void>;
  /**
   * Ends a lease. With `retryAt` (epoch ms) the attempt found no symbols: `attempts` grows, `reason` is kept
   * and the executable waits until `retryAt` (unless symbols were stored meanwhile). Without it the executable
   * rests until frames are queued for it again. Returns false when the lease had been lost, or frames or
   * symbols came meanwhile (without `retryAt`, or with symbols, the executable then stays due).
   */
  releaseExecutable(work: ExecutableWork, outcome: { retryAt?: number; reason?: string }): Promise<boolean>;
  /**
   * Executables waiting for their retry time (not leased) whose last attempt failed for one of `reasons`
   * become due now, their backoff started over (`attempts` 0): for a source that was down and answers again,
   * so work waiting on it does not sit out a backoff grown long during the outage. Returns how many.
   */
  retryWaitingNow(reasons: readonly string[]): Promise<number>;
  backlog(): Promise<SymbolizationBacklog>;
}
