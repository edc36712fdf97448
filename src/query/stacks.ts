import type { EventField } from '../store/store.ts';
import {
  MissingSymbolsTable,
  UNKNOWN_UPLOAD_TARGET,
  type MissingSymbols,
  type SymbolUploadTarget,
} from './missing-symbols.ts';
import type { QueryResult, SamplingInfo } from './run.ts';

export interface StackFrameView {
  /** The frame group's identity, as the flamegraph's `frames.key` names it. */
  key: string;
  label: string;
  /** '' until the frame has symbols. */
  functionName: string;
  frameType: number;
  /** Inlined into the frame before it (its caller, one entry closer to the root). */
  inline: boolean;
  sourceFile: string;
  sourceLine: number;
  executable: string;
  symbolized: boolean;
  /** For a native frame without symbols: its executable and how to upload the symbols. */
  missingSymbols?: MissingSymbols;
}

export interface GroupedStack {
  stackTraceId: string;
  count: number;
  /** Root first; inline functions are entries of their own. */
  frames: StackFrameView[];
}

export interface StackGroup {
  value: string;
  count: number;
  /** Share of all samples in the query. */
  fraction: number;
  /** Distinct stacks in the group; `stacks` holds only the largest. */
  stackCount: number;
  stacks: GroupedStack[];
}

export interface GroupedStacksResponse {
  groupBy: EventField;
  sampling: SamplingInfo;
  totalCount: number;
  groups: StackGroup[];
  /** The executables of the listed native frames without symbols, once each. */
  missingSymbols: MissingSymbols[];
}

/** Groups a query's stacks by the field it was aggregated by: the largest groups and their largest stacks. */
export function groupStacks(
  result: QueryResult,
  groupBy: EventField,
  groupLimit: number,
  stacksPerGroup: number,
  uploadTarget: SymbolUploadTarget = UNKNOWN_UPLOAD_TARGET,
): GroupedStacksResponse {
  const missing = new MissingSymbolsTable(uploadTarget);
  const byValue = new Map<string, { count: number; rows: { id: string; count: number }[] }>();
  for (const row of result.rows) {
    const value = row.group ?? '';
    let entry = byValue.get(value);
    if (!entry) byValue.set(value, (entry = { count: 0, rows: [] }));
    entry.count += row.count;
    entry.rows.push({ id: row.stackTraceId, count: row.count });
  }
  const groups = [...byValue.entries()]
    .sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))
    .slice(0, groupLimit)
    .map(([value, entry]): StackGroup => {
      entry.rows.sort((a, b) => b.count - a.count || (a.id < b.id ? -1 : 1));
      return {
        value,
        count: entry.count,
        fraction: result.totalCount > 0 ? entry.count / result.totalCount : 0,
        stackCount: entry.rows.length,
        stacks: entry.rows.slice(0, stacksPerGroup).map((row) => ({
          stackTraceId: row.id,
          count: row.count,
          frames: framesOf(result, row.id, missing),
        })),
      };
    });
  return {
    groupBy,
    sampling: result.sampling,
    totalCount: result.totalCount,
    groups,
    missingSymbols: missing.entries,
  };
}

function framesOf(result: QueryResult, stackTraceId: string, missing: MissingSymbolsTable): StackFrameView[] {
  const stack = result.expanded.stacks.get(stackTraceId);
  if (!stack) return [];
  const lines = result.expanded.sourceLines(stackTraceId);
  return Array.from(stack, (id, index) => {
    const group = result.expanded.table.groups[id];
    const view: StackFrameView = {
      key: group.key,
      label: group.label,
      functionName: group.functionName,
      frameType: group.frameType,
      inline: group.inline,
      sourceFile: group.sourceFile,
      // This stack's own line, not the first one seen for the function.
      sourceLine: lines ? lines[index] : group.sourceLine,
      executable: group.executable,
      symbolized: group.symbolized,
    };
    const lacking = missing.entryOf(group);
    if (lacking) view.missingSymbols = lacking;
    return view;
  });
}
