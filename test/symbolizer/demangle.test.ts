/**
 * Our demanglers against LLVM's (llvm-cxxfilt) and GNU's (c++filt) on every mangled symbol of real
 * binaries: libstdc++, the C++ and Rust programs the tests build.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { demangle } from '../../src/symbolizer/demangle/index.ts';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { buildProgram, canBuild, haveTool } from '../peers/toolchains.ts';
import { SymbolizedBinary } from '../../src/symbolizer/symbolizer.ts';
import { prng, testAddresses } from './oracle.ts';

const haveFilters =
  haveTool('llvm-cxxfilt', 'apt-get install llvm') && haveTool('c++filt', 'apt-get install binutils');

function symbolNames(path: string, filter: (name: string) => boolean): string[] {
  const elf = ElfFile.open(path);
  try {
    const names = new Set<string>();
    for (const s of elf.symbols()) if (filter(s.name)) names.add(s.name);
    return [...names];
  } finally {
    elf.close();
  }
}

/** Linkage names DWARF gives for the functions (inlined ones included) at the test addresses of a binary. */
function linkageNames(path: string, keep: (name: string) => boolean): string[] {
  const binary = SymbolizedBinary.open(path, { demangle: false, debugDirectories: [] });
  try {
    const names = new Set<string>();
    for (const address of testAddresses(path, 3000)) {
      for (const frame of binary.symbolize(address))
        if (keep(frame.functionName)) names.add(frame.functionName);
    }
    return [...names];
  } finally {
    binary.close();
  }
}

function filterAll(tool: string, names: string[]): string[] {
  const result = spawnSync(tool, [], {
    input: names.join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (result.status !== 0) throw new Error(`${tool} failed: ${result.stderr}`);
  const lines = result.stdout.split('\n');
  return lines.slice(0, names.length);
}

/** llvm-cxxfilt knows legacy Rust names only as C++: decode the `$..$` escapes and drop the hash as rustc does. */
function rustLegacyFromItanium(text: string): string {
  const escapes: Record<string, string> = {
    SP: '@',
    BP: '*',
    RF: '&',
    LT: '<',
    GT: '>',
    LP: '(',
    RP: ')',
    C: ',',
  };
  return text
    .replace(/ \(\.llvm\.\d+\)$/, '')
    .replace(/::h[0-9a-f]{16}$/, '')
    .replace(/(^|::)_\$/g, '$1$')
    .replace(
      /\$(SP|BP|RF|LT|GT|LP|RP|C|u[0-9a-f]+)\$/g,
      (_, code: string) => escapes[code] ?? String.fromCodePoint(parseInt(code.slice(1), 16)),
    )
    .replace(/\.\./g, '::');
}

function report(label: string, total: number, matched: number, misses: string[]): void {
  console.log(
    `# ${label}: ${matched}/${total} names demangled as the reference does (${((100 * matched) / total).toFixed(2)}%)`,
  );
  for (const m of misses.slice(0, 5)) console.log(`#   ${m}`);
}

describe('demangling', { skip: !haveFilters && 'llvm-cxxfilt / c++filt missing' }, () => {
  const libstdcxx = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';

  it('Itanium C++: libstdc++ and the C++ test program match llvm-cxxfilt or c++filt', () => {
    const names = new Set<string>();
    if (existsSync(libstdcxx))
      for (const n of symbolNames(libstdcxx, (s) => s.startsWith('_Z'))) names.add(n);
    if (canBuild('cpp'))
      for (const n of symbolNames(buildProgram('cpp').binary, (s) => s.startsWith('_Z'))) names.add(n);
    const list = [...names];
    assert.ok(list.length > 1000, `only ${list.length} C++ names to test`);
    const llvm = filterAll('llvm-cxxfilt', list);
    const gnu = filterAll('c++filt', list);
    let matched = 0;
    let llvmUnknown = 0;
    const misses: string[] = [];
    list.forEach((name, i) => {
      const ours = demangle(name);
      if (llvm[i] === name && gnu[i] === name) llvmUnknown++;
      if (ours === llvm[i] || ours === gnu[i]) matched++;
      else misses.push(`${name}: ours ${ours} | llvm ${llvm[i]} | gnu ${gnu[i]}`);
    });
    report('C++', list.length, matched, misses);
    assert.ok(matched >= 0.995 * list.length, `C++ demangling matched only ${matched} of ${list.length}`);
    assert.ok(llvmUnknown < list.length / 100);
  });

  it('Rust v0 and legacy names match llvm-cxxfilt', { skip: !canBuild('rust-v0') && 'rustc missing' }, () => {
    const names = new Set<string>();
    for (const variant of ['rust-v0', 'rust-legacy'] as const) {
      const isRust = (s: string): boolean => s.startsWith('_R') || /^_ZN.*17h[0-9a-f]{16}E/.test(s);
      for (const n of symbolNames(buildProgram(variant).binary, isRust)) names.add(n);
      for (const n of linkageNames(buildProgram(variant).binary, isRust)) names.add(n);
    }
    const list = [...names];
    const v0 = list.filter((n) => n.startsWith('_R')).length;
    assert.ok(v0 > 100 && list.length - v0 > 10, `too few Rust names (${v0} v0, ${list.length - v0} legacy)`);
    const llvm = filterAll('llvm-cxxfilt', list);
    let matched = 0;
    const misses: string[] = [];
    list.forEach((name, i) => {
      const expected = name.startsWith('_R')
        ? llvm[i].replace(/ \(\.llvm\.\d+\)$/, '')
        : rustLegacyFromItanium(llvm[i]);
      const ours = demangle(name);
      if (ours === expected) matched++;
      else misses.push(`${name}: ours ${ours} | expected ${expected}`);
    });
    report(`Rust (${v0} v0, ${list.length - v0} legacy)`, list.length, matched, misses);
    assert.ok(matched >= 0.995 * list.length, `Rust demangling matched only ${matched} of ${list.length}`);
  });

  it('plain and malformed names come back unchanged, never throw, never hang', () => {
    assert.equal(demangle('main'), 'main');
    assert.equal(demangle('_Z'), '_Z');
    assert.equal(demangle('_ZN3foo'), '_ZN3foo');
    assert.equal(demangle('_R'), '_R');
    assert.equal(demangle('_ZSt4sortIPiEvT_S1_'), 'void std::sort<int*>(int*, int*)');
    assert.equal(demangle('_ZN3foo3barE'), 'foo::bar');
    assert.equal(demangle('_RNvCs1234_7mycrate3foo'), 'mycrate::foo');
    // Deep nesting and huge lengths are refused, not followed.
    assert.equal(demangle(`_Z1fP${'P'.repeat(100000)}i`), `_Z1fP${'P'.repeat(100000)}i`);
    assert.equal(demangle('_Z999999999999x'), '_Z999999999999x');
    const seeds = [
      '_ZNSt6vectorIiSaIiEE9push_backERKi',
      '_RINvNtCs1_4core3ptr13drop_in_placeNtCs2_3foo3BarEB4_',
    ];
    const random = prng(42);
    const alphabet = '_ZRNSIEKPRTVabcdefghijlmstuvxyz0123456789';
    const started = Date.now();
    for (let i = 0; i < 20000; i++) {
      const chars = [...seeds[i % seeds.length]];
      for (let k = 0; k < 3; k++)
        chars[Math.floor(random() * chars.length)] = alphabet[Math.floor(random() * alphabet.length)];
      const result = demangle(chars.join(''));
      assert.equal(typeof result, 'string');
    }
    assert.ok(Date.now() - started < 20000, 'fuzzing took too long');
  });
});
