import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DebugFileCache } from './debug-file-cache.ts';
import { normalizeBuildId, readElfIdentity } from './elf-identity.ts';

/** Why one request to one server failed (a label for metrics: keep the set small and stable). */
export type DebuginfodErrorKind =
  | 'timeout'
  | 'network'
  /** An HTTP status other than 200 and 404. */
  | 'http-status'
  /** The body is not an ELF file (or a damaged one). */
  | 'invalid-elf'
  /** An ELF file, but not the one asked for. */
  | 'build-id-mismatch'
  /** Larger than the whole cache may hold. */
  | 'too-large'
  /** Our own disk: the cache directory could not be written. */
  | 'cache-io';

export type DebuginfodEvent =
  | { type: 'cache-hit'; buildId: string }
  | { type: 'negative-cache-hit'; buildId: string }
  | { type: 'download'; buildId: string; server: string; bytes: number; durationMs: number }
  /** Every server answered 404 (remembered for `negativeCacheSeconds`). */
  | { type: 'not-found'; buildId: string }
  /** One failed request; `willRetry` when the same server is asked again after a backoff. */
  | {
      type: 'error';
      buildId: string;
      server: string;
      kind: DebuginfodErrorKind;
      message: string;
      willRetry: boolean;
    }
  | { type: 'evicted'; buildId: string; bytes: number }
  /**
   * A server could not be asked (network, timeout, 5xx: `kind`): it is probed every `probeIntervalMs` until
   * it answers again.
   */
  | { type: 'server-down'; server: string; kind: DebuginfodErrorKind }
  /** A server that was down answered again (a request or a probe): what waited for it is worth asking now. */
  | { type: 'server-up'; server: string; downMs: number };

export interface DebuginfodCounters {
  cacheHits: number;
  negativeCacheHits: number;
  downloads: number;
  downloadedBytes: number;
  notFound: number;
  errors: Record<DebuginfodErrorKind, number>;
  evictions: number;
  evictedBytes: number;
}

/**
 * `path`: a local copy of the debug file, checked (ELF, same build ID). Otherwise why not:
 * `not-found` (every server said 404), `invalid-build-id` (not hex: nothing was asked), `debuginfod-unreachable` (a server that might have it could not be
 * asked: network, timeout, 5xx…; try again later), `debuginfod-invalid-response` (servers answered with
 * something that is not this build ID's ELF file, or too large for the cache), `debuginfod-cache-error` (our
 * cache directory could not be read or written).
 */
export type DebuginfodResult =
  | { path: string }
  | {
      notFound:
        | 'not-found'
        | 'invalid-build-id'
        | 'debuginfod-unreachable'
        | 'debuginfod-invalid-response'
        | 'debuginfod-cache-error';
    };

export interface DebuginfodOptions {
  /** Servers, asked in order. */
  urls: readonly string[];
  /** Bound on connecting, on waiting for the response headers and on every pause while the body streams. */
  timeoutMs: number;
  /** Further attempts at the same server after a network error, a timeout or a 5xx/429 answer. */
  retries: number;
  /** Downloads in flight at once (requests for one build ID share one download). */
  maxConcurrent: number;
  negativeCacheSeconds: number;
  cacheDir: string;
  cacheMaxBytes: number;
  /** First backoff between attempts; doubles each time (with up to 25 % jitter). */
  retryDelayMs?: number;
  /** How often a server that is down is probed (a GET of its root URL) until it answers; default 10 s. */
  probeIntervalMs?: number;
  /** Clock for the negative cache (tests). */
  now?: () => number;
}

/** Config keys (`symbolizer.debuginfod`) mapped onto client options. */
export interface DebuginfodConfig {
  urls: string[];
  timeoutMs: number;
  retries: number;
  maxConcurrent: number;
  negativeCacheSeconds: number;
  cacheDir?: string;
  cacheMaxBytes: number;
  probeIntervalMs: number;
}

export class DebuginfodConfigError extends Error {
  override readonly name = 'DebuginfodConfigError';
}

/**
 * The servers to ask: the configured ones, else the standard `DEBUGINFOD_URLS` variable (space-separated, as
 * elfutils reads it; commas accepted too). A malformed entry is a configuration error, reported at start.
 */
export function debuginfodUrls(
  configured: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const fromEnv = configured.length === 0;
  const urls = fromEnv ? (env.DEBUGINFOD_URLS ?? '').split(/[\s,]+/).filter(Boolean) : [...configured];
  for (const url of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      const where = fromEnv ? 'DEBUGINFOD_URLS' : 'symbolizer.debuginfod.urls';
      throw new DebuginfodConfigError(`${where}: "${url}" is not an http(s) URL`);
    }
  }
  return urls;
}

const MAX_NEGATIVE_ENTRIES = 100_000;
const DEFAULT_PROBE_INTERVAL_MS = 10_000;
/** Failures that say the server could not be asked (rather than that it answered something unusable). */
const DOWN_KINDS: ReadonlySet<DebuginfodErrorKind> = new Set(['timeout', 'network', 'http-status']);
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

type ServerAnswer = { path: string } | { notFound: true } | { failed: DebuginfodErrorKind };

class RequestFailure extends Error {
  readonly kind: DebuginfodErrorKind;
  readonly retryable: boolean;
  constructor(kind: DebuginfodErrorKind, message: string, retryable: boolean) {
    super(message);
    this.kind = kind;
    this.retryable = retryable;
  }
}

/**
 * A debuginfod client (`GET {server}/buildid/{id}/debuginfo`) with an on-disk cache, a negative cache of
 * "not found" answers, retries with backoff, a concurrency limit and one shared download per build ID.
 * Outcomes are reported through `onEvent` and summed in `counters()` for the service's metrics.
 */
/** What is fetched for a build ID: the debug file, or the executable itself (its code, for return pads). */
export type DebuginfodArtifact = 'debuginfo' | 'executable';

export class DebuginfodClient {
  readonly urls: readonly string[];
  readonly cache: DebugFileCache;
  /**
   * Executables, in a cache of their own (`<cache dir>/executables`, same cap): laid out like the debug
   * files, they must not be where the engine looks for debug files by build ID.
   */
  readonly executableCache: DebugFileCache;
  private readonly options: DebuginfodOptions;
  private readonly now: () => number;
  private readonly negative = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<DebuginfodResult>>();
  private readonly listeners = new Set<(event: DebuginfodEvent) => void>();
  private readonly waiting: (() => void)[] = [];
  private active = 0;
  /** Servers that could not be asked, and since when (wall time): probed until they answer again. */
  private readonly down = new Map<string, number>();
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly totals: DebuginfodCounters = {
    cacheHits: 0,
    negativeCacheHits: 0,
    downloads: 0,
    downloadedBytes: 0,
    notFound: 0,
    errors: {
      timeout: 0,
      network: 0,
      'http-status': 0,
      'invalid-elf': 0,
      'build-id-mismatch': 0,
      'too-large': 0,
      'cache-io': 0,
    },
    evictions: 0,
    evictedBytes: 0,
  };

  constructor(options: DebuginfodOptions) {
    this.options = options;
    this.urls = options.urls.map((url) => url.replace(/\/+$/, ''));
    this.cache = new DebugFileCache(options.cacheDir, options.cacheMaxBytes);
    this.executableCache = new DebugFileCache(join(options.cacheDir, 'executables'), options.cacheMaxBytes);
    this.now = options.now ?? Date.now;
  }

  /** `dataDir` holds the default cache (`<dataDir>/debuginfod-cache`); `env` supplies `DEBUGINFOD_URLS`. */
  static fromConfig(
    config: DebuginfodConfig,
    dataDir: string,
    env: NodeJS.ProcessEnv = process.env,
  ): DebuginfodClient {
    return new DebuginfodClient({
      ...config,
      urls: debuginfodUrls(config.urls, env),
      cacheDir: config.cacheDir ?? `${dataDir.replace(/\/+$/, '')}/debuginfod-cache`,
    });
  }

  get enabled(): boolean {
    return this.urls.length > 0;
  }

  /** Calls `listener` for every outcome; returns a function that unsubscribes it. */
  onEvent(listener: (event: DebuginfodEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Totals since start (a copy). */
  counters(): DebuginfodCounters {
    return { ...this.totals, errors: { ...this.totals.errors } };
  }

  /** The debug file for a GNU build ID (hex, either case). Never throws. */
  fetchDebugInfo(requestedId: string): Promise<DebuginfodResult> {
    return this.fetch(requestedId, 'debuginfo');
  }

  /** The executable for a GNU build ID (`/buildid/<id>/executable`), for its code. Never throws. */
  fetchExecutable(requestedId: string): Promise<DebuginfodResult> {
    return this.fetch(requestedId, 'executable');
  }

  private fetch(requestedId: string, artifact: DebuginfodArtifact): Promise<DebuginfodResult> {
    const buildId = normalizeBuildId(requestedId);
    if (!buildId) return Promise.resolve({ notFound: 'invalid-build-id' });
    const key = `${artifact}/${buildId}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.lookup(buildId, artifact).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private cacheOf(artifact: DebuginfodArtifact): DebugFileCache {
    return artifact === 'executable' ? this.executableCache : this.cache;
  }

  private async lookup(buildId: string, artifact: DebuginfodArtifact): Promise<DebuginfodResult> {
    const key = `${artifact}/${buildId}`;
    let cached: string | undefined;
    try {
      cached = await this.cacheOf(artifact).lookup(buildId);
    } catch (error) {
      this.emit({
        type: 'error',
        buildId,
        server: '',
        kind: 'cache-io',
        message: (error as Error).message,
        willRetry: false,
      });
      return { notFound: 'debuginfod-cache-error' };
    }
    if (cached) {
      this.emit({ type: 'cache-hit', buildId });
      return { path: cached };
    }
    const notFoundUntil = this.negative.get(key);
    if (notFoundUntil !== undefined) {
      if (notFoundUntil > this.now()) {
        this.emit({ type: 'negative-cache-hit', buildId });
        return { notFound: 'not-found' };
      }
      this.negative.delete(key);
    }
    await this.acquire();
    try {
      return await this.askServers(buildId, artifact);
    } finally {
      this.release();
    }
  }

  private async askServers(buildId: string, artifact: DebuginfodArtifact): Promise<DebuginfodResult> {
    const failures = new Set<DebuginfodErrorKind>();
    for (const server of this.urls) {
      const answer = await this.askServer(server, buildId, artifact);
      if ('path' in answer) return answer;
      if ('failed' in answer) failures.add(answer.failed);
    }
    if (failures.has('cache-io')) return { notFound: 'debuginfod-cache-error' };
    // Only answers that say "no" for sure are remembered; a server we could not ask may well have it.
    if (failures.has('timeout') || failures.has('network') || failures.has('http-status')) {
      return { notFound: 'debuginfod-unreachable' };
    }
    if (failures.size > 0) return { notFound: 'debuginfod-invalid-response' };
    this.rememberNotFound(`${artifact}/${buildId}`);
    this.emit({ type: 'not-found', buildId });
    return { notFound: 'not-found' };
  }

  private rememberNotFound(key: string): void {
    if (this.options.negativeCacheSeconds <= 0) return;
    if (this.negative.size >= MAX_NEGATIVE_ENTRIES) {
      const oldest = this.negative.keys().next();
      if (!oldest.done) this.negative.delete(oldest.value);
    }
    this.negative.set(key, this.now() + this.options.negativeCacheSeconds * 1000);
  }

  private async askServer(
    server: string,
    buildId: string,
    artifact: DebuginfodArtifact,
  ): Promise<ServerAnswer> {
    const firstDelay = this.options.retryDelayMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      try {
        const answer = await this.download(server, buildId, artifact);
        this.markUp(server);
        return answer;
      } catch (error) {
        const failure =
          error instanceof RequestFailure
            ? error
            : new RequestFailure('network', (error as Error).message, true);
        const willRetry = failure.retryable && attempt < this.options.retries;
        this.emit({
          type: 'error',
          buildId,
          server,
          kind: failure.kind,
          message: failure.message,
          willRetry,
        });
        if (!willRetry) {
          if (DOWN_KINDS.has(failure.kind) && failure.retryable) this.markDown(server, failure.kind);
          return { failed: failure.kind };
        }
        const delay = firstDelay * 2 ** attempt;
        await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay * 0.25));
      }
    }
  }

  /** One request. Resolves to the cached file or a 404; throws `RequestFailure` otherwise. */
  private async download(
    server: string,
    buildId: string,
    artifact: DebuginfodArtifact,
  ): Promise<ServerAnswer> {
    const url = `${server}/buildid/${buildId}/${artifact}`;
    const cache = this.cacheOf(artifact);
    // Wall time, not `now`: that clock only drives the negative cache (and is replaced in tests).
    const started = Date.now();
    const controller = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const armTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.options.timeoutMs);
    };
    const failure = (error: unknown): RequestFailure => {
      if (error instanceof RequestFailure) return error;
      if (timedOut)
        return new RequestFailure('timeout', `${url}: no answer within ${this.options.timeoutMs} ms`, true);
      const cause = (error as Error & { cause?: Error }).cause;
      return new RequestFailure('network', `${url}: ${cause?.message ?? (error as Error).message}`, true);
    };
    armTimer();
    let temporary: string | undefined;
    try {
      let response: Response;
      try {
        response = await fetch(url, { signal: controller.signal, headers: { 'user-agent': 'uniprof' } });
      } catch (error) {
        throw failure(error);
      }
      if (response.status === 404) {
        await response.body?.cancel().catch(() => undefined);
        return { notFound: true };
      }
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
        throw new RequestFailure('http-status', `${url}: HTTP ${response.status}`, retryable);
      }
      const announced = Number(response.headers.get('content-length') ?? Number.NaN);
      if (announced > this.options.cacheMaxBytes) {
        await response.body.cancel().catch(() => undefined);
        throw new RequestFailure('too-large', `${url}: ${announced} bytes, more than the whole cache`, false);
      }
      try {
        temporary = await cache.temporaryPath();
      } catch (error) {
        throw new RequestFailure('cache-io', (error as Error).message, false);
      }
      const bytes = await this.streamToFile(url, response.body, temporary, armTimer).catch(
        (error: unknown) => {
          throw failure(error);
        },
      );
      clearTimeout(timer);
      this.check(url, temporary, buildId);
      let committed: Awaited<ReturnType<DebugFileCache['commit']>>;
      try {
        committed = await cache.commit(temporary, buildId, bytes);
      } catch (error) {
        throw new RequestFailure('cache-io', (error as Error).message, false);
      }
      temporary = undefined;
      this.emit({ type: 'download', buildId, server, bytes, durationMs: Date.now() - started });
      for (const gone of committed.evicted) this.emit({ type: 'evicted', ...gone });
      return { path: committed.path };
    } finally {
      clearTimeout(timer);
      if (temporary) await cache.discard(temporary).catch(() => undefined);
    }
  }

  /**
   * Streams the body to `path`, giving up early on what cannot be a debug file: no ELF magic in the first
   * bytes, or more bytes than the whole cache may hold.
   */
  private async streamToFile(
    url: string,
    body: ReadableStream<Uint8Array>,
    path: string,
    onProgress: () => void,
  ): Promise<number> {
    const reader = body.getReader();
    const file = await open(path, 'w').catch((error: unknown) => {
      throw new RequestFailure('cache-io', (error as Error).message, false);
    });
    let bytes = 0;
    const head: number[] = [];
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        onProgress();
        for (let i = 0; i < value.length && head.length < ELF_MAGIC.length; i++) head.push(value[i]);
        if (head.some((byte, i) => byte !== ELF_MAGIC[i])) {
          throw new RequestFailure('invalid-elf', `${url}: the answer is not an ELF file`, false);
        }
        bytes += value.length;
        if (bytes > this.options.cacheMaxBytes) {
          throw new RequestFailure(
            'too-large',
            `${url}: larger than the whole cache (${this.options.cacheMaxBytes} bytes)`,
            false,
          );
        }
        await file.write(value);
      }
    } catch (error) {
      await reader.cancel().catch(() => undefined);
      throw error;
    } finally {
      await file.close();
    }
    return bytes;
  }

  private check(url: string, path: string, buildId: string): void {
    let actual: string | undefined;
    try {
      actual = readElfIdentity(path).buildId;
    } catch (error) {
      throw new RequestFailure('invalid-elf', `${url}: damaged ELF file: ${(error as Error).message}`, false);
    }
    if (actual !== buildId) {
      throw new RequestFailure(
        'build-id-mismatch',
        `${url}: the file's build ID is ${actual ?? 'missing'}, not ${buildId}`,
        false,
      );
    }
  }

  /** Servers that are down now (could not be asked, not answered since). */
  get serversDown(): string[] {
    return [...this.down.keys()];
  }

  /** Stops probing servers that are down (a client no longer used). */
  close(): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.down.clear();
  }

  private markDown(server: string, kind: DebuginfodErrorKind): void {
    if (this.down.has(server)) return;
    this.down.set(server, Date.now());
    this.emit({ type: 'server-down', server, kind });
    this.scheduleProbe();
  }

  private markUp(server: string): void {
    const since = this.down.get(server);
    if (since === undefined) return;
    this.down.delete(server);
    this.emit({ type: 'server-up', server, downMs: Date.now() - since });
  }

  /**
   * While a server is down nothing may ask it (work waiting for it sits out its backoff), so it is probed:
   * the first answer ends the outage (`server-up`). The timer does not keep the process alive.
   */
  private scheduleProbe(): void {
    if (this.probeTimer !== undefined || this.down.size === 0) return;
    const interval = this.options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.probeTimer = setTimeout(() => void this.probe(), interval);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    for (const server of [...this.down.keys()]) {
      if (await this.answers(server)) this.markUp(server);
    }
    this.probeTimer = undefined;
    this.scheduleProbe();
  }

  /**
   * Whether the server answers HTTP at all: a GET of its root URL (cheap; no build ID that a federating
   * server would forward). Any answer but a 5xx, 408 or 429 (the statuses a request is retried after) counts.
   */
  private async answers(server: string): Promise<boolean> {
    try {
      const response = await fetch(`${server}/`, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
        headers: { 'user-agent': 'uniprof' },
      });
      await response.body?.cancel().catch(() => undefined);
      return response.status < 500 && response.status !== 408 && response.status !== 429;
    } catch {
      return false;
    }
  }

  private emit(event: DebuginfodEvent): void {
    const t = this.totals;
    switch (event.type) {
      case 'cache-hit':
        t.cacheHits++;
        break;
      case 'negative-cache-hit':
        t.negativeCacheHits++;
        break;
      case 'download':
        t.downloads++;
        t.downloadedBytes += event.bytes;
        break;
      case 'not-found':
        t.notFound++;
        break;
      case 'error':
        t.errors[event.kind]++;
        break;
      case 'evicted':
        t.evictions++;
        t.evictedBytes += event.bytes;
        break;
      case 'server-down':
      case 'server-up':
        break;
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken metrics listener must not break symbolization.
      }
    }
  }

  private async acquire(): Promise<void> {
    if (this.active < this.options.maxConcurrent) {
      this.active++;
      return;
    }
    // The slot is handed over by release(), so `active` stays counted for us.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
