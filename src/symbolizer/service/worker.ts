/**
 * The symbolizer worker: leases due executables from the store's symbolization queue, finds and stores their
 * symbols, answers their queued frames from the stored symbols, and releases them. Everything it knows lives
 * in the store, so a worker that dies loses nothing: its leases expire (or its successor, asking under the
 * same owner, takes them back at once) and the work is done again.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  framesAt,
  toStackFrameSymbols,
  type ReturnPad,
  type SymbolRange,
  type StackFrameSymbols,
} from '../../model/index.ts';
import type { ExecutableWork, SymbolizationStore, SymbolsVersion } from '../../store/symbolization.ts';
import { RangeIndex } from '../ranges/range-index.ts';
import { openExecutableCode, returnPadsFrom, type ExecutableCode } from '../returnpads/generate.ts';
import { retryDelaySeconds, type RetrySettings } from './backoff.ts';
import type { SymbolizerMetrics } from './metrics.ts';
import { RangeCache } from './range-cache.ts';
import { isMissing, type DebugInfoLookup, type RangeExtractor } from './sources.ts';

export interface WorkerOptions {
  /** Lease owner, stable per installation (see owner.ts). */
  owner: string;
  /** Executables worked on at once. */
  concurrency: number;
  pollIntervalMs: number;
  leaseMs: number;
  retry: RetrySettings;
  /** Debug directories handed to the extractor (for dwz supplementary files and the like). */
  debugDirectories: string[];
  /** Queued frames read and answered per store round trip. */
  frameBatchSize?: number;
  /** Log progress of a long extraction at most this often. */
  progressIntervalMs?: number;
  /**
   * Generate and store return pads when the executable's code is at hand (default true): most queued frames
   * are return addresses, answered then by a point lookup. Holds the file's ranges in memory meanwhile.
   */
  returnPads?: boolean;
  /**
   * Estimated bytes of hot files' symbol ranges the worker keeps (see range-cache.ts): batches of frames of
   * a file it answered before are then looked up in memory. 0 turns the cache off.
   */
  rangeCacheBytes?: number;
}

export interface WorkerDependencies {
  store: SymbolizationStore;
  lookup: DebugInfoLookup;
  extractRanges: RangeExtractor;
  metrics: SymbolizerMetrics;
  logger: Logger;
}

/** Reasons an attempt found no symbols, beyond those the lookup gives. */
export const FailureReason = {
  BadDebugFile: 'bad-debug-file',
  LookupError: 'lookup-error',
  StoreError: 'store-error',
} as const;

const DEFAULT_FRAME_BATCH = 2_000;
const DEFAULT_RANGE_CACHE_BYTES = 128 * 1024 * 1024;
/**
 * A file's ranges are read whole into the cache the second time its frames are answered (it is hot), or at
 * once when one batch asks for at least this share of its ranges' count (a search would fetch as much).
 */
const LOAD_WHOLE_SHARE = 1 / 16;
/** Files remembered as looked up once (for the rule above), and as tried for pads without code. */
const REMEMBERED_FILES = 10_000;
/** A file whose executable was not found for its pads is tried again after this long. */
const PAD_BACKFILL_RETRY_MS = 3_600_000;
const DEFAULT_PROGRESS_INTERVAL_MS = 10_000;
/** Pads per chunk handed to the store: a few milliseconds of decoding between event-loop turns. */
const PAD_CHUNK = 1024;
/** Give the event loop a turn at least this often while extracting, so health checks and scrapes answer. */
const YIELD_INTERVAL_MS = 50;

/** The extractor failed on the file: a bad debug file, not a store problem. */
class ExtractionError extends Error {
  override readonly name = 'ExtractionError';
}

/** The worker is stopping or lost its lease: the work is left for the lease to expire. */
class Abandoned extends Error {
  override readonly name = 'Abandoned';
}

/**
 * One executable in progress. The store may hand the same executable to its owner again (with a fresh lease)
 * while it is being worked on; the task then goes on under the newest lease. Once it begins releasing the
 * executable it lets go of it (`onRelease`): a lease handed out after that is new work, not this task's.
 */
class LeasedTask {
  private renewedAt = performance.now();

  constructor(
    public work: ExecutableWork,
    private readonly store: SymbolizationStore,
    private readonly leaseMs: number,
    private readonly onRelease: () => void,
  ) {}

  /** Gives the executable back to the queue (see SymbolizationStore.releaseExecutable). */
  release(outcome: { retryAt?: number; reason?: string }): Promise<boolean> {
    this.onRelease();
    return this.store.releaseExecutable(this.work, outcome);
  }

  adopt(fresh: ExecutableWork): void {
    this.work = { ...this.work, lease: fresh.lease };
    this.renewedAt = performance.now();
  }

  /** Renews the lease once a third of it has passed; throws Abandoned when it was lost. */
  async keepAlive(): Promise<void> {
    if (performance.now() - this.renewedAt < this.leaseMs / 3) return;
    const asked = this.work;
    const kept = await this.store.renewLease(asked, this.leaseMs);
    // A lease replaced meanwhile by a fresh one (adopt) is not lost.
    if (!kept && this.work.lease === asked.lease)
      throw new Abandoned(`the lease on ${asked.fileId} was lost`);
    this.renewedAt = performance.now();
  }
}

export class SymbolizerWorker {
  private readonly options: Required<WorkerOptions>;
  /** Executables being worked on and not yet being released, by file ID: a fresh lease of one is adopted. */
  private readonly tasks = new Map<string, LeasedTask>();
  /** Every task until it has ended, releasing ones included: these count against the concurrency. */
  private readonly unfinished = new Set<Promise<void>>();
  private running = false;
  private stopping = false;
  private loop?: Promise<void>;
  private wakeUp?: () => void;
  private leaseWarnedAt = -Infinity;
  private stopListening?: () => void;
  /** The last time a source that was down answered again, and the reasons of work that waited for it. */
  private sourceBack?: { at: number; reasons: readonly string[] };
  private readonly log: Logger;
  private readonly rangeCache: RangeCache;
  /** Files (and their symbols' version) whose frames were answered once from a store search. */
  private readonly searchedOnce = new Map<string, string>();
  /** Files whose pads were tried without the executable at hand: when, for which symbols' version. */
  private readonly padsTried = new Map<string, { version: string; at: number }>();

  constructor(
    options: WorkerOptions,
    private readonly deps: WorkerDependencies,
  ) {
    this.options = {
      frameBatchSize: DEFAULT_FRAME_BATCH,
      progressIntervalMs: DEFAULT_PROGRESS_INTERVAL_MS,
      returnPads: true,
      rangeCacheBytes: DEFAULT_RANGE_CACHE_BYTES,
      ...options,
    };
    this.rangeCache = new RangeCache(this.options.rangeCacheBytes);
    this.log = deps.logger.child({ component: 'symbolizer' });
  }

  get isRunning(): boolean {
    return this.running && !this.stopping;
  }

  start(): void {
    if (this.loop) throw new Error('the symbolizer worker was already started');
    this.running = true;
    this.stopListening = this.deps.lookup.onSourceBack?.((reasons) => void this.retryWaiting(reasons));
    this.loop = this.run();
  }

  /** Ask the queue now rather than at the next poll (e.g. after symbols were uploaded). */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * Stops leasing and abandons work in progress at its next step (an extraction's next chunk, the next batch
   * of frames): nothing half-written stays in the store, and the leases simply expire. Resolves once every
   * task has let go of the store.
   */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.stopListening?.();
    this.wake();
    await this.loop;
    await Promise.all(this.unfinished);
    this.running = false;
    this.log.info('symbolizer worker stopped');
  }

  private async run(): Promise<void> {
    const { owner, concurrency, leaseMs, pollIntervalMs } = this.options;
    this.log.info({ owner, concurrency }, 'symbolizer worker started');
    while (!this.stopping) {
      let leased = 0;
      const free = concurrency - this.unfinished.size;
      if (free > 0) {
        try {
          // Only as many as there is room for: one leased and not started would wait out its lease. An
          // executable in progress may come back (this owner's lease counts as free): it goes on under the new
          // lease and takes a place in this round only.
          const works = await this.deps.store.leaseExecutables(owner, free, leaseMs);
          for (const work of works) {
            const inProgress = this.tasks.get(work.fileId);
            if (inProgress) inProgress.adopt(work);
            else if (this.unfinished.size < concurrency && !this.stopping) {
              this.begin(work);
              leased++;
            }
          }
        } catch (error) {
          this.deps.metrics.workerErrors.inc();
          // Once a minute at most: an unreachable store would otherwise log every poll.
          if (performance.now() - this.leaseWarnedAt > 60_000) {
            this.leaseWarnedAt = performance.now();
            this.log.warn({ err: error }, 'could not lease executables from the store; trying again');
          }
        }
      }
      if (this.stopping) break;
      // Work found and room for more: ask again at once. Otherwise wait for the poll or a finished task.
      if (leased > 0 && this.unfinished.size < concurrency) continue;
      await this.sleep(pollIntervalMs);
    }
  }

  /**
   * A source that was down answers again: work that waited for it (with one of `reasons`) is due now, its
   * backoff (grown during the outage, up to `retry.maxSeconds`) started over.
   */
  private async retryWaiting(reasons: readonly string[]): Promise<void> {
    this.sourceBack = { at: performance.now(), reasons };
    try {
      const executables = await this.deps.store.retryWaitingNow(reasons);
      this.log.info(
        { reasons, executables },
        'a source that was down answers again; work waiting for it is due now',
      );
      if (executables > 0) this.wake();
    } catch (error) {
      // Their backoff stands: they are retried then.
      this.deps.metrics.workerErrors.inc();
      this.log.warn({ err: error, reasons }, 'could not make the work waiting for a source due now');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private begin(work: ExecutableWork): void {
    // Let go before the release is sent: the store may lease the executable again in the same transaction
    // (new frames came meanwhile), and that lease must start a task, not reach this one as it ends.
    const letGo = () => {
      if (this.tasks.get(work.fileId) === task) this.tasks.delete(work.fileId);
    };
    const task = new LeasedTask(work, this.deps.store, this.options.leaseMs, letGo);
    this.tasks.set(work.fileId, task);
    const done = this.process(task).finally(() => {
      letGo();
      this.unfinished.delete(done);
      this.deps.metrics.inFlight.set(this.unfinished.size);
      // A slot is free: look for more work now rather than at the next poll.
      this.wake();
    });
    this.unfinished.add(done);
    this.deps.metrics.inFlight.set(this.unfinished.size);
  }

  /** One executable, start to release; never throws. */
  private async process(task: LeasedTask): Promise<void> {
    const { metrics } = this.deps;
    const work = task.work;
    const log = this.log.child({ fileId: work.fileId, fileName: work.fileName, buildId: work.buildId });
    const stopTimer = metrics.executableDuration.startTimer();
    const startedAt = performance.now();
    try {
      if (!work.hasSymbols) {
        const found = await this.deps.lookup
          .find({ buildId: work.buildId, fileName: work.fileName })
          .catch((error: unknown) => {
            log.warn({ err: error }, 'looking for debug information failed; will retry');
            return { notFound: FailureReason.LookupError };
          });
        if (isMissing(found)) {
          await this.retryLater(task, found.notFound, log, startedAt);
          return;
        }
        log.debug({ path: found.path, source: found.source }, 'debug information found; extracting symbols');
        // Looked for first: without the executable's code there are no pads, and no ranges to keep for them.
        const code = this.options.returnPads ? await this.executableCode(work, found.path, log) : undefined;
        try {
          const started = performance.now();
          const kept: SymbolRange[] | undefined = code ? [] : undefined;
          const ranges = this.extract(task, found.path, found.debugDirectories, log, kept);
          const { ranges: stored } = await this.deps.store.putSymbols(work.fileId, ranges, {
            source: found.source,
            buildId: work.buildId,
            fileName: work.fileName,
          });
          metrics.executablesSymbolized.inc({ source: found.source });
          log.info(
            { source: found.source, ranges: stored, ms: Math.round(performance.now() - started) },
            'symbols stored',
          );
          if (code && kept) await this.storeReturnPads(task, code, RangeIndex.of(kept), log);
        } finally {
          code?.elf.close();
        }
      }
      const answered = await this.answerQueuedFrames(task);
      if (work.hasSymbols && this.options.returnPads) await this.backfillReturnPads(task, log);
      const released = await task.release({});
      log.debug({ ...answered, released }, 'executable done');
    } catch (error) {
      if (error instanceof Abandoned) {
        log.info({ reason: error.message }, 'work abandoned; its lease will expire');
      } else if (error instanceof ExtractionError) {
        log.warn({ err: error.cause }, 'the debug file could not be read; will retry');
        await this.retryLater(task, FailureReason.BadDebugFile, log);
      } else {
        metrics.workerErrors.inc();
        log.error({ err: error }, 'symbolizing an executable failed; will retry');
        await this.retryLater(task, FailureReason.StoreError, log);
      }
    } finally {
      stopTimer();
    }
  }

  /**
   * Releases the executable with its next attempt due after the backoff; a store failure is only logged. When
   * the source it waits for came back while it was being tried (`startedAt`: its lookup began), the store's
   * `retryWaitingNow` passed it by (it was leased): it is due again at once.
   */
  private async retryLater(task: LeasedTask, reason: string, log: Logger, startedAt?: number): Promise<void> {
    const back = this.sourceBack;
    const cameBack =
      startedAt !== undefined && back !== undefined && back.at >= startedAt && back.reasons.includes(reason);
    const delaySeconds = cameBack ? 0 : retryDelaySeconds(task.work.attempts, this.options.retry);
    this.deps.metrics.executablesFailed.inc({ reason });
    try {
      await task.release({
        retryAt: Date.now() + delaySeconds * 1000,
        reason,
      });
      log.info({ reason, attempts: task.work.attempts + 1, retryInSeconds: delaySeconds }, 'no symbols yet');
    } catch (error) {
      // The lease expires instead; the executable is then due again.
      this.deps.metrics.workerErrors.inc();
      log.warn({ err: error }, 'could not release the executable; its lease will expire');
    }
  }

  /**
   * The extractor's chunks as the store consumes them, with the lease kept alive, progress logged, the event
   * loop given turns, and the work abandoned once the worker stops (the store then keeps nothing of it).
   */
  private async *extract(
    task: LeasedTask,
    path: string,
    debugDirectories: string[] | undefined,
    log: Logger,
    /** Receives every range too (for return pads). */
    kept?: SymbolRange[],
  ): AsyncGenerator<readonly SymbolRange[]> {
    let iterator: Iterator<SymbolRange[]> | AsyncIterator<SymbolRange[]>;
    try {
      const iterable = this.deps.extractRanges(path, {
        debugDirectories: debugDirectories ?? this.options.debugDirectories,
      });
      iterator =
        Symbol.asyncIterator in iterable ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
    } catch (error) {
      throw new ExtractionError(`cannot read ${path}`, { cause: error });
    }
    let ranges = 0;
    let chunks = 0;
    const started = performance.now();
    let loggedAt = started;
    let yieldedAt = started;
    try {
      for (;;) {
        if (this.stopping) throw new Abandoned('the symbolizer is stopping');
        let next: IteratorResult<SymbolRange[]>;
        try {
          next = await iterator.next();
        } catch (error) {
          throw new ExtractionError(`cannot read ${path}`, { cause: error });
        }
        if (next.done) break;
        ranges += next.value.length;
        chunks++;
        this.deps.metrics.symbolRanges.inc(next.value.length);
        if (kept) for (const range of next.value) kept.push(range);
        yield next.value;
        await task.keepAlive();
        const now = performance.now();
        if (now - yieldedAt > YIELD_INTERVAL_MS) {
          await yieldToEventLoop();
          yieldedAt = performance.now();
        }
        if (now - loggedAt > this.options.progressIntervalMs) {
          loggedAt = now;
          log.info(
            { path, ranges, chunks, seconds: Math.round((now - started) / 1000) },
            'extracting symbols',
          );
        }
      }
    } finally {
      // Let a generator-based extractor close its files when the work stops early.
      if (typeof iterator.return === 'function') {
        try {
          await iterator.return();
        } catch {
          // Closing failed: nothing more to do with this file.
        }
      }
    }
  }

  /**
   * The executable's code, for return pads: `symbolsPath` when it is the executable itself, else the
   * executable the sources find by build ID (on this machine, or debuginfod's `/executable`); undefined when
   * there is none (a separate debug file has no code) or its machine has no decoder. The caller closes it.
   */
  private async executableCode(
    work: ExecutableWork,
    symbolsPath: string | undefined,
    log: Logger,
  ): Promise<ExecutableCode | undefined> {
    const { lookup } = this.deps;
    let opened: ReturnType<typeof openExecutableCode> =
      symbolsPath === undefined
        ? { notUsable: 'no file with symbols at hand' }
        : openExecutableCode(symbolsPath);
    if ('notUsable' in opened && lookup.findExecutable) {
      const executable = await lookup
        .findExecutable({ buildId: work.buildId, fileName: work.fileName })
        .catch(() => undefined);
      if (executable !== undefined) opened = openExecutableCode(executable);
    }
    if ('notUsable' in opened) {
      log.debug({ reason: opened.notUsable }, 'no executable code at hand: no return pads');
      return undefined;
    }
    return opened.executable;
  }

  /**
   * Return pads for the ranges just stored, from the executable's code. A failure costs only the pads (the
   * frames then get their names from the ranges).
   */
  private async storeReturnPads(
    task: LeasedTask,
    executable: ExecutableCode,
    ranges: RangeIndex,
    log: Logger,
  ): Promise<boolean> {
    const { store, metrics } = this.deps;
    const started = performance.now();
    try {
      const { pads } = await store.putReturnPads(task.work.fileId, this.padChunks(task, executable, ranges));
      metrics.returnPads.inc(pads);
      log.info(
        { pads, executable: executable.elf.path, ms: Math.round(performance.now() - started) },
        'return pads stored',
      );
      return true;
    } catch (error) {
      if (error instanceof Abandoned) throw error;
      metrics.returnPadFailures.inc();
      log.warn({ err: error }, 'return pads were not stored; frames are answered from the ranges');
      return false;
    }
  }

  /** Pads a chunk at a time, with the lease kept alive and the event loop given turns. */
  private async *padChunks(
    task: LeasedTask,
    executable: ExecutableCode,
    index: RangeIndex,
  ): AsyncGenerator<readonly ReturnPad[]> {
    let yieldedAt = performance.now();
    for (const chunk of returnPadsFrom(executable, index, { chunkSize: PAD_CHUNK })) {
      if (this.stopping) throw new Abandoned('the symbolizer is stopping');
      yield chunk;
      await task.keepAlive();
      if (performance.now() - yieldedAt > YIELD_INTERVAL_MS) {
        await yieldToEventLoop();
        yieldedAt = performance.now();
      }
    }
  }

  /**
   * Answers the executable's queued frames from its stored symbols, a batch at a time: each frame gets the
   * inline chain at its address, or leaves the queue without symbols when no range covers it. Return pads
   * are asked first (point lookups); only the addresses without one are searched in the ranges.
   */
  private async answerQueuedFrames(
    task: LeasedTask,
  ): Promise<{ symbolized: number; withoutSymbols: number }> {
    const { store, metrics } = this.deps;
    const fileId = task.work.fileId;
    const limit = this.options.frameBatchSize;
    let symbolized = 0;
    let withoutSymbols = 0;
    const answered = new Set<string>();
    for (;;) {
      if (this.stopping) throw new Abandoned('the symbolizer is stopping');
      const frames = await store.pendingFrames(fileId, limit);
      // A frame handed back after it was resolved means the store did not take it off: stop, not spin.
      const fresh = frames.filter((f) => !answered.has(f.frameId));
      if (fresh.length === 0) break;
      const addresses = [...new Set(fresh.map((f) => f.address))];
      const pads = await store.returnPads(fileId, addresses);
      const rest = addresses.filter((address) => !pads.has(address));
      const held = rest.length > 0 ? await this.heldRanges(fileId, rest.length) : undefined;
      const ranges =
        rest.length > 0 && !held ? await store.symbolRanges(fileId, rest) : new Map<number, SymbolRange[]>();
      const symbols: StackFrameSymbols[] = [];
      let padHits = 0;
      for (const frame of fresh) {
        answered.add(frame.frameId);
        const padded = pads.get(frame.address);
        if (padded) padHits++;
        const chain =
          padded ??
          (held ? held.symbolize(frame.address) : framesAt(ranges.get(frame.address) ?? [], frame.address));
        if (chain.length > 0) symbols.push(toStackFrameSymbols(frame.frameId, chain));
      }
      metrics.returnPadLookups.inc({ result: 'hit' }, padHits);
      metrics.returnPadLookups.inc({ result: 'miss' }, fresh.length - padHits);
      await store.resolveFrames(
        symbols,
        fresh.map((f) => f.frameId),
      );
      symbolized += symbols.length;
      withoutSymbols += fresh.length - symbols.length;
      metrics.framesSymbolized.inc(symbols.length);
      metrics.framesWithoutSymbols.inc(fresh.length - symbols.length);
      if (frames.length < limit) break;
      await task.keepAlive();
    }
    return { symbolized, withoutSymbols };
  }

  /**
   * The file's ranges from the cache when it holds its current symbols; read whole into it when the file is
   * hot (answered before) or this batch needs a good share of them; else undefined (the caller searches the
   * store for this batch's addresses only). One `symbolsVersion` read per batch keeps it current.
   */
  private async heldRanges(fileId: string, addresses: number): Promise<RangeIndex | undefined> {
    if (this.options.rangeCacheBytes <= 0) return undefined;
    const { store, metrics } = this.deps;
    const current = await store.symbolsVersion(fileId);
    if (current === undefined) return undefined;
    const held = this.rangeCache.get(fileId, current.version);
    if (held) {
      metrics.rangeCacheLookups.inc({ result: 'hit' });
      return held;
    }
    if (!this.rangeCache.couldHold(current.ranges)) {
      metrics.rangeCacheLookups.inc({ result: 'too-big' });
      return undefined;
    }
    const hot = this.searchedOnce.get(fileId) === current.version;
    if (!hot && addresses < current.ranges * LOAD_WHOLE_SHARE) {
      remember(this.searchedOnce, fileId, current.version);
      metrics.rangeCacheLookups.inc({ result: 'miss' });
      return undefined;
    }
    this.searchedOnce.delete(fileId);
    metrics.rangeCacheLookups.inc({ result: 'miss' });
    return this.loadRanges(fileId, current, this.rangeCache.maxBytes);
  }

  /** Reads the file's current ranges whole into the cache (which keeps them if they fit); undefined if none. */
  private async loadRanges(
    fileId: string,
    current: SymbolsVersion,
    maxBytes: number,
  ): Promise<RangeIndex | undefined> {
    // The count bound only stops a file the marker undercounts; the cache checks the bytes.
    const loaded = await this.deps.store.allSymbolRanges(fileId, Math.max(current.ranges, maxBytes / 100));
    if (loaded === undefined) return undefined;
    const index = this.rangeCache.set(fileId, loaded.version, loaded.ranges);
    this.deps.metrics.rangeCacheBytes.set(this.rangeCache.bytes);
    this.deps.metrics.rangeCacheFiles.set(this.rangeCache.files);
    return index;
  }

  /**
   * Return pads for a file that has symbols but none (stored before pads existed, uploaded without them, or a
   * worker stopped between the two steps), made once from its stored ranges when its executable can be had
   * (this machine, by build ID; debuginfod's `/executable`). A file whose executable cannot be had is tried
   * again after an hour, or at once when its symbols change. Never throws but Abandoned.
   */
  private async backfillReturnPads(task: LeasedTask, log: Logger): Promise<void> {
    const { store, metrics } = this.deps;
    const fileId = task.work.fileId;
    try {
      const current = await store.symbolsVersion(fileId);
      if (current === undefined) return;
      const tried = this.padsTried.get(fileId);
      if (tried?.version === current.version && Date.now() - tried.at < PAD_BACKFILL_RETRY_MS) return;
      if (await store.hasReturnPads(fileId)) return;
      remember(this.padsTried, fileId, { version: current.version, at: Date.now() });
      const code = await this.executableCode(task.work, undefined, log);
      if (code === undefined) {
        metrics.returnPadBackfills.inc({ result: 'no-code' });
        return;
      }
      try {
        // Every range is needed (a call's chain needs every depth), cached or not.
        const index =
          this.rangeCache.get(fileId, current.version) ??
          (await this.loadRanges(fileId, current, Number.MAX_SAFE_INTEGER));
        if (index === undefined) return;
        await task.keepAlive();
        if (await this.storeReturnPads(task, code, index, log)) {
          this.padsTried.delete(fileId);
          metrics.returnPadBackfills.inc({ result: 'stored' });
        }
      } finally {
        code.elf.close();
      }
    } catch (error) {
      if (error instanceof Abandoned) throw error;
      metrics.returnPadFailures.inc();
      log.warn({ err: error }, 'return pads could not be made from the stored symbols');
    }
  }
}

/** Sets `key` in a map used as a bounded memo, dropping the oldest entry past REMEMBERED_FILES. */
function remember<T>(map: Map<string, T>, key: string, value: T): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > REMEMBERED_FILES) map.delete(map.keys().next().value!);
}
