/**
 * Reads every document of the profiling indices out of a cluster, keyed by the index's logical name
 * (`profiling-events-all`, `profiling-stacktraces`, …) whatever concrete index or data-stream backing index
 * holds it, with its source flattened to dotted keys.
 */
import type { ElasticsearchPeer } from '../../test/peers/elasticsearch.ts';

export type FlatDocument = Record<string, unknown>;

export interface DumpedDocument {
  id: string;
  source: FlatDocument;
}

/** Logical index name → its documents. */
export type Dump = Map<string, DumpedDocument[]>;

const PATTERN = 'profiling-*,.profiling-*,.ds-profiling-*';

/**
 * `.ds-profiling-events-all-2026.11.28-000001` → `profiling-events-all`; `.profiling-stacktraces-v001-000001`
 * → `profiling-stacktraces`; `profiling-sq-executables` (an index the reference's writes auto-created) stays.
 */
export function logicalIndexName(concrete: string): string {
  return concrete
    .replace(/^\.ds-/, '')
    .replace(/^\./, '')
    .replace(/-\d{4}\.\d{2}\.\d{2}-\d{6}$/, '')
    .replace(/-v\d{3}(-\d{6})?$/, '');
}

/**
 * Nested objects become dotted keys, so `{Stacktrace: {frame: {ids}}}` and `{'Stacktrace.frame.ids'}` (the
 * same field to Elasticsearch) compare equal; a one-element array becomes its element (synthetic source
 * writes single values either way).
 */
export function flatten(source: unknown, prefix = '', into: FlatDocument = {}): FlatDocument {
  if (source !== null && typeof source === 'object' && !Array.isArray(source)) {
    for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
      flatten(value, prefix ? `${prefix}.${key}` : key, into);
    }
    return into;
  }
  into[prefix] = Array.isArray(source) && source.length === 1 ? source[0] : source;
  return into;
}

interface SearchResponse {
  _scroll_id?: string;
  hits: { hits: { _index: string; _id: string; _source: unknown }[] };
}

export async function dumpProfilingIndices(peer: ElasticsearchPeer): Promise<Dump> {
  await peer.request('POST', `/${PATTERN}/_refresh?expand_wildcards=all`);
  const dump: Dump = new Map();
  let response = await peer.request(
    'POST',
    `/${PATTERN}/_search?scroll=2m&size=5000&expand_wildcards=all&ignore_unavailable=true`,
    { query: { match_all: {} }, sort: ['_doc'] },
  );
  const scrollIds = new Set<string>();
  for (;;) {
    if (response.status !== 200) {
      throw new Error(`reading the profiling indices failed: ${JSON.stringify(response.body).slice(0, 500)}`);
    }
    const body = response.body as SearchResponse;
    if (body._scroll_id) scrollIds.add(body._scroll_id);
    if (body.hits.hits.length === 0) break;
    for (const hit of body.hits.hits) {
      const name = logicalIndexName(hit._index);
      let documents = dump.get(name);
      if (!documents) dump.set(name, (documents = []));
      documents.push({ id: hit._id, source: flatten(hit._source) });
    }
    response = await peer.request('POST', '/_search/scroll', { scroll: '2m', scroll_id: body._scroll_id });
  }
  if (scrollIds.size > 0) {
    await peer.request('DELETE', '/_search/scroll', { scroll_id: [...scrollIds] });
  }
  return dump;
}
