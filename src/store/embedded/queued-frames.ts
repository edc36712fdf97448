/**
 * Which frames `symbolization_frames` holds, by file and address, kept in memory so that queueing a batch's
 * pending frames needs no query: in DuckDB, finding the new ones among a batch's frames (an anti-join, or
 * `INSERT OR IGNORE` against the primary key) cost time growing with the queue (200 frames against
 * 1,000,000 queued: 120 ms). Addresses of one file are numbers in one Set (most are small integers, stored
 * inline): some 20–30 bytes per queued frame.
 *
 * Bounded: frames of files that no symbols are found for stay queued, so a fleet's queue can outgrow any
 * memory. Past `capacity` frames, the files least recently queued to are let go whole; such a file is
 * "elsewhere" — its frames are only in the table, and the store looks up a batch's frames of it there (one
 * query per write that has any). A file is resident with all its queued frames or not at all, so a
 * resident file that lacks an address has not queued it.
 *
 * Changes follow the write transaction: additions count at once (a later batch of the same transaction
 * must see them) and are undone if it rolls back; removals count once it committed. Files are let go only
 * at commit, so whether a file is resident does not change inside a transaction.
 */
export class QueuedFrames {
  /** Resident files, least recently queued to first, with all their queued addresses. */
  private readonly byFile = new Map<string, Set<number>>();
  /** Files whose queued frames are only in the table. */
  private readonly elsewhere = new Set<string>();
  private added: [string, number][] = [];
  private removed: [string, number][] = [];
  private count = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0))
      throw new Error(`queued frames in memory: a count > 0, got ${capacity}`);
  }

  /** Frames held in memory. */
  get size(): number {
    return this.count;
  }

  /** Whether the file's queued frames must be looked up in the table. */
  isElsewhere(fileId: string): boolean {
    return this.elsewhere.has(fileId);
  }

  /**
   * At open: which files to keep resident, given each file's queued frame count — the smallest first, so as
   * many files as possible need no lookup. The others are elsewhere.
   */
  chooseResident(files: readonly { fileId: string; frames: number }[]): string[] {
    const resident: string[] = [];
    let total = 0;
    for (const { fileId, frames } of [...files].sort((a, b) => a.frames - b.frames)) {
      if (total + frames <= this.capacity) {
        resident.push(fileId);
        total += frames;
      } else this.elsewhere.add(fileId);
    }
    return resident;
  }

  load(fileIds: readonly string[], addresses: readonly number[]): void {
    for (let i = 0; i < fileIds.length; i++) this.insert(fileIds[i], addresses[i]);
  }

  /**
   * Adds the frame of a resident (or new) file in the running transaction; false when it is queued already.
   * A file elsewhere is not tracked here: the caller looked its frames up.
   */
  add(fileId: string, address: number): boolean {
    if (this.elsewhere.has(fileId)) throw new Error(`file ${fileId} is not resident: look its frames up`);
    if (!this.insert(fileId, address)) return false;
    this.added.push([fileId, address]);
    return true;
  }

  /** The file was just queued to: it is the last to be let go. */
  touch(fileId: string): void {
    const addresses = this.byFile.get(fileId);
    if (addresses === undefined) return;
    this.byFile.delete(fileId);
    this.byFile.set(fileId, addresses);
  }

  /** Forgets everything, before `load` reads the table again (the store reopened its database). */
  clear(): void {
    this.byFile.clear();
    this.elsewhere.clear();
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
    for (const [fileId, addresses] of this.byFile) {
      if (this.count <= this.capacity) break;
      this.byFile.delete(fileId);
      this.count -= addresses.size;
      this.elsewhere.add(fileId);
    }
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
