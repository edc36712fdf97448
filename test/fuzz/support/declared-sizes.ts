/**
 * Inputs that declare a size of 4 GiB or more (a protobuf length prefix, an upload frame, an ELF section or
 * compression header, a DWARF unit length, a pclntab function count) while carrying a few bytes: each must be
 * refused, and without allocating what it declares (the runner bounds every case's buffers).
 */
import { readFileSync } from 'node:fs';
import { loadDwarfSections } from '../../../src/symbolizer/dwarf/sections.ts';
import { ElfFile } from '../../../src/symbolizer/elf/elf.ts';
import { SYMBOL_UPLOAD_MAGIC } from '../../../src/symbolizer/upload/format.ts';
import { buildProgram } from '../../peers/toolchains.ts';
import { packSections } from '../targets/symbolizer.ts';
import { encodeVarint } from './mutate.ts';

const FOUR_GIB = 2n ** 32n;
const HUGE = [FOUR_GIB - 1n, FOUR_GIB, FOUR_GIB + 5n, 2n ** 40n, 2n ** 63n];
const bytes = (...parts: (number[] | Uint8Array)[]) => Buffer.concat(parts.map((p) => Uint8Array.from(p)));

/** ExportProfilesServiceRequest fields 1 (resource profiles) and 2 (dictionary) claiming huge lengths. */
export function protobufDeclaredSizes(): Uint8Array[] {
  return HUGE.flatMap((size) => [
    bytes([0x0a], encodeVarint(size), [0x0a, 0x00]),
    bytes([0x12], encodeVarint(size), [0x0a, 0x02, 0x08, 0x01]),
    // Inside the dictionary: a string table entry of that length.
    bytes([0x12, 0x0c, 0x2a], encodeVarint(size).subarray(0, 10), [0x61, 0x62]).subarray(0, 14),
  ]);
}

/** Upload streams (sent gzip-compressed, file ID of the first program) whose first frame claims a huge length. */
export function uploadDeclaredSizes(): Uint8Array[] {
  return HUGE.map((size) => bytes([0, 0], SYMBOL_UPLOAD_MAGIC, encodeVarint(size), [0x0a, 0x02, 0x08, 0x01]));
}

function setUint(bytes: Uint8Array, at: number, width: 2 | 4 | 8, value: bigint, little = true): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 2) view.setUint16(at, Number(value & 0xffffn), little);
  else if (width === 4) view.setUint32(at, Number(value & 0xffffffffn), little);
  else view.setBigUint64(at, BigInt.asUintN(64, value), little);
}

/** A 64-bit little-endian program with .debug_info's size, or its compression header's size, set huge. */
export function elfDeclaredSizes(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const variant of ['c-dwarf5', 'c-gz-zlib'] as const) {
    const path = buildProgram(variant).binary;
    const file = new Uint8Array(readFileSync(path));
    const original = ElfFile.fromBytes(file);
    const shoff = Number(new DataView(file.buffer).getBigUint64(40, true));
    const index = original.sections.findIndex((s) => s.name === '.debug_info');
    const header = original.sections[index];
    original.close();
    for (const size of HUGE) {
      const sized = file.slice();
      setUint(sized, shoff + index * 64 + 32, 8, size); // sh_size
      out.push(sized);
      if (variant === 'c-gz-zlib') {
        const compressed = file.slice();
        setUint(compressed, header.offset + 8, 8, size); // Elf64_Chdr.ch_size
        out.push(compressed);
      }
    }
    // As many section headers as the format allows, each declared 4 GiB apart.
    const counted = file.slice();
    setUint(counted, 58, 2, 0xffffn);
    setUint(counted, 60, 2, 0xffffn);
    out.push(counted);
  }
  return out;
}

/** DWARF sections whose first unit (of .debug_info, then of .debug_line) claims a huge length. */
export function dwarfDeclaredSizes(): Uint8Array[] {
  const elf = ElfFile.open(buildProgram('c-dwarf5').binary);
  const sections = loadDwarfSections(elf);
  elf.close();
  if (!sections) throw new Error('c-dwarf5 has no DWARF');
  const out: Uint8Array[] = [];
  for (const name of ['info', 'line'] as const) {
    for (const size of [0xfffffff0n, ...HUGE]) {
      const damaged = Uint8Array.from(sections[name]);
      // 32-bit lengths below the 64-bit escape; 64-bit DWARF (0xffffffff, then 8 bytes) for the rest.
      const patched =
        size < 0xfffffff0n + 1n
          ? (setUint(damaged, 0, 4, size), damaged)
          : bytes([0xff, 0xff, 0xff, 0xff], new Uint8Array(8), damaged.subarray(4));
      if (size > 0xfffffff0n) setUint(patched, 4, 8, size);
      out.push(packSections({ ...sections, [name]: patched }).bytes);
    }
  }
  return out;
}

/** Go programs whose pclntab function count is huge (for the word size: 4 bytes on 386). */
export function pclntabDeclaredSizes(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const variant of ['go-stripped', 'go-386'] as const) {
    const file = new Uint8Array(readFileSync(buildProgram(variant).binary));
    const elf = ElfFile.fromBytes(file);
    const header = elf.sectionHeader('.gopclntab');
    const little = elf.littleEndian;
    elf.close();
    if (!header) throw new Error(`${variant} has no .gopclntab`);
    const ptr = file[header.offset + 7] as 4 | 8;
    for (const size of ptr === 8 ? HUGE : [FOUR_GIB - 1n, 2n ** 31n]) {
      const damaged = file.slice();
      setUint(damaged, header.offset + 8, ptr, size, little);
      out.push(damaged);
    }
  }
  return out;
}
