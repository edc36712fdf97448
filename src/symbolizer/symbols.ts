import { STB_LOCAL, STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE, STT_OBJECT, type ElfSymbol } from './elf/elf.ts';
import { lastAtOrBelow } from './dwarf/search.ts';

/**
 * Which name a function gets where DWARF and the symbol table disagree:
 * - `symtab`: the symbol table's name for the outermost frame wherever a symbol covers the address, as
 *   llvm-symbolizer does (`f.cold`, `f.constprop.0`);
 * - `dwarf`: DWARF's name wherever DWARF has a function; elsewhere the symbol table's name without GCC's
 *   clone suffixes, and only from function symbols (never local labels, data objects, file or section
 *   symbols). This is the name a profile should show: one per source function.
 */
export type FunctionNamePolicy = 'symtab' | 'dwarf';

/** GCC's and LLVM's clone suffixes, possibly stacked (`f.isra.0.cold`, `f.part.0.constprop.0`). */
const CLONE_SUFFIX = /\.(?:constprop|isra|part|cold|lto_priv|localalias|clone|llvm|specialized)(?:\.\d+)*$/;

/** The name without compiler clone suffixes (`f.constprop.0` → `f`, `f.cold` → `f`). */
export function stripCloneSuffixes(name: string): string {
  let out = name;
  for (let match = CLONE_SUFFIX.exec(out); match && match.index > 0; match = CLONE_SUFFIX.exec(out)) {
    out = out.slice(0, match.index);
  }
  return out;
}

export interface SymbolTableOptions {
  policy?: FunctionNamePolicy;
  /** End address of a section by index, bounding zero-size symbols under the `dwarf` policy. */
  sectionEnd?: (section: number) => number | undefined;
}

/**
 * An ELF symbol table prepared for address lookup the way llvm-symbolizer does it: function, object and
 * untyped symbols; at one address the largest symbol wins (the last of equals in table order); an address belongs to the nearest symbol at or
 * below it unless that symbol has a size and ends before the address.
 * Under the `dwarf` policy only function symbols (and global untyped ones, as hand-written assembly
 * often leaves them) count, names lose their clone suffixes, and a zero-size symbol ends at its section's end.
 */
export class SymbolTable {
  private readonly addresses: Float64Array;
  /** Exclusive end of what each symbol covers (a zero-size one reaches the next symbol). */
  private readonly ends: Float64Array;
  private readonly names: string[];
  private readonly files: (string | undefined)[];

  constructor(symbols: ElfSymbol[], options: SymbolTableOptions = {}) {
    const dwarfPolicy = options.policy === 'dwarf';
    const usable = symbols.filter((s) => {
      if (s.name === '') return false;
      if (dwarfPolicy) {
        return (
          s.type === STT_FUNC ||
          s.type === STT_GNU_IFUNC ||
          (s.type === STT_NOTYPE && s.binding !== STB_LOCAL && !s.name.startsWith('$'))
        );
      }
      return (
        (s.type === STT_FUNC || s.type === STT_OBJECT || s.type === STT_GNU_IFUNC || s.type === STT_NOTYPE) &&
        !(s.type === STT_NOTYPE && s.name.startsWith('$'))
      );
    });
    // Stable sort: among symbols of equal address and size the last one in table order wins.
    usable.sort((a, b) => a.address - b.address || a.size - b.size);
    const kept: ElfSymbol[] = [];
    for (const s of usable) {
      const last = kept[kept.length - 1];
      if (last && last.address === s.address) kept[kept.length - 1] = s;
      else kept.push(s);
    }
    const n = kept.length;
    this.addresses = Float64Array.from(kept, (s) => s.address);
    this.ends = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = kept[i];
      let end = s.size > 0 ? s.address + s.size : i + 1 < n ? kept[i + 1].address : Infinity;
      if (s.size === 0 && dwarfPolicy && s.section !== undefined) {
        const sectionEnd = options.sectionEnd?.(s.section);
        if (sectionEnd !== undefined && sectionEnd > s.address) end = Math.min(end, sectionEnd);
      }
      this.ends[i] = end;
    }
    this.names = kept.map((s) => (dwarfPolicy ? stripCloneSuffixes(s.name) : s.name));
    this.files = kept.map((s) => s.fileName);
  }

  get size(): number {
    return this.names.length;
  }

  lookup(address: number): { name: string; start: number; fileName?: string } | undefined {
    const i = this.indexAt(address);
    if (i < 0) return undefined;
    return { name: this.names[i], start: this.addresses[i], fileName: this.files[i] };
  }

  /** Index of the symbol covering the address, or -1. */
  indexAt(address: number): number {
    const i = lastAtOrBelow(this.addresses, address);
    if (i < 0 || this.ends[i] <= address) return -1;
    return i;
  }

  nameOf(index: number): string {
    return this.names[index];
  }

  fileOf(index: number): string | undefined {
    return this.files[index];
  }

  /** Appends every address in [low, high) where the symbol covering an address may change. */
  boundariesIn(low: number, high: number, out: number[]): void {
    // A symbol starting below `low` may still end inside [low, high).
    let i = Math.max(0, lastAtOrBelow(this.addresses, low));
    for (; i < this.addresses.length && this.addresses[i] < high; i++) {
      const start = this.addresses[i];
      const end = this.ends[i];
      if (start >= low) out.push(start);
      if (end > low && end < high) out.push(end);
    }
  }

  /** Start addresses of function symbols, e.g. to pick test addresses. */
  entries(): { name: string; address: number; size: number }[] {
    return this.names.map((name, i) => ({
      name,
      address: this.addresses[i],
      size: Number.isFinite(this.ends[i]) ? this.ends[i] - this.addresses[i] : 0,
    }));
  }
}
