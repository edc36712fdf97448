import type { SymbolRange } from '../../model/symbols.ts';

/** What one depth of an inline chain contributes to its range; equal levels continue the same range. */
export interface Level {
  /** Identity of the function or inlined call within what is being swept (e.g. a DIE's node); -1 if none. */
  key: number;
  functionName: string;
  functionLine: number;
  callFileName: string;
  callLine: number;
}

interface OpenRange {
  level: Level;
  range: SymbolRange;
  /** Whether the range has been the deepest anywhere yet, which fixes its file name. */
  hasFile: boolean;
}

function sameLevel(a: Level, b: Level): boolean {
  return (
    a === b ||
    (a.key === b.key &&
      a.functionName === b.functionName &&
      a.functionLine === b.functionLine &&
      a.callFileName === b.callFileName &&
      a.callLine === b.callLine)
  );
}

/**
 * Turns a sweep over ascending, contiguous address intervals — each with its inline chain and the
 * innermost code's file:line — into SymbolRanges: one range per depth per run of equal levels, split
 * where the deepest range's file changes (a range has one file name). Finished ranges collect in `done`.
 */
export class RangeAssembler {
  private readonly open: OpenRange[] = [];
  done: SymbolRange[] = [];

  /**
   * The chain from `address` up to the next call's address: `levels[0..depthCount)`, outermost first,
   * the deepest one's code at fileName:line.
   */
  step(address: number, levels: readonly Level[], depthCount: number, fileName: string, line: number): void {
    const open = this.open;
    let depth = 0;
    while (depth < depthCount && depth < open.length && sameLevel(open[depth].level, levels[depth])) depth++;
    const deepest = depthCount - 1;
    if (depth === depthCount && open[deepest].hasFile && open[deepest].range.fileName !== fileName) {
      depth = deepest;
    }
    this.closeFrom(depth, address);
    for (let d = depth; d < depthCount; d++) {
      const level = levels[d];
      open.push({
        level,
        hasFile: false,
        range: {
          start: address,
          end: address,
          depth: d,
          functionName: level.functionName,
          functionLine: level.functionLine,
          fileName: '',
          callFileName: level.callFileName,
          callLine: level.callLine,
          lineOffsets: [],
          lines: [],
        },
      });
    }
    const leaf = open[deepest];
    const range = leaf.range;
    if (!leaf.hasFile) {
      leaf.hasFile = true;
      range.fileName = fileName;
    }
    const lines = range.lines;
    const previous = lines.length > 0 ? lines[lines.length - 1] : 0;
    if (line !== previous) {
      range.lineOffsets.push(address - range.start);
      lines.push(line);
    }
  }

  /** Ends every open range at `address` (the sweep leaves covered code there). */
  closeAll(address: number): void {
    this.closeFrom(0, address);
  }

  private closeFrom(depth: number, address: number): void {
    const open = this.open;
    while (open.length > depth) {
      const { range } = open.pop() as OpenRange;
      range.end = address;
      this.done.push(range);
    }
  }

  /** Finished ranges so far, handed over. */
  take(): SymbolRange[] {
    const out = this.done;
    this.done = [];
    return out;
  }
}
