import { statfs } from 'node:fs/promises';

/**
 * Telling a failing disk from any other error. Both stores meet their storage's failures as thrown errors:
 * Node's as errno codes, DuckDB's as messages that carry the system's text ("No space left on device"). Such a
 * failure is an outage to wait out, not a bad request: the collector answers it with UNAVAILABLE / 503.
 */

/** What is wrong with the storage, in an operator's words, or undefined when `error` is not an I/O failure. */
export function storageProblem(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOSPC' || code === 'EDQUOT' || /No space left on device|Disk quota exceeded/i.test(message))
    return 'the disk is full';
  if (code === 'EROFS' || /Read-only file system/i.test(message)) return 'the file system is read-only';
  if (code === 'EACCES' || code === 'EPERM' || /Permission denied|Operation not permitted/i.test(message))
    return 'writing is not permitted';
  if (code === 'EIO' || /Input\/output error/i.test(message)) return 'the disk reports I/O errors';
  return undefined;
}

/** Free space a store waits for after its disk filled up: 64 MiB, or a tenth of a smaller file system. */
const HEADROOM_BYTES = 64 * 1024 * 1024;

/**
 * Whether the file system holding `dir` has room again after it ran full. A failed write gives back what it
 * had taken, so a few kilobytes free up at once: a store that resumed then would flap between refusing and
 * taking writes. It waits for real headroom instead.
 */
export async function hasHeadroom(dir: string): Promise<boolean> {
  const { bavail, blocks, bsize } = await statfs(dir);
  return bavail * bsize >= Math.min(HEADROOM_BYTES, (blocks * bsize) / 10);
}
