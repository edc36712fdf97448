/**
 * What the benchmarks that measure in a fresh child process share: timing a step (wall and CPU), the
 * process's peak RSS, and running this same script as a child that prints its figures as one JSON line.
 */
import { spawnSync } from 'node:child_process';

export interface Timed<T> {
  ms: number;
  /** CPU time (user + system) of the whole process: less disturbed than wall time on a shared machine. */
  cpuMs: number;
  value: T;
}

export function timed<T>(work: () => T): Timed<T> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const value = work();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, value };
}

/** This process's peak resident set so far, in MB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Runs `script` (a TypeScript file) with `args` in a fresh Node process (with `nodeFlags`) and parses its
 * last output line.
 */
export function runChild<T>(
  script: string,
  args: string[],
  what: string,
  nodeFlags: readonly string[] = [],
): T {
  const out = spawnSync(process.execPath, [...nodeFlags, '--import', 'tsx', script, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (out.status !== 0) throw new Error(`${what} failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop() as string) as T;
}
