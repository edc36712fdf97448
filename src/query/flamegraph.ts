import { FrameType } from '../model/index.ts';
import type { EventField, StackTraceCount } from '../store/store.ts';
import type { ExpandedStacks, FrameGroup, FrameGroupTable } from './frames.ts';
import type { ImpactPerSample } from './impact.ts';
import {
  MissingSymbolsTable,
  UNKNOWN_UPLOAD_TARGET,
  type MissingSymbols,
  type SymbolUploadTarget,
} from './missing-symbols.ts';
import type { QueryResult, SamplingInfo } from './run.ts';
import type { DiffSideTotals } from './topn.ts';

/** Pseudo frame types of the nodes above the real frames, as Elasticsearch numbers them. */
export const FRAME_TYPE_ROOT = 0x100;
export const FRAME_TYPE_EXECUTABLE = 0x101;
export const FRAME_TYPE_THREAD = 0x102;
/** Our own: a group level for any other grouping field (host, container, …). */
export const FRAME_TYPE_GROUP = 0x103;

/** The fields behind the two aggregation levels of Elasticsearch's flamegraph, outermost first. */
export const ELASTIC_LEVEL_FIELDS: readonly EventField[] = ['process.executable.name', 'process.thread.name'];

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

/**
 * (parent node, frame group) → child node, as open addressing over typed arrays: a Map keyed by strings or
 * large doubles costs several times more on trees of 100,000+ nodes.
 */
class ChildIndex {
  private parents: Int32Array;
  private groups: Int32Array;
  private children: Int32Array;
  private mask: number;
  private used = 0;

  constructor(capacity = 1 << 16) {
    this.parents = new Int32Array(capacity).fill(-1);
    this.groups = new Int32Array(capacity);
    this.children = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  private slot(parent: number, group: number): number {
    let slot = (Math.imul(parent, 0x9e3779b1) ^ Math.imul(group + 1, 0x85ebca77)) & this.mask;
    while (this.parents[slot] !== -1 && (this.parents[slot] !== parent || this.groups[slot] !== group)) {
      slot = (slot + 1) & this.mask;
    }
    return slot;
  }

  get(parent: number, group: number): number {
    const slot = this.slot(parent, group);
    return this.parents[slot] === -1 ? -1 : this.children[slot];
  }

  set(parent: number, group: number, child: number): void {
    if ((this.used + 1) * 2 > this.mask) this.grow();
    const slot = this.slot(parent, group);
    this.parents[slot] = parent;
    this.groups[slot] = group;
    this.children[slot] = child;
    this.used++;
  }

  private grow(): void {
    const { parents, groups, children } = this;
    const capacity = parents.length * 2;
    this.parents = new Int32Array(capacity).fill(-1);
    this.groups = new Int32Array(capacity);
    this.children = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.used = 0;
    for (let i = 0; i < parents.length; i++)
      if (parents[i] !== -1) this.set(parents[i], groups[i], children[i]);
  }
}

/** A growable column of doubles. */
class Column {
  values = new Float64Array(1024);

  ensure(size: number): void {
    if (size <= this.values.length) return;
    const grown = new Float64Array(Math.max(size, this.values.length * 2));
    grown.set(this.values);
    this.values = grown;
  }
}

class TreeBuilder {
  parent: number[] = [-1];
  group: number[] = [-1];
  totals: Column[];
  selfs: Column[];
  private readonly children = new ChildIndex();

  constructor(series: number) {
    this.totals = Array.from({ length: series }, () => new Column());
    this.selfs = Array.from({ length: series }, () => new Column());
  }

  child(node: number, groupId: number): number {
    let found = this.children.get(node, groupId);
    if (found === -1) {
      found = this.parent.length;
      this.parent.push(node);
      this.group.push(groupId);
      for (const column of this.totals) column.ensure(found + 1);
      for (const column of this.selfs) column.ensure(found + 1);
      this.children.set(node, groupId, found);
    }
    return found;
  }

  /** Adds one stack's count under the aggregation levels (frame groups of pseudo frames), outermost first. */
  add(series: number, levels: readonly number[], stack: Int32Array, count: number): void {
    let node = 0;
    this.totals[series].values[0] += count;
    for (const level of levels) {
      node = this.child(node, level);
      this.totals[series].values[node] += count;
    }
    for (let i = 0; i < stack.length; i++) {
      node = this.child(node, stack[i]);
      // Re-read: child() may have grown the column.
      this.totals[series].values[node] += count;
    }
    this.selfs[series].values[node] += count;
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
    buildId: '',
    addressOrLine: 0,
    symbolized: false,
  });
}

/** Reorders a builder's nodes into preorder with children sorted by label, so clients lay out in one pass. */
function toPreorder(builder: TreeBuilder, table: FrameGroupTable): CallTree {
  const groups = table.groups;
  const size = builder.parent.length;
  const rank = table.labelRanks();
  // Children as contiguous runs (counting sort by parent), then each run sorted by label rank.
  const firstChild = new Int32Array(size + 1);
  for (let node = 1; node < size; node++) firstChild[builder.parent[node] + 1]++;
  for (let node = 0; node < size; node++) firstChild[node + 1] += firstChild[node];
  const fill = firstChild.slice(0, size);
  const childList = new Int32Array(Math.max(0, size - 1));
  for (let node = 1; node < size; node++) childList[fill[builder.parent[node]]++] = node;
  const order = new Int32Array(size);
  const stack = new Int32Array(size);
  let top = 0;
  let next = 0;
  stack[top++] = 0;
  while (top > 0) {
    const node = stack[--top];
    order[next++] = node;
    const kids = childList.subarray(firstChild[node], firstChild[node + 1]);
    if (kids.length > 1) kids.sort((a, b) => rank[builder.group[b]] - rank[builder.group[a]]);
    for (let k = 0; k < kids.length; k++) stack[top++] = kids[k];
  }
  const newIndex = new Int32Array(size);
  for (let i = 0; i < size; i++) newIndex[order[i]] = i;
  const permute = (column: Column): Float64Array => {
    const out = new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = column.values[order[i]];
    return out;
  };
  const parent = new Int32Array(size);
  const group = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const old = order[i];
    parent[i] = old === 0 ? -1 : newIndex[builder.parent[old]];
    group[i] = builder.group[old];
  }
  const tree: CallTree = {
    groups,
    parent,
    group,
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

/** The aggregation levels a row's stack goes under, as frame groups, outermost first. */
type RowLevels = (row: StackTraceCount) => readonly number[];

const NO_LEVELS: readonly number[] = [];

function addRows(
  builder: TreeBuilder,
  series: number,
  rows: readonly StackTraceCount[],
  expanded: ExpandedStacks,
  levels: RowLevels = () => NO_LEVELS,
): void {
  for (const row of rows) {
    const stack = expanded.stacks.get(row.stackTraceId);
    if (!stack) continue;
    builder.add(series, levels(row), stack, row.count);
  }
}

/** The tree of one query; with `groupBy` the first level under the root is the group's value. */
export function buildCallTree(result: QueryResult, groupBy?: string): CallTree {
  const { expanded } = result;
  const builder = new TreeBuilder(1);
  const levels: RowLevels | undefined =
    groupBy === undefined ? undefined : (row) => [internGroupLevel(expanded, groupBy, row.group ?? '')];
  addRows(builder, 0, result.rows, expanded, levels);
  return toPreorder(builder, expanded.table);
}

/**
 * Elasticsearch's executable level names kernel threads "kernel": their events have no executable name and
 * their stack starts (at the root) in the kernel.
 */
function executableLevelName(name: string, frameTypes: readonly FrameType[] | undefined): string {
  if (name !== '' || !frameTypes || frameTypes.length === 0) return name;
  // Stacks are stored leaf first, so the root frame is the last.
  return frameTypes[frameTypes.length - 1] === FrameType.Kernel ? 'kernel' : name;
}

/**
 * The tree of Elasticsearch's `_profiling/flamegraph`: under the root one node per executable name (0x101),
 * under each one node per thread name (0x102), then the frames root first. Both levels are always there, with
 * an empty name where the event has none. `result` must come from grouping by `ELASTIC_LEVEL_FIELDS`.
 */
export function buildElasticTree(result: QueryResult): CallTree {
  const { expanded } = result;
  const [executableField, threadField] = ELASTIC_LEVEL_FIELDS;
  const builder = new TreeBuilder(1);
  addRows(builder, 0, result.rows, expanded, (row) => {
    const [executable = '', thread = ''] = row.groups ?? [];
    const frameTypes = expanded.frameTypes.get(row.stackTraceId);
    return [
      internGroupLevel(expanded, executableField, executableLevelName(executable, frameTypes)),
      internGroupLevel(expanded, threadField, thread),
    ];
  });
  return toPreorder(builder, expanded.table);
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
  addRows(builder, 0, comparison.rows, comparison.expanded);
  addRows(builder, 1, baseline.rows, baseline.expanded);
  return toPreorder(builder, comparison.expanded.table);
}

/** The compact flamegraph our UI draws: columnar nodes plus a table of the distinct frame groups. */
export interface CompactFlamegraph {
  sampling: SamplingInfo;
  totalCount: number;
  size: number;
  impactPerSample: ImpactPerSample;
  /** Distinct frame groups used by nodes; index -1 (root) is not in the table. */
  frames: {
    /** The frame group's key (`FrameGroup.key`): what sandwich, flamegraph actions and URL state name a function by. */
    key: string[];
    label: string[];
    /** '' until the frame has symbols. */
    functionName: string[];
    frameType: number[];
    inline: boolean[];
    sourceFile: string[];
    sourceLine: number[];
    executable: string[];
    /** GNU build ID (hex) of the executable; '' when unknown. */
    buildId: string[];
    fileId: string[];
    /** Address (native, kernel) or line (interpreted) of the first frame seen for the group. */
    addressOrLine: number[];
    symbolized: boolean[];
    /** Index into `missingSymbols` for a native frame without symbols, else -1. */
    missingSymbols: number[];
  };
  /** The executables of native frames without symbols, once each, with the command that uploads them. */
  missingSymbols: MissingSymbols[];
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
  baseline?: DiffSideTotals & { scale: number };
  missingStackTraces: number;
}

export function toCompact(
  tree: CallTree,
  result: QueryResult,
  uploadTarget: SymbolUploadTarget = UNKNOWN_UPLOAD_TARGET,
): CompactFlamegraph {
  const frameIndex = new Map<number, number>();
  const missing = new MissingSymbolsTable(uploadTarget);
  const frames: CompactFlamegraph['frames'] = {
    key: [],
    label: [],
    functionName: [],
    frameType: [],
    inline: [],
    sourceFile: [],
    sourceLine: [],
    executable: [],
    buildId: [],
    fileId: [],
    addressOrLine: [],
    symbolized: [],
    missingSymbols: [],
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
      frames.key.push(group.key);
      frames.label.push(group.label);
      frames.functionName.push(group.functionName);
      frames.frameType.push(group.frameType);
      frames.inline.push(group.inline);
      frames.sourceFile.push(group.sourceFile);
      frames.sourceLine.push(group.sourceLine);
      frames.executable.push(group.executable);
      frames.buildId.push(group.buildId);
      frames.fileId.push(group.fileId);
      frames.addressOrLine.push(group.addressOrLine);
      frames.symbolized.push(group.symbolized);
      frames.missingSymbols.push(missing.indexOf(group));
    }
    frame[node] = index;
  }
  const compact: CompactFlamegraph = {
    sampling: result.sampling,
    totalCount: result.totalCount,
    size: tree.size,
    impactPerSample: result.impact,
    frames,
    missingSymbols: missing.entries,
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
