import { STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE, STT_OBJECT, type ElfSymbol } from './elf/elf.ts';
import { lastAtOrBelow } from './dwarf/search.ts';

/**
 * An ELF symbol table prepared for address lookup the way llvm-symbolizer does it: function, object and
 * untyped symbols; at one address the largest symbol wins (the last of equals in table order); an address belongs to the nearest symbol at or
 * below it unless that symbol has a size and ends before the address.
 */
export class SymbolTable {
  private readonly addresses: Float64Array;
  private readonly sizes: Float64Array;
  private readonly names: string[];
  private readonly files: (string | undefined)[];

  constructor(symbols: ElfSymbol[]) {
    const usable = symbols.filter(
      (s) =>
        (s.type === STT_FUNC || s.type === STT_OBJECT || s.type === STT_GNU_IFUNC || s.type === STT_NOTYPE) &&
        s.name !== '' &&
        !(s.type === STT_NOTYPE && s.name.startsWith('$')),
    );
    // Stable sort: among symbols of equal address and size the last one in table order wins.
    usable.sort((a, b) => a.address - b.address || a.size - b.size);
    const kept: ElfSymbol[] = [];
    for (const s of usable) {
      const last = kept[kept.length - 1];
      if (last && last.address === s.address) kept[kept.length - 1] = s;
      else kept.push(s);
    }
    this.addresses = Float64Array.from(kept, (s) => s.address);
    this.sizes = Float64Array.from(kept, (s) => s.size);
    this.names = kept.map((s) => s.name);
    this.files = kept.map((s) => s.fileName);
  }

  get size(): number {
    return this.names.length;
  }

  lookup(address: number): { name: string; start: number; fileName?: string } | undefined {
    const i = lastAtOrBelow(this.addresses, address);
    if (i < 0) return undefined;
    const size = this.sizes[i];
    if (size !== 0 && this.addresses[i] + size <= address) return undefined;
    return { name: this.names[i], start: this.addresses[i], fileName: this.files[i] };
  }

  /** Start addresses of function symbols, e.g. to pick test addresses. */
  entries(): { name: string; address: number; size: number }[] {
    return this.names.map((name, i) => ({ name, address: this.addresses[i], size: this.sizes[i] }));
  }
}
