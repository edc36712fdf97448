import type { ElfFile } from '../elf/elf.ts';

export interface GoFrame {
  functionName: string;
  fileName: string;
  line: number;
  startLine: number;
}

/** Placeholder until the pclntab reader lands. */
export class GoLineTable {
  static fromElf(_elf: ElfFile): GoLineTable | undefined {
    return undefined;
  }

  symbolize(_address: number): GoFrame[] {
    return [];
  }
}
