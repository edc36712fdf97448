/**
 * Model objects ↔ Elasticsearch documents of the profiling layout, and the bulk operations that write them.
 */
import { isIP } from 'node:net';
import {
  decodeFrameIds,
  decodeFrameTypes,
  downsampledCounts,
  encodeFrameIds,
  encodeFrameTypes,
  type Executable,
  type HostMetadata,
  type ProfileBatch,
  type ProfilingEvent,
  type RandomSource,
  type StackFrameSymbols,
  type StackTrace,
} from '../../model/index.ts';
import { InvalidRequestError } from '../../protocol/errors.ts';
import { ECS_VERSION, EXECUTABLES, HOSTS, STACKFRAMES, STACKTRACES, eventsIndex } from './layout.ts';

type Document = Record<string, unknown>;

/** `Stacktrace.count` is a short in the layout; larger counts are split over several documents. */
export const MAX_EVENT_COUNT = 32_767;
const SECONDS_PER_WEEK = 7 * 24 * 3600;
/** Monday 00:00 UTC: 1970-01-01 was a Thursday. */
const WEEK_OFFSET = 4 * 24 * 3600;

/** A batch the layout cannot hold; the collector answers INVALID_ARGUMENT, as for a malformed request. */
export class InvalidBatchError extends InvalidRequestError {
  constructor(message: string) {
    super('invalid_batch', message);
  }
}

function setIfPresent(doc: Document, field: string, value: string | undefined): void {
  if (value !== undefined && value !== '') doc[field] = value;
}

export function eventDocument(event: ProfilingEvent, count: number): Document {
  const doc: Document = {
    '@timestamp': event.timestamp,
    'Stacktrace.id': event.stackTraceId,
    'Stacktrace.count': count,
    'host.id': event.hostId,
    'profiling.project.id': String(event.projectId),
    'ecs.version': ECS_VERSION,
  };
  setIfPresent(doc, 'host.name', event.hostName);
  // An `ip` field rejects the whole document for a malformed address; a missing address loses less.
  if (event.hostIp && isIP(event.hostIp)) doc['host.ip'] = event.hostIp;
  setIfPresent(doc, 'process.thread.name', event.threadName);
  setIfPresent(doc, 'process.executable.name', event.processName);
  setIfPresent(doc, 'container.id', event.containerId);
  setIfPresent(doc, 'container.name', event.containerName);
  setIfPresent(doc, 'orchestrator.resource.name', event.podName);
  setIfPresent(doc, 'k8s.namespace.name', event.k8sNamespace);
  setIfPresent(doc, 'service.name', event.serviceName);
  setIfPresent(doc, 'agent.version', event.agentVersion);
  setIfPresent(doc, 'os.kernel', event.osKernel);
  if (event.tags.length > 0) doc.tags = event.tags;
  return doc;
}

/*
 * Order. Our model lists a stack leaf first and an inline chain innermost first. Elasticsearch's profiling
 * plugin (and so Kibana) reads `Stacktrace.frame.*` root first and `Stackframe.*` outermost first, treating the
 * last entry of each as the leaf; documents are therefore written, and read back, reversed.
 */
const reversed = <T>(items: readonly T[]): T[] => [...items].reverse();

export function stackTraceDocument(trace: StackTrace): Document {
  return {
    'Stacktrace.frame.ids': encodeFrameIds(reversed(trace.frameIds)),
    'Stacktrace.frame.types': encodeFrameTypes(reversed(trace.frameTypes)),
    'ecs.version': ECS_VERSION,
  };
}

/**
 * Offsets that are all 0 (what the agent's frames always have) are left out, as the OpenTelemetry Collector's
 * Elasticsearch exporter leaves them out (`omitempty`); reading fills the zeros back in.
 */
export function stackFrameDocument(frame: StackFrameSymbols): Document {
  const doc: Document = {
    'Stackframe.function.name': reversed(frame.functionNames),
    'Stackframe.file.name': reversed(frame.fileNames),
    'Stackframe.line.number': reversed(frame.lineNumbers),
  };
  if (frame.functionOffsets.some((offset) => offset !== 0)) {
    doc['Stackframe.function.offset'] = reversed(frame.functionOffsets);
  }
  doc['ecs.version'] = ECS_VERSION;
  return doc;
}

export function startOfWeek(seconds: number): number {
  return Math.floor((seconds - WEEK_OFFSET) / SECONDS_PER_WEEK) * SECONDS_PER_WEEK + WEEK_OFFSET;
}

export function executableDocument(executable: Executable): Document {
  const doc: Document = {
    '@timestamp': startOfWeek(executable.lastSeen),
    'Executable.file.name': executable.fileName,
    'ecs.version': ECS_VERSION,
  };
  setIfPresent(doc, 'Executable.build.id', executable.buildId);
  return doc;
}

export function hostDocument(host: HostMetadata): Document {
  const doc: Document = {
    '@timestamp': host.timestamp,
    'host.id': host.hostId,
    'profiling.project.id': String(host.projectId),
    'ecs.version': ECS_VERSION,
    // Everything the agent said, unindexed (the mapping is not dynamic) but kept in _source for reading back.
    'uniprof.attributes': host.attributes,
  };
  setIfPresent(doc, 'profiling.host.name', host.hostName);
  if (host.hostIp && isIP(host.hostIp)) doc['profiling.host.ip'] = host.hostIp;
  setIfPresent(doc, 'profiling.host.machine', host.arch);
  setIfPresent(doc, 'profiling.host.kernel_version', host.osKernel);
  setIfPresent(doc, 'profiling.agent.version', host.agentVersion);
  return doc;
}

/** Reads a field from _source whether it is stored flat (`a.b`), nested (`{a: {b}}`) or mixed. */
export function sourceField(source: unknown, field: string): unknown {
  if (source === null || typeof source !== 'object') return undefined;
  const object = source as Record<string, unknown>;
  if (field in object) return object[field];
  let dot = field.indexOf('.');
  while (dot !== -1) {
    const head = field.slice(0, dot);
    if (head in object) {
      const found = sourceField(object[head], field.slice(dot + 1));
      if (found !== undefined) return found;
    }
    dot = field.indexOf('.', dot + 1);
  }
  return undefined;
}

const asString = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
const asArray = (value: unknown): unknown[] =>
  Array.isArray(value) ? value : value === undefined ? [] : [value];
const asNumber = (value: unknown): number => (typeof value === 'number' ? value : Number(value));

export function stackTraceFromSource(id: string, source: unknown): StackTrace {
  return {
    id,
    frameIds: decodeFrameIds(asString(sourceField(source, 'Stacktrace.frame.ids')) ?? '').reverse(),
    frameTypes: decodeFrameTypes(asString(sourceField(source, 'Stacktrace.frame.types')) ?? '').reverse(),
  };
}

export function stackFrameFromSource(frameId: string, source: unknown): StackFrameSymbols {
  const functionNames = asArray(sourceField(source, 'Stackframe.function.name')).map(String).reverse();
  const offsets = sourceField(source, 'Stackframe.function.offset');
  return {
    frameId,
    functionNames,
    fileNames: asArray(sourceField(source, 'Stackframe.file.name')).map(String).reverse(),
    lineNumbers: asArray(sourceField(source, 'Stackframe.line.number')).map(asNumber).reverse(),
    // Left out when all were 0 (see stackFrameDocument).
    functionOffsets:
      offsets === undefined ? functionNames.map(() => 0) : asArray(offsets).map(asNumber).reverse(),
  };
}

export function executableFromSource(fileId: string, source: unknown): Executable {
  return {
    fileId,
    buildId: asString(sourceField(source, 'Executable.build.id')),
    fileName: asString(sourceField(source, 'Executable.file.name')) ?? '',
    lastSeen: asNumber(sourceField(source, '@timestamp')),
  };
}

export function hostFromSource(source: unknown): HostMetadata {
  const attributes = sourceField(source, 'uniprof.attributes');
  return {
    hostId: asString(sourceField(source, 'host.id')) ?? '',
    timestamp: asNumber(sourceField(source, '@timestamp')),
    hostName: asString(sourceField(source, 'profiling.host.name')),
    hostIp: asString(sourceField(source, 'profiling.host.ip')),
    arch: asString(sourceField(source, 'profiling.host.machine')),
    osKernel: asString(sourceField(source, 'profiling.host.kernel_version')),
    agentVersion: asString(sourceField(source, 'profiling.agent.version')),
    projectId: asNumber(sourceField(source, 'profiling.project.id')),
    attributes: attributes && typeof attributes === 'object' ? (attributes as Record<string, string>) : {},
  };
}

const isWholeNumber = (value: unknown, min: number): boolean =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min;

/** Rejects what Elasticsearch would reject item by item, before anything of the batch is acknowledged. */
export function validateBatch(batch: ProfileBatch): void {
  batch.events.forEach((event, i) => {
    const where = `event ${i}`;
    if (!isWholeNumber(event.timestamp, 0))
      throw new InvalidBatchError(`${where}: timestamp ${event.timestamp} is not epoch seconds`);
    if (!isWholeNumber(event.count, 1))
      throw new InvalidBatchError(`${where}: count ${event.count} is not a positive integer`);
    if (!event.stackTraceId) throw new InvalidBatchError(`${where}: no stack trace ID`);
    if (typeof event.hostId !== 'string') throw new InvalidBatchError(`${where}: no host ID`);
  });
  batch.stackTraces.forEach((trace, i) => {
    if (!trace.id) throw new InvalidBatchError(`stack trace ${i}: no ID`);
    if (trace.frameIds.length !== trace.frameTypes.length) {
      throw new InvalidBatchError(
        `stack trace ${trace.id}: ${trace.frameIds.length} frame IDs but ${trace.frameTypes.length} frame types`,
      );
    }
  });
  batch.stackFrames.forEach((frame, i) => {
    if (!frame.frameId) throw new InvalidBatchError(`stack frame ${i}: no frame ID`);
  });
  batch.executables.forEach((executable, i) => {
    if (!executable.fileId) throw new InvalidBatchError(`executable ${i}: no file ID`);
    if (!isWholeNumber(executable.lastSeen, 0))
      throw new InvalidBatchError(`executable ${executable.fileId}: lastSeen is not epoch seconds`);
  });
  batch.pendingFrames?.forEach((frame, i) => {
    if (!frame.frameId || !frame.fileId)
      throw new InvalidBatchError(`pending frame ${i}: no frame or file ID`);
    if (!isWholeNumber(frame.address, 0))
      throw new InvalidBatchError(
        `pending frame ${frame.frameId}: address ${frame.address} is not an address`,
      );
  });
  batch.hosts.forEach((host, i) => {
    if (!host.hostId) throw new InvalidBatchError(`host ${i}: no host ID`);
    if (!isWholeNumber(host.timestamp, 0))
      throw new InvalidBatchError(`host ${host.hostId}: timestamp is not epoch seconds`);
  });
}

/**
 * The bulk body lines (action, document, action, document…) for a batch. Every document has a fixed `_id`
 * so that resending after a timeout (when we cannot know whether the first attempt landed) conflicts
 * instead of duplicating: content-addressed documents use their own ID, events and host reports an ID
 * made of `batchId` and their position.
 */
export function bulkLines(batch: ProfileBatch, batchId: string, random: RandomSource): string[] {
  const lines: string[] = [];
  const create = (index: string, id: string, doc: Document) => {
    lines.push(JSON.stringify({ create: { _index: index, _id: id } }), JSON.stringify(doc));
  };
  let sequence = 0;
  const nextId = () => `${batchId}${(sequence++).toString(36)}`;
  for (const event of batch.events) {
    for (let remaining = event.count; remaining > 0; remaining -= MAX_EVENT_COUNT) {
      const count = Math.min(remaining, MAX_EVENT_COUNT);
      create(eventsIndex(0), nextId(), eventDocument(event, count));
      downsampledCounts(count, random).forEach((levelCount, i) => {
        create(eventsIndex(i + 1), nextId(), eventDocument(event, levelCount));
      });
    }
  }
  for (const trace of batch.stackTraces) create(STACKTRACES, trace.id, stackTraceDocument(trace));
  for (const frame of batch.stackFrames) create(STACKFRAMES, frame.frameId, stackFrameDocument(frame));
  for (const executable of batch.executables)
    create(EXECUTABLES, executable.fileId, executableDocument(executable));
  for (const host of batch.hosts) create(HOSTS, nextId(), hostDocument(host));
  return lines;
}

/** Symbolizer output replaces what is there: it knows more than the agent did. */
export function stackFrameOverwriteLines(frames: readonly StackFrameSymbols[]): string[] {
  const lines: string[] = [];
  for (const frame of frames) {
    lines.push(
      JSON.stringify({ index: { _index: STACKFRAMES, _id: frame.frameId } }),
      JSON.stringify(stackFrameDocument(frame)),
    );
  }
  return lines;
}
