import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { formatError, SymbolizerFormatError } from '../errors.ts';
import { ByteReader, stringAt } from '../reader.ts';

export const SHT_NOBITS = 8;
export const SHT_NOTE = 7;
export const SHT_SYMTAB = 2;
export const SHT_DYNSYM = 11;
const SHF_COMPRESSED = 0x800;
const PT_LOAD = 1;
const PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;
const SHN_XINDEX = 0xffff;

/** Upper bound for one (decompressed) section: hostile size fields must not make us allocate gigabytes. */
export const MAX_SECTION_BYTES = 1 << 30;

export interface SectionHeader {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSymbol {
  name: string;
  address: number;
  size: number;
  /** STT_* */
  type: number;
  /** STB_* */
  binding: number;
  /** For local symbols: the source file named by the nearest preceding STT_FILE symbol. */
  fileName?: string;
  /** Index of the section the symbol is defined in (st_shndx; SHN_XINDEX when extended). */
  section?: number;
}

export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_FILE = 4;
export const STT_GNU_IFUNC = 10;
export const STB_LOCAL = 0;

/** Positional reads of one section (offsets relative to the section's start). */
export interface SectionReader {
  size: number;
  read(offset: number, length: number): Uint8Array;
}

/** Byte source an ELF file is read from: a file descriptor (read on demand) or bytes already in memory. */
interface ByteSource {
  size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

function fileSource(path: string): ByteSource {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    return {
      size,
      read(offset: number, length: number): Uint8Array {
        if (offset < 0 || length < 0 || offset + length > size) {
          throw formatError(`${path}: range of ${length} bytes outside the ${size}-byte file`, offset);
        }
        const buffer = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, buffer, done, length - done, offset + done);
          if (n <= 0) throw formatError(`${path}: file shrank while reading`, offset + done);
          done += n;
        }
        return buffer;
      },
      close(): void {
        closeSync(fd);
      },
    };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read(offset: number, length: number): Uint8Array {
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        throw formatError(`range of ${length} bytes outside the ${bytes.length}-byte image`, offset);
      }
      return bytes.subarray(offset, offset + length);
    },
    close(): void {},
  };
}

/**
 * An ELF file (32/64-bit, either byte order). Headers are parsed on open; section contents are read (and
 * decompressed) only when asked for, so opening a large debug file costs only its headers.
 */
export class ElfFile {
  readonly path: string;
  readonly is64: boolean;
  readonly littleEndian: boolean;
  readonly type: number;
  readonly machine: number;
  readonly sections: SectionHeader[];
  readonly programHeaders: ProgramHeader[];
  private readonly source: ByteSource;
  private readonly sectionCache = new Map<string, Uint8Array | undefined>();
  private closed = false;

  private constructor(path: string, source: ByteSource) {
    this.path = path;
    this.source = source;
    if (source.size < 52) throw this.error('file too small for an ELF header');
    const ident = source.read(0, 16);
    if (ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) {
      throw this.error('not an ELF file (bad magic)');
    }
    if (ident[4] !== 1 && ident[4] !== 2) throw this.error(`bad ELF class ${ident[4]}`);
    if (ident[5] !== 1 && ident[5] !== 2) throw this.error(`bad ELF data encoding ${ident[5]}`);
    this.is64 = ident[4] === 2;
    this.littleEndian = ident[5] === 1;
    const headerSize = this.is64 ? 64 : 52;
    if (source.size < headerSize) throw this.error('truncated ELF header');
    const r = new ByteReader(source.read(0, headerSize), this.littleEndian, 16);
    this.type = r.u16();
    this.machine = r.u16();
    r.u32(); // e_version
    r.uint(this.word); // e_entry
    const phoff = r.uint(this.word);
    const shoff = r.uint(this.word);
    r.u32(); // e_flags
    r.u16(); // e_ehsize
    const phentsize = r.u16();
    const phnum = r.u16();
    const shentsize = r.u16();
    const shnum = r.u16();
    const shstrndx = r.u16();
    this.sections = this.readSectionHeaders(shoff, shentsize, shnum, shstrndx);
    this.programHeaders = this.readProgramHeaders(phoff, phentsize, phnum);
  }

  static open(path: string): ElfFile {
    const source = fileSource(path);
    try {
      return new ElfFile(path, source);
    } catch (error) {
      source.close();
      throw error;
    }
  }

  static fromBytes(bytes: Uint8Array, name = '<memory>'): ElfFile {
    return new ElfFile(name, memorySource(bytes));
  }

  get word(): number {
    return this.is64 ? 8 : 4;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sectionCache.clear();
    this.source.close();
  }

  error(what: string, offset?: number): SymbolizerFormatError {
    return formatError(`${this.path}: ${what}`, offset);
  }

  private readTable(
    offset: number,
    entrySize: number,
    count: number,
    minEntry: number,
    what: string,
  ): ByteReader {
    if (entrySize < minEntry) throw this.error(`${what} entry size ${entrySize} too small`);
    const bytes = count * entrySize;
    if (offset + bytes > this.source.size) throw this.error(`${what} table outside the file`, offset);
    return new ByteReader(this.source.read(offset, bytes), this.littleEndian);
  }

  private readSectionHeaders(
    shoff: number,
    shentsize: number,
    shnum: number,
    shstrndx: number,
  ): SectionHeader[] {
    if (shoff === 0) return [];
    const minEntry = this.is64 ? 64 : 40;
    let count = shnum;
    let stringIndex = shstrndx;
    if (count === 0 || stringIndex === SHN_XINDEX) {
      // Extended numbering: the real values live in section header 0.
      const first = this.parseSectionHeader(
        this.readTable(shoff, shentsize, 1, minEntry, 'section header'),
        0,
      ).header;
      if (count === 0) count = first.size;
      if (stringIndex === SHN_XINDEX) stringIndex = first.link;
    }
    if (count * shentsize > this.source.size)
      throw this.error(`section count ${count} exceeds the file size`);
    const r = this.readTable(shoff, shentsize, count, minEntry, 'section header');
    const headers: SectionHeader[] = [];
    const nameOffsets: number[] = [];
    for (let i = 0; i < count; i++) {
      const { header, nameOffset } = this.parseSectionHeader(r, i * shentsize);
      headers.push(header);
      nameOffsets.push(nameOffset);
    }
    const names = headers[stringIndex];
    if (names && names.type !== SHT_NOBITS && names.size > 0) {
      if (names.size > MAX_SECTION_BYTES) throw this.error('section name table too large');
      const table = this.source.read(names.offset, names.size);
      headers.forEach((h, i) => (h.name = stringAt(table, nameOffsets[i])));
    }
    return headers;
  }

  private parseSectionHeader(r: ByteReader, at: number): { header: SectionHeader; nameOffset: number } {
    r.seek(at);
    const nameOffset = r.u32();
    const type = r.u32();
    const flags = r.uint(this.word);
    const addr = r.uint(this.word);
    const offset = r.uint(this.word);
    const size = r.uint(this.word);
    const link = r.u32();
    const info = r.u32();
    r.uint(this.word); // sh_addralign
    const entsize = r.uint(this.word);
    // The name is filled in once the section name table is known.
    return { header: { name: '', type, flags, addr, offset, size, link, info, entsize }, nameOffset };
  }

  private readProgramHeaders(phoff: number, phentsize: number, phnum: number): ProgramHeader[] {
    if (phoff === 0 || phnum === 0) return [];
    const r = this.readTable(phoff, phentsize, phnum, this.is64 ? 56 : 32, 'program header');
    const headers: ProgramHeader[] = [];
    for (let i = 0; i < phnum; i++) {
      r.seek(i * phentsize);
      if (this.is64) {
        const type = r.u32();
        const flags = r.u32();
        const offset = r.u64();
        const vaddr = r.u64();
        r.u64(); // p_paddr
        const filesz = r.u64();
        const memsz = r.u64();
        headers.push({ type, flags, offset, vaddr, filesz, memsz });
      } else {
        const type = r.u32();
        const offset = r.u32();
        const vaddr = r.u32();
        r.u32(); // p_paddr
        const filesz = r.u32();
        const memsz = r.u32();
        const flags = r.u32();
        headers.push({ type, flags, offset, vaddr, filesz, memsz });
      }
    }
    return headers;
  }

  sectionHeader(name: string): SectionHeader | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /**
   * Contents of a section by name, decompressed. `.debug_*` also finds a legacy `.zdebug_*` section.
   * Returns undefined for absent or SHT_NOBITS sections (e.g. code in a separate debug file).
   */
  section(name: string): Uint8Array | undefined {
    if (this.sectionCache.has(name)) return this.sectionCache.get(name);
    if (this.closed) throw this.error('file is closed');
    let header = this.sectionHeader(name);
    let legacyCompressed = false;
    if (!header && name.startsWith('.debug_')) {
      header = this.sectionHeader(`.zdebug_${name.slice('.debug_'.length)}`);
      legacyCompressed = header !== undefined;
    }
    let data: Uint8Array | undefined;
    if (header && header.type !== SHT_NOBITS) {
      if (header.size > MAX_SECTION_BYTES)
        throw this.error(`section ${header.name} too large (${header.size} bytes)`);
      data = this.source.read(header.offset, header.size);
      if (header.flags & SHF_COMPRESSED) data = this.decompressGabi(header.name, data);
      else if (legacyCompressed) data = this.decompressLegacy(header.name, data);
    }
    this.sectionCache.set(name, data);
    return data;
  }

  /**
   * Positional reads of a section stored as it is (not compressed, not SHT_NOBITS), for callers that need
   * only parts of a large section at a time; undefined otherwise (then `section` reads it whole).
   * Reads fail once the file is closed.
   */
  sectionReader(name: string): SectionReader | undefined {
    const header = this.sectionHeader(name);
    if (!header || header.type === SHT_NOBITS || header.flags & SHF_COMPRESSED) return undefined;
    if (header.size > MAX_SECTION_BYTES)
      throw this.error(`section ${header.name} too large (${header.size} bytes)`);
    // A section past the file's end: `section` reports it as it always has.
    if (header.offset + header.size > this.source.size) return undefined;
    const { offset: start, size } = header;
    return {
      size,
      read: (offset: number, length: number): Uint8Array => {
        if (this.closed) throw this.error('file is closed');
        if (offset < 0 || length < 0 || offset + length > size)
          throw formatError(`range of ${length} bytes out of the ${size}-byte section ${name}`, offset);
        return this.source.read(start + offset, length);
      },
    };
  }

  /** Drop cached section contents (the bounded cache calls this for files it keeps only the index of). */
  forgetSection(name: string): void {
    this.sectionCache.delete(name);
  }

  private decompressGabi(name: string, data: Uint8Array): Uint8Array {
    const r = new ByteReader(data, this.littleEndian);
    const type = r.u32();
    if (this.is64) r.u32(); // ch_reserved
    const size = r.uint(this.word);
    r.uint(this.word); // ch_addralign
    const payload = data.subarray(r.offset);
    if (type === ELFCOMPRESS_ZLIB) return this.inflate(name, payload, size);
    if (type === ELFCOMPRESS_ZSTD) return this.unzstd(name, payload, size);
    throw this.error(`section ${name}: unknown compression type ${type}`);
  }

  private decompressLegacy(name: string, data: Uint8Array): Uint8Array {
    // ".zdebug" layout: "ZLIB", then the uncompressed size as a big-endian 64-bit number.
    if (data.length < 12 || String.fromCharCode(data[0], data[1], data[2], data[3]) !== 'ZLIB') {
      throw this.error(`section ${name}: missing ZLIB header`);
    }
    const size = new ByteReader(data, false, 4).u64();
    return this.inflate(name, data.subarray(12), size);
  }

  private checkSize(name: string, size: number): void {
    if (size > MAX_SECTION_BYTES) throw this.error(`section ${name}: decompressed size ${size} too large`);
  }

  private inflate(name: string, payload: Uint8Array, size: number): Uint8Array {
    this.checkSize(name, size);
    let out: Buffer;
    try {
      // The size is known: one output chunk of that size instead of zlib's default 16 KiB ones, which
      // are concatenated at the end (half the CPU time on glibc's debug sections, and no second copy).
      // Deflate expands at most ~1032:1, so a hostile size field cannot make us allocate more than the
      // payload could produce.
      const chunkSize = Math.max(64, Math.min(size, payload.length * 1032 + 1024));
      out = inflateSync(payload, { maxOutputLength: Math.max(size, 1), chunkSize });
    } catch (error) {
      throw this.error(`section ${name}: zlib: ${(error as Error).message}`);
    }
    if (out.length !== size)
      throw this.error(`section ${name}: decompressed to ${out.length}, expected ${size}`);
    return out;
  }

  private unzstd(name: string, payload: Uint8Array, size: number): Uint8Array {
    this.checkSize(name, size);
    let out: Uint8Array;
    try {
      out = zstdDecompress(payload, new Uint8Array(size));
    } catch (error) {
      throw this.error(`section ${name}: zstd: ${(error as Error).message}`);
    }
    if (out.length !== size)
      throw this.error(`section ${name}: decompressed to ${out.length}, expected ${size}`);
    return out;
  }

  /** The GNU build ID as lowercase hex, from a note section or PT_NOTE segment. */
  buildId(): string | undefined {
    for (const s of this.sections) {
      if (s.type !== SHT_NOTE) continue;
      const data = this.section(s.name);
      const id = data && this.findBuildIdNote(data);
      if (id) return id;
    }
    for (const p of this.programHeaders) {
      if (p.type !== PT_NOTE || p.filesz > 1 << 20 || p.offset + p.filesz > this.source.size) continue;
      const id = this.findBuildIdNote(this.source.read(p.offset, p.filesz));
      if (id) return id;
    }
    return undefined;
  }

  private findBuildIdNote(data: Uint8Array): string | undefined {
    const r = new ByteReader(data, this.littleEndian);
    while (r.remaining >= 12) {
      const nameSize = r.u32();
      const descSize = r.u32();
      const type = r.u32();
      if (nameSize > r.remaining) return undefined;
      const nameStart = r.offset;
      r.skip(align4(nameSize));
      const descStart = r.offset;
      if (descSize > r.length - descStart) return undefined;
      const isGnu = nameSize === 4 && data[nameStart] === 0x47 && data[nameStart + 1] === 0x4e;
      if (type === NT_GNU_BUILD_ID && isGnu && descSize > 0) {
        return Buffer.from(data.subarray(descStart, descStart + descSize)).toString('hex');
      }
      r.seek(Math.min(r.length, descStart + align4(descSize)));
    }
    return undefined;
  }

  /** `.gnu_debuglink`: the debug file's base name and the CRC32 of its contents. */
  debugLink(): { fileName: string; crc32: number } | undefined {
    const data = this.section('.gnu_debuglink');
    if (!data) return undefined;
    const r = new ByteReader(data, this.littleEndian);
    const fileName = r.cstring();
    r.seek(align4(r.offset));
    return { fileName, crc32: r.u32() };
  }

  /** `.gnu_debugaltlink` (dwz): the supplementary file's path and build ID (hex). */
  debugAltLink(): { fileName: string; buildId: string } | undefined {
    const data = this.section('.gnu_debugaltlink');
    if (!data) return undefined;
    const r = new ByteReader(data, this.littleEndian);
    const fileName = r.cstring();
    return { fileName, buildId: Buffer.from(data.subarray(r.offset)).toString('hex') };
  }

  /** Symbols of `.symtab`, or of `.dynsym` when there is no `.symtab`. */
  symbols(): ElfSymbol[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB && s.size > 0);
    const table = symtab ?? this.sections.find((s) => s.type === SHT_DYNSYM);
    if (!table) return [];
    return this.readSymbols(table);
  }

  hasSymtab(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB && s.size > 0);
  }

  private readSymbols(table: SectionHeader): ElfSymbol[] {
    const data = this.section(table.name);
    const strings = this.sections[table.link];
    const names = strings ? this.section(strings.name) : undefined;
    if (!data || !names) return [];
    const entrySize = this.is64 ? 24 : 16;
    const r = new ByteReader(data, this.littleEndian);
    const count = Math.floor(data.length / entrySize);
    const out: ElfSymbol[] = [];
    let currentFile: string | undefined;
    for (let i = 1; i < count; i++) {
      r.seek(i * entrySize);
      let nameOffset: number, info: number, shndx: number, address: number, size: number;
      if (this.is64) {
        nameOffset = r.u32();
        info = r.u8();
        r.u8(); // st_other
        shndx = r.u16();
        address = r.u64();
        size = r.u64();
      } else {
        nameOffset = r.u32();
        address = r.u32();
        size = r.u32();
        info = r.u8();
        r.u8();
        shndx = r.u16();
      }
      if (nameOffset >= names.length) continue;
      const type = info & 0xf;
      const binding = info >> 4;
      if (type === STT_FILE) {
        currentFile = stringAt(names, nameOffset);
        continue;
      }
      if (shndx === 0 || (shndx >= 0xff00 && shndx !== SHN_XINDEX)) continue; // undefined, absolute, common
      const symbol: ElfSymbol = {
        name: stringAt(names, nameOffset),
        address,
        size,
        type,
        binding,
        section: shndx,
      };
      if (binding === STB_LOCAL && currentFile) symbol.fileName = currentFile;
      out.push(symbol);
    }
    return out;
  }

  /** Map a file offset (e.g. from a /proc/<pid>/maps-relative address) to the ELF virtual address. */
  fileOffsetToVirtualAddress(offset: number): number | undefined {
    for (const p of this.programHeaders) {
      if (p.type === PT_LOAD && offset >= p.offset && offset < p.offset + p.filesz) {
        return p.vaddr + (offset - p.offset);
      }
    }
    return undefined;
  }

  virtualAddressToFileOffset(address: number): number | undefined {
    for (const p of this.programHeaders) {
      if (p.type === PT_LOAD && address >= p.vaddr && address < p.vaddr + p.filesz) {
        return p.offset + (address - p.vaddr);
      }
    }
    return undefined;
  }

  /** Bytes at a virtual address (used by the Go reader for data referenced by address). */
  readVirtual(address: number, length: number): Uint8Array {
    const offset = this.virtualAddressToFileOffset(address);
    if (offset === undefined)
      throw this.error(`virtual address 0x${address.toString(16)} is not in the file`);
    return this.source.read(offset, length);
  }

  /** Raw bytes of the file (bounds-checked). */
  readRaw(offset: number, length: number): Uint8Array {
    return this.source.read(offset, length);
  }

  /** Whole-file CRC32 as used by `.gnu_debuglink`. */
  crc32(): number {
    let crc = 0;
    const chunk = 1 << 22;
    for (let at = 0; at < this.source.size; at += chunk) {
      crc = crc32Update(crc, this.source.read(at, Math.min(chunk, this.source.size - at)));
    }
    return crc;
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

let crcTable: Uint32Array | undefined;

function crc32Update(crc: number, bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
