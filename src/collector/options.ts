/**
 * What a collector needs to know. The CLI builds this from the configuration (YAML, env, flags); tests build
 * it directly. Every field has a default except the agent token, which must be given or explicitly disabled.
 */
import { DEFAULT_ADMISSION_OPTIONS, type AdmissionOptions } from './admission.ts';
import { DEFAULT_RECORD_MAX_BYTES, type RecordOptions } from './recorder.ts';

export type { AdmissionOptions };

export interface TlsFiles {
  /** PEM certificate chain file the gRPC server presents. */
  cert: string;
  /** PEM private key file of that certificate. */
  key: string;
}

export interface GrpcReceiverOptions {
  host: string;
  /** 0 picks a free port (tests); `start()` reports the one bound. */
  port: number;
  /**
   * Largest export message accepted, in bytes, as received and after gzip decompression. The agent itself
   * sends at most 32 MiB per message.
   */
  maxMessageBytes: number;
  /** Serve gRPC over TLS with these files; plaintext when absent. */
  tls?: TlsFiles;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  /** Largest OTLP/HTTP body accepted, in bytes, as received and after gzip decompression. */
  maxBodyBytes: number;
  /** Serve HTTPS with these files; plain HTTP when absent. */
  tls?: TlsFiles;
}

export interface AgentAuthOptions {
  /** The secret agents present as `authorization: Bearer <token>` (gRPC metadata or HTTP header). */
  secretToken?: string;
  /** Accept requests without a token. Must be set explicitly: no token and not disabled refuses to start. */
  disabled?: boolean;
}

export interface WriteQueueOptions {
  /** Export requests waiting for the store before new ones are refused with RESOURCE_EXHAUSTED / 429. */
  maxPendingRequests: number;
}

/** Field names follow the `collector` section of the configuration file, so it can be passed as is. */
export interface CollectorOptions {
  grpc: GrpcReceiverOptions;
  http: HttpServerOptions;
  auth: AgentAuthOptions;
  writeQueue: WriteQueueOptions;
  /** Admission control on batches full of new stack traces (see admission.ts). */
  admission: AdmissionOptions;
  /** How long `stop()` waits for in-flight requests before cutting connections. */
  shutdownTimeoutMs: number;
  /**
   * When true (the default) `start()` opens the store and `stop()` closes it, so readiness and the shutdown
   * flush are the collector's business. Set false when something else owns the store's lifetime (the
   * collector then takes the store as open).
   */
  manageStore: boolean;
  /** Keep a copy of every acknowledged request in `dir` (see recorder.ts); off when absent. */
  record?: RecordOptions;
}

/** Configuration as given: any part may be left out and takes its default. */
export interface CollectorOptionsInput {
  grpc?: Partial<GrpcReceiverOptions>;
  http?: Partial<HttpServerOptions>;
  auth?: AgentAuthOptions;
  writeQueue?: Partial<WriteQueueOptions>;
  admission?: Partial<AdmissionOptions>;
  shutdownTimeoutMs?: number;
  manageStore?: boolean;
  record?: { dir?: string; maxBytes?: number };
}

const MIB = 1024 * 1024;

export const DEFAULT_COLLECTOR_OPTIONS: Omit<CollectorOptions, 'auth'> = {
  grpc: { host: '127.0.0.1', port: 4317, maxMessageBytes: 32 * MIB },
  http: { host: '127.0.0.1', port: 4318, maxBodyBytes: 32 * MIB },
  writeQueue: { maxPendingRequests: 64 },
  admission: DEFAULT_ADMISSION_OPTIONS,
  shutdownTimeoutMs: 10_000,
  manageStore: true,
};

/** Raised for a configuration the collector cannot run with; the message says what to change. */
export class CollectorConfigError extends Error {
  override readonly name = 'CollectorConfigError';
}

export function resolveCollectorOptions(input: CollectorOptionsInput): CollectorOptions {
  const defaults = DEFAULT_COLLECTOR_OPTIONS;
  const options: CollectorOptions = {
    grpc: { ...defaults.grpc, ...input.grpc },
    http: { ...defaults.http, ...input.http },
    auth: { ...input.auth },
    writeQueue: { ...defaults.writeQueue, ...input.writeQueue },
    admission: { ...defaults.admission, ...input.admission },
    shutdownTimeoutMs: input.shutdownTimeoutMs ?? defaults.shutdownTimeoutMs,
    manageStore: input.manageStore ?? defaults.manageStore,
  };
  if (input.record?.dir) {
    options.record = { dir: input.record.dir, maxBytes: input.record.maxBytes ?? DEFAULT_RECORD_MAX_BYTES };
  }
  validate(options);
  return options;
}

function validate(options: CollectorOptions): void {
  requirePort('collector.grpc.port', options.grpc.port);
  requirePort('collector.http.port', options.http.port);
  requirePositiveInteger('collector.grpc.maxMessageBytes', options.grpc.maxMessageBytes);
  requirePositiveInteger('collector.http.maxBodyBytes', options.http.maxBodyBytes);
  requirePositiveInteger('collector.writeQueue.maxPendingRequests', options.writeQueue.maxPendingRequests);
  requirePositiveInteger('collector.admission.maxNewItemsInFlight', options.admission.maxNewItemsInFlight);
  requirePositiveInteger('collector.admission.maxWaitingRequests', options.admission.maxWaitingRequests);
  requirePositiveInteger('collector.admission.maxWaitMs', options.admission.maxWaitMs);
  requirePositiveInteger('collector.shutdownTimeoutMs', options.shutdownTimeoutMs);
  if (options.record) requirePositiveInteger('collector.record.maxBytes', options.record.maxBytes);
  for (const [name, tls] of [
    ['collector.grpc.tls', options.grpc.tls],
    ['collector.http.tls', options.http.tls],
  ] as const) {
    if (tls && (!tls.cert || !tls.key)) {
      throw new CollectorConfigError(`${name} needs both cert and key (PEM files)`);
    }
  }
}

function requirePort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new CollectorConfigError(`${name} must be a port number between 0 and 65535, got ${value}`);
  }
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new CollectorConfigError(`${name} must be a positive integer, got ${value}`);
  }
}
