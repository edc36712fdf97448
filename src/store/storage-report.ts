import { SAMPLING_FREQUENCY_ATTRIBUTE, type HostMetadata } from '../model/index.ts';
import type { StorageReport } from './store.ts';

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
