/**
 * 5^N downsampling. Level 0 holds every event; each unit of count at level N reaches level N+1 with
 * probability 1/5, so level N holds about 1/5^N of the counts. Applying the coin to each unit, not to the
 * aggregate, keeps the estimate unbiased for any count.
 */
export const SAMPLING_FACTOR = 5;
export const MAX_SAMPLING_LEVEL = 11;
/** Fewest events a query wants to read from a level before the estimate is good enough. */
export const TARGET_EVENTS_PER_QUERY = 20_000;

export type RandomSource = () => number;

/**
 * Counts for levels 1..MAX_SAMPLING_LEVEL, stopping at the first zero (an event that drops out of a level
 * is in none deeper). Index 0 of the result is level 1. A writer that handles events by the million passes
 * the same `into` each time (it is emptied first) instead of getting a new array per event.
 */
export function downsampledCounts(count: number, random: RandomSource, into: number[] = []): number[] {
  const counts = into;
  counts.length = 0;
  let current = count;
  for (let level = 1; level <= MAX_SAMPLING_LEVEL; level++) {
    let next = 0;
    for (let i = 0; i < current; i++) if (random() < 1 / SAMPLING_FACTOR) next++;
    if (next === 0) break;
    counts.push(next);
    current = next;
  }
  return counts;
}

export function samplingScale(level: number): number {
  return SAMPLING_FACTOR ** level;
}

/**
 * The shallowest level whose expected event count for the range is still at most `target` × factor, given
 * how many events level 0 holds for it. Reading one level shallower would read ≥ 5× more rows than needed.
 */
export function chooseSamplingLevel(eventsAtLevelZero: number, target = TARGET_EVENTS_PER_QUERY): number {
  let level = 0;
  while (level < MAX_SAMPLING_LEVEL && eventsAtLevelZero / samplingScale(level + 1) >= target) level++;
  return level;
}

/** A small, fast, seedable PRNG (mulberry32): downsampling needs speed and repeatability, not secrecy. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
