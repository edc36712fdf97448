import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { StorageReport, StoreReader } from '../store/store.ts';
import { BadRequestError, parseTime } from './params.ts';
import { readBacklog, type BacklogSource, type BacklogStatus } from './symbolization.ts';

/** How old data leaves the store, as configured: shown beside the data it applies to. */
export interface RetentionInfo {
  /** Days data is kept; null when nothing deletes it. */
  days: number | null;
  /** What deletes it, for an operator: "the embedded store's retention job, every 60 minutes", … */
  enforcedBy: string;
}

/** `GET /api/storage`: the store's report for a range, the retention in force and the symbolization backlog. */
export interface StorageResponse extends StorageReport {
  from: number;
  to: number;
  retention: RetentionInfo;
  symbolization: BacklogStatus;
}

/** The range shown when none is asked for: the retention window, or 30 days when data is kept for ever. */
const DEFAULT_DAYS = 30;
/** Longest range one request may cover: the per-day list stays a few thousand rows. */
const MAX_RANGE_DAYS = 3660;

type Handle = (
  work: (query: Record<string, unknown>, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
) => (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export function registerStorageRoute(
  app: FastifyInstance,
  store: StoreReader & { readonly symbolization?: BacklogSource },
  options: { now: () => number; retention: RetentionInfo; backlogTimeoutMs: number },
  handle: Handle,
): void {
  app.get(
    '/api/storage',
    handle(async (query): Promise<StorageResponse> => {
      const now = options.now();
      const to = query.to !== undefined ? parseTime(String(query.to), 'to', now) : now + 1;
      const days = options.retention.days ?? DEFAULT_DAYS;
      const from = query.from !== undefined ? parseTime(String(query.from), 'from', now) : to - days * 86_400;
      if (to <= from) throw new BadRequestError(`empty time range: to (${to}) <= from (${from})`);
      if (to - from > MAX_RANGE_DAYS * 86_400)
        throw new BadRequestError(`the range is longer than ${MAX_RANGE_DAYS} days`);
      const [report, backlog] = await Promise.all([
        store.storage({ from, to }),
        readBacklog(store.symbolization, options.backlogTimeoutMs),
      ]);
      return { from, to, ...report, retention: options.retention, symbolization: backlog };
    }),
  );
}
