import type { BacklogStatus, StatusResponse } from '../../api/symbolization.ts';
import { getJson } from '../api.ts';
import { escapeHtml, formatCount } from '../format.ts';
import type { PageContext } from '../main.ts';

type Status = StatusResponse;

/** The symbolizer's queue: what waits for symbols, or why the store could not say (also on the storage page). */
export function backlogHtml(backlog: BacklogStatus, command?: string): string {
  const howTo =
    command === undefined
      ? ''
      : `<p class="muted">Symbols for an executable are added with
    <code class="command" id="upload-command">${escapeHtml(command)}</code></p>`;
  if (!backlog.available) {
    return `<p id="backlog-unavailable" class="notice">Backlog unavailable: ${escapeHtml(backlog.reason)}</p>${howTo}`;
  }
  const reasons = Object.entries(backlog.waitingByReason).sort((a, b) => b[1] - a[1]);
  return `<section class="cards" id="backlog">
      <div class="card"><div class="muted">Executables waiting for symbols</div><div class="big" id="backlog-pending-executables">${formatCount(backlog.pendingExecutables)}</div></div>
      <div class="card"><div class="muted">Frames waiting for symbols</div><div class="big" id="backlog-pending-frames">${formatCount(backlog.pendingFrames)}</div></div>
      <div class="card"><div class="muted">Executables with symbols</div><div class="big" id="backlog-symbolized-executables">${formatCount(backlog.symbolizedExecutables)}</div></div>
    </section>
    ${
      reasons.length === 0
        ? '<p class="muted">No executable is waiting for a retry.</p>'
        : `<table class="grid" id="backlog-reasons"><thead><tr><th>Waiting for a retry because</th><th class="num">Executables</th></tr></thead><tbody>${reasons
            .map(
              ([reason, count]) =>
                `<tr><td>${escapeHtml(reason)}</td><td class="num">${formatCount(count)}</td></tr>`,
            )
            .join('')}</tbody></table>`
    }${howTo}`;
}

function date(seconds: number | undefined): string {
  return seconds === undefined ? '—' : new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export function bytes(value: number | undefined): string {
  if (value === undefined) return '—';
  if (value >= 1 << 30) return `${(value / (1 << 30)).toFixed(2)} GiB`;
  if (value >= 1 << 20) return `${(value / (1 << 20)).toFixed(1)} MiB`;
  if (value >= 1024) return `${(value / 1024).toFixed(0)} KiB`;
  return `${value} B`;
}

export async function renderStatus({ root }: PageContext): Promise<void> {
  const status = await getJson<Status>('/api/status', new URLSearchParams());
  const s = status.stats;
  const cover = status.symbolization;
  const storage = status.storage.writable
    ? ''
    : `<p id="storage-problem" class="notice">Not storing new profiles: ${escapeHtml(status.storage.problem ?? 'the store refuses writes')}. Agents are told to retry; storing resumes by itself once the storage takes writes again.</p>`;
  root.innerHTML = `${storage}
    <section class="cards">
      <div class="card"><div class="muted">Events</div><div class="big" id="status-events">${formatCount(s.events)}</div></div>
      <div class="card"><div class="muted">Stack traces</div><div class="big">${formatCount(s.stackTraces)}</div></div>
      <div class="card"><div class="muted">Symbolized frames</div><div class="big">${formatCount(s.stackFrames)}</div></div>
      <div class="card"><div class="muted">Executables</div><div class="big">${formatCount(s.executables)}</div></div>
      <div class="card"><div class="muted">Hosts</div><div class="big">${formatCount(s.hosts)}</div></div>
      <div class="card"><div class="muted">On disk</div><div class="big">${bytes(s.bytesOnDisk)}</div></div>
    </section>
    <p>Events from <strong>${date(s.oldestEvent)}</strong> to <strong>${date(s.newestEvent)}</strong>.
      <a href="#/storage" id="storage-link">Storage explorer</a>: data per table, host and day, sampling, retention.</p>
    <h3>Symbolization (frames sampled in the last hour)</h3>
    <div class="meter"><span style="width:${(cover.coverage * 100).toFixed(1)}%"></span></div>
    <p>${formatCount(cover.symbolized)} of ${formatCount(cover.frames)} distinct functions/frames have symbols (${(cover.coverage * 100).toFixed(1)}%).</p>
    <h3>Symbolization backlog</h3>
    ${backlogHtml(status.symbolizer.backlog, status.symbolizer.command)}
    <h3>Hosts seen in the last 24 hours</h3>
    <table class="grid"><thead><tr><th>Host</th><th>ID</th><th>Address</th><th>OS</th><th>Arch</th><th>Agent</th><th>Last seen</th></tr></thead>
    <tbody>${status.hosts
      .map(
        (h) =>
          `<tr><td>${escapeHtml(h.hostName ?? '')}</td><td class="muted">${escapeHtml(h.hostId)}</td><td>${escapeHtml(h.hostIp ?? '')}</td><td>${escapeHtml([h.osType, h.osKernel].filter(Boolean).join(' '))}</td><td>${escapeHtml(h.arch ?? '')}</td><td>${escapeHtml(h.agentVersion ?? '')}</td><td>${date(h.lastSeen)}</td></tr>`,
      )
      .join('')}</tbody></table>
    <h3>Estimation factors</h3>
    <table class="grid"><tbody>${Object.entries(status.impactFactors)
      .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td class="num">${v}</td></tr>`)
      .join('')}</tbody></table>`;
}
