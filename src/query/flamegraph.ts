import type { StackTraceCount } from '../store/store.ts';
import type { ExpandedStacks, FrameGroup } from './frames.ts';
import type { ImpactPerSample } from './impact.ts';
import type { QueryResult, SamplingInfo } from './run.ts';

/** Pseudo frame types of the nodes above the real frames, as Elasticsearch numbers them. */
export const FRAME_TYPE_ROOT = 0x100;
export const FRAME_TYPE_EXECUTABLE = 0x101;
export const FRAME_TYPE_THREAD = 0x102;
/** Our own: a group level for any other grouping field (host, container, …). */
export const FRAME_TYPE_GROUP = 0x103;

const GROUP_ID_LIMIT = 1 << 22;

/**
 * A calling-context tree in preorder (parents before children, children sorted by label), with one or two
 * count series: the comparison and, for differential views, the baseline.
 */
export interface CallTree {
  groups: FrameGroup[];
  parent: Int32Array;
  group: Int32Array;
  total: Float64Array;
  self: Float64Array;
  baselineTotal?: Float64Array;
  baselineSelf?: Float64Array;
  size: number;
}

class TreeBuilder {
  parent: number[] = [-1];
  group: number[] = [-1];
  totals: number[][];
  selfs: number[][];
  private readonly children = new Map<number, number>();

  constructor(series: number) {
    this.totals = Array.from({ length: series }, () => [0]);
    this.selfs = Array.from({ length: series }, () => [0]);
  }

  child(node: number, groupId: number): number {
    const key = node * GROUP_ID_LIMIT + groupId;
    let found = this.children.get(key);
    if (found === undefined) {
      found = this.parent.length;
      this.parent.push(node);
      this.group.push(groupId);
      for (const column of this.totals) column.push(0);
      for (const column of this.selfs) column.push(0);
      this.children.set(key, found);
    }
    return found;
  }

  add(series: number, levelGroup: number | undefined, stack: Int32Array, count: number): void {
    const totals = this.totals[series];
    let node = 0;
    totals[0] += count;
    if (levelGroup !== undefined) {
      node = this.child(node, levelGroup);
      totals[node] += count;
    }
    for (let i = 0; i < stack.length; i++) {
      node = this.child(node, stack[i]);
      totals[node] += count;
    }
    this.selfs[series][node] += count;
  }
}

function groupLevelFrameType(field: string): number {
  if (field === 'process.executable.name') return FRAME_TYPE_EXECUTABLE;
  if (field === 'process.thread.name') return FRAME_TYPE_THREAD;
  return FRAME_TYPE_GROUP;
}

function internGroupLevel(expanded: ExpandedStacks, field: string, value: string): number {
  const frameType = groupLevelFrameType(field);
  return expanded.table.intern({
    key: `g|${field}|${value}`,
    label: value === '' ? `(no ${field})` : value,
    functionName: '',
    sourceFile: '',
    sourceLine: 0,
    functionOffset: 0,
    frameType,
    inline: false,
    fileId: '',
    executable: value,
    addressOrLine: 0,
    symbolized: false,
  });
}

/** Reorders a builder's nodes into preorder with children sorted by label, so clients lay out in one pass. */
function toPreorder(builder: TreeBuilder, groups: FrameGroup[]): CallTree {
  const size = builder.parent.length;
  const childLists: number[][] = Array.from({ length: size }, () => []);
  for (let node = 1; node < size; node++) childLists[builder.parent[node]].push(node);
  const labelOf = (node: number): string => groups[builder.group[node]]?.label ?? '';
  const order: number[] = [];
  const stack = [0];
  while (stack.length > 0) {
    const node = stack.pop() as number;
    order.push(node);
    const kids = childLists[node];
    kids.sort((a, b) => (labelOf(a) < labelOf(b) ? 1 : labelOf(a) > labelOf(b) ? -1 : 0));
    for (const kid of kids) stack.push(kid);
  }
  const newIndex = new Int32Array(size);
  order.forEach((oldIndex, index) => (newIndex[oldIndex] = index));
  const permute = (column: number[]): Float64Array => Float64Array.from(order, (old) => column[old]);
  const tree: CallTree = {
    groups,
    parent: Int32Array.from(order, (old) => (old === 0 ? -1 : newIndex[builder.parent[old]])),
    group: Int32Array.from(order, (old) => builder.group[old]),
    total: permute(builder.totals[0]),
    self: permute(builder.selfs[0]),
    size,
  };
  if (builder.totals.length > 1) {
    tree.baselineTotal = permute(builder.totals[1]);
    tree.baselineSelf = permute(builder.selfs[1]);
  }
  return tree;
}

function addRows(
  builder: TreeBuilder,
  series: number,
  rows: readonly StackTraceCount[],
  expanded: ExpandedStacks,
  groupBy: string | undefined,
): void {
  for (const row of rows) {
    const stack = expanded.stacks.get(row.stackTraceId);
    if (!stack) continue;
    const level = groupBy !== undefined ? internGroupLevel(expanded, groupBy, row.group ?? '') : undefined;
    builder.add(series, level, stack, row.count);
  }
}

/** The tree of one query; with `groupBy` the first level under the root is the group's value. */
export function buildCallTree(result: QueryResult, groupBy?: string): CallTree {
  const builder = new TreeBuilder(1);
  addRows(builder, 0, result.rows, result.expanded, groupBy);
  return toPreorder(builder, result.expanded.table.groups);
}

/**
 * One tree over two queries. Both must share the frame-group table, so the baseline's stacks are expanded
 * into the comparison's table by the caller (see `differentialTree` in diff.ts).
 */
export function buildMergedTree(
  comparison: { rows: readonly StackTraceCount[]; expanded: ExpandedStacks },
  baseline: { rows: readonly StackTraceCount[]; expanded: ExpandedStacks },
): CallTree {
  if (comparison.expanded.table !== baseline.expanded.table) {
    throw new Error('merged trees need one shared frame-group table');
  }
  const builder = new TreeBuilder(2);
  addRows(builder, 0, comparison.rows, comparison.expanded, undefined);
  addRows(builder, 1, baseline.rows, baseline.expanded, undefined);
  return toPreorder(builder, comparison.expanded.table.groups);
}

/** The compact flamegraph our UI draws: columnar nodes plus a table of the distinct frame groups. */
export interface CompactFlamegraph {
  sampling: SamplingInfo;
  totalCount: number;
  size: number;
  impactPerSample: ImpactPerSample;
  /** Distinct frame groups used by nodes; index -1 (root) is not in the table. */
  frames: {
    label: string[];
    frameType: number[];
    inline: boolean[];
    sourceFile: string[];
    sourceLine: number[];
    executable: string[];
    symbolized: boolean[];
  };
  nodes: {
    /** Index of the parent node; -1 for the root. Nodes are in preorder. */
    parent: number[];
    /** Index into `frames`; -1 for the root. */
    frame: number[];
    total: number[];
    self: number[];
    baselineTotal?: number[];
    baselineSelf?: number[];
  };
  /** For differential trees: sum of the baseline counts and the factor that normalises them. */
  baseline?: { sampling: SamplingInfo; totalCount: number; scale: number };
  missingStackTraces: number;
}

export function toCompact(tree: CallTree, result: QueryResult): CompactFlamegraph {
  const frameIndex = new Map<number, number>();
  const frames: CompactFlamegraph['frames'] = {
    label: [],
    frameType: [],
    inline: [],
    sourceFile: [],
    sourceLine: [],
    executable: [],
    symbolized: [],
  };
  const frame: number[] = new Array<number>(tree.size);
  for (let node = 0; node < tree.size; node++) {
    const groupId = tree.group[node];
    if (groupId < 0) {
      frame[node] = -1;
      continue;
    }
    let index = frameIndex.get(groupId);
    if (index === undefined) {
      index = frames.label.length;
      frameIndex.set(groupId, index);
      const group = tree.groups[groupId];
      frames.label.push(group.label);
      frames.frameType.push(group.frameType);
      frames.inline.push(group.inline);
      frames.sourceFile.push(group.sourceFile);
      frames.sourceLine.push(group.sourceLine);
      frames.executable.push(group.executable);
      frames.symbolized.push(group.symbolized);
    }
    frame[node] = index;
  }
  const compact: CompactFlamegraph = {
    sampling: result.sampling,
    totalCount: result.totalCount,
    size: tree.size,
    impactPerSample: result.impact,
    frames,
    nodes: {
      parent: Array.from(tree.parent),
      frame,
      total: Array.from(tree.total),
      self: Array.from(tree.self),
    },
    missingStackTraces: result.expanded.missingStackTraces.length,
  };
  if (tree.baselineTotal && tree.baselineSelf) {
    compact.nodes.baselineTotal = Array.from(tree.baselineTotal);
    compact.nodes.baselineSelf = Array.from(tree.baselineSelf);
  }
  return compact;
}

/** The response body of Elasticsearch's `GET _profiling/flamegraph`, field for field. */
export interface ElasticFlamegraph {
  Edges: number[][];
  FileID: string[];
  FrameType: number[];
  Inline: boolean[];
  ExeFilename: string[];
  AddressOrLine: number[];
  FunctionName: string[];
  FunctionOffset: number[];
  SourceFilename: string[];
  SourceLine: number[];
  CountInclusive: number[];
  CountExclusive: number[];
  AnnualCO2TonsInclusive: number[];
  AnnualCO2TonsExclusive: number[];
  AnnualCostsUSDInclusive: number[];
  AnnualCostsUSDExclusive: number[];
  Size: number;
  SamplingRate: number;
  SelfCPU: number;
  TotalCPU: number;
  TotalSamples: number;
}

/** Elasticsearch prints these with at most four decimals; we round the same way. */
function round4(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}

export function toElastic(tree: CallTree, result: QueryResult): ElasticFlamegraph {
  const out: ElasticFlamegraph = {
    Edges: Array.from({ length: tree.size }, () => []),
    FileID: [],
    FrameType: [],
    Inline: [],
    ExeFilename: [],
    AddressOrLine: [],
    FunctionName: [],
    FunctionOffset: [],
    SourceFilename: [],
    SourceLine: [],
    CountInclusive: [],
    CountExclusive: [],
    AnnualCO2TonsInclusive: [],
    AnnualCO2TonsExclusive: [],
    AnnualCostsUSDInclusive: [],
    AnnualCostsUSDExclusive: [],
    Size: tree.size,
    SamplingRate: result.sampling.samplingRate,
    SelfCPU: 0,
    TotalCPU: 0,
    TotalSamples: result.totalCount,
  };
  const { annualCo2Tons, annualCostUsd } = result.impact;
  for (let node = 0; node < tree.size; node++) {
    if (node > 0) out.Edges[tree.parent[node]].push(node);
    const group = tree.group[node] >= 0 ? tree.groups[tree.group[node]] : undefined;
    const total = tree.total[node];
    const self = tree.self[node];
    out.FileID.push(group?.fileId ?? '');
    out.FrameType.push(group?.frameType ?? FRAME_TYPE_ROOT);
    out.Inline.push(group?.inline ?? false);
    out.ExeFilename.push(group?.executable ?? '');
    out.AddressOrLine.push(group?.addressOrLine ?? 0);
    out.FunctionName.push(group?.functionName ?? '');
    out.FunctionOffset.push(group?.functionOffset ?? 0);
    out.SourceFilename.push(group?.sourceFile ?? '');
    out.SourceLine.push(group?.sourceLine ?? 0);
    out.CountInclusive.push(total);
    out.CountExclusive.push(self);
    out.AnnualCO2TonsInclusive.push(round4(total * annualCo2Tons));
    out.AnnualCO2TonsExclusive.push(round4(self * annualCo2Tons));
    out.AnnualCostsUSDInclusive.push(round4(total * annualCostUsd));
    out.AnnualCostsUSDExclusive.push(round4(self * annualCostUsd));
    out.SelfCPU += self;
    out.TotalCPU += total;
  }
  return out;
}
