/**
 * `npm run bench:symbolize`: symbolize 100,000 addresses (function starts and random addresses inside
 * functions, with their inline chains) in glibc (Debian debug file, found by build ID) and in a large C++
 * program built with g++ -O2 -g, and the same addresses with llvm-symbolizer in the same run.
 *
 * Cold = open the file and its debug file, index it and answer every address once (our indexes are built
 * lazily per compilation unit, so the first pass pays for them). Warm = the same addresses again.
 * llvm-symbolizer also indexes lazily; its warm cost is the difference between answering the list twice
 * in one process and once.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SymbolizedBinary } from '../src/symbolizer/symbolizer.ts';
import { buildProgram, canBuild } from '../test/peers/toolchains.ts';
import { testAddresses } from '../test/symbolizer/oracle.ts';

const COUNT = 100_000;

interface Target {
  label: string;
  path: string;
  /** The file llvm-symbolizer reads (the debug file itself for glibc, for the full symbol table). */
  oraclePath: (binary: SymbolizedBinary) => string;
}

function addressesFor(path: string): number[] {
  const base = testAddresses(path, COUNT, COUNT / 4);
  const out: number[] = [];
  for (let i = 0; out.length < COUNT; i++) out.push(base[i % base.length]);
  return out;
}

function runOurs(
  target: Target,
  addresses: number[],
): { cold: number; warm: number; frames: number; binary: SymbolizedBinary } {
  const started = performance.now();
  const binary = SymbolizedBinary.open(target.path);
  let frames = 0;
  for (const a of addresses) frames += binary.symbolize(a).length;
  const cold = performance.now() - started;
  const warmStart = performance.now();
  for (const a of addresses) binary.symbolize(a);
  const warm = performance.now() - warmStart;
  return { cold, warm, frames, binary };
}

function runLlvm(obj: string, addresses: number[]): number {
  const input = addresses.map((a) => `0x${a.toString(16)}`).join('\n') + '\n';
  const started = performance.now();
  const result = spawnSync('llvm-symbolizer', ['--output-style=JSON', `--obj=${obj}`], {
    input,
    maxBuffer: 1 << 30,
  });
  if (result.status !== 0) throw new Error(`llvm-symbolizer failed: ${result.stderr.toString()}`);
  return performance.now() - started;
}

function heapMb(): string {
  return (process.memoryUsage().heapUsed / 2 ** 20).toFixed(0);
}

const targets: Target[] = [];
const libc = '/lib/x86_64-linux-gnu/libc.so.6';
if (existsSync(libc))
  targets.push({ label: 'glibc (libc6-dbg)', path: libc, oraclePath: (b) => b.debugFile ?? libc });
if (canBuild('cpp-large')) {
  const program = buildProgram('cpp-large').binary;
  targets.push({ label: 'large C++ program (g++ -O2 -g)', path: program, oraclePath: () => program });
}

console.log(`symbolize ${COUNT.toLocaleString()} addresses per file, with inline chains`);
for (const target of targets) {
  const probe = SymbolizedBinary.open(target.path);
  const oracle = target.oraclePath(probe);
  probe.close();
  const addresses = addressesFor(oracle);
  const ours = runOurs(target, addresses);
  ours.binary.close();
  const llvmOnce = runLlvm(oracle, addresses);
  const llvmTwice = runLlvm(oracle, [...addresses, ...addresses]);
  const llvmWarm = Math.max(0, llvmTwice - llvmOnce);
  const perAddress = (ms: number): string => `${((ms * 1000) / COUNT).toFixed(2)} µs/address`;
  console.log(`\n${target.label}: ${target.path}`);
  console.log(
    `  uniprof          cold ${ours.cold.toFixed(0)} ms   warm ${ours.warm.toFixed(0)} ms (${perAddress(ours.warm)})   ${ours.frames} frames, heap ${heapMb()} MB`,
  );
  console.log(
    `  llvm-symbolizer  cold ${llvmOnce.toFixed(0)} ms   warm ${llvmWarm.toFixed(0)} ms (${perAddress(llvmWarm)})   (process, incl. JSON output)`,
  );
}
