import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import {
  decodePadFrames,
  encodePadFrames,
  type PendingFrame,
  type ProfileBatch,
  type ReturnPad,
  type StackFrameSymbols,
  type SymbolizedFrame,
  type SymbolRange,
} from '../../model/index.ts';
import type {
  ExecutableWork,
  PutSymbolsInfo,
  SymbolizationBacklog,
  SymbolizationStore,
  SymbolSource,
  SymbolsVersion,
} from '../symbolization.ts';
import { QueuedFrames } from './queued-frames.ts';
import { FileSymbols, SymbolCache } from './symbol-lookup.ts';

/** What the symbolization queue needs from the embedded store it lives in. */
export interface SymbolizationHost {
  /**
   * Runs `task` on the writer connection inside one of the store's write transactions, after `frames` were
   * written there (replacing stored ones); resolves with its result once that transaction committed. Every
   * change to the queue goes this way, so queue changes never interleave with a batch's or with each other.
   */
  transact<T>(
    task: (writer: DuckDBConnection) => Promise<T>,
    frames?: readonly StackFrameSymbols[],
  ): Promise<T>;
  /** A connection of its own, for a transaction that may last as long as a symbol upload. */
  connect(): Promise<DuckDBConnection>;
  /** The connection reads use (sees committed data). */
  reader(): DuckDBConnection;
  /** Epoch milliseconds. */
  now(): number;
  /** True once the store began closing: uploads in progress give up. */
  closing(): boolean;
}

/** A file's symbols in memory, or why there are none there. */
type Loaded = FileSymbols | 'none' | 'too big';

/** Executables per statement when queueing: keeps parameter lists a sane size. */
const QUEUE_ROWS_PER_STATEMENT = 500;
/** Some 25–30 MB of queued frames in memory (see QueuedFrames); the files past it are looked up. */
export const DEFAULT_QUEUED_FRAMES_IN_MEMORY = 1_000_000;

/** Ranges appended between two appender flushes: bounds what an upload holds in memory. */
const FLUSH_RANGES = 10_000;
const SOURCES: readonly SymbolSource[] = ['upload', 'debuginfod', 'local'];
const MAX_LINE = 2 ** 31 - 1;
const MAX_DEPTH = 65_535;
/** `line_offsets` are UINTEGER. */
const MAX_OFFSET = 2 ** 32 - 1;

/**
 * The embedded store's `SymbolizationStore` (see docs/embedded-store.md, "Symbolization"): the queue of
 * executables and their frames, leases, and the symbol ranges, in DuckDB tables of the store's file.
 */
/**
 * An executable whose last attempt found no symbols and that waits for its retry time: new frames do not
 * make it due earlier (symbols stored for it do).
 */
const WAITING_FOR_RETRY =
  'NOT symbolization_queue.has_symbols AND symbolization_queue.attempts > 0 AND symbolization_queue.next_time IS NOT NULL';

export class EmbeddedSymbolization implements SymbolizationStore {
  private readonly cache: SymbolCache;
  /** Loads of a file's ranges in progress, shared by concurrent lookups of the same file. */
  private readonly loading = new Map<string, Promise<Loaded>>();
  /** The last upload of each file in progress: uploads of one file run one after the other. */
  private readonly uploads = new Map<string, Promise<unknown>>();
  private readonly queued: QueuedFrames;

  constructor(
    private readonly host: SymbolizationHost,
    /** Ranges kept in memory for lookups, all files together; a bigger file is looked up in SQL. */
    cacheRanges: number,
    /** Queued frames kept in memory (see QueuedFrames); files past it are looked up in the table. */
    queuedFramesInMemory: number,
  ) {
    this.cache = new SymbolCache(cacheRanges);
    this.queued = new QueuedFrames(queuedFramesInMemory);
  }

  /** The store lost its database and opens it again: `open` reloads the queue from the table. */
  reset(): void {
    this.queued.clear();
  }

  /**
   * Run once when the store opens, before anything else writes. Leases of an earlier process are void (only
   * one process opens the file). An upload whose queue update was cut short by a crash left ranges without
   * `has_symbols`; an executable with queued frames must never rest. Files with pads from before
   * `return_pad_files` existed are entered there. Then the queued frames are loaded.
   */
  async open(writer: DuckDBConnection): Promise<void> {
    await writer.run(
      `UPDATE symbolization_queue SET lease_owner = NULL, lease_until = NULL, lease_token = NULL, lease_version = NULL
        WHERE lease_token IS NOT NULL;
       INSERT INTO symbolization_queue (file_id, build_id, file_name, has_symbols, next_time, attempts, version)
         SELECT s.file_id, s.build_id, coalesce(s.file_name, ''), true, NULL, 0, 0 FROM symbol_files s
          WHERE s.file_id NOT IN (SELECT file_id FROM symbolization_queue);
       UPDATE symbolization_queue SET has_symbols = true
        WHERE NOT has_symbols AND file_id IN (SELECT file_id FROM symbol_files);
       UPDATE symbolization_queue SET next_time = ${Math.floor(this.host.now())}, version = version + 1
        WHERE next_time IS NULL AND file_id IN (SELECT file_id FROM symbolization_frames);
       INSERT INTO return_pad_files
         SELECT file_id, count(*), 0 FROM return_pads
          WHERE file_id NOT IN (SELECT file_id FROM return_pad_files) GROUP BY file_id;`,
    );
    const perFile = await writer.runAndReadAll(
      'SELECT file_id, count(*)::DOUBLE FROM symbolization_frames GROUP BY file_id',
    );
    if (perFile.currentRowCount === 0) return;
    const [files, counts] = perFile.getColumnsJS() as [string[], number[]];
    const resident = this.queued.chooseResident(files.map((fileId, i) => ({ fileId, frames: counts[i] })));
    if (resident.length === 0) return;
    const frames =
      resident.length === files.length
        ? await writer.runAndReadAll('SELECT file_id, address::DOUBLE FROM symbolization_frames')
        : await writer.runAndReadAll(
            `SELECT file_id, address::DOUBLE FROM symbolization_frames
              WHERE file_id IN (SELECT unnest(string_split(?, ',')))`,
            [resident.join(',')],
          );
    const [fileIds, addresses] = frames.getColumnsJS() as [string[], number[]];
    this.queued.load(fileIds, addresses);
  }

  /**
   * Queues a write transaction's pending frames (the store calls this inside it, `frames` being an appender
   * on `symbolization_frames`). A frame already queued is left as is; an executable that got new frames is
   * due now and its version grows, so a worker holding it learns that there is new work when it releases it.
   * Build ID and file name come from the batches' executables when they have them, else the row keeps its
   * own (and a lease looks in `executables`).
   */
  async queue(
    writer: DuckDBConnection,
    frames: DuckDBAppender,
    batches: readonly ProfileBatch[],
  ): Promise<void> {
    requireValidPendingFrames(batches);
    const files = new Set<string>();
    // Frames of files not in memory that the table has, and then also those appended here.
    const queuedElsewhere = await this.queuedElsewhere(writer, batches);
    for (const batch of batches) {
      const pending = batch.pendingFrames;
      if (pending === undefined) continue;
      for (let i = 0; i < pending.length; i++) {
        const { frameId, fileId, address } = pending[i];
        if (this.queued.isElsewhere(fileId)) {
          const key = `${fileId}:${address}`;
          if (queuedElsewhere.has(key)) continue;
          queuedElsewhere.add(key);
        } else if (!this.queued.add(fileId, address)) continue;
        frames.appendVarchar(frameId);
        frames.appendVarchar(fileId);
        frames.appendUBigInt(BigInt(address));
        frames.endRow();
        files.add(fileId);
      }
    }
    if (files.size === 0) return;
    for (const fileId of files) this.queued.touch(fileId);
    frames.flushSync();
    const known = new Map<string, { buildId?: string; fileName: string }>();
    for (const batch of batches)
      for (const e of batch.executables) if (files.has(e.fileId)) known.set(e.fileId, e);
    const rows = [...files].map((fileId) => [
      fileId,
      known.get(fileId)?.buildId ?? null,
      known.get(fileId)?.fileName ?? '',
    ]);
    for (let start = 0; start < rows.length; start += QUEUE_ROWS_PER_STATEMENT) {
      const chunk = rows.slice(start, start + QUEUE_ROWS_PER_STATEMENT);
      await writer.run(
        `INSERT INTO symbolization_queue (file_id, build_id, file_name, has_symbols, next_time, attempts, version)
           SELECT v.file_id, v.build_id, v.file_name, v.file_id IN (SELECT file_id FROM symbol_files),
                  ${Math.floor(this.host.now())}, 0, 1
             FROM (VALUES ${chunk.map(() => '(?::VARCHAR, ?::VARCHAR, ?::VARCHAR)').join(', ')}) v(file_id, build_id, file_name)
         ON CONFLICT (file_id) DO UPDATE SET
           next_time = CASE WHEN ${WAITING_FOR_RETRY} THEN symbolization_queue.next_time ELSE excluded.next_time END,
           version = symbolization_queue.version + 1,
           build_id = coalesce(excluded.build_id, symbolization_queue.build_id),
           file_name = CASE WHEN excluded.file_name = '' THEN symbolization_queue.file_name ELSE excluded.file_name END`,
        chunk.flat(),
      );
    }
  }

  /**
   * Of the batches' pending frames whose file is not resident in `queued`, the ones the table has
   * (`fileId:address`), looked up in one query.
   */
  private async queuedElsewhere(
    writer: DuckDBConnection,
    batches: readonly ProfileBatch[],
  ): Promise<Set<string>> {
    const fileIds: string[] = [];
    const addresses: number[] = [];
    for (const batch of batches) {
      for (const { fileId, address } of batch.pendingFrames ?? []) {
        if (this.queued.isElsewhere(fileId)) {
          fileIds.push(fileId);
          addresses.push(address);
        }
      }
    }
    const found = new Set<string>();
    if (fileIds.length === 0) return found;
    const rows = await writer.runAndReadAll(
      `SELECT DISTINCT f.file_id, f.address::DOUBLE FROM symbolization_frames f
         JOIN (SELECT unnest(string_split(?, ',')) AS file_id, unnest(string_split(?, ','))::UBIGINT AS address) c
           ON f.file_id = c.file_id AND f.address = c.address`,
      [fileIds.join(','), addresses.join(',')],
    );
    if (rows.currentRowCount === 0) return found;
    const [foundFiles, foundAddresses] = rows.getColumnsJS() as [string[], number[]];
    for (let i = 0; i < foundFiles.length; i++) found.add(`${foundFiles[i]}:${foundAddresses[i]}`);
    return found;
  }

  /** The store's write transaction committed: frames it took off the queue are gone from memory too. */
  committed(): void {
    this.queued.commit();
  }

  /** The store's write transaction rolled back: frames it queued are not queued. */
  rolledBack(): void {
    this.queued.rollback();
  }

  async leaseExecutables(owner: string, limit: number, leaseMs: number): Promise<ExecutableWork[]> {
    requireText(owner, 'leaseExecutables: owner');
    requireCount(limit, 'leaseExecutables: limit');
    requirePositive(leaseMs, 'leaseExecutables: leaseMs');
    if (limit === 0) return [];
    return this.host.transact(async (writer) => {
      const now = this.host.now();
      const reader = await writer.runAndReadAll(
        `UPDATE symbolization_queue
            SET lease_owner = ?, lease_until = ?::BIGINT, lease_token = gen_random_uuid()::VARCHAR,
                lease_version = version
          WHERE file_id IN (SELECT file_id FROM symbolization_queue
                             WHERE next_time <= ?::BIGINT AND (lease_until IS NULL OR lease_until <= ?::BIGINT)
                             ORDER BY next_time, file_id LIMIT ?::BIGINT)
          RETURNING file_id, build_id, file_name, has_symbols, attempts, last_reason, lease_token, next_time`,
        [owner, Math.ceil(now + leaseMs), now, now, limit],
      );
      const rows = reader.getRowObjectsJS();
      // Frames may be queued before their executable's name reached the queue row: `executables` has it.
      const unnamed = rows
        .filter((row) => row.file_name === '' || row.build_id === null)
        .map((row) => row.file_id);
      if (unnamed.length > 0) {
        const names = await writer.runAndReadAll(
          `SELECT file_id, build_id, file_name FROM executables WHERE file_id IN (SELECT unnest(string_split(?, ',')))`,
          [unnamed.join(',')],
        );
        const byFile = new Map(names.getRowObjectsJS().map((row) => [row.file_id, row]));
        for (const row of rows) {
          const known = byFile.get(row.file_id);
          if (known === undefined) continue;
          if (row.file_name === '') row.file_name = known.file_name;
          row.build_id ??= known.build_id;
        }
      }
      rows.sort(
        (a, b) =>
          Number(a.next_time) - Number(b.next_time) || String(a.file_id).localeCompare(String(b.file_id)),
      );
      return rows.map((row) => ({
        fileId: String(row.file_id),
        buildId: optionalText(row.build_id),
        fileName: String(row.file_name),
        hasSymbols: row.has_symbols === true,
        attempts: Number(row.attempts),
        lastReason: optionalText(row.last_reason),
        lease: String(row.lease_token),
      }));
    });
  }

  async renewLease(work: ExecutableWork, leaseMs: number): Promise<boolean> {
    requirePositive(leaseMs, 'renewLease: leaseMs');
    return this.host.transact(async (writer) => {
      // The token changes whenever anyone else leases the executable, so matching it means it is still ours.
      const reader = await writer.runAndReadAll(
        `UPDATE symbolization_queue SET lease_until = ?::BIGINT WHERE file_id = ? AND lease_token = ? RETURNING file_id`,
        [Math.ceil(this.host.now() + leaseMs), work.fileId, work.lease],
      );
      return reader.currentRowCount > 0;
    });
  }

  async releaseExecutable(
    work: ExecutableWork,
    outcome: { retryAt?: number; reason?: string },
  ): Promise<boolean> {
    const { retryAt, reason } = outcome;
    if (retryAt !== undefined && !Number.isFinite(retryAt)) {
      throw new Error(
        `releaseExecutable(${work.fileId}): retryAt must be epoch milliseconds, got ${retryAt}`,
      );
    }
    return this.host.transact(async (writer) => {
      const held = await writer.runAndReadAll(
        `SELECT version = lease_version AS unchanged FROM symbolization_queue WHERE file_id = ? AND lease_token = ?`,
        [work.fileId, work.lease],
      );
      if (held.currentRowCount === 0) return false;
      // Frames queued (or symbols stored) since the lease: the executable stays due, whatever this attempt did.
      const unchanged = held.getRowObjectsJS()[0].unchanged === true;
      // A failed attempt keeps its backoff even when frames came meanwhile (only symbols make it due again):
      // an executable nobody has symbols for would otherwise be tried again on every agent report.
      const retry = retryAt === undefined ? undefined : `${Math.floor(retryAt)}::BIGINT`;
      const nextTime = unchanged
        ? (retry ?? 'NULL')
        : retry === undefined
          ? 'next_time'
          : `CASE WHEN has_symbols THEN next_time ELSE ${retry} END`;
      await writer.run(
        `UPDATE symbolization_queue
            SET lease_owner = NULL, lease_until = NULL, lease_token = NULL, lease_version = NULL,
                next_time = ${nextTime},
                attempts = attempts + ?::INTEGER,
                last_reason = coalesce(?::VARCHAR, last_reason)
          WHERE file_id = ?`,
        [retryAt === undefined ? 0 : 1, reason ?? null, work.fileId],
      );
      return unchanged;
    });
  }

  async retryWaitingNow(reasons: readonly string[]): Promise<number> {
    reasons.forEach((reason, i) => {
      requireText(reason, `retryWaitingNow: reason ${i}`);
      // They travel to SQL as one comma-joined list.
      if (reason.includes(',')) throw new Error(`retryWaitingNow: reason ${i} must not hold a comma`);
    });
    if (reasons.length === 0) return 0;
    return this.host.transact(async (writer) => {
      const now = Math.floor(this.host.now());
      // Leased ones are left to their worker: its release decides (see the worker's retryLater).
      const reader = await writer.runAndReadAll(
        `UPDATE symbolization_queue SET next_time = ?::BIGINT, attempts = 0
          WHERE ${WAITING_FOR_RETRY} AND next_time > ?::BIGINT
            AND (lease_until IS NULL OR lease_until <= ?::BIGINT)
            AND last_reason IN (SELECT unnest(string_split(?, ',')))
          RETURNING file_id`,
        [now, now, now, reasons.join(',')],
      );
      return reader.currentRowCount;
    });
  }

  async pendingFrames(fileId: string, limit: number): Promise<PendingFrame[]> {
    requireCount(limit, 'pendingFrames: limit');
    if (limit === 0) return [];
    const reader = await this.host
      .reader()
      .runAndReadAll(
        `SELECT DISTINCT frame_id, address FROM symbolization_frames WHERE file_id = ? ORDER BY address, frame_id LIMIT ?::BIGINT`,
        [fileId, limit],
      );
    return reader
      .getRowObjectsJS()
      .map((row) => ({ frameId: String(row.frame_id), fileId, address: Number(row.address) }));
  }

  putSymbols(
    fileId: string,
    ranges: AsyncIterable<readonly SymbolRange[]>,
    info: PutSymbolsInfo,
  ): Promise<{ ranges: number }> {
    try {
      requireId(fileId, 'putSymbols: fileId');
      if (!SOURCES.includes(info.source)) {
        throw new Error(
          `putSymbols(${fileId}): source must be one of ${SOURCES.join(', ')}, got "${info.source}"`,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.inTurn(fileId, () => this.storeSymbols(fileId, ranges, info));
  }

  /** Two uploads of one file (symbols or pads) would delete each other's rows: they take turns. */
  private inTurn<T>(fileId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.uploads.get(fileId) ?? Promise.resolve();
    const run = previous.then(task, task);
    this.uploads.set(fileId, run);
    const forget = () => {
      if (this.uploads.get(fileId) === run) this.uploads.delete(fileId);
    };
    run.then(forget, forget);
    return run;
  }

  putReturnPads(fileId: string, pads: AsyncIterable<readonly ReturnPad[]>): Promise<{ pads: number }> {
    try {
      requireId(fileId, 'putReturnPads: fileId');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.inTurn(fileId, () => this.storeReturnPads(fileId, pads));
  }

  /**
   * On a connection of its own in one transaction, like the ranges: the file's old pads go, the new ones are
   * appended (the appender writes in the connection's transaction, so a failure part way rolls all back).
   */
  private async storeReturnPads(
    fileId: string,
    pads: AsyncIterable<readonly ReturnPad[]>,
  ): Promise<{ pads: number }> {
    const connection = await this.host.connect();
    let appender: DuckDBAppender | undefined;
    let count = 0;
    try {
      await connection.run('BEGIN TRANSACTION');
      await connection.run('DELETE FROM return_pads WHERE file_id = ?', [fileId]);
      appender = await connection.createAppender('return_pads');
      // One pad per address: a producer repeating one keeps its last (as a re-put would).
      const seen = new Set<number>();
      for await (const chunk of pads) {
        if (this.host.closing()) throw new Error(`putReturnPads(${fileId}): the embedded store is closing`);
        if (!Array.isArray(chunk)) {
          throw new Error(`putReturnPads(${fileId}): the pads must come as arrays, got ${typeof chunk}`);
        }
        for (const pad of chunk as readonly ReturnPad[]) {
          checkPad(pad, `putReturnPads(${fileId}): pad ${count}`);
          if (seen.has(pad.address)) {
            throw new Error(`putReturnPads(${fileId}): two pads at address ${pad.address}`);
          }
          seen.add(pad.address);
          appender.appendVarchar(fileId);
          appender.appendUBigInt(BigInt(pad.address));
          appender.appendVarchar(encodePadFrames(pad.frames));
          appender.endRow();
          count++;
        }
        appender.flushSync();
      }
      appender.closeSync();
      appender = undefined;
      await connection.run('INSERT OR REPLACE INTO return_pad_files VALUES (?, ?::BIGINT, ?::BIGINT)', [
        fileId,
        count,
        Math.floor(this.host.now()),
      ]);
      await connection.run('COMMIT');
    } catch (error) {
      appender?.clear();
      await connection.run('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      try {
        appender?.closeSync();
      } finally {
        connection.closeSync();
      }
    }
    return { pads: count };
  }

  async returnPads(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolizedFrame[]>> {
    addresses.forEach((address, i) => requireAddress(address, `returnPads(${fileId}): address ${i}`));
    const found = new Map<number, SymbolizedFrame[]>();
    if (addresses.length === 0) return found;
    const reader = await this.host.reader().runAndReadAll(
      `SELECT address::DOUBLE, frames FROM return_pads
          WHERE file_id = ? AND address IN (SELECT unnest(string_split(?, ','))::UBIGINT)`,
      [fileId, [...new Set(addresses)].join(',')],
    );
    if (reader.currentRowCount === 0) return found;
    const [padAddresses, frames] = reader.getColumnsJS() as [number[], string[]];
    for (let i = 0; i < padAddresses.length; i++) found.set(padAddresses[i], decodePadFrames(frames[i]));
    return found;
  }

  /** Settles once every upload in progress has (the store is closing: they give up at their next chunk). */
  async drain(): Promise<void> {
    while (this.uploads.size > 0) await Promise.allSettled([...this.uploads.values()]);
  }

  /**
   * The ranges go in on a connection of their own, in one transaction, through an appender into a staging
   * table moved into `symbol_ranges` every few thousand rows: an upload of millions of ranges is neither one
   * statement nor held in memory, and the writer connection (ingest) is not held while the caller produces
   * them. Only then does the queue learn of it, in a write transaction (a crash in between is repaired by
   * `recover`).
   *
   * Line tables are staged as comma-separated text and made lists in SQL: the appender builds a DuckDB value
   * per list element, which made an upload some 15 times slower (10 µs a range as text, 200 µs as lists).
   */
  private async storeSymbols(
    fileId: string,
    ranges: AsyncIterable<readonly SymbolRange[]>,
    info: PutSymbolsInfo,
  ): Promise<{ ranges: number }> {
    const connection = await this.host.connect();
    let appender: DuckDBAppender | undefined;
    let count = 0;
    try {
      // A temporary table belongs to its connection, and this connection to this upload.
      await connection.run(STAGE_RANGES_SQL);
      await connection.run('BEGIN TRANSACTION');
      await connection.run('DELETE FROM symbol_ranges WHERE file_id = ?', [fileId]);
      // Pads were computed from the ranges replaced here: the caller stores new ones after.
      await connection.run('DELETE FROM return_pads WHERE file_id = ?', [fileId]);
      await connection.run('DELETE FROM return_pad_files WHERE file_id = ?', [fileId]);
      appender = await connection.createAppender('stage_symbol_ranges', 'main', 'temp');
      const stage = appender;
      const move = async () => {
        stage.flushSync();
        await connection.run(MOVE_STAGED_RANGES_SQL, [fileId]);
        await connection.run('DELETE FROM temp.stage_symbol_ranges');
      };
      let unflushed = 0;
      for await (const chunk of ranges) {
        if (this.host.closing()) throw new Error(`putSymbols(${fileId}): the embedded store is closing`);
        if (!Array.isArray(chunk)) {
          throw new Error(`putSymbols(${fileId}): the ranges must come as arrays, got ${typeof chunk}`);
        }
        for (const range of chunk as readonly SymbolRange[]) {
          checkRange(range, `putSymbols(${fileId}): range ${count}`);
          appendRange(appender, range);
          count++;
          // Within a chunk too: a producer yielding everything at once must not hold it all twice.
          if (++unflushed >= FLUSH_RANGES) {
            await move();
            unflushed = 0;
          }
        }
      }
      await move();
      // `created` grows with every upload of the file (it is the symbols' version, see symbolsVersion).
      await connection.run(
        `INSERT OR REPLACE INTO symbol_files VALUES ($file, $source, $build, $name, $ranges::BIGINT,
           greatest($now::BIGINT, coalesce((SELECT created + 1 FROM symbol_files WHERE file_id = $file), 0)))`,
        {
          file: fileId,
          source: info.source,
          build: info.buildId ?? null,
          name: info.fileName ?? null,
          ranges: count,
          now: Math.floor(this.host.now()),
        },
      );
      await connection.run('COMMIT');
    } catch (error) {
      appender?.clear();
      await connection.run('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      try {
        appender?.closeSync();
      } finally {
        connection.closeSync();
      }
    }
    // Before any await: a lookup that loaded the old ranges must not cache them from now on.
    this.cache.invalidate(fileId);
    await this.host.transact((writer) =>
      writer.run(
        `INSERT INTO symbolization_queue (file_id, build_id, file_name, has_symbols, next_time, attempts, version)
           SELECT $file, coalesce($build::VARCHAR, e.build_id), coalesce(nullif($name::VARCHAR, ''), e.file_name, ''), true,
                  CASE WHEN EXISTS (SELECT 1 FROM symbolization_frames WHERE file_id = $file) THEN $now::BIGINT END, 0, 0
             FROM (SELECT 1) LEFT JOIN executables e ON e.file_id = $file
         ON CONFLICT (file_id) DO UPDATE SET
           has_symbols = true, attempts = 0, last_reason = NULL,
           build_id = coalesce(excluded.build_id, symbolization_queue.build_id),
           file_name = CASE WHEN excluded.file_name = '' THEN symbolization_queue.file_name ELSE excluded.file_name END,
           next_time = coalesce(excluded.next_time, symbolization_queue.next_time),
           version = symbolization_queue.version + CASE WHEN excluded.next_time IS NULL THEN 0 ELSE 1 END`,
        {
          file: fileId,
          build: info.buildId ?? null,
          name: info.fileName ?? null,
          now: Math.floor(this.host.now()),
        },
      ),
    );
    return { ranges: count };
  }

  async filesWithSymbols(fileIds: readonly string[]): Promise<Set<string>> {
    if (fileIds.length === 0) return new Set();
    fileIds.forEach((id, i) => requireId(id, `filesWithSymbols: file ID ${i}`));
    const reader = await this.host
      .reader()
      .runAndReadAll(
        `SELECT file_id FROM symbol_files WHERE file_id IN (SELECT unnest(string_split(?, ',')))`,
        [fileIds.join(',')],
      );
    return new Set(reader.getRowObjectsJS().map((row) => String(row.file_id)));
  }

  async hasReturnPads(fileId: string): Promise<boolean> {
    requireId(fileId, 'hasReturnPads: fileId');
    const reader = await this.host
      .reader()
      .runAndReadAll('SELECT 1 FROM return_pad_files WHERE file_id = ?', [fileId]);
    return reader.currentRowCount > 0;
  }

  async symbolsVersion(fileId: string): Promise<SymbolsVersion | undefined> {
    requireId(fileId, 'symbolsVersion: fileId');
    const reader = await this.host
      .reader()
      .runAndReadAll('SELECT created::DOUBLE, ranges::DOUBLE FROM symbol_files WHERE file_id = ?', [fileId]);
    if (reader.currentRowCount === 0) return undefined;
    const [created, ranges] = reader.getRows()[0] as [number, number];
    return { version: String(created), ranges };
  }

  /** In one transaction, so the version and the ranges are of the same upload. */
  async allSymbolRanges(
    fileId: string,
    maxRanges: number,
  ): Promise<{ version: string; ranges: SymbolRange[] } | undefined> {
    requireId(fileId, 'allSymbolRanges: fileId');
    const connection = await this.host.connect();
    try {
      await connection.run('BEGIN TRANSACTION');
      const counted = await connection.runAndReadAll(
        'SELECT created::DOUBLE, ranges::DOUBLE FROM symbol_files WHERE file_id = ?',
        [fileId],
      );
      if (counted.currentRowCount === 0) return undefined;
      const [created, count] = counted.getRows()[0] as [number, number];
      if (count > maxRanges) return undefined;
      const ranges: SymbolRange[] = [];
      const result = await connection.stream(`SELECT ${PACKED_RANGE} FROM symbol_ranges WHERE file_id = ?`, [
        fileId,
      ]);
      for (
        let chunk = await result.fetchChunk();
        chunk && chunk.rowCount > 0;
        chunk = await result.fetchChunk()
      ) {
        for (const packed of chunk.getColumnValues(0) as string[]) ranges.push(unpackRange(packed));
      }
      return { version: String(created), ranges };
    } finally {
      await connection.run('ROLLBACK').catch(() => undefined);
      connection.closeSync();
    }
  }

  async symbolRanges(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolRange[]>> {
    addresses.forEach((address, i) => requireAddress(address, `symbolRanges(${fileId}): address ${i}`));
    const found = new Map<number, SymbolRange[]>();
    if (addresses.length === 0) return found;
    const symbols = this.cache.get(fileId) ?? (await this.load(fileId));
    if (symbols === 'none') return found;
    if (symbols === 'too big') return this.rangesBySql(fileId, addresses);
    for (const address of addresses) {
      const containing = symbols.containing(address);
      if (containing.length > 0) found.set(address, containing);
    }
    return found;
  }

  /** A file's ranges into memory, unless it has none or too many to cache (SQL answers then). */
  private load(fileId: string): Promise<Loaded> {
    let loading = this.loading.get(fileId);
    if (loading === undefined) {
      loading = this.loadNow(fileId).finally(() => this.loading.delete(fileId));
      this.loading.set(fileId, loading);
    }
    return loading;
  }

  /**
   * Streams the rows a data chunk (2,048 rows) at a time, on a connection of its own (a streamed result
   * must not share its connection with other queries), so that loading a big file lets the event loop
   * (ingest, API) run between chunks.
   */
  private async loadNow(fileId: string): Promise<Loaded> {
    const generation = this.cache.generation(fileId);
    const counted = await this.host
      .reader()
      .runAndReadAll(`SELECT ranges FROM symbol_files WHERE file_id = ?`, [fileId]);
    if (counted.currentRowCount === 0) return 'none';
    if (Number(counted.getRows()[0][0]) > this.cache.maxRanges) return 'too big';
    const connection = await this.host.connect();
    const starts: number[] = [];
    const ends: number[] = [];
    const depths: number[] = [];
    const packed: string[] = [];
    try {
      const result = await connection.stream(
        `SELECT start::DOUBLE, "end"::DOUBLE, depth, ${PACKED_RANGE} FROM symbol_ranges WHERE file_id = ?`,
        [fileId],
      );
      for (
        let chunk = await result.fetchChunk();
        chunk && chunk.rowCount > 0;
        chunk = await result.fetchChunk()
      ) {
        starts.push(...(chunk.getColumnValues(0) as number[]));
        ends.push(...(chunk.getColumnValues(1) as number[]));
        depths.push(...(chunk.getColumnValues(2) as number[]));
        packed.push(...(chunk.getColumnValues(3) as string[]));
      }
    } finally {
      connection.closeSync();
    }
    const symbols = new FileSymbols({ starts, ends, depths, build: (row) => unpackRange(packed[row]) });
    this.cache.set(fileId, symbols, generation);
    return symbols;
  }

  /**
   * For files too big to keep in memory: one range join of the file's rows with the addresses. The
   * addresses go into a temporary table (on a connection of the call's own): with them as a list parameter
   * DuckDB plans a nested loop join, with a table an IEJoin (5,000 addresses over 300,000 ranges: 0.6 s).
   */
  private async rangesBySql(
    fileId: string,
    addresses: readonly number[],
  ): Promise<Map<number, SymbolRange[]>> {
    const found = new Map<number, SymbolRange[]>();
    const connection = await this.host.connect();
    try {
      await connection.run('CREATE TEMP TABLE lookup_addresses (address UBIGINT)');
      const appender = await connection.createAppender('lookup_addresses', 'main', 'temp');
      for (const address of new Set(addresses)) {
        appender.appendUBigInt(BigInt(address));
        appender.endRow();
      }
      appender.closeSync();
      const reader = await connection.runAndReadAll(
        `SELECT q.address::DOUBLE, ${PACKED_RANGE}
           FROM temp.lookup_addresses q
           JOIN symbol_ranges r ON r.file_id = ? AND r.start <= q.address AND q.address < r."end"`,
        [fileId],
      );
      if (reader.currentRowCount === 0) return found;
      const [queried, packed] = reader.getColumnsJS() as [number[], string[]];
      for (let i = 0; i < queried.length; i++) {
        const range = unpackRange(packed[i]);
        const list = found.get(queried[i]);
        if (list) list.push(range);
        else found.set(queried[i], [range]);
      }
      return found;
    } finally {
      connection.closeSync();
    }
  }

  async resolveFrames(symbols: readonly StackFrameSymbols[], frameIds: readonly string[]): Promise<void> {
    symbols.forEach((frame, i) => checkFrameSymbols(frame, `resolveFrames: symbols ${i}`));
    frameIds.forEach((id, i) => requireId(id, `resolveFrames: frame ID ${i}`));
    if (symbols.length === 0 && frameIds.length === 0) return;
    await this.host.transact(async (writer) => {
      if (frameIds.length === 0) return;
      const deleted = await writer.runAndReadAll(
        `DELETE FROM symbolization_frames WHERE frame_id IN (SELECT unnest(string_split(?, ',')))
         RETURNING file_id, address::DOUBLE`,
        [frameIds.join(',')],
      );
      if (deleted.currentRowCount === 0) return;
      const [fileIds, addresses] = deleted.getColumnsJS() as [string[], number[]];
      for (let i = 0; i < fileIds.length; i++) this.queued.remove(fileIds[i], addresses[i]);
    }, symbols);
  }

  async backlog(): Promise<SymbolizationBacklog> {
    const reader = this.host.reader();
    const totals = await reader.runAndReadAll(`SELECT
      (SELECT count(DISTINCT f.file_id) FROM symbolization_frames f
         LEFT JOIN symbolization_queue q ON q.file_id = f.file_id WHERE NOT coalesce(q.has_symbols, false))::BIGINT AS executables,
      (SELECT count(*) FROM symbolization_frames)::BIGINT AS frames,
      (SELECT count(*) FROM symbol_files)::BIGINT AS symbolized`);
    const waiting = await reader.runAndReadAll(
      `SELECT coalesce(last_reason, 'unknown') AS reason, count(*)::BIGINT AS n FROM symbolization_queue
        WHERE NOT has_symbols AND attempts > 0 AND next_time IS NOT NULL GROUP BY ALL ORDER BY reason`,
    );
    const [row] = totals.getRowObjectsJS();
    const waitingByReason: Record<string, number> = {};
    for (const r of waiting.getRowObjectsJS()) waitingByReason[String(r.reason)] = Number(r.n);
    return {
      pendingExecutables: Number(row.executables),
      pendingFrames: Number(row.frames),
      symbolizedExecutables: Number(row.symbolized),
      waitingByReason,
    };
  }
}

/** Every pending frame of the batches is well formed, before any of them is queued. */
function requireValidPendingFrames(batches: readonly ProfileBatch[]): void {
  for (const batch of batches) {
    const pending = batch.pendingFrames ?? [];
    for (let i = 0; i < pending.length; i++) {
      const { frameId, fileId, address } = pending[i];
      requireId(frameId, `pendingFrames[${i}].frameId`);
      requireId(fileId, `pendingFrames[${i}].fileId`);
      requireAddress(address, `pendingFrames[${i}].address`);
    }
  }
}

const STAGE_RANGES_SQL = `CREATE TEMP TABLE stage_symbol_ranges (
  start UBIGINT, "end" UBIGINT, depth USMALLINT, function_name VARCHAR, function_line INTEGER, file_name VARCHAR,
  call_file_name VARCHAR, call_line INTEGER, line_offsets VARCHAR, lines VARCHAR)`;

const MOVE_STAGED_RANGES_SQL = `INSERT INTO symbol_ranges
  SELECT ?, start, "end", depth, function_name, function_line, file_name, call_file_name, call_line,
         CASE WHEN line_offsets = '' THEN []::UINTEGER[] ELSE string_split(line_offsets, ',')::UINTEGER[] END,
         CASE WHEN lines = '' THEN []::INTEGER[] ELSE string_split(lines, ',')::INTEGER[] END
    FROM temp.stage_symbol_ranges`;

/**
 * A range's fields read as one text (\u0001 between fields, commas in the line tables): converting ten
 * columns, two of them lists, to JS values cost over twice as much as one string a row split in JS.
 */
const PACKED_RANGE = `concat_ws(chr(1), start, "end", depth, function_line, call_line, array_to_string(line_offsets, ','),
  array_to_string(lines, ','), function_name, file_name, call_file_name)`;
const PACKED_FIELDS = 10;

function unpackRange(packed: string): SymbolRange {
  const f = packed.split('\u0001');
  // checkRange refuses names with the separator, so this is a damaged row.
  if (f.length !== PACKED_FIELDS)
    throw new Error(`the embedded store holds a damaged symbol range: ${packed}`);
  return {
    start: Number(f[0]),
    end: Number(f[1]),
    depth: Number(f[2]),
    functionLine: Number(f[3]),
    callLine: Number(f[4]),
    lineOffsets: numbers(f[5]),
    lines: numbers(f[6]),
    functionName: f[7],
    fileName: f[8],
    callFileName: f[9],
  };
}

function numbers(text: string): number[] {
  return text === '' ? [] : text.split(',').map(Number);
}

function appendRange(appender: DuckDBAppender, range: SymbolRange): void {
  appender.appendUBigInt(BigInt(range.start));
  appender.appendUBigInt(BigInt(range.end));
  appender.appendUSmallInt(range.depth);
  appender.appendVarchar(range.functionName);
  appender.appendInteger(range.functionLine);
  appender.appendVarchar(range.fileName);
  appender.appendVarchar(range.callFileName);
  appender.appendInteger(range.callLine);
  appender.appendVarchar(range.lineOffsets.join(','));
  appender.appendVarchar(range.lines.join(','));
  appender.endRow();
}

/** A range that would store garbage or break lookups is refused with where and what. */
function checkRange(range: SymbolRange, where: string): void {
  if (typeof range !== 'object' || range === null) throw new Error(`${where}: not a symbol range`);
  requireAddress(range.start, `${where}: start`);
  requireAddress(range.end, `${where}: end`);
  if (range.end <= range.start)
    throw new Error(`${where}: end ${range.end} is not past start ${range.start}`);
  if (!Number.isInteger(range.depth) || range.depth < 0 || range.depth > MAX_DEPTH) {
    throw new Error(`${where}: depth must be an integer 0..${MAX_DEPTH}, got ${range.depth}`);
  }
  for (const key of ['functionName', 'fileName', 'callFileName'] as const) {
    if (typeof range[key] !== 'string') throw new Error(`${where}: ${key} must be a string`);
    // Ranges are read back as one text with \u0001 between fields (see PACKED_RANGE).
    if (range[key].includes('\u0001'))
      throw new Error(`${where}: ${key} contains the control character U+0001`);
  }
  requireLine(range.functionLine, `${where}: functionLine`);
  requireLine(range.callLine, `${where}: callLine`);
  const { lineOffsets, lines } = range;
  if (!Array.isArray(lineOffsets) || !Array.isArray(lines) || lineOffsets.length !== lines.length) {
    throw new Error(`${where}: lineOffsets and lines must be arrays of one length`);
  }
  for (let i = 0; i < lines.length; i++) {
    const offset = lineOffsets[i];
    // Equal offsets are allowed (a DWARF line table often has several rows at one address; `lineAt` takes
    // the last), and so is one past the range's end (an end-of-sequence row): neither misleads a lookup.
    if (!Number.isInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
      throw new Error(`${where}: lineOffsets[${i}] must be an integer 0..${MAX_OFFSET}, got ${offset}`);
    }
    if (i > 0 && offset < lineOffsets[i - 1]) {
      throw new Error(`${where}: lineOffsets go down at ${i} (${lineOffsets[i - 1]}, then ${offset})`);
    }
    requireLine(lines[i], `${where}: lines[${i}]`);
  }
}

function checkPad(pad: ReturnPad, where: string): void {
  if (typeof pad !== 'object' || pad === null) throw new Error(`${where}: not a return pad`);
  requireAddress(pad.address, `${where}: address`);
  if (!Array.isArray(pad.frames) || pad.frames.length === 0) throw new Error(`${where}: no frames`);
  pad.frames.forEach((frame, i) => {
    if (typeof frame.functionName !== 'string' || typeof frame.fileName !== 'string')
      throw new Error(`${where}: frame ${i} must have a function and a file name (strings)`);
    requireLine(frame.line, `${where}: frame ${i} line`);
    requireLine(frame.startLine, `${where}: frame ${i} startLine`);
  });
}

function checkFrameSymbols(frame: StackFrameSymbols, where: string): void {
  requireId(frame.frameId, `${where}: frameId`);
  const entries = frame.functionNames?.length;
  for (const key of ['functionNames', 'fileNames', 'lineNumbers', 'functionOffsets'] as const) {
    if (!Array.isArray(frame[key]) || frame[key].length !== entries) {
      throw new Error(`${where} (${frame.frameId}): ${key} must be an array as long as functionNames`);
    }
  }
  frame.lineNumbers.forEach((line, i) => requireLine(line, `${where}: lineNumbers[${i}]`));
  frame.functionOffsets.forEach((offset, i) => requireLine(offset, `${where}: functionOffsets[${i}]`));
}

function requireText(value: unknown, what: string): void {
  if (typeof value !== 'string' || value === '') throw new Error(`${what} must be a non-empty string`);
}

/** IDs travel to SQL as one comma-joined list (see EmbeddedStore.columnsByIds); base64url has no commas. */
function requireId(value: unknown, what: string): void {
  requireText(value, what);
  if ((value as string).includes(','))
    throw new Error(`${what}: "${String(value)}" is not an ID (has a comma)`);
}

function requireAddress(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${what} must be a non-negative integer below 2^53, got ${String(value)}`);
  }
}

function requireLine(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_LINE) {
    throw new Error(`${what} must be an integer 0..${MAX_LINE}, got ${String(value)}`);
  }
}

function requireCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${what} must be a non-negative integer, got ${value}`);
}

function requirePositive(value: number, what: string): void {
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${what} must be a positive number, got ${value}`);
}

function optionalText(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}
