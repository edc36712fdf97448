/**
 * The view state lives in the URL hash (`#/page?from=…&to=…&filter=…`), so a view can be shared or
 * bookmarked, and the back button works.
 */
export interface ViewState {
  page: string;
  params: URLSearchParams;
}

export const DEFAULT_PAGE = 'flamegraph';

export function readState(): ViewState {
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, query = ''] = hash.split('?', 2);
  return { page: page || DEFAULT_PAGE, params: new URLSearchParams(query) };
}

export function stateUrl(page: string, params: URLSearchParams): string {
  const query = params.toString();
  return `#/${page}${query ? `?${query}` : ''}`;
}

/** Changes some parameters (undefined or '' removes one) and navigates, keeping the rest. */
export function updateState(changes: Record<string, string | undefined>, page?: string): void {
  const state = readState();
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === '') state.params.delete(key);
    else state.params.set(key, value);
  }
  const url = stateUrl(page ?? state.page, state.params);
  if (url !== location.hash) location.hash = url;
}

/** The query parameters the API understands, with the shared defaults applied. */
export function apiParams(params: URLSearchParams, keys: readonly string[]): URLSearchParams {
  const out = new URLSearchParams();
  out.set('from', params.get('from') || 'now-15m');
  out.set('to', params.get('to') || 'now');
  for (const key of keys) {
    const value = params.get(key);
    if (value) out.set(key, value);
  }
  return out;
}

export const QUERY_KEYS = ['filter', 'frameTypes', 'samplingLevel'] as const;
