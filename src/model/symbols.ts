/**
 * Symbols of native code as the symbolizer stores them: address ranges of functions and of inlined calls,
 * each with its depth in the inline tree, in the shape of the Universal Profiling symbol records
 * (`profiling-symbols-*`: `Symbol.exec.pcrange`, `Symbol.depth`, `Symbol.call.*`, `Symbol.linetable.*`).
 * A file's symbols are a set of these ranges; an address is symbolized from the ranges that contain it,
 * one per depth (see `framesAt`), without the debug file.
 */

import type { StackFrameSymbols } from './types.ts';

/** One frame of a symbolized address. Chains of these are innermost (the code actually running) first. */
export interface SymbolizedFrame {
  functionName: string;
  /** Source path as recorded by the compiler; '' when unknown. */
  fileName: string;
  /** 0 when unknown. */
  line: number;
  /** Line where the function is declared (DW_AT_decl_line, Go's start line); 0 when unknown. */
  startLine: number;
}

/**
 * One function (depth 0) or inlined call (depth ≥ 1) over the ELF virtual addresses [start, end).
 * At any address the ranges that contain it form a chain depth 0, 1, …, D with exactly one range per depth.
 */
export interface SymbolRange {
  start: number;
  end: number;
  depth: number;
  functionName: string;
  /** The function's declaration line; 0 when unknown. */
  functionLine: number;
  /** File of the lines in `lines` (the deepest range's code); '' when unknown. */
  fileName: string;
  /** For depth ≥ 1: where the caller (the range at depth − 1) calls this inlined function; '' / 0 else. */
  callFileName: string;
  callLine: number;
  /**
   * Line table for the addresses where this range is the deepest: `lineOffsets[i]` (ascending, relative to
   * `start`) starts a run of `lines[i]`. Empty when no line is known.
   */
  lineOffsets: number[];
  lines: number[];
}

/** The line a range's line table gives at `address`; 0 when it has none there. */
export function lineAt(range: SymbolRange, address: number): number {
  const offset = address - range.start;
  const offsets = range.lineOffsets;
  let low = 0;
  let high = offsets.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (offsets[mid] <= offset) low = mid + 1;
    else high = mid;
  }
  return low === 0 ? 0 : range.lines[low - 1];
}

/**
 * The inline chain at `address`, innermost first, from the ranges that contain it (any order, at most one
 * per depth). The innermost frame's line comes from the deepest range's line table; each outer frame's
 * file and line are the call site recorded on the range one level deeper. [] when no range contains it.
 */
export function framesAt(containing: readonly SymbolRange[], address: number): SymbolizedFrame[] {
  const byDepth: SymbolRange[] = [];
  for (const range of containing) {
    if (address >= range.start && address < range.end) byDepth[range.depth] = range;
  }
  const frames: SymbolizedFrame[] = [];
  // A gap in the chain (a depth with no range) cannot come from a consistent file: stop at the first one.
  let deepest = -1;
  while (byDepth[deepest + 1] !== undefined) deepest++;
  for (let depth = deepest; depth >= 0; depth--) {
    const range = byDepth[depth];
    const inner = depth === deepest ? undefined : byDepth[depth + 1];
    frames.push({
      functionName: range.functionName,
      fileName: inner ? inner.callFileName : range.fileName,
      line: inner ? inner.callLine : lineAt(range, address),
      startLine: range.functionLine,
    });
  }
  return frames;
}

/**
 * A return pad: the inline chain at a call instruction, precomputed so that a frame that returns there is
 * answered by a point lookup instead of a range search. `address` is the return address − 1, the address the
 * agent reports for every non-leaf native frame (it subtracts 1 so the address points into the call); the
 * chain is the one at the call instruction (every byte of one instruction has the same chain).
 */
export interface ReturnPad {
  address: number;
  /** Innermost first, as `framesAt` gives them. */
  frames: SymbolizedFrame[];
}

/** A pad's chain as stored (both stores): JSON of `[functionName, fileName, line, startLine]` per frame. */
export function encodePadFrames(frames: readonly SymbolizedFrame[]): string {
  return JSON.stringify(frames.map((f) => [f.functionName, f.fileName, f.line, f.startLine]));
}

/** The chain `encodePadFrames` stored; throws on anything else (a damaged or foreign document). */
export function decodePadFrames(text: string): SymbolizedFrame[] {
  return padFramesFrom(JSON.parse(text));
}

/** The chain `encodePadFrames` stored, already parsed from JSON; throws on anything else. */
export function padFramesFrom(parsed: unknown): SymbolizedFrame[] {
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error('a return pad holds no frames');
  return parsed.map((entry: unknown) => {
    if (
      !Array.isArray(entry) ||
      entry.length !== 4 ||
      typeof entry[0] !== 'string' ||
      typeof entry[1] !== 'string' ||
      !Number.isInteger(entry[2]) ||
      !Number.isInteger(entry[3])
    ) {
      throw new Error(`a return pad holds a malformed frame: ${JSON.stringify(entry)}`);
    }
    return {
      functionName: entry[0],
      fileName: entry[1],
      line: entry[2] as number,
      startLine: entry[3] as number,
    };
  });
}

/** A native frame waiting for symbols: its frame ID, the file it is in and the address within it. */
export interface PendingFrame {
  frameId: string;
  fileId: string;
  address: number;
  /**
   * The frame is the leaf of a stack trace it was queued for: the frames Elastic's own symbolizer looks at
   * (the Elasticsearch store queues those one document each, the rest in one document per file and batch).
   */
  leaf?: boolean;
}

/**
 * The model's per-frame arrays for a symbolized address (innermost function first). The function offset
 * is the line's distance from the line the function starts at (0 when either is unknown).
 */
export function toStackFrameSymbols(frameId: string, frames: readonly SymbolizedFrame[]): StackFrameSymbols {
  return {
    frameId,
    functionNames: frames.map((f) => f.functionName),
    fileNames: frames.map((f) => f.fileName),
    lineNumbers: frames.map((f) => f.line),
    functionOffsets: frames.map((f) => (f.startLine > 0 && f.line >= f.startLine ? f.line - f.startLine : 0)),
  };
}
