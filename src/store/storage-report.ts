import { SAMPLING_FREQUENCY_ATTRIBUTE, type HostMetadata } from '../model/index.ts';
import type { StorageArea, StorageReport } from './store.ts';

/** Hosts per sampling frequency their latest report names, lowest frequency first. */
export function samplingFrequencies(hosts: readonly HostMetadata[]): StorageReport['samplingFrequencies'] {
  const counts = new Map<number, number>();
  for (const host of hosts) {
    const hz = Number(host.attributes[SAMPLING_FREQUENCY_ATTRIBUTE]);
    if (Number.isFinite(hz) && hz > 0) counts.set(hz, (counts.get(hz) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a - b).map(([hz, count]) => ({ hz, hosts: count }));
}

export const SECONDS_PER_DAY = 86_400;

/**
 * Each day's share of the events' bytes: what all event tables (or indices) take, times the day's events over
 * all events stored. An estimate (every event counted as the same size), but it shows what a day costs.
 */
export function withDayBytes(
  days: StorageReport['days'],
  areas: readonly StorageArea[],
  isEvents: (name: string) => boolean,
  totalEvents: number,
): StorageReport['days'] {
  const eventBytes = areas.filter((a) => isEvents(a.name)).reduce((sum, a) => sum + (a.bytes ?? 0), 0);
  if (totalEvents <= 0 || eventBytes <= 0) return days;
  return days.map((day) => ({ ...day, estimatedBytes: Math.round((eventBytes * day.events) / totalEvents) }));
}
