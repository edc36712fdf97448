#!/usr/bin/env node
// An installed Uniprof (npm package, release archive) runs the JavaScript that `npm run build` compiled into
// dist/: no TypeScript compiler at run time. A source checkout (src/ beside bin/) runs the TypeScript sources
// through tsx even when dist/ was built, so a stale build never hides an edit (tests start this file).
import { existsSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { URL } from 'node:url';

// V8's code cache on disk (the OS temp directory): every run after the first skips parsing and compiling the
// modules it loads, about a quarter of the CPU time of a short command such as `symbtool push-symbols`'
// start. Nothing changes if the directory cannot be written.
enableCompileCache();

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
