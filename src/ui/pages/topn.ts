import type { TopNFunction, TopNResponse } from '../../query/topn.ts';
import { getJson } from '../api.ts';
import { showFunctionDetails } from '../frame-details.ts';
import {
  escapeHtml,
  formatCo2,
  formatCount,
  formatPercent,
  formatSeconds,
  formatUsd,
  frameKind,
  samplingNote,
} from '../format.ts';
import { sandwichUrl } from '../flamegraph-actions.ts';
import type { PageContext } from '../main.ts';
import { emptyStateHtml } from './setup.ts';
import { QUERY_KEYS, apiParams, updateState } from '../state.ts';
import { missingSymbolsDetails, sourcePosition } from '../symbols.ts';
import { fetchTimeline, renderTimeline } from '../timeline-chart.ts';

/** The function cell: name, inline marker, then where it is, or that its symbols are missing and how to add them. */
function functionCell(f: TopNFunction): string {
  const inline = f.frame.inline ? ' <span class="inline-marker">inlined</span>' : '';
  if (f.missing_symbols) return `${escapeHtml(f.label)}${inline}${missingSymbolsDetails(f.missing_symbols)}`;
  const where = [sourcePosition(f.frame.file_name, f.frame.line_number), f.frame.executable_file_name]
    .filter(Boolean)
    .map(escapeHtml);
  // Kernel and interpreted frames without names: no upload helps, but say that the name is missing.
  if (!f.symbolized && f.frame.frame_type < 0x100)
    where.unshift('<span class="nosym">symbols not available</span>');
  const detail = where.length > 0 ? `<div class="src muted">${where.join(' · ')}</div>` : '';
  return `${escapeHtml(f.label)}${inline}${detail}`;
}

type Column = { key: string; title: string; value: (f: TopNFunction) => number | string; numeric: boolean };

const COLUMNS: Column[] = [
  { key: 'rank', title: 'Rank', value: (f) => f.rank, numeric: true },
  { key: 'function', title: 'Function', value: (f) => f.label, numeric: false },
  { key: 'type', title: 'Type', value: (f) => frameKind(f.frame.frame_type), numeric: false },
  { key: 'self', title: 'Self', value: (f) => f.self_count, numeric: true },
  { key: 'total', title: 'Total', value: (f) => f.total_count, numeric: true },
  { key: 'co2', title: 'Annual CO₂ (total)', value: (f) => f.total_annual_co2_tons, numeric: true },
  { key: 'cost', title: 'Annual cost (total)', value: (f) => f.total_annual_costs_usd, numeric: true },
];

export async function renderTopN({ root, params }: PageContext): Promise<void> {
  const query = apiParams(params, QUERY_KEYS);
  query.set('limit', params.get('limit') ?? '500');
  const [data, line] = await Promise.all([
    getJson<TopNResponse>('/api/topn/functions', query),
    fetchTimeline(params),
  ]);
  const sortKey = params.get('sort') ?? 'self';
  const direction = params.get('dir') === 'asc' ? 1 : -1;
  const column = COLUMNS.find((c) => c.key === sortKey) ?? COLUMNS[3];
  const rows = [...data.topn].sort((a, b) => {
    const x = column.value(a);
    const y = column.value(b);
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return order * direction || a.rank - b.rank;
  });
  const total = data.total_count;
  const perSample = data.impact_per_sample;
  root.innerHTML = `
    <section id="timeline" class="timeline"></section>
    ${total === 0 ? emptyStateHtml() : ''}
    <div class="summary">
      <span><strong>${formatCount(total)}</strong> samples</span>
      <span>${data.topn.length} functions</span>
      <span class="muted">${escapeHtml(samplingNote(data.sampling))}</span>
    </div>
    <table class="grid" id="topn-table">
      <thead><tr>${COLUMNS.map(
        (c) =>
          `<th data-sort="${c.key}" class="${c.numeric ? 'num' : ''}${c.key === column.key ? ' sorted' : ''}">${escapeHtml(c.title)}${
            c.key === column.key ? (direction < 0 ? ' ▼' : ' ▲') : ''
          }</th>`,
      ).join('')}<th></th></tr></thead>
      <tbody>${rows
        .map(
          (f) => `<tr data-key="${escapeHtml(f.id)}" tabindex="0">
            <td class="num">${f.rank}</td>
            <td class="fn">${functionCell(f)}</td>
            <td>${escapeHtml(frameKind(f.frame.frame_type))}</td>
            <td class="num">${formatCount(f.self_count)} <span class="muted">${formatPercent(f.self_count, total)} · ${formatSeconds(f.self_count * perSample.cpuSeconds)}</span></td>
            <td class="num">${formatCount(f.total_count)} <span class="muted">${formatPercent(f.total_count, total)}</span></td>
            <td class="num">${formatCo2(f.total_annual_co2_tons)}</td>
            <td class="num">${formatUsd(f.total_annual_costs_usd)}</td>
            <td><a class="sandwich-link" href="${escapeHtml(sandwichUrl(params, f.id))}" title="Callers and callees of this function">callers/callees</a></td>
          </tr>`,
        )
        .join('')}</tbody>
    </table>`;
  renderTimeline(root.querySelector<HTMLElement>('#timeline')!, line);
  // A function row opens its details; the missing-symbols disclosure inside a row keeps its own click.
  const openRow = (row: HTMLElement | null, event: Event) => {
    const target = event.target as HTMLElement;
    if (!row?.dataset.key || target.closest('.nosym-details') || target.closest('a')) return;
    void showFunctionDetails(params, row.dataset.key, row);
  };
  const tbody = root.querySelector<HTMLElement>('#topn-table tbody')!;
  tbody.addEventListener('click', (event) =>
    openRow((event.target as HTMLElement).closest<HTMLElement>('tr[data-key]'), event),
  );
  tbody.addEventListener('keydown', (event) => {
    if (event.key === 'Enter')
      openRow((event.target as HTMLElement).closest<HTMLElement>('tr[data-key]'), event);
  });
  root.querySelectorAll<HTMLElement>('th[data-sort]').forEach((th) =>
    th.addEventListener('click', () => {
      const key = th.dataset.sort!;
      const dir =
        key === column.key
          ? direction < 0
            ? 'asc'
            : 'desc'
          : key === 'function' || key === 'type'
            ? 'asc'
            : 'desc';
      updateState({ sort: key, dir });
    }),
  );
}
