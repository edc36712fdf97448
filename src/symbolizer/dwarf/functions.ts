import { formatError } from '../errors.ts';
import type { ByteReader } from '../reader.ts';
import * as constants from './constants.ts';
import { RangeIndex } from './search.ts';
import type { Abbrev, Unit } from './unit.ts';

// Module-local copies: an imported binding may be read through an accessor on every use (hot loops).
const DW_AT = constants.DW_AT;
const DW_FORM = constants.DW_FORM;
const DW_TAG = constants.DW_TAG;

/** Deeper DIE nesting than this is treated as hostile input. */
const MAX_DIE_DEPTH = 4096;
/** More inline levels than this cannot come from a real compiler. */
const MAX_INLINE_DEPTH = 512;

/**
 * The functions of one compilation unit: every subprogram with code (depth 0) and every inlined
 * subroutine (depth ≥ 1, with its caller node, call file and call line), with address indexes.
 */
export class FunctionIndex {
  // Built as arrays, then kept compact as typed arrays (one entry per function or inlined call).
  dieOffsets: ArrayLike<number> = [];
  parents: ArrayLike<number> = [];
  callFiles: ArrayLike<number> = [];
  callLines: ArrayLike<number> = [];
  private readonly building = {
    dieOffsets: [] as number[],
    parents: [] as number[],
    files: [] as number[],
    lines: [] as number[],
  };
  readonly subprograms: RangeIndex;
  /** inlines[d] indexes the inlined subroutines at depth d + 1. */
  readonly inlines: RangeIndex[] = [];

  constructor(unit: Unit) {
    // Ranges as parallel columns (no object per range): subprograms, then one set per inline depth.
    const subprogramRanges = newColumns();
    const inlineRanges: Columns[] = [];
    const ranges: number[] = [];
    const depths: number[] = [];
    const r = unit.reader(unit.firstDie);
    // Context node for the children of each open DIE: -1 when outside any function with code.
    const contextStack: number[] = [];
    let context = -1;
    while (r.offset < unit.end) {
      const dieOffset = r.offset;
      const abbrev = unit.abbrevAt(r);
      if (!abbrev) {
        if (contextStack.length === 0) break;
        context = contextStack.pop() as number;
        continue;
      }
      let childContext = context;
      const tag = abbrev.tag;
      if (tag === DW_TAG.subprogram || tag === DW_TAG.inlinedSubroutine || tag === DW_TAG.entryPoint) {
        const attrs = readCodeAttributes(unit, r, abbrev);
        ranges.length = 0;
        codeRanges(unit, attrs, ranges);
        if (tag !== DW_TAG.inlinedSubroutine) {
          childContext = -1;
          if (ranges.length > 0) {
            childContext = this.addNode(dieOffset, -1, 0, 0);
            depths.push(0);
            pushColumns(subprogramRanges, ranges, childContext);
          }
        } else if (context >= 0 && ranges.length > 0) {
          const depth = depths[context] + 1;
          if (depth > MAX_INLINE_DEPTH) throw formatError('inline nesting too deep', dieOffset);
          childContext = this.addNode(dieOffset, context, attrs.callFile, attrs.callLine);
          depths.push(depth);
          pushColumns((inlineRanges[depth - 1] ??= newColumns()), ranges, childContext);
        }
      } else {
        const size = unit.fixedSize(abbrev);
        if (size >= 0) r.skip(size);
        else {
          const forms = abbrev.forms;
          for (let i = abbrev.first; i < abbrev.end; i++) unit.skipAttr(r, forms[i]);
        }
      }
      if (abbrev.hasChildren) {
        if (contextStack.length >= MAX_DIE_DEPTH) throw formatError('DIE tree nested too deep', dieOffset);
        contextStack.push(context);
        context = childContext;
      }
    }
    this.dieOffsets = Float64Array.from(this.building.dieOffsets);
    this.parents = Int32Array.from(this.building.parents);
    this.callFiles = Uint32Array.from(this.building.files, clampU32);
    this.callLines = Uint32Array.from(this.building.lines, clampU32);
    this.building.dieOffsets = this.building.parents = this.building.files = this.building.lines = [];
    this.subprograms = indexOf(subprogramRanges);
    for (const level of inlineRanges) this.inlines.push(indexOf(level ?? newColumns()));
  }

  private addNode(dieOffset: number, parent: number, callFile: number, callLine: number): number {
    const b = this.building;
    b.dieOffsets.push(dieOffset);
    b.parents.push(parent);
    b.files.push(callFile);
    b.lines.push(callLine);
    return b.dieOffsets.length - 1;
  }

  /** Node indexes from the outermost function to the innermost inlined call containing the address. */
  chain(address: number): number[] {
    const out: number[] = [];
    out.length = this.chainInto(address, out);
    return out;
  }

  /** `chain` written into `out` (reused between calls); returns the chain's length. */
  chainInto(address: number, out: number[]): number {
    const top = this.subprograms.find(address);
    if (top < 0) return 0;
    out[0] = top;
    let length = 1;
    // Overlapping siblings are resolved by requiring the right caller.
    for (const level of this.inlines) {
      const node = level.findChild(address, this.parents, out[length - 1]);
      if (node < 0) break;
      out[length++] = node;
    }
    return length;
  }

  /** All subprogram ranges, for units whose root DIE does not list its own. */
  subprogramRanges(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.subprograms.size; i++)
      out.push([this.subprograms.lows[i], this.subprograms.highs[i]]);
    return out;
  }
}

interface Columns {
  lows: number[];
  highs: number[];
  payloads: number[];
}

function newColumns(): Columns {
  return { lows: [], highs: [], payloads: [] };
}

/** Appends flat low, high pairs with one payload. */
function pushColumns(columns: Columns, ranges: readonly number[], payload: number): void {
  for (let i = 0; i < ranges.length; i += 2) {
    columns.lows.push(ranges[i]);
    columns.highs.push(ranges[i + 1]);
    columns.payloads.push(payload);
  }
}

function indexOf(columns: Columns): RangeIndex {
  return RangeIndex.fromColumns(columns.lows, columns.highs, columns.payloads);
}

function clampU32(value: number): number {
  return value < 0 || value > 0xffffffff ? 0 : value;
}

interface CodeAttributes {
  lowPc: number;
  lowForm: number;
  highPc: number;
  highForm: number;
  ranges: number;
  rangesForm: number;
  callFile: number;
  callLine: number;
}

const scratch: CodeAttributes = {
  lowPc: -1,
  lowForm: 0,
  highPc: -1,
  highForm: 0,
  ranges: -1,
  rangesForm: 0,
  callFile: 0,
  callLine: 0,
};

function readCodeAttributes(unit: Unit, r: ByteReader, abbrev: Abbrev): CodeAttributes {
  const { names, forms, implicitConsts: consts } = abbrev;
  // One object reused for every DIE: it is read before the next DIE is decoded.
  const a = scratch;
  a.lowPc = -1;
  a.lowForm = 0;
  a.highPc = -1;
  a.highForm = 0;
  a.ranges = -1;
  a.rangesForm = 0;
  a.callFile = 0;
  a.callLine = 0;
  for (let i = abbrev.first; i < abbrev.end; i++) {
    const form = forms[i];
    switch (names[i]) {
      case DW_AT.lowPc:
        a.lowPc = unit.readNumber(r, form, consts[i]);
        a.lowForm = form;
        break;
      case DW_AT.highPc:
        a.highPc = unit.readNumber(r, form, consts[i]);
        a.highForm = form;
        break;
      case DW_AT.ranges:
        a.ranges = unit.readNumber(r, form, consts[i]);
        a.rangesForm = form;
        break;
      case DW_AT.callFile:
        a.callFile = unit.readNumber(r, form, consts[i]);
        break;
      case DW_AT.callLine:
        a.callLine = unit.readNumber(r, form, consts[i]);
        break;
      default:
        unit.skipAttr(r, form);
    }
  }
  return a;
}

/** A DIE's code ranges, appended to `out` as flat low, high pairs. */
function codeRanges(unit: Unit, a: CodeAttributes, out: number[]): void {
  if (a.ranges >= 0) {
    unit.rangeListInto(a.ranges, a.rangesForm, unit.lowPc, out);
    return;
  }
  if (a.lowPc >= 0 && a.highPc >= 0) {
    const low = unit.resolveAddress(a.lowPc, a.lowForm);
    const high = unit.highPc(low, a.highPc, a.highForm);
    if (low > 0 && high > low) out.push(low, high);
  }
}

/** Name-related attributes of one DIE, for resolving a function's name through its origins. */
export interface NameAttributes {
  name?: string;
  linkageName?: string;
  declLine?: number;
  origins: number[];
  /** Origins in the supplementary (dwz) file: DW_FORM_GNU_ref_alt. */
  altOrigins: number[];
}

export function readNameAttributes(unit: Unit, dieOffset: number): NameAttributes {
  const r = unit.scratchReader(dieOffset);
  const abbrev = unit.abbrevAt(r);
  const out: NameAttributes = { origins: [], altOrigins: [] };
  if (!abbrev) return out;
  for (let i = abbrev.first; i < abbrev.end; i++) {
    const form = abbrev.forms[i];
    switch (abbrev.names[i]) {
      case DW_AT.name:
        out.name = unit.readString(r, form);
        break;
      case DW_AT.linkageName:
      case DW_AT.mipsLinkageName:
        out.linkageName = unit.readString(r, form);
        break;
      case DW_AT.declLine:
        out.declLine = unit.readNumber(r, form, abbrev.implicitConsts[i]);
        break;
      case DW_AT.abstractOrigin:
      case DW_AT.specification: {
        if (form === DW_FORM.gnuRefAlt) {
          out.altOrigins.push(r.uint(unit.offsetSize));
          break;
        }
        const target = unit.readNumber(r, form, abbrev.implicitConsts[i]);
        if (target >= 0) out.origins.push(target);
        break;
      }
      default:
        unit.skipAttr(r, form);
    }
  }
  return out;
}
