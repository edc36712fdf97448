/**
 * nfpm (github.com/goreleaser/nfpm), the tool that writes the .deb and .rpm packages: a pinned release built once
 * with Go from the Go module proxy into $UNIPROF_CACHE/nfpm/<version>/ (about two minutes on a fresh machine,
 * mostly module downloads), then reused.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const NFPM_MODULE = 'github.com/goreleaser/nfpm/v2';
export const NFPM_VERSION = 'v2.45.2';

function cacheDir(): string {
  return join(process.env.UNIPROF_CACHE ?? join(homedir(), '.cache', 'uniprof'), 'nfpm', NFPM_VERSION);
}

function findGo(): string {
  const candidates = [process.env.GO, 'go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      execFileSync(candidate, ['version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `building nfpm ${NFPM_VERSION} needs a Go toolchain (tried $GO, go on PATH, /usr/local/go/bin/go)`,
  );
}

/** The path of the nfpm binary, built on first use. */
export function nfpm(): string {
  const dir = cacheDir();
  const binary = join(dir, 'nfpm');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, 'build-'));
  try {
    execFileSync(findGo(), ['install', '-trimpath', `${NFPM_MODULE}/cmd/nfpm@${NFPM_VERSION}`], {
      cwd: work,
      env: {
        ...process.env,
        GOBIN: work,
        GOPROXY: process.env.GOPROXY ?? 'https://proxy.golang.org',
        GOFLAGS: '',
        CGO_ENABLED: '0',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 20 * 60_000,
    });
    // Renamed into place only when complete, so an interrupted build is never taken for the tool; a concurrent
    // build of the same version renames an identical file.
    renameSync(join(work, 'nfpm'), binary);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}
