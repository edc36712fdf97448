/**
 * Which frames `symbolization_frames` holds, by file and address, kept in memory so that queueing a batch's
 * pending frames needs no query: in DuckDB, finding the new ones among a batch's frames (an anti-join, or
 * `INSERT OR IGNORE` against the primary key) cost time growing with the queue (200 frames against
 * 1,000,000 queued: 120 ms). Addresses of one file are numbers in one Set (most are small integers, stored
 * inline): some 20–30 bytes per queued frame.
 *
 * Changes follow the write transaction: additions count at once (a later batch of the same transaction
 * must see them) and are undone if it rolls back; removals count once it committed.
 */
export class QueuedFrames {
  private readonly byFile = new Map<string, Set<number>>();
  private added: [string, number][] = [];
  private removed: [string, number][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  load(fileIds: readonly string[], addresses: readonly number[]): void {
    for (let i = 0; i < fileIds.length; i++) this.insert(fileIds[i], addresses[i]);
  }

  /** Adds the frame in the running transaction; false when it is queued already. */
  add(fileId: string, address: number): boolean {
    if (!this.insert(fileId, address)) return false;
    this.added.push([fileId, address]);
    return true;
  }

  /** Forgets everything, before `load` reads the table again (the store reopened its database). */
  clear(): void {
    this.byFile.clear();
    this.added = [];
    this.removed = [];
    this.count = 0;
  }

  /** The running transaction deleted the frame. */
  remove(fileId: string, address: number): void {
    this.removed.push([fileId, address]);
  }

  commit(): void {
    this.delete(this.removed);
    this.added = [];
    this.removed = [];
  }

  rollback(): void {
    this.delete(this.added);
    this.added = [];
    this.removed = [];
  }

  private delete(frames: readonly [string, number][]): void {
    for (const [fileId, address] of frames) {
      const addresses = this.byFile.get(fileId);
      if (addresses?.delete(address)) {
        this.count--;
        if (addresses.size === 0) this.byFile.delete(fileId);
      }
    }
  }

  private insert(fileId: string, address: number): boolean {
    let addresses = this.byFile.get(fileId);
    if (addresses === undefined) this.byFile.set(fileId, (addresses = new Set()));
    else if (addresses.has(address)) return false;
    addresses.add(address);
    this.count++;
    return true;
  }
}
