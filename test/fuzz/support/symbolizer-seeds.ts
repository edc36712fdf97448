/**
 * Seeds for the symbolizer targets: programs built in the test run by the real toolchains
 * (test/peers/toolchains.ts: gcc, g++, go, cached like the symbolizer tests' builds), with the offsets of
 * their ELF header fields, section and program headers, DWARF unit headers and Go pclntab header and function
 * table as hot spots.
 */
import { readFileSync } from 'node:fs';
import { ElfFile, STT_FUNC } from '../../../src/symbolizer/elf/elf.ts';
import { buildProgram, canBuild, MissingToolError, type VariantName } from '../../peers/toolchains.ts';
import type { Seed } from './mutate.ts';

export interface ProgramSeed extends Seed {
  /** Addresses inside functions, to symbolize. */
  addresses: number[];
}

export function builtPrograms(variants: readonly VariantName[]): { name: VariantName; bytes: Uint8Array }[] {
  const available = variants.filter((v) => canBuild(v));
  if (available.length === 0) throw new MissingToolError(`none of ${variants.join(', ')} can be built here`);
  return available.map((name) => ({ name, bytes: new Uint8Array(readFileSync(buildProgram(name).binary)) }));
}

/** Addresses in the middle and at the start of up to `count` function symbols. */
export function functionAddresses(elf: ElfFile, count = 24): number[] {
  const functions = elf.symbols().filter((s) => s.type === STT_FUNC && s.size > 0 && s.address > 0);
  const step = Math.max(1, Math.floor(functions.length / count));
  const out: number[] = [];
  for (let i = 0; i < functions.length && out.length < count * 2; i += step) {
    out.push(functions[i].address, functions[i].address + Math.floor(functions[i].size / 2));
  }
  return out;
}

/** ELF header fields, every section header and program header field, and compression headers. */
export function elfHotSpots(elf: ElfFile, bytes: Uint8Array): number[] {
  const is64 = bytes[4] === 2;
  const spots = is64
    ? [16, 18, 24, 32, 40, 52, 54, 56, 58, 60, 62]
    : [16, 18, 24, 28, 32, 40, 42, 44, 46, 48, 50];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[5] === 1;
  const shoff = Number(is64 ? view.getBigUint64(40, little) : view.getUint32(32, little));
  const shentsize = view.getUint16(is64 ? 58 : 46, little);
  const phoff = Number(is64 ? view.getBigUint64(32, little) : view.getUint32(28, little));
  const phentsize = view.getUint16(is64 ? 54 : 42, little);
  const fieldsSh = is64 ? [0, 4, 8, 16, 24, 32, 40, 44, 48, 56] : [0, 4, 8, 12, 16, 20, 24, 28, 32, 36];
  const fieldsPh = is64 ? [0, 4, 8, 16, 24, 32, 40, 48] : [0, 4, 8, 12, 16, 20, 24, 28];
  elf.sections.forEach((section, i) => {
    for (const f of fieldsSh) spots.push(shoff + i * shentsize + f);
    if (section.size > 0 && section.offset < bytes.length)
      spots.push(section.offset, section.offset + 4, section.offset + 8);
  });
  elf.programHeaders.forEach((_, i) => {
    for (const f of fieldsPh) spots.push(phoff + i * phentsize + f);
  });
  return spots.filter((s) => s < bytes.length);
}
