/**
 * A separate debug file of ≥ 500 MB (DWARF only, as `objcopy --only-keep-debug` makes it) of a generated C
 * program, for the symbolizer's memory benchmark; built once into the cache (`$UNIPROF_CACHE/bench-large-debug/…`).
 *
 * Compiling 500 MB of DWARF from distinct sources takes far longer than 10 minutes on two cores, so a few
 * distinct compilation units (gcc -O2 -g: record types, inlined helpers, location lists, line tables) are
 * compiled once and the same object files are linked many times over. Every function in a unit has internal
 * linkage (the unit's entry is `static` and kept with `used`), so the copies do not clash: the result is one
 * large executable with thousands of compilation units at distinct addresses, each with its own
 * `.debug_info`, `.debug_line`, location and range lists, as a large real program has.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, haveTool } from '../test/peers/toolchains.ts';

/** Distinct units compiled; each is linked `copies` times. */
const DISTINCT_UNITS = 4;
const FUNCTIONS_PER_UNIT = 400;
const RECORD_TYPES = 40;
const FIELDS_PER_RECORD = 30;

export interface LargeDebugProgram {
  /** The debug file. */
  path: string;
  bytes: number;
  /** Seconds the build took (0 when it came from the cache). */
  buildSeconds: number;
}

/** The debug file of at least `minBytes`, built if not cached. */
export async function largeDebugProgram(minBytes: number): Promise<LargeDebugProgram | undefined> {
  if (!haveTool('gcc', 'apt-get install gcc') || !haveTool('objcopy', 'apt-get install binutils'))
    return undefined;
  const sources = new Map<string, string>();
  for (let u = 0; u < DISTINCT_UNITS; u++) sources.set(`unit${u}.c`, unitSource(u));
  sources.set('main.c', 'int main(void) { return 0; }\n');
  const hash = createHash('sha256');
  for (const [name, text] of sources) hash.update(name).update(text);
  hash.update(execFileSync('gcc', ['--version'], { encoding: 'utf8' })).update(String(minBytes));
  const dir = join(cacheRoot, 'bench-large-debug', `prog-${hash.digest('hex').slice(0, 12)}`);
  const debugFile = join(dir, 'prog.debug');
  if (existsSync(debugFile)) return { path: debugFile, bytes: statSync(debugFile).size, buildSeconds: 0 };

  const started = performance.now();
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const [name, text] of sources) writeFileSync(join(staging, name), text);
  console.log(
    `building a program with ≥ ${(minBytes / 2 ** 20).toFixed(0)} MiB of debug info into ${dir} (once)…`,
  );
  // Two compilers at a time: the machine's two cores.
  const objects = [...sources.keys()].map((name) => name.replace(/\.c$/, '.o'));
  const queue = [...sources.keys()];
  const compileNext = async (): Promise<void> => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      await run('gcc', ['-O2', '-g', '-c', name, '-o', name.replace(/\.c$/, '.o')], staging);
    }
  };
  await Promise.all([compileNext(), compileNext()]);
  const unitObjects = objects.filter((o) => o !== 'main.o');
  const unitBytes = unitObjects.reduce((sum, o) => sum + debugBytes(join(staging, o)), 0);
  const copies = Math.ceil((minBytes * 1.02) / unitBytes);
  const linked = ['main.o'];
  for (let c = 0; c < copies; c++) linked.push(...unitObjects);
  await run('gcc', ['-o', 'prog', ...linked], staging);
  await run('objcopy', ['--only-keep-debug', 'prog', 'prog.debug'], staging);
  const bytes = statSync(join(staging, 'prog.debug')).size;
  if (bytes < minBytes) throw new Error(`the generated debug file has ${bytes} bytes, less than ${minBytes}`);
  // Only the debug file is measured: the program itself (with as much code again) is not kept.
  for (const o of [...objects, 'prog']) rmSync(join(staging, o));
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  const buildSeconds = (performance.now() - started) / 1000;
  console.log(
    `  built in ${buildSeconds.toFixed(0)} s: ${DISTINCT_UNITS} units compiled, linked ${copies} times each`,
  );
  return { path: debugFile, bytes, buildSeconds };
}

/** What one copy of an object adds to the debug file: its DWARF sections. */
function debugBytes(object: string): number {
  const out = execFileSync('size', ['-A', object], { encoding: 'utf8' });
  let total = 0;
  for (const line of out.split('\n')) {
    const [name, size] = line.trim().split(/\s+/);
    if (!name?.startsWith('.debug_')) continue;
    total += Number(size) || 0;
  }
  return total;
}

function run(tool: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${tool} ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/**
 * One unit: record types with many members (what makes `.debug_info` large in real code), inlined helpers
 * (inline chains, location lists) and functions calling each other; all with internal linkage.
 */
function unitSource(unit: number): string {
  const lines = ['#include <stdint.h>', '#include <string.h>', 'typedef uint64_t u64;'];
  for (let s = 0; s < RECORD_TYPES; s++) {
    lines.push(`struct rec${unit}_${s} {`);
    for (let m = 0; m < FIELDS_PER_RECORD; m++)
      lines.push(`  ${m % 3 === 0 ? 'double' : 'u64'} field_${s}_${m};`);
    if (s > 0) lines.push(`  struct rec${unit}_${s - 1} *previous;`);
    lines.push('};');
  }
  lines.push(
    `static inline u64 mix(u64 x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL + ${unit}u; x ^= x >> 29; return x; }`,
    'static inline u64 step(u64 x, int k) { for (int j = 0; j < (k & 3); j++) x = mix(x + (u64)j); return x; }',
    'static inline u64 pick(u64 a, u64 b) { return a > b ? step(a, 3) : mix(b ^ a); }',
  );
  for (let i = 0; i < FUNCTIONS_PER_UNIT; i++) {
    const s = i % RECORD_TYPES;
    const type = `struct rec${unit}_${s}`;
    // A u64 member (fields 1, 2, 4, 5, …): the ones not multiples of 3.
    const field = `field_${s}_${1 + ((i * 3) % (FIELDS_PER_RECORD - 1)) - (((i * 3) % (FIELDS_PER_RECORD - 1)) % 3)}`;
    lines.push(
      `static __attribute__((noinline)) u64 fn${unit}_${i}(${type} *r, u64 x, int n) {`,
      `  u64 acc = x + ${i}u;`,
      `  for (int k = 0; k < n; k++) acc = pick(acc ^ r->${field}, step(acc, k));`,
      `  ${type} local;`,
      '  memcpy(&local, r, sizeof local);',
      `  local.${field} += acc;`,
      i > 0
        ? `  if ((acc & 15) == ${i % 16}) acc ^= fn${unit}_${i - 1}((struct rec${unit}_${(i - 1) % RECORD_TYPES} *)r, acc, n / 2);`
        : '',
      `  return acc + local.${field};`,
      '}',
    );
  }
  lines.push(`static __attribute__((used)) u64 entry${unit}(void *r, u64 x, int n) {`, '  u64 acc = x;');
  for (let i = 0; i < FUNCTIONS_PER_UNIT; i++)
    lines.push(`  acc ^= fn${unit}_${i}((struct rec${unit}_${i % RECORD_TYPES} *)r, acc, n);`);
  lines.push('  return acc;', '}');
  return lines.join('\n') + '\n';
}
