/**
 * What the end-to-end test expects of the symbolizer, computed from the files and from llvm-symbolizer (never
 * from our own output), plus the small readers it needs around `uniprof serve`: the CLI as a child process,
 * the symbolizer worker's log lines, Prometheus text.
 */
import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { fileIdToHex } from '../../../src/model/index.ts';
import { llvmSymbolize, withoutSymbolTable, type OracleFrame } from '../../symbolizer/oracle.ts';
import { executableFileId, gnuBuildIdOf } from './workloads.ts';

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The C library every workload maps, identified from the file itself. */
export interface SystemLibc {
  /** The real file behind /lib/x86_64-linux-gnu/libc.so.6 (or the aarch64 one). */
  path: string;
  buildId: string;
  /** The agent's file ID for it (32 hex digits). */
  fileIdHex: string;
  /** libc6-dbg's copy of its debug file, by build ID: what the debuginfod peer serves for it. */
  debugFile: string;
}

export async function systemLibc(): Promise<SystemLibc> {
  const triplet = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const file = await realpath(`/lib/${triplet}/libc.so.6`);
  const buildId = await gnuBuildIdOf(file);
  return {
    path: file,
    buildId,
    fileIdHex: await executableFileId(file),
    debugFile: `/usr/lib/debug/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`,
  };
}

/**
 * llvm-symbolizer's inline chain (innermost first) for each address, under the symbolizer's `dwarf` name
 * policy (docs/symbolizer.md): names come from DWARF, so llvm-symbolizer reads a copy without symbol table;
 * only where DWARF names no function (assembly such as clone3) does the policy fall back to the symbol table,
 * and there the oracle is llvm-symbolizer on the file with its symbol table.
 */
export function expectedInlineChains(
  debugFile: string,
  addresses: readonly number[],
  workDir: string,
): OracleFrame[][] {
  const copy = withoutSymbolTable(debugFile, workDir, `${path.basename(debugFile)}.nosymtab`);
  const fromDwarf = llvmSymbolize(copy, [...addresses]);
  const withSymtab = llvmSymbolize(debugFile, [...addresses]);
  return fromDwarf.map((chain, i) => {
    const expected =
      chain.length > 0 && chain.every((frame) => frame.functionName !== '') ? chain : withSymtab[i];
    return namesNothing(expected) ? [] : expected;
  });
}

/**
 * llvm-symbolizer knows nothing of the address ("??" at "??:0"), as for a PLT stub, which neither DWARF nor
 * the symbol table covers: no name is to be expected there.
 */
function namesNothing(chain: readonly OracleFrame[]): boolean {
  return chain.every((frame) => frame.functionName === '' && frame.fileName === '' && frame.line === 0);
}

/**
 * Whether llvm-symbolizer names an address of a file (its debug file given, symbol table included), asked
 * once per address: a frame it cannot name either is not waited for.
 */
export function nameableAddresses(debugFile: string): (address: number) => boolean {
  const known = new Map<number, boolean>();
  return (address) => {
    let nameable = known.get(address);
    if (nameable === undefined) {
      nameable = !namesNothing(llvmSymbolize(debugFile, [address])[0]);
      known.set(address, nameable);
    }
    return nameable;
  };
}

/** A stored frame's symbols as a chain comparable with llvm-symbolizer's (innermost first). */
export function storedChain(symbols: {
  functionNames: string[];
  fileNames: string[];
  lineNumbers: number[];
}): OracleFrame[] {
  return symbols.functionNames.map((functionName, i) => ({
    functionName,
    fileName: symbols.fileNames[i] ?? '',
    line: symbols.lineNumbers[i] ?? 0,
  }));
}

export const chainText = (chain: readonly OracleFrame[]): string =>
  chain.map((f) => `${f.functionName} ${f.fileName}:${f.line}`).join(' <- ') || '(nothing)';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `uniprof …` (bin/uniprof.mjs) as a child process; never throws for a non-zero exit. */
export async function runUniprof(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/uniprof.mjs', ...args], {
      cwd: REPO,
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as Error & { code?: number | string; stdout?: string; stderr?: string };
    return {
      code: typeof failure.code === 'number' ? failure.code : null,
      stdout: failure.stdout ?? '',
      stderr: failure.stderr ?? failure.message,
    };
  }
}

/** Sum of a Prometheus metric's samples whose labels contain `labels` (all samples when omitted). */
export function metricValue(metrics: string, name: string, labels = ''): number {
  return metrics
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .filter((line) => labels === '' || line.slice(0, line.lastIndexOf(' ')).includes(labels))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** One pass of the symbolizer worker over an executable's queued frames, from its debug log line. */
export interface WorkerPass {
  timeMs: number;
  /** Frames the pass took off the queue (with symbols and without). */
  answered: number;
}

/** A line of the serve process's JSON log, as far as these helpers read it. */
interface LogEntry {
  msg?: unknown;
  fileId?: unknown;
  time?: unknown;
  symbolized?: unknown;
  withoutSymbols?: unknown;
}

/** The log's JSON lines about one file ID (the worker logs file IDs in base64url), with their text. */
function fileLogEntries(log: string, fileIdHex: string): { entry: LogEntry; line: string }[] {
  const entries: { entry: LogEntry; line: string }[] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      continue;
    }
    if (typeof entry.fileId !== 'string') continue;
    const hex = /^[0-9a-f]{32}$/.test(entry.fileId) ? entry.fileId : fileIdToHex(entry.fileId);
    if (hex === fileIdHex) entries.push({ entry, line });
  }
  return entries;
}

/** The worker's "executable done" lines (log level debug) for one file ID, in time order. */
export function workerPasses(log: string, fileIdHex: string): WorkerPass[] {
  return fileLogEntries(log, fileIdHex)
    .filter(({ entry }) => entry.msg === 'executable done')
    .map(({ entry }) => ({
      timeMs: Number(entry.time),
      answered: Number(entry.symbolized ?? 0) + Number(entry.withoutSymbols ?? 0),
    }))
    .sort((a, b) => a.timeMs - b.timeMs);
}

/** The last `count` log lines about one file ID: what a failed check on its frames should show. */
export function fileLogTail(log: string, fileIdHex: string, count = 40): string {
  return fileLogEntries(log, fileIdHex)
    .slice(-count)
    .map(({ line }) => line)
    .join('\n');
}

/**
 * Milliseconds from each frame's arrival (when the collector acknowledged the first request carrying it,
 * which queued it) to the end of the worker pass that answered it. Frames are answered in passes that take
 * everything queued so far, so the k-th frame to arrive is answered by the first pass, not earlier than its
 * arrival, by which the passes together have answered at least k frames. NaN for a frame no pass answered.
 */
export function arrivalToNameMs(arrivalsMs: readonly number[], passes: readonly WorkerPass[]): number[] {
  const sorted = [...arrivalsMs].sort((a, b) => a - b);
  const latencies: number[] = [];
  let pass = -1;
  let answered = 0;
  sorted.forEach((arrival, k) => {
    const covers = () =>
      pass >= 0 && pass < passes.length && answered >= k + 1 && passes[pass].timeMs >= arrival;
    while (!covers() && pass < passes.length) {
      pass++;
      if (pass < passes.length) answered += passes[pass].answered;
    }
    latencies.push(pass < passes.length ? passes[pass].timeMs - arrival : NaN);
  });
  return latencies;
}
