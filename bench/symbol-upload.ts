/**
 * `npm run bench:symbol-upload`: what `symbtool push-symbols` sends against the size of the debug info it
 * reads, for glibc (Debian's libc6-dbg, found by build ID, with its dwz supplementary file) and the test
 * programs, and how long extraction + encoding + gzip take; then the same uploads pushed to a real upload
 * server (fastify on loopback over an embedded store) for the end-to-end time.
 */
import { existsSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { ElfFile } from '../src/symbolizer/elf/elf.ts';
import { extractRanges } from '../src/symbolizer/ranges/extract.ts';
import { findDebugFile, DEFAULT_DEBUG_DIRECTORIES } from '../src/symbolizer/symbolizer.ts';
import { pushSymbols } from '../src/symbolizer/upload/client.ts';
import { fileIdOfExecutable } from '../src/symbolizer/upload/file-id.ts';
import { encodeSymbolUpload } from '../src/symbolizer/upload/format.ts';
import { buildProgram, canBuild } from '../test/peers/toolchains.ts';
import { startUploadServer } from '../test/symbolizer/upload-helpers.ts';

interface Input {
  label: string;
  executable: string;
  debugFile?: string;
}

const inputs: Input[] = [];
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
if (existsSync(LIBC)) inputs.push({ label: 'glibc (libc6-dbg)', executable: LIBC });
if (canBuild('c-dwarf5'))
  inputs.push({ label: 'test program prog.c (gcc -O2 -g)', executable: buildProgram('c-dwarf5').binary });
if (canBuild('cpp'))
  inputs.push({ label: 'test program prog.cpp (g++ -O2 -g)', executable: buildProgram('cpp').binary });

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** Bytes of a file's .debug_* sections once decompressed (Debian compresses them with zlib). */
function debugSectionBytes(path: string): number {
  const elf = ElfFile.open(path);
  try {
    let total = 0;
    for (const section of elf.sections) {
      if (section.name.startsWith('.debug_')) total += elf.section(section.name)?.length ?? 0;
    }
    return total;
  } finally {
    elf.close();
  }
}

/** The files the ranges come from: the debug file (or the executable) and a dwz supplementary file. */
function debugInfoFiles(executable: string): string[] {
  const elf = ElfFile.open(executable);
  try {
    const debug = elf.sectionHeader('.debug_info')
      ? undefined
      : findDebugFile(elf, elf.buildId(), DEFAULT_DEBUG_DIRECTORIES);
    const source = debug ?? elf;
    const files = [source.path];
    const alt = source.debugAltLink();
    if (alt) {
      const byId = `/usr/lib/debug/.build-id/${alt.buildId.slice(0, 2)}/${alt.buildId.slice(2)}.debug`;
      if (existsSync(byId)) files.push(byId);
    }
    debug?.close();
    return files;
  } finally {
    elf.close();
  }
}

const server = await startUploadServer();
try {
  for (const input of inputs) {
    const files = debugInfoFiles(input.executable);
    const debugBytes = files.reduce((sum, f) => sum + statSync(f).size, 0);
    const sectionBytes = files.reduce((sum, f) => sum + debugSectionBytes(f), 0);
    const { fileId } = fileIdOfExecutable(input.executable);
    let ranges = 0;
    let raw = 0;
    let gz = 0;
    const started = performance.now();
    const gzip = Readable.from(
      encodeSymbolUpload({ fileId }, extractRanges(input.executable), (p) => (ranges = p.ranges)),
    ).on('data', (c: Buffer) => (raw += c.length));
    for await (const chunk of gzip.pipe(createGzip())) gz += (chunk as Buffer).length;
    const encodeMs = performance.now() - started;
    const pushStarted = performance.now();
    const pushed = await pushSymbols({
      url: server.url,
      token: server.token,
      fileId,
      ranges: extractRanges(input.executable),
    });
    const pushMs = performance.now() - pushStarted;
    console.log(`${input.label}: ${input.executable}`);
    console.log(`  debug info read: ${files.map((f) => `${f} (${kib(statSync(f).size)})`).join(' + ')}`);
    console.log(
      `  ${ranges.toLocaleString('en-US')} ranges; upload ${kib(gz)} gzip (${kib(raw)} before gzip) = ` +
        `${((100 * gz) / debugBytes).toFixed(1)} % of ${kib(debugBytes)} of debug files, ` +
        `${((100 * gz) / sectionBytes).toFixed(1)} % of their ${kib(sectionBytes)} of decompressed DWARF`,
    );
    console.log(
      `  extract + encode + gzip ${encodeMs.toFixed(0)} ms; pushed to a real server (embedded store) in ${pushMs.toFixed(0)} ms, ` +
        `${pushed.ranges.toLocaleString('en-US')} ranges stored`,
    );
  }
} finally {
  await server.close();
}
