/**
 * Debian Bookworm root file systems made with mmdebstrap (Debian package `mmdebstrap`) from Debian's
 * packages, cached as tar archives under $UNIPROF_CACHE/debian-rootfs/. Two uses:
 *
 *   - `minbase`: a fresh, configured Debian with nothing but its required packages (no Node.js), for tests
 *     that install a release form into it; native architecture only, since it runs maintainer scripts;
 *   - `extract`: the listed packages unpacked without running any maintainer script, which is what the
 *     container image is assembled from; it works for a foreign architecture without binfmt_misc, which
 *     this sandbox does not have.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from './node-runtime.ts';

export interface RootfsSpec {
  arch: Arch;
  variant: 'minbase' | 'extract';
  /** Packages beyond the variant's own (for `extract`, the only packages there are). */
  include?: readonly string[];
}

export const DEBIAN_SUITE = 'bookworm';
const MIRRORS = [
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE} main`,
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main`,
];

export const DEBIAN_ARCH: Record<Arch, string> = { x64: 'amd64', arm64: 'arm64' };

function cacheDir(): string {
  return join(process.env.UNIPROF_CACHE ?? join(homedir(), '.cache', 'uniprof'), 'debian-rootfs');
}

function specKey(spec: RootfsSpec): string {
  const include = [...(spec.include ?? [])].sort();
  const hash = createHash('sha256')
    .update(JSON.stringify([include, MIRRORS]))
    .digest('hex')
    .slice(0, 12);
  return `${DEBIAN_SUITE}-${DEBIAN_ARCH[spec.arch]}-${spec.variant}-${hash}`;
}

/** The path of a tar archive of the root file system `spec` describes, made on first use. */
export function debianRootfsTar(spec: RootfsSpec): string {
  const tar = join(cacheDir(), `${specKey(spec)}.tar`);
  if (existsSync(tar)) return tar;
  mkdirSync(cacheDir(), { recursive: true });
  const work = mkdtempSync(`${tar}.partial-`);
  try {
    const include = spec.include?.length ? [`--include=${spec.include.join(',')}`] : [];
    const partial = join(work, 'rootfs.tar');
    execFileSync(
      'mmdebstrap',
      [
        '--quiet',
        '--mode=root',
        `--variant=${spec.variant}`,
        `--arch=${DEBIAN_ARCH[spec.arch]}`,
        ...include,
        DEBIAN_SUITE,
        partial,
        ...MIRRORS,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    // Renamed into place only when complete, so an interrupted run is never taken for a root file system.
    renameSync(partial, tar);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tar;
}

/** Unpacks `spec`'s root file system into `dir` (made if missing), keeping owners and modes. */
export function unpackDebianRootfs(spec: RootfsSpec, dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xf', debianRootfsTar(spec), '-C', dir, '--same-owner', '--numeric-owner', '-p']);
}
