/** Runs llvm-symbolizer as the reference and compares our frames with its answers. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { SymbolizedBinary, SymbolizedFrame } from '../../src/symbolizer/symbolizer.ts';
import { ElfFile, STT_FUNC } from '../../src/symbolizer/elf/elf.ts';

export interface OracleFrame {
  functionName: string;
  fileName: string;
  line: number;
}

interface LlvmJsonFrame {
  FunctionName: string;
  FileName: string;
  Line: number;
}

/** Symbolize addresses in one batch (addresses on stdin, one JSON line per answer). */
export function llvmSymbolize(obj: string, addresses: number[], demangle = false): OracleFrame[][] {
  const input = addresses.map((a) => `0x${a.toString(16)}`).join('\n') + '\n';
  const args = ['--output-style=JSON', `--obj=${obj}`, demangle ? '--demangle' : '--no-demangle'];
  const result = spawnSync('llvm-symbolizer', args, { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`llvm-symbolizer failed: ${result.stderr}`);
  const lines = result.stdout.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== addresses.length)
    throw new Error(`llvm-symbolizer gave ${lines.length} answers for ${addresses.length}`);
  return lines.map((line) => {
    const parsed = JSON.parse(line) as { Symbol: LlvmJsonFrame[] };
    return parsed.Symbol.map((f) => ({
      functionName: f.FunctionName === '??' ? '' : f.FunctionName,
      fileName: f.FileName === '??' ? '' : f.FileName,
      line: f.Line,
    }));
  });
}

/**
 * A copy of the file without any symbol table (the debug sections kept), so llvm-symbolizer names from DWARF:
 * the names of the symbolizer's `dwarf` policy (see docs/symbolizer.md). Written as `dir/name`.
 */
export function withoutSymbolTable(path: string, dir: string, name = 'nosymtab'): string {
  const out = join(dir, name);
  execFileSync('objcopy', [
    '--strip-all',
    '--keep-section=.debug_*',
    '--keep-section=.gnu_debugaltlink',
    path,
    out,
  ]);
  const elf = ElfFile.open(out);
  try {
    assert.equal(elf.hasSymtab(), false);
    assert.ok(elf.sectionHeader('.debug_info'), 'debug sections must survive');
  } finally {
    elf.close();
  }
  return out;
}

/** Deterministic pseudo-random numbers (xorshift32), so failures reproduce. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/**
 * Function starts plus random addresses inside the functions, about `target` in all: over at most
 * `maxFunctions` functions (evenly spread), with more addresses per function in small programs.
 */
export function testAddresses(path: string, target: number, maxFunctions = target / 3, seed = 1): number[] {
  const elf = ElfFile.open(path);
  try {
    const seen = new Set<number>();
    const functions = elf
      .symbols()
      .filter(
        (s) =>
          s.type === STT_FUNC && s.size > 0 && s.address > 0 && !seen.has(s.address) && seen.add(s.address),
      );
    functions.sort((a, b) => a.address - b.address);
    const step = Math.max(1, functions.length / maxFunctions);
    const random = prng(seed);
    const perFunction = Math.max(2, Math.floor(target / Math.min(functions.length, maxFunctions)) - 1);
    const out: number[] = [];
    for (let i = 0; i < functions.length; i += step) {
      const f = functions[Math.floor(i)];
      out.push(f.address);
      for (let k = 0; k < Math.min(perFunction, f.size - 1); k++)
        out.push(f.address + 1 + Math.floor(random() * (f.size - 1)));
    }
    return out;
  } finally {
    elf.close();
  }
}

export interface MatchReport {
  addresses: number;
  functions: number;
  fileLines: number;
  chains: number;
  mismatches: string[];
}

/** Decides whether our frame and the oracle's describe the same thing; strict equality by default. */
export interface FrameEquivalence {
  sameFunction(ours: string, theirs: string): boolean;
  samePosition(ours: OracleFrame, theirs: OracleFrame): boolean;
}

export const strictEquivalence: FrameEquivalence = {
  sameFunction: (ours, theirs) => ours === theirs,
  samePosition: (ours, theirs) => ours.fileName === theirs.fileName && ours.line === theirs.line,
};

export function compare(
  binary: SymbolizedBinary,
  addresses: number[],
  expected: OracleFrame[][],
  keepMismatches = 20,
  equivalence: FrameEquivalence = strictEquivalence,
): MatchReport {
  const report: MatchReport = {
    addresses: addresses.length,
    functions: 0,
    fileLines: 0,
    chains: 0,
    mismatches: [],
  };
  addresses.forEach((address, i) => {
    const ours: SymbolizedFrame[] = binary.symbolize(address);
    const theirs = expected[i].filter((f) => f.functionName !== '' || f.fileName !== '' || f.line !== 0);
    const none: OracleFrame = { functionName: '', fileName: '', line: 0 };
    const a = ours[0] ?? none;
    const b = theirs[0] ?? none;
    const fnOk = equivalence.sameFunction(a.functionName, b.functionName);
    const lineOk = equivalence.samePosition(a, b);
    const chainOk =
      ours.length === theirs.length &&
      ours.every(
        (f, k) =>
          equivalence.sameFunction(f.functionName, theirs[k].functionName) &&
          equivalence.samePosition(f, theirs[k]),
      );
    if (fnOk) report.functions++;
    if (lineOk) report.fileLines++;
    if (chainOk) report.chains++;
    if (!chainOk && report.mismatches.length < keepMismatches) {
      const show = (fs: OracleFrame[]): string =>
        fs.map((f) => `${f.functionName}@${f.fileName}:${f.line}`).join(' <- ');
      report.mismatches.push(`0x${address.toString(16)}: ours ${show(ours)} | llvm ${show(theirs)}`);
    }
  });
  return report;
}

export function rate(n: number, of: number): string {
  return `${((100 * n) / Math.max(1, of)).toFixed(2)}%`;
}
