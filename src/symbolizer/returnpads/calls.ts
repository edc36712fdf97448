/**
 * Call instructions in machine code: the instructions after which execution resumes at a return address
 * the agent can see on a stack. Like Elastic's symblib (`disas.rs`), "call" means everything that leaves a
 * return address behind for a frame below it: x86-64 CALL (near and far, direct and indirect), SYSCALL,
 * INT and INTO (the kernel's frames sit below them); arm64 BL, BLR (with the pointer-authentication forms)
 * and SVC.
 */
import { createRequire } from 'node:module';
import type * as Iced from 'iced-x86';

/** One call instruction: its address and its length (the return address is `address + length`). */
export interface CallInstruction {
  address: number;
  length: number;
}

/** Finds the calls in `code` (which starts at ELF virtual address `address`), decoding linearly. */
export interface CallFinder {
  /**
   * Every call instruction from the start of `code` on, in order. Decoding stops at the first byte sequence
   * that is no instruction or is cut off by the end of `code` (as symblib's scan of a function does): what
   * follows is data or padding, or the linear decode lost step, and guessing further would invent calls.
   */
  calls(code: Uint8Array, address: number, found: CallInstruction[]): void;
  /** Length of the instruction at the start of `code`; undefined when it does not decode. */
  firstLength(code: Uint8Array): number | undefined;
}

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

/** The call finder for an ELF machine (`e_machine`), or undefined when we cannot decode it. */
export function callFinderFor(machine: number): CallFinder | undefined {
  if (machine === EM_X86_64) return new X86CallFinder();
  if (machine === EM_AARCH64) return arm64CallFinder;
  return undefined;
}

/** `Mnemonic.INVALID`: the bytes are no instruction, or one cut off by the end of the code. */
const INVALID = 0;

// iced-x86 is a CommonJS wasm-bindgen build that loads its WebAssembly synchronously when first required:
// only processes that decode pay for it.
let iced: typeof Iced | undefined;
function loadIced(): typeof Iced {
  iced ??= createRequire(import.meta.url)('iced-x86') as typeof Iced;
  return iced;
}

/**
 * x86-64 through iced-x86 (WebAssembly): a decoder per piece of code, one reused `Instruction`. Each
 * property read crosses into WebAssembly, which is most of the cost: per instruction only its mnemonic is
 * read, and only for a call its length and the decoder's position.
 *
 * The calls are the mnemonics CALL (every form: near, far, direct, indirect, all operand sizes; those
 * invalid in 64-bit mode never decode there), SYSCALL, INT (INT imm8 only: INT3 and INT1 have mnemonics of
 * their own, and are traps, not calls, as zydis, symblib's decoder, has them) and INTO. These are exactly
 * the instruction codes named `Call_*`, `Syscall`, `Int_imm8` and `Into` (checked over all of iced's codes in
 * test/symbolizer/returnpads.test.ts), without enumerating iced's thousands of codes at load.
 */
export class X86CallFinder implements CallFinder {
  private readonly iced = loadIced();
  private readonly instruction = new this.iced.Instruction();
  private readonly callMnemonics = [
    this.iced.Mnemonic.Call,
    this.iced.Mnemonic.Syscall,
    this.iced.Mnemonic.Int,
    this.iced.Mnemonic.Into,
  ];

  calls(code: Uint8Array, address: number, found: CallInstruction[]): void {
    if (code.length === 0) return;
    const { Decoder, DecoderOptions } = this.iced;
    const decoder = new Decoder(64, code, DecoderOptions.None);
    const instruction = this.instruction;
    const [call, syscall, int, into] = this.callMnemonics;
    try {
      // The decoder stops at the end of the code with an invalid instruction (iced's `NoMoreBytes`), as it
      // does for a truncated one: no separate end test needed.
      for (;;) {
        decoder.decodeOut(instruction);
        const mnemonic = instruction.mnemonic;
        if (mnemonic === INVALID) return;
        if (mnemonic === call || mnemonic === syscall || mnemonic === int || mnemonic === into) {
          const length = instruction.length;
          found.push({ address: address + decoder.position - length, length });
        }
      }
    } finally {
      decoder.free();
    }
  }

  firstLength(code: Uint8Array): number | undefined {
    if (code.length === 0) return undefined;
    const decoder = new this.iced.Decoder(64, code, this.iced.DecoderOptions.None);
    try {
      decoder.decodeOut(this.instruction);
      return this.instruction.isInvalid ? undefined : this.instruction.length;
    } finally {
      decoder.free();
    }
  }
}

// arm64: fixed 4-byte little-endian instructions; the encodings (Arm ARM, C6.2) are simple enough to match
// by mask, which is what a decoder would do for these few.
/** BL imm26. */
const BL_MASK = 0xfc000000;
const BL = 0x94000000;
/** BLR Xn: 1101011 0001 11111 000000 Rn 00000. */
const BLR_MASK = 0xfffffc1f;
const BLR = 0xd63f0000;
/**
 * BLRAA/BLRAAZ/BLRAB/BLRABZ (pointer authentication): 1101011 Z 0 01 11111 00001 M Rn Rm, with Z=0 requiring
 * Rm=11111. Masking Z, M and both registers out covers all four.
 */
const BLRA_MASK = 0xfefff800;
const BLRA = 0xd63f0800;
/** SVC #imm16. */
const SVC_MASK = 0xffe0001f;
const SVC = 0xd4000001;

export const arm64CallFinder: CallFinder = {
  calls(code, address, found) {
    const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
    // A trailing piece shorter than an instruction is cut off: it ends the scan.
    for (let offset = 0; offset + 4 <= code.length; offset += 4) {
      const word = view.getUint32(offset, true);
      if (
        (word & BL_MASK) >>> 0 === BL ||
        (word & BLR_MASK) >>> 0 === BLR ||
        (word & BLRA_MASK) >>> 0 === BLRA ||
        (word & SVC_MASK) >>> 0 === SVC
      ) {
        found.push({ address: address + offset, length: 4 });
      }
    }
  },
  firstLength: (code) => (code.length >= 4 ? 4 : undefined),
};
