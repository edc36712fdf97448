import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { SymbolizedFrame } from '../model/symbols.ts';
import { demangle } from './demangle/index.ts';
import { DwarfContext } from './dwarf/dwarf.ts';
import { loadDwarfSections, loadDwoSections, type DwarfSections } from './dwarf/sections.ts';
import { ElfFile } from './elf/elf.ts';
import { SymbolizerFormatError } from './errors.ts';
import { GoLineTable } from './go/pclntab.ts';
import { SymbolTable, type FunctionNamePolicy } from './symbols.ts';

export { SymbolizerFormatError } from './errors.ts';
export { toStackFrameSymbols, type SymbolizedFrame } from '../model/symbols.ts';
export type { FunctionNamePolicy } from './symbols.ts';

export interface OpenOptions {
  /** Directories searched for separate debug files (`.build-id/xx/yyyy.debug`, debuglink names). */
  debugDirectories?: string[];
  /** Demangle C++ and Rust names (default true). */
  demangle?: boolean;
  /** Use Go's .gopclntab even when DWARF is present (default: only without DWARF). */
  preferGoTable?: boolean;
  /**
   * `symtab` (default, as llvm-symbolizer): the outermost frame takes the ELF symbol's name. `dwarf`: DWARF's
   * name where DWARF has a function, else the function symbol's name without clone suffixes (see symbols.ts).
   */
  functionNames?: FunctionNamePolicy;
  /**
   * The separate debug file to use instead of searching for one (e.g. `symbtool -e EXE -d DEBUG_FILE`).
   * When both files carry a GNU build ID they must match.
   */
  debugFile?: string;
}

/** What range extraction (ranges/extract.ts) reads from an opened file. */
export interface RangeSource {
  dwarf: DwarfContext | undefined;
  /** Go's table when it is what `symbolize` reads (a Go binary without DWARF). */
  goTable: GoLineTable | undefined;
  /** The engine's answer at an address (what the ranges must reproduce). */
  symbolize(address: number): SymbolizedFrame[];
  symbols: SymbolTable;
  functionNames: FunctionNamePolicy;
  /** [start, end) of the executable's sections holding code, ascending. */
  codeSections: [number, number][];
  /** The name as `symbolize` shows it (demangled when demangling is on). */
  displayName(name: string): string;
}

const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;

export const DEFAULT_DEBUG_DIRECTORIES = ['/usr/lib/debug'];
const MAX_DEMANGLE_CACHE = 50_000;

/**
 * One executable or shared object opened for symbolization, with its separate debug file if one is found.
 * Addresses are ELF virtual addresses (what the agent sends for native frames, see docs/symbolizer.md);
 * `fileOffsetToAddress` converts a file offset first.
 */
export class SymbolizedBinary {
  readonly path: string;
  readonly buildId: string | undefined;
  /** Path of the separate debug file used, if any. */
  readonly debugFile: string | undefined;
  private readonly elf: ElfFile;
  private readonly debugElf: ElfFile | undefined;
  private readonly dwarf: DwarfContext | undefined;
  private readonly goTable: GoLineTable | undefined;
  private readonly symbols: SymbolTable;
  private readonly demangleNames: boolean;
  private readonly preferGoTable: boolean;
  private readonly functionNames: FunctionNamePolicy;
  private readonly demangleCache = new Map<string, string>();

  private constructor(path: string, options: OpenOptions) {
    this.path = path;
    this.demangleNames = options.demangle ?? true;
    this.preferGoTable = options.preferGoTable ?? false;
    this.functionNames = options.functionNames ?? 'symtab';
    this.elf = ElfFile.open(path);
    try {
      this.buildId = this.elf.buildId();
      this.debugElf = options.debugFile
        ? openGivenDebugFile(options.debugFile, this.buildId)
        : findDebugFile(this.elf, this.buildId, options.debugDirectories ?? DEFAULT_DEBUG_DIRECTORIES);
      this.debugFile = this.debugElf?.path;
      const dwarfSource =
        this.debugElf && this.debugElf.sectionHeader('.debug_info') ? this.debugElf : this.elf;
      // .debug_info is read a unit at a time (the file stays open until `close`).
      const sections = loadDwarfSections(dwarfSource, { windowed: true });
      const alt = sections
        ? this.readSupplementary(dwarfSource, options.debugDirectories ?? DEFAULT_DEBUG_DIRECTORIES)
        : undefined;
      if (sections && alt) sections.altStr = alt.str;
      this.dwarf = sections
        ? new DwarfContext(sections, (name, compDir) => this.readDwo(name, compDir))
        : undefined;
      if (this.dwarf && alt) this.dwarf.alt = new DwarfContext(alt, undefined, undefined, true);
      const symbolSource = this.debugElf?.hasSymtab() ? this.debugElf : this.elf;
      this.symbols = new SymbolTable(symbolSource.symbols(), {
        policy: this.functionNames,
        sectionEnd: (index) => {
          const section = symbolSource.sections[index];
          return section ? section.addr + section.size : undefined;
        },
      });
      if (!this.dwarf || this.preferGoTable) this.goTable = GoLineTable.fromElf(this.elf);
      // The symbol table is indexed now: its raw sections need not stay in memory.
      for (const file of [this.elf, this.debugElf]) {
        for (const name of ['.symtab', '.strtab', '.dynsym', '.dynstr']) file?.forgetSection(name);
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * dwz's supplementary file (`.gnu_debugaltlink`): at the recorded path (absolute, or relative to the
   * file that names it), else by build ID under the debug directories. Its build ID must match.
   */
  private readSupplementary(from: ElfFile, debugDirectories: string[]): DwarfSections | undefined {
    const link = from.debugAltLink();
    if (!link) return undefined;
    const candidates = [isAbsolute(link.fileName) ? link.fileName : join(dirname(from.path), link.fileName)];
    if (link.buildId.length > 2) {
      for (const dir of debugDirectories) {
        candidates.push(join(dir, '.build-id', link.buildId.slice(0, 2), `${link.buildId.slice(2)}.debug`));
      }
    }
    for (const path of candidates) {
      if (!existsSync(path)) continue;
      let file: ElfFile | undefined;
      try {
        file = ElfFile.open(path);
        if (file.buildId() !== link.buildId) continue;
        const sections = loadDwarfSections(file);
        if (sections) return sections;
      } catch {
        // A damaged supplementary file only costs the names it would have provided.
      } finally {
        file?.close();
      }
    }
    return undefined;
  }

  /**
   * Split DWARF: the .dwo named by a skeleton unit, relative to its compilation directory, else next to
   * the binary or its debug file (where packaging usually puts them).
   */
  private readDwo(dwoName: string, compDir: string): DwarfSections | undefined {
    const candidates = isAbsolute(dwoName) ? [dwoName] : [join(compDir, dwoName)];
    candidates.push(join(dirname(this.path), basename(dwoName)));
    if (this.debugFile) candidates.push(join(dirname(this.debugFile), basename(dwoName)));
    for (const path of candidates) {
      if (!existsSync(path)) continue;
      const file = ElfFile.open(path);
      try {
        const sections = loadDwoSections(file);
        if (sections) return sections;
      } finally {
        file.close();
      }
    }
    return undefined;
  }

  static open(path: string, options: OpenOptions = {}): SymbolizedBinary {
    return new SymbolizedBinary(path, options);
  }

  get hasDwarf(): boolean {
    return this.dwarf !== undefined;
  }

  get hasGoTable(): boolean {
    return this.goTable !== undefined;
  }

  /** Errors met in parts of the debug info (a damaged unit); the rest still symbolizes. */
  get partialErrors(): readonly string[] {
    return this.dwarf?.errors() ?? [];
  }

  close(): void {
    this.elf?.close();
    this.debugElf?.close();
  }

  fileOffsetToAddress(offset: number): number | undefined {
    return this.elf.fileOffsetToVirtualAddress(offset);
  }

  /** The inline chain at an ELF virtual address, innermost first; [] when nothing is known. */
  symbolize(address: number): SymbolizedFrame[] {
    const frames = this.rawFrames(address);
    if (this.demangleNames) for (const f of frames) f.functionName = this.demangled(f.functionName);
    return frames;
  }

  /** The parts range extraction reads (see ranges/extract.ts); not for other callers. */
  rangeSource(): RangeSource {
    const codeSections: [number, number][] = this.elf.sections
      .filter(
        (s) =>
          (s.flags & SHF_ALLOC) !== 0 &&
          (s.flags & SHF_EXECINSTR) !== 0 &&
          // A separate debug file keeps the code sections' addresses with no bytes (SHT_NOBITS): they still
          // say where code is, which is all the symbol sweep needs.
          s.size > 0 &&
          s.addr > 0,
      )
      .map((s): [number, number] => [s.addr, s.addr + s.size])
      .sort((a, b) => a[0] - b[0]);
    return {
      dwarf: this.dwarf,
      goTable: this.dwarf ? undefined : this.goTable,
      symbolize: (address) => this.symbolize(address),
      symbols: this.symbols,
      functionNames: this.functionNames,
      codeSections,
      displayName: (name) => (this.demangleNames ? this.demangled(name) : name),
    };
  }

  /** Demangling costs microseconds per long C++ name: remember results, within a bound. */
  private demangled(name: string): string {
    // Only Itanium and Rust names (and their versioned forms) change: C names need no cache entry.
    if (name.charCodeAt(0) !== 0x5f || (name.charCodeAt(1) !== 0x5a && name.charCodeAt(1) !== 0x52))
      return name;
    let result = this.demangleCache.get(name);
    if (result === undefined) {
      result = demangle(name);
      if (this.demangleCache.size >= MAX_DEMANGLE_CACHE) this.demangleCache.clear();
      this.demangleCache.set(name, result);
    }
    return result;
  }

  private rawFrames(address: number): SymbolizedFrame[] {
    const symbol = this.symbols.lookup(address);
    let frames: SymbolizedFrame[] = [];
    if (this.goTable && (!this.dwarf || this.preferGoTable)) frames = this.goTable.symbolize(address);
    if (frames.length === 0) frames = this.dwarf?.symbolize(address) ?? [];
    // As llvm-symbolizer does, the outermost function takes the symbol table's name when one covers the
    // address: it is the name the linker kept (e.g. "f.cold", "f.constprop.0"). Under the `dwarf` policy
    // it only fills in where DWARF knows no name.
    // A local symbol also names its source file (STT_FILE), used when the line table has nothing.
    if (symbol) {
      if (frames.length === 0)
        frames.push({ functionName: symbol.name, fileName: '', line: 0, startLine: 0 });
      const outermost = frames[frames.length - 1];
      if (this.functionNames === 'symtab' || outermost.functionName === '')
        outermost.functionName = symbol.name;
      if (outermost.fileName === '' && symbol.fileName) outermost.fileName = symbol.fileName;
    }
    return frames;
  }
}

/** A debug file named by the caller: it must be readable ELF, and carry the binary's build ID if both have one. */
function openGivenDebugFile(path: string, buildId: string | undefined): ElfFile {
  const file = ElfFile.open(path);
  const fileBuildId = file.buildId();
  if (buildId && fileBuildId && buildId !== fileBuildId) {
    file.close();
    throw new SymbolizerFormatError(
      `debug file ${path} has build ID ${fileBuildId}, the executable has ${buildId}: not its debug file`,
    );
  }
  return file;
}

/** Find the separate debug file: by build ID under each debug directory, then by `.gnu_debuglink`. */
export function findDebugFile(
  elf: ElfFile,
  buildId: string | undefined,
  debugDirectories: string[],
): ElfFile | undefined {
  const candidates: string[] = [];
  if (buildId && buildId.length > 2) {
    for (const dir of debugDirectories) {
      candidates.push(join(dir, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`));
    }
  }
  const link = elf.debugLink();
  const linkCandidates: string[] = [];
  if (link && link.fileName !== '' && !link.fileName.includes('/')) {
    const dir = dirname(elf.path);
    linkCandidates.push(join(dir, link.fileName), join(dir, '.debug', link.fileName));
    for (const debugDir of debugDirectories) {
      linkCandidates.push(join(debugDir, dir, link.fileName), join(debugDir, link.fileName));
    }
  }
  for (const path of [...candidates, ...linkCandidates]) {
    if (path === elf.path || !existsSync(path)) continue;
    let candidate: ElfFile | undefined;
    try {
      candidate = ElfFile.open(path);
      const isLink = !candidates.includes(path);
      const candidateId = candidate.buildId();
      const matches =
        buildId && candidateId
          ? candidateId === buildId
          : isLink && link !== undefined && candidate.crc32() === link.crc32;
      if (matches) return candidate;
    } catch {
      // An unreadable candidate is skipped; the next one may be good.
    }
    candidate?.close();
  }
  return undefined;
}

/**
 * Symbolizes many files with a bounded number kept open (least recently used closed first), so a service
 * can run over a whole fleet's executables with fixed memory.
 */
export class Symbolizer {
  private readonly open = new Map<string, SymbolizedBinary>();
  private readonly maxOpenFiles: number;
  private readonly options: OpenOptions;

  constructor(options: OpenOptions & { maxOpenFiles?: number } = {}) {
    this.maxOpenFiles = Math.max(1, options.maxOpenFiles ?? 8);
    this.options = options;
  }

  binary(path: string): SymbolizedBinary {
    let binary = this.open.get(path);
    if (binary) {
      this.open.delete(path);
    } else {
      binary = SymbolizedBinary.open(path, this.options);
      while (this.open.size >= this.maxOpenFiles) {
        const [oldestPath, oldest] = this.open.entries().next().value as [string, SymbolizedBinary];
        oldest.close();
        this.open.delete(oldestPath);
      }
    }
    this.open.set(path, binary);
    return binary;
  }

  symbolize(path: string, address: number): SymbolizedFrame[] {
    return this.binary(path).symbolize(address);
  }

  get openFiles(): number {
    return this.open.size;
  }

  close(): void {
    for (const binary of this.open.values()) binary.close();
    this.open.clear();
  }
}
