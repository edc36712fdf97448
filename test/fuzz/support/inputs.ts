/** Saved inputs: failure files and the regression corpus (test/fuzz/regressions/<target>/, gzip allowed). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const REGRESSIONS_DIR = new URL('../regressions/', import.meta.url).pathname;

export function readInput(file: string): Uint8Array {
  const bytes = readFileSync(file);
  return new Uint8Array(file.endsWith('.gz') ? gunzipSync(bytes) : bytes);
}

/** The regression inputs kept for a target, by file name. */
export function regressionFiles(target: string): string[] {
  const dir = join(REGRESSIONS_DIR, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.bin') || name.endsWith('.bin.gz'))
    .sort()
    .map((name) => join(dir, name));
}
