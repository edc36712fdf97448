/**
 * Hostile and damaged input: truncated files, flipped bytes in the debug sections, reference cycles,
 * absurd counts and sizes. Each must end in a SymbolizerFormatError for that file (or partial results),
 * quickly, without a crash, a hang or an unbounded allocation.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DwarfContext } from '../../src/symbolizer/dwarf/dwarf.ts';
import type { DwarfSections } from '../../src/symbolizer/dwarf/sections.ts';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { SymbolizedBinary, Symbolizer, SymbolizerFormatError } from '../../src/symbolizer/symbolizer.ts';
import { buildProgram, canBuild } from '../peers/toolchains.ts';
import { prng, testAddresses } from './oracle.ts';

const scratch = mkdtempSync(join(tmpdir(), 'uniprof-symbolizer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Open and symbolize; any failure must be our format error, never another exception. */
function symbolizeOrFormatError(path: string, addresses: number[]): 'ok' | 'error' {
  let binary: SymbolizedBinary | undefined;
  try {
    binary = SymbolizedBinary.open(path, { debugDirectories: [] });
    for (const a of addresses) {
      const frames = binary.symbolize(a);
      assert.ok(Array.isArray(frames));
    }
    return 'ok';
  } catch (error) {
    if (error instanceof SymbolizerFormatError) return 'error';
    throw error;
  } finally {
    binary?.close();
  }
}

const EMPTY = new Uint8Array(0);

function sections(info: number[], abbrev: number[], line: number[] = []): DwarfSections {
  return {
    littleEndian: true,
    info: Uint8Array.from(info),
    abbrev: Uint8Array.from(abbrev),
    line: Uint8Array.from(line),
    str: EMPTY,
    lineStr: EMPTY,
    strOffsets: EMPTY,
    addr: EMPTY,
    ranges: EMPTY,
    rnglists: EMPTY,
    aranges: EMPTY,
  };
}

const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const u64 = (v: number): number[] => [...u32(v), 0, 0, 0, 0];

/** A DWARF 4 unit: header then the given DIE bytes (the length is computed). */
function unit(dies: number[]): number[] {
  const body = [4, 0, ...u32(0), 8, ...dies];
  return [...u32(body.length), ...body];
}

// Abbreviations: 1 = compile unit (low_pc addr, high_pc data4, stmt_list sec_offset), children;
// 2 = subprogram (low_pc, high_pc, abstract_origin ref4), children; 3 = subprogram (name string,
// abstract_origin ref4), no children; 4 = lexical block, children.
const ABBREV = [
  1, 0x11, 1, 0x11, 0x01, 0x12, 0x06, 0x10, 0x17, 0, 0, 2, 0x2e, 1, 0x11, 0x01, 0x12, 0x06, 0x31, 0x13, 0, 0,
  3, 0x2e, 0, 0x03, 0x08, 0x31, 0x13, 0, 0, 4, 0x0b, 1, 0, 0, 0,
];
// Offsets inside the unit: header is 11 bytes; the root DIE is 1 + 8 + 4 + 4 = 17 bytes.
const ROOT = [1, ...u64(0x1000), ...u32(0x100), ...u32(0)];
const FIRST_CHILD = 11 + ROOT.length;

describe('robustness', () => {
  it('abstract_origin cycles end (self reference and a two-DIE loop)', () => {
    const selfLoop = [2, ...u64(0x1000), ...u32(0x10), ...u32(FIRST_CHILD), 0, 0];
    const second = FIRST_CHILD + 1 + 8 + 4 + 4 + 1;
    const twoLoop = [
      2,
      ...u64(0x1000),
      ...u32(0x10),
      ...u32(second),
      0,
      3,
      0x66,
      0x00,
      ...u32(FIRST_CHILD),
      0,
    ];
    for (const dies of [selfLoop, twoLoop]) {
      const dwarf = new DwarfContext(sections(unit([...ROOT, ...dies]), ABBREV));
      const frames = dwarf.symbolize(0x1004);
      assert.ok(frames && frames.length === 1);
      assert.ok(frames[0].functionName === '' || frames[0].functionName === 'f');
    }
  });

  it('very deep DIE nesting is refused without exhausting the stack', () => {
    const depth = 100_000;
    const dies = [...ROOT, ...new Array<number>(depth).fill(4), ...new Array<number>(depth + 1).fill(0)];
    const dwarf = new DwarfContext(sections(unit(dies), ABBREV));
    assert.equal(dwarf.symbolize(0x1004)?.[0]?.functionName ?? '', '');
    assert.ok(
      dwarf.unitErrors.some((e) => /too deep/.test(e)),
      dwarf.unitErrors.join('; '),
    );
  });

  it('a line table with an absurd entry count is an error for its unit only', () => {
    // DWARF 5 line header whose file name count claims 2^40 entries.
    const header = [
      5,
      0,
      8,
      0, // version 5, address size 8, segment selector size 0
      ...u32(0), // header length (unused: parsing fails first)
      1,
      1,
      1,
      0xfb,
      14,
      13,
      0,
      1,
      1,
      1,
      1,
      0,
      0,
      0,
      1,
      0,
      0,
      1, // min inst .. standard opcode lengths
      0,
      0, // no directory formats, no directories
      1,
      1,
      0x08, // one file format: path as string
      0x80,
      0x80,
      0x80,
      0x80,
      0x80,
      0x80,
      0x01, // file count 2^42 (ULEB128)
    ];
    const line = [...u32(header.length), ...header];
    const dwarf = new DwarfContext(sections(unit([...ROOT, 0]), ABBREV, line));
    const frames = dwarf.symbolize(0x1004);
    assert.deepEqual(frames, [{ functionName: '', fileName: '', line: 0, startLine: 0 }]);
    assert.ok(
      dwarf.unitErrors.some((e) => /entry count/.test(e)),
      dwarf.unitErrors.join('; '),
    );
  });

  it('a unit length pointing past the section is a format error', () => {
    const info = unit([...ROOT, 0]);
    info[0] = 0xff;
    info[1] = 0xff;
    assert.throws(() => new DwarfContext(sections(info, ABBREV)), SymbolizerFormatError);
  });

  it('ELF headers with absurd counts, offsets and compressed sizes are format errors', () => {
    const elf = new Uint8Array(4096);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    const view = new DataView(elf.buffer);
    view.setUint16(16, 2, true); // ET_EXEC
    view.setBigUint64(40, 4000n, true); // e_shoff near the end
    view.setUint16(58, 64, true); // e_shentsize
    view.setUint16(60, 0xffff, true); // e_shnum
    assert.throws(() => ElfFile.fromBytes(elf), SymbolizerFormatError);
    view.setUint16(60, 0, true);
    view.setBigUint64(32, 2n ** 52n, true); // e_phoff far outside the file
    view.setUint16(54, 56, true);
    view.setUint16(56, 3, true);
    assert.throws(() => ElfFile.fromBytes(elf), SymbolizerFormatError);
    assert.throws(() => ElfFile.fromBytes(elf.subarray(0, 20)), SymbolizerFormatError);
    assert.throws(
      () => ElfFile.fromBytes(new TextEncoder().encode('#!/bin/sh\necho not an ELF file\n')),
      SymbolizerFormatError,
    );
  });

  it('a compressed section claiming a huge size is refused before allocating', () => {
    // One SHF_COMPRESSED .debug_info whose Elf64_Chdr claims 2^40 bytes, plus the section name table.
    const elf = new Uint8Array(1024);
    const view = new DataView(elf.buffer);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    view.setUint16(16, 2, true);
    view.setBigUint64(40, 512n, true); // e_shoff
    view.setUint16(58, 64, true);
    view.setUint16(60, 3, true); // null, .debug_info, .shstrtab
    view.setUint16(62, 2, true); // e_shstrndx
    const names = new TextEncoder().encode('\0.debug_info\0.shstrtab\0');
    elf.set(names, 300);
    const header = (
      index: number,
      name: number,
      type: number,
      flags: number,
      offset: number,
      size: number,
    ): void => {
      const at = 512 + index * 64;
      view.setUint32(at, name, true);
      view.setUint32(at + 4, type, true);
      view.setBigUint64(at + 8, BigInt(flags), true);
      view.setBigUint64(at + 24, BigInt(offset), true);
      view.setBigUint64(at + 32, BigInt(size), true);
    };
    header(1, 1, 1, 0x800, 200, 40);
    header(2, 13, 3, 0, 300, names.length);
    view.setUint32(200, 1, true); // ELFCOMPRESS_ZLIB
    view.setBigUint64(208, 2n ** 40n, true); // ch_size
    const file = ElfFile.fromBytes(elf);
    assert.throws(() => file.section('.debug_info'), /too large/);
    file.close();
  });

  it(
    'truncated binaries give a format error or partial answers',
    { skip: !canBuild('cpp') && 'g++ missing' },
    () => {
      const built = buildProgram('cpp');
      const bytes = readFileSync(built.binary);
      const addresses = testAddresses(built.binary, 200);
      const outcomes = { ok: 0, error: 0 };
      const started = Date.now();
      for (let i = 0; i < 40; i++) {
        const path = join(scratch, `truncated-${i}`);
        writeFileSync(path, bytes.subarray(0, Math.floor((bytes.length * i) / 40)));
        outcomes[symbolizeOrFormatError(path, addresses)]++;
      }
      console.log(
        `# truncated: ${outcomes.error} format errors, ${outcomes.ok} opened (${Date.now() - started} ms)`,
      );
      assert.ok(outcomes.error > 0);
    },
  );

  it(
    'random byte flips in the debug sections never crash or hang',
    { skip: !canBuild('cpp') && 'g++ missing' },
    () => {
      const built = buildProgram('cpp');
      const original = readFileSync(built.binary);
      const elf = ElfFile.open(built.binary);
      const targets = elf.sections.filter((s) => s.name.startsWith('.debug_') && s.size > 0);
      elf.close();
      assert.ok(targets.length >= 4);
      const addresses = testAddresses(built.binary, 300);
      const random = prng(1234);
      const outcomes = { ok: 0, error: 0 };
      const started = Date.now();
      for (let round = 0; round < 120; round++) {
        const bytes = Buffer.from(original);
        const section = targets[round % targets.length];
        for (let k = 0; k < 1 + (round % 8); k++) {
          const at = section.offset + Math.floor(random() * section.size);
          bytes[at] = Math.floor(random() * 256);
        }
        const path = join(scratch, 'flipped');
        writeFileSync(path, bytes);
        outcomes[symbolizeOrFormatError(path, addresses)]++;
      }
      const took = Date.now() - started;
      console.log(`# byte flips: ${outcomes.error} format errors, ${outcomes.ok} answered (${took} ms)`);
      assert.ok(took < 60_000, `fuzzing took ${took} ms`);
    },
  );

  it(
    'the multi-file cache keeps at most its bound open',
    { skip: !canBuild('c-dwarf4') && 'gcc missing' },
    () => {
      const files = (['c-dwarf4', 'c-dwarf5', 'c-gz-zlib', 'c-gz-zlib-gnu'] as const).map(
        (v) => buildProgram(v).binary,
      );
      const symbolizer = new Symbolizer({ maxOpenFiles: 2, debugDirectories: [] });
      try {
        for (let round = 0; round < 3; round++) {
          for (const file of files) {
            const [address] = testAddresses(file, 10);
            assert.ok(symbolizer.symbolize(file, address).length > 0);
            assert.ok(symbolizer.openFiles <= 2);
          }
        }
      } finally {
        symbolizer.close();
      }
      assert.equal(symbolizer.openFiles, 0);
    },
  );
});
