import { formatError } from '../errors.ts';
import { ByteReader, checkStringOffset, stringAt } from '../reader.ts';
import * as constants from './constants.ts';
import type { DwarfSections } from './sections.ts';
import type { Unit } from './unit.ts';
import { lastAtOrBelow } from './search.ts';

// Module-local copies: an imported binding may be read through an accessor on every use (hot loops).
const DW_FORM = constants.DW_FORM;

const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

/** Where a header name's text is: in the line section itself (inline), in a string section, or decoded. */
const IN_LINE_SECTION = 0;
const IN_LINE_STR = 1;
const IN_STR = 2;
const DECODED = 3;

/**
 * The directory or file names of a line table header, kept as where their text is until a lookup needs
 * it (a unit lists hundreds of headers; a sweep names the few its rows use). Parallel number columns: no
 * object per name.
 */
class PathList {
  private readonly kinds: number[] = [];
  /** Offset in the section the kind names, or index in `decoded` for DECODED. */
  private readonly offsets: number[] = [];
  private readonly decoded: string[] = [];
  /** DW_LNCT_directory_index of file entries (0 for directories). */
  readonly directoryIndexes: number[] = [];

  get length(): number {
    return this.kinds.length;
  }

  add(kind: number, offset: number, directoryIndex: number): void {
    this.kinds.push(kind);
    this.offsets.push(offset);
    this.directoryIndexes.push(directoryIndex);
  }

  addText(text: string, directoryIndex: number): void {
    this.add(DECODED, this.decoded.length, directoryIndex);
    this.decoded.push(text);
  }

  /** The text of entry `index`; inline names are in `line`, which starts at `lineBase` of the section. */
  text(index: number, line: Uint8Array, lineBase: number, lineStr: Uint8Array, str: Uint8Array): string {
    const kind = this.kinds[index];
    const offset = this.offsets[index];
    if (kind === DECODED) return this.decoded[offset];
    if (kind === IN_LINE_SECTION) return stringAt(line, offset - lineBase);
    return stringAt(kind === IN_LINE_STR ? lineStr : str, offset);
  }
}

/**
 * A decoded line program: rows sorted by address inside sequences, held in typed arrays. File names are
 * joined to their directory and the compilation directory only when a lookup needs them.
 */
export class LineTable {
  readonly version: number;
  private readonly directories = new PathList();
  private readonly files = new PathList();
  private readonly sections: DwarfSections;
  /** The bytes holding the header's inline names, starting at offset `headerBase` of `.debug_line`. */
  private headerBytes: Uint8Array = new Uint8Array(0);
  private headerBase = 0;
  private readonly compDir: string;
  private readonly resolved = new Map<number, string>();
  private addresses: Float64Array = new Float64Array(0);
  private rowFiles: Uint32Array = new Uint32Array(0);
  private rowLines: Uint32Array = new Uint32Array(0);
  /** Sequences as [low, high, firstRow, endRow) quadruples sorted by low. */
  private sequences: Float64Array = new Float64Array(0);
  private sequenceMaxHigh: Float64Array = new Float64Array(0);
  private sequenceLows: Float64Array = new Float64Array(0);

  constructor(unit: Unit, offset: number, compDir: string) {
    this.compDir = compDir;
    const sections = unit.sections;
    this.sections = sections;
    const r = lineReader(sections, offset);
    let length = r.u32();
    let offsetSize = 4;
    if (length === 0xffffffff) {
      length = r.u64();
      offsetSize = 8;
    }
    const end = r.offset + length;
    if (end > r.length) throw formatError('line program extends past .debug_line', offset);
    this.version = r.u16();
    if (this.version < 2 || this.version > 5)
      throw formatError(`unsupported line table version ${this.version}`, offset);
    let addressSize = unit.addressSize;
    if (this.version >= 5) {
      addressSize = r.u8();
      r.u8(); // segment selector size
    }
    const headerLength = r.uint(offsetSize);
    const programStart = r.offset + headerLength;
    const header: ProgramHeader = {
      minInstLength: r.u8(),
      maxOps: this.version >= 4 ? r.u8() : 1,
      defaultIsStmt: r.u8() !== 0,
      lineBase: r.i8(),
      lineRange: r.u8(),
      opcodeBase: r.u8(),
      standardLengths: [],
      addressSize,
    };
    if (header.lineRange === 0) throw formatError('line table with line_range 0', offset);
    for (let i = 1; i < header.opcodeBase; i++) header.standardLengths.push(r.u8());
    if (this.version >= 5) this.readV5Entries(r, unit, offsetSize);
    else this.readLegacyEntries(r);
    if (programStart > end) throw formatError('line table header longer than the unit', offset);
    // Names are decoded later from the header's bytes: a window keeps only those, not the program.
    this.headerBase = r.base;
    this.headerBytes = r.base === 0 ? r.bytes : r.bytes.slice(0, programStart - r.base);
    this.runProgram(
      new ByteReader(
        r.sub(programStart, end - programStart),
        sections.littleEndian,
        programStart,
        programStart,
      ),
      header,
    );
  }

  private readLegacyEntries(r: ByteReader): void {
    for (;;) {
      const offset = skipInlineName(r);
      if (offset < 0) break;
      this.directories.add(IN_LINE_SECTION, offset, 0);
    }
    for (;;) {
      const offset = skipInlineName(r);
      if (offset < 0) break;
      const directoryIndex = r.uleb();
      r.uleb();
      r.uleb();
      this.files.add(IN_LINE_SECTION, offset, directoryIndex);
    }
  }

  private readV5Entries(r: ByteReader, unit: Unit, offsetSize: number): void {
    for (let list = 0; list < 2; list++) {
      const out = list === 0 ? this.directories : this.files;
      const formatCount = r.u8();
      const format: number[] = [];
      for (let i = 0; i < formatCount; i++) format.push(r.uleb(), r.uleb());
      const count = r.uleb();
      if (count > r.remaining) throw formatError('line table entry count exceeds its data', r.offset);
      for (let i = 0; i < count; i++) {
        let kind = DECODED;
        let offset = -1;
        let text = '';
        let dirIndex = 0;
        for (let f = 0; f < format.length; f += 2) {
          const content = format[f];
          const form = format[f + 1];
          if (content === DW_LNCT_path) {
            // The line table's own offset size applies to its string forms. A bad offset fails the table
            // now, as decoding it here would.
            if (form === DW_FORM.lineStrp || form === DW_FORM.strp) {
              kind = form === DW_FORM.lineStrp ? IN_LINE_STR : IN_STR;
              offset = r.uint(offsetSize);
              checkStringOffset(kind === IN_LINE_STR ? unit.sections.lineStr : unit.sections.str, offset);
            } else if (form === DW_FORM.string) {
              kind = IN_LINE_SECTION;
              offset = skipInlineName(r);
            } else {
              kind = DECODED;
              offset = -1;
              text = unit.readString(r, form);
            }
          } else if (content === DW_LNCT_directory_index) dirIndex = unit.readNumber(r, form, 0);
          else unit.skipAttr(r, form);
        }
        if (offset < 0) out.addText(text, dirIndex);
        else out.add(kind, offset, dirIndex);
      }
    }
  }

  private pathText(list: PathList, index: number): string {
    const { lineStr, str } = this.sections;
    return list.text(index, this.headerBytes, this.headerBase, lineStr, str);
  }

  private runProgram(r: ByteReader, h: ProgramHeader): void {
    // Rows go into typed arrays shared by every table (doubled when full), and each table keeps an exact
    // copy. No closures here: this runs for every unit, mostly before the JIT has optimized it.
    let { addresses, files, lines } = scratchRows;
    let rows = 0;
    const sequences: number[] = [];
    const initialFile = 1;
    let address = 0;
    let file = initialFile;
    let line = 1;
    let sequenceStart = 0;
    // Special opcodes are most of a program: their address and line steps come from tables, and their
    // byte is read straight from the array (the loop condition is the bounds check).
    const addressStep = new Float64Array(256);
    const lineStep = new Int32Array(256);
    for (let opcode = h.opcodeBase; opcode < 256; opcode++) {
      const adjusted = opcode - h.opcodeBase;
      addressStep[opcode] = Math.floor(adjusted / h.lineRange) * h.minInstLength;
      lineStep[opcode] = h.lineBase + (adjusted % h.lineRange);
    }
    const bytes = r.bytes;
    const base = r.base;
    const end = r.length;
    const opcodeBase = h.opcodeBase;
    let emitRow = false;
    while (r.offset < end) {
      const opcode = bytes[r.offset++ - base];
      if (opcode >= opcodeBase) {
        address += addressStep[opcode];
        line += lineStep[opcode];
        emitRow = true;
      } else {
        switch (opcode) {
          case 0: {
            const length = r.uleb();
            const next = r.offset + length;
            if (length === 0) break;
            const sub = r.u8();
            if (sub === 1) {
              // End of sequence: the end_sequence row itself is not kept.
              const first = sequenceStart;
              if (rows > first && address > addresses[first])
                sequences.push(addresses[first], address, first, rows);
              sequenceStart = rows;
              address = 0;
              file = initialFile;
              line = 1;
            } else if (sub === 2) {
              address = r.uint(length - 1 >= 8 ? 8 : length - 1);
            }
            r.seek(next);
            break;
          }
          case 1:
            emitRow = true;
            break;
          case 2:
            address += r.uleb() * h.minInstLength;
            break;
          case 3:
            line += r.sleb();
            break;
          case 4:
            file = r.uleb();
            break;
          case 5:
            r.uleb();
            break;
          case 8:
            address += Math.floor((255 - opcodeBase) / h.lineRange) * h.minInstLength;
            break;
          case 9:
            address += r.u16();
            break;
          case 6:
          case 7:
          case 10:
          case 11:
            break;
          default:
            for (let i = 0; i < (h.standardLengths[opcode - 1] ?? 0); i++) r.uleb();
        }
      }
      if (emitRow) {
        emitRow = false;
        if (rows === addresses.length) ({ addresses, files, lines } = growScratchRows(rows));
        addresses[rows] = address;
        files[rows] = file > 0xffffffff ? 0xffffffff : file;
        lines[rows] = line < 0 || line > 0xffffffff ? 0 : line;
        rows++;
      }
    }
    // Rows from a sequence that was never ended are dropped, as they have no known end address.
    this.addresses = addresses.slice(0, sequenceStart);
    this.rowFiles = files.slice(0, sequenceStart);
    this.rowLines = lines.slice(0, sequenceStart);
    // A huge unit's buffers are not kept for the rest of the process.
    if (addresses.length > MAX_KEPT_SCRATCH_ROWS) scratchRows = newScratchRows(INITIAL_SCRATCH_ROWS);
    this.sortSequences(sequences);
  }

  private sortSequences(flat: number[]): void {
    const count = flat.length / 4;
    const order: number[] = [];
    for (let i = 0; i < count; i++) order.push(i);
    order.sort((a, b) => flat[a * 4] - flat[b * 4]);
    this.sequences = new Float64Array(flat.length);
    this.sequenceLows = new Float64Array(count);
    this.sequenceMaxHigh = new Float64Array(count);
    let maxHigh = 0;
    for (let to = 0; to < count; to++) {
      const from = order[to];
      for (let k = 0; k < 4; k++) this.sequences[to * 4 + k] = flat[from * 4 + k];
      this.sequenceLows[to] = flat[from * 4];
      maxHigh = Math.max(maxHigh, flat[from * 4 + 1]);
      this.sequenceMaxHigh[to] = maxHigh;
    }
  }

  /** The row for an address: file name and line, or undefined if no sequence covers it. */
  lookup(address: number): { file: string; line: number } | undefined {
    const row = this.rowAt(address);
    if (row < 0) return undefined;
    return { file: this.fileName(this.rowFiles[row]), line: this.rowLines[row] };
  }

  /** Index of the row a lookup at this address finds, or -1 (see `lookup`). */
  rowAt(address: number): number {
    let s = lastAtOrBelow(this.sequenceLows, address);
    for (; s >= 0 && this.sequenceMaxHigh[s] > address; s--) {
      if (this.sequences[s * 4 + 1] <= address) continue;
      const first = this.sequences[s * 4 + 2];
      const endRow = this.sequences[s * 4 + 3];
      // The last row at or below the address (for equal addresses the last one, as llvm-symbolizer does).
      let lo = first;
      let hi = endRow;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.addresses[mid] <= address) lo = mid + 1;
        else hi = mid;
      }
      const row = lo - 1;
      return row < first ? -1 : row;
    }
    return -1;
  }

  /**
   * The sequences as ascending [low, high, firstRow, endRow) quadruples when they are disjoint and each
   * one's rows ascend (what compilers emit), so rows can be walked in address order; else undefined.
   */
  orderedSequences(): Float64Array | undefined {
    const seq = this.sequences;
    const count = seq.length / 4;
    for (let s = 0; s < count; s++) {
      if (s > 0 && seq[s * 4] < seq[s * 4 - 3]) return undefined;
      const high = seq[s * 4 + 1];
      const endRow = seq[s * 4 + 3];
      for (let row = seq[s * 4 + 2] + 1; row < endRow; row++) {
        if (this.addresses[row] < this.addresses[row - 1]) return undefined;
      }
      if (endRow > 0 && this.addresses[endRow - 1] > high) return undefined;
    }
    return seq;
  }

  rowAddress(row: number): number {
    return this.addresses[row];
  }

  rowLine(row: number): number {
    return this.rowLines[row];
  }

  /** The file index of a row (see `fileName`). */
  rowFile(row: number): number {
    return this.rowFiles[row];
  }

  rowFileName(row: number): string {
    return this.fileName(this.rowFiles[row]);
  }

  /** Appends every address where the row a lookup finds may change: row addresses and sequence ends. */
  boundaries(out: number[]): void {
    const addresses = this.addresses;
    for (let i = 0; i < addresses.length; i++) out.push(addresses[i]);
    for (let s = 0; s < this.sequenceLows.length; s++) out.push(this.sequences[s * 4 + 1]);
  }

  /** The full path of a file index as llvm-symbolizer prints it (compilation dir / include dir / name). */
  fileName(index: number): string {
    const cached = this.resolved.get(index);
    if (cached !== undefined) return cached;
    const entry = this.version >= 5 ? index : index - 1;
    let path = '';
    if (entry >= 0 && entry < this.files.length) {
      const name = this.pathText(this.files, entry);
      if (isAbsolute(name)) path = name;
      else {
        const directoryIndex = this.files.directoryIndexes[entry];
        const dirEntry = this.version >= 5 ? directoryIndex : directoryIndex - 1;
        let dir =
          dirEntry >= 0 && dirEntry < this.directories.length
            ? this.pathText(this.directories, dirEntry)
            : '';
        if (!isAbsolute(dir)) dir = joinPath(this.compDir, dir);
        path = joinPath(dir, name);
      }
    }
    this.resolved.set(index, path);
    return path;
  }
}

const INITIAL_SCRATCH_ROWS = 1 << 14;
const MAX_KEPT_SCRATCH_ROWS = 1 << 20;

function newScratchRows(size: number): {
  addresses: Float64Array;
  files: Uint32Array;
  lines: Uint32Array;
} {
  return { addresses: new Float64Array(size), files: new Uint32Array(size), lines: new Uint32Array(size) };
}

/** Row buffers shared by every line program run (one runs at a time). */
let scratchRows = newScratchRows(INITIAL_SCRATCH_ROWS);

/** Doubles the shared row buffers, keeping the first `rows` rows. */
function growScratchRows(rows: number): typeof scratchRows {
  const grown = newScratchRows(Math.max(INITIAL_SCRATCH_ROWS, scratchRows.addresses.length * 2));
  grown.addresses.set(scratchRows.addresses.subarray(0, rows));
  grown.files.set(scratchRows.files.subarray(0, rows));
  grown.lines.set(scratchRows.lines.subarray(0, rows));
  scratchRows = grown;
  return grown;
}

interface ProgramHeader {
  minInstLength: number;
  maxOps: number;
  defaultIsStmt: boolean;
  lineBase: number;
  lineRange: number;
  opcodeBase: number;
  standardLengths: number[];
  addressSize: number;
}

/**
 * Steps over an inline NUL-terminated name at the reader and returns its offset; -1 for the empty name
 * (which ends a DWARF 2–4 list, and names nothing in DWARF 5).
 */
/**
 * A reader at the line program at `offset`: over the whole `.debug_line`, or over just that program read
 * from the file when the section is read a unit at a time.
 */
function lineReader(sections: DwarfSections, offset: number): ByteReader {
  const file = sections.lineWindows;
  if (!file) {
    const r = new ByteReader(sections.line, sections.littleEndian);
    r.seek(offset);
    return r;
  }
  const head = new ByteReader(
    file.read(offset, Math.max(0, Math.min(12, file.size - offset))),
    sections.littleEndian,
    offset,
    offset,
  );
  let length = head.u32();
  if (length === 0xffffffff) length = head.u64();
  const end = head.offset + length;
  if (end > file.size) throw formatError('line program extends past .debug_line', offset);
  return new ByteReader(file.read(offset, end - offset), sections.littleEndian, offset, offset);
}

function skipInlineName(r: ByteReader): number {
  const offset = r.offset;
  r.skipCString();
  return r.offset - offset === 1 ? -1 : offset;
}

function isAbsolute(path: string): boolean {
  return path.startsWith('/');
}

function joinPath(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  return a.endsWith('/') ? a + b : `${a}/${b}`;
}
