import type {
  EpochSeconds,
  Executable,
  HostMetadata,
  ProfileBatch,
  StackFrameSymbols,
  StackTrace,
} from '../model/index.ts';
import type { SymbolizationStore } from './symbolization.ts';

/** Event fields that filters and group-bys may name: the Elasticsearch field names, used everywhere. */
export const EVENT_FIELDS = [
  'host.id',
  'host.name',
  'host.ip',
  'process.executable.name',
  'process.thread.name',
  'container.id',
  'container.name',
  'orchestrator.resource.name',
  'k8s.namespace.name',
  'service.name',
  'tags',
  'profiling.project.id',
] as const;
export type EventField = (typeof EVENT_FIELDS)[number];

/** A filter over events; `pattern` uses `*` as a wildcard, anything else matches literally. */
export type EventFilter =
  | { kind: 'match'; field: EventField; pattern: string }
  | { kind: 'and'; filters: EventFilter[] }
  | { kind: 'or'; filters: EventFilter[] }
  | { kind: 'not'; filter: EventFilter };

export interface EventQuery {
  /** Inclusive start, exclusive end. */
  from: EpochSeconds;
  to: EpochSeconds;
  filter?: EventFilter;
  /**
   * Split the counts by this field as well as by stack trace; a list splits by all its fields at once (rows
   * then carry `groups` instead of `group`). `tags` can only group alone: see `groupFieldList`.
   */
  groupBy?: EventField | readonly EventField[];
  /** Read this downsampling level instead of choosing one from the range's size. */
  samplingLevel?: number;
}

export interface StackTraceCount {
  stackTraceId: string;
  /** Only set when the query grouped by one field (`groupBy` a string) and the event has it. */
  group?: string;
  /**
   * Only set when the query grouped by a list of fields: one value per field, in the list's order;
   * `undefined` where the event lacks that field.
   */
  groups?: (string | undefined)[];
  /** Estimated full count: the stored count at the level read, times 5^level. */
  count: number;
}

export interface EventAggregation {
  /** The downsampling level read: counts were scaled by 5^samplingLevel. */
  samplingLevel: number;
  /** Events (rows) read at that level. */
  eventsRead: number;
  totalCount: number;
  rows: StackTraceCount[];
}

export interface TimeCountQuery {
  /** Inclusive start, exclusive end. */
  from: EpochSeconds;
  to: EpochSeconds;
  filter?: EventFilter;
  /** Width of a bucket; buckets start at multiples of it since the epoch. */
  bucketSeconds: number;
  /** Split each bucket's count by this field (an event with several tags counts for each). */
  groupBy?: EventField;
  /** Read this downsampling level instead of choosing one from the range's size. */
  samplingLevel?: number;
}

export interface TimeCount {
  /** Start of the bucket. */
  start: EpochSeconds;
  /** The group's value; absent without a group-by, or for events that lack the field. */
  group?: string;
  /** Estimated full count: the stored count at the level read, times 5^level. */
  count: number;
}

export interface TimeCounts {
  samplingLevel: number;
  /** Only buckets (and groups) that have events, in no particular order. */
  points: TimeCount[];
}

export interface StoreStats {
  events: number;
  stackTraces: number;
  stackFrames: number;
  executables: number;
  hosts: number;
  /** Bytes on disk where the store can tell. */
  bytesOnDisk?: number;
  oldestEvent?: EpochSeconds;
  newestEvent?: EpochSeconds;
}

/** What the storage explorer shows: where the data is and how much of it, for one time range. */
export interface StorageQuery {
  /** Inclusive start, exclusive end: the range of the per-host and per-day figures. */
  from: EpochSeconds;
  to: EpochSeconds;
}

/** A table (embedded store) or an index / data stream (Elasticsearch). */
export interface StorageArea {
  name: string;
  /** Rows or documents. */
  rows: number;
  /** Bytes it takes where the store can tell (DuckDB: the blocks of its columns; Elasticsearch: store size). */
  bytes?: number;
}

export interface StorageReport {
  areas: StorageArea[];
  /** The whole store on disk: the database file and its write-ahead log, or every profiling index. */
  totalBytes?: number;
  /** Per host in the range, most samples first; `samples` counted at full resolution. */
  hosts: { hostId: string; hostName?: string; events: number; samples: number; lastSeen: EpochSeconds }[];
  /**
   * Per UTC day (its start) in the range that has events, oldest first. `estimatedBytes`: the events tables'
   * (indices') size shared out by the day's share of all events, where the store can tell sizes.
   */
  days: { day: EpochSeconds; events: number; samples: number; estimatedBytes?: number }[];
  /** Events stored at each downsampling level present (level N holds about 1/5^N of the events). */
  samplingLevels: { level: number; events: number }[];
  /** Sampling frequencies the agents report (per host, from its latest report), with how many hosts use each. */
  samplingFrequencies: { hz: number; hosts: number }[];
}

/** Thrown for a group-by the stores cannot answer, such as `tags` within a list of fields. */
export class UnsupportedGroupByError extends Error {
  override readonly name = 'UnsupportedGroupByError';
}

/**
 * Thrown for a filter a store cannot express, such as a `host.ip` pattern other than an address, a CIDR
 * block or an octet prefix on Elasticsearch (an `ip` field has no wildcard search). The request is wrong,
 * not the store: the API answers 400.
 */
export class UnsupportedFilterError extends Error {
  override readonly name = 'UnsupportedFilterError';
}

/**
 * The fields of a multi-field group-by, checked. `tags` is refused: an event has several tags, so each one
 * would be counted once per tag and per combination of the other fields, which no tree level can show.
 */
export function groupFieldList(fields: readonly EventField[]): readonly EventField[] {
  if (fields.length === 0) throw new UnsupportedGroupByError('groupBy: the list of fields is empty');
  for (const field of fields) {
    if (!(EVENT_FIELDS as readonly string[]).includes(field))
      throw new UnsupportedGroupByError(`groupBy: "${field}" is not an event field`);
  }
  if (fields.length > 1 && fields.includes('tags'))
    throw new UnsupportedGroupByError('groupBy: "tags" can only group alone, not within a list of fields');
  if (new Set(fields).size !== fields.length)
    throw new UnsupportedGroupByError(`groupBy: a field appears twice in [${fields.join(', ')}]`);
  return fields;
}

/** Read side: everything the query layer needs, and no more. */
export interface StoreReader {
  aggregateEvents(query: EventQuery): Promise<EventAggregation>;
  /** Sample counts over time, bucketed (and grouped), for timelines. */
  countOverTime(query: TimeCountQuery): Promise<TimeCounts>;
  getStackTraces(ids: readonly string[]): Promise<Map<string, StackTrace>>;
  getStackFrames(ids: readonly string[]): Promise<Map<string, StackFrameSymbols>>;
  getExecutables(fileIds: readonly string[]): Promise<Map<string, Executable>>;
  listHosts(from: EpochSeconds, to: EpochSeconds): Promise<HostMetadata[]>;
  /** Distinct values of a field in a range, most frequent first, for filter pickers. */
  fieldValues(field: EventField, from: EpochSeconds, to: EpochSeconds, limit: number): Promise<string[]>;
  stats(): Promise<StoreStats>;
  /** Data per table or index, per host and per day, and the sampling in use: the storage explorer. */
  storage(query: StorageQuery): Promise<StorageReport>;
}

/** Write side, used by the collector (whole batches) and the symbolizer (frames it resolved). */
export interface StoreWriter {
  /**
   * Stores a whole batch, or nothing of it. Once the promise resolves the batch is durable: it survives a
   * clean restart (the collector acknowledges the agent only then).
   */
  write(batch: ProfileBatch): Promise<void>;
  writeStackFrames(frames: readonly StackFrameSymbols[]): Promise<void>;
}

/** Whether a store can take writes now; /ready and the status page show `problem` when it cannot. */
export interface StoreHealth {
  writable: boolean;
  /** What is wrong, for an operator: "the disk is full at /var/lib/uniprof/uniprof.duckdb", … */
  problem?: string;
  /**
   * Writable, but something behind the store is not well: the cluster lost a node (yellow or red), or sends to
   * it are failing and acknowledged data waits in the spool. /ready stays 200 and says this.
   */
  degraded?: string;
}

/**
 * A small named record of server-wide settings (the UI's Settings page). Kept in the store, not in a file, so
 * every server on one store (several collectors on one Elasticsearch) sees the same value, and it survives
 * restarts with the data it describes.
 */
export interface StoredSetting {
  /** The setting's JSON value; its owner validates it on read. */
  value: unknown;
  updatedAt: EpochSeconds;
  /** Who changed it last, as the API knew them. */
  updatedBy?: string;
}

/** Read and replace settings records by name; a write is visible to every reader once it resolves. */
export interface SettingsStore {
  readSetting(name: string): Promise<StoredSetting | undefined>;
  writeSetting(name: string, setting: StoredSetting): Promise<void>;
}

export interface Store extends StoreReader, StoreWriter, SettingsStore {
  readonly kind: string;
  /**
   * Where writes stand after the last attempt. A store that found its storage failing (disk full, file system
   * read-only) says so here, refuses writes with StoreUnavailableError and keeps checking on its own: it is
   * writable again, without a restart, once the storage is.
   */
  health(): StoreHealth;
  /** The symbolization queue and symbols (see symbolization.ts). */
  readonly symbolization: SymbolizationStore;
  open(): Promise<void>;
  /** Flushes whatever was acknowledged and releases the store. */
  close(): Promise<void>;
}

/** Thrown when the store cannot take more right now: the collector answers RESOURCE_EXHAUSTED / 429. */
export class StoreBusyError extends Error {
  override readonly name = 'StoreBusyError';
}

/** Thrown when the store is out of reach: the collector answers UNAVAILABLE / 503. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
