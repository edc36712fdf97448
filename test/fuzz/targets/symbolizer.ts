/**
 * The symbolizer's readers over damaged files: the ELF reader (headers, sections, compressed sections,
 * notes, symbol tables) and the whole open-symbolize-extract path over a file, the DWARF reader over mutated
 * debug sections, and the Go pclntab reader over mutated `.gopclntab` sections. Only SymbolizerFormatError
 * may be thrown (a damaged DWARF unit may also just be reported as a partial error).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DwarfContext } from '../../../src/symbolizer/dwarf/dwarf.ts';
import { loadDwarfSections, type DwarfSections } from '../../../src/symbolizer/dwarf/sections.ts';
import { ElfFile } from '../../../src/symbolizer/elf/elf.ts';
import { GoLineTable } from '../../../src/symbolizer/go/pclntab.ts';
import { extractRangesFrom } from '../../../src/symbolizer/ranges/extract.ts';
import { SymbolizedBinary, SymbolizerFormatError } from '../../../src/symbolizer/symbolizer.ts';
import { mutatedBytes, type Seed } from '../support/mutate.ts';
import { builtPrograms, elfHotSpots, functionAddresses } from '../support/symbolizer-seeds.ts';
import { expectOnly, FuzzViolation, type FuzzTarget, type PreparedTarget } from '../support/target.ts';

/** Ranges read from one damaged file before the case stops (a real file has a few thousand). */
const MAX_RANGES = 200_000;

/** Everything a reader of an ELF file asks of it, on bytes. */
function readElf(bytes: Uint8Array, addresses: readonly number[]): void {
  const elf = ElfFile.fromBytes(bytes);
  try {
    elf.buildId();
    elf.debugLink();
    elf.debugAltLink();
    elf.symbols();
    for (const section of elf.sections) elf.section(section.name);
    for (const address of addresses) elf.virtualAddressToFileOffset(address);
  } finally {
    elf.close();
  }
}

/** The service's path over a file: open with its DWARF / pclntab / symbols, symbolize, extract ranges. */
function symbolizeFile(path: string, addresses: readonly number[]): void {
  const binary = SymbolizedBinary.open(path, { debugDirectories: [] });
  try {
    for (const address of addresses) binary.symbolize(address);
    let ranges = 0;
    for (const chunk of extractRangesFrom(binary)) {
      ranges += chunk.length;
      if (ranges > MAX_RANGES) throw new FuzzViolation(`more than ${MAX_RANGES} ranges from a small file`);
    }
  } finally {
    binary.close();
  }
}

export const elfTarget: FuzzTarget = {
  name: 'elf',
  description: 'ELF reader, and open + symbolize + range extraction over the damaged file',
  caseBudgetMs: 5_000,
  async prepare(): Promise<PreparedTarget> {
    const programs = builtPrograms(['c-dwarf5', 'c-zstd', 'c-gz-zlib', 'cpp']);
    const seeds: Seed[] = [];
    const addresses = new Set<number>();
    for (const program of programs) {
      const elf = ElfFile.fromBytes(program.bytes);
      seeds.push({
        name: program.name,
        bytes: program.bytes,
        hotSpots: elfHotSpots(elf, program.bytes),
        littleEndian: true,
      });
      for (const a of functionAddresses(elf, 8)) addresses.add(a);
      elf.close();
    }
    const scratch = mkdtempSync(join(tmpdir(), 'uniprof-fuzz-elf-'));
    const file = join(scratch, 'prog');
    const list = [...addresses];
    return {
      arbitrary: mutatedBytes(seeds, { hotWeight: 70 }),
      run: (input) =>
        expectOnly(() => {
          readElf(input, list);
          writeFileSync(file, input);
          symbolizeFile(file, list);
        }, [SymbolizerFormatError]),
      close: async () => rmSync(scratch, { recursive: true, force: true }),
    };
  },
};

const SECTION_NAMES = [
  'info',
  'abbrev',
  'line',
  'str',
  'lineStr',
  'strOffsets',
  'addr',
  'ranges',
  'rnglists',
  'aranges',
] as const;

/**
 * The DWARF sections of one file as one input: a byte-order flag, then each section as a 4-byte length and
 * its bytes. Parsing is lenient (a length past the end takes what is there), so every mutation still makes
 * a set of sections.
 */
export function packSections(sections: DwarfSections): { bytes: Uint8Array; starts: Record<string, number> } {
  const parts: Uint8Array[] = [Uint8Array.of(sections.littleEndian ? 1 : 0)];
  const starts: Record<string, number> = {};
  let at = 1;
  for (const name of SECTION_NAMES) {
    const data = sections[name];
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, data.length, true);
    parts.push(length, data);
    starts[name] = at + 4;
    at += 4 + data.length;
  }
  return { bytes: Buffer.concat(parts), starts };
}

export function unpackSections(bytes: Uint8Array): DwarfSections {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 1;
  const next = (): Uint8Array => {
    const length = at + 4 <= bytes.length ? view.getUint32(at, true) : 0;
    at += 4;
    const section = bytes.subarray(Math.min(at, bytes.length), Math.min(at + length, bytes.length));
    at += length;
    return section;
  };
  // In SECTION_NAMES order.
  return {
    littleEndian: bytes[0] !== 0,
    info: next(),
    abbrev: next(),
    line: next(),
    str: next(),
    lineStr: next(),
    strOffsets: next(),
    addr: next(),
    ranges: next(),
    rnglists: next(),
    aranges: next(),
  };
}

/** Offsets of each unit's header fields in .debug_info / .debug_line (32-bit DWARF). */
function unitHeaderSpots(section: Uint8Array, base: number): number[] {
  const spots: number[] = [];
  const view = new DataView(section.buffer, section.byteOffset, section.byteLength);
  for (let at = 0; at + 12 <= section.length && spots.length < 4000;) {
    const length = view.getUint32(at, true);
    for (const f of [0, 4, 6, 7, 8, 10, 11, 12]) spots.push(base + at + f);
    if (length === 0 || length >= 0xfffffff0) break;
    at += 4 + length;
  }
  return spots;
}

/** The DWARF reader refused part of the input (a unit's error) and answered for the rest. */
class PartialRefusal extends Error {
  constructor() {
    super('a damaged unit was reported and left out');
  }
}

export const dwarfTarget: FuzzTarget = {
  name: 'dwarf',
  description: 'DWARF reader (units, abbreviations, line programs, ranges, strings) over mutated sections',
  caseBudgetMs: 5_000,
  async prepare(): Promise<PreparedTarget> {
    const programs = builtPrograms(['c-dwarf4', 'c-dwarf5', 'cpp']);
    const seeds: Seed[] = [];
    const addresses = new Set<number>();
    for (const program of programs) {
      const elf = ElfFile.fromBytes(program.bytes);
      const sections = loadDwarfSections(elf);
      if (sections) {
        const { bytes, starts } = packSections(sections);
        const spots = [
          ...unitHeaderSpots(sections.info, starts.info),
          ...unitHeaderSpots(sections.line, starts.line),
          ...Object.values(starts).map((s) => s - 4),
        ];
        seeds.push({ name: program.name, bytes, hotSpots: spots, littleEndian: true });
      }
      for (const a of functionAddresses(elf, 12)) addresses.add(a);
      elf.close();
    }
    const list = [...addresses];
    return {
      arbitrary: mutatedBytes(seeds, { hotWeight: 40 }),
      run: (input) =>
        expectOnly(() => {
          const dwarf = new DwarfContext(unpackSections(input));
          for (const address of list) dwarf.symbolize(address);
          // As range extraction walks them (ranges/extract.ts): each unit of the partition, its function
          // index and line table, the line table's sequences.
          for (const { unit } of dwarf.unitPartition().slice(0, 64))
            dwarf.unitParts(unit).lines?.orderedSequences();
          // A damaged unit is reported, not thrown: the rest of the file still symbolizes.
          if (dwarf.errors().length > 0) throw new PartialRefusal();
        }, [SymbolizerFormatError, PartialRefusal]),
    };
  },
};

/** `.gopclntab` header fields (Go 1.18+ layout) and the first function table entries. */
function pclntabSpots(elf: ElfFile): number[] {
  const header = elf.sectionHeader('.gopclntab');
  if (!header) return [];
  const data = elf.section('.gopclntab');
  if (!data) return [];
  const ptr = data[7];
  const spots = [0, 4, 6, 7];
  for (let i = 0; i < 8; i++) spots.push(8 + i * ptr);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const pclnOffset =
    ptr === 8
      ? Number(view.getBigUint64(8 + 7 * 8, elf.littleEndian))
      : view.getUint32(8 + 7 * 4, elf.littleEndian);
  for (let i = 0; i < 128; i++) spots.push(pclnOffset + 4 * i);
  return spots.map((s) => header.offset + s);
}

export const pclntabTarget: FuzzTarget = {
  name: 'pclntab',
  description:
    'Go pclntab reader (header, function table, pc-value tables, inline trees) over mutated tables',
  caseBudgetMs: 5_000,
  async prepare(): Promise<PreparedTarget> {
    const programs = builtPrograms(['go-stripped', 'go-386', 'go-s390x']);
    const seeds: Seed[] = [];
    const addresses: number[][] = [];
    for (const program of programs) {
      const elf = ElfFile.fromBytes(program.bytes);
      const table = GoLineTable.fromElf(elf);
      if (!table) throw new Error(`${program.name} has no .gopclntab`);
      const functions = table.functions();
      const step = Math.max(1, Math.floor(functions.length / 40));
      const pcs: number[] = [];
      for (let i = 0; i < functions.length; i += step)
        pcs.push(functions[i].entry, (functions[i].entry + functions[i].end) >> 1);
      addresses.push(pcs);
      seeds.push({
        name: program.name,
        bytes: program.bytes,
        hotSpots: pclntabSpots(elf),
        littleEndian: elf.littleEndian,
      });
      elf.close();
    }
    const pcs = [...new Set(addresses.flat())];
    return {
      // Only the table is mutated (the rest of the file is the ELF target's): hot spots, or within the table.
      arbitrary: mutatedBytes(seeds, { hotWeight: 100, maxMutations: 8 }),
      run: (input) =>
        expectOnly(() => {
          const elf = ElfFile.fromBytes(input);
          try {
            const table = GoLineTable.fromElf(elf);
            if (!table) return;
            table.functions();
            table.changePoints();
            for (const pc of pcs) table.symbolize(pc);
          } finally {
            elf.close();
          }
        }, [SymbolizerFormatError]),
    };
  },
};
