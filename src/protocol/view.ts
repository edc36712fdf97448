/**
 * A columnar decoding of ExportProfilesServiceRequest for the ingest hot path. Instead of one object per
 * sample, location, line and timestamp (what a generic decoder builds), every repeated field becomes flat
 * number arrays indexed by entry, so decoding allocates per table rather than per entry. The small, rarely
 * repeated parts (resources, scopes, attribute values) are decoded with protobufjs.
 *
 * The two big tables, locations and stacks, are not decoded up front: the dictionary records where each
 * entry lies in the request's bytes, and LocationEntry / StackEntry read one entry on demand into storage that
 * is reused from entry to entry. A request carries tens of thousands of locations and the translator reads
 * each once, so filling columns first would only add a copy of every field.
 *
 * Index fields are not checked here (the translator checks every one it follows); the wire format is: a
 * truncated, mistyped or otherwise malformed message throws InvalidRequestError (for a location or stack
 * entry, when it is read).
 */
import type protobuf from 'protobufjs';
import type { AnyValue, InstrumentationScope, Resource, WireRevision } from './types.ts';
import { WireCursor, WireType } from './wire.ts';

// Module-local copies: imported bindings are read through an accessor on every use under the TS loader, which
// shows in the per-field loops below.
const VARINT: number = WireType.Varint;
const I64: number = WireType.I64;
const LEN: number = WireType.Len;

/** Entries of one kind: `start[i]..end[i]` is entry i's range in a shared pool array. */
export interface Ranges {
  start: Int32Array;
  end: Int32Array;
}

export interface DictionaryView {
  /** The encoded request: location and stack entries are read from it (see LocationEntry, StackEntry). */
  bytes: Uint8Array;
  strings: string[];
  attributeKey: Int32Array;
  attributeValue: (AnyValue | null)[];
  mappingFilename: Int32Array;
  mappingAttributes: Ranges;
  /** Byte ranges of the location and stack entries' messages in `bytes`. */
  locationBytes: Ranges;
  stackBytes: Ranges;
  functionName: Int32Array;
  functionFilename: Int32Array;
  functionStartLine: Float64Array;
  /** Pool of the mappings' attribute index lists. */
  indices: Int32Array;
  mappingCount: number;
  locationCount: number;
  functionCount: number;
  stackCount: number;
  attributeCount: number;
}

export interface ValueTypeView {
  typeStrindex: number;
  unitStrindex: number;
}

export interface ProfileView {
  sampleType: ValueTypeView | null;
  periodType: ValueTypeView | null;
  period: number;
  timeLo: number;
  timeHi: number;
  attributeIndices: number[];
  sampleCount: number;
  sampleStack: Int32Array;
  sampleAttributes: Ranges;
  sampleTimestamps: Ranges;
  sampleValues: Ranges;
  /** Pools for the sample ranges: attribute indices, timestamp halves, values (NaN when not a safe integer). */
  attributePool: Int32Array;
  timestampLo: Float64Array;
  timestampHi: Float64Array;
  values: Float64Array;
}

export interface ScopeProfilesView {
  scope: InstrumentationScope | null;
  profiles: ProfileView[];
}

export interface ResourceProfilesView {
  resource: Resource | null;
  scopes: ScopeProfilesView[];
}

export interface RequestView {
  revision: WireRevision;
  dictionary: DictionaryView;
  resources: ResourceProfilesView[];
}

export interface SubmessageTypes {
  anyValue: protobuf.Type;
  resource: protobuf.Type;
  scope: protobuf.Type;
}

type NumberArray = Int32Array | Float64Array;

interface NumberArrayType<T extends NumberArray> {
  new (length: number): T;
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
}

/**
 * A growing column of numbers in a typed array. Typed arrays keep a request's tens of thousands of entries off
 * the garbage-collected heap: growing plain arrays that size copies them in the young generation and promotes
 * them to the large-object space, which cost more than the decoding itself.
 */
class NumberColumn<T extends NumberArray> {
  length = 0;

  constructor(
    private readonly type: NumberArrayType<T>,
    public data: T,
  ) {}

  push(value: number): void {
    if (this.length === this.data.length) this.reserve(Math.max(64, 2 * this.length));
    this.data[this.length++] = value;
  }

  /** Makes room for `capacity` entries in all, so a column whose size is known grows once. */
  reserve(capacity: number): void {
    if (capacity > this.data.length) this.data = grow(this.data, new this.type(capacity));
  }

  /** Moves the column into `capacity` entries of `arena` at byte `offset`. */
  adopt(arena: ArrayBuffer, offset: number, capacity: number): void {
    this.data = grow(this.data.subarray(0, this.length) as T, new this.type(arena, offset, capacity));
  }

  view(): T {
    return this.data.subarray(0, this.length) as T;
  }

  /** Appends every entry of `other`. */
  append(other: NumberColumn<T>): void {
    this.reserve(this.length + other.length);
    this.data.set(other.view(), this.length);
    this.length += other.length;
  }
}

const EMPTY_INT32 = new Int32Array(0);
const EMPTY_FLOAT64 = new Float64Array(0);

class Int32Column extends NumberColumn<Int32Array> {
  constructor() {
    super(Int32Array, EMPTY_INT32);
  }
}

/** Doubles: unsigned 32-bit halves, and numbers that may be NaN. */
class Float64Column extends NumberColumn<Float64Array> {
  constructor() {
    super(Float64Array, EMPTY_FLOAT64);
  }
}

function grow<T extends Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

interface RangeColumns {
  start: Int32Column;
  end: Int32Column;
}

function rangeColumns(): RangeColumns {
  return { start: new Int32Column(), end: new Int32Column() };
}

function rangesView(columns: RangeColumns): Ranges {
  return { start: columns.start.view(), end: columns.end.view() };
}

/** The dictionary while it is being decoded. */
class DictionaryColumns {
  strings: string[] = [];
  attributeKey = new Int32Column();
  attributeValue: (AnyValue | null)[] = [];
  mappingFilename = new Int32Column();
  mappingAttributes = rangeColumns();
  locationBytes = rangeColumns();
  stackBytes = rangeColumns();
  functionName = new Int32Column();
  functionFilename = new Int32Column();
  functionStartLine = new Float64Column();
  indices = new Int32Column();

  constructor(private readonly bytes: Uint8Array) {}

  /** Takes the entry ranges of the big tables, read into `pending`, as this dictionary's own columns. */
  adoptRanges(pending: { locations: RangeColumns; stacks: RangeColumns }): void {
    this.locationBytes.start.append(pending.locations.start);
    this.locationBytes.end.append(pending.locations.end);
    this.stackBytes.start.append(pending.stacks.start);
    this.stackBytes.end.append(pending.stacks.end);
  }

  view(): DictionaryView {
    return {
      bytes: this.bytes,
      strings: this.strings,
      attributeKey: this.attributeKey.view(),
      attributeValue: this.attributeValue,
      mappingFilename: this.mappingFilename.view(),
      mappingAttributes: rangesView(this.mappingAttributes),
      locationBytes: rangesView(this.locationBytes),
      stackBytes: rangesView(this.stackBytes),
      functionName: this.functionName.view(),
      functionFilename: this.functionFilename.view(),
      functionStartLine: this.functionStartLine.view(),
      indices: this.indices.view(),
      mappingCount: this.mappingFilename.length,
      locationCount: this.locationBytes.start.length,
      functionCount: this.functionName.length,
      stackCount: this.stackBytes.start.length,
      attributeCount: this.attributeKey.length,
    };
  }
}

/**
 * Moves each column into room for its planned number of entries, all in one allocation: a request holds tens
 * of thousands of entries, and one buffer per column (or growing them) cost more to allocate and to collect
 * than decoding the entries.
 */
function allocateColumns(plan: readonly [Int32Column | Float64Column, number][]): void {
  const size = (column: Int32Column | Float64Column, capacity: number) =>
    8 * Math.ceil((capacity * column.data.BYTES_PER_ELEMENT) / 8);
  let bytes = 0;
  for (const [column, capacity] of plan) bytes += size(column, capacity);
  // Uninitialized memory: columns only ever expose entries they have written.
  const arena = Buffer.allocUnsafeSlow(bytes).buffer;
  let offset = 0;
  for (const [column, capacity] of plan) {
    column.adopt(arena, offset, capacity);
    offset += size(column, capacity);
  }
}

/** A profile's samples while they are being decoded. */
class SampleColumns {
  sampleCount = 0;
  sampleStack = new Int32Column();
  sampleAttributes = rangeColumns();
  sampleTimestamps = rangeColumns();
  sampleValues = rangeColumns();
  attributePool = new Int32Column();
  timestampLo = new Float64Column();
  timestampHi = new Float64Column();
  values = new Float64Column();

  /**
   * Sizes the columns for `samples` samples. Pools are sized for what the agent sends (three attributes and
   * one or two timestamps per sample, no values) and grow beyond that.
   */
  constructor(samples: number) {
    const a = this.sampleAttributes;
    const t = this.sampleTimestamps;
    const v = this.sampleValues;
    const perSample = [this.sampleStack, a.start, a.end, t.start, t.end, v.start, v.end];
    allocateColumns([
      ...perSample.map((column) => [column, samples] as [Int32Column, number]),
      [this.attributePool, 3 * samples + 8],
      [this.timestampLo, 2 * samples + 8],
      [this.timestampHi, 2 * samples + 8],
    ]);
  }
}

/** Sample field numbers per wire revision (the previous revision numbered them differently). */
const SAMPLE_FIELDS: Record<WireRevision, { attributes: number; link: number; values: number }> = {
  current: { attributes: 2, link: 3, values: 4 },
  previous: { attributes: 3, link: 4, values: 2 },
};

/**
 * What a sample field says about the wire revision. The previous revision numbered Sample's fields
 * differently (values = 2, attribute_indices = 3, link_index = 4; now attribute_indices = 2, link_index = 3,
 * values = 4). Both packed lists share wire type 2, so only the wire types of fields 3 and 4 tell the
 * revisions apart.
 */
function sampleFieldRevision(field: number, wireType: number): WireRevision | undefined {
  if (field === 3) return wireType === LEN ? 'previous' : wireType === VARINT ? 'current' : undefined;
  if (field === 4) return wireType === VARINT ? 'previous' : wireType === LEN ? 'current' : undefined;
  return undefined;
}

export class ViewDecoder {
  /** The revision the first sample field that tells the revisions apart pointed to, if any did. */
  revisionSeen: WireRevision | undefined;
  private readonly cursor: WireCursor;
  private readonly buffer: Buffer;
  private readonly dictionary: DictionaryColumns;
  private readonly sampleFields: { attributes: number; link: number; values: number };

  constructor(
    private readonly bytes: Uint8Array,
    private readonly revision: WireRevision,
    private readonly types: SubmessageTypes,
  ) {
    this.cursor = new WireCursor(bytes);
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.sampleFields = SAMPLE_FIELDS[revision];
    this.dictionary = new DictionaryColumns(bytes);
  }

  decode(): RequestView {
    const c = this.cursor;
    const end = this.bytes.length;
    const resources: ResourceProfilesView[] = [];
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === LEN) resources.push(this.resourceProfiles(c.delimited(end)));
      else if (field === 2 && wireType === LEN) this.dictionaryMessage(c.delimited(end));
      else this.other(field, wireType, end, [1, 2]);
    }
    return { revision: this.revision, dictionary: this.dictionary.view(), resources };
  }

  /** Skips an unknown field; a known field with the wrong wire type is malformed. */
  private other(field: number, wireType: number, end: number, known: readonly number[]): void {
    if (known.includes(field)) this.cursor.fail(`field ${field} has unexpected wire type ${wireType}`);
    this.cursor.skip(wireType, end, field);
  }

  private resourceProfiles(end: number): ResourceProfilesView {
    const c = this.cursor;
    const view: ResourceProfilesView = { resource: null, scopes: [] };
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === LEN)
        view.resource = this.submessage<Resource>(this.types.resource, end);
      else if (field === 2 && wireType === LEN) view.scopes.push(this.scopeProfiles(c.delimited(end)));
      else this.other(field, wireType, end, [1, 2]);
    }
    return view;
  }

  private scopeProfiles(end: number): ScopeProfilesView {
    const c = this.cursor;
    const view: ScopeProfilesView = { scope: null, profiles: [] };
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === LEN)
        view.scope = this.submessage<InstrumentationScope>(this.types.scope, end);
      else if (field === 2 && wireType === LEN) view.profiles.push(this.profile(c.delimited(end)));
      else this.other(field, wireType, end, [1, 2]);
    }
    return view;
  }

  /** A small message decoded by protobufjs; its errors become malformed-protobuf errors. */
  private submessage<T>(type: protobuf.Type, end: number): T {
    const c = this.cursor;
    const stop = c.delimited(end);
    const start = c.pos;
    c.pos = stop;
    try {
      return type.decode(this.bytes.subarray(start, stop)) as unknown as T;
    } catch (error) {
      c.pos = start;
      return c.fail(`in ${type.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private profile(end: number): ProfileView {
    const c = this.cursor;
    const view = {
      sampleType: null as ValueTypeView | null,
      periodType: null as ValueTypeView | null,
      period: 0,
      timeLo: 0,
      timeHi: 0,
      attributeIndices: [] as number[],
    };
    const samples = new SampleColumns(this.countField(end, 2));
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      switch (field) {
        case 1:
          if (wireType !== LEN) this.other(field, wireType, end, [field]);
          view.sampleType = this.valueType(c.delimited(end));
          break;
        case 2:
          if (wireType !== LEN) this.other(field, wireType, end, [field]);
          this.sample(c.delimited(end), samples);
          break;
        case 3:
          if (wireType !== I64) this.other(field, wireType, end, [field]);
          c.fixed64(end);
          view.timeLo = c.lo;
          view.timeHi = c.hi;
          break;
        case 5:
          if (wireType !== LEN) this.other(field, wireType, end, [field]);
          view.periodType = this.valueType(c.delimited(end));
          break;
        case 6:
          if (wireType !== VARINT) this.other(field, wireType, end, [field]);
          c.varint64(end);
          view.period = c.signedNumber();
          break;
        case 11:
          this.int32List(wireType, end, view.attributeIndices, field);
          break;
        default:
          c.skip(wireType, end, field);
      }
    }
    return {
      ...view,
      sampleCount: samples.sampleCount,
      sampleStack: samples.sampleStack.view(),
      sampleAttributes: rangesView(samples.sampleAttributes),
      sampleTimestamps: rangesView(samples.sampleTimestamps),
      sampleValues: rangesView(samples.sampleValues),
      attributePool: samples.attributePool.view(),
      timestampLo: samples.timestampLo.view(),
      timestampHi: samples.timestampHi.view(),
      values: samples.values.view(),
    };
  }

  private valueType(end: number): ValueTypeView {
    const c = this.cursor;
    const view: ValueTypeView = { typeStrindex: 0, unitStrindex: 0 };
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === VARINT) view.typeStrindex = c.varint32(end);
      else if (field === 2 && wireType === VARINT) view.unitStrindex = c.varint32(end);
      else this.other(field, wireType, end, [1, 2]);
    }
    return view;
  }

  private sample(end: number, view: SampleColumns): void {
    const c = this.cursor;
    const fields = this.sampleFields;
    let stack = 0;
    const attributesStart = view.attributePool.length;
    const timestampsStart = view.timestampLo.length;
    const valuesStart = view.values.length;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      // Noted before the field is read: read under the other revision, it may be malformed.
      if ((field === 3 || field === 4) && this.revisionSeen === undefined)
        this.revisionSeen = sampleFieldRevision(field, wireType);
      if (field === 1) {
        if (wireType !== VARINT) this.other(field, wireType, end, [field]);
        stack = c.varint32(end);
      } else if (field === fields.attributes) {
        this.int32List(wireType, end, view.attributePool, field);
      } else if (field === fields.values) {
        this.int64List(wireType, end, view.values, field);
      } else if (field === 5) {
        this.fixed64List(wireType, end, view.timestampLo, view.timestampHi, field);
      } else if (field === fields.link) {
        if (wireType !== VARINT) this.other(field, wireType, end, [field]);
        c.varint32(end);
      } else {
        c.skip(wireType, end, field);
      }
    }
    view.sampleStack.push(stack);
    view.sampleAttributes.start.push(attributesStart);
    view.sampleAttributes.end.push(view.attributePool.length);
    view.sampleTimestamps.start.push(timestampsStart);
    view.sampleTimestamps.end.push(view.timestampLo.length);
    view.sampleValues.start.push(valuesStart);
    view.sampleValues.end.push(view.values.length);
    view.sampleCount++;
  }

  /** A repeated int32 field, packed or not, appended to `out`. */
  private int32List(wireType: number, end: number, out: Int32Column | number[], field: number): void {
    const c = this.cursor;
    if (wireType === LEN) {
      const stop = c.delimited(end);
      while (c.pos < stop) out.push(c.varint32(stop));
    } else if (wireType === VARINT) {
      out.push(c.varint32(end));
    } else {
      this.other(field, wireType, end, [field]);
    }
  }

  private int64List(wireType: number, end: number, out: Float64Column, field: number): void {
    const c = this.cursor;
    if (wireType === LEN) {
      const stop = c.delimited(end);
      while (c.pos < stop) {
        c.varint64(stop);
        out.push(c.signedNumber());
      }
    } else if (wireType === VARINT) {
      c.varint64(end);
      out.push(c.signedNumber());
    } else {
      this.other(field, wireType, end, [field]);
    }
  }

  private fixed64List(
    wireType: number,
    end: number,
    lo: Float64Column,
    hi: Float64Column,
    field: number,
  ): void {
    const c = this.cursor;
    if (wireType === LEN) {
      const stop = c.delimited(end);
      if ((stop - c.pos) % 8 !== 0) c.fail(`packed fixed64 field ${field} is not a multiple of 8 bytes`);
      while (c.pos < stop) {
        c.fixed64(stop);
        lo.push(c.lo);
        hi.push(c.hi);
      }
    } else if (wireType === I64) {
      c.fixed64(end);
      lo.push(c.lo);
      hi.push(c.hi);
    } else {
      this.other(field, wireType, end, [field]);
    }
  }

  // ---- dictionary -----------------------------------------------------------------------------------------

  private dictionaryMessage(end: number): void {
    const c = this.cursor;
    for (const ranges of [PENDING.locations, PENDING.stacks]) {
      ranges.start.length = 0;
      ranges.end.length = 0;
    }
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (wireType !== LEN) {
        this.other(field, wireType, end, [1, 2, 3, 4, 5, 6, 7]);
        continue;
      }
      const stop = c.delimited(end);
      switch (field) {
        case 1:
          this.mapping(stop);
          break;
        case 2:
          entryRange(PENDING.locations, c, stop);
          break;
        case 3:
          this.function(stop);
          break;
        case 5:
          this.dictionary.strings.push(this.buffer.toString('utf8', c.pos, stop));
          c.pos = stop;
          break;
        case 6:
          this.attribute(stop);
          break;
        case 7:
          entryRange(PENDING.stacks, c, stop);
          break;
        default:
          c.pos = stop;
      }
    }
    this.dictionary.adoptRanges(PENDING);
  }

  /** Occurrences of one field up to `end`, by hopping over fields; the cursor stays put. */
  private countField(end: number, wanted: number): number {
    const c = this.cursor;
    const start = c.pos;
    let count = 0;
    try {
      while (c.pos < end) {
        const tag = c.varint32(end);
        if (tag >>> 3 === wanted) count++;
        c.skip(tag & 7, end, tag >>> 3);
      }
    } catch {
      // Malformed: the decoding proper reports it, with the right position.
    }
    c.pos = start;
    return count;
  }

  private mapping(end: number): void {
    const c = this.cursor;
    const d = this.dictionary;
    let filename = 0;
    const attributesStart = d.indices.length;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 4) {
        if (wireType !== VARINT) this.other(field, wireType, end, [field]);
        filename = c.varint32(end);
      } else if (field === 5) {
        this.int32List(wireType, end, d.indices, field);
      } else if (field <= 3 && wireType !== VARINT) {
        this.other(field, wireType, end, [field]);
      } else {
        c.skip(wireType, end, field);
      }
    }
    d.mappingFilename.push(filename);
    d.mappingAttributes.start.push(attributesStart);
    d.mappingAttributes.end.push(d.indices.length);
  }

  private function(end: number): void {
    const c = this.cursor;
    const d = this.dictionary;
    let name = 0;
    let filename = 0;
    let startLine = 0;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field >= 1 && field <= 4 && wireType !== VARINT) this.other(field, wireType, end, [field]);
      if (field === 1) name = c.varint32(end);
      else if (field === 3) filename = c.varint32(end);
      else if (field === 4) {
        c.varint64(end);
        startLine = c.signedNumber();
      } else c.skip(wireType, end, field);
    }
    d.functionName.push(name);
    d.functionFilename.push(filename);
    d.functionStartLine.push(startLine);
  }

  private attribute(end: number): void {
    const c = this.cursor;
    const d = this.dictionary;
    let key = 0;
    let value: AnyValue | null = null;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === VARINT) key = c.varint32(end);
      else if (field === 2 && wireType === LEN) value = this.submessage<AnyValue>(this.types.anyValue, end);
      else if (field === 3 && wireType === VARINT) c.varint32(end);
      else this.other(field, wireType, end, [1, 2, 3]);
    }
    d.attributeKey.push(key);
    d.attributeValue.push(value);
  }
}

/**
 * Entry ranges of the locations and stacks of the dictionary being read, kept from request to request: their
 * number is only known at the end, and counting them first cost a second pass over tens of thousands of
 * entries. Decoding is synchronous, so one set serves every decoder; each dictionary copies them into
 * columns of its own when its message ends.
 */
const PENDING = { locations: rangeColumns(), stacks: rangeColumns() };

/** Notes where a table entry's message lies and moves past it. */
function entryRange(ranges: RangeColumns, c: WireCursor, stop: number): void {
  ranges.start.push(c.pos);
  ranges.end.push(stop);
  c.pos = stop;
}

/** Grows a scratch array to hold index `at`, keeping its contents. */
function roomFor<T extends Int32Array | Uint32Array | Float64Array>(array: T, at: number): T {
  if (at < array.length) return array;
  const bigger = new (array.constructor as new (length: number) => T)(2 * (at + 1));
  bigger.set(array);
  return bigger;
}

/** A known field with the wrong wire type is malformed; an unknown one is skipped. */
function skipOther(c: WireCursor, field: number, wireType: number, end: number, known: boolean): void {
  if (known) c.fail(`field ${field} has unexpected wire type ${wireType}`);
  c.skip(wireType, end, field);
}

/** Tags (field number and wire type) of the location and line fields the agent sends. */
const TAG_MAPPING = (1 << 3) | VARINT;
const TAG_ADDRESS = (2 << 3) | VARINT;
const TAG_LINE = (3 << 3) | LEN;
const TAG_ATTRIBUTE = (4 << 3) | LEN;
const TAG_FUNCTION = (1 << 3) | VARINT;
const TAG_LINE_NUMBER = (2 << 3) | VARINT;
const TAG_COLUMN = (3 << 3) | VARINT;

/**
 * The varint at `pos` if it ends before `end` within four bytes (a value below 2^28), as value * 8 + its
 * length in bytes; -1 otherwise (longer, or cut short: the general cursor then reads or rejects it).
 */
function shortVarint(bytes: Uint8Array, pos: number, end: number): number {
  let value = 0;
  for (let i = 0; i < 4 && pos + i < end; i++) {
    const byte = bytes[pos + i];
    value |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) return value * 8 + i + 1;
  }
  return -1;
}

/**
 * One location of a dictionary, read on demand: `read(i)` overwrites the fields with entry i's. Nothing is
 * allocated per entry, so reading every location of a request costs only the parsing.
 */
export class LocationEntry {
  mapping = 0;
  /** Address halves (unsigned 32-bit each). */
  addressLo = 0;
  addressHi = 0;
  lineCount = 0;
  lineFunction = new Int32Array(4);
  /** Line and column numbers; NaN where the value does not fit a safe integer. */
  lineNumber = new Float64Array(4);
  lineColumn = new Float64Array(4);
  /** The line number's raw halves, for address-or-line values of frames without an address. */
  lineNumberLo = new Uint32Array(4);
  lineNumberHi = new Uint32Array(4);
  attributeCount = 0;
  attributes = new Int32Array(4);
  private readonly cursor: WireCursor;
  private readonly bytes: Uint8Array;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;

  constructor(dictionary: DictionaryView) {
    this.cursor = new WireCursor(dictionary.bytes);
    this.bytes = dictionary.bytes;
    this.starts = dictionary.locationBytes.start;
    this.ends = dictionary.locationBytes.end;
  }

  /** Reads entry `index`, which the caller has checked is in range. */
  read(index: number): this {
    const bytes = this.bytes;
    const end = this.ends[index];
    let pos = this.starts[index];
    let short: number;
    this.mapping = 0;
    this.addressLo = 0;
    this.addressHi = 0;
    this.lineCount = 0;
    this.attributeCount = 0;
    while (pos < end) {
      // This runs for every location of every request. The agent's usual native frame (a small mapping
      // index, an address below 2^28, one small frame-type attribute) is read right here; anything else —
      // longer values, lines, other layouts, malformed bytes — goes through the general cursor.
      const tag = bytes[pos];
      if (tag === TAG_MAPPING && pos + 1 < end && bytes[pos + 1] < 0x80) {
        this.mapping = bytes[pos + 1];
        pos += 2;
      } else if (tag === TAG_ATTRIBUTE && pos + 2 < end && bytes[pos + 1] === 1 && bytes[pos + 2] < 0x80) {
        this.attribute(bytes[pos + 2]);
        pos += 3;
      } else if (tag === TAG_ADDRESS && (short = shortVarint(bytes, pos + 1, end)) >= 0) {
        this.addressLo = short >>> 3;
        this.addressHi = 0;
        pos += 1 + (short & 7);
      } else if (tag === TAG_LINE && pos + 1 < end && bytes[pos + 1] < 0x80) {
        const stop = pos + 2 + bytes[pos + 1];
        if (stop > end) this.cursor.fail(`length ${bytes[pos + 1]} runs past the end of its message`);
        this.line(pos + 2, stop);
        pos = stop;
      } else pos = this.field(pos, end);
    }
    return this;
  }

  /** Reads the field at `pos` with the general cursor; returns where the next one starts. */
  private field(pos: number, end: number): number {
    const c = this.cursor;
    c.pos = pos;
    const tag = c.varint32(end);
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 1 && wireType === VARINT) this.mapping = c.varint32(end);
    else if (field === 2 && wireType === VARINT) {
      c.varint64(end);
      this.addressLo = c.lo;
      this.addressHi = c.hi;
    } else if (field === 3 && wireType === LEN) {
      const stop = c.delimited(end);
      this.line(c.pos, stop);
      c.pos = stop;
    } else if (field === 4 && wireType === LEN) {
      const stop = c.delimited(end);
      while (c.pos < stop) this.attribute(c.varint32(stop));
    } else if (field === 4 && wireType === VARINT) this.attribute(c.varint32(end));
    else skipOther(c, field, wireType, end, field <= 4);
    return c.pos;
  }

  private attribute(index: number): void {
    if (this.attributeCount === this.attributes.length)
      this.attributes = roomFor(this.attributes, this.attributeCount);
    this.attributes[this.attributeCount++] = index;
  }

  /** Reads the line message at `start..end`: its usual short fields right here, others with the cursor. */
  private line(start: number, end: number): void {
    const at = this.lineCount++;
    if (at >= this.lineFunction.length) {
      this.lineFunction = roomFor(this.lineFunction, at);
      this.lineNumber = roomFor(this.lineNumber, at);
      this.lineColumn = roomFor(this.lineColumn, at);
      this.lineNumberLo = roomFor(this.lineNumberLo, at);
      this.lineNumberHi = roomFor(this.lineNumberHi, at);
    }
    const bytes = this.bytes;
    const c = this.cursor;
    let fn = 0;
    let line = 0;
    let lineLo = 0;
    let lineHi = 0;
    let column = 0;
    let pos = start;
    while (pos < end) {
      const tag = bytes[pos];
      const short =
        tag === TAG_FUNCTION || tag === TAG_LINE_NUMBER || tag === TAG_COLUMN
          ? shortVarint(bytes, pos + 1, end)
          : -1;
      if (short >= 0) {
        pos += 1 + (short & 7);
        const value = short >>> 3;
        if (tag === TAG_FUNCTION) fn = value;
        else if (tag === TAG_LINE_NUMBER) {
          line = value;
          lineLo = value;
          lineHi = 0;
        } else column = value;
        continue;
      }
      c.pos = pos;
      const fieldTag = c.varint32(end);
      const field = fieldTag >>> 3;
      const wireType = fieldTag & 7;
      if (field === 1 && wireType === VARINT) fn = c.varint32(end);
      else if (field === 2 && wireType === VARINT) {
        c.varint64(end);
        lineLo = c.lo;
        lineHi = c.hi;
        line = c.signedNumber();
      } else if (field === 3 && wireType === VARINT) {
        c.varint64(end);
        column = c.signedNumber();
      } else skipOther(c, field, wireType, end, field >= 1 && field <= 3);
      pos = c.pos;
    }
    this.lineFunction[at] = fn;
    this.lineNumber[at] = line;
    this.lineNumberLo[at] = lineLo;
    this.lineNumberHi[at] = lineHi;
    this.lineColumn[at] = column;
  }
}

/** One stack of a dictionary, read on demand: `read(i)` leaves entry i's location indices in `locations`. */
export class StackEntry {
  count = 0;
  locations = new Int32Array(128);
  private readonly cursor: WireCursor;

  constructor(private readonly dictionary: DictionaryView) {
    this.cursor = new WireCursor(dictionary.bytes);
  }

  /** Reads entry `index`, which the caller has checked is in range. */
  read(index: number): this {
    const c = this.cursor;
    c.pos = this.dictionary.stackBytes.start[index];
    const end = this.dictionary.stackBytes.end[index];
    this.count = 0;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === LEN) {
        const stop = c.delimited(end);
        // At most one index per byte: room for all of them up front keeps the loop free of checks.
        this.locations = roomFor(this.locations, this.count + stop - c.pos);
        const locations = this.locations;
        let count = this.count;
        while (c.pos < stop) locations[count++] = c.varint32(stop);
        this.count = count;
      } else if (field === 1 && wireType === VARINT) {
        this.locations = roomFor(this.locations, this.count);
        this.locations[this.count++] = c.varint32(end);
      } else skipOther(c, field, wireType, end, field === 1);
    }
    return this;
  }
}
