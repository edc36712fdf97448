/**
 * Range extraction: every SymbolRange of a file, so that `framesAt(ranges containing a, a)` answers any
 * address exactly as `SymbolizedBinary.symbolize(a)` does, without the debug file.
 *
 * It sweeps each compilation unit once over the addresses where anything the lookup reads can change
 * (function and inline range bounds, line rows, symbol bounds), asks the engine's own indexes what holds
 * over each interval between two such addresses, and merges equal neighbours into ranges. Each unit's
 * indexes are dropped after its sweep, so memory stays at what the engine needs for the file's sections.
 */
import type { SymbolRange } from '../../model/symbols.ts';
import type { LineTable } from '../dwarf/line.ts';
import type { FunctionIndex } from '../dwarf/functions.ts';
import type { DwarfContext } from '../dwarf/dwarf.ts';
import { SymbolizedBinary, type OpenOptions, type RangeSource } from '../symbolizer.ts';
import { RangeAssembler, type Level } from './assembler.ts';

export interface ExtractOptions {
  /** The separate debug file to read (else it is searched for as `SymbolizedBinary.open` does). */
  debugFile?: string;
  debugDirectories?: string[];
  /** Ranges per yielded chunk (default 4096); the last chunk may be smaller. */
  chunkSize?: number;
  /** Demangle C++ and Rust names (default true). */
  demangle?: boolean;
  /** Name policy (default `dwarf`: source-level names, see docs/symbolizer.md). */
  functionNames?: OpenOptions['functionNames'];
}

const DEFAULT_CHUNK_SIZE = 4096;
const NO_LEVEL: Level = { key: -1, functionName: '', functionLine: 0, callFileName: '', callLine: 0 };

/** All symbol ranges of an ELF file, in chunks. Opens the file (and its debug file) and closes it at the end. */
export function* extractRanges(path: string, options: ExtractOptions = {}): Generator<SymbolRange[]> {
  const binary = SymbolizedBinary.open(path, {
    debugFile: options.debugFile,
    debugDirectories: options.debugDirectories,
    demangle: options.demangle,
    functionNames: options.functionNames ?? 'dwarf',
  });
  try {
    yield* extractRangesFrom(binary, options);
  } finally {
    binary.close();
  }
}

/**
 * All symbol ranges of an opened file, in chunks, under the name policy and demangling it was opened
 * with. `.gopclntab` is not read: files that only have it yield ranges from their symbol table.
 */
export function* extractRangesFrom(
  binary: SymbolizedBinary,
  options: { chunkSize?: number } = {},
): Generator<SymbolRange[]> {
  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? DEFAULT_CHUNK_SIZE));
  const source = binary.rangeSource();
  const assembler = new RangeAssembler();
  let pending: SymbolRange[] = [];
  const drain = function* (final: boolean): Generator<SymbolRange[]> {
    const done = assembler.take();
    for (const range of done) pending.push(range);
    while (pending.length >= chunkSize || (final && pending.length > 0)) {
      yield pending.slice(0, chunkSize);
      pending = pending.slice(chunkSize);
    }
  };
  const partition = source.dwarf?.unitPartition() ?? [];
  if (source.dwarf) {
    const byUnit = new Map<number, [number, number][]>();
    for (const { low, high, unit } of partition) {
      let list = byUnit.get(unit);
      if (!list) byUnit.set(unit, (list = []));
      list.push([low, high]);
    }
    for (const [unit, intervals] of byUnit) {
      sweepUnit(source, source.dwarf, unit, intervals, assembler);
      source.dwarf.releaseUnit(unit);
      yield* drain(false);
    }
  }
  for (const gap of uncovered(source.codeSections, partition)) {
    sweepSymbols(source, gap, assembler);
    yield* drain(false);
  }
  yield* drain(true);
}

/** Sorted distinct values. */
function sortedPoints(points: number[]): Float64Array {
  const sorted = Float64Array.from(points).sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (n === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i];
  return sorted.subarray(0, n);
}

/** Per-node levels of one unit, built once: most intervals reuse them unchanged. */
class UnitLevels {
  private readonly levels = new Map<number, Level>();
  constructor(
    private readonly source: RangeSource,
    private readonly names: DwarfContext,
    private readonly functions: FunctionIndex,
    private readonly lines: LineTable | undefined,
  ) {}

  /** DWARF's raw name of a node ('' when it has none), before the symbol table may stand in. */
  rawName(node: number): string {
    return this.names.functionName(this.functions.dieOffsets[node]).name;
  }

  level(node: number, depth: number): Level {
    let level = this.levels.get(node);
    if (!level) {
      const { name, declLine } = this.names.functionName(this.functions.dieOffsets[node]);
      level = {
        key: node,
        functionName: this.source.displayName(name),
        functionLine: declLine,
        callFileName: depth > 0 && this.lines ? this.lines.fileName(this.functions.callFiles[node]) : '',
        callLine: depth > 0 ? this.functions.callLines[node] : 0,
      };
      this.levels.set(node, level);
    }
    return level;
  }
}

function sweepUnit(
  source: RangeSource,
  dwarf: DwarfContext,
  unit: number,
  intervals: [number, number][],
  assembler: RangeAssembler,
): void {
  const { lines, functions, names } = dwarf.unitParts(unit);
  const symbols = source.symbols;
  const boundaries: number[] = [];
  for (const [low, high] of intervals) {
    boundaries.push(low, high);
    symbols.boundariesIn(low, high, boundaries);
  }
  lines?.boundaries(boundaries);
  if (functions) {
    for (const index of [functions.subprograms, ...functions.inlines]) {
      for (let i = 0; i < index.size; i++) boundaries.push(index.lows[i], index.highs[i]);
    }
  }
  const points = sortedPoints(boundaries);
  const unitLevels = functions ? new UnitLevels(source, names, functions, lines) : undefined;
  const levels: Level[] = [];
  let k = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const address = points[i];
    while (k < intervals.length && intervals[k][1] <= address) k++;
    if (k === intervals.length) break;
    if (address < intervals[k][0]) continue;
    const row = lines?.lookup(address);
    let fileName = row?.file ?? '';
    const line = row?.line ?? 0;
    const chain = functions?.chain(address) ?? [];
    const symbol = symbols.indexAt(address);
    let depthCount = chain.length;
    if (depthCount === 0 || !unitLevels) {
      // A unit covers the address but no function does: the symbol table may name it.
      depthCount = 1;
      levels[0] = symbol >= 0 ? symbolLevel(source, symbol) : NO_LEVEL;
    } else {
      for (let d = 0; d < depthCount; d++) levels[d] = unitLevels.level(chain[d], d);
      if (symbol >= 0 && (source.functionNames === 'symtab' || unitLevels.rawName(chain[0]) === '')) {
        levels[0] = { ...levels[0], functionName: source.displayName(symbols.nameOf(symbol)) };
      }
    }
    // The outermost frame's file, when nothing else gives one, is the local symbol's STT_FILE.
    const symbolFile = symbol >= 0 ? symbols.fileOf(symbol) : undefined;
    if (symbolFile) {
      if (depthCount === 1 && fileName === '') fileName = symbolFile;
      else if (depthCount > 1 && levels[1].callFileName === '')
        levels[1] = { ...levels[1], callFileName: symbolFile };
    }
    assembler.step(address, levels, depthCount, fileName, line);
    const next = points[i + 1];
    if (next === intervals[k][1]) assembler.closeAll(next);
  }
  assembler.closeAll(points.length > 0 ? points[points.length - 1] : 0);
}

function symbolLevel(source: RangeSource, symbol: number): Level {
  return {
    key: -2 - symbol,
    functionName: source.displayName(source.symbols.nameOf(symbol)),
    functionLine: 0,
    callFileName: '',
    callLine: 0,
  };
}

/** Code outside every compilation unit: only the symbol table names it. */
function sweepSymbols(source: RangeSource, [low, high]: [number, number], assembler: RangeAssembler): void {
  const boundaries = [low, high];
  source.symbols.boundariesIn(low, high, boundaries);
  const points = sortedPoints(boundaries);
  const levels: Level[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const address = points[i];
    const symbol = source.symbols.indexAt(address);
    if (symbol < 0) {
      assembler.closeAll(address);
      continue;
    }
    levels[0] = symbolLevel(source, symbol);
    assembler.step(address, levels, 1, source.symbols.fileOf(symbol) ?? '', 0);
  }
  assembler.closeAll(high);
}

/** The parts of the code sections no unit answers for. */
function uncovered(
  sections: readonly [number, number][],
  partition: readonly { low: number; high: number }[],
): [number, number][] {
  const out: [number, number][] = [];
  for (const [sectionLow, sectionHigh] of sections) {
    let cursor = sectionLow;
    for (const { low, high } of partition) {
      if (high <= cursor) continue;
      if (low >= sectionHigh) break;
      if (low > cursor) out.push([cursor, low]);
      cursor = high;
    }
    if (cursor < sectionHigh) out.push([cursor, sectionHigh]);
  }
  return out;
}
