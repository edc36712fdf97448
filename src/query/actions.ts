import type { ExpandedStacks, FrameGroupTable } from './frames.ts';
import type { QueryResult } from './run.ts';

/**
 * Flamegraph actions (Pyroscope's and Speedscope's focus, collapse, hide and invert), applied to the stacks
 * of a query before any tree, table or export is built from them: the flamegraph, its Elasticsearch form and
 * the pprof export all show the same transformed profile, and counts stay those of whole samples.
 */
export interface FlamegraphActions {
  /** Keep only stacks through this frame group, cut so that it is the root (its first occurrence). */
  focus?: string;
  /** Remove these frame groups from every stack: their callees attach to their caller. */
  hide?: readonly string[];
  /** Cut every stack below the first occurrence of one of these groups: its subtree becomes its self. */
  collapse?: readonly string[];
  /** Reverse every stack: leaf functions at the top, their callers below (bottom-up). */
  invert?: boolean;
}

/** A frame key that names no function of the queried profile (answered with 404). */
export class UnknownFrameError extends Error {
  override readonly name = 'UnknownFrameError';
}

/** Maps a stack (frame groups, root first) to the one drawn instead, or undefined to leave the sample out. */
export type StackTransform = (stack: Int32Array) => Int32Array | undefined;

export function hasActions(actions: FlamegraphActions | undefined): actions is FlamegraphActions {
  return (
    actions !== undefined &&
    (actions.focus !== undefined ||
      (actions.hide?.length ?? 0) > 0 ||
      (actions.collapse?.length ?? 0) > 0 ||
      actions.invert === true)
  );
}

/**
 * The group IDs of a list of keys. A value that is not a key itself is read as a comma-separated list of keys
 * (`hide=a,b`); keys can contain commas (C++ templates), so the whole value is tried first. Keys the profile
 * does not know are left out: a hidden function absent from this range simply hides nothing.
 */
export function resolveKeys(table: FrameGroupTable, values: readonly string[] | undefined): Set<number> {
  const ids = new Set<number>();
  for (const value of values ?? []) {
    const whole = table.idOf(value);
    if (whole !== undefined) {
      ids.add(whole);
      continue;
    }
    for (const part of value.split(',')) {
      const id = table.idOf(part);
      if (id !== undefined) ids.add(id);
    }
  }
  return ids;
}

/** The group of `key` if some stack of the result contains it, else an UnknownFrameError. */
export function requireFrame(result: QueryResult, key: string): number {
  const id = result.expanded.table.idOf(key);
  if (id !== undefined) {
    for (const row of result.rows) {
      if (result.expanded.stacks.get(row.stackTraceId)?.includes(id)) return id;
    }
  }
  throw new UnknownFrameError(`frame "${key}" has no samples in this range and filter`);
}

/** The transform of a set of actions, or undefined when there is nothing to do. */
export function actionsTransform(result: QueryResult, actions: FlamegraphActions): StackTransform {
  const table = result.expanded.table;
  const focus = actions.focus !== undefined ? requireFrame(result, actions.focus) : -1;
  const hidden = resolveKeys(table, actions.hide);
  const collapsed = resolveKeys(table, actions.collapse);
  const invert = actions.invert === true;
  return (original) => {
    let stack = original;
    if (focus >= 0) {
      // The outermost occurrence: with recursion the focused function's whole subtree (recursive calls
      // included) is kept and the sample counts once, so the new root's total is the function's total.
      const at = stack.indexOf(focus);
      if (at < 0) return undefined;
      stack = stack.subarray(at);
    }
    if (hidden.size > 0 && stack.some((group) => hidden.has(group))) {
      stack = stack.filter((group) => !hidden.has(group));
    }
    if (collapsed.size > 0) {
      const at = stack.findIndex((group) => collapsed.has(group));
      if (at >= 0) stack = stack.subarray(0, at + 1);
    }
    // Never reverse in place: expanded stacks are shared with the query cache.
    if (invert) stack = stack.slice().reverse();
    return stack;
  };
}

/**
 * The result with every stack transformed (rows whose stack is left out are dropped, the total follows).
 * Per-frame source lines are not carried over: they describe the stacks as stored.
 */
export function transformResult(result: QueryResult, transform: StackTransform): QueryResult {
  const source = result.expanded.stacks;
  const stacks = new Map<string, Int32Array>();
  const dropped = new Set<string>();
  const rows = result.rows.filter((row) => {
    const id = row.stackTraceId;
    if (stacks.has(id)) return true;
    if (dropped.has(id)) return false;
    const stack = source.get(id);
    // Unknown stacks stay unknown (they are counted as missing, never drawn).
    if (!stack) return true;
    const transformed = transform(stack);
    if (transformed === undefined) {
      dropped.add(id);
      return false;
    }
    stacks.set(id, transformed);
    return true;
  });
  let totalCount = 0;
  for (const row of rows) totalCount += row.count;
  const expanded: ExpandedStacks = { ...result.expanded, stacks, sourceLines: () => undefined };
  return { ...result, rows, totalCount, expanded };
}

export function applyActions(result: QueryResult, actions: FlamegraphActions | undefined): QueryResult {
  return hasActions(actions) ? transformResult(result, actionsTransform(result, actions)) : result;
}
