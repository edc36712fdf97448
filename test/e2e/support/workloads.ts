/**
 * The programs the agent profiles in the end-to-end test, and what the test expects to find for them,
 * computed here from the files themselves (not from anything the agent or the collector said).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeRuntime, type Arch } from '../../../scripts/package/node-runtime.ts';

const run = promisify(execFile);
export const WORKLOAD_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workloads');

export interface NativeWorkload {
  /** The program with symbols (`-g -O2`). */
  withSymbols: string;
  /** A stripped copy: same code and GNU build ID, different file content and so a different file ID. */
  stripped: string;
  gnuBuildId: string;
  /** File IDs as 32 hex digits, in the agent's recipe (docs/agent-protocol.md). */
  fileIdWithSymbols: string;
  fileIdStripped: string;
  /** [start, end) of uniprof_hot_loop in the ELF's virtual addresses, from the symbol table. */
  hotLoop: { start: bigint; end: bigint };
}

/** First 16 bytes of SHA-256 over the first 4 KiB, the last 4 KiB and the length (8 bytes, big-endian). */
export async function executableFileId(file: string): Promise<string> {
  const content = await readFile(file);
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(content.length));
  return createHash('sha256')
    .update(content.subarray(0, 4096))
    .update(content.subarray(Math.max(0, content.length - 4096)))
    .update(length)
    .digest()
    .subarray(0, 16)
    .toString('hex');
}

export async function gnuBuildIdOf(file: string): Promise<string> {
  const { stdout } = await run('readelf', ['-n', file]);
  const match = /Build ID:\s*([0-9a-f]+)/.exec(stdout);
  if (!match) throw new Error(`readelf -n ${file} shows no GNU build ID`);
  return match[1];
}

async function symbolRange(file: string, symbol: string): Promise<{ start: bigint; end: bigint }> {
  const { stdout } = await run('nm', ['-S', '--defined-only', file]);
  const line = stdout.split('\n').find((l) => l.trim().endsWith(` ${symbol}`));
  const parts = line?.trim().split(/\s+/);
  if (!parts || parts.length < 4) throw new Error(`nm -S ${file} has no sized symbol ${symbol}`);
  const start = BigInt(`0x${parts[0]}`);
  return { start, end: start + BigInt(`0x${parts[1]}`) };
}

export async function buildNativeWorkload(outDir: string): Promise<NativeWorkload> {
  const withSymbols = path.join(outDir, 'uniprof-cburn');
  const stripped = path.join(outDir, 'uniprof-cburn-s');
  await run('gcc', ['-g', '-O2', '-pthread', '-o', withSymbols, path.join(WORKLOAD_DIR, 'burn.c')]);
  await copyFile(withSymbols, stripped);
  await run('strip', ['--strip-all', stripped]);
  return {
    withSymbols,
    stripped,
    gnuBuildId: await gnuBuildIdOf(withSymbols),
    fileIdWithSymbols: await executableFileId(withSymbols),
    fileIdStripped: await executableFileId(stripped),
    hotLoop: await symbolRange(withSymbols, 'uniprof_hot_loop'),
  };
}

/** FNV-1a, 128 bits, on BigInt: slow but obviously right, and independent of src/model's version. */
function fnv1a128(bytes: Uint8Array): bigint {
  const prime = (1n << 88n) + 0x13bn;
  const mask = (1n << 128n) - 1n;
  let hash = 0x6c62272e07bb014262b821756295c58dn;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * prime) & mask;
  return hash;
}

export interface KernelIdentity {
  gnuBuildId: string;
  /** 32 hex digits: FNV-1a-128 of the build ID's hex text (docs/agent-protocol.md). */
  fileId: string;
}

/** The running kernel's GNU build ID from /sys/kernel/notes (a sequence of ELF notes). */
export async function runningKernel(): Promise<KernelIdentity> {
  const notes = await readFile('/sys/kernel/notes');
  const align = (n: number) => (n + 3) & ~3;
  for (let offset = 0; offset + 12 <= notes.length;) {
    const nameSize = notes.readUInt32LE(offset);
    const descSize = notes.readUInt32LE(offset + 4);
    const type = notes.readUInt32LE(offset + 8);
    const name = notes.subarray(offset + 12, offset + 12 + nameSize).toString('latin1');
    const desc = offset + 12 + align(nameSize);
    if (type === 3 && name.startsWith('GNU')) {
      const gnuBuildId = notes.subarray(desc, desc + descSize).toString('hex');
      const fileId = fnv1a128(Buffer.from(gnuBuildId)).toString(16).padStart(32, '0');
      return { gnuBuildId, fileId };
    }
    offset = desc + align(descSize);
  }
  throw new Error('/sys/kernel/notes holds no GNU build ID note');
}

/**
 * The distribution's Python (the CI machine installs it), resolved to the real file: the agent names the
 * process after it (e.g. python3.11). Wrappers such as pyenv shims would hide the interpreter.
 */
export function pythonInterpreter(): string {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) throw new Error(`${python} is missing: install the Debian package python3`);
  return realpathSync(python);
}

/**
 * Node.js 22.21.1 (the official binary, fetched from the npm registry into the test cache) for the Node.js
 * workload, rather than the Node.js 24 that runs the tests and Uniprof: the agent cannot unwind V8 frames of
 * Node.js from 24.11.1 on, whose V8 is built with hidden symbol visibility (open-telemetry/opentelemetry-ebpf-
 * profiler issue 981); 22.21.1 is a version that issue reports working.
 */
export function nodeForWorkload(): string {
  const arch: Arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  return path.join(nodeRuntime(arch, '22.21.1'), 'bin', 'node');
}
