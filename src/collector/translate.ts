/**
 * OTLP profiles → the Universal Profiling model.
 *
 * One request becomes one ProfileBatch: an event per (second, stack trace, host, process, container, thread,
 * tags) with the number of samples, plus the stack traces, agent-symbolized frames, executables and hosts the
 * store does not hold yet, and the native frames of new stack traces that wait for the symbolizer. Every index in the request is checked; anything wrong rejects the whole request
 * with an InvalidRequestError before anything is returned.
 *
 * Work is done per dictionary entry, not per sample: a location's frame ID, a stack's content-addressed ID and
 * an attribute's meaning are computed once per request, so a sample costs a few array reads and one group
 * lookup.
 */
import type {
  EpochSeconds,
  EventColumns,
  EventDimensions,
  Executable,
  HostMetadata,
  PendingFrame,
  ProfileBatch,
  ProfilingEvent,
  StackFrameSymbols,
  StackTrace,
} from '../model/index.ts';
import {
  FILE_ID_BYTES,
  Fnv1a128,
  eventsFromColumns,
  FrameType,
  frameTypeFromAgentName,
  isAddressFrame,
  SAMPLING_FREQUENCY_ATTRIBUTE,
  type FrameType as FrameTypeValue,
} from '../model/index.ts';
import { InvalidRequestError } from '../protocol/errors.ts';
import { nanosHalvesToSeconds as importedNanosHalvesToSeconds } from '../protocol/int64.ts';
import { requestView } from '../protocol/otlp-profiles.ts';
import type { ExportProfilesServiceRequest, KeyValue } from '../protocol/types.ts';
import {
  LocationEntry,
  StackEntry,
  type DictionaryView,
  type ProfileView,
  type RequestView,
} from '../protocol/view.ts';
import { Attr, HOST_ATTRIBUTE_PREFIXES, anyValueText, missingEntry, stringAt } from './attributes.ts';
import {
  DEFAULT_DEDUP_CAPACITIES,
  FingerprintIdCache,
  FrameState,
  StoredItems,
  SyntheticIdCache,
  type DedupCapacities,
  type StoredIds,
} from './dedup.ts';
import { xxh64 } from './hashes.ts';
import { hostIdentity, type PeerHost } from './host-identity.ts';

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
/** A module-local reference: calls through an imported binding cost an accessor each under the TS loader. */
const nanosHalvesToSeconds = importedNanosHalvesToSeconds;
const DEFAULT_PROJECT_ID = 1;
const DEFAULT_EXECUTABLE_REFRESH_SECONDS = 3600;
const DEFAULT_HOST_REFRESH_SECONDS = 60;

/** Keeps the dedup caches between requests; one per collector. */
export class ProfileTranslator {
  private readonly stored: StoredItems;
  private readonly defaultProjectId: number;
  private readonly executableRefresh: number;
  private readonly hostRefresh: number;
  /** Synthetic file IDs by frame content: XXH64 is worth computing once per frame, not once per request. */
  private readonly syntheticFileIds = new SyntheticIdCache(200_000);
  /** Stack trace IDs by stack content fingerprint (see fingerprint.ts). */
  private readonly stackIds = new FingerprintIdCache(500_000);
  private readonly scratch = new TranslationScratch();

  constructor(options: TranslatorOptions = {}) {
    this.stored = new StoredItems({ ...DEFAULT_DEDUP_CAPACITIES, ...options.capacities });
    this.defaultProjectId = options.defaultProjectId ?? DEFAULT_PROJECT_ID;
    this.executableRefresh = options.executableRefreshSeconds ?? DEFAULT_EXECUTABLE_REFRESH_SECONDS;
    this.hostRefresh = options.hostRefreshSeconds ?? DEFAULT_HOST_REFRESH_SECONDS;
  }

  /**
   * Translates one request. A request from decodeExportRequest (or a view from decodeExportRequestView) is read
   * in its columnar form; any other request object is encoded and decoded into that form first.
   */
  translate(
    request: ExportProfilesServiceRequest | RequestView,
    context: TranslateContext = {},
  ): Translation {
    const now = context.now ?? Math.floor(Date.now() / 1000);
    const view = isView(request) ? request : requestView(request);
    const scope = new RequestScope(view, {
      now,
      peer: context.peer ?? {},
      defaultProjectId: this.defaultProjectId,
      stored: this.stored,
      executableRefresh: this.executableRefresh,
      hostRefresh: this.hostRefresh,
      syntheticFileIds: this.syntheticFileIds,
      stackIds: this.stackIds,
      scratch: this.scratch,
    });
    const { batch, samples, skippedProfiles, tracePrints, frameLocations, pendingLocations } = scope.run();
    const stored = this.stored;
    const stackIds = this.stackIds;
    let committed = false;
    return {
      batch,
      samples,
      skippedProfiles,
      commit() {
        if (committed) return;
        committed = true;
        for (const trace of batch.stackTraces) stored.stackTraces.set(trace.id, true);
        for (const location of frameLocations) {
          stored.frames.raise(
            location.fileId,
            location.addressOrLineLo,
            location.addressOrLineHi,
            FrameState.Stored,
          );
        }
        for (const executable of batch.executables) stored.executables.set(executable.fileId, now);
        for (const host of batch.hosts) stored.hosts.set(host.hostId, now);
        const pending = batch.pendingFrames ?? EMPTY;
        for (let i = 0; i < pending.length; i++) {
          const { fileId, addressOrLineLo, addressOrLineHi } = pendingLocations[i];
          const state = pending[i].leaf === true ? FrameState.QueuedLeaf : FrameState.Queued;
          stored.frames.raise(fileId, addressOrLineLo, addressOrLineHi, state);
        }
        // The fast "stored" flag only stands for what the stored-trace memory would remember.
        if (stored.stackTraces.capacity === 0) return;
        for (let p = 0; p < tracePrints.length; p += 4)
          stackIds.markStored(tracePrints[p], tracePrints[p + 1], tracePrints[p + 2], tracePrints[p + 3]);
      },
    };
  }

  /** Forgets everything: the next batches carry every stack trace, frame, executable and host again. */
  reset(): void {
    this.stored.clear();
    this.stackIds.forgetStored();
  }

  /** Forgets these stored rows only (the store's retention is about to delete them). */
  forget(ids: StoredIds): void {
    this.stored.forget(ids);
    if (ids.stackTraces && ids.stackTraces.length > 0)
      this.stackIds.forgetStoredIds(new Set(ids.stackTraces));
  }
}

/** Translation without memory between requests: everything a request references is in its batch. */
export function translateRequest(
  request: ExportProfilesServiceRequest | RequestView,
  context: TranslateContext = {},
): Translation {
  return new ProfileTranslator({
    capacities: { stackTraces: 0, frames: 0, executables: 0, hosts: 0 },
  }).translate(request, context);
}

interface ScopeSettings {
  now: EpochSeconds;
  peer: PeerHost;
  defaultProjectId: number;
  stored: StoredItems;
  executableRefresh: number;
  hostRefresh: number;
  syntheticFileIds: SyntheticIdCache;
  stackIds: FingerprintIdCache;
  scratch: TranslationScratch;
}

/**
 * Working arrays kept from request to request: a request has tens of thousands of locations and hundreds of
 * events, and fresh arrays for each one showed as garbage-collection time. Translation is synchronous, so one
 * translator's requests never use them at the same time.
 */
class TranslationScratch {
  locationPrints = new Int32Array(0);
  locationPrinted = new Uint8Array(0);
  /** Event cells: a second, its count, and the next cell of the same group (-1: last). */
  cellSecond = new Float64Array(1024);
  cellCount = new Float64Array(1024);
  cellNext = new Int32Array(1024);

  roomForCell(cell: number): void {
    if (cell < this.cellNext.length) return;
    const grow = <T extends Float64Array | Int32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    const capacity = 2 * this.cellNext.length;
    this.cellSecond = grow(this.cellSecond, new Float64Array(capacity));
    this.cellCount = grow(this.cellCount, new Float64Array(capacity));
    this.cellNext = grow(this.cellNext, new Int32Array(capacity));
  }

  /** Room for `locations` entries, none of them marked as fingerprinted. */
  prepare(locations: number): this {
    if (this.locationPrinted.length < locations) {
      const capacity = Math.max(locations, 2 * this.locationPrinted.length);
      this.locationPrints = new Int32Array(2 * capacity);
      this.locationPrinted = new Uint8Array(capacity);
    } else this.locationPrinted.fill(0, 0, locations);
    return this;
  }
}

function isView(request: ExportProfilesServiceRequest | RequestView): request is RequestView {
  return 'revision' in request && 'resources' in request;
}

/** What a location contributes to frame IDs, stack trace IDs and frame documents. */
interface LocationInfo {
  fileId: Uint8Array;
  /** The address-or-line as unsigned 32-bit halves. */
  addressOrLineLo: number;
  addressOrLineHi: number;
  frameType: FrameTypeValue;
  frameId: string | undefined;
  /** The location table index, where its lines are read again for a frame document. */
  index: number;
  /** Whether any of its lines names a function or file (the agent symbolized it). */
  symbolized: boolean;
  /** A native frame in a mapped file that the agent did not symbolize: the symbolizer's work. */
  needsSymbols: boolean;
}

/** What a sample attribute means for the event it lands in. */
const SampleRole = { Other: 0, ThreadName: 1, ExecutableName: 2, ServiceName: 3, Tag: 4 } as const;
type SampleRole = (typeof SampleRole)[keyof typeof SampleRole];

interface AttributeInfo {
  key: string;
  value: string;
  role: SampleRole;
  /** For `profile.frame.type` attributes: the frame type the value names. */
  frameType: FrameTypeValue;
}

/** The event fields every sample of one profile shares. */
interface EventContext {
  index: number;
  /** Event dimensions of the samples that name only their thread, by thread attribute (0: none). */
  dimensionsByThread: Map<number, EventDimensions>;
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

/**
 * Samples that become the same event rows (they differ at most in fields the model does not keep). Its counts
 * per second live in the scratch's cell columns, a linked list per group: most groups have one second, and
 * two arrays per group would allocate room for seventeen.
 */
interface EventGroup {
  stackTraceId: string;
  /** The sample attribute that named the thread (0: none; -1: the group is keyed by more attributes). */
  threadAttribute: number;
  dimensions: EventDimensions;
  firstCell: number;
  lastCell: number;
  /** The next group of the same profile and stack with another thread (-1: none). */
  nextOfStack: number;
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/**
 * A batch whose events are `columns`; event objects are built only if something reads `events`. Replacing
 * `events` drops the columns, so no writer reads stale ones.
 */
function batchWithEventColumns(columns: EventColumns): ProfileBatch {
  let events: ProfilingEvent[] | undefined;
  const batch: ProfileBatch = {
    eventColumns: columns,
    get events(): ProfilingEvent[] {
      return (events ??= eventsFromColumns(columns));
    },
    set events(replacement: ProfilingEvent[]) {
      events = replacement;
      batch.eventColumns = undefined;
    },
    stackTraces: [],
    stackFrames: [],
    executables: [],
    hosts: [],
    pendingFrames: [],
  };
  return batch;
}

const ON_CPU_SAMPLE_TYPE = 'samples';
const ON_CPU_SAMPLE_UNIT = 'count';

const TWO_POW_32 = 4294967296;

/** The largest hash input buffer kept after use. */
const SYNTHETIC_INPUT_KEPT = 64 * 1024;
/** The hash input of synthetic file IDs, reused between locations (translation is synchronous). */
let syntheticInput: Buffer = Buffer.allocUnsafe(4096);

/** A buffer of at least `size` bytes holding the first `used` bytes of `buffer`. */
function grown(buffer: Buffer, size: number, used: number): Buffer {
  const larger = Buffer.allocUnsafe(Math.max(size, 2 * buffer.length));
  buffer.copy(larger, 0, 0, used);
  return larger;
}

class RequestScope {
  private readonly d: DictionaryView;
  private readonly strings: readonly string[];

  private readonly mappingFileIds: (Uint8Array | null | undefined)[];
  /** Resolved locations: only those of stacks new to the translator, so a map rather than a table. */
  private readonly locationInfos = new Map<number, LocationInfo>();
  /** Stack trace IDs by stack index; empty for a stack without locations (nothing to store). */
  private readonly stackIds: (string | undefined)[];
  private readonly locationEntry: LocationEntry;
  private readonly stackEntry: StackEntry;
  private readonly attributeInfos: (AttributeInfo | undefined)[];

  private readonly eventColumns: EventColumns = {
    length: 0,
    timestamps: [],
    stackTraceIds: [],
    counts: [],
    dimensions: [],
  };
  private readonly batch = batchWithEventColumns(this.eventColumns);
  private readonly stacksInBatch = new Set<string>();
  private readonly framesInBatch = new Set<string>();
  /** Frames this batch queues, by frame ID (a frame may turn up as a leaf after it was queued inside a stack). */
  private readonly pendingInBatch = new Map<string, PendingFrame>();
  /** File IDs in base64url by the mapping's file ID bytes (one object per mapping), for pending frames. */
  private readonly fileIdTexts = new Map<Uint8Array, string>();
  private readonly hostsInBatch = new Set<string>();
  private readonly functionsChecked: Uint8Array;
  private readonly locationPrints: Int32Array;
  private readonly locationPrinted: Uint8Array;
  private readonly mappingPrints: Int32Array;
  private readonly mappingPrinted: Uint8Array;
  private readonly functionPrints: Int32Array;
  private readonly functionPrinted: Uint8Array;
  private readonly hasher = new Fnv1a128();
  private readonly digest = Buffer.alloc(16);
  private readonly frameIdBytes = Buffer.alloc(FILE_ID_BYTES + 8);

  private readonly textGroups = new Map<string, EventGroup>();
  private readonly groups: EventGroup[] = [];
  /** Per stack index, the first group of the current profile with that stack (-1: none yet). */
  private groupOfStack: Int32Array;
  /** Cells in use in the scratch's (second, count, next) cell columns. */
  private cells = 0;
  private readonly tracePrints: number[] = [];
  /** The locations of the batch's frame documents and of its pending frames, in their order. */
  private readonly frameLocations: LocationInfo[] = [];
  private readonly pendingLocations: LocationInfo[] = [];
  private contextCount = 0;
  private samples = 0;
  private skippedProfiles = 0;

  constructor(
    private readonly view: RequestView,
    private readonly settings: ScopeSettings,
  ) {
    this.d = view.dictionary;
    this.strings = this.d.strings;
    this.mappingFileIds = new Array(this.d.mappingCount);
    this.stackIds = new Array(this.d.stackCount);
    this.groupOfStack = new Int32Array(this.d.stackCount);
    this.locationEntry = new LocationEntry(this.d);
    this.stackEntry = new StackEntry(this.d);
    this.attributeInfos = new Array(this.d.attributeCount);
    this.functionsChecked = new Uint8Array(this.d.functionCount);
    const scratch = settings.scratch.prepare(this.d.locationCount);
    this.locationPrints = scratch.locationPrints;
    this.locationPrinted = scratch.locationPrinted;
    this.mappingPrints = new Int32Array(2 * Math.max(1, this.d.mappingCount));
    this.mappingPrinted = new Uint8Array(Math.max(1, this.d.mappingCount));
    this.functionPrints = new Int32Array(2 * this.d.functionCount);
    this.functionPrinted = new Uint8Array(this.d.functionCount);
  }

  /** The batch, with the fingerprints (four lanes each) of its stack traces and the locations of its frames. */
  run(): Omit<Translation, 'commit'> & {
    tracePrints: number[];
    frameLocations: LocationInfo[];
    pendingLocations: LocationInfo[];
  } {
    const resources = this.view.resources;
    for (let r = 0; r < resources.length; r++) {
      const resource = resources[r];
      const where = `resource_profiles[${r}]`;
      const resourceAttributes = this.keyValues(
        resource.resource?.attributes ?? EMPTY,
        `${where}.resource.attributes`,
      );
      for (let s = 0; s < resource.scopes.length; s++) {
        const scopeProfiles = resource.scopes[s];
        const scopeWhere = `${where}.scope_profiles[${s}]`;
        const scopeAttributes = this.keyValues(
          scopeProfiles.scope?.attributes ?? EMPTY,
          `${scopeWhere}.scope.attributes`,
        );
        const agentVersion = scopeProfiles.scope?.version || undefined;
        for (let p = 0; p < scopeProfiles.profiles.length; p++) {
          const profile = scopeProfiles.profiles[p];
          const profileWhere = `${scopeWhere}.profiles[${p}]`;
          if (!this.isOnCpuProfile(profile, profileWhere)) {
            this.skippedProfiles++;
            continue;
          }
          const attributes = new Map([...resourceAttributes, ...scopeAttributes]);
          this.addProfileAttributes(attributes, profile, profileWhere);
          const context = this.eventContext(attributes, agentVersion, profile);
          this.noteHost(context, attributes, profile.period);
          this.addSamples(profile, context, profileWhere);
        }
      }
    }
    this.checkUnreadEntries();
    this.addExecutables();
    this.emitEvents();
    return {
      batch: this.batch,
      samples: this.samples,
      skippedProfiles: this.skippedProfiles,
      tracePrints: this.tracePrints,
      frameLocations: this.frameLocations,
      pendingLocations: this.pendingLocations,
    };
  }

  // ---- profiles and their context -------------------------------------------------------------------------

  private isOnCpuProfile(profile: ProfileView, where: string): boolean {
    const sampleType = profile.sampleType;
    if (!sampleType) return false;
    const type = stringAt(this.strings, sampleType.typeStrindex, `${where}.sample_type.type_strindex`);
    const unit = stringAt(this.strings, sampleType.unitStrindex, `${where}.sample_type.unit_strindex`);
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

  private addProfileAttributes(attributes: Map<string, string>, profile: ProfileView, where: string): void {
    const indices = profile.attributeIndices;
    for (let i = 0; i < indices.length; i++) {
      const info = this.attribute(indices[i], `${where}.attribute_indices[${i}]`);
      attributes.set(info.key, info.value);
    }
  }

  private eventContext(
    attributes: Map<string, string>,
    agentVersion: string | undefined,
    profile: ProfileView,
  ): EventContext {
    const host = hostIdentity(attributes, this.settings.peer);
    const projectText = attributes.get(Attr.projectId);
    const project = projectText ? Number(projectText) : NaN;
    const hasTime = profile.timeLo !== 0 || profile.timeHi !== 0;
    return {
      index: this.contextCount++,
      dimensionsByThread: new Map(),
      hostId: host.hostId,
      hostName: host.hostName,
      hostIp: host.hostIp,
      processName: attributes.get(Attr.executableName) || undefined,
      containerId: attributes.get(Attr.containerId) || undefined,
      containerName: attributes.get(Attr.containerName) || undefined,
      podName: attributes.get(Attr.podName) || undefined,
      k8sNamespace: attributes.get(Attr.namespace) || undefined,
      serviceName: attributes.get(Attr.serviceName) || undefined,
      projectId: Number.isSafeInteger(project) && project >= 0 ? project : this.settings.defaultProjectId,
      agentVersion,
      osKernel: host.osKernel,
      profileSecond: hasTime ? nanosHalvesToSeconds(profile.timeLo, profile.timeHi) : this.settings.now,
    };
  }

  /** `period`: the profile's sampling period in nanoseconds (the agent's CPU profiles), 0 when unknown. */
  private noteHost(context: EventContext, attributes: Map<string, string>, period: number): void {
    const hostId = context.hostId;
    if (this.hostsInBatch.has(hostId)) return;
    this.hostsInBatch.add(hostId);
    const lastWritten = this.settings.stored.hosts.get(hostId);
    if (lastWritten !== undefined && this.settings.now - lastWritten < this.settings.hostRefresh) return;
    const hostAttributes: Record<string, string> = {};
    for (const [key, value] of attributes) {
      if (HOST_ATTRIBUTE_PREFIXES.some((prefix) => key.startsWith(prefix))) hostAttributes[key] = value;
    }
    // The storage explorer lists the frequencies in use; a period outside 1 Hz..1 MHz is not a CPU sampler's.
    if (period >= 1_000 && period <= 1e9)
      hostAttributes[SAMPLING_FREQUENCY_ATTRIBUTE] = String(Math.round(1e9 / period));
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

  private addSamples(profile: ProfileView, context: EventContext, where: string): void {
    this.groupOfStack.fill(-1);
    const pool = profile.attributePool;
    const attributeStarts = profile.sampleAttributes.start;
    const attributeEnds = profile.sampleAttributes.end;
    for (let i = 0; i < profile.sampleCount; i++) {
      const stackIndex = profile.sampleStack[i];
      const stackTraceId = this.stack(stackIndex, where, i);
      let threadAttribute = 0;
      let otherRoles = false;
      const start = attributeStarts[i];
      const end = attributeEnds[i];
      for (let a = start; a < end; a++) {
        const index = pool[a];
        const info =
          this.attributeInfos[index] ??
          this.attribute(index, `${where}.samples[${i}].attribute_indices[${a - start}]`);
        if (info.role === SampleRole.ThreadName) threadAttribute = index;
        else if (info.role !== SampleRole.Other) otherRoles = true;
      }
      if (!stackTraceId) continue;
      const group = otherRoles
        ? this.groupByText(context, stackIndex, stackTraceId, pool, start, end)
        : this.groupByThread(context, stackIndex, stackTraceId, threadAttribute, pool, start, end);
      this.addOccurrences(group, profile, i, context, where);
    }
  }

  /** The group of samples of this profile with this stack and thread: the common case, found without a key. */
  private groupByThread(
    context: EventContext,
    stackIndex: number,
    stackTraceId: string,
    threadAttribute: number,
    pool: Int32Array,
    start: number,
    end: number,
  ): EventGroup {
    const groups = this.groups;
    let last = -1;
    for (let g = this.groupOfStack[stackIndex]; g >= 0; g = groups[g].nextOfStack) {
      if (groups[g].threadAttribute === threadAttribute) return groups[g];
      last = g;
    }
    const group = this.newGroup(context, stackTraceId, threadAttribute, pool, start, end);
    if (last >= 0) groups[last].nextOfStack = groups.length - 1;
    else this.groupOfStack[stackIndex] = groups.length - 1;
    return group;
  }

  /** Samples whose attributes set more than the thread (tags, process or service name) are grouped by key. */
  private groupByText(
    context: EventContext,
    stackIndex: number,
    stackTraceId: string,
    pool: Int32Array,
    start: number,
    end: number,
  ): EventGroup {
    const key = `${context.index}/${stackIndex}/${this.relevantAttributes(pool, start, end).join(',')}`;
    let group = this.textGroups.get(key);
    if (!group) {
      group = this.newGroup(context, stackTraceId, -1, pool, start, end);
      this.textGroups.set(key, group);
    }
    return group;
  }

  private relevantAttributes(pool: Int32Array, start: number, end: number): number[] {
    const relevant: number[] = [];
    for (let a = start; a < end; a++) {
      if (this.attributeInfos[pool[a]]!.role !== SampleRole.Other) relevant.push(pool[a]);
    }
    return relevant.sort((a, b) => a - b);
  }

  private newGroup(
    context: EventContext,
    stackTraceId: string,
    threadAttribute: number,
    pool: Int32Array,
    start: number,
    end: number,
  ): EventGroup {
    const group: EventGroup = {
      stackTraceId,
      threadAttribute,
      dimensions: this.dimensions(context, threadAttribute, pool, start, end),
      firstCell: -1,
      lastCell: -1,
      nextOfStack: -1,
    };
    this.groups.push(group);
    return group;
  }

  /**
   * The event dimensions of samples with these attributes. Samples that only name their thread share one
   * object per profile and thread, so the store resolves each source once per batch, not once per event.
   */
  private dimensions(
    context: EventContext,
    threadAttribute: number,
    pool: Int32Array,
    start: number,
    end: number,
  ): EventDimensions {
    if (threadAttribute >= 0) {
      const known = context.dimensionsByThread.get(threadAttribute);
      if (known) return known;
    }
    let threadName: string | undefined;
    let processName = context.processName;
    let serviceName = context.serviceName;
    let tags: string[] | undefined;
    for (let a = start; a < end; a++) {
      const info = this.attributeInfos[pool[a]]!;
      switch (info.role) {
        case SampleRole.ThreadName:
          threadName = info.value;
          break;
        case SampleRole.ExecutableName:
          processName = info.value;
          break;
        case SampleRole.ServiceName:
          serviceName = info.value;
          break;
        case SampleRole.Tag:
          (tags ??= []).push(`${info.key.slice(Attr.labelPrefix.length)}:${info.value}`);
          break;
        default:
          break;
      }
    }
    const dimensions: EventDimensions = {
      hostId: context.hostId,
      hostName: context.hostName,
      hostIp: context.hostIp,
      threadName,
      processName,
      containerId: context.containerId,
      containerName: context.containerName,
      podName: context.podName,
      k8sNamespace: context.k8sNamespace,
      serviceName,
      tags: tags ? tags.sort() : NO_TAGS,
      projectId: context.projectId,
      agentVersion: context.agentVersion,
      osKernel: context.osKernel,
    };
    if (threadAttribute >= 0) context.dimensionsByThread.set(threadAttribute, dimensions);
    return dimensions;
  }

  private addOccurrences(
    group: EventGroup,
    profile: ProfileView,
    sample: number,
    context: EventContext,
    where: string,
  ): void {
    const valuesStart = profile.sampleValues.start[sample];
    const valueCount = profile.sampleValues.end[sample] - valuesStart;
    const timestampsStart = profile.sampleTimestamps.start[sample];
    const timestampCount = profile.sampleTimestamps.end[sample] - timestampsStart;
    if (timestampCount === 0) {
      let count = valueCount === 0 ? 1 : 0;
      for (let v = 0; v < valueCount; v++) count += this.count(profile, valuesStart + v, where, sample, v);
      this.addCount(group, context.profileSecond, count);
      return;
    }
    const lo = profile.timestampLo;
    const hi = profile.timestampHi;
    for (let t = 0; t < timestampCount; t++) {
      const count = t < valueCount ? this.count(profile, valuesStart + t, where, sample, t) : 1;
      this.addCount(group, nanosHalvesToSeconds(lo[timestampsStart + t], hi[timestampsStart + t]), count);
    }
  }

  private count(profile: ProfileView, index: number, where: string, sample: number, value: number): number {
    const count = profile.values[index];
    if (!(count >= 0)) {
      throw new InvalidRequestError(
        'bad_value',
        `${where}.samples[${sample}].values[${value}] is not a valid sample count (negative or beyond 2^53)`,
      );
    }
    return count;
  }

  private addCount(group: EventGroup, second: number, count: number): void {
    if (count === 0) return;
    this.samples += count;
    const scratch = this.settings.scratch;
    // Timestamps come sorted, so a repeated second is mostly the group's last one.
    const last = group.lastCell;
    if (last >= 0 && scratch.cellSecond[last] === second) {
      scratch.cellCount[last] += count;
      return;
    }
    for (let c = group.firstCell; c >= 0; c = scratch.cellNext[c]) {
      if (scratch.cellSecond[c] === second) {
        scratch.cellCount[c] += count;
        return;
      }
    }
    const cell = this.cells++;
    scratch.roomForCell(cell);
    scratch.cellSecond[cell] = second;
    scratch.cellCount[cell] = count;
    scratch.cellNext[cell] = -1;
    if (last >= 0) scratch.cellNext[last] = cell;
    else group.firstCell = cell;
    group.lastCell = cell;
  }

  private emitEvents(): void {
    const { cellSecond, cellCount, cellNext } = this.settings.scratch;
    const columns = this.eventColumns;
    const n = this.cells;
    // Sized once: one event per cell.
    const timestamps = (columns.timestamps = new Array<number>(n));
    const stackTraceIds = (columns.stackTraceIds = new Array<string>(n));
    const counts = (columns.counts = new Array<number>(n));
    const dimensions = (columns.dimensions = new Array<EventDimensions>(n));
    let e = 0;
    for (const group of this.groups) {
      for (let c = group.firstCell; c >= 0; c = cellNext[c]) {
        timestamps[e] = cellSecond[c];
        stackTraceIds[e] = group.stackTraceId;
        counts[e] = cellCount[c];
        dimensions[e] = group.dimensions;
        e++;
      }
    }
    columns.length = e;
  }

  // ---- dictionary entries, each resolved once per request -------------------------------------------------

  private attribute(index: number, where: string): AttributeInfo {
    const cached = this.attributeInfos[index];
    if (cached) return cached;
    if (!(index >= 0 && index < this.d.attributeCount))
      throw missingEntry('attribute_table', this.d.attributeCount, index, where);
    const entryWhere = `dictionary.attribute_table[${index}]`;
    const key = stringAt(this.strings, this.d.attributeKey[index], `${entryWhere}.key_strindex`);
    const value = anyValueText(this.d.attributeValue[index], this.strings, `${entryWhere}.value`);
    const frameType = key === Attr.frameType ? (frameTypeFromAgentName(value) ?? FrameType.Unknown) : -1;
    const info: AttributeInfo = { key, value, role: sampleRole(key), frameType };
    this.attributeInfos[index] = info;
    return info;
  }

  private stack(index: number, where: string, sample: number): string {
    const cached = this.stackIds[index];
    if (cached !== undefined) return cached;
    if (!(index >= 0 && index < this.d.stackCount)) {
      throw missingEntry('stack_table', this.d.stackCount, index, `${where}.samples[${sample}].stack_index`);
    }
    const { locations, count } = this.stackEntry.read(index);
    // Fingerprint the stack's content (this also checks every index under it); a stack seen in an earlier
    // request then needs neither its frames resolved nor its 128-bit ID computed.
    const prints = this.locationPrints;
    let h1 = mix1(SEED1, count);
    let h2 = mix2(SEED2, count);
    let h3 = mix3(SEED3, count);
    let h4 = mix4(SEED4, count);
    for (let l = 0; l < count; l++) {
      const location = locations[l];
      if (this.locationPrinted[location] !== 1 || !(location >= 0)) {
        this.fingerprintLocation(location, index, l);
      }
      const p1 = prints[2 * location];
      const p2 = prints[2 * location + 1];
      h1 = mix1(h1, p1);
      h2 = mix2(h2, p2);
      h3 = mix3(h3, p1 ^ p2);
      h4 = mix4(h4, p2 - p1);
    }
    const cache = this.settings.stackIds;
    const slot = cache.find(h1, h2, h3, h4);
    let id: string;
    if (slot >= 0) {
      id = cache.idAt(slot);
      this.stackIds[index] = id;
      if (cache.isStored(slot)) return id;
    } else {
      id = this.stackTraceId(index, locations, count);
      this.stackIds[index] = id;
      if (!id) return id;
      cache.insert(h1, h2, h3, h4, id);
    }
    // Two stack table entries may hold the same frames: the trace goes into the batch once.
    if (this.stacksInBatch.has(id)) return id;
    this.stacksInBatch.add(id);
    if (this.settings.stored.stackTraces.get(id)) cache.markStored(h1, h2, h3, h4);
    else {
      this.emitStackTrace(id, index, locations, count);
      this.tracePrints.push(h1, h2, h3, h4);
    }
    return id;
  }

  /** The content-addressed ID: FNV-1a 128 over each frame's file ID bytes and address-or-line in decimal. */
  private stackTraceId(index: number, locations: Int32Array, count: number): string {
    if (count === 0) return '';
    const hasher = this.hasher.reset();
    for (let l = 0; l < count; l++) {
      const location = this.location(locations[l], index, l);
      hasher.update(location.fileId).updateDecimal(location.addressOrLineLo, location.addressOrLineHi);
    }
    return hasher.digestInto(this.digest).toString('base64url');
  }

  /**
   * Two 32-bit lanes over what makes a location's frame: its file ID, address, frame type and lines. Checks
   * every index the location refers to, like the full resolution would.
   */
  private fingerprintLocation(index: number, stack: number, position: number): void {
    const d = this.d;
    if (!(index >= 0 && index < d.locationCount)) {
      const where = `dictionary.stack_table[${stack}].location_indices[${position}]`;
      throw missingEntry('location_table', d.locationCount, index, where);
    }
    const e = this.locationEntry.read(index);
    // Places in error messages are only spelled out when needed: this runs for every location of a request.
    const mapping = e.mapping;
    if (this.mappingPrinted[mapping] !== 1)
      this.fingerprintMapping(mapping, `${locationTableWhere(index)}.mapping_index`);
    let frameType = -1;
    for (let a = 0; a < e.attributeCount; a++) {
      const attribute = e.attributes[a];
      const info =
        this.attributeInfos[attribute] ??
        this.attribute(attribute, `${locationTableWhere(index)}.attribute_indices[${a}]`);
      if (info.frameType >= 0 && frameType < 0) frameType = info.frameType;
    }
    const mappingPrints = this.mappingPrints;
    let h1 = mix1(mix1(SEED1, mappingPrints[2 * mapping] ?? 0), frameType);
    let h2 = mix2(mix2(SEED2, mappingPrints[2 * mapping + 1] ?? 0), frameType);
    h1 = mix1(mix1(h1, e.addressLo), e.addressHi);
    h2 = mix2(mix2(h2, e.addressHi), e.addressLo);
    const lineCount = e.lineCount;
    for (let l = 0; l < lineCount; l++) {
      const fn = e.lineFunction[l];
      if (this.functionsChecked[fn] !== 1) this.checkFunction(fn, index, l);
      if (this.functionPrinted[fn] !== 1) this.fingerprintFunction(fn);
      const lo = e.lineNumberLo[l];
      const hi = e.lineNumberHi[l];
      const column = e.lineColumn[l] | 0;
      h1 = mix1(mix1(mix1(mix1(h1, this.functionPrints[2 * fn]), lo), hi), column);
      h2 = mix2(mix2(mix2(mix2(h2, this.functionPrints[2 * fn + 1]), hi), lo), column);
    }
    this.locationPrints[2 * index] = mix1(h1, lineCount);
    this.locationPrints[2 * index + 1] = mix2(h2, lineCount);
    this.locationPrinted[index] = 1;
  }

  /** A mapping's lanes stand for its file ID alone: that is all a frame ID takes from it. */
  private fingerprintMapping(index: number, where: string): void {
    if (this.mappingPrinted[index] === 1) return;
    const fileId = this.mappingFileId(index, where);
    if (index >= this.d.mappingCount) return; // Mapping 0 of a request without mappings: no file.
    if (fileId)
      fingerprintString(Buffer.from(fileId).toString('hex'), this.mappingPrints, 2 * index, SEED1, SEED2);
    else {
      this.mappingPrints[2 * index] = 0;
      this.mappingPrints[2 * index + 1] = 0;
    }
    this.mappingPrinted[index] = 1;
  }

  private fingerprintFunction(index: number): void {
    const d = this.d;
    fingerprintString(this.strings[d.functionName[index]], this.functionPrints, 2 * index, SEED3, SEED4);
    const name1 = this.functionPrints[2 * index];
    const name2 = this.functionPrints[2 * index + 1];
    fingerprintString(this.strings[d.functionFilename[index]], this.functionPrints, 2 * index, name1, name2);
    this.functionPrinted[index] = 1;
  }

  /** Adds the trace, with the symbols of its frames the agent resolved, to the batch. */
  private emitStackTrace(id: string, stack: number, locations: Int32Array, count: number): void {
    const frameIds = new Array<string>(count);
    const frameTypes = new Array<FrameTypeValue>(count);
    for (let l = 0; l < count; l++) {
      const location = this.location(locations[l], stack, l);
      frameIds[l] = this.frameId(location);
      frameTypes[l] = location.frameType;
      if (location.symbolized) this.emitFrameSymbols(location);
      else if (location.needsSymbols) this.queueForSymbols(location, l === 0);
    }
    const trace: StackTrace = { id, frameIds, frameTypes };
    this.batch.stackTraces.push(trace);
  }

  private emitFrameSymbols(location: LocationInfo): void {
    const frameId = this.frameId(location);
    if (this.framesInBatch.has(frameId)) return;
    this.framesInBatch.add(frameId);
    const { fileId, addressOrLineLo, addressOrLineHi } = location;
    if (this.settings.stored.frames.get(fileId, addressOrLineLo, addressOrLineHi) === FrameState.Stored)
      return;
    this.batch.stackFrames.push({ frameId, ...this.symbols(location) });
    this.frameLocations.push(location);
  }

  /**
   * Puts a native frame of a new stack trace on the symbolizer's queue, once per frame ID as far as the
   * translator remembers; this runs only for stack traces new to the translator, never in steady state.
   */
  private queueForSymbols(location: LocationInfo, leaf: boolean): void {
    const frameId = this.frameId(location);
    const inBatch = this.pendingInBatch.get(frameId);
    if (inBatch !== undefined) {
      if (leaf) inBatch.leaf = true;
      return;
    }
    // Known queued as this kind of frame (or as a leaf, which covers both), or symbolized by the agent elsewhere.
    const known = this.settings.stored.frames.get(
      location.fileId,
      location.addressOrLineLo,
      location.addressOrLineHi,
    );
    if (known >= (leaf ? FrameState.QueuedLeaf : FrameState.Queued)) return;
    const address = location.addressOrLineHi * TWO_POW_32 + location.addressOrLineLo;
    // User-space addresses are far below 2^53; anything above cannot be a file's virtual address.
    if (!Number.isSafeInteger(address)) return;
    let fileId = this.fileIdTexts.get(location.fileId);
    if (fileId === undefined) {
      fileId = Buffer.from(location.fileId).toString('base64url');
      this.fileIdTexts.set(location.fileId, fileId);
    }
    const frame: PendingFrame = { frameId, fileId, address };
    if (leaf) frame.leaf = true;
    this.pendingInBatch.set(frameId, frame);
    this.batch.pendingFrames!.push(frame);
    this.pendingLocations.push(location);
  }

  /** File ID ‖ address-or-line (big-endian), in base64url; the scope's one buffer is only read by toString. */
  private frameId(location: LocationInfo): string {
    if (location.frameId === undefined) {
      const bytes = this.frameIdBytes;
      bytes.set(location.fileId, 0);
      bytes.writeUInt32BE(location.addressOrLineHi, FILE_ID_BYTES);
      bytes.writeUInt32BE(location.addressOrLineLo, FILE_ID_BYTES + 4);
      location.frameId = bytes.toString('base64url');
    }
    return location.frameId;
  }

  /** The location at `position` of stack `stack` (where an error message places it). */
  private location(index: number, stack: number, position: number): LocationInfo {
    const cached = this.locationInfos.get(index);
    if (cached) return cached;
    const d = this.d;
    if (!(index >= 0 && index < d.locationCount)) {
      const where = `dictionary.stack_table[${stack}].location_indices[${position}]`;
      throw missingEntry('location_table', d.locationCount, index, where);
    }
    const e = this.locationEntry.read(index);
    const lineCount = e.lineCount;
    let symbolized = false;
    for (let l = 0; l < lineCount; l++) {
      const fn = e.lineFunction[l];
      this.checkFunction(fn, index, l);
      if (this.strings[d.functionName[fn]] !== '' || this.strings[d.functionFilename[fn]] !== '')
        symbolized = true;
    }
    // The location was fingerprinted (its indices checked) first, so its mapping and attributes are resolved
    // already: no error message is spelled out for them here.
    const knownFileId = this.mappingFileIds[e.mapping];
    const mappedFileId =
      knownFileId !== undefined
        ? knownFileId
        : this.mappingFileId(e.mapping, `${locationTableWhere(index)}.mapping_index`);
    const frameType = this.frameType(e, mappedFileId !== null, index);

    let lo = 0;
    let hi = 0;
    if (e.addressLo !== 0 || e.addressHi !== 0) {
      lo = e.addressLo;
      hi = e.addressHi;
    } else if (lineCount > 0) {
      lo = e.lineNumberLo[lineCount - 1];
      hi = e.lineNumberHi[lineCount - 1];
    }

    const info: LocationInfo = {
      fileId: mappedFileId ?? this.syntheticFileId(e),
      addressOrLineLo: lo,
      addressOrLineHi: hi,
      frameType,
      frameId: undefined,
      index,
      symbolized,
      needsSymbols: frameType === FrameType.Native && mappedFileId !== null && !symbolized,
    };
    this.locationInfos.set(index, info);
    return info;
  }

  /** Checks a function index and the string indices of its entry, once per function per request. */
  private checkFunction(index: number, location: number, line: number): void {
    const d = this.d;
    if (this.functionsChecked[index] === 1) return;
    if (!(index >= 0 && index < d.functionCount)) {
      const where = `${locationTableWhere(location)}.lines[${line}].function_index`;
      throw missingEntry('function_table', d.functionCount, index, where);
    }
    // Places are spelled out only for an error: this runs for every function of every request.
    const strings = this.strings;
    const name = d.functionName[index];
    if (strings[name] === undefined)
      stringAt(strings, name, `dictionary.function_table[${index}].name_strindex`);
    const filename = d.functionFilename[index];
    if (strings[filename] === undefined)
      stringAt(strings, filename, `dictionary.function_table[${index}].filename_strindex`);
    this.functionsChecked[index] = 1;
  }

  /** The frame document of a frame the agent resolved itself (interpreters, kernel symbols). */
  private symbols(location: LocationInfo): Omit<StackFrameSymbols, 'frameId'> {
    const d = this.d;
    // Read again rather than kept: most locations never become a frame document.
    const e = this.locationEntry.read(location.index);
    const count = e.lineCount;
    // Sized up front: an empty array grown by push reserves room for 17 entries, and a cold fleet brings
    // hundreds of thousands of frame documents (mostly of one line) at once.
    const functionNames = new Array<string>(count);
    const fileNames = new Array<string>(count);
    const lineNumbers = new Array<number>(count);
    const functionOffsets = new Array<number>(count);
    for (let l = 0; l < count; l++) {
      const fn = e.lineFunction[l];
      functionNames[l] = this.strings[d.functionName[fn]];
      fileNames[l] = this.strings[d.functionFilename[fn]];
      const line = e.lineNumber[l];
      const lineNumber = Number.isSafeInteger(line) ? line : 0;
      lineNumbers[l] = lineNumber;
      // Interpreted frames count the offset in lines from the function's start, when the agent says where it is.
      const startLine = d.functionStartLine[fn];
      functionOffsets[l] =
        !isAddressFrame(location.frameType) && startLine > 0 ? Math.max(0, lineNumber - startLine) : 0;
    }
    return { functionNames, fileNames, lineNumbers, functionOffsets };
  }

  private frameType(e: LocationEntry, hasFileId: boolean, location: number): FrameTypeValue {
    for (let a = 0; a < e.attributeCount; a++) {
      const attribute = e.attributes[a];
      const info =
        this.attributeInfos[attribute] ??
        this.attribute(attribute, `${locationTableWhere(location)}.attribute_indices[${a}]`);
      if (info.frameType >= 0) return info.frameType;
    }
    // Senders other than the agent may leave the type out: a mapped address without source lines is native code.
    return hasFileId && e.lineCount === 0 ? FrameType.Native : FrameType.Unknown;
  }

  /** The mapping's file ID, or null for "no file" (mapping 0, or a mapping without the attribute). */
  private mappingFileId(index: number, where: string): Uint8Array | null {
    const cached = this.mappingFileIds[index];
    if (cached !== undefined) return cached;
    const d = this.d;
    if (!(index >= 0 && index < d.mappingCount)) {
      if (index === 0 && d.mappingCount === 0) return null;
      throw missingEntry('mapping_table', d.mappingCount, index, where);
    }
    const hex = this.mappingAttribute(index, Attr.fileId);
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

  private mappingAttribute(mapping: number, key: string): string | undefined {
    const start = this.d.mappingAttributes.start[mapping];
    const end = this.d.mappingAttributes.end[mapping];
    for (let a = start; a < end; a++) {
      const index = this.d.indices[a];
      const info =
        this.attributeInfos[index] ??
        this.attribute(index, `dictionary.mapping_table[${mapping}].attribute_indices[${a - start}]`);
      if (info.key === key) return info.value;
    }
    return undefined;
  }

  /**
   * Interpreted frames come without a file: their file ID is XXH64 over each line's function name, file name,
   * line and column (8 bytes big-endian each), used for both halves of the ID — the exporter's rule, so the
   * same frame gets the same ID whichever path wrote it. Results are kept by content between requests.
   */
  private syntheticFileId(e: LocationEntry): Uint8Array {
    const d = this.d;
    const cache = this.settings.syntheticFileIds;
    const singleLine = e.lineCount === 1;
    let name = '';
    let file = '';
    let position = 0;
    if (singleLine) {
      // The common case (one line per location) is looked up without building a key string.
      const fn = e.lineFunction[0];
      name = this.strings[d.functionName[fn]];
      file = this.strings[d.functionFilename[fn]];
      position = e.lineNumber[0] * 1_000_003 + e.lineColumn[0];
      const cached = cache.get(name, file, position);
      if (cached) return cached;
    }
    // A cold fleet brings every interpreted frame new at once: the input is written into one reused buffer,
    // with no Buffer per string and no BigInt per number.
    let input = syntheticInput;
    let at = 0;
    for (let l = 0; l < e.lineCount; l++) {
      const fn = e.lineFunction[l];
      const lineName = this.strings[d.functionName[fn]];
      const lineFile = this.strings[d.functionFilename[fn]];
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      const need = at + 3 * (lineName.length + lineFile.length) + 16;
      if (need > input.length) input = syntheticInput = grown(input, need, at);
      at += input.write(lineName, at, 'utf8');
      at += input.write(lineFile, at, 'utf8');
      input.writeUInt32BE(e.lineNumberHi[l], at);
      input.writeUInt32BE(e.lineNumberLo[l], at + 4);
      // The column as a signed 64-bit big-endian integer.
      const column = Number.isSafeInteger(e.lineColumn[l]) ? e.lineColumn[l] : 0;
      input.writeInt32BE(Math.floor(column / TWO_POW_32), at + 8);
      input.writeUInt32BE(column >>> 0, at + 12);
      at += 16;
    }
    const hash = xxh64(input.subarray(0, at));
    // A hostile request's huge names do not keep a huge buffer for the rest of the process.
    if (input.length > SYNTHETIC_INPUT_KEPT) syntheticInput = Buffer.allocUnsafe(SYNTHETIC_INPUT_KEPT);
    const hashHi = Number(hash >> 32n);
    const hashLo = Number(hash & 0xffffffffn);
    const fileId = Buffer.allocUnsafe(FILE_ID_BYTES);
    fileId.writeUInt32BE(hashHi, 0);
    fileId.writeUInt32BE(hashLo, 4);
    fileId.writeUInt32BE(hashHi, 8);
    fileId.writeUInt32BE(hashLo, 12);
    if (singleLine && Number.isSafeInteger(position)) cache.set(name, file, position, fileId);
    return fileId;
  }

  /** Location and stack entries no sample reached are read too: malformed bytes anywhere reject the request. */
  private checkUnreadEntries(): void {
    for (let i = 0; i < this.d.locationCount; i++) {
      if (this.locationPrinted[i] !== 1) this.locationEntry.read(i);
    }
    for (let i = 0; i < this.d.stackCount; i++) {
      if (this.stackIds[i] === undefined) this.stackEntry.read(i);
    }
  }

  // ---- executables ----------------------------------------------------------------------------------------

  private addExecutables(): void {
    const { now, stored, executableRefresh } = this.settings;
    const seen = new Set<string>();
    for (let m = 1; m < this.d.mappingCount; m++) {
      const where = `dictionary.mapping_table[${m}]`;
      const fileName = stringAt(this.strings, this.d.mappingFilename[m], `${where}.filename_strindex`);
      const fileIdBytes = this.mappingFileId(m, where);
      if (!fileName || !fileIdBytes) continue;
      const fileId = Buffer.from(fileIdBytes).toString('base64url');
      if (seen.has(fileId)) continue;
      seen.add(fileId);
      const lastWritten = stored.executables.get(fileId);
      if (lastWritten !== undefined && now - lastWritten < executableRefresh) continue;
      const executable: Executable = { fileId, fileName, lastSeen: now };
      const buildId = this.mappingAttribute(m, Attr.gnuBuildId);
      if (buildId) executable.buildId = buildId;
      this.batch.executables.push(executable);
    }
  }
}

function locationTableWhere(index: number): string {
  return `dictionary.location_table[${index}]`;
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

// ---- content fingerprints ---------------------------------------------------------------------------------
/*
 * Cheap content fingerprints of dictionary entries, so a stack seen in an earlier request is recognised
 * without recomputing its frame IDs and 128-bit FNV stack trace ID. A request's dictionary indices mean
 * nothing in the next request; what a location contains (file ID, address, frame type, lines) does. Each
 * entry gets two independent 32-bit lanes; a stack combines its locations' lanes into four, all 128 bits of
 * which key and verify the cache — as collision-safe as the 128-bit content-addressed IDs themselves.
 */

const M1 = 0x85ebca6b;
const M2 = 0xc2b2ae35;
const M3 = 0x27d4eb2f;
const M4 = 0x165667b1;
const SEED1 = 0x3c6ef372;
const SEED2 = 0x6a09e667;
const SEED3 = 0x510e527f;
const SEED4 = 0x1f83d9ab;

function mix1(h: number, v: number): number {
  h = Math.imul(h ^ v, M1);
  return h ^ (h >>> 15);
}

function mix2(h: number, v: number): number {
  h = Math.imul(h ^ v, M2);
  return h ^ (h >>> 13);
}

function mix3(h: number, v: number): number {
  h = Math.imul(h ^ v, M3);
  return h ^ (h >>> 16);
}

function mix4(h: number, v: number): number {
  h = Math.imul(h ^ v, M4);
  return h ^ (h >>> 14);
}

/** Two lanes over a string's UTF-16 code units, written to out[at], out[at + 1]. */
function fingerprintString(text: string, out: Int32Array, at: number, seed1: number, seed2: number): void {
  let h1 = mix1(seed1, text.length);
  let h2 = mix2(seed2, text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = mix1(h1, c);
    h2 = mix2(h2, c);
  }
  out[at] = h1;
  out[at + 1] = h2;
}
