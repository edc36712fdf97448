import { StoreBusyError } from '../store/store.ts';

/**
 * Admission control for the cold path. A request's batch carries only what the store does not hold yet (the
 * translator's dedup caches learn what is stored once a write commits), so a collector in steady state sends
 * almost no new stack traces or frames, while a fleet arriving at a fresh collector sends nothing else: every
 * concurrent request translated before the first commit carries the same new stacks again, and a hundred of
 * them in memory at once cost well over a GiB of heap and repeat the store's most expensive writes.
 *
 * So a request is translated only once the new items (stack traces, frames, executables, queued frames) of
 * the batches translated and not yet durable are below a budget; otherwise it waits, holding just its body,
 * in arrival order. When it is its turn, what the batches before it carried is stored, and it brings only
 * what is still new. In steady state the budget is never reached and nothing waits.
 */
export interface AdmissionOptions {
  /** New items in translated batches not yet durable past which further requests wait before translating. */
  maxNewItemsInFlight: number;
  /** Requests waiting for admission past which new ones are refused at once (RESOURCE_EXHAUSTED / 429). */
  maxWaitingRequests: number;
  /**
   * Longest wait for admission before the request is refused (RESOURCE_EXHAUSTED / 429). A request with a
   * deadline waits less when that leaves it under a second to be stored in (see IngestPipeline): an agent gives
   * each Export 5 s and drops the data of a refused one, while a request answered a little late is stored all
   * the same. A request whose client gave up while it waited is dropped unread, so no backlog of dead requests
   * builds up.
   */
  maxWaitMs: number;
}

export const DEFAULT_ADMISSION_OPTIONS: AdmissionOptions = {
  maxNewItemsInFlight: 20_000,
  maxWaitingRequests: 1024,
  maxWaitMs: 4000,
};

/** One admitted request: it reports the new items its batch carries, then releases them once settled. */
export interface Admission {
  /** The batch is translated and carries `items` new items; the next request may be considered. */
  charge(items: number): void;
  /** The batch is durable or failed (or was never built): its items no longer count. Idempotent. */
  release(): void;
}

export interface AdmissionHooks {
  onWaitingChange?(waiting: number): void;
}

interface Waiter {
  resolve: (admission: Admission) => void;
  timer: NodeJS.Timeout;
}

export class AdmissionGate {
  private itemsInFlight = 0;
  /** A request was admitted and has not reported its items yet: the next one waits for that. */
  private deciding = false;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly options: AdmissionOptions = DEFAULT_ADMISSION_OPTIONS,
    private readonly hooks: AdmissionHooks = {},
  ) {}

  /** New items of translated batches not yet durable. */
  get inFlight(): number {
    return this.itemsInFlight;
  }

  /** Requests waiting for their turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves when the request may translate; rejects with StoreBusyError when too many wait already, or when it
   * waited `maxWaitMs` (at most the options' one).
   */
  admit(maxWaitMs = this.options.maxWaitMs): Promise<Admission> {
    const waitMs = Math.max(0, Math.min(maxWaitMs, this.options.maxWaitMs));
    if (this.waiting.length === 0 && this.open()) return Promise.resolve(this.grant());
    if (this.waiting.length >= this.options.maxWaitingRequests) {
      return Promise.reject(
        new StoreBusyError(
          `${this.waiting.length} requests wait to be admitted while new stack traces are being stored`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          this.hooks.onWaitingChange?.(this.waiting.length);
          reject(
            new StoreBusyError(
              `not admitted within ${Math.round(waitMs)} ms while new stack traces are being stored`,
            ),
          );
        }, waitMs),
      };
      this.waiting.push(waiter);
      this.hooks.onWaitingChange?.(this.waiting.length);
    });
  }

  private open(): boolean {
    return !this.deciding && this.itemsInFlight < this.options.maxNewItemsInFlight;
  }

  private grant(): Admission {
    this.deciding = true;
    let charged = 0;
    let state: 'deciding' | 'charged' | 'released' = 'deciding';
    return {
      charge: (items) => {
        if (state !== 'deciding') return;
        state = 'charged';
        charged = items;
        this.itemsInFlight += items;
        this.deciding = false;
        this.wake();
      },
      release: () => {
        if (state === 'released') return;
        if (state === 'deciding') this.deciding = false;
        state = 'released';
        this.itemsInFlight -= charged;
        this.wake();
      },
    };
  }

  /** Lets the next waiting request in when the gate is open; it reports its items before another may go. */
  private wake(): void {
    if (this.waiting.length === 0 || !this.open()) return;
    const next = this.waiting.shift()!;
    clearTimeout(next.timer);
    this.hooks.onWaitingChange?.(this.waiting.length);
    next.resolve(this.grant());
  }
}
