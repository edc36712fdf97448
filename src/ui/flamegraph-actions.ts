import { ApiError, type CompactFlamegraph } from './api.ts';
import { escapeHtml } from './format.ts';
import { readState, stateUrl, updateState } from './state.ts';

/**
 * Flamegraph actions (focus, hide, collapse, invert) live in the URL like every view setting and are applied
 * by the server (`/api/flamegraph` takes the same parameters), so the JSON and pprof exports and API users see
 * the tree the page shows. `hide` and `collapse` repeat (`hide=a&hide=b`): frame keys may contain commas.
 */
export const ACTION_KEYS = ['focus', 'hide', 'collapse', 'invert'] as const;

/** The range, filter and sampling parameters a link to another view of the same data keeps. */
const VIEW_KEYS = ['from', 'to', 'filter', 'frameTypes', 'samplingLevel'];

/** Copies the actions of the page's parameters into an API request's. */
export function appendActionParams(params: URLSearchParams, query: URLSearchParams): void {
  for (const key of ACTION_KEYS) for (const value of params.getAll(key)) if (value) query.append(key, value);
}

/** The parameters of `params` that select the data (range, filter, sampling), without view settings. */
export function viewParams(params: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const name of VIEW_KEYS) {
    const value = params.get(name);
    if (value) out.set(name, value);
  }
  return out;
}

/** `#/sandwich?…&frame=<key>`: the callers and callees of a function, over the same range and filter. */
export function sandwichUrl(params: URLSearchParams, key: string): string {
  const out = viewParams(params);
  out.set('frame', key);
  return stateUrl('sandwich', out);
}

/** `#/flamegraph?…&focus=<key>`. */
export function focusUrl(params: URLSearchParams, key: string): string {
  const out = viewParams(params);
  out.set('focus', key);
  return stateUrl('flamegraph', out);
}

/**
 * A readable name for a frame key when the frame is not in the graph (a hidden one): symbolized keys end in
 * the function name, unsymbolized ones hold the executable (or file) and address.
 */
export function labelOfKey(key: string, graph?: CompactFlamegraph): string {
  const index = graph?.frames.key.indexOf(key) ?? -1;
  if (graph && index >= 0) return graph.frames.label[index];
  const parts = key.split('|');
  if (parts[0] === 's' && parts.length >= 6) return parts.slice(5).join('|') || key;
  if (parts[0] === 'u' && parts.length >= 5) {
    const address = Number(parts[3]);
    return `${parts[4] || `file ${parts[2].slice(0, 8)}`}+0x${Number.isFinite(address) ? address.toString(16) : parts[3]}`;
  }
  return key;
}

/** `params` with one value of a repeated parameter added or removed. */
function withValue(params: URLSearchParams, name: string, value: string, add: boolean): URLSearchParams {
  const out = new URLSearchParams(params);
  const values = out.getAll(name).filter((v) => v !== value);
  if (add) values.push(value);
  out.delete(name);
  for (const v of values) out.append(name, v);
  return out;
}

/** Removes one value of a repeated parameter and navigates (the page re-renders from the URL). */
function removeParam(name: string, value: string): void {
  const { page, params } = readState();
  location.hash = stateUrl(page, withValue(params, name, value, false));
}

/**
 * Applies an action to a frame: on the flamegraph over the actions already there, from another page (top
 * functions, stacks) on a flamegraph of the same data.
 */
export function applyFrameAction(action: 'focus' | 'hide' | 'collapse', key: string): void {
  const { page, params } = readState();
  const base = page === 'flamegraph' ? params : viewParams(params);
  if (action === 'focus') base.set('focus', key);
  location.hash = stateUrl('flamegraph', action === 'focus' ? base : withValue(base, action, key, true));
}

/**
 * A focus on a function the new range or filter does not contain answers 404: drop the focus and show the
 * whole graph rather than an error the user cannot act on from the page.
 */
export function dropUnknownFocus(params: URLSearchParams): (error: unknown) => never {
  return (error) => {
    if (error instanceof ApiError && error.status === 404 && params.get('focus')) {
      updateState({ focus: undefined });
    }
    throw error;
  };
}

function chip(kind: string, title: string, value: string, label: string): string {
  return `<span class="chip" data-action="${kind}" data-key="${escapeHtml(value)}">${escapeHtml(title)}: <strong>${escapeHtml(label)}</strong>
    <button type="button" class="chip-remove" title="Remove" aria-label="Remove ${escapeHtml(title.toLowerCase())} ${escapeHtml(label)}">×</button></span>`;
}

/**
 * The bar above the flamegraph: the active actions as removable chips and the Invert toggle. Actions on a
 * frame are offered by its details panel (frame-details.ts), which opens on a click.
 */
export function mountActionsBar(
  container: HTMLElement,
  graph: CompactFlamegraph,
  params: URLSearchParams,
): void {
  const focus = params.get('focus');
  const inverted = params.get('invert') === '1';
  const chips = [
    ...(focus ? [chip('focus', 'Focus', focus, labelOfKey(focus, graph))] : []),
    ...params.getAll('hide').map((key) => chip('hide', 'Hidden', key, labelOfKey(key, graph))),
    ...params.getAll('collapse').map((key) => chip('collapse', 'Collapsed', key, labelOfKey(key, graph))),
  ];
  const bar = document.createElement('div');
  bar.className = 'toolbar actions-bar';
  bar.id = 'flamegraph-actions';
  bar.innerHTML = `
    <button type="button" id="invert-toggle" aria-pressed="${inverted}" class="${inverted ? 'pressed' : ''}"
      title="Bottom-up: leaf functions on top, their callers below">Invert</button>
    ${chips.join('')}`;
  container.querySelector('#graph')!.before(bar);
  bar.querySelector('#invert-toggle')!.addEventListener('click', () => {
    updateState({ invert: inverted ? undefined : '1' });
  });
  bar.querySelectorAll<HTMLElement>('.chip').forEach((element) => {
    element.querySelector('button')!.addEventListener('click', () => {
      removeParam(element.dataset.action!, element.dataset.key!);
    });
  });
}
