/**
 * One test process at a time provisions a peer into the cache: test files may run in parallel, and a build
 * or download that takes minutes must not run twice at once. The lock is a file holding the owner's PID,
 * created exclusively; a lock left by a dead process is taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Runs `work` holding `<dir>/<name>.lock`. Waits for another owner up to `waitMs` (long enough for the
 * slowest provisioning it guards), then fails naming the lock and its owner.
 */
export async function withCacheLock<T>(
  dir: string,
  name: string,
  work: () => Promise<T>,
  waitMs = 15 * 60_000,
): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lock = path.join(dir, `${name}.lock`);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(lock, 'utf8').catch(() => '0'));
      if (owner > 0 && !processAlive(owner)) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`${lock} held by process ${owner} for too long`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}
