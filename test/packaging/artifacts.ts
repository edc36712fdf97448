/**
 * The artifacts of `npm run package` for the tests: built once per change of the tree (they carry a hash of
 * their inputs, scripts/package/inputs.ts), so a second run, or a developer's earlier `npm run package` of
 * the same tree, is reused. Test files that run in parallel take turns: one packages, the others wait for it
 * and then reuse its artifacts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inputsHash, ROOT } from '../../scripts/package/inputs.ts';

export const ARTIFACTS = join(ROOT, 'artifacts');
const LOCK = join(ROOT, '.artifacts.lock');

function current(): boolean {
  const stamp = join(ARTIFACTS, '.inputs-sha256');
  return existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === inputsHash();
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `work` holding a lock directory; a lock left by a process that is gone is taken over. */
function locked<T>(work: () => T): T {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(existsSync(join(LOCK, 'pid')) ? readFileSync(join(LOCK, 'pid'), 'utf8') : '0');
    if (owner > 0 && !alive(owner)) rmSync(LOCK, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`${LOCK} held by process ${owner} for 30 minutes`);
    else sleep(1000);
  }
  try {
    return work();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

export function releaseArtifacts(): string {
  if (current()) return ARTIFACTS;
  return locked(() => {
    // Another test file may have packaged this tree while this one waited.
    if (current()) return ARTIFACTS;
    const started = Date.now();
    const result = spawnSync('npm', ['run', 'package'], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.status !== 0)
      throw new Error(
        `npm run package failed (${result.status}):\n${result.stdout}\n${result.stderr}`.slice(-8000),
      );
    console.log(`npm run package: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return ARTIFACTS;
  });
}
