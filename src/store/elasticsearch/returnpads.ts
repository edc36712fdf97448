/**
 * Return pads on Elasticsearch (`profiling-returnpads-private`, see `ReturnPad` in src/model/symbols.ts): one
 * document per pad with a deterministic `_id` (`<file ID>-<address in hex>`), so a lookup is an `mget` —
 * real-time point reads, no search, no refresh — and storing the same pads again overwrites them.
 *
 * Fields are the index template's: `Symbfile.file.id` (what deletion searches for), `Symbfile.data` (the
 * chain as `encodePadFrames` JSON, base64 as the `binary` type wants), `Symbfile.created`, and
 * `Symbfile.part`/`parts` 1/1 (a pad is always one part). The address is in the `_id` only.
 */
import type { Client, estypes } from '@elastic/elasticsearch';
import { decodePadFrames, encodePadFrames, type ReturnPad, type SymbolizedFrame } from '../../model/index.ts';
import { bulkOrThrow, deleteMatching, isMissing, type Document } from './bulk.ts';
import { ECS_VERSION, RETURNPADS_PRIVATE } from './layout.ts';

/** Pads per bulk request, and requests at once: bounds what a put holds. */
const PUT_CHUNK = 2_000;
const PUT_IN_FLIGHT = 2;
const MGET_CHUNK = 5_000;

export function padId(fileId: string, address: number): string {
  return `${fileId}-${address.toString(16)}`;
}

export class ElasticsearchReturnPads {
  constructor(private readonly client: Client) {}

  /**
   * Replaces the file's pads: the new ones are indexed in bulk over the old ones (same `_id` for the same
   * address), then the old ones at other addresses are deleted. A failure part way leaves old and new pads
   * side by side, each correct for the file's current ranges (`putSymbols` deletes pads of replaced ranges).
   */
  async put(fileId: string, pads: AsyncIterable<readonly ReturnPad[]>): Promise<{ pads: number }> {
    const created = Date.now();
    let count = 0;
    let operations: Document[] = [];
    const seen = new Set<number>();
    // Bulk requests overlap (Elasticsearch indexes two at once on separate threads) but stay bounded.
    const inFlight: Promise<void>[] = [];
    const send = async (batch: Document[]): Promise<void> => {
      const request = bulkOrThrow(this.client, batch);
      request.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      inFlight.push(request);
      if (inFlight.length >= PUT_IN_FLIGHT) await inFlight.shift();
    };
    try {
      for await (const chunk of pads) {
        for (const pad of chunk) {
          checkPad(pad, `putReturnPads(${fileId}): pad ${count}`);
          if (seen.has(pad.address))
            throw new Error(`putReturnPads(${fileId}): two pads at address ${pad.address}`);
          seen.add(pad.address);
          operations.push(
            { index: { _index: RETURNPADS_PRIVATE, _id: padId(fileId, pad.address) } },
            {
              'ecs.version': ECS_VERSION,
              'Symbfile.file.id': fileId,
              'Symbfile.created': created,
              'Symbfile.part': 1,
              'Symbfile.parts': 1,
              'Symbfile.data': Buffer.from(encodePadFrames(pad.frames)).toString('base64'),
            },
          );
          count++;
          if (operations.length >= 2 * PUT_CHUNK) {
            await send(operations);
            operations = [];
          }
        }
      }
      if (operations.length > 0) await send(operations);
      await Promise.all(inFlight);
    } catch (error) {
      // Requests still running would write after the caller learnt of the failure.
      await Promise.allSettled(inFlight);
      throw error;
    }
    await this.deleteFile(fileId, seen);
    return { pads: count };
  }

  async lookup(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolizedFrame[]>> {
    const found = new Map<number, SymbolizedFrame[]>();
    const unique = [...new Set(addresses)];
    for (let i = 0; i < unique.length; i += MGET_CHUNK) {
      const part = unique.slice(i, i + MGET_CHUNK);
      let response: estypes.MgetResponse<Document>;
      try {
        response = await this.client.mget<Document>({
          index: RETURNPADS_PRIVATE,
          ids: part.map((address) => padId(fileId, address)),
          _source_includes: ['Symbfile.data'],
        });
      } catch (error) {
        if (isMissing(error)) return found; // no pad was ever stored
        throw error;
      }
      response.docs.forEach((doc, k) => {
        if (!('found' in doc) || !doc.found) return;
        const data = doc._source?.['Symbfile.data'];
        if (typeof data !== 'string') return;
        found.set(part[k], decodePadFrames(Buffer.from(data, 'base64').toString('utf8')));
      });
    }
    return found;
  }

  /**
   * Deletes the file's pads, but those at the addresses in `keep` (search and bulk delete: the test
   * distribution has no delete-by-query).
   */
  async deleteFile(fileId: string, keep?: ReadonlySet<number>): Promise<void> {
    try {
      await this.client.indices.refresh({ index: RETURNPADS_PRIVATE });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    const prefix = `${fileId}-`;
    await deleteMatching(
      this.client,
      { index: RETURNPADS_PRIVATE, _source: false, query: { term: { 'Symbfile.file.id': fileId } } },
      (hit) => !hit._id!.startsWith(prefix) || !keep?.has(parseInt(hit._id!.slice(prefix.length), 16)),
    );
  }
}

function checkPad(pad: ReturnPad, where: string): void {
  if (typeof pad !== 'object' || pad === null) throw new Error(`${where}: not a return pad`);
  if (!Number.isSafeInteger(pad.address) || pad.address < 0)
    throw new Error(`${where}: address must be a non-negative integer below 2^53`);
  if (!Array.isArray(pad.frames) || pad.frames.length === 0) throw new Error(`${where}: no frames`);
}
