import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { buildIdDebugPath, readElfIdentity, type ElfIdentity } from './elf-identity.ts';

/** A file on this machine whose build ID was checked. */
export interface LocalMatch {
  path: string;
  /** `debug-file`: a separate debug file by build ID; `executable`: the profiled file itself. */
  kind: 'debug-file' | 'executable';
  /** For executables: carries DWARF or `.gopclntab` (else only its symbol tables, or a debuglink). */
  hasDebugInfo: boolean;
}

/**
 * Symbols already on this machine: separate debug files under the debug directories
 * (`<dir>/.build-id/xx/rest.debug`, as distributions' -dbg/-debuginfo packages install them), and the
 * executable itself when the agent's path exists here with the same build ID (the agent profiling the host
 * `uniprof serve` runs on). Every candidate's build ID is compared: a path alone proves nothing, since the
 * service usually runs on another machine than the agent.
 */
export class LocalDebugSource {
  readonly debugDirectories: readonly string[];

  constructor(debugDirectories: readonly string[]) {
    this.debugDirectories = debugDirectories;
  }

  /** The debug file for a (normalized) build ID in the first debug directory that has it. */
  debugFile(buildId: string): LocalMatch | undefined {
    for (const dir of this.debugDirectories) {
      const path = buildIdDebugPath(dir, buildId);
      const identity = identityOf(path);
      if (identity?.buildId === buildId)
        return { path, kind: 'debug-file', hasDebugInfo: identity.hasDebugInfo };
    }
    return undefined;
  }

  /** The executable at the agent's reported path, if it exists here and has this build ID. */
  executable(fileName: string, buildId: string): LocalMatch | undefined {
    if (!isAbsolute(fileName)) return undefined;
    const identity = identityOf(fileName);
    if (identity?.buildId !== buildId) return undefined;
    return { path: fileName, kind: 'executable', hasDebugInfo: identity.hasDebugInfo };
  }
}

/** The identity of a regular ELF file; undefined for anything else (absent, a directory, not ELF, damaged). */
function identityOf(path: string): ElfIdentity | undefined {
  try {
    if (!statSync(path).isFile()) return undefined;
    return readElfIdentity(path);
  } catch {
    return undefined;
  }
}
