import type { SandwichResponse } from '../../query/sandwich.ts';
import type { TopNResponse } from '../../query/topn.ts';
import { getJson } from '../api.ts';
import { focusUrl, sandwichUrl, viewParams } from '../flamegraph-actions.ts';
import { FlameGraphView, searchTest } from '../flamegraph-view.ts';
import { escapeHtml, formatCount, formatPercent, frameKind, samplingNote } from '../format.ts';
import type { PageContext } from '../main.ts';
import { QUERY_KEYS, apiParams, stateUrl } from '../state.ts';
import { sourcePosition } from '../symbols.ts';
import { legendHtml } from './flamegraph.ts';

/** How many functions the picker lists at once (the search narrows the rest). */
const PICKER_ROWS = 50;

/**
 * Without `frame`: what the view shows and a searchable list of the top functions to pick one from.
 */
async function renderPicker(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const query = apiParams(params, QUERY_KEYS);
  query.set('limit', '2000');
  const top = await getJson<TopNResponse>('/api/topn/functions', query);
  const functions = [...top.topn].sort((a, b) => b.total_count - a.total_count);
  root.innerHTML = `
    <div class="notice sandwich-howto">
      <strong>Callers and callees</strong> of one function, merged over every place it runs in the selected
      range: who calls it (its callers, below it) and what it calls (its callees). Pick a function below, or
      use the <em>callers/callees</em> link in Top functions or on a clicked frame of the flamegraph.
    </div>
    <div class="toolbar">
      <input id="sandwich-pick" type="search" placeholder="Find a function (text or /regex/)" autofocus>
      <span id="sandwich-count" class="muted"></span>
    </div>
    <table class="grid" id="sandwich-functions">
      <thead><tr><th>Function</th><th>Type</th><th class="num">Total</th><th class="num">Self</th></tr></thead>
      <tbody></tbody>
    </table>`;
  const input = root.querySelector<HTMLInputElement>('#sandwich-pick')!;
  const body = root.querySelector<HTMLElement>('#sandwich-functions tbody')!;
  const count = root.querySelector<HTMLElement>('#sandwich-count')!;
  const show = () => {
    const test = searchTest(input.value.trim());
    const matching = functions.filter((f) => test(f.label));
    count.textContent = `${matching.length} of ${functions.length} functions`;
    body.innerHTML = matching
      .slice(0, PICKER_ROWS)
      .map(
        (f) => `<tr>
          <td class="fn"><a href="${escapeHtml(sandwichUrl(params, f.id))}">${escapeHtml(f.label)}</a></td>
          <td>${escapeHtml(frameKind(f.frame.frame_type))}</td>
          <td class="num">${formatCount(f.total_count)} <span class="muted">${formatPercent(f.total_count, top.total_count)}</span></td>
          <td class="num">${formatCount(f.self_count)}</td>
        </tr>`,
      )
      .join('');
  };
  input.addEventListener('input', show);
  show();
}

/** One of the two trees: a heading, its reset button and a flamegraph view. */
function mountTree(
  section: HTMLElement,
  tooltip: HTMLElement,
  graph: SandwichResponse['callers'],
  params: URLSearchParams,
): FlameGraphView {
  const view = new FlameGraphView(section.querySelector<HTMLElement>('.graph-container')!, tooltip);
  view.setData(graph);
  const selected = section.querySelector<HTMLElement>('.selected-frame')!;
  section.querySelector('.reset')!.addEventListener('click', () => view.resetZoom());
  // A clicked frame offers to become the sandwich's function, or the flamegraph's focus.
  view.onChange = () => {
    const node = view.focusedNode;
    const frame = node > 0 ? graph.nodes.frame[node] : -1;
    if (frame < 0 || graph.frames.frameType[frame] >= 0x100) {
      selected.innerHTML = '';
      return;
    }
    const key = graph.frames.key[frame];
    selected.innerHTML = `${escapeHtml(graph.frames.label[frame])}:
      <a class="recenter" href="${escapeHtml(sandwichUrl(params, key))}">its callers/callees</a> ·
      <a href="${escapeHtml(focusUrl(params, key))}">focus in flamegraph</a>`;
  };
  return view;
}

export async function renderSandwich({ root, params, tooltip }: PageContext): Promise<void> {
  const frame = params.get('frame');
  if (!frame) return renderPicker(root, params);
  const query = apiParams(params, QUERY_KEYS);
  query.set('frame', frame);
  const started = performance.now();
  const data = await getJson<SandwichResponse>('/api/sandwich', query);
  const fetched = performance.now();
  const f = data.frame;
  const where = [sourcePosition(f.sourceFile, f.sourceLine), f.executable].filter(Boolean).join(' · ');
  const name = escapeHtml(f.label);
  root.innerHTML = `
    <div class="summary sandwich-summary">
      <span><strong id="sandwich-function">${name}</strong> <span class="muted">${escapeHtml(frameKind(f.frameType))}${where ? ` · ${escapeHtml(where)}` : ''}</span></span>
      <span>total <strong id="sandwich-total" data-count="${data.total}">${formatCount(data.total)}</strong> (${formatPercent(data.total, data.profileTotal)})</span>
      <span>self <strong id="sandwich-self">${formatCount(data.self)}</strong> (${formatPercent(data.self, data.profileTotal)})</span>
      <span class="muted">${escapeHtml(samplingNote(data.callees.sampling))}</span>
      <a href="${escapeHtml(focusUrl(params, f.key))}">Focus in flamegraph</a>
      <a id="sandwich-other" href="${escapeHtml(stateUrl('sandwich', viewParams(params)))}">Other function</a>
    </div>
    <div class="toolbar">
      <input id="search" type="search" placeholder="Search both trees (text or /regex/)">
      <span id="search-result" class="muted"></span>
      <span class="legend">${legendHtml()}</span>
    </div>
    <section class="sandwich-tree" id="callers">
      <h3>Callers <span class="muted">— who calls ${name} (it on top, its callers below)</span>
        <button type="button" class="reset">Reset zoom</button> <span class="selected-frame"></span></h3>
      <div class="graph-container"></div>
    </section>
    <section class="sandwich-tree" id="callees">
      <h3>Callees <span class="muted">— what ${name} calls, merged over all its calls</span>
        <button type="button" class="reset">Reset zoom</button> <span class="selected-frame"></span></h3>
      <div class="graph-container"></div>
    </section>`;
  const callers = mountTree(root.querySelector<HTMLElement>('#callers')!, tooltip, data.callers, params);
  const callees = mountTree(root.querySelector<HTMLElement>('#callees')!, tooltip, data.callees, params);
  const search = root.querySelector<HTMLInputElement>('#search')!;
  const result = root.querySelector<HTMLElement>('#search-result')!;
  search.addEventListener('input', () => {
    const term = search.value;
    const inCallers = callers.search(term);
    const inCallees = callees.search(term);
    result.textContent = term.trim()
      ? `callers: ${formatCount(inCallers)} samples, callees: ${formatCount(inCallees)} samples match`
      : '';
  });
  callees.canvas.dataset.fetchMs = (fetched - started).toFixed(1);
  callees.canvas.dataset.firstPaintMs = (performance.now() - fetched).toFixed(1);
}
