import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { DebugInfoFound, DebugInfoLookup, DebugInfoMissing, DebugInfoQuery } from './sources.ts';

/**
 * Separate debug files on this machine, by GNU build ID (`<dir>/.build-id/xx/rest.debug`, the layout of
 * Debian's `-dbg` packages and of `objcopy --only-keep-debug` set-ups). A stand-in until the sources module
 * (debuginfod and local directories) is wired in `wiring.ts`.
 */
export class LocalDebugLookup implements DebugInfoLookup {
  constructor(private readonly directories: readonly string[]) {}

  async find(query: DebugInfoQuery): Promise<DebugInfoFound | DebugInfoMissing> {
    const buildId = query.buildId?.toLowerCase();
    if (!buildId) return { notFound: 'no-build-id' };
    if (!/^[0-9a-f]{4,}$/.test(buildId)) return { notFound: 'bad-build-id' };
    for (const directory of this.directories) {
      const path = join(directory, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
      try {
        await access(path, constants.R_OK);
        return { path, source: 'local' };
      } catch {
        // Not in this directory: try the next.
      }
    }
    return { notFound: 'not-found' };
  }
}
