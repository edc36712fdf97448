import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RequestRecorder } from './recorder.ts';
import type { Store } from '../store/store.ts';
import { AdmissionGate } from './admission.ts';
import { createAgentAuthenticator } from './auth.ts';
import { createGrpcReceiver } from './grpc-server.ts';
import {
  closeHttp,
  createHttpApp,
  registerOperationalRoutes,
  registerOtlpHttpRoute,
  type Readiness,
} from './http-server.ts';
import type { StoredIds } from './dedup.ts';
import { IngestPipeline, type Translator } from './ingest.ts';
import { boundPort, logListening } from './listening.ts';
import { CollectorMetrics } from './metrics.ts';
import { resolveCollectorOptions, type CollectorOptionsInput } from './options.ts';
import { WriteQueue } from './write-queue.ts';
import { ProfileTranslator } from './translate.ts';

export interface CollectorAddresses {
  /** `host:port` agents dial. */
  grpcAddress: string;
  /** `http://host:port` of the HTTP server (OTLP/HTTP, health, metrics, and whatever else registered). */
  httpAddress: string;
}

export interface Collector {
  /** The agents' HTTP server (OTLP/HTTP, health, metrics): register more routes here before `start()`. */
  readonly http: FastifyInstance;
  readonly metrics: CollectorMetrics;
  /** What `/ready` reports: the store open and writable, both receivers listening, not stopping. */
  readiness(): Readiness;
  start(): Promise<CollectorAddresses>;
  /**
   * Graceful stop: refuses new connections, lets in-flight requests finish (each acknowledged only after its
   * data is durable), waits for every accepted write and — when the collector manages the store — closes it.
   */
  stop(): Promise<void>;
  /** The store is about to delete unreferenced rows (retention): see IngestPipeline.forgetStored. */
  forgetStored(ids: StoredIds): Promise<void>;
}

export interface CollectorDependencies {
  /** The OTLP → model translation; by default a ProfileTranslator with its standard dedup caches. */
  translator?: Translator;
  /** Share a metrics registry with other modules; a fresh one otherwise. */
  metrics?: CollectorMetrics;
}

/**
 * The collector service: gRPC and HTTP receivers in front of one ingest pipeline and one store. Throws
 * CollectorConfigError for a configuration it cannot run with (e.g. no agent token and auth not disabled).
 */
export function createCollector(
  input: CollectorOptionsInput,
  store: Store,
  logger: Logger,
  dependencies: CollectorDependencies = {},
): Collector {
  const options = resolveCollectorOptions(input);
  const log = logger.child({ component: 'collector' });
  const auth = createAgentAuthenticator(options.auth);
  if (!auth.enabled)
    log.warn('agent authentication is disabled: any client that reaches the ports can send data');

  const metrics = dependencies.metrics ?? new CollectorMetrics();
  metrics.writeQueueCapacity.set(options.writeQueue.maxPendingRequests);
  const queue = new WriteQueue(store, options.writeQueue.maxPendingRequests, {
    onDepthChange: (depth) => metrics.writeQueueDepth.set(depth),
    onWrite: (seconds) => metrics.storeWriteDuration.observe(seconds),
  });
  const admission = new AdmissionGate(options.admission, {
    onWaitingChange: (waiting) => metrics.admissionWaiting.set(waiting),
  });
  const translator = dependencies.translator ?? new ProfileTranslator();
  const recorder = options.record ? new RequestRecorder(options.record, log) : undefined;
  if (options.record) log.info({ dir: options.record.dir }, 'recording every acknowledged export request');
  const pipeline = new IngestPipeline({ auth, translator, admission, queue, metrics, logger: log, recorder });

  const grpc = createGrpcReceiver(options.grpc, pipeline, metrics, log.child({ transport: 'grpc' }));
  const http = createHttpApp(logger.child({ component: 'http' }), {
    tls: options.http.tls,
    setting: 'collector.http.tls',
  });
  const state = { storeOpen: !options.manageStore, httpListening: false, stopping: false, started: false };

  const readiness = (): Readiness => {
    // A store whose disk is full or read-only is open but refuses writes: not ready, and it says why.
    const health = state.storeOpen ? store.health() : undefined;
    const checks = {
      store: health?.writable ?? false,
      grpc: grpc.listening,
      http: state.httpListening,
      accepting: !state.stopping,
    };
    const ready = Object.values(checks).every(Boolean);
    return {
      ready,
      checks,
      ...(health?.problem ? { storeProblem: health.problem } : {}),
      ...(health?.degraded ? { storeDegraded: health.degraded } : {}),
    };
  };
  metrics.watchStoreHealth(() => (state.storeOpen ? store.health() : undefined));
  registerOperationalRoutes(http, metrics, readiness);
  registerOtlpHttpRoute(http, pipeline, metrics, options.http.maxBodyBytes);

  async function stop(): Promise<void> {
    if (state.stopping) return;
    state.stopping = true;
    log.info('collector stopping: no new requests; finishing in-flight ones');
    const deadline = options.shutdownTimeoutMs;
    await Promise.all([grpc.stop(deadline), closeHttp(http, deadline, log)]);
    state.httpListening = false;
    pipeline.beginShutdown();
    await withDeadline(queue.drain(), deadline, () =>
      log.error(
        { pending: queue.depth },
        'store writes still pending at the shutdown deadline; closing the store anyway',
      ),
    );
    if (options.manageStore && state.storeOpen) {
      state.storeOpen = false;
      await store.close();
    }
    log.info('collector stopped; every acknowledged request is stored');
  }

  return {
    http,
    metrics,
    readiness,
    forgetStored: (ids) => pipeline.forgetStored(ids),
    async start() {
      if (state.started) throw new Error('the collector was already started');
      state.started = true;
      try {
        if (options.manageStore) {
          await store.open();
          state.storeOpen = true;
        }
        const grpcAddress = await grpc.start();
        const httpAddress = await http.listen({ host: options.http.host, port: options.http.port });
        state.httpListening = true;
        logListening(log, 'collector.http', {
          host: options.http.host,
          port: boundPort(http.server),
          tls: Boolean(options.http.tls),
        });
        log.info({ grpcAddress, httpAddress, store: store.kind }, 'collector ready');
        return { grpcAddress, httpAddress };
      } catch (error) {
        // Whatever did start must not linger (a bound port, an open database) when start-up fails.
        await stop().catch(() => undefined);
        throw error;
      }
    },
    stop,
  };
}

async function withDeadline(work: Promise<void>, timeoutMs: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, timeoutMs);
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
