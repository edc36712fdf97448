import type { StorageResponse } from '../../api/storage.ts';
import { getJson } from '../api.ts';
import { escapeHtml, formatPercent } from '../format.ts';
import type { PageContext } from '../main.ts';
import { backlogHtml, bytes } from './status.ts';

/** Counts on this page are exact (an operator compares them with what they deleted or expect). */
function exact(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function day(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

function time(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** A cell with a bar behind its text, as long as the value's share of the largest. */
function barCell(text: string, share: number): string {
  return `<td class="num bar-cell"><span class="bar" style="width:${(share * 100).toFixed(1)}%"></span><span>${text}</span></td>`;
}

function areasHtml(report: StorageResponse): string {
  const largest = Math.max(1, ...report.areas.map((a) => a.bytes ?? 0));
  const totalBytes = report.areas.reduce((sum, a) => sum + (a.bytes ?? 0), 0);
  return `<table class="grid" id="storage-areas"><thead><tr><th>Table / index</th><th class="num">Rows</th><th class="num">Size</th><th class="num">Share</th></tr></thead><tbody>${[
    ...report.areas,
  ]
    .sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0) || a.name.localeCompare(b.name))
    .map(
      (area) =>
        `<tr data-area="${escapeHtml(area.name)}"><td class="fn">${escapeHtml(area.name)}</td><td class="num rows">${exact(area.rows)}</td>${barCell(
          bytes(area.bytes),
          (area.bytes ?? 0) / largest,
        )}<td class="num">${formatPercent(area.bytes ?? 0, totalBytes)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function hostsHtml(report: StorageResponse): string {
  if (report.hosts.length === 0) return '<p class="muted">No host sent data in this range.</p>';
  const total = report.hosts.reduce((sum, h) => sum + h.samples, 0);
  const largest = Math.max(1, ...report.hosts.map((h) => h.samples));
  return `<table class="grid" id="storage-hosts"><thead><tr><th>Host</th><th>ID</th><th class="num">Events</th><th class="num">Samples</th><th class="num">Share</th><th>Last seen</th></tr></thead><tbody>${report.hosts
    .map(
      (h) =>
        `<tr data-host="${escapeHtml(h.hostId)}"><td>${escapeHtml(h.hostName ?? '')}</td><td class="muted">${escapeHtml(h.hostId)}</td><td class="num events">${exact(h.events)}</td>${barCell(
          `<span class="samples">${exact(h.samples)}</span>`,
          h.samples / largest,
        )}<td class="num share">${formatPercent(h.samples, total)}</td><td class="last-seen">${time(h.lastSeen)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function daysHtml(report: StorageResponse): string {
  if (report.days.length === 0) return '<p class="muted">No events in this range.</p>';
  const largest = Math.max(1, ...report.days.map((d) => d.samples));
  return `<table class="grid" id="storage-days"><thead><tr><th>Day (UTC)</th><th class="num">Events</th><th class="num">Samples</th><th class="num" title="The event tables' size shared out by each day's share of the events">≈ Size</th></tr></thead><tbody>${report.days
    .map(
      (d) =>
        `<tr data-day="${d.day}"><td>${day(d.day)}</td><td class="num events">${exact(d.events)}</td>${barCell(
          `<span class="samples">${exact(d.samples)}</span>`,
          d.samples / largest,
        )}<td class="num size">${bytes(d.estimatedBytes)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function samplingHtml(report: StorageResponse): string {
  const levels = report.samplingLevels
    .map(
      (l) =>
        `<tr data-level="${l.level}"><td>${l.level === 0 ? 'all events' : `5<sup>${l.level}</sup> (1 in ${exact(5 ** l.level)})`}</td><td class="num events">${exact(l.events)}</td></tr>`,
    )
    .join('');
  const frequencies =
    report.samplingFrequencies.length === 0
      ? '<p class="muted">No agent has reported its sampling frequency.</p>'
      : `<table class="grid" id="storage-frequencies"><thead><tr><th>Agent sampling frequency</th><th class="num">Hosts</th></tr></thead><tbody>${report.samplingFrequencies
          .map(
            (f) =>
              `<tr data-hz="${f.hz}"><td>${f.hz} Hz</td><td class="num hosts">${exact(f.hosts)}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<table class="grid" id="storage-levels"><thead><tr><th>Downsampling level</th><th class="num">Events stored</th></tr></thead><tbody>${levels}</tbody></table>${frequencies}`;
}

/** What the per-table sizes cover: DuckDB's checkpointed blocks, not what still waits in its write-ahead log. */
function sizeNote(report: StorageResponse): string {
  const tables = report.areas.reduce((sum, a) => sum + (a.bytes ?? 0), 0);
  if (report.totalBytes === undefined) return 'This store does not say how much it takes on disk.';
  return `Tables and indices take ${bytes(tables)} of the ${bytes(report.totalBytes)} on disk; the rest is
    free or reclaimable space, metadata, and (embedded store) data in the write-ahead log not yet checkpointed.`;
}

/** The storage explorer: where the data is, whose it is, from when, and how long it stays. */
export async function renderStorage({ root }: PageContext): Promise<void> {
  const report = await getJson<StorageResponse>('/api/storage', new URLSearchParams());
  const events = report.days.reduce((sum, d) => sum + d.events, 0);
  const samples = report.days.reduce((sum, d) => sum + d.samples, 0);
  const retention = report.retention.days === null ? 'kept for ever' : `${report.retention.days} days`;
  root.innerHTML = `
    <section class="cards">
      <div class="card"><div class="muted">On disk</div><div class="big" id="storage-total-bytes">${bytes(report.totalBytes)}</div></div>
      <div class="card"><div class="muted">Retention</div><div class="big" id="storage-retention">${escapeHtml(retention)}</div></div>
      <div class="card"><div class="muted">Hosts in range</div><div class="big" id="storage-host-count">${exact(report.hosts.length)}</div></div>
      <div class="card"><div class="muted">Events in range</div><div class="big" id="storage-events">${exact(events)}</div></div>
      <div class="card"><div class="muted">Samples in range</div><div class="big" id="storage-samples">${exact(samples)}</div></div>
    </section>
    <p class="muted" id="storage-size-note">${sizeNote(report)}</p>
    <p class="muted">Range ${day(report.from)} – ${day(report.to)} (UTC). Old data is deleted by
      <span id="storage-retention-by">${escapeHtml(report.retention.enforcedBy)}</span>.</p>
    <div class="storage-columns">
      <div><h3>Data per table / index</h3>${areasHtml(report)}</div>
      <div><h3>Data per day</h3>${daysHtml(report)}</div>
    </div>
    <h3>Data per host</h3>${hostsHtml(report)}
    <div class="storage-columns">
      <div><h3>Sampling in use</h3>${samplingHtml(report)}</div>
      <div><h3>Symbolization backlog</h3>${backlogHtml(report.symbolization)}</div>
    </div>`;
}
