/**
 * `npm run build:js`: compiles src/ (but the browser UI, which Vite bundles) to plain JavaScript in dist/, and
 * copies next to it the files the program reads at run time beside its modules (.proto definitions, the
 * OpenAPI document). Every module finds them through `import.meta.url`, so dist/ mirrors src/ one level under
 * the package root: the same relative paths work from either, and dist/ui (the UI bundle) is where
 * src/api/ui.ts looks in both.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
/** Bundled by Vite into dist/ui (npm run build:ui), never compiled by tsc. */
const UI = join(src, 'ui');

// Only what an earlier build:js wrote goes: the UI bundle in dist/ui is build:ui's.
const earlier = existsSync(dist) ? readdirSync(dist).filter((name) => name !== 'ui') : [];
for (const name of earlier) rmSync(join(dist, name), { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

let copied = 0;
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true, encoding: 'utf8' })) {
  const path = join(entry.parentPath, entry.name);
  if (!entry.isFile() || entry.name.endsWith('.ts') || path.startsWith(UI + '/')) continue;
  cpSync(path, join(dist, relative(src, path)));
  copied++;
}
console.log(`compiled src/ into dist/ and copied ${copied} run-time asset files`);
