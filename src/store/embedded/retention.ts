import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EpochSeconds } from '../../model/index.ts';
import { StoreUnavailableError } from '../store.ts';
import { fileIdOfFrame, type EmbeddedStore, type WrittenReferences } from './embedded-store.ts';
import { EVENT_LEVELS, eventsTable } from './schema.ts';

/** `output.embedded.retention` (see config.ts). */
export interface RetentionSettings {
  /** Events older than this many days are deleted; 0 keeps everything. */
  days: number;
  /** Time between two runs. */
  intervalMinutes: number;
  /** Rows one transaction deletes at most: bounds how long ingest and queries wait for it. */
  batchRows: number;
}

export const DEFAULT_RETENTION: RetentionSettings = { days: 30, intervalMinutes: 60, batchRows: 10_000 };

/** Rows a run deleted, by table (`events` sums every downsampling level). */
export interface RetentionResult {
  cutoff: EpochSeconds;
  deleted: { events: number; hosts: number; stackTraces: number; stackFrames: number; executables: number };
  transactions: number;
  /** The longest one transaction of the run kept the writer (and the batches queued behind it) waiting. */
  longestPauseMs: number;
  durationMs: number;
}

export interface RetentionRunOptions {
  cutoff: EpochSeconds;
  batchRows: number;
  /**
   * Called with each kind's candidates before any is deleted: the collector forgets that they are stored (and
   * waits for the requests translated while it believed so), so that no later batch leaves out a row this run
   * deletes. Only the candidates are forgotten: the rest of what the collector knows stays warm.
   */
  forget?: (ids: CollectedIds) => Promise<void>;
  /** Checked between transactions: a run stops early (consistent; the next run goes on) once it says so. */
  stopping?: () => boolean;
  /**
   * Awaited after each committed transaction, with what it deleted from; tests use it to crash mid-run or to
   * write at a chosen moment.
   */
  afterTransaction?: (done: number, phase: RetentionPhase) => void | Promise<void>;
}

export type RetentionPhase = keyof RetentionResult['deleted'];

/** Rows a run is about to delete, by kind (the collector's StoredIds has the same shape). */
export interface CollectedIds {
  stackTraces?: readonly string[];
  stackFrames?: readonly string[];
  executables?: readonly string[];
}

/** IDs travel to DuckDB as one comma-joined string (base64url has no commas), as in the store's lookups. */
const ID_LIST = `SELECT unnest(string_split(?, ','))`;
const FRAME_ID_CHARS = 32;
/** Base64url characters that hold a frame ID's first 16 bytes (its file ID) and 4 bits of the address. */
const FILE_PREFIX_CHARS = 22;

/** Every frame ID of every stored stack trace, one row each (frame_ids is their concatenation). */
const STORED_FRAME_IDS = `SELECT substr(frame_ids, i * ${FRAME_ID_CHARS} + 1, ${FRAME_ID_CHARS}) AS id
  FROM (SELECT frame_ids, unnest(range(0, length(frame_ids) // ${FRAME_ID_CHARS})) AS i FROM stacktraces)`;

/**
 * One retention run over the embedded store. Every step is a transaction of at most `batchRows` rows, and the
 * steps go in an order that keeps the store consistent after a crash between any two: events of the deeper
 * downsampling levels first (so `events_all` always holds every stack a deeper level names), then hosts, then
 * stack traces no event names, frames no stack trace names, executables no frame names. A row left behind
 * by a crash is unreferenced, invisible to queries, and collected by the next run.
 *
 * Collection reads its candidates from a snapshot while writes go on; what the writes since the snapshot
 * reference is recorded by the store (`watchWrites`) and spared. `stack_numbers` (stack ID ↔ the number
 * events use) and `event_dims` are kept: both are small, and the writer caches their numbers in memory.
 * Symbols and the symbolization queue are kept too: symbols cost an upload to get back.
 */
export async function applyRetention(
  store: EmbeddedStore,
  options: RetentionRunOptions,
): Promise<RetentionResult> {
  const started = performance.now();
  const batchRows = Math.max(1, Math.floor(options.batchRows));
  const result: RetentionResult = {
    cutoff: options.cutoff,
    deleted: { events: 0, hosts: 0, stackTraces: 0, stackFrames: 0, executables: 0 },
    transactions: 0,
    longestPauseMs: 0,
    durationMs: 0,
  };
  const stopped = () => options.stopping?.() === true;
  /**
   * One transaction; its pause counts from when it got the writer to when it committed. `params` is
   * computed inside it, on the writer: after every write committed before it, and after this transaction's
   * own group of batches has been recorded in the watch.
   */
  const transaction = async (
    phase: RetentionPhase,
    sql: string,
    params: () => (string | number)[] | undefined,
  ): Promise<number> => {
    let began = 0;
    const changed = await store.inWriteTransaction(async (writer) => {
      began = performance.now();
      const values = params();
      if (values === undefined) return 0;
      return Number((await writer.run(sql, values)).rowsChanged);
    });
    result.longestPauseMs = Math.max(result.longestPauseMs, performance.now() - began);
    result.transactions++;
    await options.afterTransaction?.(result.transactions, phase);
    return changed;
  };
  /** Deletes the rows of `ids` that no write since the snapshot has referenced (`spared`), a batch at a time. */
  const deleteByIds = async (
    phase: RetentionPhase,
    table: string,
    column: string,
    ids: readonly string[],
    spared: ReadonlySet<string>,
  ): Promise<number> => {
    let deleted = 0;
    for (let start = 0; start < ids.length && !stopped(); start += batchRows) {
      const chunk = ids.slice(start, start + batchRows);
      deleted += await transaction(phase, `DELETE FROM ${table} WHERE ${column} IN (${ID_LIST})`, () => {
        const unreferenced = chunk.filter((id) => !spared.has(id));
        return unreferenced.length === 0 ? undefined : [unreferenced.join(',')];
      });
    }
    return deleted;
  };

  // Deeper levels first: see above.
  for (const level of [...EVENT_LEVELS].reverse()) {
    const table = eventsTable(level);
    for (;;) {
      if (stopped()) return finish(result, started);
      // A time bound below which about `batchRows` old rows lie, found on the reader (writes go on): deleting
      // by time lets DuckDB skip row groups by their min/max, where deleting by row ID joins the whole table.
      const [span] = await store.readRows(
        `SELECT min(ts) AS lo, (SELECT ts FROM ${table} WHERE ts < ? ORDER BY ts LIMIT 1 OFFSET ?) AS hi
           FROM ${table} WHERE ts < ?`,
        [options.cutoff, batchRows, options.cutoff],
      );
      if (span.lo === null) break;
      // More than a batch in the oldest second still goes in one transaction: a second cannot be split.
      const bound = span.hi === null ? options.cutoff : Math.max(Number(span.hi), Number(span.lo) + 1);
      result.deleted.events += await transaction('events', `DELETE FROM ${table} WHERE ts < ?`, () => [
        bound,
      ]);
      if (bound >= options.cutoff) break;
    }
  }
  if (stopped()) return finish(result, started);
  result.deleted.hosts = await transaction('hosts', 'DELETE FROM hosts WHERE ts < ?', () => [options.cutoff]);

  const watch: WrittenReferences = { stackTraces: new Set(), stackFrames: new Set(), files: new Set() };
  await store.watchWrites(watch);
  try {
    const namedStacks = EVENT_LEVELS.map((level) => `SELECT stack_no FROM ${eventsTable(level)}`).join(
      ' UNION ',
    );
    const stacks = await idsOf(
      store,
      `SELECT id FROM stacktraces WHERE id NOT IN (SELECT id FROM stack_numbers WHERE no IN (${namedStacks}))`,
    );
    await options.forget?.({ stackTraces: stacks });
    result.deleted.stackTraces = await deleteByIds(
      'stackTraces',
      'stacktraces',
      'id',
      stacks,
      watch.stackTraces,
    );
    if (stopped()) return finish(result, started);

    const frames = await idsOf(store, `SELECT id FROM stackframes WHERE id NOT IN (${STORED_FRAME_IDS})`);
    await options.forget?.({ stackFrames: frames });
    result.deleted.stackFrames = await deleteByIds(
      'stackFrames',
      'stackframes',
      'id',
      frames,
      watch.stackFrames,
    );
    if (stopped()) return finish(result, started);

    // File IDs from the frames' first 22 characters: a few rows per file instead of one per frame.
    const prefixes = await idsOf(
      store,
      `SELECT DISTINCT substr(id, 1, ${FILE_PREFIX_CHARS}) AS id FROM (${STORED_FRAME_IDS})`,
    );
    const namedFiles = new Set(prefixes.map((prefix) => fileIdOfFrame(prefix)));
    const files = (await idsOf(store, 'SELECT file_id AS id FROM executables')).filter(
      (id) => !namedFiles.has(id),
    );
    await options.forget?.({ executables: files });
    result.deleted.executables = await deleteByIds(
      'executables',
      'executables',
      'file_id',
      files,
      watch.files,
    );
  } finally {
    await store.watchWrites(undefined).catch(() => undefined);
  }
  return finish(result, started);
}

function finish(result: RetentionResult, started: number): RetentionResult {
  result.durationMs = performance.now() - started;
  return result;
}

async function idsOf(store: EmbeddedStore, sql: string): Promise<string[]> {
  return (await store.readRows(sql)).map((row) => String(row.id));
}

/** The first run waits for start-up to settle (agents reconnecting, the symbolizer catching up). */
export const FIRST_RUN_DELAY_MS = 10_000;

export interface RetentionJobDependencies {
  logger: Logger;
  /** Where the job's counters go (the collector's registry, served on /metrics). */
  registry?: Registry;
  forget?: (ids: CollectedIds) => Promise<void>;
  /** Epoch seconds; replaced in tests. */
  now?: () => EpochSeconds;
}

/**
 * Runs `applyRetention` every `intervalMinutes` (the first time 10 s after start) in the process that owns
 * the store, logs what each run removed and counts it on /metrics.
 */
export class RetentionJob {
  private timer?: NodeJS.Timeout;
  private running?: Promise<RetentionResult | undefined>;
  private stopped = false;
  private readonly deletedRows?: Counter<'table'>;
  private readonly runs?: Counter<'outcome'>;
  private readonly longestPause?: Gauge;
  private readonly lastSuccess?: Gauge;

  constructor(
    private readonly store: EmbeddedStore,
    readonly settings: RetentionSettings,
    private readonly deps: RetentionJobDependencies,
  ) {
    const registers = deps.registry ? [deps.registry] : [];
    if (registers.length === 0) return;
    this.deletedRows = new Counter({
      name: 'uniprof_retention_deleted_rows_total',
      help: 'Rows the embedded store retention deleted, by table (events: all downsampling levels).',
      labelNames: ['table'] as const,
      registers,
    });
    this.runs = new Counter({
      name: 'uniprof_retention_runs_total',
      help: 'Retention runs, by outcome (ok, stopped, failed).',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.longestPause = new Gauge({
      name: 'uniprof_retention_longest_pause_seconds',
      help: 'Longest single transaction of the last retention run (writes wait behind it).',
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'uniprof_retention_last_success_timestamp_seconds',
      help: 'When the last retention run finished.',
      registers,
    });
  }

  start(firstRunDelayMs = FIRST_RUN_DELAY_MS): void {
    if (this.settings.days <= 0 || this.stopped) return;
    const every = this.settings.intervalMinutes * 60_000;
    const schedule = (delay: number) => {
      this.timer = setTimeout(() => {
        void this.runOnce().finally(() => {
          if (!this.stopped) schedule(every);
        });
      }, delay);
      this.timer.unref();
    };
    schedule(firstRunDelayMs);
  }

  /** One run now (or the one in progress); undefined when retention is off or the run failed. */
  runOnce(): Promise<RetentionResult | undefined> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /** No new run; the one in progress stops at its next transaction. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async run(): Promise<RetentionResult | undefined> {
    if (this.settings.days <= 0) return undefined;
    const now = this.deps.now?.() ?? Math.floor(Date.now() / 1000);
    const cutoff = now - this.settings.days * 86_400;
    const log = this.deps.logger;
    try {
      const result = await applyRetention(this.store, {
        cutoff,
        batchRows: this.settings.batchRows,
        forget: this.deps.forget,
        stopping: () => this.stopped,
      });
      const outcome = this.stopped ? 'stopped' : 'ok';
      for (const [table, rows] of Object.entries(result.deleted)) this.deletedRows?.inc({ table }, rows);
      this.runs?.inc({ outcome });
      this.longestPause?.set(result.longestPauseMs / 1000);
      if (outcome === 'ok') this.lastSuccess?.set(Math.floor(Date.now() / 1000));
      log.info(
        {
          cutoff: new Date(cutoff * 1000).toISOString(),
          deleted: result.deleted,
          transactions: result.transactions,
          longestPauseMs: Math.round(result.longestPauseMs),
          durationMs: Math.round(result.durationMs),
          outcome,
        },
        `retention: removed data older than ${this.settings.days} days`,
      );
      return result;
    } catch (error) {
      this.runs?.inc({ outcome: 'failed' });
      // A store that cannot write now (disk full) retries at the next interval; nothing is half done.
      const level = error instanceof StoreUnavailableError ? 'warn' : 'error';
      log[level]({ err: error }, 'retention run failed; the next run goes on from where it stopped');
      return undefined;
    }
  }
}
