/**
 * A hash of everything the release artifacts are made from, written beside them by `npm run package`, so a
 * test can reuse artifacts built from the same tree instead of packaging again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INPUTS = [
  '.node-version',
  'README.md',
  'bin',
  'docs',
  'package-lock.json',
  'package.json',
  'scripts',
  'src',
  'tsconfig.build.json',
  'tsconfig.json',
];

function files(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .map((name) => join(path, name))
    .filter((file) => statSync(file).isFile());
}

export function inputsHash(): string {
  const hash = createHash('sha256');
  const all = INPUTS.flatMap((input) => files(join(ROOT, input))).sort();
  for (const file of all)
    hash
      .update(`${relative(ROOT, file)}\0`)
      .update(readFileSync(file))
      .update('\0');
  return hash.digest('hex');
}
