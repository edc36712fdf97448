import { readFileSync } from 'node:fs';
import { Client, SniffingTransport, type TransportOptions } from '@elastic/elasticsearch';

/** What `output.elasticsearch` in the configuration maps onto (same names). */
export interface ElasticsearchStoreOptions {
  /** Node URLs, e.g. `https://es.example:9200`. */
  hosts: string[];
  /** An API key as Elasticsearch returns it (`encoded`, base64 of `id:key`). Wins over username/password. */
  apiKey?: string;
  username?: string;
  password?: string;
  tls?: {
    /** PEM file of the CA to trust. */
    ca?: string;
    /** PEM text of the CA to trust (tests, or a CA from a secret store). */
    caPem?: string;
    /** Verify the server's certificate (default true). Turning it off is for throw-away set-ups only. */
    verify?: boolean;
  };
  requestTimeoutMs?: number;
  /** Directory of the on-disk spool: acknowledged batches wait here until Elasticsearch has them. */
  spoolDir: string;
  /** Spool size past which `write` refuses (StoreBusyError / StoreUnavailableError). */
  spoolMaxBytes?: number;
  bulk?: {
    /** A bulk request is sent once this many bytes are waiting… */
    maxBytes?: number;
    /** …or once the oldest waiting document is this old. */
    maxAgeMs?: number;
    /** Bulk requests in flight at once. */
    maxInFlight?: number;
    /** Longest pause between retries of a failed bulk request. */
    maxRetryDelayMs?: number;
  };
  /** Create templates, indices and policies at start-up (default true). */
  manageTemplates?: boolean;
  /**
   * Replicas of every index: a count (`1`), or an auto-expand range (`0-1`, the default: one replica once the
   * cluster has two data nodes, none on one node; `0-all`).
   */
  replicas?: number | string;
  /** Primary shards (defaults: the profiling plugin's 4 for events, 16 for key-value indices). */
  shards?: { events?: number; keyValue?: number };
  /** How often the cluster's health is asked, for `health().degraded` (default 5 s). */
  clusterHealthIntervalMs?: number;
  /** Seed of the downsampling coin; fixed in tests so levels are repeatable. */
  seed?: number;
  logger?: StoreLogger;
}

/** The subset of a pino logger the store uses. */
export interface StoreLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export const silentLogger: StoreLogger = { info() {}, warn() {}, error() {} };

/**
 * The 9.x client asks for the 9.x REST compatibility mode, which 8.x nodes reject. Plain JSON works with
 * both majors, so we send that.
 */
class PlainJsonTransport extends SniffingTransport {
  constructor(options: TransportOptions) {
    super({
      ...options,
      vendoredHeaders: {
        jsonContentType: 'application/json',
        ndjsonContentType: 'application/x-ndjson',
        accept: 'application/json, text/plain',
      },
    });
  }
}

export function createClient(options: ElasticsearchStoreOptions): Client {
  if (options.hosts.length === 0) throw new Error('output.elasticsearch.hosts: at least one URL is needed');
  const ca = options.tls?.caPem ?? (options.tls?.ca ? readCa(options.tls.ca) : undefined);
  const auth = options.apiKey
    ? { apiKey: options.apiKey }
    : options.username !== undefined
      ? { username: options.username, password: options.password ?? '' }
      : undefined;
  return new Client({
    nodes: options.hosts,
    auth,
    tls: { ca, rejectUnauthorized: options.tls?.verify ?? true },
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    // The store retries bulk requests itself (with the spool behind it); reads fail fast to the caller. With
    // several nodes listed, a request that finds its node gone (refused, timed out, 502–504) is tried once on
    // each other node first: one node down must not fail a query or the layout's installation.
    maxRetries: options.hosts.length - 1,
    Transport: PlainJsonTransport,
  });
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`output.elasticsearch.tls.ca: cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
