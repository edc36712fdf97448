/**
 * Drains spool segments into Elasticsearch with bulk requests: a bounded number in flight, whole requests
 * retried with backoff while the cluster is unreachable or overloaded, items retried on 429/5xx and on 409 of
 * an `update`, 409 on `create` taken as "already there", and items Elasticsearch will never take set aside in a dead-letter
 * file next to the spool, so nothing acknowledged disappears silently.
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { errors, type Client } from '@elastic/elasticsearch';
import type { StoreLogger } from './options.ts';
import type { Spool } from './spool.ts';

export interface SenderOptions {
  maxBytes: number;
  maxInFlight: number;
  maxRetryDelayMs: number;
  logger: StoreLogger;
}

export interface SenderCounters {
  bulkRequests: number;
  documentsWritten: number;
  /** `create` of a document that was already there: content-addressed duplicates and resent events. */
  conflictsIgnored: number;
  documentsRetried: number;
  documentsRejected: number;
  requestFailures: number;
}

interface Item {
  action: string;
  doc: string;
}

type ItemOutcome = 'done' | 'retry' | 'reject';

const REJECTED_FILE = 'rejected.ndjson';
const INITIAL_RETRY_DELAY_MS = 100;
/**
 * All the sender reads of a bulk response. Every item keeps its place (each has a status), and Elasticsearch
 * writes about 20 bytes per document instead of about 200 (index, ID, version, shards, sequence number).
 */
const BULK_RESPONSE_FIELDS = 'items.*.status,items.*.error';

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * What a failed request's log line says: the client's errors carry the whole request (a bulk body of
 * megabytes) in `meta`, which a logger would otherwise write out in full.
 */
function summarize(error: unknown): { name: string; message: string; status?: number } {
  if (!(error instanceof Error)) return { name: 'unknown', message: String(error) };
  const status = error instanceof errors.ResponseError ? error.statusCode : undefined;
  return { name: error.name, message: error.message.slice(0, 500), ...(status ? { status } : {}) };
}

export class BulkSender {
  readonly counters: SenderCounters = {
    bulkRequests: 0,
    documentsWritten: 0,
    conflictsIgnored: 0,
    documentsRetried: 0,
    documentsRejected: 0,
    requestFailures: 0,
  };
  private readonly queue: string[] = [];
  private inFlight = 0;
  private stopping = false;
  private consecutiveFailures = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly workers = new Set<Promise<void>>();
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly client: Client,
    private readonly spool: Spool,
    private readonly options: SenderOptions,
  ) {}

  /** False while the last bulk request failed as a whole (cluster down, overloaded, or refusing us). */
  get reachable(): boolean {
    return this.consecutiveFailures === 0;
  }

  get pendingSegments(): number {
    return this.queue.length + this.inFlight;
  }

  enqueue(segment: string): void {
    if (this.stopping) return;
    this.queue.push(segment);
    this.pump();
  }

  private pump(): void {
    while (!this.stopping && this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const segment = this.queue.shift()!;
      this.inFlight++;
      const worker = this.drainSegment(segment)
        .catch((error: unknown) => {
          // Left in the spool; the next start sends it again.
          this.options.logger.error({ err: error, segment }, 'spool segment could not be drained');
        })
        .finally(() => {
          this.inFlight--;
          this.workers.delete(worker);
          this.pump();
          if (this.inFlight === 0 && this.queue.length === 0) this.notifyIdle();
        });
      this.workers.add(worker);
    }
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves when every segment handed over so far has been settled. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking segments; requests in flight finish (or give up retrying) and their segments stay. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.queue.length = 0;
    for (const wake of [...this.sleepers]) wake();
    await Promise.all([...this.workers]);
    this.notifyIdle();
  }

  private async drainSegment(segment: string): Promise<void> {
    const lines = await this.spool.readSegment(segment);
    const items: Item[] = [];
    for (let i = 0; i + 1 < lines.length; i += 2) items.push({ action: lines[i], doc: lines[i + 1] });
    for (const chunk of chunkBySize(items, this.options.maxBytes)) {
      const settled = await this.sendUntilSettled(chunk);
      if (!settled) return; // stopping: the segment stays in the spool
    }
    await this.spool.remove(segment);
  }

  /** Returns false if it gave up because the sender is stopping. */
  private async sendUntilSettled(items: Item[]): Promise<boolean> {
    let remaining = items;
    let attempt = 0;
    while (remaining.length > 0) {
      if (attempt > 0) {
        if (this.stopping) return false;
        await this.backoff(attempt);
        if (this.stopping) return false;
      }
      attempt++;
      remaining = await this.sendOnce(remaining);
    }
    return true;
  }

  /** Capped exponential backoff with jitter; `stop()` cuts it short. */
  private async backoff(attempt: number): Promise<void> {
    const ceiling = Math.min(
      this.options.maxRetryDelayMs,
      INITIAL_RETRY_DELAY_MS * 2 ** Math.min(attempt, 20),
    );
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, delay);
      this.sleepers.add(wake);
    });
  }

  /** Sends one bulk request; returns the items to try again. */
  private async sendOnce(items: Item[]): Promise<Item[]> {
    this.counters.bulkRequests++;
    let response;
    try {
      response = await this.client.bulk({
        operations: items.flatMap((item) => [item.action, item.doc]),
        filter_path: BULK_RESPONSE_FIELDS,
      });
    } catch (error) {
      return this.onRequestFailure(items, error);
    }
    if ((response.items as unknown[] | undefined)?.length !== items.length) {
      // Nothing can be settled from an answer that does not name each document: send them all again.
      return this.onRequestFailure(items, new Error(`bulk response without one item per document`));
    }
    if (this.consecutiveFailures > 0) this.options.logger.info({}, 'Elasticsearch reachable again');
    this.consecutiveFailures = 0;
    const retry: Item[] = [];
    const rejected: { item: Item; status: number; error: unknown }[] = [];
    response.items.forEach((result, i) => {
      const [opType, outcome] = Object.entries(result)[0];
      const status = outcome?.status ?? 0;
      switch (classify(opType, status)) {
        case 'done':
          if (status === 409) this.counters.conflictsIgnored++;
          else this.counters.documentsWritten++;
          break;
        case 'retry':
          retry.push(items[i]);
          break;
        case 'reject':
          rejected.push({ item: items[i], status, error: outcome?.error });
      }
    });
    this.counters.documentsRetried += retry.length;
    if (rejected.length > 0) await this.setAside(rejected);
    return retry;
  }

  private async onRequestFailure(items: Item[], error: unknown): Promise<Item[]> {
    this.counters.requestFailures++;
    this.consecutiveFailures++;
    const status = error instanceof errors.ResponseError ? error.statusCode : undefined;
    if (status === 413 && items.length > 1) {
      // Too large for the cluster's http.max_content_length: halve until it fits.
      const half = Math.ceil(items.length / 2);
      const first = await this.sendOnce(items.slice(0, half));
      const second = await this.sendOnce(items.slice(half));
      return [...first, ...second];
    }
    if (status === 400) {
      await this.setAside(
        items.map((item) => ({ item, status, error: (error as errors.ResponseError).body })),
      );
      return [];
    }
    if (this.consecutiveFailures === 1 || this.consecutiveFailures % 20 === 0) {
      this.options.logger.warn(
        { error: summarize(error), failures: this.consecutiveFailures, documents: items.length },
        'bulk request failed; keeping the documents in the spool and retrying',
      );
    }
    return items;
  }

  /** Documents Elasticsearch refuses for good (a mapping conflict, a closed index): kept, never dropped. */
  private async setAside(rejected: { item: Item; status: number; error: unknown }[]): Promise<void> {
    this.counters.documentsRejected += rejected.length;
    const lines = rejected.map(({ item, status, error }) =>
      JSON.stringify({
        time: new Date().toISOString(),
        status,
        error,
        action: JSON.parse(item.action),
        document: JSON.parse(item.doc),
      }),
    );
    await appendFile(path.join(this.spool.dir, REJECTED_FILE), lines.join('\n') + '\n');
    const first = rejected[0];
    this.options.logger.error(
      { documents: rejected.length, status: first.status, error: first.error, file: REJECTED_FILE },
      'Elasticsearch rejected documents; they were set aside in the spool directory',
    );
  }
}

export const REJECTED_DOCUMENTS_FILE = REJECTED_FILE;

function classify(opType: string, status: number): ItemOutcome {
  if (status >= 200 && status < 300) return 'done';
  if (status === 409 && opType === 'create') return 'done';
  // An update that kept losing to concurrent writers (a symbolizer taking a lease) goes again, later.
  if (status === 409 && opType === 'update') return 'retry';
  if (isRetryableStatus(status)) return 'retry';
  return 'reject';
}

function chunkBySize(items: Item[], maxBytes: number): Item[][] {
  const chunks: Item[][] = [];
  let current: Item[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = item.action.length + item.doc.length + 2;
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
