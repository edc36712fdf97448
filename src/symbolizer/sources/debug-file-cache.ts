import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildIdDebugPath } from './elf-identity.ts';

interface CachedFile {
  bytes: number;
}

/**
 * Downloaded debug files on disk, laid out like a debug directory (`<dir>/.build-id/xx/rest.debug`) so the
 * engine can search the cache itself (for dwz supplementary files), with a size cap: the least recently used
 * files go first. Files are written under `<dir>/tmp/` and renamed into place only once complete and checked,
 * so a reader never sees half a file; leftovers of a crash are removed when the cache is opened.
 *
 * Recency survives restarts through the files' modification times, which a hit refreshes.
 */
export class DebugFileCache {
  readonly dir: string;
  readonly maxBytes: number;
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly files = new Map<string, CachedFile>();
  private total = 0;
  private ready: Promise<void> | undefined;

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  get totalBytes(): number {
    return this.total;
  }

  get fileCount(): number {
    return this.files.size;
  }

  pathFor(buildId: string): string {
    return buildIdDebugPath(this.dir, buildId);
  }

  /** The cached file's path (and it becomes the most recently used), or undefined. */
  async lookup(buildId: string): Promise<string | undefined> {
    await this.open();
    const entry = this.files.get(buildId);
    if (!entry) return undefined;
    const path = this.pathFor(buildId);
    const now = new Date();
    try {
      await utimes(path, now, now);
    } catch {
      // Deleted behind our back (by hand, or another process sharing the directory): forget it.
      this.forget(buildId);
      return undefined;
    }
    this.files.delete(buildId);
    this.files.set(buildId, entry);
    return path;
  }

  /** A fresh path to download into; pass it to `commit` or `discard`. */
  async temporaryPath(): Promise<string> {
    await this.open();
    return join(this.dir, 'tmp', `${randomBytes(8).toString('hex')}.part`);
  }

  /**
   * Moves a complete, checked download into place and evicts least recently used files until the cache fits
   * its cap again (never the file just added: a file larger than the cap still serves its one request).
   * Returns what was evicted.
   */
  async commit(
    temporary: string,
    buildId: string,
    bytes: number,
  ): Promise<{ path: string; evicted: { buildId: string; bytes: number }[] }> {
    await this.open();
    const path = this.pathFor(buildId);
    await mkdir(dirname(path), { recursive: true });
    await rename(temporary, path);
    // Recency survives restarts as the modification time. The kernel stamps writes with a coarse clock that
    // can lag the one `lookup` stamps hits with by milliseconds, so a new file gets its time from the same clock.
    const now = new Date();
    await utimes(path, now, now);
    this.forget(buildId);
    this.files.set(buildId, { bytes });
    this.total += bytes;
    return { path, evicted: await this.evictUntilFits(buildId) };
  }

  private async evictUntilFits(keep?: string): Promise<{ buildId: string; bytes: number }[]> {
    const evicted: { buildId: string; bytes: number }[] = [];
    for (const [oldId, entry] of this.files) {
      if (this.total <= this.maxBytes) break;
      if (oldId === keep) continue;
      await rm(this.pathFor(oldId), { force: true });
      this.forget(oldId);
      evicted.push({ buildId: oldId, bytes: entry.bytes });
    }
    return evicted;
  }

  async discard(temporary: string): Promise<void> {
    await rm(temporary, { force: true });
  }

  private forget(buildId: string): void {
    const entry = this.files.get(buildId);
    if (!entry) return;
    this.total -= entry.bytes;
    this.files.delete(buildId);
  }

  private open(): Promise<void> {
    this.ready ??= this.scan().catch((error: unknown) => {
      this.ready = undefined;
      throw new Error(`debuginfod cache ${this.dir}: ${(error as Error).message}`, { cause: error });
    });
    return this.ready;
  }

  /** Indexes the files a previous run left, oldest modification first, and removes unfinished downloads. */
  private async scan(): Promise<void> {
    await rm(join(this.dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
    const found: { buildId: string; bytes: number; mtimeMs: number }[] = [];
    const root = join(this.dir, '.build-id');
    const prefixes = await readdir(root).catch(() => [] as string[]);
    for (const prefix of prefixes) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of await readdir(join(root, prefix)).catch(() => [] as string[])) {
        if (!name.endsWith('.debug')) continue;
        const info = await stat(join(root, prefix, name)).catch(() => undefined);
        if (!info?.isFile()) continue;
        found.push({
          buildId: prefix + name.slice(0, -'.debug'.length),
          bytes: info.size,
          mtimeMs: info.mtimeMs,
        });
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const file of found) {
      this.files.set(file.buildId, { bytes: file.bytes });
      this.total += file.bytes;
    }
    // The cap may have been lowered since the last run.
    await this.evictUntilFits();
  }
}
