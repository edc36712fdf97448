import { samplingScale, type EpochSeconds, type FrameType } from '../model/index.ts';
import type { EventField, EventFilter, StackTraceCount, StoreReader } from '../store/store.ts';
import { expandStacks, type ExpandedStacks, type LookupCache } from './frames.ts';
import {
  DEFAULT_IMPACT_FACTORS,
  impactPerSample,
  type ImpactFactors,
  type ImpactPerSample,
} from './impact.ts';

/** What every query names: a range, a filter, and optionally frame types and a fixed sampling level. */
export interface ProfileQuery {
  from: EpochSeconds;
  to: EpochSeconds;
  filter?: EventFilter;
  /** Keep only stacks that contain at least one frame of one of these types. */
  frameTypes?: readonly FrameType[];
  samplingLevel?: number;
}

export interface QueryOptions {
  impact?: Partial<ImpactFactors>;
  /** The duration the CO2/cost estimate annualises from (default: the range's length). */
  durationSeconds?: number;
  /**
   * Shared across queries so repeated views do not re-read immutable stacks; queries that are compared with
   * each other (differential views) must share one, so that equal functions get equal group IDs.
   */
  cache?: LookupCache;
}

/** How the answer was obtained: every response carries it so users can judge the estimate. */
export interface SamplingInfo {
  samplingLevel: number;
  /** 1 / 5^level: the fraction of events the level holds (Elasticsearch's `SamplingRate`). */
  samplingRate: number;
  /** Counts were multiplied by this (5^level). */
  scale: number;
  eventsRead: number;
}

export interface QueryResult {
  sampling: SamplingInfo;
  rows: StackTraceCount[];
  /** Sum of the counts of `rows` (after the frame-type filter). */
  totalCount: number;
  expanded: ExpandedStacks;
  impact: ImpactPerSample;
  from: EpochSeconds;
  durationSeconds: number;
}

export class QueryError extends Error {
  override readonly name = 'QueryError';
}

export function validateRange(query: ProfileQuery): void {
  if (!Number.isFinite(query.from) || !Number.isFinite(query.to)) {
    throw new QueryError('from and to must be epoch seconds');
  }
  if (query.to <= query.from)
    throw new QueryError(`empty time range: to (${query.to}) <= from (${query.from})`);
}

function keepsFrameTypes(types: readonly FrameType[] | undefined, wanted: ReadonlySet<FrameType>): boolean {
  if (!types) return false;
  for (const type of types) if (wanted.has(type)) return true;
  return false;
}

/** Aggregates the events of a query and expands the stacks they reference. */
export async function runQuery(
  reader: StoreReader,
  query: ProfileQuery,
  options: QueryOptions = {},
  groupBy?: EventField | readonly EventField[],
): Promise<QueryResult> {
  validateRange(query);
  const factors = { ...DEFAULT_IMPACT_FACTORS, ...options.impact };
  const [aggregation, hosts] = await Promise.all([
    reader.aggregateEvents({
      from: query.from,
      to: query.to,
      filter: query.filter,
      groupBy,
      samplingLevel: query.samplingLevel,
    }),
    reader.listHosts(query.from, query.to),
  ]);
  const ids = [...new Set(aggregation.rows.map((row) => row.stackTraceId))];
  const expanded = await expandStacks(reader, ids, options.cache);
  let rows = aggregation.rows;
  if (query.frameTypes && query.frameTypes.length > 0) {
    const wanted = new Set(query.frameTypes);
    rows = rows.filter((row) => keepsFrameTypes(expanded.frameTypes.get(row.stackTraceId), wanted));
  }
  let totalCount = 0;
  for (const row of rows) totalCount += row.count;
  const durationSeconds = options.durationSeconds ?? query.to - query.from;
  const scale = samplingScale(aggregation.samplingLevel);
  return {
    sampling: {
      samplingLevel: aggregation.samplingLevel,
      samplingRate: 1 / scale,
      scale,
      eventsRead: aggregation.eventsRead,
    },
    rows,
    totalCount,
    expanded,
    impact: impactPerSample(durationSeconds, hosts, factors),
    from: query.from,
    durationSeconds,
  };
}
