import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Config } from '../config/config.ts';
import type { StatusReport } from '../query/index.ts';
import type { SymbolUploadTarget } from '../query/missing-symbols.ts';
import type { StoreHealth } from '../store/store.ts';
import type { SymbolizationBacklog, SymbolizationStore } from '../store/symbolization.ts';

/** The store's symbolization backlog, or why it could not be read (the rest of the status still is). */
export type BacklogStatus =
  ({ available: true } & SymbolizationBacklog) | { available: false; reason: string };

/** `GET /api/status`: the query layer's report, plus the symbolizer's address and backlog. */
export interface StatusResponse extends StatusReport {
  /** Whether the store takes writes; when not, why (disk full, read-only file system). */
  storage: StoreHealth;
  symbolizer: {
    /** Where `uniprof symbtool push-symbols` sends symbols, and where its token is (never the token). */
    upload: SymbolUploadTarget;
    /** The upload command for any executable (`-e <path to the executable>`). */
    command: string;
    backlog: BacklogStatus;
  };
}

/** The part of a store the status needs from its symbolization queue. */
export type BacklogSource = Pick<SymbolizationStore, 'backlog'>;

function urlHost(host: string): string {
  // A wildcard address is where the server listens, not where a client reaches it.
  if (host === '0.0.0.0' || host === '::' || host === '') return hostname();
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function shellQuoted(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/**
 * The configured symbolizer's URL and where its upload token is: the generated token's file (as a shell
 * substitution, with an absolute path so the command works from any directory), or the setting that holds
 * a configured one. The token itself never leaves the server through the API.
 */
export function symbolUploadTarget(
  config: Pick<Config, 'dataDir' | 'symbolizer'>,
  /** The port the symbolizer bound, once known (the configured one may be 0: the system picks). */
  boundPort?: number,
): SymbolUploadTarget {
  const { host, port } = config.symbolizer.http;
  return {
    symbolizerUrl: `http://${urlHost(host)}:${boundPort ?? port}`,
    uploadToken: config.symbolizer.uploadToken
      ? '<symbolizer.uploadToken from the configuration>'
      : `$(cat ${shellQuoted(resolve(config.dataDir, 'symbol-upload-token'))})`,
  };
}

/**
 * Reads the backlog without letting it hold up or fail the status: a store whose queue is missing, failing
 * or slow (Elasticsearch under load) gives "unavailable" and the reason.
 */
export async function readBacklog(
  source: BacklogSource | undefined,
  timeoutMs: number,
): Promise<BacklogStatus> {
  if (!source) return { available: false, reason: 'this store has no symbolization queue' };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    // `backlog()` may throw before returning a promise: call it inside the async flow.
    const backlog = await Promise.race([Promise.resolve().then(() => source.backlog()), timeout]);
    return { available: true, ...backlog };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
