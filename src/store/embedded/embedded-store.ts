import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  DuckDBAppender,
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  LIST,
  UINTEGER,
  VARCHAR,
  type DuckDBValue,
} from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import {
  chooseSamplingLevel,
  decodeFrameIds,
  decodeFrameTypes,
  downsampledCounts,
  emptyBatch,
  eventCount,
  encodeFrameIds,
  encodeFrameTypes,
  FILE_ID_BYTES,
  samplingScale,
  seededRandom,
  type EpochSeconds,
  type EventDimensions,
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
  type Store,
  type StoreHealth,
  type StorageQuery,
  type StorageReport,
  type StoreStats,
  type StoredSetting,
  type TimeCountQuery,
  type TimeCounts,
  groupFieldList,
} from '../store.ts';
import { hasHeadroom, storageProblem } from '../storage-failure.ts';
import { SECONDS_PER_DAY, samplingFrequencies, withDayBytes } from '../storage-report.ts';
import { filterToSql, type SqlFragment } from './filter-sql.ts';
import { DEFAULT_DIMENSIONS_CACHE, DimensionIds } from './dimension-ids.ts';
import { DEFAULT_STACK_NUMBER_CACHE, StackNumbers } from './stack-numbers.ts';
import { DIMENSION_COLUMNS, EVENT_LEVELS, SCHEMA_SQL, SCHEMA_VERSION, eventsTable } from './schema.ts';
import { DEFAULT_QUEUED_FRAMES_IN_MEMORY, EmbeddedSymbolization } from './symbolization.ts';

export interface EmbeddedStoreOptions {
  /** The database file; `:memory:` for a throw-away store. */
  path: string;
  /** Events waiting to be written past which `write` refuses with StoreBusyError. */
  maxPendingEvents?: number;
  /**
   * Least time between the starts of two commits while writes keep coming. Writes that arrive meanwhile wait
   * and share the next commit; a write to an idle store commits at once, so none waits longer than this.
   */
  commitIntervalMs?: number;
  /** Waiting events that make the next commit start without waiting for the interval. */
  commitEventThreshold?: number;
  /** Seed for the downsampling coin; fixed in tests so that levels are repeatable. */
  seed?: number;
  /** Symbol ranges kept in memory for lookups, all files together (see symbolization.ts). */
  symbolCacheRanges?: number;
  /** Epoch milliseconds for the symbolization queue's due times and leases; replaced in tests. */
  clock?: () => number;
  /** Write-ahead log size past which DuckDB checkpoints into the file; DuckDB's own default when unset. */
  checkpointThresholdBytes?: number;
  /**
   * DuckDB's memory limit (its buffer pool, caches and query working memory; beyond it queries spill to
   * `<path>.tmp`), as DuckDB spells sizes: `256MB`, `1GiB`. DuckDB's own default is 80 % of the machine's RAM,
   * which leaves the collector's memory unbounded for all practical purposes.
   */
  memoryLimit?: string;
  /** DuckDB's worker threads. */
  threads?: number;
  /** Stack numbers kept in memory in each direction (see stack-numbers.ts); the rest are looked up. */
  stackNumberCache?: number;
  /** Dimensions ids kept in memory (see dimension-ids.ts); the rest are looked up. */
  dimensionsCache?: number;
  /** Symbolization queue frames kept in memory (see queued-frames.ts); files past it are looked up. */
  queuedFramesInMemory?: number;
}

export const DEFAULT_COMMIT_INTERVAL_MS = 50;
export const DEFAULT_COMMIT_EVENT_THRESHOLD = 50_000;
export const DEFAULT_MEMORY_LIMIT = '256MB';
/** Ingest and the UI's queries rarely use more; each thread adds its own working memory. */
export const DEFAULT_THREADS = 2;
/** About 150 MB of ranges in memory; a file with more is looked up in SQL. */
export const DEFAULT_SYMBOL_CACHE_RANGES = 500_000;

/** Work on the writer connection that runs inside a write transaction (see `transact`). */
type WriteTask = (writer: DuckDBConnection) => Promise<void>;

interface PendingWrite {
  batch: ProfileBatch;
  /** Its number of events (counted once: a batch may have them as columns only). */
  events: number;
  /** The symbolizer's frames replace what is stored; the collector's only fill gaps. */
  replaceFrames: boolean;
  /** Runs in the transaction after the batch; run again if the write is retried alone. */
  task?: WriteTask;
  resolve: () => void;
  reject: (error: unknown) => void;
}

type Row = Record<string, unknown>;

/** How often a store whose storage failed checks whether it can write again. */
const RECOVERY_INTERVAL_MS = 1000;

/** Rows of a multi-row INSERT per statement; keeps parameter lists a sane size. */
const INSERT_CHUNK_ROWS = 500;

/**
 * The embedded store: one DuckDB file. Writes from concurrent requests are coalesced into one transaction
 * (group commit), so a burst of small batches costs one commit, and each caller still learns only once its
 * own batch is durable. A transaction costs DuckDB about half a millisecond of CPU whatever its size, so
 * while writes keep coming the store commits at most once per `commitIntervalMs` (sooner once
 * `commitEventThreshold` events wait) instead of once per write.
 */
export class EmbeddedStore implements Store {
  readonly kind = 'embedded';
  readonly symbolization: EmbeddedSymbolization;
  private readonly options: Required<EmbeddedStoreOptions>;
  private instance?: DuckDBInstance;
  private writer?: DuckDBConnection;
  private reader?: DuckDBConnection;
  private appenders: DuckDBAppender[] = [];
  /** Event rows per level, handed to the appenders a data chunk at a time. */
  private eventColumns: EventColumns[] = [];
  private stackNumbers?: StackNumbers;
  private stackNumbersAppender?: DuckDBAppender;
  private dimsAppender?: DuckDBAppender;
  private stageAppender?: DuckDBAppender;
  private frameStageAppender?: DuckDBAppender;
  private pendingFramesAppender?: DuckDBAppender;
  private dimsIds?: DimensionIds;
  private pending: PendingWrite[] = [];
  /** Events of all accepted writes not yet committed (queued or in the running transaction). */
  private pendingEvents = 0;
  /** Events of the writes in `pending` (not yet taken by a transaction). */
  private queuedEvents = 0;
  private flushing?: Promise<void>;
  private commitTimer?: NodeJS.Timeout;
  /** When the last transaction began (performance.now()); the interval counts from there. */
  private lastCommitStart = -Infinity;
  private committed = 0;
  private readonly random: RandomSource;
  private closed = false;
  /** close() began: symbol uploads in progress give up, though writes are still taken. */
  private closing = false;
  /** Why the last write failed for want of storage (disk full, read-only); cleared by the recovery. */
  private storageFailure?: string;
  /**
   * DuckDB gives up on a database after a fatal error (a checkpoint that could not write, say): every later
   * statement fails until the database is opened again, which the recovery timer does.
   */
  private invalidated = false;
  private recoveryTimer?: NodeJS.Timeout;
  private recovering = false;
  /** While retention collects unreferenced rows: what the writes since it began reference (see retention.ts). */
  private watch?: WrittenReferences;

  constructor(options: EmbeddedStoreOptions) {
    this.options = {
      maxPendingEvents: 2_000_000,
      commitIntervalMs: DEFAULT_COMMIT_INTERVAL_MS,
      commitEventThreshold: DEFAULT_COMMIT_EVENT_THRESHOLD,
      seed: Date.now() & 0xffffffff,
      symbolCacheRanges: DEFAULT_SYMBOL_CACHE_RANGES,
      clock: Date.now,
      checkpointThresholdBytes: 0,
      memoryLimit: DEFAULT_MEMORY_LIMIT,
      threads: DEFAULT_THREADS,
      stackNumberCache: DEFAULT_STACK_NUMBER_CACHE,
      dimensionsCache: DEFAULT_DIMENSIONS_CACHE,
      queuedFramesInMemory: DEFAULT_QUEUED_FRAMES_IN_MEMORY,
      ...options,
    };
    this.random = seededRandom(this.options.seed);
    this.symbolization = new EmbeddedSymbolization(
      {
        transact: (task, frames) => this.transact(task, frames),
        connect: () => {
          if (!this.instance || this.closed || this.invalidated)
            return Promise.reject(new StoreUnavailableError('the embedded store is not open'));
          return this.instance.connect();
        },
        reader: () => this.readable(),
        now: () => this.options.clock(),
        closing: () => this.closing || this.closed,
      },
      this.options.symbolCacheRanges,
      this.options.queuedFramesInMemory,
    );
  }

  /**
   * For the retention job (retention.ts): runs `task` in a write transaction of its own, serialised with the
   * batches' group commits, and resolves once it committed.
   */
  inWriteTransaction<T>(task: (writer: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.transact(task);
  }

  /** For the retention job: rows of a query on the reader connection (a snapshot; writes go on meanwhile). */
  readRows(sql: string, params: DuckDBValue[] = []): Promise<Row[]> {
    return this.rows(sql, params);
  }

  /**
   * Starts recording what later writes reference (stacks of events, frames of stack traces, files), between two
   * transactions so that no write is half in and half out: the retention job keeps those rows whatever its
   * earlier snapshot said. `undefined` stops recording.
   */
  async watchWrites(watch: WrittenReferences | undefined): Promise<void> {
    await this.transact(() => {
      this.watch = watch;
      return Promise.resolve();
    });
  }

  /** Transactions committed since open: with group commit, far fewer than writes. */
  get commits(): number {
    return this.committed;
  }

  async open(): Promise<void> {
    if (this.options.path !== ':memory:') mkdirSync(dirname(this.options.path), { recursive: true });
    await this.openDatabase();
  }

  health(): StoreHealth {
    if (this.closed) return { writable: false, problem: 'the embedded store is closed' };
    // Before the open check: a reopen that failed (the disk still full) leaves no connection.
    if (this.storageFailure !== undefined) return { writable: false, problem: this.storageFailure };
    if (!this.writer) return { writable: false, problem: 'the embedded store is not open' };
    return { writable: true };
  }

  private async openDatabase(): Promise<void> {
    try {
      this.instance = await DuckDBInstance.create(this.options.path, {
        memory_limit: this.options.memoryLimit,
        threads: String(this.options.threads),
      });
    } catch (error) {
      throw new Error(`cannot open the embedded store at ${this.options.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.writer = await this.instance.connect();
    this.reader = await this.instance.connect();
    const threshold = this.options.checkpointThresholdBytes;
    if (threshold > 0) await this.writer.run(`SET checkpoint_threshold = '${Math.floor(threshold)}B'`);
    await this.writer.run(SCHEMA_SQL);
    try {
      await this.checkSchemaVersion(this.writer);
    } catch (error) {
      // Let go of the file, so that the caller can report the error and another version can open it.
      this.writer.closeSync();
      this.reader.closeSync();
      this.instance.closeSync();
      this.writer = this.reader = this.instance = undefined;
      throw error;
    }
    await this.symbolization.open(this.writer);
    this.appenders = await Promise.all(
      EVENT_LEVELS.map((level) => this.writer!.createAppender(eventsTable(level))),
    );
    this.eventColumns = this.appenders.map((appender) => new EventColumns(appender));
    this.dimsAppender = await this.writer.createAppender('event_dims');
    this.stackNumbersAppender = await this.writer.createAppender('stack_numbers');
    this.stackNumbers = new StackNumbers(this.stackNumbersAppender, this.options.stackNumberCache);
    this.stageAppender = await this.writer.createAppender('stage_stacktraces', 'main', 'temp');
    this.frameStageAppender = await this.writer.createAppender('stage_stackframes', 'main', 'temp');
    this.pendingFramesAppender = await this.writer.createAppender('symbolization_frames');
    await this.loadDimensions();
    await this.loadStackNumbers();
  }

  private async checkSchemaVersion(connection: DuckDBConnection): Promise<void> {
    const rows = await this.rowsOn(connection, `SELECT value FROM uniprof_meta WHERE key = 'schema_version'`);
    if (rows.length === 0) {
      await connection.run(`INSERT INTO uniprof_meta VALUES ('schema_version', ?)`, [String(SCHEMA_VERSION)]);
    } else if (rows[0].value !== String(SCHEMA_VERSION)) {
      throw new Error(
        `the embedded store at ${this.options.path} has schema version ${String(rows[0].value)}; this Uniprof writes version ${SCHEMA_VERSION} ` +
          `and cannot read it: move the file aside (or set output.embedded.path to a new file) to start a new store`,
      );
    }
  }

  /** The highest id, and as many of the most recent rows as the cache keeps for sure. */
  private async loadDimensions(): Promise<void> {
    const dims = (this.dimsIds = new DimensionIds(this.options.dimensionsCache));
    const [highest] = await this.rowsOn(
      this.reader!,
      'SELECT coalesce(max(id), 0)::BIGINT AS n FROM event_dims',
    );
    dims.continueAfter(Number(highest.n));
    const rows = await this.rowsOn(this.reader!, 'SELECT * FROM event_dims ORDER BY id DESC LIMIT ?', [
      Math.floor(this.options.dimensionsCache / 2),
    ]);
    for (const { key, id } of dimensionKeysOfRows(rows.reverse())) dims.remember(key, id);
  }

  /** The highest number, and as many of the most recent rows as the cache keeps for sure. */
  private async loadStackNumbers(): Promise<void> {
    // On the connection itself: during a reopen the store still counts as invalidated, and rows() refuses then.
    const [highest] = await this.rowsOn(
      this.reader!,
      'SELECT coalesce(max(no), 0)::BIGINT AS n FROM stack_numbers',
    );
    this.stackNumbers!.continueAfter(Number(highest.n));
    const reader = await this.reader!.runAndReadAll(
      'SELECT no, id FROM stack_numbers ORDER BY no DESC LIMIT ?',
      [Math.floor(this.options.stackNumberCache / 2)],
    );
    if (reader.currentRowCount === 0) return;
    const [numbers, ids] = reader.getColumnsJS();
    this.stackNumbers!.load((numbers as number[]).reverse(), (ids as string[]).reverse());
  }

  write(batch: ProfileBatch): Promise<void> {
    return this.enqueue(batch, false);
  }

  /** Queued like any batch: the writer connection must never run two transactions' statements interleaved. */
  writeStackFrames(frames: readonly StackFrameSymbols[]): Promise<void> {
    return this.enqueue({ ...emptyBatch(), stackFrames: [...frames] }, true);
  }

  /**
   * Runs `task` inside a write transaction (after `frames`, which replace stored ones) and resolves with its
   * result once that committed: the symbolization queue's changes share the writer connection and the group
   * commit with the batches, so they never interleave with them or with each other.
   */
  private async transact<T>(
    task: (writer: DuckDBConnection) => Promise<T>,
    frames: readonly StackFrameSymbols[] = [],
    probe = false,
  ): Promise<T> {
    let result: { value: T } | undefined;
    const batch = { ...emptyBatch(), stackFrames: [...frames] };
    const run: WriteTask = async (writer) => {
      result = { value: await task(writer) };
    };
    await this.enqueue(batch, true, run, probe);
    return result!.value;
  }

  /** `probe`: the recovery's test write, which alone goes through while the storage is failing. */
  private enqueue(
    batch: ProfileBatch,
    replaceFrames: boolean,
    task?: WriteTask,
    probe = false,
  ): Promise<void> {
    // Refused at once until the recovery found the storage writable again: no flapping in between.
    if (this.storageFailure !== undefined && !probe && !this.closed)
      return Promise.reject(new StoreUnavailableError(this.storageFailure));
    if (this.closed || !this.writer) {
      return Promise.reject(new StoreUnavailableError('the embedded store is not open'));
    }
    const events = eventCount(batch);
    if (this.pendingEvents + events > this.options.maxPendingEvents && this.pendingEvents > 0) {
      return Promise.reject(
        new StoreBusyError(`the embedded store has ${this.pendingEvents} events waiting to be written`),
      );
    }
    this.pendingEvents += events;
    this.queuedEvents += events;
    return new Promise((resolve, reject) => {
      this.pending.push({ batch, events, replaceFrames, task, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Starts the next transaction when it is due (enough events wait, the interval since the last one has
   * passed, or the store is closing), else arms a timer for when it will be. One transaction at a time.
   */
  private scheduleFlush(): void {
    if (this.flushing || this.pending.length === 0) return;
    const wait = this.lastCommitStart + this.options.commitIntervalMs - performance.now();
    if (wait > 0 && !this.closed && this.queuedEvents < this.options.commitEventThreshold) {
      this.commitTimer ??= setTimeout(() => {
        this.commitTimer = undefined;
        this.scheduleFlush();
      }, Math.ceil(wait));
      return;
    }
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    this.lastCommitStart = performance.now();
    const group = this.pending;
    this.pending = [];
    this.queuedEvents = 0;
    this.flushing = this.commitGroup(group).finally(() => {
      this.flushing = undefined;
      // Writes that arrived during the transaction form the next group.
      this.scheduleFlush();
    });
  }

  private async commitGroup(group: PendingWrite[]): Promise<void> {
    try {
      await this.writeInTransaction(group);
      for (const w of group) w.resolve();
    } catch (error) {
      const unavailable = this.asStorageFailure(error);
      // Storage that cannot take this group will not take its batches one by one either.
      if (unavailable) for (const w of group) w.reject(unavailable);
      // One bad batch must not fail the others that happened to share its commit.
      else if (group.length === 1) group[0].reject(error);
      else for (const w of group) await this.writeAlone(w);
    } finally {
      for (const w of group) this.pendingEvents -= w.events;
    }
  }

  private async writeAlone(w: PendingWrite): Promise<void> {
    try {
      await this.writeInTransaction([w]);
      w.resolve();
    } catch (error) {
      w.reject(this.asStorageFailure(error) ?? error);
    }
  }

  /**
   * A failed write that says the storage failed (or DuckDB gave up on the database) becomes
   * StoreUnavailableError; the store then reports the problem and checks until it can write again.
   */
  private asStorageFailure(error: unknown): StoreUnavailableError | undefined {
    const message = error instanceof Error ? error.message : String(error);
    const fatal = /database has been invalidated|FATAL Error/i.test(message);
    const problem = storageProblem(error);
    if (!fatal && problem === undefined) return undefined;
    if (fatal) this.invalidated = true;
    this.storageFailure =
      `cannot write to ${this.options.path}: ${problem ?? 'the database hit a fatal error'}` +
      (fatal ? '; it is reopened once writing works again' : '');
    this.startRecovery();
    return new StoreUnavailableError(this.storageFailure, { cause: error });
  }

  private startRecovery(): void {
    if (this.recoveryTimer || this.closed) return;
    this.recoveryTimer = setInterval(() => void this.recover(), RECOVERY_INTERVAL_MS);
    this.recoveryTimer.unref();
  }

  /**
   * One attempt to write again: reopen an invalidated database, then commit a one-row write. Agents retry on
   * their own, but a store that waited for them would stay unready (and get no traffic) for good.
   */
  private async recover(): Promise<void> {
    if (this.recovering || this.closed) return;
    this.recovering = true;
    try {
      if (this.options.path !== ':memory:' && !(await hasHeadroom(dirname(this.options.path)))) return;
      if (this.invalidated) await this.reopen();
      await this.transact(
        (writer) =>
          writer.run(`INSERT OR REPLACE INTO uniprof_meta VALUES ('writable_at', ?)`, [
            new Date().toISOString(),
          ]),
        [],
        true,
      );
      this.storageFailure = undefined;
      clearInterval(this.recoveryTimer);
      this.recoveryTimer = undefined;
    } catch {
      // Still failing: health() says why; the next tick tries again.
    } finally {
      this.recovering = false;
    }
  }

  /**
   * Lets go of the invalidated database and opens the file again; what was committed is there (DuckDB
   * replays its write-ahead log), so the in-memory maps are rebuilt from it.
   */
  private async reopen(): Promise<void> {
    // No new transaction starts while invalidated (enqueue refuses); let the one in progress fail first.
    while (this.flushing) await this.flushing;
    this.releaseDatabase();
    this.dimsIds = undefined;
    this.symbolization.reset();
    await this.openDatabase();
    this.invalidated = false;
  }

  /** Closes every handle on the database, whatever state it is in. */
  private releaseDatabase(): void {
    for (const handle of [...this.allAppenders(), this.writer, this.reader, this.instance]) {
      try {
        handle?.closeSync();
      } catch {
        // An invalidated database fails the flush that closing an appender does: nothing to keep there.
      }
    }
    this.appenders = [];
    this.eventColumns = [];
    this.dimsAppender = this.stackNumbersAppender = this.stageAppender = undefined;
    this.frameStageAppender = this.pendingFramesAppender = undefined;
    this.stackNumbers = undefined;
    this.writer = this.reader = this.instance = undefined;
  }

  private async writeInTransaction(writes: readonly PendingWrite[]): Promise<void> {
    const batches = writes.map((w) => w.batch);
    const writer = this.writer!;
    await writer.run('BEGIN TRANSACTION');
    try {
      if (!this.stackNumbers!.complete) await this.stackNumbers!.resolveIds(writer, stackIdsOf(batches));
      if (!this.dimsIds!.complete)
        await this.dimsIds!.resolve(writer, dimensionKeysOf(batches), dimensionKeysOfRows);
      for (const batch of batches) this.appendEvents(batch);
      for (const columns of this.eventColumns) columns.flush();
      for (const appender of [this.dimsAppender!, this.stackNumbersAppender!, ...this.appenders])
        appender.flushSync();
      await this.upsertStackTraces(batches.flatMap((b) => b.stackTraces));
      const framesOf = (replace: boolean) =>
        writes.filter((w) => w.replaceFrames === replace).flatMap((w) => w.batch.stackFrames);
      await this.insertStackFrames(framesOf(false), 'OR IGNORE');
      await this.insertStackFrames(framesOf(true), 'OR REPLACE');
      await this.upsertExecutables(batches.flatMap((b) => b.executables));
      await this.upsertHosts(batches.flatMap((b) => b.hosts));
      // Checked per batch, not built: most batches bring no pending frames and must not pay for the queue.
      if (batches.some((b) => b.pendingFrames !== undefined && b.pendingFrames.length > 0)) {
        await this.symbolization.queue(writer, this.pendingFramesAppender!, batches);
      }
      // Before the tasks: a retention task in this group must see what the group's batches reference.
      if (this.watch) recordReferences(this.watch, batches);
      for (const w of writes) if (w.task) await w.task(writer);
      await writer.run('COMMIT');
      this.committed++;
    } catch (error) {
      for (const columns of this.eventColumns) columns.clear();
      for (const appender of this.allAppenders()) appender.clear();
      this.stackNumbers!.rollback();
      await writer
        .run('DELETE FROM temp.stage_stacktraces; DELETE FROM temp.stage_stackframes')
        .catch(() => undefined);
      await writer.run('ROLLBACK').catch(() => undefined);
      this.dimsIds!.rollback();
      this.symbolization.rolledBack();
      throw error;
    }
    this.dimsIds!.commit();
    this.stackNumbers!.commit();
    this.symbolization.committed();
  }

  /** A batch's events, from its columns when the producer gave them (no event objects then). */
  private appendEvents(batch: ProfileBatch): void {
    const append = this.eventAppender();
    const columns = batch.eventColumns;
    if (columns) {
      const { timestamps, stackTraceIds, counts, dimensions } = columns;
      for (let i = 0; i < columns.length; i++)
        append(timestamps[i], stackTraceIds[i], counts[i], dimensions[i]);
    } else {
      const events = batch.events;
      // An event carries its own dimensions.
      for (let i = 0; i < events.length; i++) {
        const event = events[i];
        append(event.timestamp, event.stackTraceId, event.count, event);
      }
    }
  }

  /**
   * The per-event work of a write, in one place: the event's dimensions id and stack number, then one row in
   * events_all and one per deeper level its downsampled count reaches.
   */
  private eventAppender(): (ts: number, stackTraceId: string, count: number, dims: EventDimensions) => void {
    const levels = this.eventColumns;
    const random = this.random;
    const stackNumbers = this.stackNumbers!;
    // A translated batch shares one dimensions object per source, so most lookups are by identity. Other
    // dimensions equal to a recent event's (the same source, one event per second and stack; a few threads
    // taking turns) take its id: a field comparison is far cheaper than building the key.
    const idsByObject = new Map<EventDimensions, number>();
    const recentDims: EventDimensions[] = [];
    const recentIds: number[] = [];
    let nextSlot = 0;
    let previousDims: EventDimensions | undefined;
    let dimsId = 0;
    let previousStack: string | undefined;
    let stackNumber = 0;
    const deeperCounts: number[] = [];
    return (ts, stackTraceId, count, dims) => {
      if (dims !== previousDims && (previousDims === undefined || !sameDimensions(previousDims, dims))) {
        previousDims = dims;
        const known = idsByObject.get(dims);
        if (known !== undefined) dimsId = known;
        else {
          let recent = recentDims.length - 1;
          while (recent >= 0 && !sameDimensions(recentDims[recent], dims)) recent--;
          if (recent >= 0) {
            dimsId = recentIds[recent];
          } else {
            dimsId = this.dimensionsId(dims);
            recentDims[nextSlot] = dims;
            recentIds[nextSlot] = dimsId;
            nextSlot = (nextSlot + 1) % RECENT_DIMENSIONS;
          }
          // Batches of event objects bring an object per event: keep the map to a transaction's sources.
          if (idsByObject.size >= MAX_DIMENSION_OBJECTS) idsByObject.clear();
          idsByObject.set(dims, dimsId);
        }
      }
      // The events of one stack come one after the other (one per second and thread).
      if (stackTraceId !== previousStack) {
        previousStack = stackTraceId;
        stackNumber = stackNumbers.numberOf(stackTraceId);
      }
      levels[0].add(ts, stackNumber, count, dimsId);
      const deeper = downsampledCounts(count, random, deeperCounts);
      for (let i = 0; i < deeper.length; i++) levels[i + 1].add(ts, stackNumber, deeper[i], dimsId);
    };
  }

  private dimensionsId(event: EventDimensions): number {
    const key = dimensionsKey(event);
    const known = this.dimsIds!.find(key);
    if (known !== undefined) return known;
    const id = this.dimsIds!.assign(key);
    const a = this.dimsAppender!;
    a.appendUInteger(id);
    a.appendVarchar(event.hostId);
    for (const value of [
      event.hostName,
      event.hostIp,
      event.processName,
      event.threadName,
      event.containerId,
      event.containerName,
      event.podName,
      event.k8sNamespace,
      event.serviceName,
    ]) {
      appendOptionalVarchar(a, value);
    }
    a.appendList(event.tags, LIST(VARCHAR));
    a.appendInteger(event.projectId);
    appendOptionalVarchar(a, event.agentVersion);
    appendOptionalVarchar(a, event.osKernel);
    a.endRow();
    return id;
  }

  private async upsertStackTraces(stackTraces: readonly StackTrace[]): Promise<void> {
    if (stackTraces.length === 0) return;
    const stage = this.stageAppender!;
    // A trace sent twice in one group goes in once (deduplicated here, where it costs a map entry).
    for (const trace of new Map(stackTraces.map((t) => [t.id, t])).values()) {
      stage.appendVarchar(trace.id);
      stage.appendVarchar(encodeFrameIds(trace.frameIds));
      stage.appendVarchar(encodeFrameTypes(trace.frameTypes));
      stage.endRow();
    }
    stage.flushSync();
    await this.writer!.run(
      'INSERT OR IGNORE INTO stacktraces SELECT * FROM temp.stage_stacktraces; DELETE FROM temp.stage_stacktraces',
    );
  }

  /**
   * Frames go in as one flat row per inline entry (cheap to append). Most frames have one entry and become a
   * row of one-element lists directly; only inline chains are grouped into ordered lists in SQL.
   */
  private async insertStackFrames(frames: readonly StackFrameSymbols[], mode: 'OR IGNORE' | 'OR REPLACE') {
    if (frames.length === 0) return;
    const stage = this.frameStageAppender!;
    for (const frame of new Map(frames.map((f) => [f.frameId, f])).values()) {
      const entries = frame.functionNames.length;
      for (let i = 0; i < entries; i++) {
        stage.appendVarchar(frame.frameId);
        stage.appendUInteger(i);
        stage.appendUInteger(entries);
        stage.appendVarchar(frame.functionNames[i] ?? '');
        stage.appendVarchar(frame.fileNames[i] ?? '');
        stage.appendInteger(frame.lineNumbers[i] ?? 0);
        stage.appendInteger(frame.functionOffsets[i] ?? 0);
        stage.endRow();
      }
    }
    stage.flushSync();
    await this.writer!.run(
      `INSERT ${mode} INTO stackframes
         SELECT id, [function_name], [file_name], [line_number], [function_offset]
           FROM temp.stage_stackframes WHERE entries = 1
         UNION ALL
         SELECT id, list(function_name ORDER BY idx), list(file_name ORDER BY idx),
                list(line_number ORDER BY idx), list(function_offset ORDER BY idx)
           FROM temp.stage_stackframes WHERE entries > 1 GROUP BY id;
       DELETE FROM temp.stage_stackframes`,
    );
  }

  private async upsertExecutables(executables: readonly Executable[]): Promise<void> {
    const unique = [...new Map(executables.map((e) => [e.fileId, e])).values()];
    await this.insertRows(
      'INSERT INTO executables',
      '(?, ?, ?, ?::UINTEGER)',
      unique.map((e) => [e.fileId, e.buildId ?? null, e.fileName, e.lastSeen]),
      `ON CONFLICT (file_id) DO UPDATE SET last_seen = greatest(executables.last_seen, excluded.last_seen),
         build_id = coalesce(excluded.build_id, executables.build_id),
         file_name = CASE WHEN excluded.file_name = '' THEN executables.file_name ELSE excluded.file_name END`,
    );
  }

  private async upsertHosts(hosts: readonly HostMetadata[]): Promise<void> {
    const unique = [...new Map(hosts.map((h) => [h.hostId, h])).values()];
    await this.insertRows(
      'INSERT OR REPLACE INTO hosts',
      '(?, ?::UINTEGER, ?, ?, ?, ?, ?, ?::INTEGER, ?)',
      unique.map((h) => [
        h.hostId,
        h.timestamp,
        h.hostName ?? null,
        h.hostIp ?? null,
        h.arch ?? null,
        h.osKernel ?? null,
        h.agentVersion ?? null,
        h.projectId,
        JSON.stringify(h.attributes),
      ]),
    );
  }

  private async insertRows(
    head: string,
    placeholders: string,
    rows: DuckDBValue[][],
    tail = '',
  ): Promise<void> {
    for (let start = 0; start < rows.length; start += INSERT_CHUNK_ROWS) {
      const chunk = rows.slice(start, start + INSERT_CHUNK_ROWS);
      await this.writer!.run(
        `${head} VALUES ${chunk.map(() => placeholders).join(', ')} ${tail}`,
        chunk.flat(),
      );
    }
  }

  async close(): Promise<void> {
    if (this.closing || this.closed) return;
    // Uploads in progress stop at their next chunk; those that finish still update the queue.
    this.closing = true;
    await this.symbolization.drain();
    this.closed = true;
    clearInterval(this.recoveryTimer);
    this.recoveryTimer = undefined;
    while (this.recovering) await new Promise((resolve) => setTimeout(resolve, 10));
    // Whatever waits for the interval is committed now.
    this.scheduleFlush();
    while (this.flushing) await this.flushing;
    if (!this.instance) return;
    if (this.invalidated) return this.releaseDatabase();
    for (const appender of this.allAppenders()) appender.closeSync();
    await this.writer?.run('CHECKPOINT').catch(() => undefined);
    this.writer?.closeSync();
    await this.stopReads();
    this.reader?.closeSync();
    this.reader = undefined;
    this.instance.closeSync();
    this.instance = undefined;
  }

  /**
   * Ends the reads in flight (they fail): DuckDB never settles a query whose connection is closed under it,
   * and the process could then not exit. A query on the same connection runs after the one it interrupted.
   */
  private async stopReads(): Promise<void> {
    if (!this.reader) return;
    this.reader.interrupt();
    await this.reader.run('SELECT 1').catch(() => undefined);
  }

  private allAppenders(): DuckDBAppender[] {
    return [
      this.dimsAppender,
      this.stackNumbersAppender,
      this.stageAppender,
      this.frameStageAppender,
      this.pendingFramesAppender,
      ...this.appenders,
    ].filter((a): a is DuckDBAppender => a !== undefined);
  }

  // ---- read side ----

  async aggregateEvents(query: EventQuery): Promise<EventAggregation> {
    const where = this.eventConditions(query);
    const level = query.samplingLevel ?? chooseSamplingLevel(await this.countEvents(0, where));
    const scale = samplingScale(level);
    const table = eventsTable(level);
    if (query.groupBy !== undefined && typeof query.groupBy !== 'string')
      return this.aggregateByFields(table, where, level, groupFieldList(query.groupBy));
    const group = query.groupBy ? groupColumn(query.groupBy) : undefined;
    const sql = group
      ? `SELECT e.stack_no AS id, g.value AS grp, sum(e.count)::BIGINT AS n, count(*)::BIGINT AS rows
           FROM ${table} e JOIN (${group}) g ON g.id = e.dims_id
          WHERE ${where.sql} GROUP BY e.stack_no, g.value`
      : `SELECT e.stack_no AS id, sum(e.count)::BIGINT AS n, count(*)::BIGINT AS rows
           FROM ${table} e WHERE ${where.sql} GROUP BY e.stack_no`;
    const reader = await this.readable().runAndReadAll(sql, where.params);
    // A result with no rows has no columns at all.
    const columns = reader.currentRowCount === 0 ? [[], [], [], []] : reader.getColumnsJS();
    const [ids, groupsOrCounts] = columns;
    const counts = (group ? columns[2] : groupsOrCounts) as bigint[];
    const rowCounts = (group ? columns[3] : columns[2]) as bigint[];
    let totalCount = 0;
    let eventsRead = 0;
    const rows = new Array<EventAggregation['rows'][number]>(ids.length);
    const idOf = await this.stackNumbers!.loadNumbers(this.reader!, ids as number[]);
    for (let i = 0; i < ids.length; i++) {
      const count = Number(counts[i]) * scale;
      totalCount += count;
      eventsRead += Number(rowCounts[i]);
      // An event without the field has no group, as on Elasticsearch.
      const value = group ? groupsOrCounts[i] : null;
      rows[i] =
        value === null || value === undefined
          ? { stackTraceId: idOf(ids[i] as number), count }
          : { stackTraceId: idOf(ids[i] as number), group: String(value), count };
    }
    return { samplingLevel: level, eventsRead, totalCount, rows };
  }

  /** Counts per stack trace and combination of the fields' values; a field an event lacks reads as NULL. */
  private async aggregateByFields(
    table: string,
    where: { sql: string; params: DuckDBValue[] },
    level: number,
    fields: readonly EventField[],
  ): Promise<EventAggregation> {
    // LEFT JOIN: an event keeps its row even where a field (or, grouping by tags alone, every tag) is absent.
    const joins = fields.map((field, i) => `LEFT JOIN (${groupColumn(field)}) g${i} ON g${i}.id = e.dims_id`);
    const values = fields.map((_, i) => `g${i}.value`);
    const sql = `SELECT e.stack_no AS id, sum(e.count)::BIGINT AS n, count(*)::BIGINT AS rows,
                        ${values.map((value, i) => `${value} AS v${i}`).join(', ')}
                   FROM ${table} e ${joins.join(' ')}
                  WHERE ${where.sql} GROUP BY e.stack_no, ${values.join(', ')}`;
    const reader = await this.readable().runAndReadAll(sql, where.params);
    const scale = samplingScale(level);
    const objects = reader.getRowObjectsJS();
    const idOf = await this.stackNumbers!.loadNumbers(
      this.reader!,
      objects.map((row) => row.id as number),
    );
    const rows = objects.map((row) => ({
      stackTraceId: idOf(row.id as number),
      groups: fields.map((_, i) => {
        const value = row[`v${i}`];
        return value === null || value === undefined ? undefined : String(value);
      }),
      count: Number(row.n) * scale,
      events: Number(row.rows),
    }));
    let totalCount = 0;
    let eventsRead = 0;
    for (const row of rows) {
      totalCount += row.count;
      eventsRead += row.events;
    }
    return {
      samplingLevel: level,
      eventsRead,
      totalCount,
      rows: rows.map(({ stackTraceId, groups, count }) => ({ stackTraceId, groups, count })),
    };
  }

  async countOverTime(query: TimeCountQuery): Promise<TimeCounts> {
    const where = this.eventConditions(query);
    const level = query.samplingLevel ?? chooseSamplingLevel(await this.countEvents(0, where));
    const width = Math.max(1, Math.floor(query.bucketSeconds));
    const bucket = `(e.ts // ${width}) * ${width}`;
    const sql = query.groupBy
      ? `SELECT ${bucket} AS t, g.value AS grp, sum(e.count)::BIGINT AS n
           FROM ${eventsTable(level)} e LEFT JOIN (${groupColumn(query.groupBy)}) g ON g.id = e.dims_id
          WHERE ${where.sql} GROUP BY t, grp`
      : `SELECT ${bucket} AS t, NULL AS grp, sum(e.count)::BIGINT AS n
           FROM ${eventsTable(level)} e WHERE ${where.sql} GROUP BY t`;
    const scale = samplingScale(level);
    const points = (await this.rows(sql, where.params)).map((row) => {
      const point: TimeCounts['points'][number] = { start: Number(row.t), count: Number(row.n) * scale };
      if (row.grp !== null && row.grp !== undefined) point.group = String(row.grp);
      return point;
    });
    return { samplingLevel: level, points };
  }

  private eventConditions(query: { from: EpochSeconds; to: EpochSeconds; filter?: EventQuery['filter'] }) {
    const parts: SqlFragment[] = [{ sql: 'e.ts >= ? AND e.ts < ?', params: [] }];
    const params: DuckDBValue[] = [Math.max(0, Math.floor(query.from)), Math.max(0, Math.ceil(query.to))];
    if (query.filter) {
      const filter = filterToSql(query.filter);
      parts.push({
        sql: `e.dims_id IN (SELECT id FROM event_dims WHERE ${filter.sql})`,
        params: filter.params,
      });
      params.push(...filter.params);
    }
    return { sql: parts.map((p) => p.sql).join(' AND '), params };
  }

  private async countEvents(level: number, where: { sql: string; params: DuckDBValue[] }): Promise<number> {
    const rows = await this.rows(
      `SELECT count(*)::BIGINT AS n FROM ${eventsTable(level)} e WHERE ${where.sql}`,
      where.params,
    );
    return Number(rows[0].n);
  }

  async getStackTraces(ids: readonly string[]): Promise<Map<string, StackTrace>> {
    const c = await this.columnsByIds('SELECT id, frame_ids, frame_types FROM stacktraces', 'id', ids);
    const traces = new Map<string, StackTrace>();
    for (let i = 0; i < c.id.length; i++) {
      const id = c.id[i] as string;
      traces.set(id, {
        id,
        frameIds: decodeFrameIds(c.frame_ids[i] as string),
        frameTypes: decodeFrameTypes(c.frame_types[i] as string),
      });
    }
    return traces;
  }

  async getStackFrames(ids: readonly string[]): Promise<Map<string, StackFrameSymbols>> {
    const c = await this.columnsByIds('SELECT * FROM stackframes', 'id', ids);
    const frames = new Map<string, StackFrameSymbols>();
    for (let i = 0; i < c.id.length; i++) {
      const frameId = c.id[i] as string;
      frames.set(frameId, {
        frameId,
        functionNames: c.function_names[i] as string[],
        fileNames: c.file_names[i] as string[],
        lineNumbers: c.line_numbers[i] as number[],
        functionOffsets: c.function_offsets[i] as number[],
      });
    }
    return frames;
  }

  async getExecutables(fileIds: readonly string[]): Promise<Map<string, Executable>> {
    const c = await this.columnsByIds('SELECT * FROM executables', 'file_id', fileIds);
    const executables = new Map<string, Executable>();
    for (let i = 0; i < c.file_id.length; i++) {
      const fileId = c.file_id[i] as string;
      executables.set(fileId, {
        fileId,
        buildId: (c.build_id[i] as string | null) ?? undefined,
        fileName: c.file_name[i] as string,
        lastSeen: Number(c.last_seen[i]),
      });
    }
    return executables;
  }

  async listHosts(from: EpochSeconds, _to: EpochSeconds): Promise<HostMetadata[]> {
    // A host's row holds its latest report, so "seen since `from`" is what can be answered without a scan.
    const rows = await this.rows('SELECT * FROM hosts WHERE ts >= ? ORDER BY host_id', [Math.floor(from)]);
    return rows.map((r) => ({
      hostId: r.host_id as string,
      timestamp: Number(r.ts),
      hostName: (r.host_name as string | null) ?? undefined,
      hostIp: (r.host_ip as string | null) ?? undefined,
      arch: (r.arch as string | null) ?? undefined,
      osKernel: (r.os_kernel as string | null) ?? undefined,
      agentVersion: (r.agent_version as string | null) ?? undefined,
      projectId: Number(r.project_id),
      attributes: JSON.parse(r.attributes as string) as Record<string, string>,
    }));
  }

  async fieldValues(
    field: EventField,
    from: EpochSeconds,
    to: EpochSeconds,
    limit: number,
  ): Promise<string[]> {
    const where = this.eventConditions({ from, to });
    const level = chooseSamplingLevel(await this.countEvents(0, where));
    const rows = await this.rows(
      `SELECT g.value AS value, sum(e.count) AS n FROM ${eventsTable(level)} e JOIN (${groupColumn(field)}) g ON g.id = e.dims_id
        WHERE ${where.sql} AND g.value IS NOT NULL GROUP BY g.value ORDER BY n DESC, g.value LIMIT ?`,
      [...where.params, Math.max(1, Math.floor(limit))],
    );
    return rows.map((r) => String(r.value));
  }

  /** DuckDB's memory limit and worker threads as in force (DuckDB's spelling of the size, e.g. `244.1 MiB`). */
  async engineSettings(): Promise<{ memoryLimit: string; threads: number }> {
    const [row] = await this.rows(
      `SELECT current_setting('memory_limit') AS memory_limit, current_setting('threads')::INTEGER AS threads`,
    );
    return { memoryLimit: String(row.memory_limit), threads: Number(row.threads) };
  }

  async readSetting(name: string): Promise<StoredSetting | undefined> {
    const rows = await this.rows('SELECT record FROM settings WHERE name = ?', [name]);
    return rows.length === 0 ? undefined : (JSON.parse(String(rows[0].record)) as StoredSetting);
  }

  /** In a write transaction like any batch: durable once it resolves, and never interleaved with one. */
  async writeSetting(name: string, setting: StoredSetting): Promise<void> {
    const record = JSON.stringify(setting);
    await this.transact(async (writer) => {
      await writer.run('INSERT OR REPLACE INTO settings VALUES (?, ?)', [name, record]);
    });
  }

  async stats(): Promise<StoreStats> {
    const [row] = await this.rows(`SELECT
      (SELECT count(*) FROM events_all)::BIGINT AS events,
      (SELECT count(*) FROM stacktraces)::BIGINT AS stacktraces,
      (SELECT count(*) FROM stackframes)::BIGINT AS stackframes,
      (SELECT count(*) FROM executables)::BIGINT AS executables,
      (SELECT count(*) FROM hosts)::BIGINT AS hosts,
      (SELECT min(ts) FROM events_all) AS oldest,
      (SELECT max(ts) FROM events_all) AS newest`);
    const size = await this.rows('PRAGMA database_size');
    const bytes = Number(size[0]?.block_size ?? 0) * Number(size[0]?.used_blocks ?? 0);
    return {
      events: Number(row.events),
      stackTraces: Number(row.stacktraces),
      stackFrames: Number(row.stackframes),
      executables: Number(row.executables),
      hosts: Number(row.hosts),
      bytesOnDisk: this.options.path === ':memory:' ? undefined : bytes,
      oldestEvent: row.oldest === null ? undefined : Number(row.oldest),
      newestEvent: row.newest === null ? undefined : Number(row.newest),
    };
  }

  async storage(query: StorageQuery): Promise<StorageReport> {
    const from = Math.max(0, Math.floor(query.from));
    const to = Math.max(0, Math.ceil(query.to));
    const tables = (
      await this.rows(
        `SELECT table_name AS name FROM duckdb_tables() WHERE database_name = current_database()
           AND schema_name = 'main' AND NOT temporary ORDER BY table_name`,
      )
    ).map((row) => String(row.name));
    const [counts, blocks, hosts, days, knownHosts] = await Promise.all([
      this.rows(
        tables.map((t) => `SELECT '${t}' AS name, count(*)::BIGINT AS n FROM "${t}"`).join(' UNION ALL '),
      ),
      this.rows(
        tables
          .map(
            (t) => `SELECT '${t}' AS name, block_id, len(additional_block_ids)::BIGINT AS extra
                      FROM pragma_storage_info('${t}') WHERE persistent AND block_id >= 0`,
          )
          .join(' UNION ALL '),
      ),
      this.rows(
        `SELECT d.host_id, max(d.host_name) AS host_name, count(*)::BIGINT AS events,
                sum(e.count)::BIGINT AS samples, max(e.ts) AS last_seen
           FROM events_all e JOIN event_dims d ON d.id = e.dims_id
          WHERE e.ts >= ? AND e.ts < ? GROUP BY d.host_id ORDER BY samples DESC, d.host_id`,
        [from, to],
      ),
      this.rows(
        `SELECT (ts // ${SECONDS_PER_DAY}) * ${SECONDS_PER_DAY} AS day, count(*)::BIGINT AS events,
                sum(count)::BIGINT AS samples
           FROM events_all WHERE ts >= ? AND ts < ? GROUP BY day ORDER BY day`,
        [from, to],
      ),
      this.listHosts(0, to),
    ]);
    const rows = new Map(counts.map((row) => [String(row.name), Number(row.n)]));
    const [size] = await this.rows('PRAGMA database_size');
    const blockSize = Number(size?.block_size ?? 0);
    const areas = tables.map((name) => ({ name, rows: rows.get(name) ?? 0, bytes: 0 }));
    // DuckDB packs small segments of several columns (and tables) into one block: each segment in a block
    // counts for an equal share of it, and blocks a segment spills into are its own.
    const segmentsInBlock = new Map<number, number>();
    for (const row of blocks)
      segmentsInBlock.set(Number(row.block_id), (segmentsInBlock.get(Number(row.block_id)) ?? 0) + 1);
    const byName = new Map(areas.map((area) => [area.name, area]));
    for (const row of blocks) {
      const area = byName.get(String(row.name))!;
      area.bytes += blockSize / segmentsInBlock.get(Number(row.block_id))! + blockSize * Number(row.extra);
    }
    for (const area of areas) area.bytes = Math.round(area.bytes);
    return {
      areas,
      totalBytes: this.options.path === ':memory:' ? undefined : fileBytes(this.options.path),
      hosts: hosts.map((row) => ({
        hostId: String(row.host_id),
        hostName: row.host_name === null ? undefined : String(row.host_name),
        events: Number(row.events),
        samples: Number(row.samples),
        lastSeen: Number(row.last_seen),
      })),
      days: withDayBytes(
        days.map((row) => ({
          day: Number(row.day),
          events: Number(row.events),
          samples: Number(row.samples),
        })),
        areas,
        (name) => name.startsWith('events_'),
        rows.get(eventsTable(0)) ?? 0,
      ),
      samplingLevels: EVENT_LEVELS.map((level) => ({
        level,
        events: rows.get(eventsTable(level)) ?? 0,
      })).filter((level) => level.events > 0),
      samplingFrequencies: samplingFrequencies(knownHosts),
    };
  }

  /**
   * Rows whose key is in `ids`, column by column. The IDs travel as one comma-joined string (base64url has no
   * commas): binding a list of tens of thousands of values costs more than the lookup itself.
   */
  private async columnsByIds(select: string, column: string, ids: readonly string[]) {
    const columns: Record<string, unknown[]> = {};
    const reader = await this.readable().runAndReadAll(
      `${select} WHERE ${column} IN (SELECT unnest(string_split(?, ',')))`,
      [ids.join(',')],
    );
    const names = reader.columnNames();
    const values = reader.currentRowCount === 0 ? names.map(() => []) : reader.getColumnsJS();
    names.forEach((name, i) => (columns[name] = values[i]));
    return columns;
  }

  private rows(sql: string, params: DuckDBValue[] = []): Promise<Row[]> {
    try {
      return this.rowsOn(this.readable(), sql, params);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The reader connection, or why there is none to read with. */
  private readable(): DuckDBConnection {
    if (this.invalidated) throw new StoreUnavailableError(this.storageFailure);
    if (!this.reader || this.closed) throw new StoreUnavailableError('the embedded store is not open');
    return this.reader;
  }

  private async rowsOn(
    connection: DuckDBConnection,
    sql: string,
    params: DuckDBValue[] = [],
  ): Promise<Row[]> {
    const reader = await connection.runAndReadAll(sql, params);
    return reader.getRowObjectsJS() as Row[];
  }
}

/** The database file and its write-ahead log, as far as they exist. */
function fileBytes(path: string): number {
  let bytes = 0;
  for (const file of [path, `${path}.wal`]) {
    try {
      bytes += statSync(file).size;
    } catch {
      // No write-ahead log right after a checkpoint.
    }
  }
  return bytes;
}

/** What writes referenced while a retention run collects unreferenced rows. */
export interface WrittenReferences {
  stackTraces: Set<string>;
  stackFrames: Set<string>;
  /** File IDs of the frames of written stack traces, and of written executables. */
  files: Set<string>;
}

/** Notes what a group of batches references; only while a retention run is collecting. */
function recordReferences(watch: WrittenReferences, batches: readonly ProfileBatch[]): void {
  for (const id of stackIdsOf(batches)) watch.stackTraces.add(id);
  for (const batch of batches) {
    for (const trace of batch.stackTraces) {
      for (const id of trace.frameIds) {
        watch.stackFrames.add(id);
        watch.files.add(fileIdOfFrame(id));
      }
    }
    for (const frame of batch.stackFrames) watch.stackFrames.add(frame.frameId);
    for (const executable of batch.executables) watch.files.add(executable.fileId);
  }
}

/** A frame ID's file ID: its first 16 bytes (see frameId in the model). */
export function fileIdOfFrame(frameId: string): string {
  return Buffer.from(frameId, 'base64url').subarray(0, FILE_ID_BYTES).toString('base64url');
}

/** The distinct stack trace IDs a group of batches' events name (runs of one stack counted once). */
/** The dimensions keys a group's events name, with their hosts (looked up by host in `event_dims`). */
function dimensionKeysOf(batches: readonly ProfileBatch[]): Map<string, string> {
  const seen = new Set<EventDimensions>();
  const keys = new Map<string, string>();
  for (const batch of batches) {
    const all: readonly EventDimensions[] = batch.eventColumns?.dimensions ?? batch.events;
    const length = batch.eventColumns?.length ?? all.length;
    for (let i = 0; i < length; i++) {
      const dims = all[i];
      // A translated batch shares one object per source: each is keyed once.
      if (seen.has(dims)) continue;
      seen.add(dims);
      keys.set(dimensionsKey(dims), dims.hostId);
    }
  }
  return keys;
}

function dimensionKeysOfRows(rows: readonly Row[]): { key: string; id: number }[] {
  return rows.map((row) => ({ key: dimensionsKey(dimensionsOfRow(row)), id: Number(row.id) }));
}

function stackIdsOf(batches: readonly ProfileBatch[]): Set<string> {
  const ids = new Set<string>();
  for (const batch of batches) {
    let previous: string | undefined;
    const names = batch.eventColumns?.stackTraceIds ?? batch.events.map((e) => e.stackTraceId);
    const length = batch.eventColumns?.length ?? names.length;
    for (let i = 0; i < length; i++) {
      if (names[i] === previous) continue;
      previous = names[i];
      ids.add(previous);
    }
  }
  return ids;
}

/** A subquery mapping each `event_dims` id to the value of one field (one row per tag for `tags`). */
function groupColumn(field: EventField): string {
  const column = DIMENSION_COLUMNS[field];
  if (field === 'tags') return 'SELECT id, unnest(tags) AS value FROM event_dims';
  return `SELECT id, CAST(${column} AS VARCHAR) AS value FROM event_dims`;
}

function appendOptionalVarchar(appender: DuckDBAppender, value: string | undefined): void {
  if (value === undefined) appender.appendNull();
  else appender.appendVarchar(value);
}

/** True when two events have the same dimensions (the fields event_dims holds). */
function sameDimensions(a: EventDimensions, b: EventDimensions): boolean {
  return (
    a.hostId === b.hostId &&
    a.threadName === b.threadName &&
    a.processName === b.processName &&
    a.serviceName === b.serviceName &&
    a.hostName === b.hostName &&
    a.hostIp === b.hostIp &&
    a.containerId === b.containerId &&
    a.containerName === b.containerName &&
    a.podName === b.podName &&
    a.k8sNamespace === b.k8sNamespace &&
    a.projectId === b.projectId &&
    a.agentVersion === b.agentVersion &&
    a.osKernel === b.osKernel &&
    sameTags(a.tags, b.tags)
  );
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;

/**
 * Rows of one events table (ts, stack_no, count, dims_id), kept in typed arrays laid out as DuckDB's vectors
 * are and copied into a data chunk a column at a time (four native calls per 2,048 rows instead of per-row
 * setters). No column is ever NULL, so the chunk's validity masks stay all-valid.
 */
class EventColumns {
  private readonly chunk = DuckDBDataChunk.create([UINTEGER, UINTEGER, UINTEGER, UINTEGER]);
  private readonly columns = [0, 1, 2, 3].map(() => new Uint32Array(CHUNK_ROWS));
  private readonly ts = this.columns[0];
  private readonly stacks = this.columns[1];
  private readonly counts = this.columns[2];
  private readonly dims = this.columns[3];
  private rows = 0;

  constructor(private readonly appender: DuckDBAppender) {}

  add(ts: number, stackNumber: number, count: number, dimsId: number): void {
    const row = this.rows;
    this.ts[row] = ts;
    this.stacks[row] = stackNumber;
    this.counts[row] = count;
    this.dims[row] = dimsId;
    this.rows = row + 1;
    if (this.rows === CHUNK_ROWS) this.flush();
  }

  /** Hands the buffered rows to the appender (which still needs its own flush to reach the table). */
  flush(): void {
    const rows = this.rows;
    if (rows === 0) return;
    const chunk = this.chunk;
    chunk.reset();
    chunk.rowCount = rows;
    for (let index = 0; index < this.columns.length; index++) {
      const column = this.columns[index];
      const vector = duckdb.data_chunk_get_vector(chunk.chunk, index);
      duckdb.copy_data_to_vector(
        vector,
        0,
        column.buffer,
        column.byteOffset,
        rows * column.BYTES_PER_ELEMENT,
      );
    }
    this.appender.appendDataChunk(chunk);
    this.rows = 0;
  }

  clear(): void {
    this.rows = 0;
  }
}

/** Distinct dimensions of one batch compared field by field before their key is built. */
const RECENT_DIMENSIONS = 8;
/** Dimensions objects whose id one transaction remembers by identity. */
const MAX_DIMENSION_OBJECTS = 10_000;

/** A missing value and an empty one are the same dimension (both are stored as written first). */
function dimensionsKey(d: EventDimensions): string {
  const s = '\u0000';
  return (
    `${d.hostId}${s}${d.hostName ?? ''}${s}${d.hostIp ?? ''}${s}${d.processName ?? ''}${s}${d.threadName ?? ''}` +
    `${s}${d.containerId ?? ''}${s}${d.containerName ?? ''}${s}${d.podName ?? ''}${s}${d.k8sNamespace ?? ''}` +
    `${s}${d.serviceName ?? ''}${s}${d.projectId}${s}${d.agentVersion ?? ''}${s}${d.osKernel ?? ''}` +
    `${s}${d.tags.join('\u0001')}`
  );
}

function dimensionsOfRow(r: Row): EventDimensions {
  const text = (value: unknown) => (value === null || value === undefined ? undefined : String(value));
  return {
    hostId: String(r.host_id),
    hostName: text(r.host_name),
    hostIp: text(r.host_ip),
    processName: text(r.process_name),
    threadName: text(r.thread_name),
    containerId: text(r.container_id),
    containerName: text(r.container_name),
    podName: text(r.pod_name),
    k8sNamespace: text(r.k8s_namespace),
    serviceName: text(r.service_name),
    tags: r.tags as string[],
    projectId: Number(r.project_id),
    agentVersion: text(r.agent_version),
    osKernel: text(r.os_kernel),
  };
}
