import type { ElfFile } from '../elf/elf.ts';

const EMPTY = new Uint8Array(0);

/** The DWARF sections of one file (decompressed), absent ones as empty arrays. */
export interface DwarfSections {
  littleEndian: boolean;
  info: Uint8Array;
  abbrev: Uint8Array;
  line: Uint8Array;
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

export function loadDwarfSections(elf: ElfFile): DwarfSections | undefined {
  const info = elf.section('.debug_info');
  if (!info || info.length === 0) return undefined;
  const get = (name: string): Uint8Array => elf.section(name) ?? EMPTY;
  return {
    littleEndian: elf.littleEndian,
    info,
    abbrev: get('.debug_abbrev'),
    line: get('.debug_line'),
    str: get('.debug_str'),
    lineStr: get('.debug_line_str'),
    strOffsets: get('.debug_str_offsets'),
    addr: get('.debug_addr'),
    ranges: get('.debug_ranges'),
    rnglists: get('.debug_rnglists'),
    aranges: get('.debug_aranges'),
  };
}
