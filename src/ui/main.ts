import { renderDiff } from './pages/diff.ts';
import { renderFlamegraph } from './pages/flamegraph.ts';
import { renderSandwich } from './pages/sandwich.ts';
import { renderStacks } from './pages/stacks.ts';
import { renderSettings } from './pages/settings.ts';
import { renderSetup } from './pages/setup.ts';
import { renderStatus } from './pages/status.ts';
import { renderStorage } from './pages/storage.ts';
import { renderTopN } from './pages/topn.ts';
import { getJson, toLoginPage } from './api.ts';
import { escapeHtml } from './format.ts';
import { readState, stateUrl, updateState } from './state.ts';

export interface PageContext {
  root: HTMLElement;
  params: URLSearchParams;
  tooltip: HTMLElement;
}

const PAGES: { id: string; title: string; render: (context: PageContext) => Promise<void> }[] = [
  { id: 'flamegraph', title: 'Flamegraph', render: renderFlamegraph },
  { id: 'topn', title: 'Top functions', render: renderTopN },
  { id: 'sandwich', title: 'Callers/callees', render: renderSandwich },
  { id: 'stacks', title: 'Stack traces', render: renderStacks },
  { id: 'diff', title: 'Differential', render: renderDiff },
  { id: 'status', title: 'Status', render: renderStatus },
  { id: 'storage', title: 'Storage', render: renderStorage },
  { id: 'setup', title: 'Add data', render: renderSetup },
  { id: 'settings', title: 'Settings', render: renderSettings },
];

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const fromInput = element<HTMLInputElement>('from');
const toInput = element<HTMLInputElement>('to');
const filterInput = element<HTMLInputElement>('filter');
const frameTypesInput = element<HTMLInputElement>('frame-types');
const preset = element<HTMLSelectElement>('range-preset');

/** Mirrors the URL into the query bar and navigation links (the URL is the single source of truth). */
function syncChrome(): void {
  const { page, params } = readState();
  fromInput.value = params.get('from') || 'now-15m';
  toInput.value = params.get('to') || 'now';
  filterInput.value = params.get('filter') ?? '';
  frameTypesInput.value = params.get('frameTypes') ?? '';
  const known = [...preset.options].some((o) => o.value === fromInput.value);
  preset.value = known && toInput.value === 'now' ? fromInput.value : 'custom';
  const shared = new URLSearchParams();
  for (const key of ['from', 'to', 'filter', 'frameTypes']) {
    const value = params.get(key);
    if (value) shared.set(key, value);
  }
  element('nav').innerHTML = PAGES.map(
    (p) =>
      `<a href="${stateUrl(p.id, shared)}" data-page="${p.id}"${p.id === page ? ' class="active"' : ''}>${escapeHtml(p.title)}</a>`,
  ).join('');
}

element<HTMLFormElement>('querybar').addEventListener('submit', (event) => {
  event.preventDefault();
  updateState({
    from: fromInput.value.trim(),
    to: toInput.value.trim(),
    filter: filterInput.value.trim(),
    frameTypes: frameTypesInput.value.trim(),
  });
});

preset.addEventListener('change', () => {
  if (preset.value === 'custom') {
    fromInput.focus();
    return;
  }
  updateState({ from: preset.value, to: 'now' });
});

/** Fields offered as `alias:"value"` suggestions in the filter bar, most frequent values first. */
const SUGGESTED_FIELDS: [string, string][] = [
  ['host', 'host.name'],
  ['process', 'process.executable.name'],
  ['thread', 'process.thread.name'],
  ['container', 'container.name'],
  ['service', 'service.name'],
  ['tag', 'tags'],
];
let suggestionsFor = '';

async function loadSuggestions(): Promise<void> {
  const { params } = readState();
  const range = new URLSearchParams({ from: params.get('from') || 'now-15m', to: params.get('to') || 'now' });
  range.set('limit', '15');
  if (suggestionsFor === range.toString()) return;
  suggestionsFor = range.toString();
  const lists = await Promise.all(
    SUGGESTED_FIELDS.map(async ([alias, field]) => {
      try {
        const { values } = await getJson<{ values: string[] }>(`/api/fields/${field}/values`, range);
        return values.filter((v) => v !== '').map((v) => `${alias}:"${v.replace(/["\\]/g, '\\$&')}"`);
      } catch {
        return [];
      }
    }),
  );
  element('filter-suggestions').innerHTML = lists
    .flat()
    .map((option) => `<option value="${escapeHtml(option)}"></option>`)
    .join('');
}

filterInput.addEventListener('focus', () => void loadSuggestions());

let generation = 0;

async function route(): Promise<void> {
  syncChrome();
  const { page, params } = readState();
  const current = ++generation;
  const definition = PAGES.find((p) => p.id === page) ?? PAGES[0];
  const root = element('page');
  // A tooltip shown over the previous page's graph gets no mouseleave once that graph is gone.
  element('tooltip').hidden = true;
  root.innerHTML = '<p class="muted">Loading…</p>';
  root.dataset.page = definition.id;
  root.dataset.ready = 'false';
  document.title = `${definition.title} · Uniprof`;
  try {
    await definition.render({ root, params, tooltip: element('tooltip') });
  } catch (error) {
    if (current !== generation) return;
    root.innerHTML = `<div class="error">${escapeHtml((error as Error).message)}</div>`;
  }
  if (current === generation) root.dataset.ready = 'true';
}

/** A logged-in user gets a way out; token readers and an auth-off server have no session to end. */
async function offerLogout(): Promise<void> {
  const response = await fetch('/api/auth/session');
  if (!response.ok) return;
  const session = (await response.json()) as { reader?: { kind: string; name?: string } };
  if (session.reader?.kind !== 'user') return;
  const button = element<HTMLButtonElement>('logout');
  button.title = `Logged in as ${session.reader.name ?? ''}`;
  button.hidden = false;
  button.addEventListener('click', () => {
    void fetch('/api/auth/logout', { method: 'POST' }).then(toLoginPage);
  });
}

void offerLogout();
window.addEventListener('hashchange', () => void route());
void route();
