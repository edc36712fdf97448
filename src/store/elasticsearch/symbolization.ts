/**
 * The symbolization queue and symbols on Elasticsearch (see ../symbolization.ts for the contract).
 *
 * Queue: one `profiling-sq-executables` document per file (`_id` = file ID) and one `profiling-sq-leafframes`
 * document per queued frame (`_id` = frame ID). An executable is due when `Symbolization.time.next` has passed
 * (a retry, stored symbols) or the collector queued frames for it since it was last worked on
 * (`uniprof.frames_queued`) and its last attempt did not fail (`Symbolization.retries` 0: a failed one waits
 * for its retry time, frames or not), and it holds no live lease (`uniprof.lease.until` in the future).
 * Leases are taken and ended with conditional writes (`if_seq_no` / `if_primary_term`), so several
 * symbolizer processes can share a cluster: of two workers writing over the same version only one succeeds.
 * The collector's queue update always bumps the sequence number, which is how a worker learns at release
 * that frames came in while it worked.
 *
 * Symbols: each upload writes its ranges under a new generation, then points a marker document (`_id` = file
 * ID, no `Symbol.exec.pcrange`, so range queries never see it) at that generation; readers read the marker
 * first and keep only its generation's ranges, so an upload becomes visible whole or not at all. Earlier
 * generations are deleted afterwards, a failed upload's right away. The test distribution has no
 * delete-by-query (reindex module), so deletions are a scroll plus bulk deletes.
 */
import { randomBytes } from 'node:crypto';
import { errors, type Client, type estypes } from '@elastic/elasticsearch';
import {
  frameId,
  parseFrameId,
  type PendingFrame,
  type ReturnPad,
  type StackFrameSymbols,
  type SymbolizedFrame,
  type SymbolRange,
} from '../../model/index.ts';
import { LruMap } from '../../model/lru-map.ts';
import type {
  ExecutableWork,
  PutSymbolsInfo,
  SymbolizationBacklog,
  SymbolizationStore,
  SymbolsVersion,
} from '../symbolization.ts';
import { executableFromSource, sourceField, stackFrameOverwriteLines } from './documents.ts';
import {
  ECS_VERSION,
  EXECUTABLES,
  SQ_EXECUTABLES,
  SQ_FRAMESETS,
  SQ_LEAFFRAMES,
  SYMBOLS_GLOBAL,
  SYMBOLS_PRIVATE,
} from './layout.ts';
import { bulkOrThrow, deleteMatching, type Document } from './bulk.ts';
import { ElasticsearchReturnPads } from './returnpads.ts';
import {
  BUCKETS_FIELD,
  GENERATION_FIELD,
  LEVELS_FIELD,
  addressBuckets,
  addressToIp,
  bucketLevel,
  checkRange,
  dateMillis,
  FRAMES_QUEUED_FIELD,
  frameSetDocument,
  nested,
  pendingFrameFromSource,
  queuedExecutableDocument,
  rangeDocument,
  unpackAddresses,
  rangeFromSource,
  symbolsStoredUpdate,
  text,
} from './symbol-documents.ts';

/** Range documents per bulk request of an upload: bounds the memory an upload holds. */
const UPLOAD_CHUNK = 2_000;
const UPLOAD_IN_FLIGHT = 2;
/** Addresses per search of `symbolRanges` (by `ip_range`), and searches per msearch. */
const ADDRESSES_PER_SEARCH = 256;
/**
 * Addresses and bucket terms per search of `symbolRanges` by bucket (Elasticsearch allows 65,536 terms in
 * one `terms`). Searches of one msearch run side by side, so a few hundred addresses each keep the node's
 * search threads busy (on 5,000 addresses 625 a search was faster than 2,730 or 250).
 */
const ADDRESSES_PER_BUCKET_SEARCH = 512;
const BUCKETS_PER_SEARCH = 8_192;
const SEARCHES_PER_REQUEST = 16;
/** Elasticsearch's default `index.max_result_window`. */
const MAX_HITS = 10_000;
/** Executables per page of `retryWaitingNow`'s search. */
const RETRY_NOW_PAGE = 1_000;
const MGET_CHUNK = 5_000;
/** Conditional writes lost to concurrent writers (mostly the collector's queue updates) are tried again. */
const CONFLICT_ATTEMPTS = 8;
/** Pages of due executables one lease call looks through. */
const LEASE_PAGES = 5;
const SEARCH_OPTIONS = { ignore_unavailable: true, allow_no_indices: true } as const;
const SYMBOL_INDICES = [SYMBOLS_PRIVATE, SYMBOLS_GLOBAL] as const;
/** The marker's count of its generation's ranges. */
const RANGES_FIELD = 'uniprof.symbols.ranges';
/** Range documents per page when a file's ranges are read whole. */
const ALL_RANGES_PAGE = 5_000;
/** Files whose handed-out frames are remembered for resolveFrames: more than a symbolizer works on at once. */
const QUEUED_FILES_REMEMBERED = 1_000;
/** Where frames wait: frame sets, and per-frame documents (stack leaves; every frame before layout 5). */
const QUEUED_FRAME_INDICES = `${SQ_LEAFFRAMES},${SQ_FRAMESETS}`;
/** How long one backlog count answers later calls (metrics scrapes, status pages). */
export const BACKLOG_CACHE_MS = 1_000;

interface Candidate {
  id: string;
  index: string;
  seqNo: number;
  primaryTerm: number;
  source: Document;
  /** Frame sets are queued for it (found in `profiling-sq-framesets`, not on the document). */
  hasFrameSets?: boolean;
}

/** A frame-set document as `pendingFrames` read it, and what of it is not resolved yet. */
interface FrameSet {
  id: string;
  index: string;
  created: unknown;
  seqNo: number;
  primaryTerm: number;
  /** Addresses of its frames not resolved yet. */
  remaining: Set<number>;
  leaves: Set<number>;
}

/** Where the frames `pendingFrames` handed out for one file are queued, for `resolveFrames`. */
interface QueuedFramesOfFile {
  sets: Map<string, FrameSet>;
  /** Frame ID → the frame sets holding it. */
  setsOf: Map<string, string[]>;
  /** Frames with a `profiling-sq-leafframes` document. */
  perFrame: Set<string>;
}

interface Leased {
  id: string;
  source: Document;
  proof: LeaseProof;
}

/** What a lease string carries: its ID, the queue document's version we last wrote, and whether it moved. */
interface LeaseProof {
  id: string;
  seqNo: number;
  primaryTerm: number;
  /** Someone else wrote the document while we held the lease (symbols uploaded, an older collector's mark). */
  changed: boolean;
  /** When the lease was taken (epoch ms): frame sets created since came while it was held. */
  takenAt: number;
}

function encodeLease(proof: LeaseProof): string {
  return [proof.id, proof.seqNo, proof.primaryTerm, proof.changed ? 1 : 0, proof.takenAt].join('.');
}

function decodeLease(lease: string): LeaseProof | undefined {
  const [id, seqNo, primaryTerm, changed, takenAt] = lease.split('.');
  if (!id || seqNo === undefined || primaryTerm === undefined) return undefined;
  return {
    id,
    seqNo: Number(seqNo),
    primaryTerm: Number(primaryTerm),
    changed: changed === '1',
    takenAt: Number(takenAt) || 0,
  };
}

interface Marker {
  index: string;
  generation: string;
  /** The size levels of the file's ranges' lookup buckets; absent for symbols stored before they existed. */
  levels?: number[];
  /** How many ranges the generation has. */
  ranges?: number;
  seqNo?: number;
  primaryTerm?: number;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof errors.ResponseError ? error.statusCode : undefined;
}

const isConflict = (error: unknown): boolean => statusOf(error) === 409;
const isMissing = (error: unknown): boolean => statusOf(error) === 404;

/** Generations sort by creation time, so "older than the current one" is a string comparison. */
function newGeneration(): string {
  return Date.now().toString(36).padStart(9, '0') + randomBytes(4).toString('hex');
}

/** A queue document read in real time, as a lease candidate. */
function candidateFrom(
  doc: { _id: string; _index: string; _seq_no: number; _primary_term?: number; _source?: Document },
  hasFrameSets: boolean,
): Candidate {
  return {
    id: doc._id,
    index: doc._index,
    seqNo: doc._seq_no,
    primaryTerm: doc._primary_term!,
    source: doc._source ?? {},
    hasFrameSets,
  };
}

/** File and address of a frame ID; undefined for what is not one. */
function frameRef(id: string): { fileId: string; address: number } | undefined {
  try {
    const { fileId, addressOrLine } = parseFrameId(id);
    return { fileId, address: Number(addressOrLine) };
  } catch {
    return undefined;
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

export class ElasticsearchSymbolization implements SymbolizationStore {
  /**
   * Leases this instance handed out and that were not released yet: work of this process in progress. Only
   * an owner's leases from an earlier life (a crashed process) count as free to it; handing back work this
   * process is still doing would take the place of new work in the lease call.
   */
  private readonly leasesInProgress = new Set<string>();
  private backlogCache?: { at: number; pending: boolean; result: Promise<SymbolizationBacklog> };

  private readonly pads: ElasticsearchReturnPads;
  /** Per file being worked on: where the frames last handed out are queued (bounded: files in progress). */
  private readonly queuedOfFile = new LruMap<string, QueuedFramesOfFile>(QUEUED_FILES_REMEMBERED);

  constructor(private readonly client: Client) {
    this.pads = new ElasticsearchReturnPads(client);
  }

  // ---- the queue ----

  async leaseExecutables(owner: string, limit: number, leaseMs: number): Promise<ExecutableWork[]> {
    if (limit <= 0) return [];
    const now = Date.now();
    const leased: Leased[] = [];
    const pageSize = Math.min(MAX_HITS, limit * 4 + 16);
    let after: estypes.SortResults | undefined;
    // Search results are as of the last refresh: executables leased since still show up as free (and lose
    // their write), so the next page is looked at when a whole page was lost.
    for (let page = 0; page < LEASE_PAGES && leased.length < limit; page++) {
      let hits: estypes.SearchHit<Document>[];
      try {
        const response = await this.client.search<Document>({
          index: SQ_EXECUTABLES,
          ...SEARCH_OPTIONS,
          size: pageSize,
          seq_no_primary_term: true,
          query: dueQuery(now, owner),
          sort: [{ 'Symbolization.time.next': 'asc' }, { 'Executable.file.id': 'asc' }],
          ...(after ? { search_after: after } : {}),
        });
        hits = response.hits.hits;
      } catch (error) {
        if (isMissing(error)) break;
        throw error;
      }
      // Checked here too: where the plugin owns the layout the lease fields are not mapped, so the query
      // cannot see them, but from 8.15 synthetic source still returns them.
      const candidates = hits
        .filter((hit) => isDue(hit._source ?? {}, now, owner, this.leasesInProgress))
        .map((hit) => ({
          id: hit._id!,
          index: hit._index,
          seqNo: hit._seq_no!,
          primaryTerm: hit._primary_term!,
          source: hit._source ?? {},
        }));
      await this.leaseCandidates(candidates, owner, limit, now + leaseMs, leased);
      if (hits.length < pageSize) break;
      after = hits[hits.length - 1].sort;
    }
    if (leased.length < limit) await this.leaseFilesWithFrameSets(owner, limit, now, now + leaseMs, leased);
    return this.describeWork(leased);
  }

  /**
   * Executables with queued frame sets are due (unless waiting for a retry or leased): the collector writes
   * each frame set with `create` and never marks the executable's document, which would cost Elasticsearch a
   * read per batch and file. Files are found by an aggregation of the frame sets (as of the last refresh,
   * like the due search), their queue documents read in real time; a missing one is created.
   */
  private async leaseFilesWithFrameSets(
    owner: string,
    limit: number,
    now: number,
    until: number,
    leased: Leased[],
  ): Promise<void> {
    const pageSize = Math.min(MAX_HITS, limit * 4 + 16);
    let page = 0;
    for await (const files of this.fileIdPages(SQ_FRAMESETS, pageSize)) {
      const taken = new Set(leased.map((l) => l.id));
      const fileIds = files.filter((id) => !taken.has(id));
      await this.leaseCandidates(
        await this.frameSetCandidates(fileIds, now, owner),
        owner,
        limit,
        until,
        leased,
      );
      if (++page >= LEASE_PAGES || leased.length >= limit) return;
    }
  }

  /** The file IDs of an index's documents, a page of a composite aggregation at a time. */
  private async *fileIdPages(index: string, pageSize: number): AsyncGenerator<string[]> {
    let after: Record<string, estypes.FieldValue> | undefined;
    for (;;) {
      let files: { buckets: { key: { file: string } }[]; after_key?: Record<string, estypes.FieldValue> };
      try {
        const response = await this.client.search({
          index,
          ...SEARCH_OPTIONS,
          size: 0,
          aggregations: {
            files: {
              composite: {
                size: pageSize,
                sources: [{ file: { terms: { field: 'Executable.file.id' } } }],
                ...(after ? { after } : {}),
              },
            },
          },
        });
        files = (response.aggregations?.files as typeof files | undefined) ?? { buckets: [] };
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      yield files.buckets.map((bucket) => bucket.key.file);
      if (!files.after_key || files.buckets.length < pageSize) return;
      after = files.after_key;
    }
  }

  private async frameSetCandidates(fileIds: string[], now: number, owner: string): Promise<Candidate[]> {
    const candidates: Candidate[] = [];
    const missing: string[] = [];
    for (const { docs } of await this.mgetChunks(SQ_EXECUTABLES, fileIds)) {
      for (const doc of docs) {
        if (!('found' in doc)) continue;
        if (!doc.found || doc._seq_no === undefined) {
          missing.push(doc._id);
          continue;
        }
        const source = doc._source ?? {};
        if (!isDue(source, now, owner, this.leasesInProgress, true)) continue;
        candidates.push(candidateFrom({ ...doc, _seq_no: doc._seq_no }, true));
      }
    }
    // The collector's create has not landed yet, or was forgotten: made here, due now.
    for (const fileId of missing) {
      const source = nested(queuedExecutableDocument(fileId, Date.now(), {}));
      try {
        const created = await this.client.index({
          index: SQ_EXECUTABLES,
          id: fileId,
          op_type: 'create',
          document: source,
        });
        candidates.push({
          id: fileId,
          index: created._index,
          seqNo: created._seq_no!,
          primaryTerm: created._primary_term!,
          source,
          hasFrameSets: true,
        });
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    return candidates;
  }

  /** Takes candidates with conditional writes until `leased` holds `limit`; lost ones are read again once. */
  private async leaseCandidates(
    candidates: Candidate[],
    owner: string,
    limit: number,
    until: number,
    leased: Leased[],
  ): Promise<void> {
    // Lost candidates, and whether they have frame sets.
    const lost = new Map<string, boolean>();
    const takenAt = Date.now();
    for (let round = 0; round < 2 && leased.length < limit && candidates.length > 0; round++) {
      while (leased.length < limit && candidates.length > 0) {
        const batch = candidates.splice(0, limit - leased.length);
        const leaseIds = batch.map(() => randomBytes(9).toString('base64url'));
        const response = await this.client.bulk({
          operations: batch.flatMap((c, i) => [
            { update: { _index: c.index, _id: c.id, if_seq_no: c.seqNo, if_primary_term: c.primaryTerm } },
            {
              doc: nested({
                'uniprof.lease.owner': owner,
                'uniprof.lease.id': leaseIds[i],
                'uniprof.lease.until': until,
              }),
              detect_noop: false,
            },
          ]),
        });
        response.items.forEach((item, i) => {
          const result = item.update;
          const candidate = batch[i];
          if (result && result.status < 300 && result._seq_no !== undefined) {
            const proof = {
              id: leaseIds[i],
              seqNo: result._seq_no,
              primaryTerm: result._primary_term!,
              changed: false,
              takenAt,
            };
            leased.push({ id: candidate.id, source: candidate.source, proof });
            this.leasesInProgress.add(proof.id);
          } else if (result?.status === 409) {
            lost.set(candidate.id, candidate.hasFrameSets === true);
          }
        });
      }
      if (round > 0 || lost.size === 0 || leased.length >= limit) return;
      // A conflict may only mean the search was stale (the collector queued frames since): look in real time.
      const fresh = await this.client.mget<Document>({ index: SQ_EXECUTABLES, ids: [...lost.keys()] });
      for (const doc of fresh.docs) {
        if (!('found' in doc) || !doc.found || doc._seq_no === undefined) continue;
        const source = doc._source ?? {};
        const hasFrameSets = lost.get(doc._id) === true;
        if (!isDue(source, Date.now(), owner, this.leasesInProgress, hasFrameSets)) continue;
        candidates.push(candidateFrom({ ...doc, _seq_no: doc._seq_no }, hasFrameSets));
      }
      lost.clear();
    }
  }

  private async describeWork(leased: Leased[]): Promise<ExecutableWork[]> {
    if (leased.length === 0) return [];
    const ids = leased.map((l) => l.id);
    const markers = await this.markers(ids);
    const unnamed = leased.filter((l) => !sourceField(l.source, 'Executable.file.name')).map((l) => l.id);
    const executables = new Map<string, { fileName: string; buildId?: string }>();
    if (unnamed.length > 0) {
      // Queued before the name was known here: the executables index has it.
      for (const { docs } of await this.mgetChunks(EXECUTABLES, unnamed)) {
        for (const doc of docs) {
          if ('found' in doc && doc.found)
            executables.set(doc._id, executableFromSource(doc._id, doc._source));
        }
      }
    }
    return leased.map(({ id, source, proof }) => {
      const known = executables.get(id);
      const work: ExecutableWork = {
        fileId: id,
        fileName: text(sourceField(source, 'Executable.file.name')) || known?.fileName || '',
        hasSymbols: markers.has(id),
        attempts: Number(sourceField(source, 'Symbolization.retries') ?? 0) || 0,
        lease: encodeLease(proof),
      };
      const buildId = text(sourceField(source, 'Executable.build.id')) || known?.buildId;
      if (buildId) work.buildId = buildId;
      const reason = text(sourceField(source, 'uniprof.reason'));
      if (reason) work.lastReason = reason;
      return work;
    });
  }

  /** The queue document in real time, with its version. */
  private async queueDocument(
    fileId: string,
  ): Promise<{ source: Document; seqNo: number; primaryTerm: number } | undefined> {
    try {
      const doc = await this.client.get<Document>({ index: SQ_EXECUTABLES, id: fileId });
      if (!doc.found || doc._seq_no === undefined) return undefined;
      return { source: doc._source ?? {}, seqNo: doc._seq_no, primaryTerm: doc._primary_term! };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  private async conditionalUpdate(
    fileId: string,
    version: { seqNo: number; primaryTerm: number },
    doc: Document,
  ): Promise<{ seqNo: number; primaryTerm: number } | undefined> {
    try {
      const response = await this.client.update({
        index: SQ_EXECUTABLES,
        id: fileId,
        if_seq_no: version.seqNo,
        if_primary_term: version.primaryTerm,
        doc: nested(doc),
        detect_noop: false,
      });
      return { seqNo: response._seq_no!, primaryTerm: response._primary_term! };
    } catch (error) {
      if (isConflict(error) || isMissing(error)) return undefined;
      throw error;
    }
  }

  async renewLease(work: ExecutableWork, leaseMs: number): Promise<boolean> {
    const proof = decodeLease(work.lease);
    if (!proof) return false;
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      const current = await this.queueDocument(work.fileId);
      if (!current || sourceField(current.source, 'uniprof.lease.id') !== proof.id) return false;
      const changed =
        proof.changed || current.seqNo !== proof.seqNo || current.primaryTerm !== proof.primaryTerm;
      const written = await this.conditionalUpdate(work.fileId, current, {
        'uniprof.lease.until': Date.now() + leaseMs,
      });
      if (written) {
        work.lease = encodeLease({ ...proof, ...written, changed });
        return true;
      }
    }
    return false;
  }

  async releaseExecutable(
    work: ExecutableWork,
    outcome: { retryAt?: number; reason?: string },
  ): Promise<boolean> {
    const proof = decodeLease(work.lease);
    if (!proof) return false;
    this.leasesInProgress.delete(proof.id);
    this.queuedOfFile.delete(work.fileId);
    // Frames resolved by resolveFrames are gone from the queue once it is refreshed; any left were queued by
    // a bulk request the lease did not see (its items land in no fixed order) or not taken by the worker.
    const framesLeft = outcome.retryAt === undefined && (await this.countQueuedFrames(work.fileId, true)) > 0;
    // A failed attempt waits for its retry whatever came, but says so when frames came meanwhile.
    const framesCame =
      outcome.retryAt !== undefined && (await this.frameSetsCreatedSince(work.fileId, proof.takenAt)) > 0;
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      const current = await this.queueDocument(work.fileId);
      if (!current || sourceField(current.source, 'uniprof.lease.id') !== proof.id) return false;
      const changed =
        proof.changed ||
        framesCame ||
        current.seqNo !== proof.seqNo ||
        current.primaryTerm !== proof.primaryTerm;
      if (changed && outcome.retryAt !== undefined && !(await this.hasMarker(work.fileId))) {
        // Frames came, but this attempt found no symbols and none were stored since: it still waits for its
        // retry (the contract). Checked after reading `current`: symbols stored later bump its version (their
        // due update comes after the marker), so this write then fails and the next round sees them.
        if (await this.conditionalUpdate(work.fileId, current, retryFields(current.source, outcome)))
          return false;
        continue;
      }
      if (changed || framesLeft) {
        // Stays due (queued frames or stored symbols made it so) and free for any worker.
        const doc =
          framesLeft && !changed ? { ...NO_LEASE, 'Symbolization.time.next': Date.now() } : NO_LEASE;
        if (await this.conditionalUpdate(work.fileId, current, doc)) return false;
        continue;
      }
      const doc: Document =
        outcome.retryAt !== undefined
          ? retryFields(current.source, outcome)
          : {
              ...NO_LEASE,
              'Symbolization.time.next': null,
              'Symbolization.retries': 0,
              'uniprof.reason': null,
              [FRAMES_QUEUED_FIELD]: false,
            };
      if (await this.conditionalUpdate(work.fileId, current, doc)) return true;
    }
    return false;
  }

  async retryWaitingNow(reasons: readonly string[]): Promise<number> {
    if (reasons.length === 0) return 0;
    const now = Date.now();
    let retried = 0;
    let after: estypes.SortResults | undefined;
    for (;;) {
      let hits: estypes.SearchHit<Document>[];
      try {
        // Waiting for a retry; the reason and the lease are checked on the documents (where the plugin owns
        // the layout, those fields are not mapped).
        const response = await this.client.search<Document>({
          index: SQ_EXECUTABLES,
          ...SEARCH_OPTIONS,
          size: RETRY_NOW_PAGE,
          query: {
            bool: {
              filter: [
                { range: { 'Symbolization.time.next': { gt: now } } },
                { range: { 'Symbolization.retries': { gt: 0 } } },
              ],
            },
          },
          sort: [{ 'Executable.file.id': 'asc' }],
          ...(after ? { search_after: after } : {}),
        });
        hits = response.hits.hits;
      } catch (error) {
        if (isMissing(error)) return retried;
        throw error;
      }
      for (const hit of hits) {
        if (await this.retryNow(hit._id!, reasons, now)) retried++;
      }
      if (hits.length < RETRY_NOW_PAGE) return retried;
      after = hits[hits.length - 1].sort;
    }
  }

  /** One executable of `retryWaitingNow`, read again (search results lag): false when it no longer waits. */
  private async retryNow(fileId: string, reasons: readonly string[], now: number): Promise<boolean> {
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      const current = await this.queueDocument(fileId);
      if (!current) return false;
      const next = dateMillis(sourceField(current.source, 'Symbolization.time.next'));
      const until = dateMillis(sourceField(current.source, 'uniprof.lease.until'));
      const waiting =
        next !== undefined &&
        next > now &&
        (Number(sourceField(current.source, 'Symbolization.retries')) || 0) > 0 &&
        reasons.includes(text(sourceField(current.source, 'uniprof.reason'))) &&
        // Leased ones are left to their worker: its release decides.
        (until === undefined || until <= now);
      if (!waiting) return false;
      const written = await this.conditionalUpdate(fileId, current, {
        'Symbolization.time.next': now,
        'Symbolization.retries': 0,
      });
      if (written) return true;
    }
    return false;
  }

  /**
   * Frame sets first (oldest first), then the file's per-frame documents (stack leaves, which are in its
   * frame sets too, and frames queued one document each by collectors of layout version 4 and before).
   * A frame queued twice (two collectors, a resend) is handed out once.
   */
  async pendingFrames(fileId: string, limit: number): Promise<PendingFrame[]> {
    if (limit <= 0) return [];
    // Queued frames become searchable at a refresh; without one a worker could miss frames its lease covers.
    await this.refresh(QUEUED_FRAME_INDICES);
    const state: QueuedFramesOfFile = { sets: new Map(), setsOf: new Map(), perFrame: new Set() };
    const frames: PendingFrame[] = [];
    const handedOut = new Set<string>();
    const take = (frame: PendingFrame): void => {
      if (frames.length >= limit || handedOut.has(frame.frameId)) return;
      handedOut.add(frame.frameId);
      frames.push(frame);
    };
    const size = Math.min(limit, MAX_HITS);
    const query = { term: { 'Executable.file.id': fileId } };
    // Every set holds a frame at least, so `limit` sets hold `limit` frames unless some are queued twice;
    // then fewer come back, and the release finds the rest still queued (the executable stays due).
    for (const hit of await this.searchHits(SQ_FRAMESETS, {
      size,
      seq_no_primary_term: true,
      query,
      sort: [{ 'Time.created': 'asc' }],
      _source: ['Time.created', 'uniprof.addresses', 'uniprof.leaf_addresses'],
    })) {
      const addresses = unpackAddresses(sourceField(hit._source, 'uniprof.addresses'));
      const set: FrameSet = {
        id: hit._id!,
        index: hit._index,
        created: sourceField(hit._source, 'Time.created'),
        seqNo: hit._seq_no!,
        primaryTerm: hit._primary_term!,
        remaining: new Set(addresses),
        leaves: new Set(unpackAddresses(sourceField(hit._source, 'uniprof.leaf_addresses'))),
      };
      state.sets.set(set.id, set);
      for (const address of addresses) {
        const id = frameId(fileId, BigInt(address));
        state.setsOf.set(id, [...(state.setsOf.get(id) ?? []), set.id]);
        if (set.leaves.has(address)) state.perFrame.add(id);
        take({ frameId: id, fileId, address });
      }
    }
    if (frames.length < limit) {
      for (const hit of await this.searchHits(SQ_LEAFFRAMES, {
        size,
        query,
        sort: [{ 'Time.created': 'asc' }],
      })) {
        const frame = pendingFrameFromSource(hit._id!, hit._source);
        state.perFrame.add(frame.frameId);
        take(frame);
      }
    }
    this.queuedOfFile.set(fileId, state);
    return frames;
  }

  private async searchHits(
    index: string,
    request: Omit<estypes.SearchRequest, 'index'>,
  ): Promise<estypes.SearchHit<Document>[]> {
    try {
      return (await this.client.search<Document>({ index, ...SEARCH_OPTIONS, ...request })).hits.hits;
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  }

  async resolveFrames(symbols: readonly StackFrameSymbols[], frameIds: readonly string[]): Promise<void> {
    // Symbols first: a frame leaves the queue only once its name is stored.
    const frameLines = stackFrameOverwriteLines(symbols);
    for (let i = 0; i < frameLines.length; i += 2 * MGET_CHUNK) {
      await bulkOrThrow(
        this.client,
        frameLines.slice(i, i + 2 * MGET_CHUNK).map((line) => JSON.parse(line) as Document),
      );
    }
    // One entry per operation (an `index` is its action and its document), so no request parts the two.
    const operations: Document[][] = [];
    const touched = new Map<FrameSet, string>();
    for (const id of frameIds) {
      const frame = frameRef(id);
      const state = frame && this.queuedOfFile.get(frame.fileId);
      const sets = state?.setsOf.get(id);
      // Not handed out from a frame set here: a per-frame document, as every frame had before frame sets.
      if (!frame || !state || !sets || state.perFrame.has(id))
        operations.push([{ delete: { _index: SQ_LEAFFRAMES, _id: id } }]);
      for (const setId of sets ?? []) {
        const set = state!.sets.get(setId)!;
        set.remaining.delete(frame!.address);
        touched.set(set, frame!.fileId);
      }
    }
    // Conditional: a set rewritten or deleted meanwhile (a worker that took the lease over) is left to it.
    for (const [set, fileId] of touched) {
      const version = {
        _index: set.index,
        _id: set.id,
        if_seq_no: set.seqNo,
        if_primary_term: set.primaryTerm,
      };
      if (set.remaining.size === 0) {
        operations.push([{ delete: version }]);
        continue;
      }
      const addresses = [...set.remaining];
      const leafAddresses = addresses.filter((address) => set.leaves.has(address));
      operations.push([
        { index: version },
        { ...frameSetDocument(fileId, 0, { addresses, leafAddresses }), 'Time.created': set.created },
      ]);
    }
    for (const chunk of chunks(operations, MGET_CHUNK)) {
      await bulkOrThrow(this.client, chunk.flat(), { conditional: true });
    }
  }

  private async frameSetsCreatedSince(fileId: string, since: number): Promise<number> {
    await this.refresh(SQ_FRAMESETS);
    return this.count(SQ_FRAMESETS, {
      bool: {
        filter: [{ term: { 'Executable.file.id': fileId } }, { range: { 'Time.created': { gte: since } } }],
      },
    });
  }

  private async countQueuedFrames(fileId: string, refresh: boolean): Promise<number> {
    if (refresh) await this.refresh(QUEUED_FRAME_INDICES);
    return this.count(QUEUED_FRAME_INDICES, { term: { 'Executable.file.id': fileId } });
  }

  /**
   * Counted as of the last refresh (at most the indices' refresh interval behind): this is read on every
   * metrics scrape and status page view, and forcing a refresh of four indices each time made segments and
   * work for Elasticsearch out of every reader. Callers that ask at once share one count, and a count is
   * kept for BACKLOG_CACHE_MS.
   */
  backlog(): Promise<SymbolizationBacklog> {
    const cached = this.backlogCache;
    if (cached && (cached.pending || performance.now() - cached.at < BACKLOG_CACHE_MS)) return cached.result;
    const entry = { at: performance.now(), pending: true, result: this.countBacklog() };
    this.backlogCache = entry;
    void entry.result.then(
      () => {
        entry.pending = false;
        entry.at = performance.now();
      },
      () => {
        if (this.backlogCache === entry) this.backlogCache = undefined;
      },
    );
    return entry.result;
  }

  private async countBacklog(): Promise<SymbolizationBacklog> {
    const pendingFrames = await this.countPendingFrames();
    const filesWithFrames: string[] = [];
    for await (const files of this.fileIdPages(QUEUED_FRAME_INDICES, 10_000)) filesWithFrames.push(...files);
    const symbolized = await this.markers(filesWithFrames);
    const markerQuery = {
      bool: {
        filter: [{ exists: { field: 'Symbol.file.id' } }],
        must_not: [{ exists: { field: 'Symbol.exec.pcrange' } }],
      },
    };
    const reasons = await this.client.search({
      index: SQ_EXECUTABLES,
      ...SEARCH_OPTIONS,
      size: 0,
      query: { exists: { field: 'Symbolization.time.next' } },
      aggregations: { reasons: { terms: { field: 'uniprof.reason', size: 1000 } } },
    });
    const waitingByReason: Record<string, number> = {};
    const reasonBuckets =
      (reasons.aggregations?.reasons as { buckets: { key: string; doc_count: number }[] } | undefined)
        ?.buckets ?? [];
    for (const bucket of reasonBuckets) waitingByReason[bucket.key] = bucket.doc_count;
    return {
      pendingExecutables: filesWithFrames.filter((fileId) => !symbolized.has(fileId)).length,
      pendingFrames,
      symbolizedExecutables: await this.count(SYMBOL_INDICES.join(','), markerQuery),
      waitingByReason,
    };
  }

  /** Frames in frame sets, plus per-frame documents that are not a frame set's leaves (older collectors'). */
  private async countPendingFrames(): Promise<number> {
    const perFrame = await this.count(SQ_LEAFFRAMES);
    let inSets = 0;
    let leaves = 0;
    try {
      const response = await this.client.search({
        index: SQ_FRAMESETS,
        ...SEARCH_OPTIONS,
        size: 0,
        aggregations: {
          frames: { sum: { field: 'uniprof.frame_count' } },
          leaves: { sum: { field: 'uniprof.leaf_count' } },
        },
      });
      const sum = (name: string) =>
        (response.aggregations?.[name] as { value?: number | null } | undefined)?.value ?? 0;
      inSets = sum('frames');
      leaves = sum('leaves');
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    return inSets + Math.max(0, perFrame - leaves);
  }

  // ---- symbols ----

  putReturnPads(fileId: string, pads: AsyncIterable<readonly ReturnPad[]>): Promise<{ pads: number }> {
    return this.pads.put(fileId, pads);
  }

  returnPads(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolizedFrame[]>> {
    return this.pads.lookup(fileId, addresses);
  }

  async putSymbols(
    fileId: string,
    ranges: AsyncIterable<readonly SymbolRange[]>,
    info: PutSymbolsInfo,
  ): Promise<{ ranges: number }> {
    const index = info.source === 'upload' ? SYMBOLS_PRIVATE : SYMBOLS_GLOBAL;
    const other = index === SYMBOLS_PRIVATE ? SYMBOLS_GLOBAL : SYMBOLS_PRIVATE;
    const generation = newGeneration();
    let count = 0;
    const levels = new Set<number>();
    // Bulk requests overlap (Elasticsearch indexes two at once on separate threads) but stay bounded.
    const inFlight: Promise<void>[] = [];
    const send = async (operations: Document[]): Promise<void> => {
      const request = bulkOrThrow(this.client, operations);
      request.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      inFlight.push(request);
      if (inFlight.length >= UPLOAD_IN_FLIGHT) await inFlight.shift();
    };
    try {
      let operations: Document[] = [];
      for await (const chunk of ranges) {
        for (const range of chunk) {
          checkRange(range);
          levels.add(bucketLevel(range.end - range.start));
          operations.push(
            { index: { _index: index, _id: `${fileId}.${generation}.${count.toString(36)}` } },
            rangeDocument(fileId, generation, range),
          );
          count++;
          if (operations.length >= 2 * UPLOAD_CHUNK) {
            await send(operations);
            operations = [];
          }
        }
      }
      if (operations.length > 0) await send(operations);
      await Promise.all(inFlight);
      inFlight.length = 0;
      // Readers search ranges (refresh-bound) but read the marker in real time: the ranges must be
      // searchable before the marker points at them.
      await this.refresh(index);
      const marker = { generation, ranges: count, levels: [...levels].sort((x, y) => x - y) };
      if (!(await this.pointMarker(fileId, index, marker, info))) {
        // A newer upload of the same file won meanwhile; ours is superseded.
        await this.deleteRanges(index, fileId, (g) => g === generation);
        return { ranges: count };
      }
    } catch (error) {
      // Requests still running would write behind the clean-up.
      await Promise.allSettled(inFlight);
      await this.deleteRanges(index, fileId, (g) => g === generation).catch(() => undefined);
      throw error;
    }
    await this.deleteRanges(index, fileId, (g) => g < generation);
    await this.deleteRanges(other, fileId, (g) => g < generation);
    // Pads were computed from the ranges just replaced: the caller stores new ones after.
    await this.pads.deleteFile(fileId);
    await this.deleteOlderMarker(other, fileId, generation);
    const due = symbolsStoredUpdate(fileId, Date.now(), info);
    await bulkOrThrow(this.client, [due.action, due.body]);
    return { ranges: count };
  }

  /** Points the file's marker at `generation` unless a newer generation got there first. */
  private async pointMarker(
    fileId: string,
    index: string,
    { generation, ranges, levels }: { generation: string; ranges: number; levels: number[] },
    info: PutSymbolsInfo,
  ): Promise<boolean> {
    const doc: Document = {
      'ecs.version': ECS_VERSION,
      'Symbol.file.id': fileId,
      [GENERATION_FIELD]: generation,
      [LEVELS_FIELD]: levels,
      [RANGES_FIELD]: ranges,
      'uniprof.symbols.source': info.source,
      'uniprof.symbols.created': Date.now(),
    };
    if (info.buildId) doc['uniprof.symbols.build_id'] = info.buildId;
    if (info.fileName) doc['uniprof.symbols.file_name'] = info.fileName;
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      const current = await this.markers([fileId]);
      const marker = current.get(fileId);
      if (marker && marker.generation > generation) return false;
      const sameIndex = marker?.index === index ? marker : undefined;
      try {
        await this.client.index({
          index,
          id: fileId,
          document: doc,
          ...(sameIndex
            ? { if_seq_no: sameIndex.seqNo, if_primary_term: sameIndex.primaryTerm }
            : { op_type: 'create' as const }),
        });
        return true;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    throw new Error(`symbols of ${fileId}: the marker kept changing under concurrent uploads`);
  }

  private async deleteOlderMarker(index: string, fileId: string, generation: string): Promise<void> {
    const marker = await this.markerIn(index, fileId);
    if (!marker || marker.generation >= generation) return;
    try {
      await this.client.delete({
        index,
        id: fileId,
        if_seq_no: marker.seqNo,
        if_primary_term: marker.primaryTerm,
      });
    } catch (error) {
      if (!isConflict(error) && !isMissing(error)) throw error;
    }
  }

  private async markerIn(index: string, fileId: string): Promise<Marker | undefined> {
    try {
      const doc = await this.client.get<Document>({ index, id: fileId });
      const generation = text(sourceField(doc._source, GENERATION_FIELD));
      if (!doc.found || !generation) return undefined;
      return { index, generation, seqNo: doc._seq_no, primaryTerm: doc._primary_term };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The current marker of each file that has one (the newest generation when both indices hold one). */
  private async markers(fileIds: readonly string[]): Promise<Map<string, Marker>> {
    const result = new Map<string, Marker>();
    if (fileIds.length === 0) return result;
    // Both indices at once: every lookup reads the markers twice (before and after its search).
    const responses = await Promise.all(SYMBOL_INDICES.map((index) => this.mgetChunks(index, fileIds)));
    for (const [i, index] of SYMBOL_INDICES.entries()) {
      for (const { docs } of responses[i]) {
        for (const doc of docs) {
          if (!('found' in doc) || !doc.found) continue;
          const generation = text(sourceField(doc._source, GENERATION_FIELD));
          if (!generation) continue;
          const known = result.get(doc._id);
          if (known && known.generation > generation) continue;
          const levels = sourceField(doc._source, LEVELS_FIELD);
          const ranges = Number(sourceField(doc._source, RANGES_FIELD));
          result.set(doc._id, {
            index,
            generation,
            seqNo: doc._seq_no,
            primaryTerm: doc._primary_term,
            ...(Array.isArray(levels) ? { levels: levels.map(Number) } : {}),
            ...(Number.isSafeInteger(ranges) ? { ranges } : {}),
          });
        }
      }
    }
    return result;
  }

  private async hasMarker(fileId: string): Promise<boolean> {
    return (await this.markers([fileId])).has(fileId);
  }

  async filesWithSymbols(fileIds: readonly string[]): Promise<Set<string>> {
    return new Set((await this.markers([...new Set(fileIds)])).keys());
  }

  hasReturnPads(fileId: string): Promise<boolean> {
    return this.pads.stored(fileId);
  }

  async symbolsVersion(fileId: string): Promise<SymbolsVersion | undefined> {
    const marker = (await this.markers([fileId])).get(fileId);
    return marker && { version: marker.generation, ranges: marker.ranges ?? 0 };
  }

  async allSymbolRanges(
    fileId: string,
    maxRanges: number,
  ): Promise<{ version: string; ranges: SymbolRange[] } | undefined> {
    // As symbolRanges: an upload finishing while we read could delete the generation we started with.
    for (let attempt = 0; attempt < 3; attempt++) {
      const marker = (await this.markers([fileId])).get(fileId);
      if (!marker || (marker.ranges ?? 0) > maxRanges) return undefined;
      const ranges = await this.generationRanges(fileId, marker, maxRanges);
      if (ranges === undefined) return undefined;
      const after = (await this.markers([fileId])).get(fileId);
      if (after?.generation === marker.generation) return { version: marker.generation, ranges };
    }
    throw new Error(`symbols of ${fileId} kept changing while being read`);
  }

  /** Every range of the marker's generation, scrolled in index order; undefined past `maxRanges`. */
  private async generationRanges(
    fileId: string,
    marker: Marker,
    maxRanges: number,
  ): Promise<SymbolRange[] | undefined> {
    const ranges: SymbolRange[] = [];
    let response = await this.client.search<Document>({
      index: marker.index,
      ...SEARCH_OPTIONS,
      scroll: '1m',
      size: ALL_RANGES_PAGE,
      sort: ['_doc'],
      _source_excludes: [BUCKETS_FIELD],
      query: {
        bool: {
          filter: [{ term: { 'Symbol.file.id': fileId } }, { exists: { field: 'Symbol.exec.pcrange' } }],
        },
      },
    });
    const scrollIds = new Set<string>();
    try {
      for (;;) {
        if (response._scroll_id) scrollIds.add(response._scroll_id);
        const hits = response.hits.hits;
        if (hits.length === 0) return ranges;
        for (const hit of hits) {
          if (sourceField(hit._source, GENERATION_FIELD) !== marker.generation) continue;
          ranges.push(rangeFromSource(hit._source));
        }
        if (ranges.length > maxRanges) return undefined;
        if (!response._scroll_id) return ranges;
        response = await this.client.scroll<Document>({ scroll_id: response._scroll_id, scroll: '1m' });
      }
    } finally {
      if (scrollIds.size > 0)
        await this.client.clearScroll({ scroll_id: [...scrollIds] }).catch(() => undefined);
    }
  }

  async symbolRanges(fileId: string, addresses: readonly number[]): Promise<Map<number, SymbolRange[]>> {
    // An upload finishing while we read could delete the generation we started with: read again then.
    for (let attempt = 0; attempt < 3; attempt++) {
      const marker = (await this.markers([fileId])).get(fileId);
      if (!marker) return new Map();
      const result = await this.rangesOf(fileId, marker, addresses);
      const after = (await this.markers([fileId])).get(fileId);
      if (after?.generation === marker.generation) return result;
    }
    throw new Error(`symbols of ${fileId} kept changing while being read`);
  }

  private async rangesOf(
    fileId: string,
    marker: Marker,
    addresses: readonly number[],
  ): Promise<Map<number, SymbolRange[]>> {
    const unique = [...new Set(addresses)]
      .filter((a) => Number.isSafeInteger(a) && a >= 0)
      .sort((a, b) => a - b);
    const found = new Map<string, SymbolRange>();
    const levels = marker.levels;
    const pending = chunks(
      unique,
      levels
        ? Math.max(1, Math.min(ADDRESSES_PER_BUCKET_SEARCH, Math.floor(BUCKETS_PER_SEARCH / levels.length)))
        : ADDRESSES_PER_SEARCH,
    );
    while (pending.length > 0) {
      const requests = pending.splice(0, SEARCHES_PER_REQUEST);
      const response = await this.client.msearch<Document>({
        index: marker.index,
        ...SEARCH_OPTIONS,
        searches: requests.flatMap((group) => [
          {},
          {
            size: MAX_HITS,
            track_total_hits: true,
            query: {
              bool: {
                filter: [
                  { term: { 'Symbol.file.id': fileId } },
                  levels
                    ? {
                        terms: {
                          [BUCKETS_FIELD]: [...new Set(group.flatMap((a) => addressBuckets(a, levels)))],
                        },
                      }
                    : {
                        bool: {
                          should: group.map((address) => ({
                            term: { 'Symbol.exec.pcrange': addressToIp(address) },
                          })),
                          minimum_should_match: 1,
                        },
                      },
                ],
              },
            },
          },
        ]),
      });
      response.responses.forEach((item, i) => {
        if ('error' in item) throw new Error(`symbol ranges of ${fileId}: ${JSON.stringify(item.error)}`);
        const total = item.hits.total;
        const totalHits = typeof total === 'number' ? total : (total?.value ?? 0);
        if (totalHits > MAX_HITS) {
          // Deep inline trees: fewer addresses per search.
          const group = requests[i];
          if (group.length === 1)
            throw new Error(`symbol ranges of ${fileId}: over ${MAX_HITS} at one address`);
          const half = Math.ceil(group.length / 2);
          pending.push(group.slice(0, half), group.slice(half));
          return;
        }
        for (const hit of item.hits.hits) {
          if (sourceField(hit._source, GENERATION_FIELD) !== marker.generation) continue;
          found.set(hit._id!, rangeFromSource(hit._source));
        }
      });
    }
    const ranges = [...found.values()].sort((a, b) => a.start - b.start || a.depth - b.depth);
    const result = new Map<number, SymbolRange[]>();
    // Both sorted: walk the addresses with a window of ranges that may still contain them.
    let next = 0;
    const open: SymbolRange[] = [];
    for (const address of unique) {
      while (next < ranges.length && ranges[next].start <= address) open.push(ranges[next++]);
      const containing = open.filter((r) => r.end > address);
      open.length = 0;
      open.push(...containing);
      if (containing.length > 0)
        result.set(
          address,
          [...containing].sort((a, b) => a.depth - b.depth),
        );
    }
    return result;
  }

  /** Deletes a file's ranges whose generation `drop` picks (never the marker), page by page. */
  private async deleteRanges(
    index: string,
    fileId: string,
    drop: (generation: string) => boolean,
  ): Promise<void> {
    await this.refresh(index);
    await deleteMatching(
      this.client,
      {
        index,
        _source: [GENERATION_FIELD],
        query: {
          bool: {
            filter: [{ term: { 'Symbol.file.id': fileId } }, { exists: { field: 'Symbol.exec.pcrange' } }],
          },
        },
      },
      (hit) => drop(text(sourceField(hit._source, GENERATION_FIELD))),
    );
  }

  // ---- helpers ----

  private async mgetChunks(index: string, ids: readonly string[]): Promise<estypes.MgetResponse<Document>[]> {
    const responses: estypes.MgetResponse<Document>[] = [];
    for (const part of chunks(ids, MGET_CHUNK)) {
      try {
        responses.push(await this.client.mget<Document>({ index, ids: part }));
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    return responses;
  }

  private async count(index: string, query?: estypes.QueryDslQueryContainer): Promise<number> {
    try {
      return (await this.client.count({ index, ...SEARCH_OPTIONS, ...(query ? { query } : {}) })).count;
    } catch (error) {
      if (isMissing(error)) return 0;
      throw error;
    }
  }

  private async refresh(index: string): Promise<void> {
    await this.client.indices.refresh({ index, ...SEARCH_OPTIONS, expand_wildcards: 'all' });
  }
}

const NO_LEASE = { 'uniprof.lease.owner': null, 'uniprof.lease.id': null, 'uniprof.lease.until': null };

/** A released lease whose attempt found no symbols: one more attempt counted, the next at `retryAt`. */
function retryFields(source: Document, outcome: { retryAt?: number; reason?: string }): Document {
  return {
    ...NO_LEASE,
    'Symbolization.time.next': outcome.retryAt,
    'Symbolization.retries': Math.min(
      32_767,
      (Number(sourceField(source, 'Symbolization.retries')) || 0) + 1,
    ),
    'uniprof.reason': outcome.reason ?? 'unknown',
  };
}

/**
 * Due and not leased by another worker: a lease `owner` itself holds counts as free (the contract), so a
 * symbolizer restarted under its stable owner takes back at once what it held when it died.
 */
function dueQuery(now: number, owner: string): estypes.QueryDslQueryContainer {
  return {
    bool: {
      filter: [
        {
          bool: {
            should: [
              { range: { 'Symbolization.time.next': { lte: now } } },
              {
                bool: {
                  filter: [{ term: { [FRAMES_QUEUED_FIELD]: true } }],
                  must_not: [{ range: { 'Symbolization.retries': { gt: 0 } } }],
                },
              },
            ],
            minimum_should_match: 1,
          },
        },
        {
          bool: {
            should: [
              { bool: { must_not: [{ range: { 'uniprof.lease.until': { gt: now } } }] } },
              { term: { 'uniprof.lease.owner': owner } },
            ],
            minimum_should_match: 1,
          },
        },
      ],
    },
  };
}

function isDue(
  source: Document,
  now: number,
  owner: string,
  inProgress: ReadonlySet<string>,
  hasFrameSets = false,
): boolean {
  const next = dateMillis(sourceField(source, 'Symbolization.time.next'));
  const until = dateMillis(sourceField(source, 'uniprof.lease.until'));
  const ownEarlierLease =
    sourceField(source, 'uniprof.lease.owner') === owner &&
    !inProgress.has(text(sourceField(source, 'uniprof.lease.id')));
  const free = until === undefined || until <= now || ownEarlierLease;
  const waitingForRetry = (Number(sourceField(source, 'Symbolization.retries')) || 0) > 0;
  const framesQueued =
    (hasFrameSets || sourceField(source, FRAMES_QUEUED_FIELD) === true) && !waitingForRetry;
  return ((next !== undefined && next <= now) || framesQueued) && free;
}
