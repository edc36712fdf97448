/**
 * Lengths of the common x86-64 instructions, decoded here in JavaScript: the integer instructions compilers
 * emit most (and the calls among them), a few SSE moves and arithmetic forms. Anything else — VEX and EVEX,
 * x87, the 0F 38 / 0F 3A maps, LOCK, system instructions, encodings invalid in 64-bit mode, operand-size
 * prefixes on branches (where Intel and AMD differ) — is left to iced-x86, which decides every instruction
 * this does not: `commonLength` answers 0 there. Each crossing into iced's WebAssembly costs more than
 * decoding one of these instructions here, and most of a program's code is made of them.
 *
 * For what it does answer, the length and whether the instruction is a call equal iced's (a randomized
 * comparison with iced over every prefix and opcode form in test/symbolizer/returnpads.test.ts keeps them
 * so); it answers only for encodings iced decodes as valid.
 */

/** How an opcode's operands are laid out (0, the tables' default: left to iced). */
const ONE = 1; // no operand bytes
const M = 2; // ModRM (with SIB and displacement)
const M_I8 = 3; // ModRM, imm8
const M_IZ = 4; // ModRM, imm16/32
const I8 = 5; // imm8
const IZ = 6; // imm16/32
const REL8 = 7; // rel8 branch
const SPECIAL = 8; // decided by the opcode itself below

const ONE_BYTE = new Uint8Array(256);
/** Two-byte (0F xx) opcodes: their layout, when taken without a 66/F2/F3 prefix. */
const TWO_BYTE = new Uint8Array(256);
/** Two-byte opcodes that also stay what they are (same layout, valid) with each prefix. */
const TWO_BYTE_66 = new Uint8Array(256);
const TWO_BYTE_F3 = new Uint8Array(256);
const TWO_BYTE_F2 = new Uint8Array(256);

function set(table: Uint8Array, kind: number, ...opcodes: number[]): void {
  for (const opcode of opcodes) table[opcode] = kind;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// ALU r/m forms (00-03, 08-0B, … 38-3B) and their AL/eAX immediate forms.
for (let base = 0x00; base <= 0x38; base += 8) {
  set(ONE_BYTE, M, base, base + 1, base + 2, base + 3);
  set(ONE_BYTE, I8, base + 4);
  set(ONE_BYTE, IZ, base + 5);
}
set(ONE_BYTE, SPECIAL, 0x0f);
set(ONE_BYTE, ONE, ...range(0x50, 0x5f));
set(ONE_BYTE, M, 0x63, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0xd0, 0xd1, 0xd2, 0xd3);
set(ONE_BYTE, IZ, 0x68, 0xa9);
set(ONE_BYTE, M_IZ, 0x69, 0x81);
set(ONE_BYTE, I8, 0x6a, 0xa8, 0xe4, 0xe5, 0xe6, 0xe7, 0xcd, ...range(0xb0, 0xb7));
set(ONE_BYTE, M_I8, 0x6b, 0x80, 0x83, 0xc0, 0xc1);
set(ONE_BYTE, ONE, 0x6c, 0x6d, 0x6e, 0x6f);
set(ONE_BYTE, REL8, ...range(0x70, 0x7f), 0xe0, 0xe1, 0xe2, 0xe3, 0xeb);
set(ONE_BYTE, SPECIAL, 0x8c, 0x8d, 0x8f);
// Not 9B (WAIT): iced decodes it together with a following x87 instruction (FSTSW and others).
set(ONE_BYTE, ONE, ...range(0x90, 0x99), 0x9c, 0x9d, 0x9e, 0x9f);
set(ONE_BYTE, ONE, 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf);
set(ONE_BYTE, SPECIAL, ...range(0xb8, 0xbf));
set(ONE_BYTE, SPECIAL, 0xc2, 0xc3, 0xc6, 0xc7, 0xc9, 0xe8, 0xe9, 0xf6, 0xf7, 0xfe, 0xff);
set(ONE_BYTE, ONE, 0xcc, 0xd7, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf4, 0xf5, ...range(0xf8, 0xfd));

set(TWO_BYTE, ONE, 0x05, 0x0b, 0x31, 0xa2, ...range(0xc8, 0xcf));
set(TWO_BYTE, M, 0x10, 0x11, 0x28, 0x29, 0x2e, 0x2f, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a);
set(TWO_BYTE, M, 0x5c, 0x5d, 0x5e, 0x5f, 0x6f, 0x7f, 0xef);
set(TWO_BYTE, M, ...range(0x40, 0x4f), 0xa3, 0xa5, 0xab, 0xad, 0xaf, 0xb0, 0xb1, 0xb3, 0xb6, 0xb7);
set(TWO_BYTE, M, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1);
set(TWO_BYTE, M_I8, 0xa4, 0xac);
set(TWO_BYTE, SPECIAL, 0x1f, ...range(0x80, 0x8f), ...range(0x90, 0x9f));
// With 66: the same integer forms (16-bit operands) and the SSE2 double/integer forms.
set(TWO_BYTE_66, M, 0x10, 0x11, 0x28, 0x29, 0x2e, 0x2f, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a);
set(TWO_BYTE_66, M, 0x5c, 0x5d, 0x5e, 0x5f, 0x6f, 0x7f, 0xef, 0xd6);
set(TWO_BYTE_66, M, ...range(0x40, 0x4f), 0xa3, 0xa5, 0xab, 0xad, 0xaf, 0xb0, 0xb1, 0xb3, 0xb6, 0xb7);
set(TWO_BYTE_66, M, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1);
set(TWO_BYTE_66, M_I8, 0xa4, 0xac);
set(TWO_BYTE_66, SPECIAL, 0x1f);
// SSE2 integer arithmetic, compares, shuffles and moves on xmm (glibc's string functions).
set(TWO_BYTE_66, M, ...range(0x60, 0x6d), 0x74, 0x75, 0x76, ...range(0xd1, 0xd5), ...range(0xd8, 0xdf));
set(TWO_BYTE_66, M, ...range(0xe0, 0xe5), ...range(0xe8, 0xef), ...range(0xf1, 0xf6), ...range(0xf8, 0xfe));
// With F3 / F2: the scalar SSE forms (and F3's unaligned integer moves, TZCNT, LZCNT).
set(TWO_BYTE_F3, M, 0x10, 0x11, 0x58, 0x59, 0x5a, 0x5c, 0x5d, 0x5e, 0x5f, 0x6f, 0x7f, 0xbc, 0xbd);
// ENDBR64 / ENDBR32 (F3 0F 1E FA / FB), at the start of every function of a CET-enabled build.
set(TWO_BYTE_F3, SPECIAL, 0x1e);
set(TWO_BYTE_F2, M, 0x10, 0x11, 0x58, 0x59, 0x5a, 0x5c, 0x5d, 0x5e, 0x5f);

/** Bytes of a ModRM byte at `at` with its SIB and displacement; -1 past `end`. */
function modrmLength(code: Uint8Array, at: number, end: number): number {
  if (at >= end) return -1;
  const modrm = code[at];
  const mod = modrm >> 6;
  if (mod === 3) return 1;
  let length = 1;
  const rm = modrm & 7;
  if (rm === 4) {
    if (at + 1 >= end) return -1;
    length = 2;
    if (mod === 0 && (code[at + 1] & 7) === 5) length += 4;
  } else if (mod === 0 && rm === 5) length += 4;
  if (mod === 1) length += 1;
  else if (mod === 2) length += 4;
  return length;
}

/** x86's limit on an instruction's length. */
const MAX_INSTRUCTION = 15;

/**
 * The length of the instruction at `code[at]` (ending before `end`) when it is one of the common ones,
 * negated when it is a call (CALL rel32, CALL r/m64, INT imm8, SYSCALL); 0 when iced must decide
 * (including bytes cut off by `end`).
 */
export function commonLength(code: Uint8Array, at: number, end: number): number {
  let i = at;
  let operand16 = false;
  let repeat = 0;
  let prefixes = 0;
  let opcode: number;
  // Legacy prefixes (LOCK is left to iced: whether it is allowed depends on the instruction).
  for (;;) {
    if (i >= end) return 0;
    opcode = code[i];
    if (opcode === 0x66) operand16 = true;
    else if (opcode === 0xf2 || opcode === 0xf3) {
      // Two repeat prefixes (or one with 66) choose among SSE forms in ways left to iced.
      if (repeat !== 0 && repeat !== opcode) return 0;
      repeat = opcode;
    } else if (opcode !== 0x67 && opcode !== 0x26 && opcode !== 0x2e && opcode !== 0x36 && opcode !== 0x3e) {
      if (opcode !== 0x64 && opcode !== 0x65) break;
    }
    i++;
    if (++prefixes > 4) return 0;
  }
  let rexW = false;
  if ((opcode & 0xf0) === 0x40) {
    rexW = (opcode & 8) !== 0;
    i++;
    if (i >= end) return 0;
    opcode = code[i];
  }
  i++;
  let length: number;
  let call = false;
  const immediateZ = operand16 && !rexW ? 2 : 4;
  switch (ONE_BYTE[opcode]) {
    case ONE:
      length = 0;
      break;
    case M:
      length = modrmLength(code, i, end);
      break;
    case M_I8:
      length = modrmLength(code, i, end);
      if (length > 0) length += 1;
      break;
    case M_IZ:
      length = modrmLength(code, i, end);
      if (length > 0) length += immediateZ;
      break;
    case I8:
      length = 1;
      call = opcode === 0xcd;
      break;
    case IZ:
      length = immediateZ;
      break;
    case REL8:
      // With 66 a short branch's target size differs between Intel and AMD: left to iced.
      if (operand16) return 0;
      length = 1;
      break;
    case SPECIAL:
      length = special(code, i, end, opcode, operand16, repeat, rexW);
      if (length === 0) return 0;
      if (length < 0) {
        call = true;
        length = -length;
      }
      // `special` counts the operand bytes plus one, so that 0 can mean "left to iced".
      length -= 1;
      break;
    default:
      return 0;
  }
  if (length < 0) return 0;
  const total = i - at + length;
  if (i + length > end || total > MAX_INSTRUCTION) return 0;
  return call ? -total : total;
}

/**
 * Operand bytes + 1 of the opcodes that need a look at their ModRM or prefixes (negated for a call); 0 when
 * iced must decide.
 */
function special(
  code: Uint8Array,
  i: number,
  end: number,
  opcode: number,
  operand16: boolean,
  repeat: number,
  rexW: boolean,
): number {
  if (opcode === 0x0f) return twoByte(code, i, end, operand16, repeat);
  if (opcode >= 0xb8 && opcode <= 0xbf) return 1 + (rexW ? 8 : operand16 ? 2 : 4);
  // Near branches and returns with 66: operand size differs between Intel and AMD.
  if (operand16 && (opcode === 0xc2 || opcode === 0xc3 || opcode === 0xe8 || opcode === 0xe9)) return 0;
  if (opcode === 0xc2) return 1 + 2;
  if (opcode === 0xc3) return 1;
  if (opcode === 0xc9) return operand16 ? 0 : 1;
  if (opcode === 0xe8) return -(1 + 4);
  if (opcode === 0xe9) return 1 + 4;
  const modrm = modrmLength(code, i, end);
  if (modrm < 0) return 0;
  const reg = (code[i] >> 3) & 7;
  const mod = code[i] >> 6;
  const immediateZ = operand16 && !rexW ? 2 : 4;
  let operands = -1;
  switch (opcode) {
    case 0x8c: // MOV r/m, Sreg: ES..GS only
      if (reg <= 5) operands = modrm;
      break;
    case 0x8d: // LEA: memory only
      if (mod !== 3) operands = modrm;
      break;
    case 0x8f: // POP r/m (other reg values are XOP)
      if (reg === 0) operands = modrm;
      break;
    case 0xc6: // MOV r/m8, imm8
      if (reg === 0) operands = modrm + 1;
      break;
    case 0xc7: // MOV r/m, imm32
      if (reg === 0) operands = modrm + immediateZ;
      break;
    case 0xf6: // TEST r/m8, imm8; NOT, NEG, MUL, IMUL, DIV, IDIV
      if (reg !== 1) operands = modrm + (reg === 0 ? 1 : 0);
      break;
    case 0xf7:
      if (reg !== 1) operands = modrm + (reg === 0 ? immediateZ : 0);
      break;
    case 0xfe: // INC, DEC r/m8
      if (reg <= 1) operands = modrm;
      break;
    case 0xff: // INC, DEC, CALL, JMP, PUSH r/m (far forms and /7 left to iced)
      if (reg === 0 || reg === 1 || reg === 6) operands = modrm;
      else if (reg === 2 && !operand16) return -(modrm + 1);
      else if (reg === 4 && !operand16) operands = modrm;
      break;
  }
  return operands > 0 ? operands + 1 : 0;
}

/** Operand bytes + 1 after 0F (negated for SYSCALL); 0 when iced must decide. */
function twoByte(code: Uint8Array, i: number, end: number, operand16: boolean, repeat: number): number {
  if (i >= end) return 0;
  const opcode = code[i];
  if (operand16 && repeat !== 0) return 0;
  const table =
    repeat === 0xf3 ? TWO_BYTE_F3 : repeat === 0xf2 ? TWO_BYTE_F2 : operand16 ? TWO_BYTE_66 : TWO_BYTE;
  const at = i + 1;
  let operands: number;
  switch (table[opcode]) {
    case ONE:
      operands = 0;
      break;
    case M:
      operands = modrmLength(code, at, end);
      break;
    case M_I8:
      operands = modrmLength(code, at, end);
      if (operands > 0) operands += 1;
      break;
    case SPECIAL:
      if (opcode >= 0x80 && opcode <= 0x8f) {
        // Jcc rel32 (without prefixes: see the tables).
        operands = 4;
      } else if (opcode === 0x1e) {
        // ENDBR64 / ENDBR32 only.
        if (at >= end || (code[at] !== 0xfa && code[at] !== 0xfb)) return 0;
        operands = 1;
      } else {
        // NOP r/m and SETcc, with reg 0 only.
        if (at >= end || ((code[at] >> 3) & 7) !== 0) return 0;
        operands = modrmLength(code, at, end);
      }
      break;
    default:
      return 0;
  }
  if (operands < 0) return 0;
  // One byte for the second opcode byte, plus one so that 0 can mean "left to iced".
  return opcode === 0x05 ? -(operands + 2) : operands + 2;
}
