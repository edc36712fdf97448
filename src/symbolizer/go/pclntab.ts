import { formatError } from '../errors.ts';
import type { ElfFile } from '../elf/elf.ts';
import { ByteReader, stringAt } from '../reader.ts';

/** One frame of a Go inline chain. */
export interface GoFrame {
  functionName: string;
  fileName: string;
  line: number;
  startLine: number;
}

const MAGIC_GO116 = 0xfffffffa;
const MAGIC_GO118 = 0xfffffff0;
const MAGIC_GO120 = 0xfffffff1;
const PCDATA_INL_TREE_INDEX = 2;
const FUNCDATA_INL_TREE = 3;
/** Go 1.20+ inlinedCall: funcID, padding, nameOff, parentPc, startLine. */
const INLINED_CALL_SIZE = 16;
const MAX_INLINE_DEPTH = 256;
const MAX_PCVALUE_STEPS = 1 << 22;

interface GoFunc {
  entry: number;
  nameOff: number;
  pcfile: number;
  pcln: number;
  cuOffset: number;
  startLine: number;
  inlineIndexTable: number;
  inlineTree: number;
}

/**
 * Go's own symbol table (`.gopclntab`, Go 1.16+ layouts): function names, file and line for any PC, and
 * (Go 1.20+, when the module data can be located) the inline tree. It survives `-ldflags=-s -w`.
 */
export class GoLineTable {
  private readonly data: Uint8Array;
  private readonly r: ByteReader;
  private readonly version: number;
  private readonly ptrSize: number;
  private readonly minLC: number;
  private readonly funcnameOffset: number;
  private readonly cuOffset: number;
  private readonly filetabOffset: number;
  private readonly pctabOffset: number;
  private readonly pclnOffset: number;
  private readonly textStart: number;
  private readonly entries: Float64Array;
  private readonly funcOffsets: Float64Array;
  /** Address of go:func.* (base of funcdata offsets); undefined when it cannot be found. */
  private readonly goFuncBase: number | undefined;
  private readonly elf: ElfFile;
  private readonly inlineTrees = new Map<number, Uint8Array | null>();

  private constructor(elf: ElfFile, data: Uint8Array, pclntabAddress: number) {
    this.elf = elf;
    this.data = data;
    this.r = new ByteReader(data, elf.littleEndian);
    const r = this.r;
    const magic = r.u32();
    if (magic !== MAGIC_GO116 && magic !== MAGIC_GO118 && magic !== MAGIC_GO120) {
      throw formatError(`unsupported .gopclntab magic 0x${magic.toString(16)} (Go 1.16+ supported)`);
    }
    this.version = magic === MAGIC_GO116 ? 116 : magic === MAGIC_GO118 ? 118 : 120;
    r.u16();
    this.minLC = r.u8();
    this.ptrSize = r.u8();
    if (this.ptrSize !== 4 && this.ptrSize !== 8) throw formatError(`bad pointer size ${this.ptrSize}`);
    const nfunc = r.uint(this.ptrSize);
    r.uint(this.ptrSize); // nfiles
    let textStart = this.version >= 118 ? r.uint(this.ptrSize) : 0;
    this.funcnameOffset = r.uint(this.ptrSize);
    this.cuOffset = r.uint(this.ptrSize);
    this.filetabOffset = r.uint(this.ptrSize);
    this.pctabOffset = r.uint(this.ptrSize);
    this.pclnOffset = r.uint(this.ptrSize);
    const moduleData = this.findModuleData(pclntabAddress);
    if (moduleData) textStart = moduleData.text;
    // Recent linkers no longer store textStart; it is the start of .text.
    if (textStart === 0) textStart = elf.sectionHeader('.text')?.addr ?? 0;
    this.textStart = textStart;
    this.goFuncBase = moduleData?.goFunc;
    const entrySize = this.version >= 118 ? 8 : this.ptrSize * 2;
    if (nfunc < 0 || this.pclnOffset + (nfunc + 1) * entrySize > data.length) {
      throw formatError(`.gopclntab function count ${nfunc} exceeds the table`);
    }
    this.entries = new Float64Array(nfunc + 1);
    this.funcOffsets = new Float64Array(nfunc + 1);
    r.seek(this.pclnOffset);
    for (let i = 0; i <= nfunc; i++) {
      if (this.version >= 118) {
        this.entries[i] = textStart + r.u32();
        this.funcOffsets[i] = r.u32();
      } else {
        this.entries[i] = r.uint(this.ptrSize);
        this.funcOffsets[i] = r.uint(this.ptrSize);
      }
    }
  }

  static fromElf(elf: ElfFile): GoLineTable | undefined {
    const header = elf.sectionHeader('.gopclntab');
    const data = header && elf.section('.gopclntab');
    if (!header || !data) return undefined;
    return new GoLineTable(elf, data, header.addr);
  }

  /**
   * Go 1.18+ keeps funcdata as offsets from go:func.*, whose address only the runtime's moduledata holds:
   * find moduledata by its first word (the pclntab address) and check its text field before trusting it.
   */
  private findModuleData(pclntabAddress: number): { text: number; goFunc: number } | undefined {
    if (this.version < 118 || pclntabAddress === 0) return undefined;
    const textIndex = 22;
    const goFuncIndex = this.version >= 120 ? 40 : 38;
    const textSection = this.elf.sectionHeader('.text');
    for (const name of ['.go.module', '.noptrdata', '.data', '.data.rel.ro']) {
      const data = this.elf.section(name);
      if (!data) continue;
      const r = new ByteReader(data, this.elf.littleEndian);
      for (let at = 0; at + (goFuncIndex + 1) * this.ptrSize <= data.length; at += this.ptrSize) {
        r.seek(at);
        if (r.uint(this.ptrSize) !== pclntabAddress) continue;
        r.seek(at + textIndex * this.ptrSize);
        const text = r.uint(this.ptrSize);
        if (textSection && text !== textSection.addr) continue;
        r.seek(at + goFuncIndex * this.ptrSize);
        return { text, goFunc: r.uint(this.ptrSize) };
      }
    }
    return undefined;
  }

  get functionCount(): number {
    return this.entries.length - 1;
  }

  /** Every function with its [entry, end) range, in address order. */
  functions(): { name: string; entry: number; end: number }[] {
    const out: { name: string; entry: number; end: number }[] = [];
    for (let i = 0; i + 1 < this.entries.length; i++) {
      out.push({
        name: this.funcName(this.func(i).nameOff),
        entry: this.entries[i],
        end: this.entries[i + 1],
      });
    }
    return out;
  }

  /**
   * Every PC in [entry, end) of each function where its file, line or inline position may change
   * (the breakpoints of its pc-value tables), ascending and distinct, function entries included.
   */
  changePoints(): number[] {
    const out: number[] = [];
    for (let i = 0; i + 1 < this.entries.length; i++) {
      const f = this.func(i);
      const end = this.entries[i + 1];
      const points = [f.entry];
      for (const table of [f.pcfile, f.pcln, f.inlineIndexTable])
        this.breakpoints(table, f.entry, end, points);
      points.sort((a, b) => a - b);
      for (let k = 0; k < points.length; k++) if (k === 0 || points[k] !== points[k - 1]) out.push(points[k]);
    }
    return out;
  }

  private breakpoints(tableOffset: number, entry: number, end: number, out: number[]): void {
    if (tableOffset === 0) return;
    const r = this.r;
    r.seek(this.pctabOffset + tableOffset);
    let pc = entry;
    for (let step = 0; step < MAX_PCVALUE_STEPS; step++) {
      const uvdelta = r.uleb();
      if (uvdelta === 0 && step > 0) return;
      pc += r.uleb() * this.minLC;
      if (pc >= end) return;
      out.push(pc);
    }
    throw formatError('pc-value table too long', tableOffset);
  }

  /** The inline chain at a PC, innermost first; [] outside every function. */
  symbolize(pc: number): GoFrame[] {
    const index = this.functionIndex(pc);
    if (index < 0) return [];
    const f = this.func(index);
    const outerName = this.funcName(f.nameOff);
    const inlineTree = this.inlineTree(f);
    const frames: GoFrame[] = [];
    let at = pc;
    for (let depth = 0; depth < MAX_INLINE_DEPTH; depth++) {
      const fileName = this.fileName(f, this.pcValue(f.pcfile, f.entry, at));
      const line = this.pcValue(f.pcln, f.entry, at);
      const inlineIndex = inlineTree ? this.pcValue(f.inlineIndexTable, f.entry, at) : -1;
      if (inlineIndex < 0 || !inlineTree || (inlineIndex + 1) * INLINED_CALL_SIZE > inlineTree.length) {
        frames.push({ functionName: outerName, fileName, line: Math.max(0, line), startLine: f.startLine });
        break;
      }
      const call = new ByteReader(inlineTree, this.elf.littleEndian, inlineIndex * INLINED_CALL_SIZE + 4);
      const nameOff = call.i32();
      const parentPc = call.i32();
      const startLine = call.i32();
      frames.push({ functionName: this.funcName(nameOff), fileName, line: Math.max(0, line), startLine });
      at = f.entry + parentPc;
    }
    return frames;
  }

  private functionIndex(pc: number): number {
    const entries = this.entries;
    if (entries.length < 2 || pc < entries[0] || pc >= entries[entries.length - 1]) return -1;
    let lo = 0;
    let hi = entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid] <= pc) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  private func(index: number): GoFunc {
    const r = this.r;
    r.seek(this.pclnOffset + this.funcOffsets[index]);
    const entry = this.version >= 118 ? this.textStart + r.u32() : r.uint(this.ptrSize);
    const nameOff = r.i32();
    r.i32(); // args
    r.u32(); // deferreturn
    r.u32(); // pcsp
    const pcfile = r.u32();
    const pcln = r.u32();
    const npcdata = r.u32();
    const cuOffset = r.u32();
    const startLine = this.version >= 120 ? r.i32() : 0;
    r.u8(); // funcID
    r.u8(); // flag
    r.u8();
    const nfuncdata = r.u8();
    const pcdataStart = r.offset;
    const inlineIndexTable =
      npcdata > PCDATA_INL_TREE_INDEX ? this.u32At(pcdataStart + PCDATA_INL_TREE_INDEX * 4) : 0;
    let inlineTree = -1;
    if (this.version >= 120 && nfuncdata > FUNCDATA_INL_TREE && this.goFuncBase !== undefined) {
      const offset = this.u32At(pcdataStart + npcdata * 4 + FUNCDATA_INL_TREE * 4);
      if (offset !== 0xffffffff) inlineTree = this.goFuncBase + offset;
    }
    return { entry, nameOff, pcfile, pcln, cuOffset, startLine, inlineIndexTable, inlineTree };
  }

  private u32At(offset: number): number {
    this.r.seek(offset);
    return this.r.u32();
  }

  /** The function's inline tree, read up to the largest index its PC table uses. */
  private inlineTree(f: GoFunc): Uint8Array | undefined {
    if (f.inlineTree < 0 || f.inlineIndexTable === 0) return undefined;
    let tree = this.inlineTrees.get(f.inlineTree);
    if (tree === undefined) {
      tree = null;
      try {
        const count = this.maxPcValue(f.inlineIndexTable) + 1;
        if (count > 0) tree = this.elf.readVirtual(f.inlineTree, count * INLINED_CALL_SIZE);
      } catch {
        // Unreadable inline data: symbolize without inlines rather than fail.
      }
      this.inlineTrees.set(f.inlineTree, tree);
    }
    return tree ?? undefined;
  }

  private funcName(nameOff: number): string {
    return stringAt(this.data, this.funcnameOffset + nameOff);
  }

  private fileName(f: GoFunc, fileIndex: number): string {
    if (fileIndex < 0) return '';
    this.r.seek(this.cuOffset + (f.cuOffset + fileIndex) * 4);
    const offset = this.r.u32();
    if (offset === 0xffffffff) return '';
    return stringAt(this.data, this.filetabOffset + offset);
  }

  /** Decode a pc-value table (zig-zag value deltas, PC deltas in instruction quanta) at a PC. */
  private pcValue(tableOffset: number, entry: number, target: number): number {
    if (tableOffset === 0) return -1;
    const r = this.r;
    r.seek(this.pctabOffset + tableOffset);
    let value = -1;
    let pc = entry;
    for (let step = 0; step < MAX_PCVALUE_STEPS; step++) {
      const uvdelta = r.uleb();
      if (uvdelta === 0 && step > 0) return -1;
      value += uvdelta & 1 ? -Math.floor(uvdelta / 2) - 1 : Math.floor(uvdelta / 2);
      pc += r.uleb() * this.minLC;
      if (target < pc) return value;
    }
    throw formatError('pc-value table too long', tableOffset);
  }

  private maxPcValue(tableOffset: number): number {
    const r = this.r;
    r.seek(this.pctabOffset + tableOffset);
    let value = -1;
    let max = -1;
    for (let step = 0; step < MAX_PCVALUE_STEPS; step++) {
      const uvdelta = r.uleb();
      if (uvdelta === 0 && step > 0) return max;
      value += uvdelta & 1 ? -Math.floor(uvdelta / 2) - 1 : Math.floor(uvdelta / 2);
      r.uleb(); // PC delta: only the values matter here
      max = Math.max(max, value);
    }
    throw formatError('pc-value table too long', tableOffset);
  }
}
