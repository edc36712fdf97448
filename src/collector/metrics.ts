import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreHealth } from '../store/store.ts';

export type Transport = 'grpc' | 'http';

/**
 * The collector's Prometheus metrics, on a registry of its own so that several collectors (tests) never
 * collide in prom-client's global registry. Other modules serving `/metrics` may register on `registry` too.
 */
export class CollectorMetrics {
  readonly registry = new Registry();

  /** Export requests answered, by transport and outcome (`ok` or the gRPC status name, lower case). */
  readonly requests = new Counter({
    name: 'uniprof_collector_requests_total',
    help: 'Export requests answered, by transport and status.',
    labelNames: ['transport', 'status'] as const,
    registers: [this.registry],
  });

  readonly samples = new Counter({
    name: 'uniprof_collector_samples_total',
    help: 'Profiling samples stored (sum of sample counts of acknowledged requests).',
    registers: [this.registry],
  });

  readonly events = new Counter({
    name: 'uniprof_collector_events_total',
    help: 'Profiling events (one per stack, thread and second) stored.',
    registers: [this.registry],
  });

  readonly receivedBytes = new Counter({
    name: 'uniprof_collector_received_bytes_total',
    help: 'Export request bytes received (after decompression), by transport.',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  readonly rejects = new Counter({
    name: 'uniprof_collector_rejects_total',
    help: 'Export requests refused, by reason.',
    labelNames: ['transport', 'reason'] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: 'uniprof_collector_request_duration_seconds',
    help: 'Time from receiving an export request to answering it, by transport.',
    labelNames: ['transport'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly writeQueueDepth = new Gauge({
    name: 'uniprof_collector_write_queue_depth',
    help: 'Export requests waiting for or in a store write.',
    registers: [this.registry],
  });

  readonly writeQueueCapacity = new Gauge({
    name: 'uniprof_collector_write_queue_capacity',
    help: 'Export requests the write queue holds before refusing more.',
    registers: [this.registry],
  });

  readonly admissionWaiting = new Gauge({
    name: 'uniprof_collector_admission_waiting',
    help: 'Export requests waiting to be translated while batches of new stack traces are being stored.',
    registers: [this.registry],
  });

  readonly storeWriteDuration = new Histogram({
    name: 'uniprof_collector_store_write_duration_seconds',
    help: 'Duration of one store write (possibly several merged requests).',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private storeHealth: () => StoreHealth | undefined = () => undefined;

  /** Read at each scrape from the store's own health (see `watchStoreHealth`). */
  readonly storeWritable: Gauge = new Gauge({
    name: 'uniprof_collector_store_writable',
    help: 'Whether the store takes writes (1) or refuses them (0).',
    registers: [this.registry],
    collect: (): void => this.storeWritable.set(this.storeHealth()?.writable ? 1 : 0),
  });

  readonly storeDegraded: Gauge = new Gauge({
    name: 'uniprof_collector_store_degraded',
    help: 'Whether the store takes writes but is degraded (1), e.g. an Elasticsearch cluster that lost a node.',
    registers: [this.registry],
    collect: (): void => this.storeDegraded.set(this.storeHealth()?.degraded ? 1 : 0),
  });

  /** The store whose health the gauges report (undefined while it is not open). */
  watchStoreHealth(health: () => StoreHealth | undefined): void {
    this.storeHealth = health;
  }

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  recordRequest(transport: Transport, status: string, seconds: number): void {
    this.requests.inc({ transport, status });
    this.latency.observe({ transport }, seconds);
  }

  recordReject(transport: Transport, reason: string): void {
    this.rejects.inc({ transport, reason });
  }
}
