/**
 * `uniprof loadgen`: plays a fleet of agents against a collector over gRPC, the way the eBPF profiler sends
 * (unary ProfilesService/Export, gzip-compressed), at a chosen rate of samples per second.
 */
import * as grpc from '@grpc/grpc-js';
import { EXPORT_METHOD_PATH, decodeExportResponse, encodeExportRequest } from '../protocol/otlp-profiles.ts';
import type { ExportProfilesServiceResponse } from '../protocol/types.ts';
import { shiftTimestamps } from './retime.ts';
import { Workload, nanosFromMillis, type WorkloadOptions } from './workload.ts';

export interface LoadgenOptions extends WorkloadOptions {
  /** The collector's gRPC address, host:port. */
  target: string;
  /** Sent as `authorization: Bearer <token>`; leave out for a collector with auth disabled. */
  token?: string;
  /** Samples per second across the whole fleet. */
  rate: number;
  /** How long to send, in seconds. */
  duration: number;
  /** Samples per request (default: what one agent gathers per 5 s interval at this rate and fleet size). */
  samplesPerRequest?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** TLS to the collector (default off: the loopback case). */
  tls?: boolean;
  /** PEM CA certificate to trust when tls is on (default: the system's). */
  caCertificate?: Buffer;
  /** gzip each request like the agent (default true). */
  gzip?: boolean;
  /** Per-request deadline in milliseconds (default 5000, the agent's). */
  timeoutMs?: number;
  /** Distinct requests generated up front and replayed with current timestamps (default: one per host, at least
   * 64, at most 1024 — so fleets above 1024 hosts are played by their first 1024). */
  poolSize?: number;
  /** Stops early when aborted. */
  signal?: AbortSignal;
  /** Called about once per second with the totals so far. */
  onProgress?: (stats: LoadgenStats) => void;
}

export interface LoadgenStats {
  requests: number;
  samples: number;
  /** Requests that failed (any gRPC status other than OK). */
  errors: number;
  /** Failed requests by gRPC status name, e.g. { UNAUTHENTICATED: 3 }. */
  errorsByStatus: Record<string, number>;
  /** The first few distinct error messages, for the operator. */
  errorMessages: string[];
  /** Uncompressed request bytes sent. */
  bytes: number;
  elapsedSeconds: number;
  /** Samples per second actually acknowledged. */
  achievedRate: number;
  latencyMs: { p50: number; p99: number; max: number };
}

const DEFAULT_INTERVAL_SECONDS = 5;
const MAX_ERROR_MESSAGES = 5;

export async function runLoadgen(options: LoadgenOptions): Promise<LoadgenStats> {
  validate(options);
  const workload = new Workload(options);
  const hosts = workload.hosts.length;
  const samplesPerRequest =
    options.samplesPerRequest ??
    Math.max(1, Math.min(50_000, Math.round((options.rate * DEFAULT_INTERVAL_SECONDS) / hosts)));
  const client = new ExportClient(options);
  const concurrency = options.concurrency ?? 4;
  const stats = new StatsCollector();
  // Requests are generated once, one or more per host, and replayed with their timestamps moved to now.
  const poolEnd = nanosFromMillis(Date.now());
  const pool = Array.from({ length: Math.min(Math.max(hosts, options.poolSize ?? 64), 1024) }, () => {
    const generated = workload.next(poolEnd, samplesPerRequest, DEFAULT_INTERVAL_SECONDS);
    return { bytes: encodeExportRequest(generated.request), samples: generated.samples };
  });
  let sent = 0;
  const started = performance.now();
  const deadline = started + options.duration * 1000;
  let scheduledSamples = 0;
  let lastProgress = started;
  const inFlight = new Set<Promise<void>>();

  try {
    while (!options.signal?.aborted) {
      const now = performance.now();
      if (now >= deadline) break;
      const due = ((now - started) / 1000) * options.rate;
      if (scheduledSamples < due && inFlight.size < concurrency) {
        scheduledSamples += samplesPerRequest;
        const template = pool[sent++ % pool.length];
        const body = Uint8Array.from(template.bytes);
        shiftTimestamps(body, nanosFromMillis(Date.now()) - poolEnd);
        const call = client
          .export(body)
          .then((outcome) => stats.record(outcome, template.samples, body.length));
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
        continue;
      }
      if (options.onProgress && now - lastProgress >= 1000) {
        lastProgress = now;
        options.onProgress(stats.snapshot(now - started));
      }
      // Wait for a slot, or for the schedule to make the next request due.
      const waitMs =
        scheduledSamples < due ? undefined : Math.max(1, ((scheduledSamples - due) / options.rate) * 1000);
      const timer = sleep(Math.min(waitMs ?? 1000, deadline - now));
      await Promise.race([...inFlight, timer.done]);
      timer.cancel();
    }
    await Promise.all(inFlight);
  } finally {
    client.close();
  }
  return stats.snapshot(performance.now() - started);
}

function validate(options: LoadgenOptions): void {
  if (!options.target) throw new Error('loadgen: a target host:port is required');
  if (!(options.rate > 0)) throw new Error(`loadgen: rate must be > 0 samples/s, got ${options.rate}`);
  if (!(options.duration > 0)) throw new Error(`loadgen: duration must be > 0 s, got ${options.duration}`);
  if (options.hosts !== undefined && !(options.hosts >= 1)) throw new Error('loadgen: hosts must be ≥ 1');
  if (options.concurrency !== undefined && !(options.concurrency >= 1))
    throw new Error('loadgen: concurrency must be ≥ 1');
}

type Outcome =
  { ok: true; latencyMs: number } | { ok: false; latencyMs: number; status: string; message: string };

/** A unary client for ProfilesService/Export carrying the agent token as call metadata. */
export class ExportClient {
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;
  private readonly timeoutMs: number;

  constructor(
    options: Pick<LoadgenOptions, 'target' | 'token' | 'tls' | 'caCertificate' | 'gzip' | 'timeoutMs'>,
  ) {
    const credentials = options.tls
      ? grpc.credentials.createSsl(options.caCertificate ?? null)
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(options.target, credentials, {
      'grpc.max_send_message_length': 32 << 20,
      'grpc.max_receive_message_length': 32 << 20,
      ...(options.gzip === false
        ? {}
        : { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip }),
    });
    this.metadata = new grpc.Metadata();
    if (options.token) this.metadata.set('authorization', `Bearer ${options.token}`);
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Sends one encoded request; never rejects: failures come back as an outcome with the gRPC status. */
  export(body: Uint8Array): Promise<Outcome> {
    const started = performance.now();
    return new Promise((resolve) => {
      this.client.makeUnaryRequest<Uint8Array, ExportProfilesServiceResponse>(
        EXPORT_METHOD_PATH,
        (message) => Buffer.from(message.buffer, message.byteOffset, message.byteLength),
        (bytes) => decodeExportResponse(bytes),
        body,
        this.metadata,
        { deadline: Date.now() + this.timeoutMs },
        (error) => {
          const latencyMs = performance.now() - started;
          if (!error) resolve({ ok: true, latencyMs });
          else
            resolve({
              ok: false,
              latencyMs,
              status: grpc.status[error.code] ?? String(error.code),
              message: error.details || error.message,
            });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

class StatsCollector {
  private requests = 0;
  private samples = 0;
  private errors = 0;
  private bytes = 0;
  private readonly errorsByStatus: Record<string, number> = {};
  private readonly errorMessages: string[] = [];
  private readonly latencies: number[] = [];

  record(outcome: Outcome, samples: number, bytes: number): void {
    this.requests++;
    this.bytes += bytes;
    this.latencies.push(outcome.latencyMs);
    if (outcome.ok) {
      this.samples += samples;
      return;
    }
    this.errors++;
    this.errorsByStatus[outcome.status] = (this.errorsByStatus[outcome.status] ?? 0) + 1;
    const message = `${outcome.status}: ${outcome.message}`;
    if (this.errorMessages.length < MAX_ERROR_MESSAGES && !this.errorMessages.includes(message)) {
      this.errorMessages.push(message);
    }
  }

  snapshot(elapsedMs: number): LoadgenStats {
    const elapsedSeconds = elapsedMs / 1000;
    return {
      requests: this.requests,
      samples: this.samples,
      errors: this.errors,
      errorsByStatus: { ...this.errorsByStatus },
      errorMessages: [...this.errorMessages],
      bytes: this.bytes,
      elapsedSeconds,
      achievedRate: elapsedSeconds > 0 ? this.samples / elapsedSeconds : 0,
      latencyMs: latencySummary(this.latencies),
    };
  }
}

/** Median, 99th percentile and maximum of request latencies (nearest rank; 0 for none). */
export function latencySummary(latencies: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  const quantile = (q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
  return { p50: quantile(0.5), p99: quantile(0.99), max: sorted.at(-1) ?? 0 };
}

/** A timer that can be dropped early, so no stray timeout outlives the run. */
function sleep(ms: number): { done: Promise<void>; cancel(): void } {
  let handle: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    handle = setTimeout(resolve, Math.max(0, ms));
  });
  return { done, cancel: () => clearTimeout(handle) };
}
