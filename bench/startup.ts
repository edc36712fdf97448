/**
 * `npm run bench:startup`: how long `uniprof --version` takes, and `uniprof serve` (embedded store, fresh data
 * directory) from spawn until `/ready` answers 200, for each way of running Uniprof:
 *
 *   - source: bin/uniprof.mjs in this checkout (TypeScript compiled on load by tsx);
 *   - compiled: dist/cli/main.js (`npm run build`), on the same node;
 *   - every command given as an argument, e.g. an installed `uniprof` or a release archive's `bin/uniprof`:
 *     `npm run bench:startup -- artifacts/uniprof-0.1.0-linux-x64/bin/uniprof`.
 *
 * Medians over UNIPROF_BENCH_STARTUP_RUNS runs (default 5) of each.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../test/support/serve.ts';

const RUNS = Number(process.env.UNIPROF_BENCH_STARTUP_RUNS ?? 5);
const root = fileURLToPath(new URL('..', import.meta.url));

interface Candidate {
  name: string;
  command: string[];
}

const candidates: Candidate[] = [
  { name: 'source (tsx)', command: [process.execPath, join(root, 'bin/uniprof.mjs')] },
];
const compiled = join(root, 'dist/cli/main.js');
if (existsSync(compiled)) candidates.push({ name: 'compiled', command: [process.execPath, compiled] });
else console.log('dist/cli/main.js is missing: `npm run build` first to measure the compiled program');
for (const path of process.argv.slice(2)) candidates.push({ name: path, command: [path] });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeVersion(command: string[]): number {
  const start = performance.now();
  const result = spawnSync(command[0]!, [...command.slice(1), '--version'], { encoding: 'utf8' });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${command.join(' ')} --version failed: ${result.stderr}`);
  return elapsed;
}

/** Spawn → first 200 from /ready. The HTTP port is read from the banner (ports are chosen by the system). */
async function timeServeReady(command: string[]): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-bench-startup-'));
  const start = performance.now();
  const child = spawn(command[0]!, [...command.slice(1), ...serveOnFreePorts(dataDir)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const output = new ProcessOutput(child);
    await output.until(SERVE_READY);
    const http = servedAddresses(output.stdout).api;
    for (;;) {
      const response = await fetch(`${http}/ready`).catch(() => undefined);
      if (response?.status === 200) return performance.now() - start;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(`start-up, median of ${RUNS} runs (node ${process.version} for source and compiled)`);
for (const candidate of candidates) {
  const version: number[] = [];
  const ready: number[] = [];
  for (let i = 0; i < RUNS; i++) version.push(timeVersion(candidate.command));
  for (let i = 0; i < RUNS; i++) ready.push(await timeServeReady(candidate.command));
  console.log(
    `${candidate.name.padEnd(16)} --version ${median(version).toFixed(0).padStart(5)} ms   ` +
      `serve → /ready ${median(ready).toFixed(0).padStart(5)} ms`,
  );
}
