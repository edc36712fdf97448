import type {
  EpochSeconds,
  Executable,
  HostMetadata,
  ProfileBatch,
  StackFrameSymbols,
  StackTrace,
} from '../model/index.ts';

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
  /** Split the counts by this field as well as by stack trace. */
  groupBy?: EventField;
  /** Read this downsampling level instead of choosing one from the range's size. */
  samplingLevel?: number;
}

export interface StackTraceCount {
  stackTraceId: string;
  /** Only set when the query grouped by a field. */
  group?: string;
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

/** Read side: everything the query layer needs, and no more. */
export interface StoreReader {
  aggregateEvents(query: EventQuery): Promise<EventAggregation>;
  getStackTraces(ids: readonly string[]): Promise<Map<string, StackTrace>>;
  getStackFrames(ids: readonly string[]): Promise<Map<string, StackFrameSymbols>>;
  getExecutables(fileIds: readonly string[]): Promise<Map<string, Executable>>;
  listHosts(from: EpochSeconds, to: EpochSeconds): Promise<HostMetadata[]>;
  /** Distinct values of a field in a range, most frequent first, for filter pickers. */
  fieldValues(field: EventField, from: EpochSeconds, to: EpochSeconds, limit: number): Promise<string[]>;
  stats(): Promise<StoreStats>;
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

export interface Store extends StoreReader, StoreWriter {
  readonly kind: string;
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
