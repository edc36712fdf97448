/**
 * Return pads of real binaries built by the test run (C, C++, Rust, Go) and of glibc (libc6-dbg): the call
 * instructions found inside the functions are exactly those `objdump -d` shows there, every pad's chain is
 * the chain the ranges give at the call instruction (`framesAt`), and for a sample llvm-symbolizer's chain
 * at the call address (DWARF names, as the ranges' name policy gives them).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { framesAt, type ReturnPad, type SymbolRange } from '../../src/model/symbols.ts';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { extractRanges } from '../../src/symbolizer/ranges/extract.ts';
import { RangeIndex } from '../../src/symbolizer/ranges/range-index.ts';
import { createRequire } from 'node:module';
import type * as Iced from 'iced-x86';
import {
  arm64CallFinder,
  X86CallFinder,
  type CallInstruction,
} from '../../src/symbolizer/returnpads/calls.ts';
import { commonLength } from '../../src/symbolizer/returnpads/x86-length.ts';
import { ExecutableCode, ReturnPadError, returnPads } from '../../src/symbolizer/returnpads/generate.ts';
import { buildProgram, canBuild, haveTool, type VariantName } from '../peers/toolchains.ts';
import { llvmSymbolize, prng, withoutSymbolTable } from './oracle.ts';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const haveLibcDebug = existsSync('/usr/lib/debug/.build-id') && existsSync(LIBC);
if (process.env.CI === 'true')
  assert.ok(haveLibcDebug, 'libc6-dbg is not installed (apt-get install libc6-dbg)');
const haveObjdump = haveTool('objdump', 'apt-get install binutils');
const haveOracle = haveTool('llvm-symbolizer', 'apt-get install llvm') && haveObjdump;

function collect<T>(chunks: Iterable<readonly T[]>): T[] {
  const out: T[] = [];
  for (const chunk of chunks) out.push(...chunk);
  return out;
}

/** objdump's instruction lines: address and mnemonic (prefixes such as `notrack` or `bnd` skipped). */
function objdumpCalls(path: string): Map<number, string> {
  const text = execFileSync('objdump', ['-d', '--no-show-raw-insn', '-M', 'suffix', path], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const calls = new Map<number, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([0-9a-f]+):\s+(.*)$/.exec(line);
    if (!match) continue;
    const words = match[2].trim().split(/\s+/);
    while (words.length > 1 && /^(notrack|bnd|ds|cs|rex(\.\w+)?|addr32|data16|lock|rep\w*)$/.test(words[0]))
      words.shift();
    const mnemonic = words[0] ?? '';
    if (/^(l?call[qlw]?|syscall|int|into)$/.test(mnemonic)) calls.set(parseInt(match[1], 16), mnemonic);
  }
  return calls;
}

function inFunctions(functions: readonly SymbolRange[], address: number): boolean {
  let low = 0;
  let high = functions.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (functions[mid].start <= address) low = mid + 1;
    else high = mid;
  }
  return low > 0 && address < functions[low - 1].end;
}

interface Subject {
  name: string;
  executable: string;
  ranges: SymbolRange[];
  /** A copy llvm-symbolizer names from DWARF with (undefined: no oracle comparison). */
  oracle?: () => string;
}

function checkSubject(subject: Subject, tmp: string): string {
  const { executable, ranges } = subject;
  const index = RangeIndex.of(ranges);
  const functions = index.rangesAt(0);
  const elf = ElfFile.open(executable);
  let found: CallInstruction[];
  try {
    found = new ExecutableCode(elf).calls(functions);
  } finally {
    elf.close();
  }
  // 1. The same call instructions as objdump's, inside the functions.
  const expected = new Map(
    [...objdumpCalls(executable)].filter(([address]) => inFunctions(functions, address)),
  );
  const ours = new Set(found.map((c) => c.address));
  const missing = [...expected.keys()].filter((a) => !ours.has(a));
  const extra = [...ours].filter((a) => !expected.has(a));
  assert.ok(expected.size > 10, `${subject.name}: objdump shows only ${expected.size} calls`);
  assert.deepEqual(
    {
      missing: missing.slice(0, 5).map((a) => a.toString(16)),
      extra: extra.slice(0, 5).map((a) => a.toString(16)),
    },
    { missing: [], extra: [] },
    `${subject.name}: ${found.length} calls found, objdump ${expected.size}`,
  );
  assert.equal(found.length, expected.size);

  // 2. One pad per call (the goexit exception aside), each with the ranges' chain at the call.
  const pads: ReturnPad[] = collect(returnPads(executable, [ranges], { chunkSize: 1000 }));
  const byAddress = new Map(pads.map((pad) => [pad.address, pad]));
  let checked = 0;
  for (const call of found) {
    const pad = byAddress.get(call.address + call.length - 1);
    const chain = framesAt(index.containing(call.address), call.address);
    if (chain.length === 0) continue;
    assert.ok(pad, `${subject.name}: no pad for the call at 0x${call.address.toString(16)}`);
    assert.deepEqual(pad.frames, chain);
    checked++;
  }
  assert.ok(checked > 0.95 * found.length, `${subject.name}: ${checked} of ${found.length} calls have pads`);
  // The return address − 1 lies in the call: the pad equals the chain at the address the agent reports.
  for (const pad of pads.slice(0, 500)) {
    if (pad.frames.length > 1 || pad.frames[0].line !== 0)
      assert.deepEqual(pad.frames, index.symbolize(pad.address));
  }

  // 3. A sample against llvm-symbolizer at the call address.
  const summary = `${functions.length} functions, ${found.length} calls (= objdump), ${pads.length} pads`;
  if (!subject.oracle || !haveOracle) return summary;
  const random = prng(7);
  const sample = found.filter(() => random() < 400 / found.length).map((c) => c.address);
  const oracle = llvmSymbolize(subject.oracle(), sample, true);
  let compared = 0;
  sample.forEach((address, i) => {
    const want = oracle[i];
    if (want.length === 0 || want[0].functionName === '') return; // no DWARF function there
    const pad = found.find((c) => c.address === address)!;
    const got = byAddress.get(pad.address + pad.length - 1)!.frames;
    // llvm-cxxfilt 14 leaves some names mangled that we demangle (see docs/symbolizer.md): those names are
    // not compared, the rest of the frame is.
    const comparable = (name: string, theirs: string) => (/^_[ZR]/.test(theirs) ? theirs : name);
    assert.deepEqual(
      got.map((f, k) => ({
        functionName: comparable(f.functionName, want[k]?.functionName ?? ''),
        fileName: f.fileName,
        line: f.line,
      })),
      want,
      `${subject.name}: chain at 0x${address.toString(16)}`,
    );
    compared++;
  });
  assert.ok(compared > sample.length / 2, `${subject.name}: only ${compared} of ${sample.length} compared`);
  void tmp;
  return `${summary}, ${compared} of ${sample.length} sampled chains = llvm-symbolizer`;
}

const PROGRAMS: { variant: VariantName; llvm: boolean }[] = [
  { variant: 'c-dwarf5', llvm: true },
  { variant: 'cpp-large', llvm: true },
  { variant: 'rust-v0', llvm: true },
  // Go's DWARF names and llvm-symbolizer's differ in ways ranges.test.ts documents: the chain is checked
  // against the ranges only.
  { variant: 'go-dwarf', llvm: false },
];

describe('return pads of real binaries', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'uniprof-retpads-'));
  for (const { variant, llvm } of PROGRAMS) {
    it(`${variant}: calls equal objdump's, chains equal the ranges' and llvm-symbolizer's`, (t) => {
      if (!haveObjdump || !canBuild(variant)) return t.skip('toolchain or binutils missing');
      const built = buildProgram(variant);
      const ranges = collect(extractRanges(built.binary, { functionNames: 'dwarf' }));
      t.diagnostic(
        checkSubject(
          {
            name: variant,
            executable: built.binary,
            ranges,
            oracle: llvm ? () => withoutSymbolTable(built.binary, tmp, `${variant}-nosymtab`) : undefined,
          },
          tmp,
        ),
      );
    });
  }

  it("glibc: the executable's code with the ranges of its libc6-dbg debug file", (t) => {
    if (!haveLibcDebug || !haveObjdump) return t.skip('libc6-dbg or binutils missing');
    const ranges = collect(extractRanges(LIBC, { functionNames: 'dwarf' }));
    t.diagnostic(checkSubject({ name: 'glibc', executable: LIBC, ranges }, tmp));
  });

  it('Go: runtime.goexit gets the pad of the return address its scheduler pushes', (t) => {
    if (!canBuild('go-dwarf')) return t.skip('go missing');
    const built = buildProgram('go-dwarf');
    const ranges = collect(extractRanges(built.binary, { functionNames: 'dwarf' }));
    const goexit = ranges.find((r) => r.depth === 0 && r.functionName === 'runtime.goexit');
    assert.ok(goexit, 'runtime.goexit has a range');
    const pads = collect(returnPads(built.binary, [ranges]));
    // Its first instruction is a one-byte NOP: the pushed return address is start + 1, reported as start.
    const pad = pads.find((p) => p.address === goexit.start);
    assert.deepEqual(pad?.frames, [
      { functionName: 'runtime.goexit', fileName: goexit.fileName, line: 0, startLine: goexit.functionLine },
    ]);
  });

  it('a separate debug file has no code: pads are refused, not invented', (t) => {
    if (!canBuild('c-split')) return t.skip('gcc or binutils missing');
    const built = buildProgram('c-split');
    const ranges = collect(extractRanges(built.binary, { debugFile: built.debugFile }));
    assert.throws(() => collect(returnPads(built.debugFile!, [ranges])), ReturnPadError);
    assert.ok(collect(returnPads(built.binary, [ranges])).length > 10);
  });

  it('arm64: BL, BLR, BLRAA-family and SVC are calls; B, BR, RET and others are not', () => {
    const words = [
      0x94000010, // bl
      0x97ffffff, // bl (backwards)
      0xd63f0200, // blr x16
      0xd63f083f, // blraaz x1
      0xd73f0820, // blraa x1, x0
      0xd63f0c3f, // blrabz x1
      0xd4000001, // svc #0
      0x14000010, // b
      0xd61f0200, // br x16
      0xd65f03c0, // ret
      0xd503201f, // nop
      0xd4200000, // brk #0
    ];
    const code = new Uint8Array(words.length * 4 + 2);
    const view = new DataView(code.buffer);
    words.forEach((w, i) => view.setUint32(i * 4, w, true));
    const found: CallInstruction[] = [];
    arm64CallFinder.calls(code, 0x1000, found);
    assert.deepEqual(
      found.map((c) => c.address),
      [0x1000, 0x1004, 0x1008, 0x100c, 0x1010, 0x1014, 0x1018],
    );
    assert.ok(found.every((c) => c.length === 4));
  });

  it("x86-64: the call mnemonics are exactly iced's call instruction codes", () => {
    // The finder reads only the mnemonic: CALL, SYSCALL, INT and INTO must cover every `Call_*` code,
    // `Syscall`, `Int_imm8` and `Into`, and nothing else (INT3 and INT1 have mnemonics of their own).
    const iced = createRequire(import.meta.url)('iced-x86') as typeof Iced;
    const callMnemonics = new Set([
      iced.Mnemonic.Call,
      iced.Mnemonic.Syscall,
      iced.Mnemonic.Int,
      iced.Mnemonic.Into,
    ]);
    let codes = 0;
    for (const [name, code] of Object.entries(iced.Code)) {
      if (typeof code !== 'number') continue;
      codes++;
      const mnemonic = iced.CodeExt.opCode(code).mnemonic;
      assert.equal(callMnemonics.has(mnemonic), /^(Call_|Syscall$|Int_imm8$|Into$)/.test(name), name);
      // Only an invalid instruction has no mnemonic: the scan's stop test.
      assert.equal(mnemonic === iced.Mnemonic.INVALID, code === iced.Code.INVALID, name);
    }
    assert.ok(codes > 4000, `only ${codes} codes`);
  });

  it('x86-64: calls with their addresses and lengths; the scan stops at bytes that are no instruction', () => {
    // prettier-ignore
    const code = Uint8Array.from([
      0xf3, 0x0f, 0x1e, 0xfa, // endbr64
      0xe8, 0x00, 0x00, 0x00, 0x00, // call rel32
      0x90, // nop
      0xff, 0xd0, // call rax
      0x41, 0xff, 0x54, 0x24, 0x08, // call [r12+8]
      0x0f, 0x05, // syscall
      0xcc, // int3: a trap, not a call
      0xcd, 0x80, // int 0x80
      0xc3, // ret
      0xff, 0x15, 0x00, 0x00, 0x00, 0x00, // call [rip+0]
      0x06, // push es: invalid in 64-bit mode, ends the scan
      0xe8, 0x00, 0x00, 0x00, 0x00, // not reached
    ]);
    const found: CallInstruction[] = [];
    new X86CallFinder().calls(code, 0x4000, found);
    assert.deepEqual(found, [
      { address: 0x4004, length: 5 },
      { address: 0x400a, length: 2 },
      { address: 0x400c, length: 5 },
      { address: 0x4011, length: 2 },
      { address: 0x4014, length: 2 },
      { address: 0x4017, length: 6 },
    ]);
    // A call cut off by the end of the code is no call.
    const cut: CallInstruction[] = [];
    new X86CallFinder().calls(Uint8Array.from([0x90, 0xe8, 0x00, 0x00]), 0x10, cut);
    assert.deepEqual(cut, []);
  });

  it('x86-64: the lengths decoded in JavaScript equal iced-x86 on random instructions', () => {
    // commonLength answers for the common encodings and leaves the rest to iced: where it answers, the
    // length and whether it is a call must be iced's, for any bytes (prefixes, REX, ModRM/SIB/displacement
    // forms, immediates, code cut off at the end).
    const iced = createRequire(import.meta.url)('iced-x86') as typeof Iced;
    const calls = new Set([iced.Mnemonic.Call, iced.Mnemonic.Syscall, iced.Mnemonic.Int, iced.Mnemonic.Into]);
    const instruction = new iced.Instruction();
    const random = prng(20261128);
    const prefixes = [0x66, 0x66, 0x67, 0xf2, 0xf3, 0xf3, 0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0xf0, 0x9b];
    let answered = 0;
    for (let k = 0; k < 200_000; k++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * 18));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      let p = 0;
      if (random() < 0.5)
        for (let n = Math.floor(random() * 3); n > 0 && p < bytes.length; n--)
          bytes[p++] = prefixes[Math.floor(random() * prefixes.length)];
      if (random() < 0.33 && p < bytes.length) bytes[p++] = 0x40 | Math.floor(random() * 16);
      if (random() < 0.5 && p < bytes.length) {
        // The two-byte map, with ENDBR64/ENDBR32 and their F3 0F 1E neighbours now and then.
        bytes[p++] = 0x0f;
        if (random() < 0.1 && p + 1 < bytes.length) {
          bytes[p++] = 0x1e;
          bytes[p] = 0xf8 + Math.floor(random() * 8);
        }
      }
      const length = commonLength(bytes, 0, bytes.length);
      if (length === 0) continue;
      answered++;
      const decoder = new iced.Decoder(64, bytes, iced.DecoderOptions.None);
      decoder.decodeOut(instruction);
      decoder.free();
      const hex = Buffer.from(bytes).toString('hex');
      assert.notEqual(instruction.mnemonic, iced.Mnemonic.INVALID, `${hex}: valid for us, invalid for iced`);
      assert.equal(Math.abs(length), instruction.length, `${hex}: length`);
      assert.equal(length < 0, calls.has(instruction.mnemonic), `${hex}: call or not`);
    }
    assert.ok(answered > 40_000, `only ${answered} answered`);
  });

  it('cleans up', () => rmSync(tmp, { recursive: true, force: true }));
});
