import type { EpochSeconds } from '../model/index.ts';
import type { EventField, EventFilter, StoreReader, TimeCount } from '../store/store.ts';

/** Bucket widths a timeline may use: round numbers of seconds, minutes, hours and days. */
const NICE_WIDTHS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
  604_800,
];

export interface TimelineQuery {
  from: EpochSeconds;
  to: EpochSeconds;
  filter?: EventFilter;
  samplingLevel?: number;
  /** Split the samples by this field: the `topGroups` largest groups, the rest summed as `other`. */
  groupBy?: EventField;
  /** At most this many buckets; the width is the smallest round one that fits. */
  maxBuckets: number;
  topGroups: number;
}

export interface TimelineSeries {
  /** The field's value; null for samples whose events lack the field. */
  group: string | null;
  /** Samples per bucket, aligned with `Timeline.starts`. */
  counts: number[];
  total: number;
}

export interface Timeline {
  bucketSeconds: number;
  samplingLevel: number;
  /** Start of every bucket that overlaps the range, empty ones included. */
  starts: EpochSeconds[];
  /** All samples per bucket (with tags, not the sum of the series: an event with two tags is in both). */
  totals: number[];
  /** The largest groups, most samples first (only with a group-by). */
  series: TimelineSeries[];
  /** Samples per bucket of every group not in `series` (only with a group-by). */
  other?: number[];
}

/** The smallest round bucket width whose buckets, aligned to multiples of it, cover the range in `maxBuckets`. */
export function bucketWidth(from: EpochSeconds, to: EpochSeconds, maxBuckets: number): number {
  const limit = Math.max(1, maxBuckets);
  const fits = (width: number) => Math.ceil(to / width) - Math.floor(from / width) <= limit;
  return NICE_WIDTHS.find(fits) ?? Math.ceil((to - from) / limit / 86_400 + 1) * 86_400;
}

/** Samples over time, in total and for the largest groups: the chart above the flamegraph and stack views. */
export async function timeline(reader: StoreReader, query: TimelineQuery): Promise<Timeline> {
  const bucketSeconds = bucketWidth(query.from, query.to, query.maxBuckets);
  const first = Math.floor(query.from / bucketSeconds) * bucketSeconds;
  const starts: number[] = [];
  for (let start = first; start < query.to; start += bucketSeconds) starts.push(start);
  const slot = (start: number) => (start - first) / bucketSeconds;
  const base = { from: query.from, to: query.to, filter: query.filter, bucketSeconds };

  const overall = await reader.countOverTime({ ...base, samplingLevel: query.samplingLevel });
  // Both reads at one level, so the series add up to the totals (bar tags).
  const samplingLevel = overall.samplingLevel;
  const totals = spread(overall.points, starts.length, slot);
  if (!query.groupBy) return { bucketSeconds, samplingLevel, starts, totals, series: [] };

  const grouped = await reader.countOverTime({ ...base, samplingLevel, groupBy: query.groupBy });
  const byGroup = new Map<string | null, TimeCount[]>();
  for (const point of grouped.points) {
    const key = point.group ?? null;
    const points = byGroup.get(key);
    if (points) points.push(point);
    else byGroup.set(key, [point]);
  }
  const all = [...byGroup].map(([group, points]): TimelineSeries => {
    const counts = spread(points, starts.length, slot);
    return { group, counts, total: counts.reduce((sum, count) => sum + count, 0) };
  });
  all.sort((a, b) => b.total - a.total || compareGroups(a.group, b.group));
  const series = all.slice(0, query.topGroups);
  const other = new Array<number>(starts.length).fill(0);
  for (const rest of all.slice(query.topGroups)) rest.counts.forEach((count, i) => (other[i] += count));
  return { bucketSeconds, samplingLevel, starts, totals, series, other };
}

function spread(points: readonly TimeCount[], length: number, slot: (start: number) => number): number[] {
  const counts = new Array<number>(length).fill(0);
  for (const point of points) {
    const i = slot(point.start);
    if (i >= 0 && i < length) counts[i] += point.count;
  }
  return counts;
}

function compareGroups(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
