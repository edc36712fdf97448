/**
 * The symbolizer service: the worker that drains the store's symbolization queue and the HTTP server beside
 * it (health, readiness, metrics, symbol upload). `uniprof symbolizer` runs it alone; `uniprof serve` runs
 * it next to the collector on the collector's store.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../../config/config.ts';
import type { Store } from '../../store/store.ts';
import { closeHttp, type Readiness } from '../../collector/http-server.ts';
import { boundPort, logListening } from '../../collector/listening.ts';
import { DEFAULT_COLLECTOR_OPTIONS } from '../../collector/options.ts';
import { createSymbolizerHttp } from './http.ts';
import { SymbolizerMetrics } from './metrics.ts';
import { symbolizerOwner } from './owner.ts';
import { SYMBOL_ROUTES, type SymbolRoutes } from './routes.ts';
import type { DebugInfoLookup, RangeExtractor } from './sources.ts';
import { createDebugInfoLookup, defaultRangeExtractor } from './wiring.ts';
import { SymbolizerWorker } from './worker.ts';

export interface SymbolizerServiceOptions {
  /** The whole configuration: the `symbolizer` section and `dataDir` are read. */
  config: Config;
  store: Store;
  logger: Logger;
  /** Open the store on start and close it on stop; false when the caller (serve's collector) does. */
  manageStore: boolean;
  uploadToken: string;
  /** Replacements for the wired implementations (tests, embedding). */
  lookup?: DebugInfoLookup;
  extractRanges?: RangeExtractor;
  metrics?: SymbolizerMetrics;
  routes?: readonly SymbolRoutes[];
  /** Lease owner; by default the one kept in the data directory. */
  owner?: string;
  /**
   * On stop, how long requests still running (an upload whose client stalls) may hold the HTTP server
   * before their connections are cut (default: the collector's shutdown timeout).
   */
  shutdownTimeoutMs?: number;
}

export interface SymbolizerService {
  readonly http: FastifyInstance;
  readonly metrics: SymbolizerMetrics;
  readonly worker: SymbolizerWorker;
  readonly owner: string;
  /** Opens the store (when managed), listens, starts the worker; resolves with `http://host:port`. */
  start(): Promise<{ httpAddress: string }>;
  /** Stops the worker (work in progress is abandoned to its lease), closes the server and the managed store. */
  stop(): Promise<void>;
}

export function createSymbolizerService(options: SymbolizerServiceOptions): SymbolizerService {
  const { config, store, logger } = options;
  const settings = config.symbolizer;
  const log = logger.child({ component: 'symbolizer' });
  const metrics = options.metrics ?? new SymbolizerMetrics();
  const owner = options.owner ?? symbolizerOwner(config.dataDir);
  const worker = new SymbolizerWorker(
    {
      owner,
      concurrency: settings.concurrency,
      pollIntervalMs: settings.pollIntervalMs,
      leaseMs: settings.leaseSeconds * 1000,
      retry: settings.retry,
      debugDirectories: settings.debugDirectories,
      rangeCacheBytes: settings.rangeCacheBytes,
    },
    {
      store: store.symbolization,
      lookup: options.lookup ?? createDebugInfoLookup(config, metrics),
      extractRanges: options.extractRanges ?? defaultRangeExtractor,
      metrics,
      logger,
    },
  );
  metrics.observeBacklog(() => store.symbolization.backlog());

  const state = { storeOpen: !options.manageStore, listening: false, stopping: false, started: false };
  const readiness = (): Readiness => {
    const checks = {
      store: state.storeOpen,
      worker: worker.isRunning,
      http: state.listening,
      accepting: !state.stopping,
    };
    return { ready: Object.values(checks).every(Boolean), checks };
  };
  const http = createSymbolizerHttp(
    logger.child({ component: 'symbolizer-http' }),
    metrics,
    readiness,
    settings.http.tls,
  );

  async function stop(): Promise<void> {
    if (state.stopping) return;
    state.stopping = true;
    await worker.stop();
    // Not http.close() alone: a client stalled in the middle of an upload would hold it until the upload's
    // idle timeout (a minute), or for ever if it trickles bytes.
    await closeHttp(http, options.shutdownTimeoutMs ?? DEFAULT_COLLECTOR_OPTIONS.shutdownTimeoutMs, log);
    state.listening = false;
    if (options.manageStore && state.storeOpen) {
      state.storeOpen = false;
      await store.close();
    }
  }

  return {
    http,
    metrics,
    worker,
    owner,
    async start() {
      if (state.started) throw new Error('the symbolizer service was already started');
      state.started = true;
      try {
        if (options.manageStore) {
          await store.open();
          state.storeOpen = true;
        }
        for (const register of options.routes ?? SYMBOL_ROUTES) {
          await register(http, {
            store: store.symbolization,
            metrics,
            uploadToken: options.uploadToken,
            maxUploadBytes: settings.maxUploadBytes,
            logger: log,
            wakeWorker: () => worker.wake(),
          });
        }
        const httpAddress = await http.listen({ host: settings.http.host, port: settings.http.port });
        state.listening = true;
        logListening(log, 'symbolizer.http', {
          host: settings.http.host,
          port: boundPort(http.server),
          tls: Boolean(settings.http.tls),
        });
        worker.start();
        log.info({ httpAddress, owner, store: store.kind }, 'symbolizer ready');
        return { httpAddress };
      } catch (error) {
        await stop().catch(() => undefined);
        throw error;
      }
    },
    stop,
  };
}
