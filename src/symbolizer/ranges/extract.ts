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
 * with. Go's `.gopclntab` is read when the file has no DWARF (`preferGoTable` is not followed: with
 * DWARF present the ranges are DWARF's).
 */
export function* extractRangesFrom(
  binary: SymbolizedBinary,
  options: { chunkSize?: number } = {},
): Generator<SymbolRange[]> {
  const wanted = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const chunkSize = Number.isFinite(wanted) ? Math.max(1, Math.floor(wanted)) : DEFAULT_CHUNK_SIZE;
  const source = binary.rangeSource();
  const assembler = new RangeAssembler();
  let pending: SymbolRange[] = [];
  const drain = function* (final: boolean): Generator<SymbolRange[]> {
    for (const range of assembler.take()) {
      pending.push(range);
      if (pending.length === chunkSize) {
        yield pending;
        pending = [];
      }
    }
    if (final && pending.length > 0) yield pending;
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
  let covered: { low: number; high: number }[] = partition;
  if (source.goTable) {
    const functions = source.goTable.functions();
    if (functions.length > 0) {
      const low = functions[0].entry;
      const high = functions[functions.length - 1].end;
      covered = [{ low, high }];
      const boundaries = source.goTable.changePoints();
      boundaries.push(high);
      source.symbols.boundariesIn(low, high, boundaries);
      const points = sortedPoints(boundaries);
      for (let i = 0; i + 1 < points.length; i++) {
        stepFrames(source, points[i], assembler);
        if (i % 4096 === 4095) yield* drain(false);
      }
      assembler.closeAll(high);
    }
  }
  for (const gap of uncovered(source.codeSections, covered)) {
    sweepSymbols(source, gap, assembler);
    yield* drain(false);
  }
  yield* drain(true);
}

/**
 * One interval of a sweep that asks the engine itself (Go's table: few change points per function): its
 * frames, innermost first, become levels outermost first, each outer frame's position the call site of
 * the level below it.
 */
function stepFrames(source: RangeSource, address: number, assembler: RangeAssembler): void {
  const frames = source.symbolize(address);
  if (frames.length === 0) {
    assembler.closeAll(address);
    return;
  }
  const deepest = frames.length - 1;
  const levels: Level[] = [];
  for (let depth = 0; depth <= deepest; depth++) {
    const frame = frames[deepest - depth];
    const caller = depth > 0 ? frames[deepest - depth + 1] : undefined;
    levels.push({
      key: -1,
      functionName: frame.functionName,
      functionLine: frame.startLine,
      callFileName: caller ? caller.fileName : '',
      callLine: caller ? caller.line : 0,
    });
  }
  assembler.step(address, levels, frames.length, frames[0].fileName, frames[0].line);
}

/** Sorted distinct values. */
function sortedPoints(points: number[]): Float64Array {
  const sorted = Float64Array.from(points).sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (n === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i];
  return sorted.subarray(0, n);
}

/**
 * Per-node levels of one unit, built once: most intervals reuse them unchanged. Nodes are dense indexes,
 * so arrays hold them (a Map lookup per depth per interval showed in profiles).
 */
class UnitLevels {
  private readonly levels: (Level | undefined)[] = [];
  private readonly rawNames: (string | undefined)[] = [];
  constructor(
    private readonly source: RangeSource,
    private readonly names: DwarfContext,
    private readonly functions: FunctionIndex,
    private readonly lines: LineTable | undefined,
  ) {}

  /** DWARF's raw name of a node ('' when it has none), before the symbol table may stand in. */
  rawName(node: number): string {
    let name = this.rawNames[node];
    if (name === undefined) {
      name = this.names.functionName(this.functions.dieOffsets[node]).name;
      this.rawNames[node] = name;
    }
    return name;
  }

  /** A node's level; `depth` is the node's own (fixed by the tree), so one level per node suffices. */
  level(node: number, depth: number): Level {
    let level = this.levels[node];
    if (!level) {
      const { name, declLine } = this.names.functionName(this.functions.dieOffsets[node]);
      level = {
        key: node,
        functionName: this.source.displayName(name),
        functionLine: declLine,
        callFileName: depth > 0 && this.lines ? this.lines.fileName(this.functions.callFiles[node]) : '',
        callLine: depth > 0 ? this.functions.callLines[node] : 0,
      };
      this.levels[node] = level;
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
  // Where the chain or the symbol may change; between these only the line row does.
  const structural: number[] = [];
  for (const [low, high] of intervals) {
    structural.push(low, high);
    source.symbols.boundariesIn(low, high, structural);
  }
  if (functions) {
    for (const index of [functions.subprograms, ...functions.inlines]) {
      for (let i = 0; i < index.size; i++) structural.push(index.lows[i], index.highs[i]);
    }
  }
  const changes = sortedPoints(structural);
  const sweep = new UnitSweep(source, lines, functions, names, intervals, changes, assembler);
  const sequences = lines?.orderedSequences();
  if (lines && sequences) sweep.walkRows(lines, sequences);
  else {
    const rowPoints: number[] = [];
    lines?.boundaries(rowPoints);
    const points = sortedPoints(rowPoints.concat(Array.from(changes)));
    for (let i = 0; i + 1 < points.length; i++) {
      sweep.visit(points[i], points[i + 1], lines ? lines.rowAt(points[i]) : -1);
    }
  }
  assembler.closeAll(changes.length > 0 ? changes[changes.length - 1] : 0);
}

/**
 * One unit's sweep state. A class rather than closures: its methods run once per row of the whole file,
 * mostly before the JIT has optimized them, and closures are rebuilt (and renamed by the loader) per unit.
 */
class UnitSweep {
  private readonly symbols: RangeSource['symbols'];
  private readonly unitLevels: UnitLevels | undefined;
  private readonly levels: Level[] = [];
  private readonly chain: number[] = [];
  private depthCount = 0;
  private symbolFile: string | undefined;
  /** The interval (of `intervals`) and the structural change the sweep has reached. */
  private k = 0;
  private c = 0;
  // Rows mostly repeat the previous row's file: resolve the name only when the file index changes.
  private lastFileIndex = -1;
  private lastFile = '';

  constructor(
    private readonly source: RangeSource,
    private readonly lines: LineTable | undefined,
    private readonly functions: FunctionIndex | undefined,
    names: DwarfContext,
    private readonly intervals: [number, number][],
    private readonly changes: Float64Array,
    private readonly assembler: RangeAssembler,
  ) {
    this.symbols = source.symbols;
    this.unitLevels = functions ? new UnitLevels(source, names, functions, lines) : undefined;
  }

  /** The interval [address, next) with the row in effect there (-1 for none). */
  visit(address: number, next: number, row: number): void {
    const intervals = this.intervals;
    const changes = this.changes;
    let k = this.k;
    while (k < intervals.length && intervals[k][1] <= address) k++;
    this.k = k;
    if (k === intervals.length || address < intervals[k][0]) return;
    let c = this.c;
    while (c < changes.length && changes[c] < address) c++;
    this.c = c;
    // Interval starts are structural points too, so the chain is computed before its first use.
    if (c < changes.length && changes[c] === address) this.structuralChange(address);
    let fileName = '';
    let line = 0;
    const lines = this.lines;
    if (row >= 0 && lines) {
      line = lines.rowLine(row);
      const fileIndex = lines.rowFile(row);
      if (fileIndex !== this.lastFileIndex) {
        this.lastFile = lines.fileName(fileIndex);
        this.lastFileIndex = fileIndex;
      }
      fileName = this.lastFile;
    }
    if (this.symbolFile && this.depthCount === 1 && fileName === '') fileName = this.symbolFile;
    this.assembler.step(address, this.levels, this.depthCount, fileName, line);
    if (next === intervals[k][1]) this.assembler.closeAll(next);
  }

  /** The chain and symbol from a structural point on. */
  private structuralChange(address: number): void {
    const { source, symbols, functions, unitLevels, levels, chain } = this;
    const symbol = symbols.indexAt(address);
    let depthCount = functions ? functions.chainInto(address, chain) : 0;
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
    if (symbolFile && depthCount > 1 && levels[1].callFileName === '')
      levels[1] = { ...levels[1], callFileName: symbolFile };
    this.depthCount = depthCount;
    this.symbolFile = symbolFile;
  }

  /**
   * Visits, in ascending order, every row address, sequence end and structural change (but the last
   * point), with the next point and the row in effect, walking the rows of disjoint ascending sequences
   * instead of sorting them.
   */
  walkRows(lines: LineTable, sequences: Float64Array): void {
    const changes = this.changes;
    const sequenceCount = sequences.length / 4;
    let s = 0;
    let row = sequenceCount > 0 ? sequences[2] : 0;
    let current = -1;
    let visited = -1;
    let c = 0;
    // The next row event: the next row's address, or the current sequence's end.
    let event = sequenceCount === 0 ? Infinity : row < sequences[3] ? lines.rowAddress(row) : sequences[1];
    let address = Math.min(event, changes.length > 0 ? changes[0] : Infinity);
    while (address !== Infinity) {
      // Apply every row event up to the address: for equal addresses the last row wins; a sequence's end
      // leaves no row until the next one starts.
      while (event <= address) {
        if (row < sequences[s * 4 + 3]) current = row++;
        else {
          current = -1;
          s++;
          if (s < sequenceCount) row = sequences[s * 4 + 2];
        }
        event =
          s >= sequenceCount
            ? Infinity
            : row < sequences[s * 4 + 3]
              ? lines.rowAddress(row)
              : sequences[s * 4 + 1];
      }
      while (c < changes.length && changes[c] <= address) c++;
      const nextChange = c < changes.length ? changes[c] : Infinity;
      const next = Math.min(event, nextChange);
      if (next === Infinity) break;
      // A row that repeats the last visited row's file and line, strictly between structural points,
      // changes nothing (the assembler would see the same step again): most rows of optimized code.
      const repeat =
        current >= 0 &&
        visited >= 0 &&
        next !== nextChange &&
        (c === 0 || changes[c - 1] !== address) &&
        lines.rowLine(current) === lines.rowLine(visited) &&
        lines.rowFile(current) === lines.rowFile(visited);
      if (!repeat) {
        this.visit(address, next, current);
        visited = current;
      }
      address = next;
    }
  }
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
