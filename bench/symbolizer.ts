/**
 * `npm run bench:symbolizer`: symbol range extraction (`extractRanges`, what `symbtool push-symbols` and the
 * symbolizer service run once per executable) on glibc's Debian debug file and on large `-O3 -g` C
 * programs, next to the reference figures of Elastic's symblib (it cannot be built here) and the targets
 * (within 1.5× of symblib's time).
 *
 * Each measurement runs in a fresh child process, so its peak RSS (`maxRSS`) is that one extraction's:
 * open the file and its debug file, sweep every unit, count the ranges (not kept). A child that only loads
 * the modules gives the Node baseline; "extraction" RSS is the peak above it. Best time of 3 runs.
 *
 * Then the engine's cold start, as the symbolizer meets every new executable: in a fresh process (modules
 * loaded, nothing opened, JIT cold), open a `-O3 -g` program and answer 5,000 addresses, against
 * `llvm-symbolizer` answering the same addresses (a whole process) in the same run; target ≤ 1.0×.
 *
 * The measuring processes run the compiled engine (dist/, rebuilt when older than src/) on plain Node, as
 * an installed Uniprof does; UNIPROF_BENCH_ENGINE=src measures the sources under tsx (bench/engine.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SymbolizedBinary } from '../src/symbolizer/symbolizer.ts';
import { engineBuild, engineChild, ensureCompiledEngine } from './engine.ts';
import { buildProgram, cacheRoot, canBuild, haveTool } from '../test/peers/toolchains.ts';
import { testAddresses } from '../test/symbolizer/oracle.ts';

interface ChildResult {
  ms: number;
  /** CPU time (user + system): less disturbed than wall time on a shared machine. */
  cpuMs: number;
  /** A second extraction of the same file in the same process (JIT warm, as in the long-lived worker). */
  warmMs: number;
  warmCpuMs: number;
  ranges: number;
  maxRssMb: number;
}

const RUNS = 3;
/** symblib's times (ms) and the target factor on them. */
const SYMBLIB_GLIBC_MS = 156;
const SYMBLIB_SQLITE_MS = 205;
const TARGET_FACTOR = 1.5;
const COLD_START_ADDRESSES = 5000;
const COLD_START_RUNS = 5;

main();

function extractionChild(path: string): ChildResult {
  return engineChild(['extract', path], `extraction of ${path}`);
}

/**
 * A large C program with many compilation units, functions and inlined helpers (about SQLite's
 * number of ranges at -O3), built once into the cache.
 */
function generatedProgram(files: number, functionsPerFile: number): string | undefined {
  if (!haveTool('gcc', 'apt-get install gcc')) return undefined;
  const sources = new Map<string, string>();
  for (let f = 0; f < files; f++) sources.set(`unit${f}.c`, unitSource(f, functionsPerFile));
  sources.set('main.c', mainSource(files));
  const hash = createHash('sha256');
  for (const [name, text] of sources) hash.update(name).update(text);
  hash.update(execFileSync('gcc', ['--version'], { encoding: 'utf8' }));
  const dir = join(
    cacheRoot,
    'bench-ranges',
    `gen-${files}x${functionsPerFile}-${hash.digest('hex').slice(0, 12)}`,
  );
  const binary = join(dir, 'prog');
  if (existsSync(binary)) return binary;
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const [name, text] of sources) writeFileSync(join(staging, name), text);
  console.log(`building a generated C program (${files} files × ${functionsPerFile} functions, gcc -O3 -g)…`);
  execFileSync('gcc', ['-O3', '-g', '-o', 'prog', ...sources.keys()], { cwd: staging, stdio: 'inherit' });
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return binary;
}

function unitSource(f: number, count: number): string {
  const lines = [
    '#include <stdint.h>',
    'typedef uint64_t u64;',
    `static inline u64 mix${f}(u64 x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 29; return x; }`,
    `static inline u64 step${f}(u64 x, int k) {`,
    `  for (int j = 0; j < (k & 3); j++) x = mix${f}(x + (u64)j);`,
    '  return x;',
    '}',
    `static inline u64 pick${f}(u64 a, u64 b) { return a > b ? step${f}(a, 3) : mix${f}(b ^ a); }`,
    `static inline u64 fold${f}(const unsigned char *p, int n, u64 seed) {`,
    '  u64 acc = seed;',
    `  for (int k = 0; k < n; k++) acc = pick${f}(acc ^ p[k], step${f}(acc, k));`,
    '  return acc;',
    '}',
  ];
  for (let i = 0; i < count; i++) {
    const name = `f${f}_${i}`;
    const callee = i > 0 ? `f${f}_${i - 1}` : undefined;
    if (callee) lines.push(`u64 ${callee}(u64 x, const unsigned char *p, int n);`);
    lines.push(
      `__attribute__((noinline)) u64 ${name}(u64 x, const unsigned char *p, int n) {`,
      `  u64 acc = fold${f}(p, n, x + ${i}u);`,
      `  switch ((int)(x % ${3 + (i % 5)})) {`,
      `    case 0: acc = pick${f}(acc, x * ${i + 7}u); break;`,
      `    case 1: acc ^= step${f}(acc, ${i % 9}); break;`,
      `    default: acc += mix${f}(acc + ${i * 31}u);`,
      '  }',
      callee ? `  if ((acc & 15) == ${i % 16}) acc ^= ${callee}(acc, p, n / 2);` : '',
      '  return acc;',
      '}',
    );
  }
  lines.push(`u64 (*const table${f}[])(u64, const unsigned char *, int) = {`);
  for (let i = 0; i < count; i++) lines.push(`  f${f}_${i},`);
  lines.push('};', `const int table${f}_size = ${count};`);
  return lines.join('\n') + '\n';
}

function mainSource(files: number): string {
  const lines = ['#include <stdint.h>', '#include <stdio.h>', 'typedef uint64_t u64;'];
  for (let f = 0; f < files; f++) {
    lines.push(
      `extern u64 (*const table${f}[])(u64, const unsigned char *, int);`,
      `extern const int table${f}_size;`,
    );
  }
  lines.push(
    'int main(int argc, char **argv) {',
    '  u64 acc = (u64)argc;',
    '  const unsigned char *p = (const unsigned char *)argv[0];',
  );
  for (let f = 0; f < files; f++) {
    lines.push(`  for (int i = 0; i < table${f}_size; i++) acc ^= table${f}[i](acc, p, argc);`);
  }
  lines.push('  printf("%llu\\n", (unsigned long long)acc);', '  return 0;', '}');
  return lines.join('\n') + '\n';
}

function debugBytes(path: string): number {
  const binary = SymbolizedBinary.open(path);
  try {
    return statSync(binary.debugFile ?? path).size;
  } finally {
    binary.close();
  }
}

function main(): void {
  const targets: { label: string; path: string; reference?: string; referenceMs?: number }[] = [];
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  if (existsSync(libc))
    targets.push({
      label: 'glibc (libc6-dbg debug file)',
      path: libc,
      reference: `symblib: ${SYMBLIB_GLIBC_MS} ms, 18.6 MB peak RSS`,
      referenceMs: SYMBLIB_GLIBC_MS,
    });
  // About SQLite's number of ranges at -O3 (the reference's second file), then five times the debug info
  // (memory must not grow with it beyond the sections the engine holds).
  const medium = generatedProgram(18, 60);
  if (medium)
    targets.push({
      label: 'generated C, 18 units (gcc -O3 -g)',
      path: medium,
      reference: `symblib, SQLite gcc -O3 -g (36,451 ranges): ${SYMBLIB_SQLITE_MS} ms, 22 MB peak RSS`,
      referenceMs: SYMBLIB_SQLITE_MS,
    });
  const large = generatedProgram(90, 80);
  if (large) targets.push({ label: 'generated C, 90 units (gcc -O3 -g)', path: large });
  if (canBuild('cpp-large'))
    targets.push({ label: 'large C++ program (g++ -O2 -g)', path: buildProgram('cpp-large').binary });

  ensureCompiledEngine();
  console.log(engineBuild());
  // `npm run bench:symbolizer -- cold-start`: only the engine's cold start.
  if (process.argv[2] === 'cold-start') {
    coldStart([medium, large].filter((path): path is string => path !== undefined));
    return;
  }
  const baseline = extractionChild('');
  console.log(`symbol range extraction, best of ${RUNS} runs, each in a fresh process`);
  console.log(
    `Node baseline (modules loaded, nothing extracted): ${baseline.maxRssMb.toFixed(1)} MB peak RSS\n`,
  );
  for (const target of targets) {
    const runs = Array.from({ length: RUNS }, () => extractionChild(target.path));
    const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const bestCpu = Math.min(...runs.map((r) => r.cpuMs));
    const peak = Math.max(...runs.map((r) => r.maxRssMb));
    const size = debugBytes(target.path) / 2 ** 20;
    console.log(`${target.label}: ${target.path} (debug info file ${size.toFixed(1)} MB)`);
    console.log(
      `  uniprof   ${best.ms.toFixed(0)} ms (CPU ${bestCpu.toFixed(0)} ms), ${best.ranges.toLocaleString()} ranges, peak RSS ${peak.toFixed(1)} MB (${(peak - baseline.maxRssMb).toFixed(1)} MB above baseline)`,
    );
    const warm = runs.reduce((a, b) => (b.warmMs < a.warmMs ? b : a));
    const warmCpu = Math.min(...runs.map((r) => r.warmCpuMs));
    console.log(
      `  warm      ${warm.warmMs.toFixed(0)} ms (CPU ${warmCpu.toFixed(0)} ms): a second extraction in the same process`,
    );
    if (target.reference) console.log(`  reference ${target.reference}`);
    if (target.referenceMs) {
      const limit = target.referenceMs * TARGET_FACTOR;
      console.log(
        `  target    ≤ ${limit.toFixed(0)} ms (${TARGET_FACTOR}× symblib): cold ${(best.ms / target.referenceMs).toFixed(2)}×, ` +
          `warm ${(warm.warmMs / target.referenceMs).toFixed(2)}× symblib` +
          (best.ms <= limit ? ' (met)' : ` (missed by ${(best.ms - limit).toFixed(0)} ms)`),
      );
    }
  }
  coldStart([medium, large].filter((path): path is string => path !== undefined));
}

/**
 * llvm-symbolizer answering `addresses` of `path` (one process): wall ms, and CPU ms (user + system) read
 * from the waiting shell's children times in /proc (clock ticks, 10 ms steps): on a shared machine CPU
 * compares better than wall time.
 */
function llvmSymbolizer(path: string, addresses: number[]): { ms: number; cpuMs: number } {
  const input = addresses.map((a) => `0x${a.toString(16)}`).join('\n') + '\n';
  const started = performance.now();
  const result = spawnSync(
    'sh',
    ['-c', 'llvm-symbolizer --output-style=JSON "--obj=$1" > /dev/null && cat /proc/$$/stat', 'sh', path],
    { input, maxBuffer: 1 << 30 },
  );
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`llvm-symbolizer failed: ${result.stderr.toString()}`);
  // Fields after the command name: cutime and cstime are the 16th and 17th of the whole line.
  const stat = result.stdout.toString();
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]);
  return { ms, cpuMs: ticks * 10 };
}

function coldStart(paths: string[]): void {
  if (!haveTool('llvm-symbolizer', 'apt-get install llvm')) return;
  console.log(
    `\nengine cold start: open + answer ${COLD_START_ADDRESSES.toLocaleString()} addresses in a fresh process ` +
      `(JIT cold) against llvm-symbolizer on the same addresses in the same run; median of ${COLD_START_RUNS}, target ≤ 1.0×; ` +
      `load average ${loadavg()[0].toFixed(1)} (wall ratios drift with load, CPU ratios less)`,
  );
  for (const path of paths) {
    const addresses = testAddresses(path, COLD_START_ADDRESSES).slice(0, COLD_START_ADDRESSES);
    const file = join(tmpdir(), `uniprof-cold-start-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(addresses));
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const ours: number[] = [];
    const llvm: number[] = [];
    const oursCpu: number[] = [];
    const llvmCpu: number[] = [];
    try {
      for (let i = 0; i < COLD_START_RUNS; i++) {
        const run = engineChild<{ ms: number; cpuMs: number }>(['cold-start', path, file], 'cold start');
        const reference = llvmSymbolizer(path, addresses);
        ours.push(run.ms);
        llvm.push(reference.ms);
        oursCpu.push(run.cpuMs);
        llvmCpu.push(reference.cpuMs);
        ratios.push(run.ms / reference.ms);
        cpuRatios.push(run.cpuMs / reference.cpuMs);
      }
    } finally {
      rmSync(file, { force: true });
    }
    const ratio = median(ratios);
    console.log(
      `  ${path}: uniprof ${median(ours).toFixed(0)} ms (CPU ${median(oursCpu).toFixed(0)} ms), ` +
        `llvm-symbolizer ${median(llvm).toFixed(0)} ms (CPU ${median(llvmCpu).toFixed(0)} ms): ` +
        `${ratio.toFixed(2)}× wall, ${median(cpuRatios).toFixed(2)}× CPU (all threads; target ≤ 1.0×: ` +
        `${ratio <= 1 ? 'met' : 'missed'})`,
    );
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}
