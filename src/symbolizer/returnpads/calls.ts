/**
 * Call instructions in machine code: the instructions after which execution resumes at a return address
 * the agent can see on a stack. Like Elastic's symblib (`disas.rs`), "call" means everything that leaves a
 * return address behind for a frame below it: x86-64 CALL (near and far, direct and indirect), SYSCALL,
 * INT and INTO (the kernel's frames sit below them); arm64 BL, BLR (with the pointer-authentication forms)
 * and SVC.
 */
import { createRequire } from 'node:module';
import type * as Iced from 'iced-x86';
import { commonLength } from './x86-length.ts';

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
 * x86-64: the common instructions are decoded here (`commonLength`), every other one by iced-x86
 * (WebAssembly), which is loaded only when a file first needs it. Each property read crosses into
 * WebAssembly, which is most of iced's cost: per instruction only its mnemonic is read, and only for a call
 * its length.
 *
 * The calls are the mnemonics CALL (every form: near, far, direct, indirect, all operand sizes; those
 * invalid in 64-bit mode never decode there), SYSCALL, INT (INT imm8 only: INT3 and INT1 have mnemonics of
 * their own, and are traps, not calls, as zydis, symblib's decoder, has them) and INTO. These are exactly
 * the instruction codes named `Call_*`, `Syscall`, `Int_imm8` and `Into` (checked over all of iced's codes in
 * test/symbolizer/returnpads.test.ts), without enumerating iced's thousands of codes at load.
 */
export class X86CallFinder implements CallFinder {
  private decoderParts: IcedParts | undefined;

  calls(code: Uint8Array, address: number, found: CallInstruction[]): void {
    let decoder: Iced.Decoder | undefined;
    try {
      let offset = 0;
      while (offset < code.length) {
        let length = commonLength(code, offset, code.length);
        if (length < 0) {
          length = -length;
          found.push({ address: address + offset, length });
        } else if (length === 0) {
          // Decoding is stateless: iced decodes the one instruction at the offset, as a linear scan would.
          const parts = (this.decoderParts ??= icedParts());
          decoder ??= new parts.iced.Decoder(64, code, parts.iced.DecoderOptions.None);
          decoder.position = offset;
          decoder.decodeOut(parts.instruction);
          const mnemonic = parts.instruction.mnemonic;
          // An invalid instruction, or one cut off by the end of the code (iced's `NoMoreBytes`), ends the scan.
          if (mnemonic === INVALID) return;
          length = parts.instruction.length;
          if (parts.callMnemonics.includes(mnemonic)) found.push({ address: address + offset, length });
        }
        offset += length;
      }
    } finally {
      decoder?.free();
    }
  }

  firstLength(code: Uint8Array): number | undefined {
    if (code.length === 0) return undefined;
    const length = Math.abs(commonLength(code, 0, code.length));
    if (length > 0) return length;
    const { iced, instruction } = (this.decoderParts ??= icedParts());
    const decoder = new iced.Decoder(64, code, iced.DecoderOptions.None);
    try {
      decoder.decodeOut(instruction);
      return instruction.isInvalid ? undefined : instruction.length;
    } finally {
      decoder.free();
    }
  }
}

interface IcedParts {
  iced: typeof Iced;
  /** One `Instruction` reused for every decode. */
  instruction: Iced.Instruction;
  callMnemonics: number[];
}

function icedParts(): IcedParts {
  const iced = loadIced();
  const { Call, Syscall, Int, Into } = iced.Mnemonic;
  return { iced, instruction: new iced.Instruction(), callMnemonics: [Call, Syscall, Int, Into] };
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
