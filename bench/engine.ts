/**
 * Which build of the symbolizer engine `bench:symbolizer` and `bench:returnpads` measure, and starting
 * their fresh measuring processes (bench/engine-child.ts).
 *
 * By default the compiled engine in dist/ on plain Node: what an installed Uniprof runs. dist/ is rebuilt
 * (`npm run build:js`) when a source under src/ is newer. UNIPROF_BENCH_ENGINE=src measures the TypeScript
 * sources under tsx instead, as a source checkout's tests run them: tsx's hooks then also see every module
 * loaded, CommonJS ones included (iced-x86's 0.9 MB of JavaScript took ~115 ms more to load there).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fromSources = process.env.UNIPROF_BENCH_ENGINE === 'src';
const childScript = join(root, 'bench', 'engine-child.ts');
/** A compiled module whose age stands for dist/'s. */
const compiledMarker = join(root, 'dist', 'symbolizer', 'symbolizer.js');

/** One line for the benches' headers. */
export function engineBuild(): string {
  return fromSources
    ? 'engine measured: TypeScript sources under tsx (UNIPROF_BENCH_ENGINE=src)'
    : 'engine measured: compiled build in dist/ on plain Node, as an installed Uniprof runs it (UNIPROF_BENCH_ENGINE=src for the sources)';
}

/** Makes sure dist/ holds the current sources' engine (the default). */
export function ensureCompiledEngine(): void {
  if (fromSources) return;
  const built = existsSync(compiledMarker) ? statSync(compiledMarker).mtimeMs : 0;
  if (built >= newestSource(join(root, 'src'))) return;
  console.log('dist/ is older than src/: npm run build:js');
  execFileSync('npm', ['run', 'build:js'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true, encoding: 'utf8' })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    if (path.includes('/src/ui/')) continue;
    newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs bench/engine-child.ts with `args` in a fresh process and parses its last output line. */
export function engineChild<T>(args: string[], what: string): T {
  const flags = fromSources ? ['--import', 'tsx'] : [];
  const out = spawnSync(process.execPath, [...flags, childScript, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    env: { ...process.env, UNIPROF_BENCH_ENGINE: fromSources ? 'src' : 'dist' },
  });
  if (out.status !== 0) throw new Error(`${what} failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop() as string) as T;
}
