/**
 * Data whose counts per day and host are known, for the storage explorer's report (`Store.storage`) on both
 * stores: three hosts, three UTC days, written through each store's own write path.
 */
import assert from 'node:assert/strict';
import {
  SAMPLING_FREQUENCY_ATTRIBUTE,
  emptyBatch,
  type ProfileBatch,
  type ProfilingEvent,
} from '../../src/model/index.ts';
import type { StorageReport, Store } from '../../src/store/store.ts';
import { makeStack } from '../store-elasticsearch/helpers.ts';

const DAY = 86_400;
/** A UTC midnight. */
const DAY0 = Math.floor(1_760_000_000 / DAY) * DAY;
const HOSTS = [
  { hostId: 'host-a', hostName: 'alpha', hz: '19' },
  { hostId: 'host-b', hostName: 'beta', hz: '19' },
  { hostId: 'host-c', hostName: 'gamma', hz: '97' },
];

/** Day d, host h: (d + 1) * (h + 2) events, each of count h + 1, at distinct seconds over the day. */
export function knownBatch(): { batch: ProfileBatch; events: ProfilingEvent[] } {
  const batch = emptyBatch();
  const stacks = [0, 1, 2].map((i) => makeStack(i, 4).trace);
  batch.stackTraces.push(...stacks);
  for (const [h, host] of HOSTS.entries()) {
    for (let d = 0; d < 3; d++) {
      const n = (d + 1) * (h + 2);
      for (let i = 0; i < n; i++) {
        batch.events.push({
          timestamp: DAY0 + d * DAY + 3600 + i * 60 + h,
          stackTraceId: stacks[i % 3].id,
          count: h + 1,
          hostId: host.hostId,
          hostName: host.hostName,
          tags: [],
          projectId: 1,
        });
      }
    }
    batch.hosts.push({
      hostId: host.hostId,
      hostName: host.hostName,
      timestamp: DAY0 + 2 * DAY + 7200,
      projectId: 1,
      attributes: { [SAMPLING_FREQUENCY_ATTRIBUTE]: host.hz },
    });
  }
  return { batch, events: batch.events };
}

/** What the report must say for [from, to), computed from the events written. */
function expected(events: readonly ProfilingEvent[], from: number, to: number) {
  const inRange = events.filter((e) => e.timestamp >= from && e.timestamp < to);
  const days = new Map<number, { events: number; samples: number }>();
  const hosts = new Map<string, { events: number; samples: number; lastSeen: number; hostName?: string }>();
  for (const e of inRange) {
    const day = Math.floor(e.timestamp / DAY) * DAY;
    const d = days.get(day) ?? { events: 0, samples: 0 };
    d.events++;
    d.samples += e.count;
    days.set(day, d);
    const h = hosts.get(e.hostId) ?? { events: 0, samples: 0, lastSeen: 0, hostName: e.hostName };
    h.events++;
    h.samples += e.count;
    h.lastSeen = Math.max(h.lastSeen, e.timestamp);
    hosts.set(e.hostId, h);
  }
  return {
    days: [...days].sort(([a], [b]) => a - b).map(([day, v]) => ({ day, ...v })),
    hosts: [...hosts]
      .map(([hostId, v]) => ({
        hostId,
        hostName: v.hostName,
        events: v.events,
        samples: v.samples,
        lastSeen: v.lastSeen,
      }))
      .sort((a, b) => b.samples - a.samples || a.hostId.localeCompare(b.hostId)),
  };
}

function checkReport(
  report: StorageReport,
  events: readonly ProfilingEvent[],
  from: number,
  to: number,
  eventsArea: string,
) {
  const want = expected(events, from, to);
  assert.deepEqual(
    report.days.map(({ estimatedBytes: _, ...day }) => day),
    want.days,
  );
  assert.deepEqual(report.hosts, want.hosts);
  assert.deepEqual(report.samplingFrequencies, [
    { hz: 19, hosts: 2 },
    { hz: 97, hosts: 1 },
  ]);
  const area = report.areas.find((a) => a.name === eventsArea);
  assert.equal(area?.rows, events.length, `${eventsArea} holds every event`);
  assert.equal(report.samplingLevels[0].level, 0);
  assert.equal(report.samplingLevels[0].events, events.length);
  for (const level of report.samplingLevels) assert.ok(level.events > 0);
}

export async function checkStore(
  store: Store,
  events: readonly ProfilingEvent[],
  eventsArea: string,
): Promise<StorageReport> {
  const whole = await store.storage({ from: DAY0 - DAY, to: DAY0 + 4 * DAY });
  checkReport(whole, events, DAY0 - DAY, DAY0 + 4 * DAY, eventsArea);
  assert.equal(whole.days.length, 3);
  // Every event is in the range: the days' estimates share out exactly what the event tables take.
  const eventBytes = whole.areas
    .filter((a) => a.name.startsWith(eventsArea.replace(/all$/, '')))
    .reduce((sum, a) => sum + (a.bytes ?? 0), 0);
  const dayBytes = whole.days.reduce((sum, d) => sum + (d.estimatedBytes ?? 0), 0);
  assert.ok(eventBytes > 0);
  assert.ok(Math.abs(dayBytes - eventBytes) <= whole.days.length, `${dayBytes} vs ${eventBytes}`);
  const [first, , last] = whole.days;
  assert.ok(last.estimatedBytes! > first.estimatedBytes!, 'a day with more events takes more');
  // A range cutting the middle day in two: days and hosts count only what is inside.
  const part = await store.storage({ from: DAY0 + DAY + 3600 + 120, to: DAY0 + 2 * DAY + 3600 + 60 });
  checkReport(part, events, DAY0 + DAY + 3600 + 120, DAY0 + 2 * DAY + 3600 + 60, eventsArea);
  assert.equal(part.days.length, 2);
  return whole;
}
