import type { EventField, StoreReader, StoreStats } from '../store/store.ts';
import { applyActions, type FlamegraphActions } from './actions.ts';
import { LookupCache } from './frames.ts';
import {
  ELASTIC_LEVEL_FIELDS,
  buildCallTree,
  buildElasticTree,
  buildMergedTree,
  toCompact,
  toElastic,
  type CompactFlamegraph,
  type ElasticFlamegraph,
} from './flamegraph.ts';
import { DEFAULT_IMPACT_FACTORS, type ImpactFactors } from './impact.ts';
import { UNKNOWN_UPLOAD_TARGET, type SymbolUploadTarget } from './missing-symbols.ts';
import { toPprof } from './pprof.ts';
import { runQuery, type ProfileQuery, type QueryResult } from './run.ts';
import { sandwich, type SandwichResponse } from './sandwich.ts';
import { groupStacks, type GroupedStacksResponse } from './stacks.ts';
import { timeline, type Timeline } from './timeline.ts';
import { diffTopN, sideTotals, topNFunctions, type DiffTopNResponse, type TopNResponse } from './topn.ts';

export * from './actions.ts';
export * from './filter.ts';
export * from './flamegraph.ts';
export * from './frames.ts';
export * from './impact.ts';
export * from './missing-symbols.ts';
export * from './run.ts';
export * from './sandwich.ts';
export * from './stacks.ts';
export * from './timeline.ts';
export * from './topn.ts';
export { toPprof } from './pprof.ts';

export interface StatusReport {
  stats: StoreStats;
  hosts: {
    hostId: string;
    hostName?: string;
    hostIp?: string;
    arch?: string;
    /** `os.type` as the sender reported it (e.g. `linux`), and the kernel release. */
    osType?: string;
    osKernel?: string;
    agentVersion?: string;
    lastSeen: number;
  }[];
  /** Share of sampled frames (by distinct frame, last hour) that have symbols. */
  symbolization: { frames: number; symbolized: number; coverage: number };
  /** The factors behind the CPU-time, cost and CO2 estimates. */
  impactFactors: ImpactFactors;
}

/** Per-request estimate settings (Elasticsearch's API takes them in the request body). */
export interface EstimateOverrides {
  impact?: Partial<ImpactFactors>;
  durationSeconds?: number;
}

/** Where the current CO2 and cost factors come from: asked once per query, so a change applies at once. */
export type ImpactSource = () => Promise<ImpactFactors>;

/** The query layer: everything the API serves, computed over any `StoreReader`. */
export class ProfilingQueries {
  /** The factors in force now (the Settings page may change them while the server runs). */
  readonly impactFactors: ImpactSource;
  private readonly cache = new LookupCache();

  constructor(
    private readonly reader: StoreReader,
    /** Fixed factors (over the defaults), or where to ask for the current ones. */
    impact: Partial<ImpactFactors> | ImpactSource = {},
    /** Named in the upload hints of native frames without symbols. */
    readonly uploadTarget: SymbolUploadTarget = UNKNOWN_UPLOAD_TARGET,
  ) {
    if (typeof impact === 'function') {
      this.impactFactors = impact;
    } else {
      const fixed = { ...DEFAULT_IMPACT_FACTORS, ...impact };
      this.impactFactors = () => Promise.resolve(fixed);
    }
  }

  async run(
    query: ProfileQuery,
    groupBy?: EventField | readonly EventField[],
    cache = this.cache,
    overrides: EstimateOverrides = {},
  ): Promise<QueryResult> {
    const impact = { ...(await this.impactFactors()), ...overrides.impact };
    return runQuery(
      this.reader,
      query,
      { impact, cache, durationSeconds: overrides.durationSeconds },
      groupBy,
    );
  }

  async flamegraph(
    query: ProfileQuery,
    groupBy?: EventField,
    actions?: FlamegraphActions,
  ): Promise<CompactFlamegraph> {
    const result = applyActions(await this.run(query, groupBy), actions);
    return toCompact(buildCallTree(result, groupBy), result, this.uploadTarget);
  }

  async elasticFlamegraph(
    query: ProfileQuery,
    groupBy?: EventField,
    overrides: EstimateOverrides = {},
    actions?: FlamegraphActions,
  ): Promise<ElasticFlamegraph> {
    if (groupBy !== undefined) {
      const result = applyActions(await this.run(query, groupBy, this.cache, overrides), actions);
      return toElastic(buildCallTree(result, groupBy), result);
    }
    // Without a group-by, the levels Elasticsearch itself puts above the frames: executable, then thread.
    const result = applyActions(await this.run(query, ELASTIC_LEVEL_FIELDS, this.cache, overrides), actions);
    return toElastic(buildElasticTree(result), result);
  }

  /** Callers and callees of one function (a frame group's key), merged over the whole query. */
  async sandwich(query: ProfileQuery, frameKey: string): Promise<SandwichResponse> {
    return sandwich(await this.run(query), frameKey, this.uploadTarget);
  }

  async topN(query: ProfileQuery, limit: number, overrides: EstimateOverrides = {}): Promise<TopNResponse> {
    return topNFunctions(await this.run(query, undefined, this.cache, overrides), limit, this.uploadTarget);
  }

  async stacks(
    query: ProfileQuery,
    groupBy: EventField,
    groupLimit: number,
    stacksPerGroup: number,
  ): Promise<GroupedStacksResponse> {
    return groupStacks(
      await this.run(query, groupBy),
      groupBy,
      groupLimit,
      stacksPerGroup,
      this.uploadTarget,
    );
  }

  /** Baseline and comparison share one frame-group table so equal functions meet in one node. */
  private async runPair(
    comparison: ProfileQuery,
    baseline: ProfileQuery,
  ): Promise<[QueryResult, QueryResult]> {
    const now = await this.run(comparison);
    const before = await this.run(baseline);
    // The cache may have started over between the two (it outgrew its limit): redo both on one fresh cache.
    if (now.expanded.table !== before.expanded.table) {
      const shared = new LookupCache();
      return [await this.run(comparison, undefined, shared), await this.run(baseline, undefined, shared)];
    }
    return [now, before];
  }

  /** Samples over the query's range, in at most `maxBuckets` buckets, split by `groupBy`'s largest groups. */
  async timeline(
    query: ProfileQuery,
    options: { groupBy?: EventField; maxBuckets: number; topGroups: number },
  ): Promise<Timeline> {
    const { from, to, filter, samplingLevel } = query;
    return timeline(this.reader, { from, to, filter, samplingLevel, ...options });
  }

  async diffFlamegraph(comparison: ProfileQuery, baseline: ProfileQuery): Promise<CompactFlamegraph> {
    const [now, before] = await this.runPair(comparison, baseline);
    const compact = toCompact(buildMergedTree(now, before), now, this.uploadTarget);
    compact.baseline = {
      ...sideTotals(before),
      scale: before.totalCount > 0 ? now.totalCount / before.totalCount : 0,
    };
    return compact;
  }

  async diffTopN(comparison: ProfileQuery, baseline: ProfileQuery, limit: number): Promise<DiffTopNResponse> {
    const [now, before] = await this.runPair(comparison, baseline);
    return diffTopN(now, before, limit, this.uploadTarget);
  }

  async pprof(query: ProfileQuery, groupBy?: EventField, actions?: FlamegraphActions): Promise<Buffer> {
    const [result, factors] = await Promise.all([this.run(query, groupBy), this.impactFactors()]);
    return toPprof(applyActions(result, actions), factors.samplingFrequencyHz);
  }

  async status(now: number, hostWindowSeconds = 86_400): Promise<StatusReport> {
    const [stats, hosts, impactFactors] = await Promise.all([
      this.reader.stats(),
      this.reader.listHosts(now - hostWindowSeconds, now + 1),
      this.impactFactors(),
    ]);
    const recent = await this.run({ from: now - 3600, to: now + 1 });
    let frames = 0;
    let symbolized = 0;
    for (const group of recent.expanded.table.groups) {
      if (group.inline) continue;
      frames++;
      if (group.symbolized) symbolized++;
    }
    return {
      stats,
      hosts: hosts.map((host) => ({
        hostId: host.hostId,
        hostName: host.hostName,
        hostIp: host.hostIp,
        arch: host.arch,
        osType: host.attributes['os.type'],
        osKernel: host.osKernel,
        agentVersion: host.agentVersion,
        lastSeen: host.timestamp,
      })),
      symbolization: { frames, symbolized, coverage: frames > 0 ? symbolized / frames : 1 },
      impactFactors,
    };
  }
}
