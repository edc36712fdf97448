/**
 * Return pads on Elasticsearch (`profiling-returnpads-private`, see `ReturnPad` in src/model/symbols.ts): one
 * document per page of a file's address space (`PAGE_BYTES`), `_id` `<file ID>.<page number in hex>`, holding
 * every pad whose address falls in that page. A lookup is an `mget` of the pages its addresses fall in —
 * real-time point reads, no search, no refresh — and storing the same pads again overwrites them.
 *
 * Why pages and not a document per pad: Elasticsearch spends about 100 µs indexing a small document whatever
 * its size (its ID lookup, parsing, the indexed `Symbfile.file.id` and `Symbfile.created`), so 3,000 pads as
 * 3,000 documents took 150–210 ms of indexing on an idle node and seconds on a loaded one; the same pads in
 * pages are a few dozen documents (3–12 ms). A file's pads cluster (a call every few dozen bytes of code), so
 * a page holds tens of pads, a few KB.
 *
 * Fields are the index template's: `Symbfile.file.id` (what deletion searches for), `Symbfile.data` (the
 * page's pads as JSON `[[offset in page, chain as encodePadFrames writes it], …]`, base64 as the `binary`
 * type wants), `Symbfile.created`, and `Symbfile.part`/`parts` 1/1.
 *
 * A file's pad marker (`_id` `<file ID>.pads`, no `Symbfile.file.id`, so searches never find it) says
 * whether its pads were made (`hasReturnPads`: `made`, even when there were none) and which pages it has.
 * With the page list known, replacing or dropping a file's pads deletes the pages by `_id`; only without it
 * (no marker yet, or a put cut short) are they found by a search, which needs a refresh of the index first —
 * the slowest step of a put once its pages are few. Documents of the earlier layout (one per pad, `_id`
 * `<file ID>-<address hex>`) are not read; a file that has only those has no marker, so the worker makes its
 * pads again, and that put's search deletes the old ones.
 */
import type { Client, estypes } from '@elastic/elasticsearch';
import { encodePadFrames, padFramesFrom, type ReturnPad, type SymbolizedFrame } from '../../model/index.ts';
import { bulkOrThrow, deleteMatching, isMissing, type Document } from './bulk.ts';
import { sourceField } from './documents.ts';
import { ECS_VERSION, RETURNPADS_PRIVATE } from './layout.ts';

/** Bytes of address space per pad document. */
export const PAGE_BYTES = 4096;
/** Pads buffered before the pages behind the newest pad are written, and bulk requests at once. */
const PUT_CHUNK = 4_000;
const PUT_IN_FLIGHT = 2;
const MGET_CHUNK = 1_000;
const MARKER_SUFFIX = 'pads';
/** A marker lists at most this many pages; a file with more is searched for when its pads are replaced. */
const MARKER_MAX_PAGES = 100_000;

/** What a file's pad marker says. `pages` undefined: not known (pads may be anywhere, search for them). */
interface PadMarker {
  made: boolean;
  pages?: number[];
}

const pageOf = (address: number): number => Math.floor(address / PAGE_BYTES);

export function padPageId(fileId: string, page: number): string {
  return `${fileId}.${page.toString(16)}`;
}

export function padMarkerId(fileId: string): string {
  return `${fileId}.${MARKER_SUFFIX}`;
}

/** One page's pads as `Symbfile.data` holds them (before base64). */
function encodePage(pads: readonly ReturnPad[]): string {
  return `[${pads.map((pad) => `[${pad.address % PAGE_BYTES},${encodePadFrames(pad.frames)}]`).join(',')}]`;
}

/** A page's pads by their offset in the page, each chain still as parsed (checked when it is asked for). */
function decodePage(data: string): Map<number, unknown> {
  const parsed: unknown = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
  if (!Array.isArray(parsed)) throw new Error('a return-pad page is not a list');
  const byOffset = new Map<number, unknown>();
  for (const entry of parsed as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || !Number.isInteger(entry[0]))
      throw new Error(`a return-pad page holds a malformed pad: ${JSON.stringify(entry)}`);
    byOffset.set(entry[0] as number, entry[1]);
  }
  return byOffset;
}

export class ElasticsearchReturnPads {
  constructor(private readonly client: Client) {}

  /**
   * Replaces the file's pads: the marker is set to "not made, pages unknown", the new pages are indexed in
   * bulk over the old ones (same `_id` for the same page), the file's other pad pages are deleted, and the
   * marker says "made" with the new pages. A failure part way leaves old and new pads side by side, each
   * correct for the file's current ranges (`putSymbols` deletes pads of replaced ranges), and the file's pads
   * not made.
   */
  async put(fileId: string, pads: AsyncIterable<readonly ReturnPad[]>): Promise<{ pads: number }> {
    const created = Date.now();
    let count = 0;
    const seen = new Set<number>();
    /** Pages not written yet; pages written (a pad arriving late for one is merged into it, read back). */
    const open = new Map<number, ReturnPad[]>();
    const written = new Set<number>();
    const reopened = new Set<number>();
    let buffered = 0;
    // Bulk requests overlap (Elasticsearch indexes two at once on separate threads) but stay bounded.
    const inFlight: Promise<void>[] = [];
    const send = async (pages: [number, ReturnPad[]][]): Promise<void> => {
      if (pages.length === 0) return;
      const operations = pages.flatMap(([page, list]) => [
        { index: { _index: RETURNPADS_PRIVATE, _id: padPageId(fileId, page) } },
        {
          'ecs.version': ECS_VERSION,
          'Symbfile.file.id': fileId,
          'Symbfile.created': created,
          'Symbfile.part': 1,
          'Symbfile.parts': 1,
          'Symbfile.data': Buffer.from(encodePage(list)).toString('base64'),
        },
      ]);
      const request = bulkOrThrow(this.client, operations);
      request.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      inFlight.push(request);
      if (inFlight.length >= PUT_IN_FLIGHT) await inFlight.shift();
    };
    /** Writes the open pages before `page` (all when undefined): pads come in address order, mostly. */
    const flush = async (before?: number): Promise<void> => {
      const ready: [number, ReturnPad[]][] = [];
      for (const [page, list] of open) {
        if (before !== undefined && page >= before) continue;
        ready.push([page, list]);
        open.delete(page);
        written.add(page);
        buffered -= list.length;
      }
      const late = ready.filter(([page]) => reopened.delete(page));
      if (late.length > 0) {
        // Rare (depth-0 ranges that overlap): the page's earlier pads are read back and written with it.
        await Promise.all(inFlight.splice(0));
        const earlier = await this.lookupPages(
          fileId,
          late.map(([page]) => page),
        );
        for (const [page, list] of late) list.push(...(earlier.get(page) ?? []));
      }
      await send(ready);
    };
    const before = await this.marker(fileId);
    try {
      await this.writeMarker(fileId, { made: false }, created);
      for await (const chunk of pads) {
        for (const pad of chunk) {
          checkPad(pad, `putReturnPads(${fileId}): pad ${count}`);
          if (seen.has(pad.address))
            throw new Error(`putReturnPads(${fileId}): two pads at address ${pad.address}`);
          seen.add(pad.address);
          const page = pageOf(pad.address);
          const list = open.get(page);
          if (list) list.push(pad);
          else {
            open.set(page, [pad]);
            if (written.has(page)) reopened.add(page);
          }
          buffered++;
          count++;
          if (buffered >= PUT_CHUNK) await flush(page);
          if (buffered >= 2 * PUT_CHUNK) await flush();
        }
      }
      await flush();
      await Promise.all(inFlight);
    } catch (error) {
      // Requests still running would write after the caller learnt of the failure.
      await Promise.allSettled(inFlight);
      throw error;
    }
    await this.deletePages(fileId, before?.pages, written);
    await this.writeMarker(fileId, { made: true, pages: [...written].sort((a, b) => a - b) }, created, count);
    return { pads: count };
  }

  /** Whether the file's pads were made (its marker says so); a real-time read. */
  async stored(fileId: string): Promise<boolean> {
    return (await this.marker(fileId))?.made === true;
  }

  async lookup(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolizedFrame[]>> {
    const found = new Map<number, SymbolizedFrame[]>();
    const byPage = new Map<number, number[]>();
    for (const address of new Set(addresses)) {
      const page = pageOf(address);
      const list = byPage.get(page);
      if (list) list.push(address);
      else byPage.set(page, [address]);
    }
    await this.readPages(fileId, [...byPage.keys()], (page, pads) => {
      for (const address of byPage.get(page)!) {
        const frames = pads.get(address % PAGE_BYTES);
        if (frames !== undefined) found.set(address, padFramesFrom(frames));
      }
    });
    return found;
  }

  /** Every pad of these pages. */
  private async lookupPages(fileId: string, pages: readonly number[]): Promise<Map<number, ReturnPad[]>> {
    const found = new Map<number, ReturnPad[]>();
    await this.readPages(fileId, pages, (page, pads) => {
      const list = [...pads].map(([offset, frames]) => ({
        address: page * PAGE_BYTES + offset,
        frames: padFramesFrom(frames),
      }));
      found.set(page, list);
    });
    return found;
  }

  /** `mget`s of the pages; `each` gets every one found, its pads by offset. */
  private async readPages(
    fileId: string,
    pages: readonly number[],
    each: (page: number, pads: Map<number, unknown>) => void,
  ): Promise<void> {
    for (let i = 0; i < pages.length; i += MGET_CHUNK) {
      const part = pages.slice(i, i + MGET_CHUNK);
      let response: estypes.MgetResponse<Document>;
      try {
        response = await this.client.mget<Document>({
          index: RETURNPADS_PRIVATE,
          ids: part.map((page) => padPageId(fileId, page)),
          _source_includes: ['Symbfile.data'],
        });
      } catch (error) {
        if (isMissing(error)) return; // no pad was ever stored
        throw error;
      }
      response.docs.forEach((doc, k) => {
        if (!('found' in doc) || !doc.found) return;
        const data = doc._source?.['Symbfile.data'];
        if (typeof data === 'string') each(part[k], decodePage(data));
      });
    }
  }

  /**
   * Deletes the file's pads (new symbols: they were made from the ranges replaced). The marker first says
   * "not made, pages unknown", so no marker ever claims pads that are gone, and last "not made, no pages", so
   * the next put deletes nothing and needs no search.
   */
  async deleteFile(fileId: string): Promise<void> {
    const created = Date.now();
    const before = await this.marker(fileId);
    if (before?.made === false && before.pages?.length === 0) return;
    await this.writeMarker(fileId, { made: false }, created);
    await this.deletePages(fileId, before?.pages, new Set());
    await this.writeMarker(fileId, { made: false, pages: [] }, created);
  }

  private async marker(fileId: string): Promise<PadMarker | undefined> {
    let doc: estypes.GetGetResult<Document>;
    try {
      doc = await this.client.get<Document>({ index: RETURNPADS_PRIVATE, id: padMarkerId(fileId) });
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!doc.found) return undefined;
    const made = sourceField(doc._source, 'uniprof.pads.made');
    const pages = sourceField(doc._source, 'uniprof.pads.pages');
    return {
      made: made === true,
      ...(Array.isArray(pages) && pages.every((p) => Number.isSafeInteger(p))
        ? { pages: pages as number[] }
        : {}),
    };
  }

  private async writeMarker(fileId: string, marker: PadMarker, created: number, count = 0): Promise<void> {
    const document: Document = {
      'ecs.version': ECS_VERSION,
      'Symbfile.created': created,
      'uniprof.pads.made': marker.made,
      'uniprof.pads.count': count,
    };
    if (marker.pages && marker.pages.length <= MARKER_MAX_PAGES)
      document['uniprof.pads.pages'] = marker.pages;
    await this.client.index({ index: RETURNPADS_PRIVATE, id: padMarkerId(fileId), document });
  }

  /**
   * Deletes the file's pad pages but those in `keep`: by `_id` when the pages there are known (`known`),
   * else found by a search after a refresh (the test distribution has no delete-by-query).
   */
  private async deletePages(
    fileId: string,
    known: readonly number[] | undefined,
    keep: ReadonlySet<number>,
  ): Promise<void> {
    if (known) {
      const doomed = known.filter((page) => !keep.has(page));
      for (let i = 0; i < doomed.length; i += 2 * MGET_CHUNK) {
        await bulkOrThrow(
          this.client,
          doomed
            .slice(i, i + 2 * MGET_CHUNK)
            .map((page) => ({ delete: { _index: RETURNPADS_PRIVATE, _id: padPageId(fileId, page) } })),
        );
      }
      return;
    }
    try {
      await this.client.indices.refresh({ index: RETURNPADS_PRIVATE });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    const kept = new Set([...keep].map((page) => padPageId(fileId, page)));
    await deleteMatching(
      this.client,
      { index: RETURNPADS_PRIVATE, _source: false, query: { term: { 'Symbfile.file.id': fileId } } },
      (hit) => !kept.has(hit._id!),
    );
  }
}

function checkPad(pad: ReturnPad, where: string): void {
  if (typeof pad !== 'object' || pad === null) throw new Error(`${where}: not a return pad`);
  if (!Number.isSafeInteger(pad.address) || pad.address < 0)
    throw new Error(`${where}: address must be a non-negative integer below 2^53`);
  if (!Array.isArray(pad.frames) || pad.frames.length === 0) throw new Error(`${where}: no frames`);
}
