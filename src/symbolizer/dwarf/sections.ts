import type { ElfFile, SectionReader } from '../elf/elf.ts';

const EMPTY = new Uint8Array(0);

/** The DWARF sections of one file (decompressed), absent ones as empty arrays. */
export interface DwarfSections {
  littleEndian: boolean;
  /** `.debug_info` whole, or empty when `infoWindows` reads it a unit at a time. */
  info: Uint8Array;
  infoWindows?: InfoWindows;
  abbrev: Uint8Array;
  /** `.debug_line` whole, or empty when `lineWindows` reads one unit's program at a time. */
  line: Uint8Array;
  lineWindows?: SectionReader;
  str: Uint8Array;
  lineStr: Uint8Array;
  strOffsets: Uint8Array;
  addr: Uint8Array;
  ranges: Uint8Array;
  rnglists: Uint8Array;
  aranges: Uint8Array;
  /** `.debug_str` of the supplementary file named by `.gnu_debugaltlink` (dwz), when found. */
  altStr?: Uint8Array;
}

/** The sections of a split-DWARF object (.dwo): the same names with a `.dwo` suffix. */
export function loadDwoSections(elf: ElfFile): DwarfSections | undefined {
  const info = elf.section('.debug_info.dwo');
  if (!info || info.length === 0) return undefined;
  const get = (name: string): Uint8Array => elf.section(`${name}.dwo`) ?? EMPTY;
  return {
    littleEndian: elf.littleEndian,
    info,
    abbrev: get('.debug_abbrev'),
    line: get('.debug_line'),
    str: get('.debug_str'),
    lineStr: get('.debug_line_str'),
    strOffsets: get('.debug_str_offsets'),
    addr: EMPTY,
    ranges: get('.debug_ranges'),
    rnglists: get('.debug_rnglists'),
    aranges: EMPTY,
  };
}

/**
 * The DWARF sections of a file. With `windowed`, an uncompressed `.debug_info` and `.debug_line` are not
 * read whole but a unit at a time from the file (which must then stay open while the sections are used):
 * they are usually the largest sections, and a sweep needs one unit of them at a time.
 */
export function loadDwarfSections(
  elf: ElfFile,
  options: { windowed?: boolean } = {},
): DwarfSections | undefined {
  const reader = options.windowed ? elf.sectionReader('.debug_info') : undefined;
  const info = reader ? EMPTY : elf.section('.debug_info');
  if (reader ? reader.size === 0 : !info || info.length === 0) return undefined;
  const get = (name: string): Uint8Array => elf.section(name) ?? EMPTY;
  const lineWindows = options.windowed ? elf.sectionReader('.debug_line') : undefined;
  return {
    littleEndian: elf.littleEndian,
    info: info ?? EMPTY,
    infoWindows: reader ? new InfoWindows(reader) : undefined,
    abbrev: get('.debug_abbrev'),
    line: lineWindows ? EMPTY : get('.debug_line'),
    lineWindows,
    str: get('.debug_str'),
    lineStr: get('.debug_line_str'),
    strOffsets: get('.debug_str_offsets'),
    addr: get('.debug_addr'),
    ranges: get('.debug_ranges'),
    rnglists: get('.debug_rnglists'),
    aranges: get('.debug_aranges'),
  };
}

/** Bytes of `.debug_info` kept from windowed reads: beyond this, the least recently used units go. */
const MAX_WINDOW_BYTES = 16 << 20;
/** Two units up to this size together are kept even past MAX_WINDOW_BYTES (see `unit`). */
const MAX_PAIR_BYTES = 64 << 20;

/**
 * `.debug_info` read a unit at a time: the units' bytes in use, least recently used dropped first once
 * they add up to more than MAX_WINDOW_BYTES (the one just read always stays, and the two most recent
 * while they add up to at most MAX_PAIR_BYTES).
 */
export class InfoWindows {
  private readonly windows = new Map<number, Uint8Array>();
  private total = 0;
  constructor(private readonly reader: SectionReader) {}

  get size(): number {
    return this.reader.size;
  }

  /** Bytes [offset, offset + length) of the section, to be read as a window starting at `offset`. */
  read(offset: number, length: number): Uint8Array {
    return this.reader.read(offset, length);
  }

  /** The bytes of the unit at `offset` (`length` bytes long), read once and kept while in use. */
  unit(offset: number, length: number): Uint8Array {
    let bytes = this.windows.get(offset);
    if (bytes) {
      // Most recently used last.
      this.windows.delete(offset);
      this.windows.set(offset, bytes);
      return bytes;
    }
    bytes = this.reader.read(offset, length);
    this.windows.set(offset, bytes);
    this.total += bytes.length;
    // The two most recent stay unless they are huge: a walk of one unit looking names up in another
    // (abstract origins across units) must not read them in turn again and again.
    for (const [oldest, old] of this.windows) {
      if (this.total <= MAX_WINDOW_BYTES || oldest === offset) break;
      if (this.windows.size <= 2 && this.total <= MAX_PAIR_BYTES) break;
      this.windows.delete(oldest);
      this.total -= old.length;
    }
    return bytes;
  }

  /** Forgets a unit's bytes (read again if needed). */
  release(offset: number): void {
    const bytes = this.windows.get(offset);
    if (!bytes) return;
    this.windows.delete(offset);
    this.total -= bytes.length;
  }
}
