/**
 * A columnar decoding of ExportProfilesServiceRequest for the ingest hot path. Instead of one object per
 * sample, location, line and timestamp (what a generic decoder builds), every repeated field becomes flat
 * number arrays indexed by entry, so decoding allocates per table rather than per entry. The small, rarely
 * repeated parts (resources, scopes, attribute values) are decoded with protobufjs.
 *
 * Index fields are not checked here (the translator checks every one it follows); the wire format is: a
 * truncated, mistyped or otherwise malformed message throws InvalidRequestError.
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
  strings: string[];
  attributeKey: Int32Array;
  attributeValue: (AnyValue | null)[];
  mappingFilename: Int32Array;
  mappingAttributes: Ranges;
  locationMapping: Int32Array;
  /** Address halves (unsigned 32-bit each). */
  locationAddressLo: Float64Array;
  locationAddressHi: Float64Array;
  locationLines: Ranges;
  locationAttributes: Ranges;
  lineFunction: Int32Array;
  /** Line and column numbers; NaN where the value does not fit a safe integer. */
  lineNumber: Float64Array;
  lineColumn: Float64Array;
  /** The line number's raw halves, for address-or-line values of frames without an address. */
  lineNumberLo: Float64Array;
  lineNumberHi: Float64Array;
  functionName: Int32Array;
  functionFilename: Int32Array;
  functionStartLine: Float64Array;
  stackLocations: Ranges;
  /** Shared pool of all index lists above (attribute indices, location indices). */
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
  locationMapping = new Int32Column();
  locationAddressLo = new Float64Column();
  locationAddressHi = new Float64Column();
  locationLines = rangeColumns();
  locationAttributes = rangeColumns();
  lineFunction = new Int32Column();
  lineNumber = new Float64Column();
  lineColumn = new Float64Column();
  lineNumberLo = new Float64Column();
  lineNumberHi = new Float64Column();
  functionName = new Int32Column();
  functionFilename = new Int32Column();
  functionStartLine = new Float64Column();
  stackLocations = rangeColumns();
  indices = new Int32Column();

  /**
   * Sizes the columns for a dictionary message with the given numbers of entries (field number → count). Lines
   * and index lists are not counted; one line and two indices per location is what the agent sends.
   */
  reserve(counts: Int32Array): void {
    const plan: [Int32Column | Float64Column, number][] = [];
    const add = (columns: (Int32Column | Float64Column)[], entries: number) => {
      for (const column of columns) plan.push([column, column.length + entries]);
    };
    const m = this.mappingAttributes;
    add([this.mappingFilename, m.start, m.end], counts[1]);
    const lines = this.locationLines;
    const attributes = this.locationAttributes;
    add([this.locationMapping, lines.start, lines.end, attributes.start, attributes.end], counts[2]);
    add([this.locationAddressLo, this.locationAddressHi], counts[2]);
    add(
      [this.lineFunction, this.lineNumber, this.lineColumn, this.lineNumberLo, this.lineNumberHi],
      counts[2],
    );
    add([this.functionName, this.functionFilename, this.functionStartLine], counts[3]);
    add([this.attributeKey], counts[6]);
    add([this.stackLocations.start, this.stackLocations.end], counts[7]);
    add([this.indices], 2 * counts[2] + counts[7] + 64);
    // One allocation for all columns: a request holds tens of thousands of entries, and one buffer per column
    // cost more to allocate (and to collect) than the decoding of the entries.
    let bytes = 0;
    for (const [column, capacity] of plan)
      bytes += 8 * Math.ceil((capacity * column.data.BYTES_PER_ELEMENT) / 8);
    // Uninitialized memory: columns only ever expose entries they have written.
    const arena = Buffer.allocUnsafeSlow(bytes).buffer;
    let offset = 0;
    for (const [column, capacity] of plan) {
      column.adopt(arena, offset, capacity);
      offset += 8 * Math.ceil((capacity * column.data.BYTES_PER_ELEMENT) / 8);
    }
  }

  view(): DictionaryView {
    return {
      strings: this.strings,
      attributeKey: this.attributeKey.view(),
      attributeValue: this.attributeValue,
      mappingFilename: this.mappingFilename.view(),
      mappingAttributes: rangesView(this.mappingAttributes),
      locationMapping: this.locationMapping.view(),
      locationAddressLo: this.locationAddressLo.view(),
      locationAddressHi: this.locationAddressHi.view(),
      locationLines: rangesView(this.locationLines),
      locationAttributes: rangesView(this.locationAttributes),
      lineFunction: this.lineFunction.view(),
      lineNumber: this.lineNumber.view(),
      lineColumn: this.lineColumn.view(),
      lineNumberLo: this.lineNumberLo.view(),
      lineNumberHi: this.lineNumberHi.view(),
      functionName: this.functionName.view(),
      functionFilename: this.functionFilename.view(),
      functionStartLine: this.functionStartLine.view(),
      stackLocations: rangesView(this.stackLocations),
      indices: this.indices.view(),
      mappingCount: this.mappingFilename.length,
      locationCount: this.locationMapping.length,
      functionCount: this.functionName.length,
      stackCount: this.stackLocations.start.length,
      attributeCount: this.attributeKey.length,
    };
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
}

/** Sample field numbers per wire revision (the previous revision numbered them differently). */
const SAMPLE_FIELDS: Record<WireRevision, { attributes: number; link: number; values: number }> = {
  current: { attributes: 2, link: 3, values: 4 },
  previous: { attributes: 3, link: 4, values: 2 },
};

export class ViewDecoder {
  private readonly cursor: WireCursor;
  private readonly buffer: Buffer;
  private readonly dictionary = new DictionaryColumns();
  private readonly sampleFields: { attributes: number; link: number; values: number };

  constructor(
    private readonly bytes: Uint8Array,
    private readonly revision: WireRevision,
    private readonly types: SubmessageTypes,
  ) {
    this.cursor = new WireCursor(bytes);
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.sampleFields = SAMPLE_FIELDS[revision];
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
    const samples = new SampleColumns();
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
    this.dictionary.reserve(this.countEntries(end));
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
          this.location(stop);
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
          this.stack(stop);
          break;
        default:
          c.pos = stop;
      }
    }
  }

  /** Entries per field number (1..7) of a dictionary message, by hopping over them; the cursor stays put. */
  private countEntries(end: number): Int32Array {
    const c = this.cursor;
    const start = c.pos;
    const counts = new Int32Array(8);
    try {
      while (c.pos < end) {
        const tag = c.varint32(end);
        const field = tag >>> 3;
        if (field < 8) counts[field]++;
        c.skip(tag & 7, end, field);
      }
    } catch {
      // Malformed: the decoding proper reports it, with the right position.
    }
    c.pos = start;
    return counts;
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

  private location(end: number): void {
    const c = this.cursor;
    const d = this.dictionary;
    let mapping = 0;
    let addressLo = 0;
    let addressHi = 0;
    const linesStart = d.lineFunction.length;
    const attributesStart = d.indices.length;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1) {
        if (wireType !== VARINT) this.other(field, wireType, end, [field]);
        mapping = c.varint32(end);
      } else if (field === 2) {
        if (wireType !== VARINT) this.other(field, wireType, end, [field]);
        c.varint64(end);
        addressLo = c.lo;
        addressHi = c.hi;
      } else if (field === 3) {
        if (wireType !== LEN) this.other(field, wireType, end, [field]);
        this.line(c.delimited(end));
      } else if (field === 4) {
        this.int32List(wireType, end, d.indices, field);
      } else {
        c.skip(wireType, end, field);
      }
    }
    d.locationMapping.push(mapping);
    d.locationAddressLo.push(addressLo);
    d.locationAddressHi.push(addressHi);
    d.locationLines.start.push(linesStart);
    d.locationLines.end.push(d.lineFunction.length);
    d.locationAttributes.start.push(attributesStart);
    d.locationAttributes.end.push(d.indices.length);
  }

  private line(end: number): void {
    const c = this.cursor;
    const d = this.dictionary;
    let fn = 0;
    let line = 0;
    let lineLo = 0;
    let lineHi = 0;
    let column = 0;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field >= 1 && field <= 3 && wireType !== VARINT) this.other(field, wireType, end, [field]);
      if (field === 1) fn = c.varint32(end);
      else if (field === 2) {
        c.varint64(end);
        lineLo = c.lo;
        lineHi = c.hi;
        line = c.signedNumber();
      } else if (field === 3) {
        c.varint64(end);
        column = c.signedNumber();
      } else c.skip(wireType, end, field);
    }
    d.lineFunction.push(fn);
    d.lineNumber.push(line);
    d.lineNumberLo.push(lineLo);
    d.lineNumberHi.push(lineHi);
    d.lineColumn.push(column);
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

  private stack(end: number): void {
    const c = this.cursor;
    const d = this.dictionary;
    const start = d.indices.length;
    while (c.pos < end) {
      const tag = c.varint32(end);
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1) this.int32List(wireType, end, d.indices, field);
      else c.skip(wireType, end, field);
    }
    d.stackLocations.start.push(start);
    d.stackLocations.end.push(d.indices.length);
  }
}
