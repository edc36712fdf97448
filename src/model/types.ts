import type { FrameType } from './frame-type.ts';

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

/** What one export request turns into: written to a store as one unit. */
export interface ProfileBatch {
  events: ProfilingEvent[];
  stackTraces: StackTrace[];
  stackFrames: StackFrameSymbols[];
  executables: Executable[];
  hosts: HostMetadata[];
}

export function emptyBatch(): ProfileBatch {
  return { events: [], stackTraces: [], stackFrames: [], executables: [], hosts: [] };
}
