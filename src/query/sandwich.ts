import { requireFrame, transformResult } from './actions.ts';
import { buildCallTree, toCompact, type CompactFlamegraph } from './flamegraph.ts';
import { UNKNOWN_UPLOAD_TARGET, type SymbolUploadTarget } from './missing-symbols.ts';
import type { QueryResult } from './run.ts';

/**
 * The sandwich view of one function, merged over the whole profile: who calls it (callers, inverted: the
 * function at the root, its callers below) and what it calls (callees: the merged subtrees of all its
 * occurrences). Both roots hold the function's total, each sample counted once.
 */
export interface SandwichResponse {
  frame: {
    key: string;
    label: string;
    frameType: number;
    inline: boolean;
    sourceFile: string;
    sourceLine: number;
    executable: string;
    symbolized: boolean;
  };
  /** Samples whose stack contains the function (once per stack), and those in which it is the leaf. */
  total: number;
  self: number;
  /** Samples of the whole query, for shares. */
  profileTotal: number;
  callers: CompactFlamegraph;
  callees: CompactFlamegraph;
}

/**
 * Recursion: a stack in which the function occurs several times is cut at one occurrence per tree, so it
 * counts once at either root. Callees start at the outermost occurrence, so the recursive calls show inside
 * the callees tree; callers start at the innermost one, so they show in the callers tree. Every frame of a
 * stack thus appears in one of the two trees, and neither counts a sample twice.
 */
export function sandwich(
  result: QueryResult,
  key: string,
  uploadTarget: SymbolUploadTarget = UNKNOWN_UPLOAD_TARGET,
): SandwichResponse {
  const id = requireFrame(result, key);
  const callees = transformResult(result, (stack) => {
    const at = stack.indexOf(id);
    return at < 0 ? undefined : stack.subarray(at);
  });
  const callers = transformResult(result, (stack) => {
    const at = stack.lastIndexOf(id);
    return at < 0 ? undefined : stack.slice(0, at + 1).reverse();
  });
  let self = 0;
  for (const row of result.rows) {
    const stack = result.expanded.stacks.get(row.stackTraceId);
    if (stack && stack.length > 0 && stack[stack.length - 1] === id) self += row.count;
  }
  const group = result.expanded.table.groups[id];
  return {
    frame: {
      key: group.key,
      label: group.label,
      frameType: group.frameType,
      inline: group.inline,
      sourceFile: group.sourceFile,
      sourceLine: group.sourceLine,
      executable: group.executable,
      symbolized: group.symbolized,
    },
    total: callees.totalCount,
    self,
    profileTotal: result.totalCount,
    callers: toCompact(buildCallTree(callers), callers, uploadTarget),
    callees: toCompact(buildCallTree(callees), callees, uploadTarget),
  };
}
