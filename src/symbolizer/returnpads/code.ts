/**
 * The machine code of an executable as it is loaded: the file-backed bytes of its executable `PT_LOAD`
 * segments, addressed by ELF virtual address. Read through a window of a few megabytes that moves forward
 * with the scan, so a large executable is never held whole.
 */
import { ElfFile } from '../elf/elf.ts';

const PT_LOAD = 1;
const PF_X = 1;
/** Bytes read at once; a function larger than this gets a window of its own size. */
const WINDOW_BYTES = 8 << 20;

interface Segment {
  vaddr: number;
  offset: number;
  filesz: number;
}

export class LoadedCode {
  private readonly segments: Segment[];
  private windowStart = 0;
  private window: Uint8Array = new Uint8Array(0);

  constructor(private readonly elf: ElfFile) {
    this.segments = elf.programHeaders
      .filter((p) => p.type === PT_LOAD && (p.flags & PF_X) !== 0 && p.filesz > 0)
      .map((p) => ({ vaddr: p.vaddr, offset: p.offset, filesz: p.filesz }));
  }

  /** True when the file has code bytes at all (a separate debug file has none: its `.text` is NOBITS). */
  get hasCode(): boolean {
    return this.segments.length > 0;
  }

  /**
   * The bytes of [start, end), cut at the end of the segment that holds `start`; undefined when `start` is
   * not in an executable segment's file-backed part. The result is valid until the next call.
   */
  bytes(start: number, end: number): Uint8Array | undefined {
    const segment = this.segments.find((s) => start >= s.vaddr && start < s.vaddr + s.filesz);
    if (segment === undefined || end <= start) return undefined;
    const stop = Math.min(end, segment.vaddr + segment.filesz);
    if (start < this.windowStart || stop > this.windowStart + this.window.length) {
      const length = Math.min(Math.max(WINDOW_BYTES, stop - start), segment.vaddr + segment.filesz - start);
      this.window = this.elf.readRaw(segment.offset + (start - segment.vaddr), length);
      this.windowStart = start;
    }
    return this.window.subarray(start - this.windowStart, stop - this.windowStart);
  }
}
