/**
 * Symbolizes thousands of addresses in real binaries built by the test run (and in Debian's glibc debug
 * file) and compares function, file:line and the whole inline chain with llvm-symbolizer.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { SymbolizedBinary } from '../../src/symbolizer/symbolizer.ts';
import { buildProgram, canBuild, haveTool, type VariantName } from '../peers/toolchains.ts';
import { compare, llvmSymbolize, rate, testAddresses } from './oracle.ts';

const TARGET_ADDRESSES = 4000;
const haveOracle = haveTool('llvm-symbolizer', 'apt-get install llvm');

function checkAgainstOracle(
  label: string,
  binary: SymbolizedBinary,
  oracleFile: string,
  addressSource: string,
): void {
  const addresses = testAddresses(addressSource, TARGET_ADDRESSES);
  assert.ok(addresses.length > 100, `${label}: only ${addresses.length} test addresses`);
  const expected = llvmSymbolize(oracleFile, addresses);
  const report = compare(binary, addresses, expected);
  const n = report.addresses;
  console.log(
    `# ${label}: ${n} addresses; functions ${rate(report.functions, n)}, file:line ${rate(report.fileLines, n)}, ` +
      `inline chains ${rate(report.chains, n)}`,
  );
  for (const m of report.mismatches.slice(0, 5)) console.log(`#   ${m.slice(0, 300)}`);
  assert.equal(report.functions, n, `${label}: function names must all match llvm-symbolizer`);
  assert.ok(report.fileLines >= 0.995 * n, `${label}: file:line match ${rate(report.fileLines, n)} < 99.5%`);
  assert.ok(report.chains >= 0.99 * n, `${label}: inline chain match ${rate(report.chains, n)} < 99%`);
}

function compressionTypes(path: string): Set<string> {
  const elf = ElfFile.open(path);
  try {
    const types = new Set<string>();
    for (const s of elf.sections) {
      if (!s.name.startsWith('.debug_') && !s.name.startsWith('.zdebug_')) continue;
      if (s.name.startsWith('.zdebug_')) types.add('zlib-gnu');
      else if (s.flags & 0x800) types.add(elf.section(s.name) ? compressionOf(path, s.offset) : '?');
      else types.add('none');
    }
    return types;
  } finally {
    elf.close();
  }
}

function compressionOf(path: string, offset: number): string {
  // Elf64_Chdr.ch_type: 1 zlib, 2 zstd (read straight from the file, independent of our reader).
  const elf = ElfFile.open(path);
  try {
    const header = elf.readRaw(offset, 4);
    const type = header[0] | (header[1] << 8);
    return type === 1 ? 'zlib' : type === 2 ? 'zstd' : `type ${type}`;
  } finally {
    elf.close();
  }
}

const programCases: { variant: VariantName; compression?: string; oracleVariant?: VariantName }[] = [
  { variant: 'c-dwarf4' },
  { variant: 'c-dwarf5' },
  { variant: 'c-gz-zlib', compression: 'zlib' },
  { variant: 'c-gz-zlib-gnu', compression: 'zlib-gnu' },
  // llvm-symbolizer 14 cannot read zstd sections: the same build uncompressed is its input.
  { variant: 'c-zstd', compression: 'zstd', oracleVariant: 'c-dwarf5' },
  { variant: 'cpp' },
  { variant: 'rust-legacy' },
  { variant: 'rust-v0' },
];

describe('symbolization matches llvm-symbolizer', { skip: !haveOracle && 'llvm-symbolizer missing' }, () => {
  for (const c of programCases) {
    it(c.variant, { skip: !canBuild(c.variant) && 'toolchain missing' }, () => {
      const built = buildProgram(c.variant);
      if (c.compression)
        assert.ok(compressionTypes(built.binary).has(c.compression), `${c.variant} not ${c.compression}`);
      const oracleFile = c.oracleVariant ? buildProgram(c.oracleVariant).binary : built.binary;
      const binary = SymbolizedBinary.open(built.binary, { demangle: false, debugDirectories: [] });
      try {
        assert.ok(binary.hasDwarf);
        checkAgainstOracle(c.variant, binary, oracleFile, built.binary);
      } finally {
        binary.close();
      }
    });
  }

  it(
    'split debug file found by .gnu_debuglink',
    { skip: !canBuild('c-split') && 'toolchain missing' },
    () => {
      const built = buildProgram('c-split');
      const stripped = ElfFile.open(built.binary);
      assert.equal(
        stripped.sectionHeader('.debug_info'),
        undefined,
        'binary should have no DWARF of its own',
      );
      assert.equal(stripped.debugLink()?.fileName, 'prog.debug');
      stripped.close();
      const binary = SymbolizedBinary.open(built.binary, { demangle: false, debugDirectories: [] });
      try {
        assert.equal(binary.debugFile, built.debugFile);
        checkAgainstOracle(
          'c-split (debuglink)',
          binary,
          built.debugFile as string,
          built.debugFile as string,
        );
      } finally {
        binary.close();
      }
    },
  );

  it(
    'split debug file found by build ID under a debug directory',
    { skip: !canBuild('c-split') && 'toolchain missing' },
    () => {
      const built = buildProgram('c-split');
      const probe = ElfFile.open(built.binary);
      const buildId = probe.buildId();
      probe.close();
      assert.ok(buildId && /^[0-9a-f]{40}$/.test(buildId), `unexpected build ID ${buildId}`);
      const debugDir = mkdtempSync(join(tmpdir(), 'uniprof-debug-'));
      try {
        const target = join(debugDir, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
        mkdirSync(join(target, '..'), { recursive: true });
        copyFileSync(built.debugFile as string, target);
        const binary = SymbolizedBinary.open(built.binary, { demangle: false, debugDirectories: [debugDir] });
        try {
          assert.equal(binary.debugFile, target);
          assert.ok(binary.symbolize(testAddresses(built.binary, 10)[0]).length > 0);
        } finally {
          binary.close();
        }
      } finally {
        rmSync(debugDir, { recursive: true, force: true });
      }
    },
  );

  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  const haveLibcDebug = existsSync('/usr/lib/debug/.build-id');
  if (process.env.CI === 'true')
    assert.ok(haveLibcDebug, 'libc6-dbg is not installed (apt-get install libc6-dbg)');
  it(
    'glibc with its Debian debug file (by build ID)',
    { skip: !haveLibcDebug && 'libc6-dbg missing' },
    () => {
      const binary = SymbolizedBinary.open(libc, { demangle: false });
      try {
        assert.ok(binary.debugFile, 'libc debug file not found under /usr/lib/debug');
        assert.ok(binary.hasDwarf);
        // The oracle reads the debug file directly: the same DWARF and the same full symbol table.
        checkAgainstOracle('glibc', binary, binary.debugFile, binary.debugFile);
      } finally {
        binary.close();
      }
    },
  );
});
