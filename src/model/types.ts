import type { FrameType } from './frame-type.ts';
import type { PendingFrame } from './symbols.ts';

/** Epoch seconds: the resolution events are stored at. */
export type EpochSeconds = number;

/** One stack, leaf frame first, as stored once under its content-addressed ID. */
export interface StackTrace {
  id: string;
  frameIds: string[];
  frameTypes: FrameType[];
}

/**
 * Symbols for one frame. Each array has one entry per function of the inline chain, innermost (the
 * function the address is in after inlining) first.
 */
export interface StackFrameSymbols {
  frameId: string;
  functionNames: string[];
  fileNames: string[];
  lineNumbers: number[];
  functionOffsets: number[];
}

export interface Executable {
  fileId: string;
  buildId?: string;
  fileName: string;
  lastSeen: EpochSeconds;
}

/** One aggregated sample: `count` occurrences of one stack in one second for one thread. */
export interface ProfilingEvent {
  timestamp: EpochSeconds;
  stackTraceId: string;
  count: number;
  hostId: string;
  hostName?: string;
  hostIp?: string;
  threadName?: string;
  processName?: string;
  containerId?: string;
  containerName?: string;
  podName?: string;
  k8sNamespace?: string;
  serviceName?: string;
  tags: readonly string[];
  projectId: number;
  agentVersion?: string;
  osKernel?: string;
}

/** Where an event's samples came from: everything but its second, stack trace and count. */
export type EventDimensions = Omit<ProfilingEvent, 'timestamp' | 'stackTraceId' | 'count'>;

/**
 * A batch's events in columns: event i is `counts[i]` samples of `stackTraceIds[i]` in second `timestamps[i]`
 * from `dimensions[i]`. Events of one source share one dimensions object, so a writer can tell them apart by
 * identity, and a batch costs four array slots per event instead of an object with every field.
 */
export interface EventColumns {
  length: number;
  timestamps: EpochSeconds[];
  stackTraceIds: string[];
  counts: number[];
  dimensions: EventDimensions[];
}

export interface HostMetadata {
  hostId: string;
  timestamp: EpochSeconds;
  hostName?: string;
  hostIp?: string;
  arch?: string;
  osKernel?: string;
  agentVersion?: string;
  projectId: number;
  /** Everything else the agent reported about the host, by attribute name. */
  attributes: Record<string, string>;
}

/**
 * The host attribute holding the agent's sampling frequency in Hz (from its profiles' period), named as in
 * Elastic's host documents' `profiling.agent.config.*` fields.
 */
export const SAMPLING_FREQUENCY_ATTRIBUTE = 'profiling.agent.config.sampling_frequency';

/** What one export request turns into: written to a store as one unit. */
export interface ProfileBatch {
  events: ProfilingEvent[];
  /**
   * The same events in columns, when the producer has them (the collector's translator does; its `events` are
   * then only built if something reads them). Writers on the ingest path read these when present.
   */
  eventColumns?: EventColumns;
  stackTraces: StackTrace[];
  stackFrames: StackFrameSymbols[];
  executables: Executable[];
  hosts: HostMetadata[];
  /**
   * Native frames first seen in this batch that have no symbols: the store queues them for the symbolizer
   * in the same write, so an acknowledged frame is never missing from the queue.
   */
  pendingFrames?: PendingFrame[];
}

/** The number of events in a batch, without building event objects from its columns. */
export function eventCount(batch: ProfileBatch): number {
  return batch.eventColumns?.length ?? batch.events.length;
}

/** Event objects from event columns. */
export function eventsFromColumns(columns: EventColumns): ProfilingEvent[] {
  const events = new Array<ProfilingEvent>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    events[i] = {
      timestamp: columns.timestamps[i],
      stackTraceId: columns.stackTraceIds[i],
      count: columns.counts[i],
      ...columns.dimensions[i],
    };
  }
  return events;
}

export function emptyBatch(): ProfileBatch {
  return { events: [], stackTraces: [], stackFrames: [], executables: [], hosts: [], pendingFrames: [] };
}
