import { formatError } from '../errors.ts';
import { ByteReader, stringAt } from '../reader.ts';
import * as constants from './constants.ts';
import type { DwarfSections } from './sections.ts';

// Module-local copies: an imported binding may be read through an accessor on every use (hot loops).
const DW_AT = constants.DW_AT;
const DW_FORM = constants.DW_FORM;
const DW_TAG = constants.DW_TAG;
const DW_UT = constants.DW_UT;

/**
 * One abbreviation: its attributes are `names[first .. end)`, `forms[…]`, `implicitConsts[…]` of its
 * table's flat arrays (one allocation per abbreviation instead of four: glibc's debug file has tens of
 * thousands). A class so that every abbreviation has the same shape for the DIE walk.
 */
export class Abbrev {
  /** Byte size of the DIE's attributes when every form has a fixed size, for the unit shape in `fixedKey`. */
  fixedSize = -1;
  fixedKey = -1;
  /** The table's columns, set once the whole table is parsed. */
  names: Int32Array = NO_INTS;
  forms: Int32Array = NO_INTS;
  implicitConsts: Float64Array = NO_FLOATS;
  constructor(
    readonly tag: number,
    readonly hasChildren: boolean,
    readonly first: number,
    readonly end: number,
  ) {}

  setColumns(names: Int32Array, forms: Int32Array, consts: Float64Array): void {
    this.names = names;
    this.forms = forms;
    this.implicitConsts = consts;
  }
}

const NO_INTS = new Int32Array(0);
const NO_FLOATS = new Float64Array(0);

/** Codes below this sit in an array (compilers number abbreviations 1, 2, 3, …); others in a Map. */
const DENSE_CODES = 1 << 16;

/** Abbreviations by code: one array read per DIE instead of a Map lookup. */
export class AbbrevTable {
  private readonly dense: (Abbrev | undefined)[] = [];
  private sparse: Map<number, Abbrev> | undefined;

  get(code: number): Abbrev | undefined {
    return code < DENSE_CODES ? this.dense[code] : this.sparse?.get(code);
  }

  /** Hands every abbreviation the table's attribute columns. */
  setColumns(names: Int32Array, forms: Int32Array, consts: Float64Array): void {
    for (let i = 0; i < this.dense.length; i++) {
      const abbrev = this.dense[i];
      if (abbrev) abbrev.setColumns(names, forms, consts);
    }
    this.sparse?.forEach((abbrev) => abbrev.setColumns(names, forms, consts));
  }

  set(code: number, abbrev: Abbrev): void {
    if (code < DENSE_CODES) {
      // Fill holes first so the array stays packed.
      while (this.dense.length < code) this.dense.push(undefined);
      this.dense[code] = abbrev;
    } else (this.sparse ??= new Map()).set(code, abbrev);
  }
}

const MAX_ABBREV_ATTRS = 1024;
/** Bytes enough for any unit header (64-bit DWARF 5 type unit: 12 + 2 + 1 + 1 + 8 + 8 + 8). */
const MAX_UNIT_HEADER = 48;
/** Bytes of a large windowed unit read first for its root DIE when listing units. */
const ROOT_WINDOW = 1 << 16;

/**
 * Recently parsed abbreviation tables by offset, shared by the units of one file. Bounded: a one-pass
 * sweep must not keep every table, yet units that share a table (dwz, or neighbours compiled alike) parse
 * it once.
 */
export class AbbrevCache {
  private readonly tables = new Map<number, AbbrevTable>();
  constructor(private readonly limit = 32) {}

  get(offset: number): AbbrevTable | undefined {
    return this.tables.get(offset);
  }

  set(offset: number, table: AbbrevTable): void {
    if (this.tables.size >= this.limit) {
      const oldest = this.tables.keys().next().value as number;
      this.tables.delete(oldest);
    }
    this.tables.set(offset, table);
  }
}

/** Attribute columns shared by every table being parsed (one at a time), doubled when full. */
let scratchNames = new Int32Array(1024);
let scratchForms = new Int32Array(1024);
let scratchConsts = new Float64Array(1024);

function growScratchAttributes(): void {
  const size = scratchNames.length * 2;
  const names = new Int32Array(size);
  const forms = new Int32Array(size);
  const consts = new Float64Array(size);
  names.set(scratchNames);
  forms.set(scratchForms);
  consts.set(scratchConsts);
  scratchNames = names;
  scratchForms = forms;
  scratchConsts = consts;
}

/**
 * Parse an abbreviation table; with `stopAtCode`, only that code's abbreviation (enough for a unit's root
 * DIE), stepping over the ones before it without building them: listing a file's units stays cheap.
 */
export function parseAbbrevTable(
  data: Uint8Array,
  offset: number,
  littleEndian: boolean,
  stopAtCode?: number,
): AbbrevTable {
  const r = new ByteReader(data, littleEndian, 0);
  r.seek(offset);
  const table = new AbbrevTable();
  let count = 0;
  for (;;) {
    const code = r.uleb();
    if (code === 0) break;
    const tag = r.uleb();
    const hasChildren = r.u8() !== 0;
    if (stopAtCode !== undefined && code !== stopAtCode) {
      // Only the root DIE's abbreviation is wanted: step over the others without keeping them.
      for (let attrs = 0; ; attrs++) {
        const name = r.uleb();
        const form = r.uleb();
        if (name === 0 && form === 0) break;
        if (attrs >= MAX_ABBREV_ATTRS) throw formatError('abbreviation with too many attributes', r.offset);
        if (form === DW_FORM.implicitConst) r.sleb();
      }
      continue;
    }
    const first = count;
    for (;;) {
      const name = r.uleb();
      const form = r.uleb();
      if (name === 0 && form === 0) break;
      if (count - first >= MAX_ABBREV_ATTRS)
        throw formatError('abbreviation with too many attributes', r.offset);
      if (count === scratchNames.length) growScratchAttributes();
      scratchNames[count] = name;
      scratchForms[count] = form;
      scratchConsts[count] = form === DW_FORM.implicitConst ? r.sleb() : 0;
      count++;
    }
    table.set(code, new Abbrev(tag, hasChildren, first, count));
    if (code === stopAtCode) break;
  }
  const names = scratchNames.slice(0, count);
  const forms = scratchForms.slice(0, count);
  const consts = scratchConsts.slice(0, count);
  // A huge table's columns are not kept for the rest of the process.
  if (scratchNames.length > 1 << 16) {
    scratchNames = new Int32Array(1024);
    scratchForms = new Int32Array(1024);
    scratchConsts = new Float64Array(1024);
  }
  table.setColumns(names, forms, consts);
  return table;
}

/** One unit of `.debug_info`: its header and the base attributes of its root DIE. */
export class Unit {
  readonly sections: DwarfSections;
  readonly offset: number;
  readonly end: number;
  readonly version: number;
  readonly unitType: number;
  readonly offsetSize: number;
  readonly addressSize: number;
  readonly abbrevOffset: number;
  /** Offset of the root DIE. */
  readonly firstDie: number;
  /** The full abbreviation table, parsed when the unit is first indexed (shared between units). */
  private abbrevTable: AbbrevTable | undefined;
  private abbrevCache: AbbrevCache | undefined;
  rootTag = 0;
  name = '';
  compDir = '';
  stmtList = -1;
  lowPc = 0;
  strOffsetsBase = 0;
  addrBase = 0;
  rnglistsBase = 0;
  /** DW_AT_dwo_name of a skeleton unit: the split unit lives in this .dwo file. */
  dwoName = '';
  /** DW_AT_GNU_ranges_base of a DWARF 4 skeleton: its split unit's range offsets are relative to it. */
  gnuRangesBase = 0;
  /** Added to DWARF 4 range list offsets (non-zero only for GNU split units). */
  rangesBase = 0;
  /** Raw DW_AT_ranges value of the root DIE, resolved once the bases are known. */
  private rootRanges: { value: number; form: number } | undefined;
  private rootHighPc: { value: number; form: number } | undefined;

  constructor(sections: DwarfSections, offset: number) {
    this.sections = sections;
    this.offset = offset;
    const windows = sections.infoWindows;
    const infoLength = windows ? windows.size : sections.info.length;
    // A windowed section: only the header's bytes now (the unit is read when it is walked).
    const r = windows
      ? new ByteReader(
          windows.read(offset, Math.max(0, Math.min(MAX_UNIT_HEADER, infoLength - offset))),
          sections.littleEndian,
          offset,
          offset,
        )
      : new ByteReader(sections.info, sections.littleEndian, offset);
    let length = r.u32();
    this.offsetSize = 4;
    if (length === 0xffffffff) {
      length = r.u64();
      this.offsetSize = 8;
    } else if (length >= 0xfffffff0) {
      throw formatError(`reserved unit length 0x${length.toString(16)}`, offset);
    }
    this.end = r.offset + length;
    if (this.end > infoLength) throw formatError('unit extends past .debug_info', offset);
    this.version = r.u16();
    if (this.version < 2 || this.version > 5)
      throw formatError(`unsupported DWARF version ${this.version}`, offset);
    if (this.version >= 5) {
      this.unitType = r.u8();
      this.addressSize = r.u8();
      this.abbrevOffset = r.uint(this.offsetSize);
      if (this.unitType === DW_UT.skeleton || this.unitType === DW_UT.splitCompile) r.skip(8);
      else if (this.unitType === DW_UT.type || this.unitType === DW_UT.splitType) r.skip(8 + this.offsetSize);
    } else {
      this.unitType = DW_UT.compile;
      this.abbrevOffset = r.uint(this.offsetSize);
      this.addressSize = r.u8();
    }
    if (this.addressSize !== 4 && this.addressSize !== 8 && this.addressSize !== 2) {
      throw formatError(`unsupported address size ${this.addressSize}`, offset);
    }
    this.firstDie = r.offset;
  }

  /**
   * Parse the abbreviations and the root DIE (names, bases, line table offset, ranges). A split unit
   * (from a .dwo file) inherits its skeleton's address base and base address.
   */
  load(
    abbrevCache: AbbrevCache,
    inherited?: { addrBase: number; lowPc: number; gnuRangesBase: number },
  ): void {
    this.abbrevCache = abbrevCache;
    if (inherited) {
      this.addrBase = inherited.addrBase;
      this.lowPc = inherited.lowPc;
      this.rangesBase = inherited.gnuRangesBase;
      // Split units index .debug_rnglists.dwo from just after its header (DWARF 5, 7.29).
      this.rnglistsBase = this.offsetSize === 8 ? 20 : 12;
    }
    this.abbrevTable = abbrevCache.get(this.abbrevOffset);
    if (this.firstDie >= this.end) return;
    const windows = this.sections.infoWindows;
    const unitBytes = this.end - this.firstDie;
    if (!windows || unitBytes <= ROOT_WINDOW) {
      this.readRoot(this.reader(this.firstDie));
      return;
    }
    // Listing units must stay cheap: the root DIE is near the start of a large unit, rarely past it.
    try {
      this.readRoot(
        new ByteReader(
          windows.read(this.firstDie, ROOT_WINDOW),
          this.sections.littleEndian,
          this.firstDie,
          this.firstDie,
        ),
      );
    } catch {
      this.readRoot(this.reader(this.firstDie));
    }
  }

  /** The root DIE's attributes, read from `r` at the first DIE. */
  private readRoot(r: ByteReader): void {
    // Listing units must stay cheap: read only as much of the abbreviation table as the root DIE needs.
    const code = r.uleb();
    if (code === 0) return;
    const partial =
      this.abbrevTable ??
      parseAbbrevTable(this.sections.abbrev, this.abbrevOffset, this.sections.littleEndian, code);
    const abbrev = partial.get(code);
    if (!abbrev) throw formatError(`unknown abbreviation code ${code}`, this.firstDie);
    this.rootTag = abbrev.tag;
    const strings: { name: number; form: number; at: number }[] = [];
    for (let i = abbrev.first; i < abbrev.end; i++) {
      const name = abbrev.names[i];
      const form = abbrev.forms[i];
      switch (name) {
        case DW_AT.name:
        case DW_AT.compDir:
        case DW_AT.dwoName:
        case DW_AT.gnuDwoName:
          strings.push({ name, form, at: r.offset });
          this.skipAttr(r, form);
          break;
        case DW_AT.stmtList:
          this.stmtList = this.readNumber(r, form, abbrev.implicitConsts[i]);
          break;
        case DW_AT.lowPc:
          // addrx needs addr_base, which may come later in the DIE: keep the raw form.
          this.rootLowPc = { value: this.readNumber(r, form, abbrev.implicitConsts[i]), form };
          break;
        case DW_AT.highPc:
          this.rootHighPc = { value: this.readNumber(r, form, abbrev.implicitConsts[i]), form };
          break;
        case DW_AT.ranges:
          this.rootRanges = { value: this.readNumber(r, form, abbrev.implicitConsts[i]), form };
          break;
        case DW_AT.strOffsetsBase:
          this.strOffsetsBase = this.readNumber(r, form, abbrev.implicitConsts[i]);
          break;
        case DW_AT.addrBase:
        case DW_AT.gnuAddrBase:
          this.addrBase = this.readNumber(r, form, abbrev.implicitConsts[i]);
          break;
        case DW_AT.gnuRangesBase:
          this.gnuRangesBase = this.readNumber(r, form, abbrev.implicitConsts[i]);
          break;
        case DW_AT.rnglistsBase:
          this.rnglistsBase = this.readNumber(r, form, abbrev.implicitConsts[i]);
          break;
        default:
          this.skipAttr(r, form);
      }
    }
    // DWARF 5 without DW_AT_str_offsets_base: the first contribution's header is 8 (or 16) bytes.
    if (this.version >= 5 && this.strOffsetsBase === 0 && this.sections.strOffsets.length > 0) {
      this.strOffsetsBase = this.offsetSize === 8 ? 16 : 8;
    }
    if (this.rootLowPc) this.lowPc = this.resolveAddress(this.rootLowPc.value, this.rootLowPc.form);
    for (const s of strings) {
      const sr = new ByteReader(r.bytes, this.sections.littleEndian, s.at, r.base);
      const text = this.readString(sr, s.form);
      if (s.name === DW_AT.name) this.name = text;
      else if (s.name === DW_AT.compDir) this.compDir = text;
      else this.dwoName = text;
    }
  }

  private rootLowPc: { value: number; form: number } | undefined;

  get isCompileUnit(): boolean {
    return (
      this.rootTag === DW_TAG.compileUnit ||
      this.rootTag === DW_TAG.partialUnit ||
      this.rootTag === DW_TAG.skeletonUnit
    );
  }

  /** Address ranges of the unit's root DIE, or undefined when it has none. */
  rootRangeList(): [number, number][] | undefined {
    if (this.rootRanges) return this.rangeList(this.rootRanges.value, this.rootRanges.form, this.lowPc);
    if (this.rootLowPc && this.rootHighPc) {
      const high = this.highPc(this.lowPc, this.rootHighPc.value, this.rootHighPc.form);
      return high > this.lowPc ? [[this.lowPc, high]] : [];
    }
    return undefined;
  }

  reader(offset: number): ByteReader {
    const windows = this.sections.infoWindows;
    if (!windows) return new ByteReader(this.sections.info, this.sections.littleEndian, offset);
    const bytes = windows.unit(this.offset, this.end - this.offset);
    return new ByteReader(bytes, this.sections.littleEndian, offset, this.offset);
  }

  /**
   * A reader of `.debug_info` at the offset, shared by every call on this unit (valid until the next
   * call): decoding one DIE's attributes must not allocate a reader (and its DataView) per DIE. A
   * windowed unit gets a new one each time, so that no reader keeps a dropped window alive.
   */
  scratchReader(offset: number): ByteReader {
    if (this.sections.infoWindows) return this.reader(offset);
    const r = (this.scratchInfo ??= new ByteReader(this.sections.info, this.sections.littleEndian));
    r.seek(offset);
    return r;
  }

  /** Readers of the sections that leaf lookups (addresses, string offsets, range lists) seek into. */
  private scratchInfo: ByteReader | undefined;
  private addrReader: ByteReader | undefined;
  private strOffsetsReader: ByteReader | undefined;
  private rangesReader: ByteReader | undefined;
  private rnglistsReader: ByteReader | undefined;

  private abbrevs(): AbbrevTable {
    if (!this.abbrevTable) {
      const cache = (this.abbrevCache ??= new AbbrevCache());
      this.abbrevTable = cache.get(this.abbrevOffset);
      if (!this.abbrevTable) {
        this.abbrevTable = parseAbbrevTable(
          this.sections.abbrev,
          this.abbrevOffset,
          this.sections.littleEndian,
        );
        cache.set(this.abbrevOffset, this.abbrevTable);
      }
    }
    return this.abbrevTable;
  }

  /** Lets go of the unit's abbreviation table (the bounded cache may still hold it for a neighbour). */
  releaseAbbrevs(): void {
    this.abbrevTable = undefined;
  }

  /** Read an abbreviation code and return its abbreviation; undefined for a null entry. */
  abbrevAt(r: ByteReader): Abbrev | undefined {
    const code = r.uleb();
    if (code === 0) return undefined;
    const abbrev = this.abbrevs().get(code);
    if (!abbrev) throw formatError(`unknown abbreviation code ${code}`, r.offset);
    return abbrev;
  }

  highPc(low: number, value: number, form: number): number {
    return isAddressForm(form) ? this.resolveAddress(value, form) : low + value;
  }

  /** Turn a raw DW_FORM_addr / addrx value into an address. */
  resolveAddress(value: number, form: number): number {
    if (form === DW_FORM.addr) return value;
    if (isAddressForm(form)) return this.addressAtIndex(value);
    return value;
  }

  addressAtIndex(index: number): number {
    const r = (this.addrReader ??= new ByteReader(this.sections.addr, this.sections.littleEndian));
    r.seek(this.addrBase + index * this.addressSize);
    return r.uint(this.addressSize);
  }

  /** Read a numeric attribute value: constants, addresses (raw), offsets, and references made absolute. */
  readNumber(r: ByteReader, form: number, implicitConst: number): number {
    switch (form) {
      case DW_FORM.addr:
        return r.uint(this.addressSize);
      case DW_FORM.data1:
      case DW_FORM.ref1:
      case DW_FORM.flag:
      case DW_FORM.strx1:
      case DW_FORM.addrx1:
        return r.u8() + (form === DW_FORM.ref1 ? this.offset : 0);
      case DW_FORM.data2:
      case DW_FORM.ref2:
      case DW_FORM.strx2:
      case DW_FORM.addrx2:
        return r.u16() + (form === DW_FORM.ref2 ? this.offset : 0);
      case DW_FORM.strx3:
      case DW_FORM.addrx3:
        return r.uint(3);
      case DW_FORM.data4:
      case DW_FORM.ref4:
      case DW_FORM.strx4:
      case DW_FORM.addrx4:
        return r.u32() + (form === DW_FORM.ref4 ? this.offset : 0);
      case DW_FORM.data8:
      case DW_FORM.ref8:
        return r.u64() + (form === DW_FORM.ref8 ? this.offset : 0);
      case DW_FORM.sdata:
        return r.sleb();
      case DW_FORM.udata:
      case DW_FORM.strx:
      case DW_FORM.addrx:
      case DW_FORM.rnglistx:
      case DW_FORM.loclistx:
      case DW_FORM.gnuAddrIndex:
      case DW_FORM.gnuStrIndex:
        return r.uleb();
      case DW_FORM.refUdata:
        return r.uleb() + this.offset;
      case DW_FORM.refAddr:
        return r.uint(this.version <= 2 ? this.addressSize : this.offsetSize);
      case DW_FORM.secOffset:
      case DW_FORM.strp:
      case DW_FORM.lineStrp:
        return r.uint(this.offsetSize);
      case DW_FORM.implicitConst:
        return implicitConst;
      case DW_FORM.flagPresent:
        return 1;
      case DW_FORM.indirect:
        return this.readNumber(r, r.uleb(), implicitConst);
      default:
        // Forms we cannot use as a number (blocks, strings, alternate-file references): skip, mark invalid.
        this.skipAttr(r, form);
        return -1;
    }
  }

  readString(r: ByteReader, form: number): string {
    switch (form) {
      case DW_FORM.string:
        return r.cstring();
      case DW_FORM.strp:
        return stringAt(this.sections.str, r.uint(this.offsetSize));
      case DW_FORM.lineStrp:
        return stringAt(this.sections.lineStr, r.uint(this.offsetSize));
      case DW_FORM.gnuStrpAlt: {
        // A string in the supplementary (dwz) file; empty when that file was not found.
        const offset = r.uint(this.offsetSize);
        return this.sections.altStr ? stringAt(this.sections.altStr, offset) : '';
      }
      case DW_FORM.strx:
      case DW_FORM.gnuStrIndex:
        return this.stringAtIndex(r.uleb());
      case DW_FORM.strx1:
        return this.stringAtIndex(r.u8());
      case DW_FORM.strx2:
        return this.stringAtIndex(r.u16());
      case DW_FORM.strx3:
        return this.stringAtIndex(r.uint(3));
      case DW_FORM.strx4:
        return this.stringAtIndex(r.u32());
      case DW_FORM.indirect:
        return this.readString(r, r.uleb());
      default:
        this.skipAttr(r, form);
        return '';
    }
  }

  stringAtIndex(index: number): string {
    const r = (this.strOffsetsReader ??= new ByteReader(
      this.sections.strOffsets,
      this.sections.littleEndian,
    ));
    r.seek(this.strOffsetsBase + index * this.offsetSize);
    return stringAt(this.sections.str, r.uint(this.offsetSize));
  }

  /**
   * The total size of an abbreviation's attributes when all of them have fixed sizes in this unit, else -1:
   * uninteresting DIEs are then skipped in one step instead of attribute by attribute.
   */
  fixedSize(abbrev: Abbrev): number {
    const key = this.version * 256 + this.offsetSize * 16 + this.addressSize;
    if (abbrev.fixedKey === key) return abbrev.fixedSize;
    let size = 0;
    for (let i = abbrev.first; i < abbrev.end; i++) {
      const formSize = this.fixedFormSize(abbrev.forms[i]);
      if (formSize < 0) {
        size = -1;
        break;
      }
      size += formSize;
    }
    abbrev.fixedKey = key;
    abbrev.fixedSize = size;
    return size;
  }

  private fixedFormSize(form: number): number {
    switch (form) {
      case DW_FORM.flagPresent:
      case DW_FORM.implicitConst:
        return 0;
      case DW_FORM.data1:
      case DW_FORM.ref1:
      case DW_FORM.flag:
      case DW_FORM.strx1:
      case DW_FORM.addrx1:
        return 1;
      case DW_FORM.data2:
      case DW_FORM.ref2:
      case DW_FORM.strx2:
      case DW_FORM.addrx2:
        return 2;
      case DW_FORM.strx3:
      case DW_FORM.addrx3:
        return 3;
      case DW_FORM.data4:
      case DW_FORM.ref4:
      case DW_FORM.strx4:
      case DW_FORM.addrx4:
      case DW_FORM.refSup4:
        return 4;
      case DW_FORM.data8:
      case DW_FORM.ref8:
      case DW_FORM.refSig8:
      case DW_FORM.refSup8:
        return 8;
      case DW_FORM.data16:
        return 16;
      case DW_FORM.addr:
        return this.addressSize;
      case DW_FORM.refAddr:
        return this.version <= 2 ? this.addressSize : this.offsetSize;
      case DW_FORM.strp:
      case DW_FORM.lineStrp:
      case DW_FORM.secOffset:
      case DW_FORM.strpSup:
      case DW_FORM.gnuRefAlt:
      case DW_FORM.gnuStrpAlt:
        return this.offsetSize;
      default:
        return -1;
    }
  }

  skipAttr(r: ByteReader, form: number): void {
    const size = this.fixedFormSize(form);
    if (size >= 0) {
      r.skip(size);
      return;
    }
    switch (form) {
      case DW_FORM.sdata:
      case DW_FORM.udata:
      case DW_FORM.refUdata:
      case DW_FORM.strx:
      case DW_FORM.addrx:
      case DW_FORM.rnglistx:
      case DW_FORM.loclistx:
      case DW_FORM.gnuAddrIndex:
      case DW_FORM.gnuStrIndex:
        r.uleb();
        return;
      case DW_FORM.string:
        r.skipCString();
        return;
      case DW_FORM.block1:
        r.skip(r.u8());
        return;
      case DW_FORM.block2:
        r.skip(r.u16());
        return;
      case DW_FORM.block4:
        r.skip(r.u32());
        return;
      case DW_FORM.block:
      case DW_FORM.exprloc:
        r.skip(r.uleb());
        return;
      case DW_FORM.indirect:
        this.skipAttr(r, r.uleb());
        return;
      default:
        throw formatError(`unknown attribute form 0x${form.toString(16)}`, r.offset);
    }
  }

  /** Resolve a DW_AT_ranges value to [low, high) pairs (empty and tombstoned ranges dropped). */
  rangeList(value: number, form: number, base: number): [number, number][] {
    const flat: number[] = [];
    this.rangeListInto(value, form, base, flat);
    const out: [number, number][] = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
    return out;
  }

  /** `rangeList` appended to `out` as flat low, high pairs (no array per range: units index thousands). */
  rangeListInto(value: number, form: number, base: number, out: number[]): void {
    if (value < 0) return;
    if (this.version >= 5) {
      let offset = value;
      if (form === DW_FORM.rnglistx) {
        const r = this.rnglists();
        r.seek(this.rnglistsBase + value * this.offsetSize);
        offset = this.rnglistsBase + r.uint(this.offsetSize);
      }
      this.readRnglist(offset, base, out);
    } else {
      this.readRanges(value + this.rangesBase, base, out);
    }
  }

  private rnglists(): ByteReader {
    return (this.rnglistsReader ??= new ByteReader(this.sections.rnglists, this.sections.littleEndian));
  }

  private readRanges(offset: number, base: number, out: number[]): void {
    const r = (this.rangesReader ??= new ByteReader(this.sections.ranges, this.sections.littleEndian));
    r.seek(offset);
    const baseSelector = this.addressSize === 8 ? 2 ** 64 : 2 ** (this.addressSize * 8) - 1;
    for (let guard = 0; guard < 1 << 24; guard++) {
      const begin = r.uint(this.addressSize);
      const end = r.uint(this.addressSize);
      if (begin === 0 && end === 0) return;
      if (begin >= baseSelector) {
        base = end;
        continue;
      }
      pushFlat(out, base + begin, base + end);
    }
  }

  private readRnglist(offset: number, base: number, out: number[]): void {
    const r = this.rnglists();
    r.seek(offset);
    const size = this.addressSize;
    for (let guard = 0; guard < 1 << 24; guard++) {
      const kind = r.u8();
      switch (kind) {
        case 0: // DW_RLE_end_of_list
          return;
        case 1: // DW_RLE_base_addressx
          base = this.addressAtIndex(r.uleb());
          break;
        case 2: {
          // DW_RLE_startx_endx
          const begin = this.addressAtIndex(r.uleb());
          pushFlat(out, begin, this.addressAtIndex(r.uleb()));
          break;
        }
        case 3: {
          // DW_RLE_startx_length
          const begin = this.addressAtIndex(r.uleb());
          pushFlat(out, begin, begin + r.uleb());
          break;
        }
        case 4: {
          // DW_RLE_offset_pair
          const begin = r.uleb();
          pushFlat(out, base + begin, base + r.uleb());
          break;
        }
        case 5: // DW_RLE_base_address
          base = r.uint(size);
          break;
        case 6: {
          // DW_RLE_start_end
          const begin = r.uint(size);
          pushFlat(out, begin, r.uint(size));
          break;
        }
        case 7: {
          // DW_RLE_start_length
          const begin = r.uint(size);
          pushFlat(out, begin, begin + r.uleb());
          break;
        }
        default:
          throw formatError(`unknown range list entry kind ${kind}`, r.offset - 1);
      }
    }
  }
}

function pushRange(out: [number, number][], low: number, high: number): void {
  // Address 0 marks code removed by the linker (--gc-sections); huge values are DWARF 5 tombstones.
  if (low > 0 && high > low && high < 2 ** 63) out.push([low, high]);
}

/** `pushRange` onto flat low, high pairs. */
function pushFlat(out: number[], low: number, high: number): void {
  if (low > 0 && high > low && high < 2 ** 63) out.push(low, high);
}

export function isAddressForm(form: number): boolean {
  return (
    form === DW_FORM.addr ||
    form === DW_FORM.addrx ||
    form === DW_FORM.addrx1 ||
    form === DW_FORM.addrx2 ||
    form === DW_FORM.addrx3 ||
    form === DW_FORM.addrx4 ||
    form === DW_FORM.gnuAddrIndex
  );
}

export { pushRange };
