/**
 * Bulk writes and scrolled deletes shared by the symbol, queue and return-pad documents. The test
 * distribution has no delete-by-query, so deleting a file's documents is a scroll plus bulk deletes.
 */
import { errors, type Client, type estypes } from '@elastic/elasticsearch';

export type Document = Record<string, unknown>;

const SCROLL_PAGE = 5_000;
const SCROLL_KEEP_ALIVE = '1m';

export const isMissing = (error: unknown): boolean =>
  error instanceof errors.ResponseError && error.statusCode === 404;

/**
 * One bulk request; throws on the first refused item. Deleting what is already gone is no refusal.
 * `conditional`: the operations carry `if_seq_no`, and one that another writer got to first (409) or whose
 * document is gone (404) is left to that writer.
 */
export async function bulkOrThrow(
  client: Client,
  operations: Document[],
  { conditional = false }: { conditional?: boolean } = {},
): Promise<void> {
  if (operations.length === 0) return;
  const response = await client.bulk({ operations });
  if (!response.errors) return;
  for (const item of response.items) {
    const [opType, result] = Object.entries(item)[0];
    if (!result || result.status < 300) continue;
    if (opType === 'delete' && result.status === 404) continue;
    if (conditional && (result.status === 404 || result.status === 409)) continue;
    throw new Error(
      `Elasticsearch refused a ${opType} of ${result._index}/${result._id}: ${JSON.stringify(result.error)}`,
    );
  }
}

/**
 * Deletes the documents `search` finds that `doomed` picks, a page at a time. A missing index has nothing
 * to delete.
 */
export async function deleteMatching(
  client: Client,
  search: { index: string; query: estypes.QueryDslQueryContainer; _source: boolean | string[] },
  doomed: (hit: estypes.SearchHit<Document>) => boolean,
): Promise<void> {
  let response: estypes.SearchResponse<Document>;
  try {
    response = await client.search<Document>({ ...search, scroll: SCROLL_KEEP_ALIVE, size: SCROLL_PAGE });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  const scrollIds = new Set<string>();
  try {
    for (;;) {
      if (response._scroll_id) scrollIds.add(response._scroll_id);
      const hits = response.hits.hits;
      if (hits.length === 0) break;
      const deletes = hits.filter(doomed).map((hit) => ({ delete: { _index: hit._index, _id: hit._id! } }));
      await bulkOrThrow(client, deletes);
      if (!response._scroll_id) break;
      response = await client.scroll<Document>({
        scroll_id: response._scroll_id,
        scroll: SCROLL_KEEP_ALIVE,
      });
    }
  } finally {
    if (scrollIds.size > 0) await client.clearScroll({ scroll_id: [...scrollIds] }).catch(() => undefined);
  }
}
