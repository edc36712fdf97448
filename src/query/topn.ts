import type { FrameGroup } from './frames.ts';
import type { ImpactPerSample } from './impact.ts';
import {
  MissingSymbolsTable,
  UNKNOWN_UPLOAD_TARGET,
  type MissingSymbols,
  type SymbolUploadTarget,
} from './missing-symbols.ts';
import type { QueryResult, SamplingInfo } from './run.ts';

/** Self and total counts per frame group; a group counted once per stack even when it recurses. */
export interface FunctionCounts {
  self: Float64Array;
  total: Float64Array;
}

export function countFunctions(result: QueryResult): FunctionCounts {
  const size = result.expanded.table.size;
  const self = new Float64Array(size);
  const total = new Float64Array(size);
  // seen[g] == stamp marks g as already counted for the current stack: no per-stack Set allocation.
  const seen = new Int32Array(size).fill(-1);
  let stamp = 0;
  for (const row of result.rows) {
    const stack = result.expanded.stacks.get(row.stackTraceId);
    if (!stack || stack.length === 0) continue;
    stamp++;
    for (let i = 0; i < stack.length; i++) {
      const group = stack[i];
      if (seen[group] === stamp) continue;
      seen[group] = stamp;
      total[group] += row.count;
    }
    self[stack[stack.length - 1]] += row.count;
  }
  return { self, total };
}

/**
 * One entry of Elasticsearch's `_profiling/topn/functions` response, plus `label` for display, `symbolized`,
 * and for a native frame without symbols `missing_symbols` (its executable and how to upload them).
 */
export interface TopNFunction {
  id: string;
  rank: number;
  label: string;
  symbolized: boolean;
  missing_symbols?: MissingSymbols;
  frame: {
    frame_type: number;
    inline: boolean;
    address_or_line: number;
    function_name: string;
    file_name: string;
    line_number: number;
    executable_file_name: string;
  };
  self_count: number;
  total_count: number;
  self_annual_co2_tons: number;
  total_annual_co2_tons: number;
  self_annual_costs_usd: number;
  total_annual_costs_usd: number;
}

export interface TopNResponse {
  self_count: number;
  total_count: number;
  self_annual_co2_tons: number;
  self_annual_cost_usd: number;
  topn: TopNFunction[];
  sampling: SamplingInfo;
  impact_per_sample: ImpactPerSample;
  missing_stack_traces: number;
}

function topNEntry(group: FrameGroup, self: number, total: number, impact: ImpactPerSample): TopNFunction {
  return {
    id: group.key,
    rank: 0,
    label: group.label,
    symbolized: group.symbolized,
    frame: {
      frame_type: group.frameType,
      inline: group.inline,
      address_or_line: group.addressOrLine,
      function_name: group.functionName,
      file_name: group.sourceFile,
      line_number: group.sourceLine,
      executable_file_name: group.executable,
    },
    self_count: self,
    total_count: total,
    self_annual_co2_tons: self * impact.annualCo2Tons,
    total_annual_co2_tons: total * impact.annualCo2Tons,
    self_annual_costs_usd: self * impact.annualCostUsd,
    total_annual_costs_usd: total * impact.annualCostUsd,
  };
}

/** Functions by self count (then total count, then id), the `limit` largest, ranked from 1. */
export function topNFunctions(
  result: QueryResult,
  limit: number,
  uploadTarget: SymbolUploadTarget = UNKNOWN_UPLOAD_TARGET,
): TopNResponse {
  const missing = new MissingSymbolsTable(uploadTarget);
  const { self, total } = countFunctions(result);
  const groups = result.expanded.table.groups;
  const ids: number[] = [];
  for (let g = 0; g < groups.length; g++) if (total[g] > 0) ids.push(g);
  ids.sort((a, b) => self[b] - self[a] || total[b] - total[a] || (groups[a].key < groups[b].key ? -1 : 1));
  const topn = ids.slice(0, limit).map((g, index) => {
    const entry = topNEntry(groups[g], self[g], total[g], result.impact);
    entry.rank = index + 1;
    const lacking = missing.entryOf(groups[g]);
    if (lacking) entry.missing_symbols = lacking;
    return entry;
  });
  return {
    self_count: result.totalCount,
    total_count: result.totalCount,
    self_annual_co2_tons: result.totalCount * result.impact.annualCo2Tons,
    self_annual_cost_usd: result.totalCount * result.impact.annualCostUsd,
    topn,
    sampling: result.sampling,
    impact_per_sample: result.impact,
    missing_stack_traces: result.expanded.missingStackTraces.length,
  };
}

export interface DiffTopNEntry {
  id: string;
  label: string;
  frameType: number;
  inline: boolean;
  symbolized: boolean;
  /** For a native frame without symbols: its executable and how to upload the symbols. */
  missingSymbols?: MissingSymbols;
  executable: string;
  sourceFile: string;
  comparison: { self: number; total: number; rank: number | null };
  /** Baseline counts multiplied by `scale`, so they compare with the comparison's directly. */
  baseline: { self: number; total: number; rank: number | null };
  /** (comparison − normalised baseline) self count, as a fraction of the comparison's total samples. */
  selfDelta: number;
  totalDelta: number;
}

/** One side of a comparison: its totals and what one of its samples is worth, for the summary of a diff. */
export interface DiffSideTotals {
  sampling: SamplingInfo;
  totalCount: number;
  /** The length of the side's range: what normalising by time divides by. */
  durationSeconds: number;
  /** Multiply by `totalCount` for the side's CPU time and annualised CO2 and cost. */
  impactPerSample: ImpactPerSample;
}

export function sideTotals(result: QueryResult): DiffSideTotals {
  return {
    sampling: result.sampling,
    totalCount: result.totalCount,
    durationSeconds: result.durationSeconds,
    impactPerSample: result.impact,
  };
}

export interface DiffTopNResponse {
  comparison: DiffSideTotals;
  baseline: DiffSideTotals;
  /** comparison total ÷ baseline total: what baseline counts were multiplied by. */
  scale: number;
  functions: DiffTopNEntry[];
}

function ranks(self: Float64Array, total: Float64Array): Int32Array {
  const order: number[] = [];
  for (let g = 0; g < self.length; g++) if (total[g] > 0) order.push(g);
  order.sort((a, b) => self[b] - self[a] || total[b] - total[a] || a - b);
  const rank = new Int32Array(self.length);
  order.forEach((g, index) => (rank[g] = index + 1));
  return rank;
}

/**
 * Differential top-N: both queries must share a frame-group table. Functions are ordered by the size of the
 * self-count change, largest first.
 */
export function diffTopN(
  comparison: QueryResult,
  baseline: QueryResult,
  limit: number,
  uploadTarget: SymbolUploadTarget = UNKNOWN_UPLOAD_TARGET,
): DiffTopNResponse {
  const missing = new MissingSymbolsTable(uploadTarget);
  const table = comparison.expanded.table;
  if (baseline.expanded.table !== table)
    throw new Error('differential top-N needs one shared frame-group table');
  const now = countFunctions(comparison);
  const before = countFunctions(baseline);
  // Counts may have been read with fewer groups before the baseline interned its own.
  const size = table.size;
  const nowSelf = resize(now.self, size);
  const nowTotal = resize(now.total, size);
  const scale = baseline.totalCount > 0 ? comparison.totalCount / baseline.totalCount : 0;
  const nowRanks = ranks(nowSelf, nowTotal);
  const beforeRanks = ranks(before.self, before.total);
  const denominator = comparison.totalCount > 0 ? comparison.totalCount : 1;
  const functions: DiffTopNEntry[] = [];
  for (let g = 0; g < size; g++) {
    if (nowTotal[g] === 0 && before.total[g] === 0) continue;
    const group = table.groups[g];
    const baseSelf = before.self[g] * scale;
    const baseTotal = before.total[g] * scale;
    functions.push({
      id: group.key,
      label: group.label,
      frameType: group.frameType,
      inline: group.inline,
      symbolized: group.symbolized,
      executable: group.executable,
      sourceFile: group.sourceFile,
      comparison: { self: nowSelf[g], total: nowTotal[g], rank: nowRanks[g] || null },
      baseline: { self: baseSelf, total: baseTotal, rank: beforeRanks[g] || null },
      selfDelta: (nowSelf[g] - baseSelf) / denominator,
      totalDelta: (nowTotal[g] - baseTotal) / denominator,
    });
    const lacking = missing.entryOf(group);
    if (lacking) functions[functions.length - 1].missingSymbols = lacking;
  }
  functions.sort((a, b) => Math.abs(b.selfDelta) - Math.abs(a.selfDelta) || (a.id < b.id ? -1 : 1));
  const listed = functions.slice(0, limit);
  return {
    comparison: sideTotals(comparison),
    baseline: sideTotals(baseline),
    scale,
    functions: listed,
  };
}

function resize(values: Float64Array, size: number): Float64Array {
  if (values.length === size) return values;
  const out = new Float64Array(size);
  out.set(values);
  return out;
}
