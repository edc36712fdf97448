/**
 * Symbol range extraction: for real binaries built by the test run and Debian's glibc debug file, the
 * ranges answer every function start, every range boundary and thousands of random addresses exactly as
 * the engine does; they are structurally sound (one range per depth, no gaps, no overlaps); and the
 * `dwarf` name policy gives the names llvm-symbolizer reads from DWARF when it has no symbol table.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, it } from 'node:test';
import type { SymbolRange } from '../../src/model/symbols.ts';
import { ElfFile, STB_LOCAL, STT_FUNC, STT_NOTYPE, STT_OBJECT } from '../../src/symbolizer/elf/elf.ts';
import { extractRanges, extractRangesFrom } from '../../src/symbolizer/ranges/extract.ts';
import { RangeIndex } from '../../src/symbolizer/ranges/range-index.ts';
import { stripCloneSuffixes, SymbolTable } from '../../src/symbolizer/symbols.ts';
import { SymbolizedBinary, SymbolizerFormatError } from '../../src/symbolizer/symbolizer.ts';
import { buildProgram, canBuild, haveTool, type VariantName } from '../peers/toolchains.ts';
import { llvmSymbolize, prng, testAddresses, withoutSymbolTable } from './oracle.ts';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const haveLibcDebug = existsSync('/usr/lib/debug/.build-id') && existsSync(LIBC);
if (process.env.CI === 'true')
  assert.ok(haveLibcDebug, 'libc6-dbg is not installed (apt-get install libc6-dbg)');
const haveOracle =
  haveTool('llvm-symbolizer', 'apt-get install llvm') && haveTool('objcopy', 'apt-get install binutils');
const CLONE_SUFFIX = /\.(constprop|isra|part|cold|lto_priv)(\.\d+)*\b/;

function collect(chunks: Iterable<SymbolRange[]>): SymbolRange[] {
  const out: SymbolRange[] = [];
  for (const chunk of chunks) out.push(...chunk);
  return out;
}

/** Function starts of the file's own symbol table (the debug file's for glibc). */
function functionStarts(path: string): number[] {
  const elf = ElfFile.open(path);
  try {
    const starts = elf.symbols().filter((s) => s.type === STT_FUNC && s.address > 0);
    return [...new Set(starts.map((s) => s.address))];
  } finally {
    elf.close();
  }
}

/** Uniformly random addresses over the executable sections, so code between functions is tried too. */
function randomCodeAddresses(path: string, count: number): number[] {
  const elf = ElfFile.open(path);
  try {
    const code = elf.sections.filter((s) => (s.flags & 0x4) !== 0 && s.size > 0 && s.addr > 0);
    const total = code.reduce((sum, s) => sum + s.size, 0);
    const random = prng(11);
    const out: number[] = [];
    for (let i = 0; i < count && total > 0; i++) {
      let offset = Math.floor(random() * total);
      for (const s of code) {
        if (offset < s.size) {
          out.push(s.addr + offset);
          break;
        }
        offset -= s.size;
      }
    }
    return out;
  } finally {
    elf.close();
  }
}

function codeSections(path: string): [number, number][] {
  const elf = ElfFile.open(path);
  try {
    return elf.sections
      .filter((s) => (s.flags & 0x4) !== 0 && s.size > 0 && s.addr > 0)
      .map((s): [number, number] => [s.addr, s.addr + s.size]);
  } finally {
    elf.close();
  }
}

/** One range per depth at every address, every deeper range inside the chain above it, sane line tables. */
function checkStructure(label: string, ranges: SymbolRange[]): void {
  const byDepth: SymbolRange[][] = [];
  for (const r of ranges) (byDepth[r.depth] ??= []).push(r);
  for (let depth = 0; depth < byDepth.length; depth++) {
    const level = byDepth[depth] ?? [];
    assert.ok(level.length > 0, `${label}: no range at depth ${depth} below deeper ones`);
    level.sort((a, b) => a.start - b.start);
    for (let i = 0; i < level.length; i++) {
      const r = level[i];
      assert.ok(r.start < r.end, `${label}: empty range ${JSON.stringify(r)}`);
      if (i > 0)
        assert.ok(
          level[i - 1].end <= r.start,
          `${label}: overlap at depth ${depth} at 0x${r.start.toString(16)}`,
        );
      assert.equal(r.lineOffsets.length, r.lines.length);
      for (let k = 0; k < r.lineOffsets.length; k++) {
        assert.ok(
          r.lineOffsets[k] >= 0 && r.lineOffsets[k] < r.end - r.start,
          `${label}: line offset outside`,
        );
        if (k > 0) assert.ok(r.lineOffsets[k] > r.lineOffsets[k - 1], `${label}: line offsets not ascending`);
      }
      if (depth > 0) assert.ok(r.callLine >= 0);
      else assert.equal(r.callFileName, '');
    }
    if (depth === 0) continue;
    // Each range must lie in the union of the (disjoint, sorted) ranges one level up.
    const parents = byDepth[depth - 1];
    let p = 0;
    for (const r of level) {
      while (p < parents.length && parents[p].end <= r.start) p++;
      let covered = r.start;
      for (let q = p; q < parents.length && parents[q].start <= covered && covered < r.end; q++)
        covered = Math.max(covered, parents[q].end);
      assert.ok(
        covered >= r.end,
        `${label}: depth ${depth} range at 0x${r.start.toString(16)} has a gap above it`,
      );
    }
  }
}

/** Every address: the ranges' answer deep-equals the engine's under the same options. */
function checkAgainstEngine(
  label: string,
  path: string,
  ranges: SymbolRange[],
  binary: SymbolizedBinary,
  symbolSource: string,
  onlyCode = false,
): void {
  const index = RangeIndex.of(ranges);
  const addresses = new Set<number>([
    ...functionStarts(symbolSource),
    ...testAddresses(symbolSource, 4000),
    ...randomCodeAddresses(path, 4000),
  ]);
  for (const r of ranges) {
    addresses.add(r.start);
    addresses.add(r.end - 1);
    addresses.add(r.end);
    for (const offset of r.lineOffsets) addresses.add(r.start + offset);
  }
  let compared = 0;
  let withFrames = 0;
  const code = codeSections(path);
  for (const address of addresses) {
    // Ranges describe code; llvm-symbolizer's zero-size symbols reach on past their section's end.
    if (onlyCode && !code.some(([low, high]) => address >= low && address < high)) continue;
    const expected = binary.symbolize(address);
    const actual = index.symbolize(address);
    if (!isDeepStrictEqual(actual, expected))
      assert.deepEqual(actual, expected, `${label}: 0x${address.toString(16)}`);
    compared++;
    if (expected.length > 0) withFrames++;
  }
  const deepest = Math.max(...ranges.map((r) => r.depth));
  console.log(
    `# ${label}: ${ranges.length} ranges (deepest inline depth ${deepest}); ${compared} addresses equal to the engine (${withFrames} with frames)`,
  );
  assert.ok(withFrames > 100, `${label}: too few symbolized addresses`);
}

const programCases: { variant: VariantName; debugFile?: boolean; noSymbols?: boolean }[] = [
  { variant: 'c-dwarf4' },
  { variant: 'c-dwarf5' },
  { variant: 'c-gz-zlib' },
  { variant: 'c-gz-zlib-gnu' },
  { variant: 'c-zstd' },
  { variant: 'c-split', debugFile: true },
  { variant: 'cpp' },
  { variant: 'cpp-split-dwarf5' },
  { variant: 'cpp-split-dwarf4' },
  { variant: 'cpp-dwz' },
  { variant: 'rust-legacy' },
  { variant: 'rust-v0' },
  { variant: 'rust-dwarf5' },
  { variant: 'go-dwarf' },
  // No DWARF, no symbol table: the ranges come from .gopclntab (with its inline tree).
  { variant: 'go-stripped', noSymbols: true },
  { variant: 'go-386' },
  { variant: 'go-s390x' },
  { variant: 'go-mips' },
];

describe('symbol ranges answer exactly as the engine', () => {
  for (const c of programCases) {
    it(c.variant, { skip: !canBuild(c.variant) && 'toolchain missing' }, () => {
      const built = buildProgram(c.variant);
      for (const functionNames of ['dwarf', 'symtab'] as const) {
        const binary = SymbolizedBinary.open(built.binary, { debugDirectories: [], functionNames });
        try {
          assert.ok(c.noSymbols ? binary.hasGoTable && !binary.hasDwarf : binary.hasDwarf);
          const ranges = collect(extractRangesFrom(binary));
          checkStructure(c.variant, ranges);
          checkAgainstEngine(
            `${c.variant} (${functionNames} names)`,
            built.binary,
            ranges,
            binary,
            c.debugFile ? (built.debugFile as string) : built.binary,
            functionNames === 'symtab',
          );
          assert.ok(
            ranges.some((r) => r.depth > 0),
            `${c.variant}: no inlined calls`,
          );
        } finally {
          binary.close();
        }
      }
    });
  }

  it(
    'glibc with its Debian debug file (by build ID)',
    { skip: !haveLibcDebug && 'libc6-dbg missing' },
    () => {
      const binary = SymbolizedBinary.open(LIBC, { functionNames: 'dwarf' });
      try {
        assert.ok(binary.debugFile, 'libc debug file not found under /usr/lib/debug');
        const ranges = collect(extractRangesFrom(binary));
        checkStructure('glibc', ranges);
        checkAgainstEngine('glibc', LIBC, ranges, binary, binary.debugFile);
      } finally {
        binary.close();
      }
    },
  );

  it('yields chunks of at most chunkSize ranges, the same ranges whatever the size', () => {
    const built = buildProgram('cpp');
    const whole = collect(extractRanges(built.binary, { debugDirectories: [] }));
    const chunks = [...extractRanges(built.binary, { debugDirectories: [], chunkSize: 7 })];
    assert.ok(chunks.length > 1);
    for (const chunk of chunks) assert.ok(chunk.length > 0 && chunk.length <= 7);
    assert.deepEqual(chunks.flat(), whole);
  });
});

describe(
  'the dwarf name policy matches llvm-symbolizer without a symbol table',
  { skip: !haveOracle && 'llvm-symbolizer or objcopy missing' },
  () => {
    const cases: {
      label: string;
      files: () => { binary: string; oracle: string; symbols: string } | undefined;
    }[] = [
      ...(['c-dwarf5', 'cpp', 'rust-v0', 'rust-legacy'] as const).map((variant) => ({
        label: variant,
        files: () => {
          if (!canBuild(variant)) return undefined;
          const built = buildProgram(variant);
          return { binary: built.binary, oracle: built.binary, symbols: built.binary };
        },
      })),
      {
        // Names that dwz moved into the supplementary file; the oracle reads the same build before dwz.
        label: 'cpp-dwz',
        files: () => {
          if (!canBuild('cpp-dwz')) return undefined;
          const built = buildProgram('cpp-dwz');
          return { binary: built.binary, oracle: join(built.dir, 'orig'), symbols: built.binary };
        },
      },
      {
        label: 'glibc',
        files: () => {
          if (!haveLibcDebug) return undefined;
          const probe = SymbolizedBinary.open(LIBC);
          const debugFile = probe.debugFile;
          probe.close();
          return debugFile ? { binary: LIBC, oracle: debugFile, symbols: debugFile } : undefined;
        },
      },
    ];
    for (const c of cases) {
      it(c.label, () => {
        const files = c.files();
        if (!files) return;
        const dir = mkdtempSync(join(tmpdir(), 'uniprof-ranges-'));
        try {
          const oracle = withoutSymbolTable(files.oracle, dir);
          const index = RangeIndex.of(collect(extractRanges(files.binary, { demangle: false })));
          const linker = SymbolizedBinary.open(files.binary, { demangle: false, functionNames: 'symtab' });
          const addresses = [
            ...new Set([...functionStarts(files.symbols), ...testAddresses(files.symbols, 3000)]),
          ];
          const expected = llvmSymbolize(oracle, addresses);
          let known = 0;
          let cloneNamesReplaced = 0;
          const mismatches: string[] = [];
          addresses.forEach((address, i) => {
            const theirs = expected[i].filter((f) => f.functionName !== '');
            if (theirs.length === 0 || theirs.length !== expected[i].length) return; // DWARF knows no function here
            known++;
            const ours = index.symbolize(address).map((f) => f.functionName);
            const names = theirs.map((f) => f.functionName);
            if (JSON.stringify(ours) !== JSON.stringify(names) && mismatches.length < 5)
              mismatches.push(
                `0x${address.toString(16)}: ours ${ours.join(' <- ')} | llvm ${names.join(' <- ')}`,
              );
            for (const name of ours)
              assert.doesNotMatch(name, CLONE_SUFFIX, `0x${address.toString(16)}: ${name}`);
            const linkerName = linker.symbolize(address).at(-1)?.functionName ?? '';
            if (CLONE_SUFFIX.test(linkerName)) cloneNamesReplaced++;
          });
          linker.close();
          console.log(
            `# ${c.label}: ${known} of ${addresses.length} addresses in DWARF functions; names equal llvm-symbolizer's (no symbol table); ` +
              `${cloneNamesReplaced} of them carry a clone suffix in the symbol table`,
          );
          for (const m of mismatches) console.log(`#   ${m.slice(0, 400)}`);
          assert.deepEqual(mismatches, []);
          assert.ok(known > 0.5 * addresses.length, `${c.label}: DWARF should know most functions`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  },
);

describe('separate debug files and bad input', () => {
  it(
    'an explicit debug file for a stripped copy gives the ranges of the unstripped binary',
    { skip: !canBuild('c-dwarf5') && 'gcc missing' },
    () => {
      const built = buildProgram('c-dwarf5');
      const dir = mkdtempSync(join(tmpdir(), 'uniprof-ranges-'));
      try {
        const debugFile = join(dir, 'separate.debug');
        const stripped = join(dir, 'stripped');
        execFileSync('objcopy', ['--only-keep-debug', built.binary, debugFile]);
        execFileSync('objcopy', ['--strip-all', built.binary, stripped]);
        const strippedElf = ElfFile.open(stripped);
        assert.equal(strippedElf.sectionHeader('.debug_info'), undefined);
        assert.equal(strippedElf.hasSymtab(), false);
        strippedElf.close();
        const expected = collect(extractRanges(built.binary, { debugDirectories: [] }));
        const actual = collect(extractRanges(stripped, { debugDirectories: [], debugFile }));
        assert.ok(expected.length > 10);
        assert.deepEqual(actual, expected);
        // Without the debug file the stripped copy has only its dynamic symbols: far fewer ranges.
        assert.ok(collect(extractRanges(stripped, { debugDirectories: [] })).length < expected.length);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it(
    'a debug file with another build ID is refused with a clear error',
    { skip: !(canBuild('c-dwarf4') && canBuild('c-dwarf5')) && 'gcc missing' },
    () => {
      const wrong = buildProgram('c-dwarf4').binary;
      assert.throws(
        () =>
          collect(extractRanges(buildProgram('c-dwarf5').binary, { debugDirectories: [], debugFile: wrong })),
        (error: unknown) => error instanceof SymbolizerFormatError && /build ID/.test(error.message),
      );
    },
  );

  it('a file that is not ELF is a format error, not a crash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uniprof-ranges-'));
    try {
      const path = join(dir, 'not-elf');
      writeFileSync(path, 'this is not an ELF file at all, just text');
      assert.throws(() => collect(extractRanges(path)), SymbolizerFormatError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('RangeIndex rejects malformed ranges and answers with the innermost range per depth', () => {
    const range = (start: number, end: number, depth: number, name: string): SymbolRange => ({
      start,
      end,
      depth,
      functionName: name,
      functionLine: 1,
      fileName: 'a.c',
      callFileName: depth > 0 ? 'a.c' : '',
      callLine: depth > 0 ? 7 : 0,
      lineOffsets: [0, 4],
      lines: [10, 11],
    });
    for (const bad of [
      range(10, 10, 0, 'empty'),
      range(10, 5, 0, 'reversed'),
      range(Number.NaN, 5, 0, 'nan'),
      range(0, 5, -1, 'negative depth'),
      range(0, 5, 1e9, 'absurd depth'),
      { ...range(0, 5, 0, 'lines'), lines: [1] },
    ])
      assert.throws(() => RangeIndex.of([bad]), RangeError);
    const index = RangeIndex.of([range(0, 100, 0, 'outer'), range(8, 20, 1, 'inlined')]);
    assert.deepEqual(index.symbolize(9), [
      { functionName: 'inlined', fileName: 'a.c', line: 10, startLine: 1 },
      { functionName: 'outer', fileName: 'a.c', line: 7, startLine: 1 },
    ]);
    assert.deepEqual(index.symbolize(50), [
      { functionName: 'outer', fileName: 'a.c', line: 11, startLine: 1 },
    ]);
    assert.deepEqual(index.symbolize(100), []);
    assert.equal(index.containing(12).length, 2);
  });

  it('clone suffixes are stripped, other dots kept', () => {
    assert.equal(stripCloneSuffixes('f.constprop.0'), 'f');
    assert.equal(stripCloneSuffixes('f.isra.0.cold'), 'f');
    assert.equal(stripCloneSuffixes('f.part.0.constprop.0'), 'f');
    assert.equal(stripCloneSuffixes('_ZN3foo3barEv.lto_priv.0'), '_ZN3foo3barEv');
    assert.equal(stripCloneSuffixes('f.cold'), 'f');
    assert.equal(stripCloneSuffixes('.cold'), '.cold');
    assert.equal(stripCloneSuffixes('memcpy@GLIBC_2.2.5'), 'memcpy@GLIBC_2.2.5');
    assert.equal(stripCloneSuffixes('go.shape.int'), 'go.shape.int');
  });

  it('the dwarf policy names code only from function symbols, bounded by their section', () => {
    const symbols = [
      { name: 'f.constprop.0', address: 0x1000, size: 0x100, type: STT_FUNC, binding: STB_LOCAL, section: 1 },
      { name: '.L_label', address: 0x1040, size: 0, type: STT_NOTYPE, binding: STB_LOCAL, section: 1 },
      { name: 'table', address: 0x1200, size: 0x10, type: STT_OBJECT, binding: 1, section: 1 },
      { name: 'asm_entry', address: 0x1300, size: 0, type: STT_NOTYPE, binding: 1, section: 1 },
      { name: 'next_section', address: 0x3000, size: 0x10, type: STT_FUNC, binding: 1, section: 2 },
    ];
    const sectionEnd = (index: number): number | undefined => (index === 1 ? 0x1400 : 0x3010);
    const dwarf = new SymbolTable(symbols, { policy: 'dwarf', sectionEnd });
    const symtab = new SymbolTable(symbols, { policy: 'symtab', sectionEnd });
    assert.equal(dwarf.lookup(0x1050)?.name, 'f');
    assert.equal(symtab.lookup(0x1050)?.name, '.L_label');
    assert.equal(dwarf.lookup(0x1204), undefined);
    assert.equal(symtab.lookup(0x1204)?.name, 'table');
    assert.equal(dwarf.lookup(0x13ff)?.name, 'asm_entry');
    assert.equal(dwarf.lookup(0x1400), undefined, 'a zero-size symbol ends with its section');
    assert.equal(symtab.lookup(0x1400)?.name, 'asm_entry', 'llvm-symbolizer: up to the next symbol');
  });

  it(
    'damaged debug sections end in ranges or a format error, never a crash',
    { skip: !canBuild('cpp') && 'g++ missing' },
    () => {
      const built = buildProgram('cpp');
      const original = readFileSync(built.binary);
      const elf = ElfFile.open(built.binary);
      const targets = elf.sections.filter((s) => s.name.startsWith('.debug_') && s.size > 0);
      elf.close();
      const dir = mkdtempSync(join(tmpdir(), 'uniprof-ranges-'));
      const random = prng(4321);
      const outcomes = { ranges: 0, error: 0 };
      try {
        for (let round = 0; round < 40; round++) {
          const bytes = Buffer.from(original);
          const section = targets[round % targets.length];
          for (let k = 0; k < 1 + (round % 8); k++)
            bytes[section.offset + Math.floor(random() * section.size)] = Math.floor(random() * 256);
          const path = join(dir, 'flipped');
          writeFileSync(path, bytes);
          try {
            const ranges = collect(extractRanges(path, { debugDirectories: [] }));
            // Whatever survives must still be a consistent set of ranges.
            RangeIndex.of(ranges);
            outcomes.ranges++;
          } catch (error) {
            if (!(error instanceof SymbolizerFormatError)) throw error;
            outcomes.error++;
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      console.log(`# byte flips: ${outcomes.ranges} extractions completed, ${outcomes.error} format errors`);
    },
  );
});
