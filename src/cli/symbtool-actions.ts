/** What `uniprof symbtool` does (symbtool.ts declares the commands and loads this on use). */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import type { ReturnPad, SymbolRange } from '../model/symbols.ts';
import { ElfFile } from '../symbolizer/elf/elf.ts';
import { RangeIndex } from '../symbolizer/ranges/range-index.ts';
import { openExecutableCode, returnPadsFrom } from '../symbolizer/returnpads/generate.ts';
import { SymbolizerFormatError } from '../symbolizer/errors.ts';
import { DEFAULT_DEBUG_DIRECTORIES, findDebugFile } from '../symbolizer/symbolizer.ts';
import type { PushProgress } from '../symbolizer/upload/client.ts';
import { fileIdOfExecutable } from '../symbolizer/upload/file-id.ts';

import { SymbtoolError, UPLOAD_TOKEN_ENV } from './symbtool.ts';

const PF_X = 1;
const PT_LOAD = 1;

interface Executable {
  path: string;
  fileId: string;
  fileIdHex: string;
  buildId?: string;
  /** Bytes of executable segments: what depth-0 ranges can cover, for the progress bar. */
  codeBytes: number;
}

function openElf(path: string, role: string): ElfFile {
  try {
    return ElfFile.open(path);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (error instanceof SymbolizerFormatError) {
      throw new SymbtoolError(`${path} is not a usable ELF file: ${e.message.replace(`${path}: `, '')}`);
    }
    throw new SymbtoolError(`cannot read the ${role} ${path}: ${e.code ?? e.message}`);
  }
}

/** The executable as the agent sees it: its file ID, build ID, and how much code it has. */
function inspectExecutable(path: string): Executable {
  const elf = openElf(path, 'executable');
  try {
    const { fileId, hex } = fileIdOfExecutable(path);
    let codeBytes = 0;
    for (const p of elf.programHeaders) if (p.type === PT_LOAD && p.flags & PF_X) codeBytes += p.memsz;
    return { path, fileId, fileIdHex: hex, buildId: elf.buildId(), codeBytes };
  } finally {
    elf.close();
  }
}

/**
 * Which file's DWARF the ranges come from: the one given, else the executable itself, else its separate
 * debug file by build ID or .gnu_debuglink. Decided here (the extractor would find the same) so that "no
 * debug info" is said before anything is sent.
 */
function debugInfoSource(exe: Executable, debugFile: string | undefined, debugDirectories: string[]): string {
  if (debugFile) {
    const debug = openElf(debugFile, 'debug file');
    try {
      if (!debug.sectionHeader('.debug_info')) {
        throw new SymbtoolError(`${debugFile} has no DWARF debug info (no .debug_info section)`);
      }
      const id = debug.buildId();
      if (exe.buildId && id && id !== exe.buildId) {
        throw new SymbtoolError(
          `${debugFile} is not the debug file of ${exe.path}: build ID ${id}, the executable's is ${exe.buildId}`,
        );
      }
      return debugFile;
    } finally {
      debug.close();
    }
  }
  const elf = openElf(exe.path, 'executable');
  try {
    if (elf.sectionHeader('.debug_info')) return exe.path;
    const found = findDebugFile(elf, exe.buildId, debugDirectories);
    if (found) {
      const hasDwarf = found.sectionHeader('.debug_info') !== undefined;
      found.close();
      if (hasDwarf) return found.path;
    }
  } finally {
    elf.close();
  }
  throw new SymbtoolError(
    `no debug info for ${exe.path}: it has no DWARF (.debug_info) and no separate debug file was found ` +
      `${exe.buildId ? `by build ID ${exe.buildId} or ` : ''}by .gnu_debuglink under ${debugDirectories.join(', ')}; ` +
      'give one with -d/--debug-file',
  );
}

const number = (n: number) => n.toLocaleString('en-US');
function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A bar redrawn in place on a terminal; a line every few seconds otherwise (logs, CI). */
function progressReporter(codeBytes: number): {
  update(p: PushProgress): void;
  done(): void;
} {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let last = 0;
  let latest: PushProgress | undefined;
  const status = (p: PushProgress) =>
    `${number(p.ranges)} ranges extracted, ${p.pads > 0 ? `${number(p.pads)} return pads, ` : ''}${bytes(p.bytesSent)} sent, ${((Date.now() - started) / 1000).toFixed(0)} s`;
  return {
    update(p) {
      latest = p;
      const now = Date.now();
      if (now - last < (tty ? 100 : 2000)) return;
      last = now;
      if (tty) {
        // Code covered by functions so far, against the executable's code size: an estimate, never 100 %
        // before the end.
        const fraction = codeBytes > 0 ? Math.min(0.99, p.bytesCovered / codeBytes) : 0;
        const width = 30;
        const filled = Math.round(fraction * width);
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ≈${Math.round(fraction * 100)}% ${status(p)}\x1b[K`,
        );
      } else {
        process.stderr.write(`push-symbols: ${status(p)}\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[K');
      else if (latest) process.stderr.write(`push-symbols: ${status(latest)}\n`);
    },
  };
}

export interface PushCommandOptions {
  url: string;
  token?: string;
  executable: string;
  debugFile?: string;
  debugDir?: string[];
  force?: boolean;
  /** false with --no-return-pads. */
  returnPads?: boolean;
}

/** Pads per chunk handed to the encoder (it re-chunks them for the wire). */
const PAD_BATCH = 4096;

/**
 * Ranges as they are extracted, kept too: return pads are made from all of a file's ranges (a call's chain
 * needs every depth) once extraction is done. Memory: the ranges as objects, a few hundred bytes each
 * (docs/symbolizer.md has the figures); --no-return-pads keeps nothing.
 */
function* keeping(ranges: Iterable<SymbolRange[]>, kept: SymbolRange[]): Generator<SymbolRange[]> {
  for (const batch of ranges) {
    for (const range of batch) kept.push(range);
    yield batch;
  }
}

export async function runPushSymbols(options: PushCommandOptions): Promise<void> {
  const token = options.token ?? process.env[UPLOAD_TOKEN_ENV];
  if (!token) {
    throw new SymbtoolError(
      `no upload token: pass -t/--token or set ${UPLOAD_TOKEN_ENV} (the server's symbolizer.uploadToken)`,
      2,
    );
  }
  const { PushError, hasSymbols, pushSymbols } = await import('../symbolizer/upload/client.ts');
  const { extractRanges } = await import('../symbolizer/ranges/extract.ts');
  const debugDirectories = options.debugDir ?? DEFAULT_DEBUG_DIRECTORIES;
  const exe = inspectExecutable(options.executable);
  const source = debugInfoSource(exe, options.debugFile, debugDirectories);
  const describe = `${exe.path} (file ID ${exe.fileIdHex}${exe.buildId ? `, build ID ${exe.buildId}` : ''})`;
  try {
    if (!options.force && (await hasSymbols(options.url, token, exe.fileId))) {
      console.log(`symbols for ${describe} are already uploaded; --force uploads them again`);
      return;
    }
    process.stderr.write(`push-symbols: ${describe}: reading debug info from ${source}\n`);
    let ranges = extractRanges(exe.path, {
      debugFile: source === exe.path ? undefined : source,
      debugDirectories,
    });
    // Return pads from the executable's code, by the worker's generator: a file without code (a separate
    // debug file given as -e) or of a machine without a decoder gets ranges only.
    let pads: (() => Iterable<readonly ReturnPad[]>) | undefined;
    let padsNote: string | undefined;
    const opened = options.returnPads === false ? undefined : openExecutableCode(exe.path);
    if (opened === undefined) padsNote = 'no return pads (--no-return-pads)';
    else if ('notUsable' in opened) {
      padsNote = `no return pads: ${opened.notUsable.replace(`${exe.path}: `, '')} (give the executable as deployed with -e for pads)`;
    } else {
      const kept: SymbolRange[] = [];
      ranges = keeping(ranges, kept);
      pads = () => returnPadsFrom(opened.executable, RangeIndex.of(kept), { chunkSize: PAD_BATCH });
    }
    const progress = progressReporter(exe.codeBytes);
    const result = await pushSymbols({
      url: options.url,
      token,
      fileId: exe.fileId,
      buildId: exe.buildId,
      fileName: basename(exe.path),
      ranges,
      pads,
      onProgress: (p) => progress.update(p),
    }).finally(() => {
      progress.done();
      if (opened && 'executable' in opened) opened.executable.elf.close();
    });
    const debugSize = statSync(source).size;
    console.log(`uploaded symbols for ${describe}`);
    console.log(
      `  ${number(result.ranges)} ranges in ${number(result.chunks)} chunks; ${bytes(result.compressedBytes)} sent ` +
        `(${bytes(result.decompressedBytes)} uncompressed) for ${bytes(debugSize)} of debug file ${source} ` +
        `(${((100 * result.compressedBytes) / debugSize).toFixed(1)} %)`,
    );
    if (pads) {
      console.log(
        `  ${number(result.pads)} return pads from the code of ${exe.path}` +
          (result.padsSkipped > 0
            ? ` (${number(result.padsSkipped)} left out: calls in overlapping functions, answered from the ranges)`
            : ''),
      );
    } else console.log(`  ${padsNote}`);
  } catch (error) {
    if (error instanceof PushError) throw new SymbtoolError(error.message);
    if (error instanceof SymbolizerFormatError) {
      throw new SymbtoolError(`cannot read the debug info: ${error.message}`);
    }
    throw error;
  }
}

export function runFileId(path: string, options: { json?: boolean }): void {
  const exe = inspectExecutable(path);
  if (options.json) {
    console.log(
      JSON.stringify({ fileId: exe.fileIdHex, fileIdBase64Url: exe.fileId, buildId: exe.buildId ?? null }),
    );
    return;
  }
  console.log(`file ID   ${exe.fileIdHex}`);
  console.log(`          ${exe.fileId} (base64url, as stored)`);
  console.log(`build ID  ${exe.buildId ?? '(none)'}`);
}
