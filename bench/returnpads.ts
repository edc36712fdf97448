/**
 * `npm run bench:returnpads`: return-pad generation (src/symbolizer/returnpads) per file, next to the range
 * extraction it follows, against Elastic's symblib as reference (SQLite `gcc -O3 -g`, 36,451 ranges: 205 ms
 * for the ranges, 256 ms with its 12,432 return pads, so about 51 ms for the pads; not built here).
 *
 * Each file is measured in a fresh child process: extract the ranges (kept, as the symbolizer worker keeps
 * them for the pads), then generate the pads from the executable's code (counted, not kept) twice: cold
 * (the process's first, compiling iced-x86's WebAssembly) and warm (as every later file in a running
 * symbolizer). Best of 3 runs; peak RSS is the child's `maxRSS`, which includes the kept ranges. The
 * measuring processes run the compiled engine (dist/) on plain Node unless UNIPROF_BENCH_ENGINE=src
 * (bench/engine.ts).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram, cacheRoot, canBuild } from '../test/peers/toolchains.ts';
import { engineBuild, engineChild, ensureCompiledEngine } from './engine.ts';

interface ChildResult {
  rangesMs: number;
  /** The first generation in the process: includes compiling iced-x86's WebAssembly and JIT warm-up. */
  padsMs: number;
  padsCpuMs: number;
  /** The same again in the same process, as for every file after the first in a running symbolizer. */
  warmMs: number;
  warmCpuMs: number;
  ranges: number;
  pads: number;
  maxRssMb: number;
}

const RUNS = 3;

main();

function padsChild(path: string): ChildResult {
  return engineChild(['pads', path], `return pads of ${path}`);
}

/** The SQLite-sized generated program `npm run bench:symbolizer` builds into the cache, if it did. */
function generatedProgram(prefix: string): string | undefined {
  const dir = join(cacheRoot, 'bench-ranges');
  if (!existsSync(dir)) return undefined;
  const found = readdirSync(dir).find((name) => name.startsWith(prefix) && !name.includes('.tmp-'));
  return found && existsSync(join(dir, found, 'prog')) ? join(dir, found, 'prog') : undefined;
}

function main(): void {
  const targets: { label: string; path: string; reference?: string }[] = [];
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  if (existsSync(libc)) targets.push({ label: 'glibc (code: libc.so.6, ranges: libc6-dbg)', path: libc });
  const medium = generatedProgram('gen-18x60-');
  if (medium)
    targets.push({
      label: 'generated C, 18 units (gcc -O3 -g)',
      path: medium,
      reference: 'symblib, SQLite gcc -O3 -g (36,451 ranges, 12,432 pads): 256 − 205 = 51 ms for the pads',
    });
  else console.log('(run `npm run bench:symbolizer` once to build the SQLite-sized generated C program)');
  const large = generatedProgram('gen-90x80-');
  if (large) targets.push({ label: 'generated C, 90 units (gcc -O3 -g)', path: large });
  if (canBuild('cpp-large'))
    targets.push({ label: 'large C++ program (g++ -O2 -g)', path: buildProgram('cpp-large').binary });
  if (canBuild('go-dwarf')) targets.push({ label: 'Go test program', path: buildProgram('go-dwarf').binary });

  ensureCompiledEngine();
  console.log(engineBuild());
  const baseline = padsChild('');
  console.log(`return pad generation, best of ${RUNS} runs, each in a fresh process`);
  console.log(`Node baseline (modules loaded): ${baseline.maxRssMb.toFixed(1)} MB peak RSS\n`);
  for (const target of targets) {
    const runs = Array.from({ length: RUNS }, () => padsChild(target.path));
    const best = runs.reduce((a, b) => (b.padsMs < a.padsMs ? b : a));
    const bestCpu = Math.min(...runs.map((r) => r.padsCpuMs));
    const bestWarm = Math.min(...runs.map((r) => r.warmMs));
    const bestWarmCpu = Math.min(...runs.map((r) => r.warmCpuMs));
    const bestRanges = Math.min(...runs.map((r) => r.rangesMs));
    const peak = Math.max(...runs.map((r) => r.maxRssMb));
    console.log(`${target.label}: ${target.path}`);
    console.log(
      `  uniprof   pads ${best.padsMs.toFixed(0)} ms cold (CPU ${bestCpu.toFixed(0)} ms), ` +
        `${bestWarm.toFixed(0)} ms warm (CPU ${bestWarmCpu.toFixed(0)} ms), ${best.pads.toLocaleString()} pads; ` +
        `ranges ${bestRanges.toFixed(0)} ms, ${best.ranges.toLocaleString()} ranges; ` +
        `peak RSS ${peak.toFixed(1)} MB (${(peak - baseline.maxRssMb).toFixed(1)} MB above baseline)`,
    );
    if (target.reference) console.log(`  reference ${target.reference}`);
  }
}
