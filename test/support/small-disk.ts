/**
 * A small file system for disk-full tests, without touching the machine's mounts: a tmpfs mounted inside a
 * mount namespace of its own (`unshare`), which a long-lived holder process keeps alive. Programs run inside
 * it through `nsenter`; the test itself reaches its files through the holder's `/proc/<pid>/root`. As root the
 * namespace is a plain mount namespace; otherwise an unprivileged user namespace comes with it (where the
 * kernel allows one). Everything goes away with the holder.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const asRoot = process.getuid?.() === 0;

export interface SmallDisk {
  /** Where the file system is mounted, as the programs inside see it. */
  readonly mountPoint: string;
  /** The same path as the test process reaches it. */
  outside(path: string): string;
  /** Starts a program inside the namespace. */
  spawn(command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Fills the file system up to its last byte with a ballast file. */
  fill(): Promise<void>;
  /** Deletes the ballast: the space is back. */
  free(): Promise<void>;
  dispose(): Promise<void>;
}

/** Why a small disk cannot be made here, or undefined when it can (tried once, by mounting one). */
export function smallDiskUnsupported(): string | undefined {
  const probe = mkdtempSync(join(tmpdir(), 'uniprof-disk-probe-'));
  try {
    const result = spawnSync(
      'unshare',
      [...namespaceFlags(), 'mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe],
      { encoding: 'utf8' },
    );
    if (result.error) return `unshare: ${result.error.message}`;
    if (result.status !== 0) return `cannot mount a tmpfs in a mount namespace: ${result.stderr.trim()}`;
    return undefined;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

function namespaceFlags(): string[] {
  return asRoot ? ['--mount', '--propagation', 'private'] : ['--user', '--map-root-user', '--mount'];
}

export async function createSmallDisk(sizeBytes: number): Promise<SmallDisk> {
  const mountPoint = mkdtempSync(join(tmpdir(), 'uniprof-small-disk-'));
  // The holder sleeps until it is killed; the namespace lives as long as it or anything entered into it.
  const holder = spawn('unshare', [...namespaceFlags(), 'sleep', 'infinity'], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const pid = holder.pid!;
  const enter = asRoot
    ? ['--target', String(pid), '--mount']
    : ['--target', String(pid), '--user', '--mount', '--preserve-credentials'];
  const mounted = spawnSync(
    'nsenter',
    [...enter, 'mount', '-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', mountPoint],
    { encoding: 'utf8' },
  );
  if (mounted.status !== 0) {
    holder.kill('SIGKILL');
    throw new Error(`mounting a ${sizeBytes}-byte tmpfs failed: ${mounted.stderr || mounted.error?.message}`);
  }
  const outside = (path: string) => `/proc/${pid}/root${path}`;
  const ballast = outside(join(mountPoint, 'ballast'));
  return {
    mountPoint,
    outside,
    // nsenter would start the program in the namespace's root directory: keep the caller's.
    spawn: (command, args, options = {}) =>
      spawn(
        'nsenter',
        [...enter, `--wd=${String(options.cwd ?? process.cwd())}`, '--', command, ...args],
        options,
      ),
    fill: () => fillWithBallast(ballast),
    free: () => rm(ballast, { force: true }),
    async dispose() {
      if (holder.exitCode === null) {
        holder.kill('SIGKILL');
        await once(holder, 'exit');
      }
      rmSync(mountPoint, { recursive: true, force: true });
    },
  };
}

/**
 * Fills the file system that holds `ballast` to its last byte (smaller and smaller writes, until not even one
 * byte fits), then gives `leaveBytes` of it back. Works from inside the namespace too (the child scripts).
 */
export async function fillWithBallast(ballast: string, leaveBytes = 0): Promise<void> {
  const handle = await open(ballast, 'a');
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) await handle.write(chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
    }
    if (leaveBytes > 0) {
      const { size } = await handle.stat();
      await handle.truncate(Math.max(0, size - leaveBytes));
    }
  } finally {
    await handle.close();
  }
}
