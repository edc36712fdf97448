import { randomBytes } from 'node:crypto';
import { errors, type Client, type estypes } from '@elastic/elasticsearch';

type CompositeSource = Record<string, estypes.AggregationsCompositeAggregationSource>;
type CompositeKey = estypes.AggregationsCompositeAggregateKey;
import {
  chooseSamplingLevel,
  samplingScale,
  seededRandom,
  type EpochSeconds,
  type Executable,
  type HostMetadata,
  type ProfileBatch,
  type RandomSource,
  type StackFrameSymbols,
  type StackTrace,
} from '../../model/index.ts';
import {
  StoreBusyError,
  StoreUnavailableError,
  type EventAggregation,
  type EventField,
  type EventQuery,
  type TimeCountQuery,
  type TimeCounts,
  type Store,
  type StoreHealth,
  type StoreStats,
  type StoredSetting,
  type StorageArea,
  type StorageQuery,
  type StorageReport,
  type StackTraceCount,
  groupFieldList,
} from '../store.ts';
import {
  bulkLines,
  executableFromSource,
  hostFromSource,
  stackFrameFromSource,
  stackFrameOverwriteLines,
  stackTraceFromSource,
  validateBatch,
} from './documents.ts';
import {
  ALL_EVENT_INDICES,
  EVENTS_ALL,
  EXECUTABLES,
  HOSTS,
  STACKFRAMES,
  STACKTRACES,
  eventsIndex,
} from './layout.ts';
import { SECONDS_PER_DAY, samplingFrequencies, withDayBytes } from '../storage-report.ts';
import { ClusterHealthWatch } from './cluster-health.ts';
import { DEFAULT_REPLICAS } from './layout.ts';
import { createClient, silentLogger, type ElasticsearchStoreOptions, type StoreLogger } from './options.ts';
import { eventsQuery } from './queries.ts';
import { BulkSender, type SenderCounters } from './sender.ts';
import { ensureLayout, type SetupResult } from './setup.ts';
import { hasHeadroom, storageProblem } from '../storage-failure.ts';
import { Spool, SpoolBusyError, SpoolFullError } from './spool.ts';
import { queueLines } from './symbol-documents.ts';
import { ElasticsearchSettings } from './settings.ts';
import { ElasticsearchSymbolization } from './symbolization.ts';
import { LruMap } from '../../model/lru-map.ts';

/** As many executables as the collector's own memory of executables (collector/dedup.ts). */
const QUEUED_EXECUTABLES_REMEMBERED = 100_000;

const DEFAULTS = {
  spoolMaxBytes: 1024 ** 3,
  bulkMaxBytes: 5 * 1024 ** 2,
  bulkMaxAgeMs: 1000,
  bulkMaxInFlight: 2,
  maxRetryDelayMs: 30_000,
  eventShards: 4,
  keyValueShards: 16,
  closeTimeoutMs: 10_000,
  setupRetryMs: 5_000,
  spoolProbeMs: 1_000,
  clusterHealthIntervalMs: 5_000,
};
/** Buckets per page of a composite aggregation. */
const COMPOSITE_PAGE = 10_000;
/** Documents per mget request. */
const MGET_CHUNK = 5_000;
const SEARCH_OPTIONS = { ignore_unavailable: true, allow_no_indices: true } as const;
/** Hosts the storage explorer lists at most. */
const MAX_STORAGE_HOSTS = 10_000;

/** A certificate the client does not trust is a configuration mistake, not an outage to wait out. */
function isTlsVerificationError(error: unknown): boolean {
  return error instanceof errors.ConnectionError && /certificate|self[- ]signed|altname/i.test(error.message);
}

function isConnectivityError(error: unknown): boolean {
  if (isTlsVerificationError(error)) return false;
  if (error instanceof errors.ConnectionError || error instanceof errors.TimeoutError) return true;
  if (error instanceof errors.NoLivingConnectionsError) return true;
  return error instanceof errors.ResponseError && (error.statusCode === 503 || error.statusCode === 502);
}

function isMissingIndex(error: unknown): boolean {
  return error instanceof errors.ResponseError && error.statusCode === 404;
}

/**
 * The Elasticsearch store: writes the Universal Profiling layout through a durable spool, reads it back
 * with plain search APIs (no licensed profiling plugin needed).
 */
export class ElasticsearchStore implements Store {
  readonly kind = 'elasticsearch';
  readonly symbolization: ElasticsearchSymbolization;
  readonly client: Client;
  private readonly settings: ElasticsearchSettings;
  private readonly logger: StoreLogger;
  private readonly spool: Spool;
  private readonly sender: BulkSender;
  private readonly random: RandomSource;
  /**
   * Executables whose queue document this store created (or found there): each is created once, not marked
   * again with every batch (a partial update reads the document first, which was most of Elasticsearch's
   * work on that index). Forgetting one only costs a create that conflicts.
   */
  private readonly queuedExecutables = new LruMap<string, true>(QUEUED_EXECUTABLES_REMEMBERED);
  private layoutReady = false;
  private signalLayoutReady: () => void = () => {};
  private readonly layoutReadyPromise = new Promise<void>((resolve) => (this.signalLayoutReady = resolve));
  private readonly waitingForLayout: string[] = [];
  private setupTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Writes wait for the spool's recovery: a segment opened during it would be taken for an earlier run's. */
  private spoolRecovered = false;
  private setup: SetupResult | undefined;
  /** Why the last append to the spool failed for want of storage; cleared once the spool takes writes. */
  private spoolFailure: string | undefined;
  private spoolProbeTimer: NodeJS.Timeout | undefined;
  private readonly clusterHealth: ClusterHealthWatch;

  constructor(private readonly options: ElasticsearchStoreOptions) {
    this.client = createClient(options);
    this.symbolization = new ElasticsearchSymbolization(this.client);
    this.settings = new ElasticsearchSettings(this.client);
    this.logger = options.logger ?? silentLogger;
    this.random = options.seed === undefined ? Math.random : seededRandom(options.seed);
    const bulkMaxBytes = options.bulk?.maxBytes ?? DEFAULTS.bulkMaxBytes;
    this.spool = new Spool({
      dir: options.spoolDir,
      maxBytes: options.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes,
      maxPendingBytes: Math.max(4 * bulkMaxBytes, 64 * 1024 ** 2),
      segmentMaxBytes: bulkMaxBytes,
      segmentMaxAgeMs: options.bulk?.maxAgeMs ?? DEFAULTS.bulkMaxAgeMs,
      onSealed: (segment) => this.segmentSealed(segment),
    });
    this.sender = new BulkSender(this.client, this.spool, {
      maxBytes: bulkMaxBytes,
      maxInFlight: options.bulk?.maxInFlight ?? DEFAULTS.bulkMaxInFlight,
      maxRetryDelayMs: options.bulk?.maxRetryDelayMs ?? DEFAULTS.maxRetryDelayMs,
      logger: this.logger,
    });
    this.clusterHealth = new ClusterHealthWatch(
      this.client,
      options.clusterHealthIntervalMs ?? DEFAULTS.clusterHealthIntervalMs,
      this.logger,
    );
  }

  /** How the layout was found at start-up (undefined until Elasticsearch was first reached). */
  get layout(): SetupResult | undefined {
    return this.setup;
  }

  get counters(): Readonly<SenderCounters> & { spoolBytes: number; pendingSegments: number } {
    return {
      ...this.sender.counters,
      spoolBytes: this.spool.bytes,
      pendingSegments: this.sender.pendingSegments,
    };
  }

  /**
   * Recovers the spool and installs the layout. If Elasticsearch cannot be reached the store still opens:
   * writes are spooled and sent once the layout could be installed (never before, or the first documents
   * would create indices without their mappings).
   */
  async open(): Promise<void> {
    const leftover = await this.spool.open();
    this.spoolRecovered = true;
    this.clusterHealth.start();
    this.waitingForLayout.push(...leftover);
    if (leftover.length > 0)
      this.logger.info({ segments: leftover.length }, 'spooled data from an earlier run will be sent');
    try {
      await this.installLayout();
    } catch (error) {
      if (!isConnectivityError(error)) {
        await this.spool.close();
        throw new Error(`Elasticsearch at ${this.options.hosts.join(', ')}: ${describeError(error)}`, {
          cause: error,
        });
      }
      this.logger.warn({ err: error }, 'Elasticsearch unreachable at start-up; spooling until it is back');
      this.scheduleSetupRetry();
    }
  }

  private async installLayout(): Promise<void> {
    if (this.options.manageTemplates === false) {
      await this.client.ping();
    } else {
      this.setup = await ensureLayout(this.client, {
        eventShards: this.options.shards?.events ?? DEFAULTS.eventShards,
        keyValueShards: this.options.shards?.keyValue ?? DEFAULTS.keyValueShards,
        replicas: this.options.replicas ?? DEFAULT_REPLICAS,
        logger: this.logger,
      });
    }
    this.layoutReady = true;
    this.signalLayoutReady();
    for (const segment of this.waitingForLayout.splice(0)) this.sender.enqueue(segment);
  }

  private scheduleSetupRetry(): void {
    this.setupTimer = setTimeout(() => {
      if (this.closed) return;
      this.installLayout().catch((error: unknown) => {
        this.logger.warn({ err: error }, 'Elasticsearch still unreachable; data stays in the spool');
        this.scheduleSetupRetry();
      });
    }, DEFAULTS.setupRetryMs);
    this.setupTimer.unref();
  }

  private segmentSealed(segment: string): void {
    if (this.layoutReady) this.sender.enqueue(segment);
    else this.waitingForLayout.push(segment);
  }

  async write(batch: ProfileBatch): Promise<void> {
    this.ensureOpen();
    validateBatch(batch);
    const batchId = randomBytes(9).toString('base64url');
    const lines = bulkLines(batch, batchId, this.random);
    // In the same spool record as the frames themselves: an acknowledged frame is always queued.
    const queued = {
      has: (fileId: string) => this.queuedExecutables.get(fileId) === true,
      add: (fileId: string) => this.queuedExecutables.set(fileId, true),
    };
    for (const line of queueLines(batch, Date.now(), batchId, queued)) lines.push(line);
    if (lines.length > 0) await this.appendToSpool(lines);
  }

  async writeStackFrames(frames: readonly StackFrameSymbols[]): Promise<void> {
    this.ensureOpen();
    if (frames.length > 0) await this.appendToSpool(stackFrameOverwriteLines(frames));
  }

  health(): StoreHealth {
    if (this.closed || !this.spoolRecovered)
      return { writable: false, problem: 'the Elasticsearch store is not open' };
    if (this.spoolFailure !== undefined) return { writable: false, problem: this.spoolFailure };
    const degraded = this.degradation();
    return degraded === undefined ? { writable: true } : { writable: true, degraded };
  }

  /** Writes are still taken (the spool holds them), but not all is well behind it. */
  private degradation(): string | undefined {
    const problems: string[] = [];
    if (this.layoutReady && !this.sender.reachable)
      problems.push(
        `bulk requests to Elasticsearch are failing; ${this.spool.bytes} bytes wait in the spool`,
      );
    const cluster = this.clusterHealth.describe();
    if (cluster !== undefined) problems.push(cluster);
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  private async appendToSpool(lines: string[]): Promise<void> {
    // Refused at once until the probe found the disk writable again: no flapping in between.
    if (this.spoolFailure !== undefined) throw new StoreUnavailableError(this.spoolFailure);
    try {
      await this.spool.append(lines);
    } catch (error) {
      const problem = storageProblem(error);
      if (problem !== undefined) {
        this.spoolFailure = `cannot write to the spool at ${this.spool.dir}: ${problem}`;
        this.logger.error({ err: error }, `${this.spoolFailure}; refusing writes until it can`);
        this.watchSpoolDisk();
        throw new StoreUnavailableError(this.spoolFailure, { cause: error });
      }
      if (error instanceof SpoolFullError) {
        if (this.layoutReady && this.sender.reachable)
          throw new StoreBusyError(`Elasticsearch is behind: ${error.message}`);
        throw new StoreUnavailableError(`Elasticsearch is unreachable and ${error.message}`);
      }
      if (error instanceof SpoolBusyError) throw new StoreBusyError(error.message);
      throw error;
    }
  }

  /** Probes the spool's disk until it has room and takes writes again; then the store takes writes again. */
  private watchSpoolDisk(): void {
    if (this.spoolProbeTimer || this.closed) return;
    let probing = false;
    this.spoolProbeTimer = setInterval(() => {
      if (probing) return;
      probing = true;
      (async () => {
        if (!(await hasHeadroom(this.spool.dir))) return;
        await this.spool.probe();
        this.spoolFailure = undefined;
        clearInterval(this.spoolProbeTimer);
        this.spoolProbeTimer = undefined;
        this.logger.info({ spool: this.spool.dir }, 'the spool takes writes again');
      })()
        .catch(() => undefined)
        .finally(() => (probing = false));
    }, DEFAULTS.spoolProbeMs);
    this.spoolProbeTimer.unref();
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreUnavailableError('the Elasticsearch store is closed');
    if (!this.spoolRecovered) throw new StoreUnavailableError('the Elasticsearch store is still opening');
  }

  /**
   * Sends everything acknowledged so far and makes it searchable. For tests and benchmarks; the collector
   * never needs to wait for this.
   */
  async flush(): Promise<void> {
    this.ensureOpen();
    await this.spool.sealNow();
    await this.layoutReadyPromise;
    await this.sender.whenIdle();
    await this.client.indices.refresh({
      index: 'profiling-*,.profiling-*',
      ...SEARCH_OPTIONS,
      expand_wildcards: 'all',
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.setupTimer) clearTimeout(this.setupTimer);
    clearInterval(this.spoolProbeTimer);
    this.clusterHealth.stop();
    await this.spool.sealNow();
    // Waiting for an unreachable cluster would only delay the restart; the spool keeps the data either way.
    if (this.layoutReady && this.sender.reachable) {
      const timeout = new Promise((resolve) => setTimeout(resolve, DEFAULTS.closeTimeoutMs).unref());
      await Promise.race([this.sender.whenIdle(), timeout]);
    }
    await this.sender.stop();
    await this.spool.close();
    await this.client.close();
  }

  // ---- read side ----

  private async countEvents(level: number, query: Record<string, unknown>): Promise<number> {
    try {
      const response = await this.client.count({ index: eventsIndex(level), query, ...SEARCH_OPTIONS });
      return response.count;
    } catch (error) {
      if (isMissingIndex(error)) return 0;
      throw error;
    }
  }

  async aggregateEvents(query: EventQuery): Promise<EventAggregation> {
    const filter = eventsQuery(query.from, query.to, query.filter);
    const level = query.samplingLevel ?? chooseSamplingLevel(await this.countEvents(0, filter));
    const scale = samplingScale(level);
    const fieldList =
      query.groupBy !== undefined && typeof query.groupBy !== 'string'
        ? groupFieldList(query.groupBy)
        : undefined;
    const sources: CompositeSource[] = [{ id: { terms: { field: 'Stacktrace.id' } } }];
    if (typeof query.groupBy === 'string')
      sources.push({ group: { terms: { field: query.groupBy, missing_bucket: true } } });
    // One source per field: the composite aggregation pages through every combination exactly.
    fieldList?.forEach((field, i) => sources.push({ [`g${i}`]: { terms: { field, missing_bucket: true } } }));
    const rows: StackTraceCount[] = [];
    let eventsRead = 0;
    let totalCount = 0;
    for await (const bucket of this.compositeBuckets(eventsIndex(level), filter, sources)) {
      const count = bucket.sum * scale;
      eventsRead += bucket.docCount;
      totalCount += count;
      const row: StackTraceCount = { stackTraceId: String(bucket.key.id), count };
      if (typeof query.groupBy === 'string' && bucket.key.group !== null && bucket.key.group !== undefined)
        row.group = String(bucket.key.group);
      if (fieldList) row.groups = fieldList.map((_, i) => keyValue(bucket.key[`g${i}`]));
      rows.push(row);
    }
    return { samplingLevel: level, eventsRead, totalCount, rows };
  }

  async countOverTime(query: TimeCountQuery): Promise<TimeCounts> {
    const filter = eventsQuery(query.from, query.to, query.filter);
    const level = query.samplingLevel ?? chooseSamplingLevel(await this.countEvents(0, filter));
    const scale = samplingScale(level);
    const width = Math.max(1, Math.floor(query.bucketSeconds));
    const sources: CompositeSource[] = [
      { t: { date_histogram: { field: '@timestamp', fixed_interval: `${width}s` } } },
    ];
    if (query.groupBy) sources.push({ group: { terms: { field: query.groupBy, missing_bucket: true } } });
    const points: TimeCounts['points'] = [];
    for await (const bucket of this.compositeBuckets(eventsIndex(level), filter, sources)) {
      const point: TimeCounts['points'][number] = {
        start: Math.floor(Number(bucket.key.t) / 1000),
        count: bucket.sum * scale,
      };
      if (bucket.key.group !== null && bucket.key.group !== undefined) point.group = String(bucket.key.group);
      points.push(point);
    }
    return { samplingLevel: level, points };
  }

  /** Pages through a composite aggregation (exact, unlike a terms aggregation over several shards). */
  private async *compositeBuckets(
    index: string,
    query: Record<string, unknown>,
    sources: CompositeSource[],
  ): AsyncGenerator<{ key: CompositeKey; docCount: number; sum: number }> {
    let after: CompositeKey | undefined;
    for (;;) {
      const response = await this.client.search({
        index,
        size: 0,
        query,
        ...SEARCH_OPTIONS,
        aggregations: {
          rows: {
            composite: { size: COMPOSITE_PAGE, sources, ...(after ? { after } : {}) },
            aggregations: { count: { sum: { field: 'Stacktrace.count' } } },
          },
        },
      });
      const aggregation = response.aggregations?.rows as
        | {
            buckets: { key: CompositeKey; doc_count: number; count: { value: number } }[];
            after_key?: CompositeKey;
          }
        | undefined;
      const buckets = aggregation?.buckets ?? [];
      for (const bucket of buckets)
        yield { key: bucket.key, docCount: bucket.doc_count, sum: bucket.count.value };
      if (buckets.length < COMPOSITE_PAGE || !aggregation?.after_key) return;
      after = aggregation.after_key;
    }
  }

  private async multiGet<T>(
    index: string,
    ids: readonly string[],
    decode: (id: string, source: unknown) => T,
  ): Promise<Map<string, T>> {
    const result = new Map<string, T>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += MGET_CHUNK) {
      let response;
      try {
        response = await this.client.mget({ index, ids: unique.slice(i, i + MGET_CHUNK) });
      } catch (error) {
        if (isMissingIndex(error)) return result;
        throw error;
      }
      for (const doc of response.docs) {
        if ('found' in doc && doc.found && doc._source !== undefined)
          result.set(doc._id, decode(doc._id, doc._source));
      }
    }
    return result;
  }

  getStackTraces(ids: readonly string[]): Promise<Map<string, StackTrace>> {
    return this.multiGet(STACKTRACES, ids, stackTraceFromSource);
  }

  getStackFrames(ids: readonly string[]): Promise<Map<string, StackFrameSymbols>> {
    return this.multiGet(STACKFRAMES, ids, stackFrameFromSource);
  }

  getExecutables(fileIds: readonly string[]): Promise<Map<string, Executable>> {
    return this.multiGet(EXECUTABLES, fileIds, executableFromSource);
  }

  /** Hosts that reported since `from`, each with its latest report. */
  async listHosts(from: EpochSeconds, _to: EpochSeconds): Promise<HostMetadata[]> {
    const hosts: HostMetadata[] = [];
    let after: CompositeKey | undefined;
    for (;;) {
      const response = await this.client.search({
        index: HOSTS,
        size: 0,
        ...SEARCH_OPTIONS,
        query: { range: { '@timestamp': { gte: Math.max(0, Math.floor(from)), format: 'epoch_second' } } },
        aggregations: {
          hosts: {
            composite: {
              size: 1000,
              sources: [{ id: { terms: { field: 'host.id' } } }],
              ...(after ? { after } : {}),
            },
            aggregations: { latest: { top_hits: { size: 1, sort: [{ '@timestamp': 'desc' }] } } },
          },
        },
      });
      const aggregation = response.aggregations?.hosts as
        | {
            buckets: { latest: { hits: { hits: { _source?: unknown }[] } } }[];
            after_key?: CompositeKey;
          }
        | undefined;
      const buckets = aggregation?.buckets ?? [];
      for (const bucket of buckets) {
        const source = bucket.latest.hits.hits[0]?._source;
        if (source !== undefined) hosts.push(hostFromSource(source));
      }
      if (buckets.length < 1000 || !aggregation?.after_key) break;
      after = aggregation.after_key;
    }
    return hosts.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  }

  async fieldValues(
    field: EventField,
    from: EpochSeconds,
    to: EpochSeconds,
    limit: number,
  ): Promise<string[]> {
    const query = eventsQuery(from, to);
    const level = chooseSamplingLevel(await this.countEvents(0, query));
    const response = await this.client.search({
      index: eventsIndex(level),
      size: 0,
      query,
      ...SEARCH_OPTIONS,
      aggregations: {
        values: {
          terms: {
            field,
            size: Math.max(1, Math.floor(limit)),
            order: [{ count: 'desc' }, { _key: 'asc' }],
          },
          aggregations: { count: { sum: { field: 'Stacktrace.count' } } },
        },
      },
    });
    const buckets =
      (response.aggregations?.values as { buckets: { key: unknown; key_as_string?: string }[] } | undefined)
        ?.buckets ?? [];
    return buckets.map((bucket) => bucket.key_as_string ?? String(bucket.key));
  }

  private async countIndex(index: string): Promise<number> {
    try {
      return (await this.client.count({ index, ...SEARCH_OPTIONS })).count;
    } catch (error) {
      if (isMissingIndex(error)) return 0;
      throw error;
    }
  }

  readSetting(name: string): Promise<StoredSetting | undefined> {
    return this.settings.read(name);
  }

  /** Straight to Elasticsearch, not through the spool: the caller learns at once whether it was kept. */
  writeSetting(name: string, setting: StoredSetting): Promise<void> {
    return this.settings.write(name, setting);
  }

  async stats(): Promise<StoreStats> {
    const [events, stackTraces, stackFrames, executables] = await Promise.all(
      [EVENTS_ALL, STACKTRACES, STACKFRAMES, EXECUTABLES].map((index) => this.countIndex(index)),
    );
    const range = await this.client.search({
      index: EVENTS_ALL,
      size: 0,
      ...SEARCH_OPTIONS,
      aggregations: {
        oldest: { min: { field: '@timestamp' } },
        newest: { max: { field: '@timestamp' } },
      },
    });
    const value = (name: string) =>
      (range.aggregations?.[name] as { value: number | null } | undefined)?.value ?? null;
    const sizes = await this.client.indices.stats({
      index: 'profiling-*,.profiling-*',
      metric: 'store',
      expand_wildcards: 'all',
      ...SEARCH_OPTIONS,
    });
    const millis = (v: number | null) => (v === null ? undefined : Math.floor(v / 1000));
    return {
      events,
      stackTraces,
      stackFrames,
      executables,
      hosts: await this.countHosts(),
      bytesOnDisk: sizes._all?.total?.store?.size_in_bytes,
      oldestEvent: millis(value('oldest')),
      newestEvent: millis(value('newest')),
    };
  }

  async storage(query: StorageQuery): Promise<StorageReport> {
    const filter = eventsQuery(query.from, query.to);
    const [indices, perHost, perDay, hosts] = await Promise.all([
      this.client.cat.indices({
        index: 'profiling-*,.profiling-*,.ds-profiling-*',
        expand_wildcards: 'all',
        format: 'json',
        bytes: 'b',
        h: 'index,docs.count,store.size',
      }),
      this.client.search({
        index: EVENTS_ALL,
        size: 0,
        query: filter,
        ...SEARCH_OPTIONS,
        aggregations: {
          hosts: {
            // As many buckets as hosts, so that every shard reports every host and the counts are exact.
            terms: { field: 'host.id', size: MAX_STORAGE_HOSTS, shard_size: MAX_STORAGE_HOSTS },
            aggregations: {
              samples: { sum: { field: 'Stacktrace.count' } },
              last: { max: { field: '@timestamp' } },
              name: { terms: { field: 'host.name', size: 1 } },
            },
          },
        },
      }),
      this.daysOf(filter),
      this.listHosts(0, query.to),
    ]);
    // A data stream's backing indices (`.ds-profiling-events-all-2026.01.01-000001`) count under its name.
    const areas = new Map<string, StorageArea & { bytes: number }>();
    for (const row of indices) {
      const index = String(row.index);
      const name = /^\.ds-(.+)-\d{4}\.\d{2}\.\d{2}-\d+$/.exec(index)?.[1] ?? index;
      const area = areas.get(name) ?? { name, rows: 0, bytes: 0 };
      area.rows += Number(row['docs.count'] ?? 0);
      area.bytes += Number(row['store.size'] ?? 0);
      areas.set(name, area);
    }
    const sorted = [...areas.values()].sort((a, b) => a.name.localeCompare(b.name));
    type HostBucket = {
      key: string;
      doc_count: number;
      samples: { value: number };
      last: { value: number | null };
      name: { buckets: { key: string }[] };
    };
    const hostBuckets = (perHost.aggregations?.hosts as { buckets: HostBucket[] } | undefined)?.buckets ?? [];
    return {
      areas: sorted,
      totalBytes: sorted.reduce((sum, area) => sum + area.bytes, 0),
      hosts: hostBuckets
        .map((bucket) => ({
          hostId: String(bucket.key),
          hostName: bucket.name.buckets[0]?.key,
          events: bucket.doc_count,
          samples: bucket.samples.value,
          lastSeen: Math.floor((bucket.last.value ?? 0) / 1000),
        }))
        .sort((a, b) => b.samples - a.samples || a.hostId.localeCompare(b.hostId)),
      days: withDayBytes(
        perDay,
        sorted,
        (name) => name.startsWith('profiling-events-'),
        areas.get(EVENTS_ALL)?.rows ?? 0,
      ),
      samplingLevels: ALL_EVENT_INDICES.map((index, level) => ({
        level,
        events: areas.get(index)?.rows ?? 0,
      })).filter((level) => level.events > 0),
      samplingFrequencies: samplingFrequencies(hosts),
    };
  }

  /** Events and samples per UTC day, exact (a composite aggregation pages through every day). */
  private async daysOf(filter: Record<string, unknown>): Promise<StorageReport['days']> {
    const days: StorageReport['days'] = [];
    const sources: CompositeSource[] = [
      { t: { date_histogram: { field: '@timestamp', fixed_interval: `${SECONDS_PER_DAY}s` } } },
    ];
    for await (const bucket of this.compositeBuckets(EVENTS_ALL, filter, sources)) {
      days.push({
        day: Math.floor(Number(bucket.key.t) / 1000),
        events: bucket.docCount,
        samples: bucket.sum,
      });
    }
    return days.sort((a, b) => a.day - b.day);
  }

  private async countHosts(): Promise<number> {
    const response = await this.client.search({
      index: HOSTS,
      size: 0,
      ...SEARCH_OPTIONS,
      aggregations: { hosts: { cardinality: { field: 'host.id' } } },
    });
    return (response.aggregations?.hosts as { value: number } | undefined)?.value ?? 0;
  }
}

function describeError(error: unknown): string {
  if (error instanceof errors.ResponseError) {
    if (error.statusCode === 401) return 'authentication failed (check apiKey or username/password)';
    if (error.statusCode === 403) return `not allowed: ${JSON.stringify(error.body)}`;
    return `HTTP ${error.statusCode}: ${JSON.stringify(error.body)}`;
  }
  if (isTlsVerificationError(error)) {
    return `TLS: ${(error as Error).message} (set output.elasticsearch.tls.ca to the cluster's CA)`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A composite key's value as a group value; a missing field's bucket key is null. */
function keyValue(value: CompositeKey[string] | undefined): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}
