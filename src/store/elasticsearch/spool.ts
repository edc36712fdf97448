/**
 * The on-disk spool between `write()` and Elasticsearch. A batch is acknowledged once its bulk lines are
 * fsynced here; a sender drains sealed segments to Elasticsearch and deletes each once every document in it
 * has been settled. After a crash or a restart the remaining segments are simply drained again.
 *
 * Segment files hold records `<byte length>\n<bulk lines>`; a record shorter than its length is the torn
 * tail of a write that was never acknowledged and is dropped on recovery.
 */
import {
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  truncate,
  type FileHandle,
} from 'node:fs/promises';
import path from 'node:path';

export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
}

/** Too much is waiting in memory for the disk: the disk is slower than the intake. */
export class SpoolBusyError extends Error {
  override readonly name = 'SpoolBusyError';
}

interface PendingAppend {
  data: Buffer;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface OpenSegment {
  name: string;
  handle: FileHandle;
  bytes: number;
  openedAt: number;
}

const OPEN_SUFFIX = '.open';
const SEALED_SUFFIX = '.seg';
const SEQUENCE_DIGITS = 12;
const LOCK_FILE = 'spool.lock';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** Bytes waiting in memory for their fsync past which appends are refused. */
  maxPendingBytes: number;
  /** A segment is sealed (handed to the sender) at this size… */
  segmentMaxBytes: number;
  /** …or this long after its first record. */
  segmentMaxAgeMs: number;
  onSealed: (segment: string) => void;
}

export class Spool {
  private nextSequence = 1;
  private current: OpenSegment | undefined;
  private pending: PendingAppend[] = [];
  private writing: Promise<void> | undefined;
  private readonly sizes = new Map<string, number>();
  private reserved = 0;
  private ageTimer: NodeJS.Timeout | undefined;
  private locked = false;

  constructor(private readonly options: SpoolOptions) {}

  get dir(): string {
    return this.options.dir;
  }

  /** Bytes on disk or promised to appends in progress. */
  get bytes(): number {
    let total = this.reserved + (this.current?.bytes ?? 0);
    for (const size of this.sizes.values()) total += size;
    return total;
  }

  /** Recovers what a previous process left and returns the sealed segments, oldest first. */
  async open(): Promise<string[]> {
    await mkdir(this.options.dir, { recursive: true });
    await this.lock();
    const names = (await readdir(this.options.dir)).filter((n) => /^\d+\.(open|seg)$/.test(n)).sort();
    const sealed: string[] = [];
    for (const name of names) {
      const file = path.join(this.options.dir, name);
      const sequence = Number(name.slice(0, SEQUENCE_DIGITS));
      this.nextSequence = Math.max(this.nextSequence, sequence + 1);
      if (name.endsWith(OPEN_SUFFIX)) {
        await truncate(file, await completeLength(file));
        const target = file.slice(0, -OPEN_SUFFIX.length) + SEALED_SUFFIX;
        await rename(file, target);
        sealed.push(path.basename(target));
      } else {
        sealed.push(name);
      }
    }
    for (const name of sealed) this.sizes.set(name, (await stat(path.join(this.options.dir, name))).size);
    const tick = Math.max(10, Math.floor(this.options.segmentMaxAgeMs / 2));
    this.ageTimer = setInterval(() => void this.sealIfOld(), tick);
    this.ageTimer.unref();
    return sealed;
  }

  /** Resolves once `lines` are on disk; throws SpoolFullError (without writing) when the spool is full. */
  append(lines: readonly string[]): Promise<void> {
    const body = lines.join('\n') + '\n';
    const data = Buffer.from(`${Buffer.byteLength(body)}\n${body}`);
    if (this.bytes + data.length > this.options.maxBytes) {
      return Promise.reject(
        new SpoolFullError(`spool full (${this.bytes} of ${this.options.maxBytes} bytes)`),
      );
    }
    if (this.reserved > this.options.maxPendingBytes) {
      return Promise.reject(new SpoolBusyError(`${this.reserved} bytes waiting for the spool's disk`));
    }
    this.reserved += data.length;
    return new Promise((resolve, reject) => {
      this.pending.push({ data, resolve, reject });
      this.writing ??= this.writeLoop();
    });
  }

  /** Group commit: every append waiting when a write starts shares its fsync. */
  private async writeLoop(): Promise<void> {
    // Called only with appends pending, so the first await comes before the loop can end. `writing` is
    // cleared in the same step that finds nothing pending: an append arriving after that starts a new loop.
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      const data = Buffer.concat(group.map((p) => p.data));
      let segment: OpenSegment | undefined;
      try {
        segment = await this.openSegment();
        await writeAll(segment.handle, data);
        await segment.handle.datasync();
        segment.bytes += data.length;
        this.reserved -= data.length;
        for (const p of group) p.resolve();
        if (segment.bytes >= this.options.segmentMaxBytes) await this.sealCurrent();
      } catch (error) {
        this.reserved -= data.length;
        if (segment) await this.dropTornTail(segment);
        for (const p of group) p.reject(error);
      }
    }
    this.writing = undefined;
  }

  /**
   * A write that failed part way (the disk filled up) may have left part of its records in the segment; the
   * records appended after them would be read as their continuation. Cut the segment back to what was
   * acknowledged; if even that fails, leave it to the next start's recovery, which does the same, and carry
   * on in a new segment.
   */
  private async dropTornTail(segment: OpenSegment): Promise<void> {
    try {
      await segment.handle.truncate(segment.bytes);
    } catch {
      if (this.current === segment) this.current = undefined;
      await segment.handle.close().catch(() => undefined);
    }
  }

  /**
   * Whether the spool's disk takes writes again: writes, syncs and removes a small file. For a store whose
   * appends failed for want of space, so that it can tell when to take writes again without risking any.
   */
  async probe(bytes = 64 * 1024): Promise<void> {
    const file = path.join(this.options.dir, 'probe.tmp');
    const handle = await open(file, 'w');
    try {
      await writeAll(handle, Buffer.alloc(bytes));
      await handle.datasync();
    } finally {
      await handle.close();
      await rm(file, { force: true });
    }
  }

  private async openSegment(): Promise<OpenSegment> {
    if (this.current) return this.current;
    const name = String(this.nextSequence++).padStart(SEQUENCE_DIGITS, '0') + OPEN_SUFFIX;
    const handle = await open(path.join(this.options.dir, name), 'a');
    await syncDirectory(this.options.dir);
    this.current = { name, handle, bytes: 0, openedAt: Date.now() };
    return this.current;
  }

  private async sealIfOld(): Promise<void> {
    if (this.writing || !this.current || this.current.bytes === 0) return;
    if (Date.now() - this.current.openedAt < this.options.segmentMaxAgeMs) return;
    await this.sealNow();
  }

  /** Hands the open segment to the sender once the appends in progress are on disk. */
  async sealNow(): Promise<void> {
    while (this.writing) await this.writing;
    await this.sealCurrent();
  }

  /** Only from the write loop or with no write in progress: nothing else may hold the segment. */
  private async sealCurrent(): Promise<void> {
    const segment = this.current;
    if (!segment) return;
    this.current = undefined;
    await segment.handle.close();
    if (segment.bytes === 0) {
      await rm(path.join(this.options.dir, segment.name), { force: true });
      return;
    }
    const sealed = segment.name.slice(0, -OPEN_SUFFIX.length) + SEALED_SUFFIX;
    await rename(path.join(this.options.dir, segment.name), path.join(this.options.dir, sealed));
    this.sizes.set(sealed, segment.bytes);
    this.options.onSealed(sealed);
  }

  async readSegment(name: string): Promise<string[]> {
    const data = await readFile(path.join(this.options.dir, name));
    return parseRecords(data).flatMap((body) => body.split('\n').filter((line) => line.length > 0));
  }

  async remove(name: string): Promise<void> {
    await rm(path.join(this.options.dir, name), { force: true });
    this.sizes.delete(name);
  }

  async close(): Promise<void> {
    if (this.ageTimer) clearInterval(this.ageTimer);
    while (this.writing) await this.writing;
    const segment = this.current;
    this.current = undefined;
    // Left as `.open`: the next start seals it.
    if (segment) await segment.handle.close();
    if (this.locked) await rm(path.join(this.options.dir, LOCK_FILE), { force: true });
    this.locked = false;
  }

  /** Two stores appending to one spool would corrupt it; a lock left by a dead process is taken over. */
  private async lock(): Promise<void> {
    const file = path.join(this.options.dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(file, 'wx');
        await handle.writeFile(String(process.pid));
        await handle.close();
        this.locked = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
          throw new Error(`spool directory ${this.options.dir} is in use by process ${owner}`, {
            cause: error,
          });
        }
        await rm(file, { force: true });
      }
    }
    throw new Error(`spool directory ${this.options.dir}: cannot take the lock`);
  }
}

function parseRecords(data: Buffer): string[] {
  const records: string[] = [];
  let offset = 0;
  while (offset < data.length) {
    const newline = data.indexOf(0x0a, offset);
    if (newline === -1) break;
    const length = Number(data.toString('latin1', offset, newline));
    if (!Number.isSafeInteger(length) || newline + 1 + length > data.length) break;
    records.push(data.toString('utf8', newline + 1, newline + 1 + length));
    offset = newline + 1 + length;
  }
  return records;
}

/** Length of the complete records at the start of a segment. */
async function completeLength(file: string): Promise<number> {
  const data = await readFile(file);
  let offset = 0;
  while (offset < data.length) {
    const newline = data.indexOf(0x0a, offset);
    if (newline === -1) break;
    const length = Number(data.toString('latin1', offset, newline));
    if (!Number.isSafeInteger(length) || newline + 1 + length > data.length) break;
    offset = newline + 1 + length;
  }
  return offset;
}

/** FileHandle.write may write less than asked (a disk filling up): go on until all is written or it throws. */
async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    if (bytesWritten === 0) throw new Error(`wrote nothing of ${data.length - offset} bytes`);
    offset += bytesWritten;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
