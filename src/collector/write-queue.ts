import type { ProfileBatch } from '../model/index.ts';
import { StoreBusyError, StoreUnavailableError, type StoreWriter } from '../store/store.ts';

export interface WriteQueueHooks {
  onDepthChange?(depth: number): void;
  onWrite?(seconds: number): void;
}

/**
 * Admission control in front of `store.write`: at most `maxPendingRequests` batches may be waiting for the
 * store at once (the stores coalesce concurrent writes into one commit themselves). Past that, new requests
 * are refused at once with StoreBusyError instead of piling up in memory while the store falls behind.
 * `drain()` is the shutdown half: it closes the door and waits until every accepted batch was written.
 */
export class WriteQueue {
  private pending = 0;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly store: StoreWriter,
    private readonly maxPendingRequests: number,
    private readonly hooks: WriteQueueHooks = {},
  ) {}

  /** Batches handed to the store and not yet written. */
  get depth(): number {
    return this.pending;
  }

  get capacity(): number {
    return this.maxPendingRequests;
  }

  /** Resolves once the batch is durable; rejects with the store's error, or StoreBusyError when full. */
  async submit(batch: ProfileBatch): Promise<void> {
    if (this.closed) {
      throw new StoreUnavailableError('the collector is shutting down and takes no more writes');
    }
    if (this.pending >= this.maxPendingRequests) {
      throw new StoreBusyError(`write queue full: ${this.pending} requests are waiting for the store`);
    }
    this.setPending(this.pending + 1);
    const started = performance.now();
    try {
      await this.store.write(batch);
      this.hooks.onWrite?.((performance.now() - started) / 1000);
    } finally {
      this.setPending(this.pending - 1);
      if (this.pending === 0) this.notifyIdle();
    }
  }

  /** Refuses new batches and resolves once every accepted one has been written (or has failed). */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private setPending(value: number): void {
    this.pending = value;
    this.hooks.onDepthChange?.(value);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
