import type { Config } from '../../config/config.ts';
import { DebuginfodClient, type DebuginfodResult } from './debuginfod.ts';
import { normalizeBuildId, readElfIdentity } from './elf-identity.ts';
import { LocalDebugSource } from './local.ts';

/** The executable to find symbols for, as the queue knows it (see `ExecutableWork`). */
export interface DebugInfoTarget {
  /** GNU build ID (hex), when the agent reported one. */
  buildId?: string;
  /** The path (or base name) the agent reported; it may name a file on another machine. */
  fileName: string;
}

export interface DebugInfoFound {
  /** An ELF file with this build ID: a separate debug file, or the executable itself. */
  path: string;
  source: 'debuginfod' | 'local';
  /**
   * Pass as `debugDirectories` when opening `path` with the engine (`SymbolizedBinary.open`): where its
   * companions are (the executable's separate debug file, a dwz supplementary file), the debuginfod cache
   * included.
   */
  debugDirectories: string[];
}

/**
 * Short, stable labels (metrics, the queue's retry reason, the status page):
 * - `no-build-id`: the agent reported no GNU build ID, so no source can be asked safely;
 * - `invalid-build-id`: what was reported is not hex;
 * - `not-found`: every source was asked and none has it (debuginfod's answer is remembered for a while);
 * - `debuginfod-unreachable`: a server that might have it could not be asked (network, timeout, 5xx);
 * - `debuginfod-invalid-response`: servers sent something that is not this build ID's ELF file;
 * - `debuginfod-cache-error`: our debuginfod cache directory could not be used.
 * Only `not-found` and `no-build-id` are unlikely to change soon; the others are worth a retry.
 */
export type NotFoundReason = 'no-build-id' | Exclude<DebuginfodResult, { path: string }>['notFound'];

export type DebugInfoLookup = DebugInfoFound | { notFound: NotFoundReason };

/**
 * Where the symbolizer service gets an ELF file with debug info for an executable, asking in this order
 * (uploaded symbols are the store's business and come before all of this):
 * 1. the local debug directories by build ID — no network, and an installed -dbg package is authoritative;
 * 2. the executable itself at its reported path, if it is here with the same build ID and carries DWARF or
 *    `.gopclntab` (the engine then also finds its separate debug file itself);
 * 3. the debuginfod servers (with the dwz supplementary file the debug file refers to, when there is one);
 * 4. that local executable even without debug info (symbol tables only), but only once debuginfod has said
 *    "not found" or none is configured: while a server is unreachable we wait rather than settle for less.
 */
export class DebugInfoSources {
  readonly local: LocalDebugSource;
  /** Undefined when no server is configured (neither in the config nor in `DEBUGINFOD_URLS`). */
  readonly debuginfod: DebuginfodClient | undefined;

  constructor(local: LocalDebugSource, debuginfod?: DebuginfodClient) {
    this.local = local;
    this.debuginfod = debuginfod?.enabled ? debuginfod : undefined;
  }

  /**
   * From the `symbolizer` config section; `dataDir` holds the default debuginfod cache. Throws
   * `DebuginfodConfigError` when `DEBUGINFOD_URLS` holds something that is not an http(s) URL.
   */
  static fromConfig(
    config: Pick<Config['symbolizer'], 'debugDirectories' | 'debuginfod'>,
    dataDir: string,
    env: NodeJS.ProcessEnv = process.env,
  ): DebugInfoSources {
    return new DebugInfoSources(
      new LocalDebugSource(config.debugDirectories),
      DebuginfodClient.fromConfig(config.debuginfod, dataDir, env),
    );
  }

  /** Never throws: every failure is a `notFound` reason. */
  async find(target: DebugInfoTarget): Promise<DebugInfoLookup> {
    if (target.buildId === undefined || target.buildId === '') return { notFound: 'no-build-id' };
    const buildId = normalizeBuildId(target.buildId);
    if (!buildId) return { notFound: 'invalid-build-id' };

    const debugFile = this.local.debugFile(buildId);
    if (debugFile) return this.found(debugFile.path, 'local');
    const executable = this.local.executable(target.fileName, buildId);
    if (executable?.hasDebugInfo) return this.found(executable.path, 'local');

    let reason: NotFoundReason = 'not-found';
    if (this.debuginfod) {
      const result = await this.debuginfod.fetchDebugInfo(buildId);
      if ('path' in result) {
        await this.fetchSupplementary(result.path);
        return this.found(result.path, 'debuginfod');
      }
      reason = result.notFound;
    }
    if (executable && reason === 'not-found') return this.found(executable.path, 'local');
    return { notFound: reason };
  }

  /**
   * The executable itself, for its code (return pads), when what `find` gave is a separate debug file: the
   * file at the reported path if it is here with this build ID, else debuginfod's `/executable`. Never throws.
   */
  async findExecutable(target: DebugInfoTarget): Promise<string | undefined> {
    const buildId = target.buildId ? normalizeBuildId(target.buildId) : undefined;
    if (!buildId) return undefined;
    const local = this.local.executable(target.fileName, buildId);
    if (local) return local.path;
    if (!this.debuginfod) return undefined;
    const result = await this.debuginfod.fetchExecutable(buildId);
    return 'path' in result ? result.path : undefined;
  }

  /**
   * Calls `listener` with the reasons of work that waited for a debuginfod server once one that was down
   * answers again; returns a function that unsubscribes it.
   */
  onSourceBack(listener: (reasons: readonly NotFoundReason[]) => void): () => void {
    if (!this.debuginfod) return () => undefined;
    return this.debuginfod.onEvent((event) => {
      if (event.type === 'server-up') listener(['debuginfod-unreachable']);
    });
  }

  private found(path: string, source: DebugInfoFound['source']): DebugInfoFound {
    const directories = [...this.local.debugDirectories];
    if (this.debuginfod) directories.push(this.debuginfod.cache.dir);
    return { path, source, debugDirectories: directories };
  }

  /**
   * Debian's and Fedora's debug files are processed by dwz: names shared between packages live in a
   * supplementary file the debug file names by build ID. Without it the engine still works but loses those
   * names, so it is fetched into the cache (where the engine looks by build ID) unless it is already here.
   */
  private async fetchSupplementary(debugFile: string): Promise<void> {
    let altLink: { fileName: string; buildId: string } | undefined;
    try {
      altLink = readElfIdentity(debugFile).altLink;
    } catch {
      return;
    }
    const altId = altLink && normalizeBuildId(altLink.buildId);
    if (!altId || !this.debuginfod || this.local.debugFile(altId)) return;
    // A failure is reported through the client's events; the main file is still worth using.
    await this.debuginfod.fetchDebugInfo(altId);
  }
}
