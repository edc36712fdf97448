/** The ELF reader against readelf (binutils) on real files: headers, notes, debuglink, symbols, segments. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ElfFile, STT_FUNC } from '../../src/symbolizer/elf/elf.ts';
import { SymbolizedBinary } from '../../src/symbolizer/symbolizer.ts';
import { buildProgram, canBuild, haveTool } from '../peers/toolchains.ts';

const haveReadelf = haveTool('readelf', 'apt-get install binutils');
const libc = '/lib/x86_64-linux-gnu/libc.so.6';

function readelf(args: string[], path: string): string {
  return execFileSync('readelf', ['-W', ...args, path], { encoding: 'utf8', maxBuffer: 1 << 28 });
}

function files(): string[] {
  const out: string[] = [];
  if (existsSync(libc)) out.push(libc);
  for (const v of ['c-dwarf4', 'cpp', 'go-stripped', 'c-split'] as const)
    if (canBuild(v)) out.push(buildProgram(v).binary);
  return out;
}

describe('ELF reader', { skip: !haveReadelf && 'readelf missing' }, () => {
  it('section names, types and sizes match readelf', () => {
    for (const path of files()) {
      const elf = ElfFile.open(path);
      try {
        const listed = readelf(['-S'], path)
          .split('\n')
          .map((line) =>
            /^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line),
          )
          .filter((m): m is RegExpExecArray => m !== null);
        assert.equal(elf.sections.length, listed.length, path);
        for (const m of listed) {
          const s = elf.sections[Number(m[1])];
          assert.equal(s.name, m[2] === 'NULL' ? '' : m[2], `${path} section ${m[1]}`);
          assert.equal(s.addr, parseInt(m[4], 16));
          assert.equal(s.offset, parseInt(m[5], 16));
          assert.equal(s.size, parseInt(m[6], 16));
        }
      } finally {
        elf.close();
      }
    }
  });

  it('GNU build ID and .gnu_debuglink match readelf', () => {
    for (const path of files()) {
      const elf = ElfFile.open(path);
      try {
        const notes = readelf(['-n'], path);
        const expected = /Build ID: ([0-9a-f]+)/.exec(notes)?.[1];
        assert.equal(elf.buildId(), expected, path);
        const link = /\.gnu_debuglink/.test(readelf(['-S'], path));
        assert.equal(elf.debugLink() !== undefined, link, path);
      } finally {
        elf.close();
      }
    }
  });

  it('function symbols match readelf', () => {
    let compared = 0;
    for (const path of files()) {
      const elf = ElfFile.open(path);
      try {
        const ours = new Set(
          elf
            .symbols()
            .filter((s) => s.type === STT_FUNC)
            .map((s) => `${s.address.toString(16)} ${s.size} ${s.name}`),
        );
        const table = elf.hasSymtab() ? ['-s'] : ['--dyn-syms'];
        const theirs = new Set<string>();
        let inTable = false;
        for (const line of readelf(table, path).split('\n')) {
          if (/^Symbol table/.test(line))
            inTable = elf.hasSymtab() ? /'\.symtab'/.test(line) : /'\.dynsym'/.test(line);
          const m = /^\s*\d+:\s+([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+FUNC\s+\S+\s+\S+\s+(\d+)\s+(\S+)/.exec(
            line,
          );
          if (inTable && m)
            theirs.add(`${parseInt(m[1], 16).toString(16)} ${Number(m[2])} ${m[4].replace(/@.*$/, '')}`);
        }
        const oursBare = new Set([...ours].map((s) => s.replace(/@.*$/, '')));
        // A static Go binary built with -s has no symbol table at all: both sides are empty then.
        assert.deepEqual(oursBare, theirs, path);
        compared += theirs.size;
      } finally {
        elf.close();
      }
    }
    assert.ok(compared > 1000, `only ${compared} symbols compared`);
  });

  it('file offsets map to virtual addresses through the PT_LOAD segments readelf lists', () => {
    for (const path of files()) {
      const binary = SymbolizedBinary.open(path, { debugDirectories: [] });
      const elf = ElfFile.open(path);
      try {
        const loads = readelf(['-l'], path)
          .split('\n')
          .map((line) => /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(line))
          .filter((m): m is RegExpExecArray => m !== null);
        assert.ok(loads.length > 0, path);
        for (const [, offset, vaddr, filesz] of loads) {
          const start = parseInt(offset, 16);
          const size = parseInt(filesz, 16);
          if (size === 0) continue;
          for (const delta of [0, Math.floor(size / 2), size - 1]) {
            const expected = parseInt(vaddr, 16) + delta;
            assert.equal(
              binary.fileOffsetToAddress(start + delta),
              expected,
              `${path} offset ${start + delta}`,
            );
            assert.equal(elf.virtualAddressToFileOffset(expected), start + delta);
          }
        }
        assert.equal(binary.fileOffsetToAddress(2 ** 40), undefined);
      } finally {
        elf.close();
        binary.close();
      }
    }
  });
});
