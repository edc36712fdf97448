import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SymbolizationBacklog } from '../../store/symbolization.ts';

/** How long a scrape waits for the store's backlog before it answers with the last known figures. */
const BACKLOG_TIMEOUT_MS = 2_000;

/**
 * The symbolizer's Prometheus metrics, on a registry of its own (served on the symbolizer's `/metrics`).
 * The debuginfod client and the symbol upload routes report through the `record…` methods.
 */
export class SymbolizerMetrics {
  readonly registry = new Registry();
  private backlogSource?: () => Promise<SymbolizationBacklog>;
  private backlogRead?: Promise<SymbolizationBacklog | undefined>;

  readonly framesSymbolized = new Counter({
    name: 'uniprof_symbolizer_frames_symbolized_total',
    help: 'Queued native frames answered with symbols.',
    registers: [this.registry],
  });

  readonly framesWithoutSymbols = new Counter({
    name: 'uniprof_symbolizer_frames_without_symbols_total',
    help: 'Queued native frames of files with symbols that no symbol covers (taken off the queue unnamed).',
    registers: [this.registry],
  });

  readonly executablesSymbolized = new Counter({
    name: 'uniprof_symbolizer_executables_symbolized_total',
    help: 'Executables whose symbols were found and stored, by where they came from.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly executablesFailed = new Counter({
    name: 'uniprof_symbolizer_executables_failed_total',
    help: 'Attempts that found no usable symbols for an executable, by reason (retried with backoff).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly symbolRanges = new Counter({
    name: 'uniprof_symbolizer_symbol_ranges_total',
    help: 'Symbol ranges (functions and inlined calls) extracted and stored.',
    registers: [this.registry],
  });

  readonly returnPads = new Counter({
    name: 'uniprof_symbolizer_return_pads_total',
    help: 'Return pads generated and stored (one per call instruction in an executable with code at hand)',
    registers: [this.registry],
  });
  readonly returnPadLookups = new Counter({
    name: 'uniprof_symbolizer_return_pad_lookups_total',
    help: 'Queued frames looked up in the return pads: hit (answered by the point lookup) or miss (range search)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly returnPadFailures = new Counter({
    name: 'uniprof_symbolizer_return_pad_failures_total',
    help: 'Executables whose return pads could not be generated or stored (their frames use the ranges)',
    registers: [this.registry],
  });
  readonly rangeCacheLookups = new Counter({
    name: 'uniprof_symbolizer_range_cache_lookups_total',
    help:
      "Batches of queued frames looked up in the worker's cache of symbol ranges: hit (held, same symbols " +
      'version), miss (read from the store and held), too-big (searched in the store: over the cache size)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly rangeCacheBytes = new Gauge({
    name: 'uniprof_symbolizer_range_cache_bytes',
    help: "Estimated bytes of symbol ranges in the worker's cache (symbolizer.rangeCacheBytes bounds it)",
    registers: [this.registry],
  });
  readonly rangeCacheFiles = new Gauge({
    name: 'uniprof_symbolizer_range_cache_files',
    help: "Files whose symbol ranges the worker's cache holds",
    registers: [this.registry],
  });
  readonly returnPadBackfills = new Counter({
    name: 'uniprof_symbolizer_return_pad_backfills_total',
    help:
      'Files with symbols but no return pads whose pads were made later from stored ranges: stored, ' +
      'or no-code (the executable could not be found; tried again after an hour)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly executableDuration = new Histogram({
    name: 'uniprof_symbolizer_executable_duration_seconds',
    help: 'Time spent on one leased executable (lookup, extraction, answering its queued frames).',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });

  readonly workerErrors = new Counter({
    name: 'uniprof_symbolizer_worker_errors_total',
    help: 'Store calls of the worker loop that failed (the loop goes on).',
    registers: [this.registry],
  });

  readonly inFlight = new Gauge({
    name: 'uniprof_symbolizer_executables_in_progress',
    help: 'Executables being worked on now.',
    registers: [this.registry],
  });

  // The backlog gauges are read from the store when scraped (no timer, always current). A scrape starts every
  // metric's collection at once, so they share one read of the backlog.
  readonly pendingExecutables = this.backlogGauge(
    'uniprof_symbolizer_pending_executables',
    'Executables with queued frames and no symbols yet (from the store, at scrape time).',
    (backlog) => backlog.pendingExecutables,
  );

  readonly pendingFrames = this.backlogGauge(
    'uniprof_symbolizer_pending_frames',
    'Native frames queued for symbols (from the store, at scrape time).',
    (backlog) => backlog.pendingFrames,
  );

  readonly storedExecutables = this.backlogGauge(
    'uniprof_symbolizer_stored_executables',
    'Executables the store holds symbols for (at scrape time).',
    (backlog) => backlog.symbolizedExecutables,
  );

  readonly waitingExecutables: Gauge<'reason'>;

  readonly debuginfodHits = new Counter({
    name: 'uniprof_symbolizer_debuginfod_hits_total',
    help: 'debuginfod lookups that found a debug file.',
    registers: [this.registry],
  });

  readonly debuginfodMisses = new Counter({
    name: 'uniprof_symbolizer_debuginfod_misses_total',
    help: 'debuginfod lookups answered "not found" (by every server asked).',
    registers: [this.registry],
  });

  readonly debuginfodErrors = new Counter({
    name: 'uniprof_symbolizer_debuginfod_errors_total',
    help: 'debuginfod requests that failed, by kind (timeout, network, http-status, invalid-elf, …).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly debuginfodBytes = new Counter({
    name: 'uniprof_symbolizer_debuginfod_downloaded_bytes_total',
    help: 'Bytes of debug files downloaded from debuginfod servers.',
    registers: [this.registry],
  });

  readonly uploadBytes = new Counter({
    name: 'uniprof_symbolizer_upload_bytes_total',
    help: 'Bytes of symbol uploads accepted.',
    registers: [this.registry],
  });

  readonly uploadRejections = new Counter({
    name: 'uniprof_symbolizer_upload_rejections_total',
    help: 'Symbol uploads refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const read = () => this.readBacklog();
    this.waitingExecutables = new Gauge({
      name: 'uniprof_symbolizer_waiting_executables',
      help: 'Executables waiting for their next attempt, by the reason the last one found nothing.',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      async collect() {
        const backlog = await read();
        if (!backlog) return;
        this.reset();
        for (const [reason, count] of Object.entries(backlog.waitingByReason)) this.set({ reason }, count);
      },
    });
    new Gauge({
      name: 'uniprof_symbolizer_backlog_read_ok',
      help: '1 when the last scrape could read the backlog from the store, else 0.',
      registers: [this.registry],
      async collect() {
        this.set((await read()) ? 1 : 0);
      },
    });
  }

  /** Where the backlog gauges come from (the store's `backlog()`); read on each scrape. */
  observeBacklog(source: () => Promise<SymbolizationBacklog>): void {
    this.backlogSource = source;
  }

  /**
   * The store's backlog, one read shared by every gauge of a scrape; undefined (gauges unchanged) when the
   * store did not answer in time.
   */
  readBacklog(): Promise<SymbolizationBacklog | undefined> {
    this.backlogRead ??= this.fetchBacklog().finally(() => {
      this.backlogRead = undefined;
    });
    return this.backlogRead;
  }

  private async fetchBacklog(): Promise<SymbolizationBacklog | undefined> {
    if (!this.backlogSource) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('backlog timed out')), BACKLOG_TIMEOUT_MS);
      });
      return await Promise.race([this.backlogSource(), timeout]);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private backlogGauge(name: string, help: string, pick: (backlog: SymbolizationBacklog) => number): Gauge {
    const read = () => this.readBacklog();
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        const backlog = await read();
        if (backlog) this.set(pick(backlog));
      },
    });
  }

  // ---- for the debuginfod client ----

  recordDebuginfodHit(bytes: number): void {
    this.debuginfodHits.inc();
    if (bytes > 0) this.debuginfodBytes.inc(bytes);
  }

  recordDebuginfodMiss(): void {
    this.debuginfodMisses.inc();
  }

  recordDebuginfodError(kind: string): void {
    this.debuginfodErrors.inc({ kind });
  }

  // ---- for the symbol upload routes ----

  recordUpload(bytes: number): void {
    this.uploadBytes.inc(bytes);
  }

  recordUploadRejection(reason: string): void {
    this.uploadRejections.inc({ reason });
  }
}
