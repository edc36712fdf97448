import { ElfFile, SHT_NOBITS } from '../elf/elf.ts';

/** What the sources need to know about an ELF file before handing it to the engine. */
export interface ElfIdentity {
  /** GNU build ID, lowercase hex. */
  buildId: string | undefined;
  /** Carries DWARF (`.debug_info`, also legacy `.zdebug_info`) or Go's `.gopclntab`: symbolizes well alone. */
  hasDebugInfo: boolean;
  /** dwz supplementary file it refers to (`.gnu_debugaltlink`). */
  altLink: { fileName: string; buildId: string } | undefined;
}

/**
 * Reads only the headers and the small note sections. Throws `SymbolizerFormatError` for a file that is
 * not a well-formed ELF file and the usual fs errors for missing or unreadable ones.
 */
export function readElfIdentity(path: string): ElfIdentity {
  const elf = ElfFile.open(path);
  try {
    const hasSection = (name: string) => {
      const header = elf.sectionHeader(name);
      return header !== undefined && header.size > 0 && header.type !== SHT_NOBITS;
    };
    return {
      buildId: elf.buildId(),
      hasDebugInfo: hasSection('.debug_info') || hasSection('.zdebug_info') || hasSection('.gopclntab'),
      altLink: elf.debugAltLink(),
    };
  } finally {
    elf.close();
  }
}

/** A GNU build ID as servers and `.build-id` directories spell it: even-length lowercase hex. */
export function normalizeBuildId(text: string): string | undefined {
  const id = text.trim().toLowerCase();
  // At least the two-character directory plus a file name; 64 bytes is far beyond any real ID (SHA-1 = 20).
  return /^(?:[0-9a-f]{2}){2,64}$/.test(id) ? id : undefined;
}

/** `<dir>/.build-id/xx/rest.debug`, the layout of debug directories (and of our debuginfod cache). */
export function buildIdDebugPath(dir: string, buildId: string): string {
  return `${dir.replace(/\/+$/, '')}/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`;
}
