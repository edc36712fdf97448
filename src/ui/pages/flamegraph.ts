import { getJson, type CompactFlamegraph } from '../api.ts';
import { LEGEND, frameColor } from '../colors.ts';
import { appendActionParams, dropUnknownFocus, mountActionsBar } from '../flamegraph-actions.ts';
import { frameDetailsPanel } from '../frame-details.ts';
import { FlameGraphView } from '../flamegraph-view.ts';
import { escapeHtml, formatCount, formatPercent, samplingNote } from '../format.ts';
import type { PageContext } from '../main.ts';
import { emptyStateHtml } from './setup.ts';
import { QUERY_KEYS, apiParams, updateState } from '../state.ts';
import { fetchTimeline, renderTimeline } from '../timeline-chart.ts';

const GROUP_OPTIONS: [string, string][] = [
  ['', 'none'],
  ['process.executable.name', 'executable'],
  ['process.thread.name', 'thread'],
  ['host.name', 'host'],
  ['container.name', 'container'],
  ['service.name', 'service'],
];

export function legendHtml(): string {
  return LEGEND.map(
    ([name, type]) =>
      `<span class="swatch" style="background:${frameColor(type, '')}"></span>${escapeHtml(name)}`,
  ).join(' ');
}

/** Search box, reset button and the canvas, shared by the flamegraph and differential pages. */
export function mountFlamegraph(
  container: HTMLElement,
  tooltip: HTMLElement,
  graph: CompactFlamegraph,
  params: URLSearchParams,
  /** The API request the graph came from, offered as the JSON export. */
  jsonUrl: string,
): FlameGraphView {
  container.insertAdjacentHTML(
    'beforeend',
    `<div class="toolbar">
       <input id="search" type="search" placeholder="Search functions (text or /regex/)" value="${escapeHtml(params.get('search') ?? '')}">
       <button type="button" id="reset">Reset zoom</button>
       <span id="search-result" class="muted"></span>
       <span class="exports">Export
         <a id="export-json" href="${escapeHtml(jsonUrl)}" download="uniprof-flamegraph.json">JSON</a>
         <button type="button" id="export-svg">SVG</button>
         <button type="button" id="export-png">PNG</button>
       </span>
     </div>
     <div class="graph-container" id="graph"></div>`,
  );
  const view = new FlameGraphView(container.querySelector<HTMLElement>('#graph')!, tooltip);
  view.setData(graph);
  const searchInput = container.querySelector<HTMLInputElement>('#search')!;
  // A clicked frame (or one chosen with Enter) is zoomed to and its details open beside the graph.
  const details = frameDetailsPanel();
  view.onActivate = (node) =>
    node > 0 ? details.show(graph, node, { returnFocus: view.canvas }) : details.close();
  view.onEscape = () => (details.isOpen ? details.close() : view.resetZoom());
  view.onSearchKey = () => searchInput.focus();
  const result = container.querySelector<HTMLElement>('#search-result')!;
  const runSearch = () => {
    const term = searchInput.value;
    const matched = view.search(term);
    result.textContent = term.trim()
      ? `${formatCount(matched)} samples match (${formatPercent(matched, graph.nodes.total[0])})`
      : '';
  };
  let timer: number | undefined;
  searchInput.addEventListener('input', () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      runSearch();
      // Kept in the URL without reloading the page: replaceState does not fire hashchange.
      const url = new URL(location.href);
      const [page, query = ''] = url.hash.replace(/^#\/?/, '').split('?', 2);
      const next = new URLSearchParams(query);
      if (searchInput.value) next.set('search', searchInput.value);
      else next.delete('search');
      history.replaceState(null, '', `#/${page}${next.size ? `?${next.toString()}` : ''}`);
    }, 120);
  });
  container.querySelector('#reset')!.addEventListener('click', () => {
    view.resetZoom();
    details.close();
  });
  container
    .querySelector('#export-svg')!
    .addEventListener('click', () =>
      download(new Blob([view.toSvg()], { type: 'image/svg+xml' }), 'uniprof-flamegraph.svg'),
    );
  container.querySelector('#export-png')!.addEventListener('click', () => {
    void view.toPng().then((png) => download(png, 'uniprof-flamegraph.png'));
  });
  if (searchInput.value) runSearch();
  return view;
}

/** Saves a file the page made (an export) through the browser's download. */
function download(blob: Blob, name: string): void {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

export async function renderFlamegraph({ root, params, tooltip }: PageContext): Promise<void> {
  const query = apiParams(params, [...QUERY_KEYS, 'groupBy']);
  appendActionParams(params, query);
  const started = performance.now();
  const [graph, line] = await Promise.all([
    getJson<CompactFlamegraph>('/api/flamegraph', query).catch(dropUnknownFocus(params)),
    fetchTimeline(params),
  ]);
  const fetched = performance.now();
  const groupBy = params.get('groupBy') ?? '';
  root.innerHTML = `
    <section id="timeline" class="timeline"></section>
    ${graph.totalCount === 0 ? emptyStateHtml() : ''}
    <div class="summary">
      <span><strong>${formatCount(graph.totalCount)}</strong> samples</span>
      <span>${formatCount(graph.size)} nodes</span>
      <span class="muted">${escapeHtml(samplingNote(graph.sampling))}</span>
      <label>Group by <select id="group-by">${GROUP_OPTIONS.map(
        ([value, name]) => `<option value="${value}"${value === groupBy ? ' selected' : ''}>${name}</option>`,
      ).join('')}</select></label>
      <a id="pprof" href="/api/pprof?${query.toString()}" download>Download pprof</a>
      <span class="legend">${legendHtml()}</span>
    </div>`;
  renderTimeline(root.querySelector<HTMLElement>('#timeline')!, line);
  root.querySelector<HTMLSelectElement>('#group-by')!.addEventListener('change', (event) => {
    updateState({ groupBy: (event.target as HTMLSelectElement).value });
  });
  const view = mountFlamegraph(root, tooltip, graph, params, `/api/flamegraph?${query.toString()}`);
  mountActionsBar(root, graph, params);
  const painted = performance.now();
  view.canvas.dataset.firstPaintMs = (painted - fetched).toFixed(1);
  view.canvas.dataset.fetchMs = (fetched - started).toFixed(1);
}
