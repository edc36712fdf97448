import { closeSync, openSync, readSync } from 'node:fs';
import type { Arch } from './node-runtime.ts';

/** ELF e_machine values of the architectures we ship. */
const MACHINES: Record<number, Arch> = { 0x3e: 'x64', 0xb7: 'arm64' };

/** The architecture an ELF file (executable or shared object) was built for, from its header. */
export function elfArch(path: string): Arch | 'other' {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF file`);
  // e_machine at offset 18; EI_DATA (offset 5) says little (1) or big (2) endian.
  const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  return MACHINES[machine] ?? 'other';
}
