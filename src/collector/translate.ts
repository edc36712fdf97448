/**
 * OTLP profiles → the Universal Profiling model.
 *
 * One request becomes one ProfileBatch: an event per (second, stack trace, host, process, container, thread,
 * tags) with the number of samples, plus the stack traces, agent-symbolized frames, executables and hosts the
 * store does not hold yet. Every index in the request is checked; anything wrong rejects the whole request
 * with an InvalidRequestError before anything is returned.
 *
 * Work is done per dictionary entry, not per sample: a location's frame ID, a stack's content-addressed ID and
 * an attribute's meaning are computed once per request, so a sample costs a few array reads and one group
 * lookup.
 */
import type {
  EpochSeconds,
  Executable,
  HostMetadata,
  ProfileBatch,
  ProfilingEvent,
  StackFrameSymbols,
  StackTrace,
} from '../model/index.ts';
import {
  FILE_ID_BYTES,
  FrameType,
  frameTypeFromAgentName,
  isAddressFrame,
  type FrameType as FrameTypeValue,
} from '../model/index.ts';
import { InvalidRequestError } from '../protocol/errors.ts';
import { isZero, nanosToSeconds, toSafeNumber, toUint64, type Int64 } from '../protocol/int64.ts';
import type {
  ExportProfilesServiceRequest,
  KeyValue,
  KeyValueAndUnit,
  Location,
  Mapping,
  Profile,
  ProfileFunction,
  Sample,
  Stack,
} from '../protocol/types.ts';
import { Attr, HOST_ATTRIBUTE_PREFIXES, anyValueText, missingEntry, stringAt } from './attributes.ts';
import { DEFAULT_DEDUP_CAPACITIES, StoredItems, type DedupCapacities } from './dedup.ts';
import { FastFnv1a128, xxh64 } from './hashes.ts';

export interface TranslatorOptions {
  /** How many IDs of each kind to remember as stored. */
  capacities?: Partial<DedupCapacities>;
  /** Project ID of events whose resource has no `profiling.project.id` attribute. */
  defaultProjectId?: number;
  /** Write an executable again after this long, so its "last seen" time stays fresh. */
  executableRefreshSeconds?: number;
  /** Write a host's metadata again after this long (host lists are per time range). */
  hostRefreshSeconds?: number;
}

/** Host fields for requests whose resource attributes name no host (the standalone agent sends none). */
export interface PeerHost {
  hostId?: string;
  hostName?: string;
  hostIp?: string;
}

export interface TranslateContext {
  /** Now, in epoch seconds: executables' last-seen time, host metadata time, events without timestamps. */
  now?: EpochSeconds;
  peer?: PeerHost;
}

export interface Translation {
  batch: ProfileBatch;
  /** Sample occurrences turned into events (the sum of the events' counts). */
  samples: number;
  /** Profiles of kinds the model has no place for (off-CPU time, probe events), left out. */
  skippedProfiles: number;
  /**
   * Call once the store has made `batch` durable: from then on its stack traces, frames, executables and hosts
   * are left out of later batches. If the write failed, do not call it, and the next batch carries them again.
   */
  commit(): void;
}

const EMPTY: readonly never[] = Object.freeze([]);
const DEFAULT_PROJECT_ID = 1;
const DEFAULT_EXECUTABLE_REFRESH_SECONDS = 3600;
const DEFAULT_HOST_REFRESH_SECONDS = 60;
const UNKNOWN_HOST = 'unknown';

/** Keeps the dedup caches between requests; one per collector. */
export class ProfileTranslator {
  private readonly stored: StoredItems;
  private readonly defaultProjectId: number;
  private readonly executableRefresh: number;
  private readonly hostRefresh: number;

  constructor(options: TranslatorOptions = {}) {
    this.stored = new StoredItems({ ...DEFAULT_DEDUP_CAPACITIES, ...options.capacities });
    this.defaultProjectId = options.defaultProjectId ?? DEFAULT_PROJECT_ID;
    this.executableRefresh = options.executableRefreshSeconds ?? DEFAULT_EXECUTABLE_REFRESH_SECONDS;
    this.hostRefresh = options.hostRefreshSeconds ?? DEFAULT_HOST_REFRESH_SECONDS;
  }

  translate(request: ExportProfilesServiceRequest, context: TranslateContext = {}): Translation {
    const now = context.now ?? Math.floor(Date.now() / 1000);
    const scope = new RequestScope(request, {
      now,
      peer: context.peer ?? {},
      defaultProjectId: this.defaultProjectId,
      stored: this.stored,
      executableRefresh: this.executableRefresh,
      hostRefresh: this.hostRefresh,
    });
    const result = scope.run();
    const stored = this.stored;
    let committed = false;
    return {
      ...result,
      commit() {
        if (committed) return;
        committed = true;
        const { batch } = result;
        for (const trace of batch.stackTraces) stored.stackTraces.set(trace.id, true);
        for (const frame of batch.stackFrames) stored.stackFrames.set(frame.frameId, true);
        for (const executable of batch.executables) stored.executables.set(executable.fileId, now);
        for (const host of batch.hosts) stored.hosts.set(host.hostId, now);
      },
    };
  }

  /** Forgets everything: the next batches carry every stack trace, frame, executable and host again. */
  reset(): void {
    this.stored.clear();
  }
}

/** Translation without memory between requests: everything a request references is in its batch. */
export function translateRequest(
  request: ExportProfilesServiceRequest,
  context: TranslateContext = {},
): Translation {
  return new ProfileTranslator({
    capacities: { stackTraces: 0, stackFrames: 0, executables: 0, hosts: 0 },
  }).translate(request, context);
}

interface ScopeSettings {
  now: EpochSeconds;
  peer: PeerHost;
  defaultProjectId: number;
  stored: StoredItems;
  executableRefresh: number;
  hostRefresh: number;
}

/** What a location contributes to frame IDs, stack trace IDs and frame documents. */
interface LocationInfo {
  fileId: Uint8Array;
  addressOrLine: bigint;
  frameType: FrameTypeValue;
  /** File ID bytes followed by the address-or-line in decimal: exactly what the stack trace hash consumes. */
  hashInput: Uint8Array;
  frameId: string | undefined;
  symbols: Omit<StackFrameSymbols, 'frameId'> | undefined;
}

interface StackInfo {
  /** Empty for a stack without locations: its samples carry nothing to store. */
  id: string;
  locationIndices: readonly number[];
}

/** What a sample attribute means for the event it lands in. */
const SampleRole = { Other: 0, ThreadName: 1, ExecutableName: 2, ServiceName: 3, Tag: 4 } as const;
type SampleRole = (typeof SampleRole)[keyof typeof SampleRole];

interface AttributeInfo {
  key: string;
  value: string;
  role: SampleRole;
}

/** The event fields every sample of one profile shares. */
interface EventContext {
  index: number;
  hostId: string;
  hostName: string | undefined;
  hostIp: string | undefined;
  processName: string | undefined;
  containerId: string | undefined;
  containerName: string | undefined;
  podName: string | undefined;
  k8sNamespace: string | undefined;
  serviceName: string | undefined;
  projectId: number;
  agentVersion: string | undefined;
  osKernel: string | undefined;
  /** Seconds to use for samples without timestamps. */
  profileSecond: EpochSeconds;
}

/** Samples that become the same event rows (they differ at most in fields the model does not keep). */
interface EventGroup {
  context: EventContext;
  stackTraceId: string;
  threadName: string | undefined;
  processName: string | undefined;
  serviceName: string | undefined;
  tags: string[];
  seconds: number[];
  counts: number[];
}

const ON_CPU_SAMPLE_TYPE = 'samples';
const ON_CPU_SAMPLE_UNIT = 'count';

class RequestScope {
  private readonly strings: readonly string[];
  private readonly mappings: readonly Mapping[];
  private readonly locations: readonly Location[];
  private readonly functions: readonly ProfileFunction[];
  private readonly stacks: readonly Stack[];
  private readonly attributes: readonly KeyValueAndUnit[];

  private readonly mappingFileIds: (Uint8Array | null | undefined)[];
  private readonly locationInfos: (LocationInfo | undefined)[];
  private readonly stackInfos: (StackInfo | undefined)[];
  private readonly attributeInfos: (AttributeInfo | undefined)[];

  private readonly batch: ProfileBatch = {
    events: [],
    stackTraces: [],
    stackFrames: [],
    executables: [],
    hosts: [],
  };
  private readonly stacksInBatch = new Set<string>();
  private readonly framesInBatch = new Set<string>();
  private readonly hostsInBatch = new Set<string>();
  private readonly hasher = new FastFnv1a128();
  private readonly digest = new Uint8Array(16);

  private readonly numericGroups = new Map<number, EventGroup>();
  private readonly textGroups = new Map<string, EventGroup>();
  private readonly groups: EventGroup[] = [];
  private contextCount = 0;
  private samples = 0;
  private skippedProfiles = 0;

  constructor(
    private readonly request: ExportProfilesServiceRequest,
    private readonly settings: ScopeSettings,
  ) {
    const dictionary = request.dictionary;
    this.strings = dictionary?.stringTable ?? EMPTY;
    this.mappings = dictionary?.mappingTable ?? EMPTY;
    this.locations = dictionary?.locationTable ?? EMPTY;
    this.functions = dictionary?.functionTable ?? EMPTY;
    this.stacks = dictionary?.stackTable ?? EMPTY;
    this.attributes = dictionary?.attributeTable ?? EMPTY;
    this.mappingFileIds = new Array(this.mappings.length);
    this.locationInfos = new Array(this.locations.length);
    this.stackInfos = new Array(this.stacks.length);
    this.attributeInfos = new Array(this.attributes.length);
  }

  run(): Omit<Translation, 'commit'> {
    const resources = this.request.resourceProfiles ?? EMPTY;
    for (let r = 0; r < resources.length; r++) {
      const resource = resources[r];
      const where = `resource_profiles[${r}]`;
      const resourceAttributes = this.keyValues(
        resource.resource?.attributes ?? EMPTY,
        `${where}.resource.attributes`,
      );
      const scopes = resource.scopeProfiles ?? EMPTY;
      for (let s = 0; s < scopes.length; s++) {
        const scopeProfiles = scopes[s];
        const scopeWhere = `${where}.scope_profiles[${s}]`;
        const scopeAttributes = this.keyValues(
          scopeProfiles.scope?.attributes ?? EMPTY,
          `${scopeWhere}.scope.attributes`,
        );
        const agentVersion = scopeProfiles.scope?.version || undefined;
        const profiles = scopeProfiles.profiles ?? EMPTY;
        for (let p = 0; p < profiles.length; p++) {
          const profile = profiles[p];
          const profileWhere = `${scopeWhere}.profiles[${p}]`;
          if (!this.isOnCpuProfile(profile, profileWhere)) {
            this.skippedProfiles++;
            continue;
          }
          const attributes = new Map([...resourceAttributes, ...scopeAttributes]);
          this.addProfileAttributes(attributes, profile, profileWhere);
          const context = this.eventContext(attributes, agentVersion, profile);
          this.noteHost(context, attributes);
          this.addSamples(profile, context, profileWhere);
        }
      }
    }
    this.addExecutables();
    this.emitEvents();
    return { batch: this.batch, samples: this.samples, skippedProfiles: this.skippedProfiles };
  }

  // ---- profiles and their context -------------------------------------------------------------------------

  private isOnCpuProfile(profile: Profile, where: string): boolean {
    const sampleType = profile.sampleType;
    if (!sampleType) return false;
    const type = stringAt(this.strings, sampleType.typeStrindex ?? 0, `${where}.sample_type.type_strindex`);
    const unit = stringAt(this.strings, sampleType.unitStrindex ?? 0, `${where}.sample_type.unit_strindex`);
    return type.toLowerCase() === ON_CPU_SAMPLE_TYPE && unit.toLowerCase() === ON_CPU_SAMPLE_UNIT;
  }

  private keyValues(list: readonly KeyValue[], where: string): Map<string, string> {
    const result = new Map<string, string>();
    for (let i = 0; i < list.length; i++) {
      const kv = list[i];
      const key =
        kv.key ||
        (kv.keyStrindex ? stringAt(this.strings, kv.keyStrindex, `${where}[${i}].key_strindex`) : '');
      if (!key) continue;
      result.set(key, anyValueText(kv.value, this.strings, `${where}[${i}].value`));
    }
    return result;
  }

  private addProfileAttributes(attributes: Map<string, string>, profile: Profile, where: string): void {
    const indices = profile.attributeIndices ?? EMPTY;
    for (let i = 0; i < indices.length; i++) {
      const info = this.attribute(indices[i], `${where}.attribute_indices[${i}]`);
      attributes.set(info.key, info.value);
    }
  }

  private eventContext(
    attributes: Map<string, string>,
    agentVersion: string | undefined,
    profile: Profile,
  ): EventContext {
    const peer = this.settings.peer;
    const hostIp = attributes.get(Attr.hostIp) || peer.hostIp;
    const hostName = attributes.get(Attr.hostName) || peer.hostName;
    const projectText = attributes.get(Attr.projectId);
    const project = projectText ? Number(projectText) : NaN;
    const profileNanos = profile.timeUnixNano ?? 0;
    return {
      index: this.contextCount++,
      hostId: attributes.get(Attr.hostId) || peer.hostId || hostName || hostIp || UNKNOWN_HOST,
      hostName,
      hostIp,
      processName: attributes.get(Attr.executableName) || undefined,
      containerId: attributes.get(Attr.containerId) || undefined,
      containerName: attributes.get(Attr.containerName) || undefined,
      podName: attributes.get(Attr.podName) || undefined,
      k8sNamespace: attributes.get(Attr.namespace) || undefined,
      serviceName: attributes.get(Attr.serviceName) || undefined,
      projectId: Number.isSafeInteger(project) && project >= 0 ? project : this.settings.defaultProjectId,
      agentVersion,
      osKernel: attributes.get(Attr.osKernel) || attributes.get(Attr.osVersion) || undefined,
      profileSecond: isZero(profileNanos) ? this.settings.now : nanosToSeconds(profileNanos),
    };
  }

  private noteHost(context: EventContext, attributes: Map<string, string>): void {
    const hostId = context.hostId;
    if (this.hostsInBatch.has(hostId)) return;
    this.hostsInBatch.add(hostId);
    const lastWritten = this.settings.stored.hosts.get(hostId);
    if (lastWritten !== undefined && this.settings.now - lastWritten < this.settings.hostRefresh) return;
    const hostAttributes: Record<string, string> = {};
    for (const [key, value] of attributes) {
      if (HOST_ATTRIBUTE_PREFIXES.some((prefix) => key.startsWith(prefix))) hostAttributes[key] = value;
    }
    const host: HostMetadata = {
      hostId,
      timestamp: this.settings.now,
      hostName: context.hostName,
      hostIp: context.hostIp,
      arch: attributes.get(Attr.hostArch) || undefined,
      osKernel: context.osKernel,
      agentVersion: context.agentVersion,
      projectId: context.projectId,
      attributes: hostAttributes,
    };
    this.batch.hosts.push(host);
  }

  // ---- samples → event groups -----------------------------------------------------------------------------

  private addSamples(profile: Profile, context: EventContext, where: string): void {
    const samples = profile.samples ?? EMPTY;
    // A number key (context, stack, thread-name attribute) avoids building a string per sample; it is exact
    // as long as the product of the three ranges stays below 2^53.
    const stackSpan = this.stacks.length;
    const attributeSpan = this.attributes.length + 1;
    const numericKeys = (context.index + 1) * stackSpan * attributeSpan < Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i];
      const stackIndex = sample.stackIndex ?? 0;
      const stack = this.stack(stackIndex, where, i);
      const group = this.groupFor(
        sample,
        stack,
        stackIndex,
        context,
        numericKeys,
        stackSpan,
        attributeSpan,
        where,
        i,
      );
      if (group) this.addOccurrences(group, sample, context, where, i);
    }
  }

  private groupFor(
    sample: Sample,
    stack: StackInfo,
    stackIndex: number,
    context: EventContext,
    numericKeys: boolean,
    stackSpan: number,
    attributeSpan: number,
    where: string,
    sampleIndex: number,
  ): EventGroup | undefined {
    const indices = sample.attributeIndices ?? EMPTY;
    let threadAttribute = 0;
    let otherRoles = false;
    for (let a = 0; a < indices.length; a++) {
      const index = indices[a];
      const info = this.attribute(index, `${where}.samples[${sampleIndex}].attribute_indices[${a}]`);
      if (info.role === SampleRole.ThreadName) threadAttribute = index;
      else if (info.role !== SampleRole.Other) otherRoles = true;
    }
    if (!stack.id) return undefined;
    if (numericKeys && !otherRoles) {
      const key = (context.index * stackSpan + stackIndex) * attributeSpan + threadAttribute;
      let group = this.numericGroups.get(key);
      if (!group) {
        group = this.newGroup(context, stack, indices);
        this.numericGroups.set(key, group);
      }
      return group;
    }
    const key = `${context.index}/${stackIndex}/${this.relevantAttributes(indices).join(',')}`;
    let group = this.textGroups.get(key);
    if (!group) {
      group = this.newGroup(context, stack, indices);
      this.textGroups.set(key, group);
    }
    return group;
  }

  private relevantAttributes(indices: readonly number[]): number[] {
    const relevant: number[] = [];
    for (const index of indices)
      if (this.attributeInfos[index]!.role !== SampleRole.Other) relevant.push(index);
    return relevant.sort((a, b) => a - b);
  }

  private newGroup(context: EventContext, stack: StackInfo, indices: readonly number[]): EventGroup {
    const group: EventGroup = {
      context,
      stackTraceId: stack.id,
      threadName: undefined,
      processName: context.processName,
      serviceName: context.serviceName,
      tags: [],
      seconds: [],
      counts: [],
    };
    for (const index of indices) {
      const info = this.attributeInfos[index]!;
      switch (info.role) {
        case SampleRole.ThreadName:
          group.threadName = info.value;
          break;
        case SampleRole.ExecutableName:
          group.processName = info.value;
          break;
        case SampleRole.ServiceName:
          group.serviceName = info.value;
          break;
        case SampleRole.Tag:
          group.tags.push(`${info.key.slice(Attr.labelPrefix.length)}:${info.value}`);
          break;
        default:
          break;
      }
    }
    group.tags.sort();
    this.groups.push(group);
    return group;
  }

  private addOccurrences(
    group: EventGroup,
    sample: Sample,
    context: EventContext,
    where: string,
    i: number,
  ): void {
    const timestamps = sample.timestampsUnixNano ?? EMPTY;
    const values = sample.values ?? EMPTY;
    if (timestamps.length === 0) {
      let count = values.length === 0 ? 1 : 0;
      for (let v = 0; v < values.length; v++) count += this.count(values[v], where, i, v);
      this.addCount(group, context.profileSecond, count);
      return;
    }
    for (let t = 0; t < timestamps.length; t++) {
      const count = t < values.length ? this.count(values[t], where, i, t) : 1;
      this.addCount(group, nanosToSeconds(timestamps[t]), count);
    }
  }

  private count(value: Int64, where: string, sampleIndex: number, valueIndex: number): number {
    const count = toSafeNumber(value);
    if (count === undefined || count < 0) {
      throw new InvalidRequestError(
        'bad_value',
        `${where}.samples[${sampleIndex}].values[${valueIndex}] = ${String(value)} is not a valid sample count`,
      );
    }
    return count;
  }

  private addCount(group: EventGroup, second: number, count: number): void {
    if (count === 0) return;
    this.samples += count;
    const seconds = group.seconds;
    for (let s = seconds.length - 1; s >= 0; s--) {
      if (seconds[s] === second) {
        group.counts[s] += count;
        return;
      }
    }
    seconds.push(second);
    group.counts.push(count);
  }

  private emitEvents(): void {
    const events = this.batch.events;
    for (const group of this.groups) {
      const context = group.context;
      for (let s = 0; s < group.seconds.length; s++) {
        const event: ProfilingEvent = {
          timestamp: group.seconds[s],
          stackTraceId: group.stackTraceId,
          count: group.counts[s],
          hostId: context.hostId,
          hostName: context.hostName,
          hostIp: context.hostIp,
          threadName: group.threadName,
          processName: group.processName,
          containerId: context.containerId,
          containerName: context.containerName,
          podName: context.podName,
          k8sNamespace: context.k8sNamespace,
          serviceName: group.serviceName,
          tags: group.tags,
          projectId: context.projectId,
          agentVersion: context.agentVersion,
          osKernel: context.osKernel,
        };
        events.push(event);
      }
    }
  }

  // ---- dictionary entries, each resolved once per request -------------------------------------------------

  private attribute(index: number, where: string): AttributeInfo {
    const cached = this.attributeInfos[index];
    if (cached) return cached;
    const entry = this.attributes[index];
    if (entry === undefined || !Number.isInteger(index)) {
      throw missingEntry('attribute_table', this.attributes.length, index, where);
    }
    const entryWhere = `dictionary.attribute_table[${index}]`;
    const key = stringAt(this.strings, entry.keyStrindex ?? 0, `${entryWhere}.key_strindex`);
    const value = anyValueText(entry.value, this.strings, `${entryWhere}.value`);
    const info: AttributeInfo = { key, value, role: sampleRole(key) };
    this.attributeInfos[index] = info;
    return info;
  }

  private stack(index: number, where: string, sampleIndex: number): StackInfo {
    const cached = this.stackInfos[index];
    if (cached) return cached;
    const stack = this.stacks[index];
    if (stack === undefined || !Number.isInteger(index)) {
      throw missingEntry(
        'stack_table',
        this.stacks.length,
        index,
        `${where}.samples[${sampleIndex}].stack_index`,
      );
    }
    const locationIndices = stack.locationIndices ?? EMPTY;
    const hasher = this.hasher.reset();
    for (let l = 0; l < locationIndices.length; l++) {
      const location = this.location(
        locationIndices[l],
        `dictionary.stack_table[${index}].location_indices[${l}]`,
      );
      hasher.update(location.hashInput);
    }
    const id =
      locationIndices.length === 0 ? '' : Buffer.from(hasher.digestInto(this.digest)).toString('base64url');
    const info: StackInfo = { id, locationIndices };
    this.stackInfos[index] = info;
    if (id) this.emitStackTrace(info);
    return info;
  }

  private emitStackTrace(stack: StackInfo): void {
    // Two stack table entries may hold the same frames: emit the trace once.
    if (this.stacksInBatch.has(stack.id)) return;
    this.stacksInBatch.add(stack.id);
    if (this.settings.stored.stackTraces.get(stack.id)) return;
    const count = stack.locationIndices.length;
    const frameIds = new Array<string>(count);
    const frameTypes = new Array<FrameTypeValue>(count);
    for (let l = 0; l < count; l++) {
      const location = this.locationInfos[stack.locationIndices[l]]!;
      frameIds[l] = this.frameId(location);
      frameTypes[l] = location.frameType;
      if (location.symbols) this.emitFrameSymbols(location);
    }
    const trace: StackTrace = { id: stack.id, frameIds, frameTypes };
    this.batch.stackTraces.push(trace);
  }

  private emitFrameSymbols(location: LocationInfo): void {
    const frameId = this.frameId(location);
    if (this.framesInBatch.has(frameId)) return;
    this.framesInBatch.add(frameId);
    if (this.settings.stored.stackFrames.get(frameId)) return;
    this.batch.stackFrames.push({ frameId, ...location.symbols! });
  }

  private frameId(location: LocationInfo): string {
    if (location.frameId === undefined) {
      const bytes = Buffer.allocUnsafe(FILE_ID_BYTES + 8);
      bytes.set(location.fileId, 0);
      bytes.writeBigUInt64BE(BigInt.asUintN(64, location.addressOrLine), FILE_ID_BYTES);
      location.frameId = bytes.toString('base64url');
    }
    return location.frameId;
  }

  private location(index: number, where: string): LocationInfo {
    const cached = this.locationInfos[index];
    if (cached) return cached;
    const location = this.locations[index];
    if (location === undefined || !Number.isInteger(index)) {
      throw missingEntry('location_table', this.locations.length, index, where);
    }
    const locationWhere = `dictionary.location_table[${index}]`;
    const lines = location.lines ?? EMPTY;
    const functions = lines.map((line, i) =>
      this.function(line.functionIndex ?? 0, `${locationWhere}.lines[${i}].function_index`),
    );
    const mappingIndex = location.mappingIndex ?? 0;
    const mappedFileId = this.mappingFileId(mappingIndex, `${locationWhere}.mapping_index`);
    const frameType = this.frameType(location, mappedFileId !== null, lines.length > 0, locationWhere);

    let addressOrLine = 0n;
    if (!isZero(location.address)) addressOrLine = toUint64(location.address);
    else if (lines.length > 0) addressOrLine = toUint64(lines[lines.length - 1].line);

    const fileId = mappedFileId ?? this.syntheticFileId(location, functions);
    const digits = Buffer.from(addressOrLine.toString(10), 'latin1');
    const hashInput = new Uint8Array(FILE_ID_BYTES + digits.length);
    hashInput.set(fileId, 0);
    hashInput.set(digits, FILE_ID_BYTES);

    const info: LocationInfo = {
      fileId,
      addressOrLine,
      frameType,
      hashInput,
      frameId: undefined,
      symbols: this.symbols(location, functions, frameType),
    };
    this.locationInfos[index] = info;
    return info;
  }

  private function(index: number, where: string): { name: string; fileName: string; startLine: bigint } {
    const entry = this.functions[index];
    if (entry === undefined || !Number.isInteger(index)) {
      throw missingEntry('function_table', this.functions.length, index, where);
    }
    const functionWhere = `dictionary.function_table[${index}]`;
    return {
      name: stringAt(this.strings, entry.nameStrindex ?? 0, `${functionWhere}.name_strindex`),
      fileName: stringAt(this.strings, entry.filenameStrindex ?? 0, `${functionWhere}.filename_strindex`),
      startLine: toUint64(entry.startLine),
    };
  }

  /** Frames the agent resolved itself (interpreters, kernel symbols) keep their names in a frame document. */
  private symbols(
    location: Location,
    functions: readonly { name: string; fileName: string; startLine: bigint }[],
    frameType: FrameTypeValue,
  ): Omit<StackFrameSymbols, 'frameId'> | undefined {
    if (!functions.some((f) => f.name !== '' || f.fileName !== '')) return undefined;
    const lines = location.lines ?? EMPTY;
    const lineNumbers = lines.map((line) => Number(BigInt.asIntN(32, toUint64(line.line))));
    return {
      functionNames: functions.map((f) => f.name),
      fileNames: functions.map((f) => f.fileName),
      lineNumbers,
      // Interpreted frames count the offset in lines from the function's start, when the agent says where that is.
      functionOffsets: functions.map((f, i) =>
        !isAddressFrame(frameType) && f.startLine > 0n
          ? Math.max(0, lineNumbers[i] - Number(f.startLine))
          : 0,
      ),
    };
  }

  private frameType(
    location: Location,
    hasFileId: boolean,
    hasLines: boolean,
    where: string,
  ): FrameTypeValue {
    const indices = location.attributeIndices ?? EMPTY;
    for (let a = 0; a < indices.length; a++) {
      const info = this.attribute(indices[a], `${where}.attribute_indices[${a}]`);
      if (info.key === Attr.frameType) return frameTypeFromAgentName(info.value) ?? FrameType.Unknown;
    }
    // Senders other than the agent may leave the type out: a mapped address without source lines is native code.
    return hasFileId && !hasLines ? FrameType.Native : FrameType.Unknown;
  }

  /** The mapping's file ID, or null for "no file" (mapping 0, or a mapping without the attribute). */
  private mappingFileId(index: number, where: string): Uint8Array | null {
    const cached = this.mappingFileIds[index];
    if (cached !== undefined) return cached;
    const mapping = this.mappings[index];
    if (mapping === undefined || !Number.isInteger(index)) {
      if (index === 0 && this.mappings.length === 0) return null;
      throw missingEntry('mapping_table', this.mappings.length, index, where);
    }
    const hex = this.mappingAttribute(mapping, index, Attr.fileId);
    let fileId: Uint8Array | null = null;
    if (hex) {
      if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
        throw new InvalidRequestError(
          'bad_attribute',
          `dictionary.mapping_table[${index}] has ${Attr.fileId} "${hex.slice(0, 64)}": expected 32 hex digits`,
        );
      }
      const bytes = Buffer.from(hex, 'hex');
      if (bytes.some((b) => b !== 0)) fileId = bytes;
    }
    this.mappingFileIds[index] = fileId;
    return fileId;
  }

  private mappingAttribute(mapping: Mapping, mappingIndex: number, key: string): string | undefined {
    const indices = mapping.attributeIndices ?? EMPTY;
    for (let a = 0; a < indices.length; a++) {
      const info = this.attribute(
        indices[a],
        `dictionary.mapping_table[${mappingIndex}].attribute_indices[${a}]`,
      );
      if (info.key === key) return info.value;
    }
    return undefined;
  }

  /**
   * Interpreted frames come without a file: their file ID is XXH64 over each line's function name, file name,
   * line and column (8 bytes big-endian each), used for both halves of the ID — the exporter's rule, so the
   * same frame gets the same ID whichever path wrote it.
   */
  private syntheticFileId(
    location: Location,
    functions: readonly { name: string; fileName: string }[],
  ): Uint8Array {
    const lines = location.lines ?? EMPTY;
    const parts: Buffer[] = [];
    for (let i = 0; i < lines.length; i++) {
      const numbers = Buffer.allocUnsafe(16);
      numbers.writeBigUInt64BE(toUint64(lines[i].line), 0);
      numbers.writeBigUInt64BE(toUint64(lines[i].column), 8);
      parts.push(Buffer.from(functions[i].name, 'utf8'), Buffer.from(functions[i].fileName, 'utf8'), numbers);
    }
    const hash = xxh64(Buffer.concat(parts));
    const fileId = Buffer.allocUnsafe(FILE_ID_BYTES);
    fileId.writeBigUInt64BE(hash, 0);
    fileId.writeBigUInt64BE(hash, 8);
    return fileId;
  }

  // ---- executables ----------------------------------------------------------------------------------------

  private addExecutables(): void {
    const { now, stored, executableRefresh } = this.settings;
    const seen = new Set<string>();
    for (let m = 1; m < this.mappings.length; m++) {
      const mapping = this.mappings[m];
      const fileName = stringAt(
        this.strings,
        mapping.filenameStrindex ?? 0,
        `dictionary.mapping_table[${m}].filename_strindex`,
      );
      const fileIdBytes = this.mappingFileId(m, `dictionary.mapping_table[${m}]`);
      if (!fileName || !fileIdBytes) continue;
      const fileId = Buffer.from(fileIdBytes).toString('base64url');
      if (seen.has(fileId)) continue;
      seen.add(fileId);
      const lastWritten = stored.executables.get(fileId);
      if (lastWritten !== undefined && now - lastWritten < executableRefresh) continue;
      const executable: Executable = { fileId, fileName, lastSeen: now };
      const buildId = this.mappingAttribute(mapping, m, Attr.gnuBuildId);
      if (buildId) executable.buildId = buildId;
      this.batch.executables.push(executable);
    }
  }
}

function sampleRole(key: string): SampleRole {
  switch (key) {
    case Attr.threadName:
      return SampleRole.ThreadName;
    case Attr.executableName:
      return SampleRole.ExecutableName;
    case Attr.serviceName:
      return SampleRole.ServiceName;
    default:
      return key.startsWith(Attr.labelPrefix) ? SampleRole.Tag : SampleRole.Other;
  }
}
