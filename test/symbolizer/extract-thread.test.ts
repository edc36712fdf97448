/**
 * The service's extraction thread (`threadedRangeExtractor`) sends ranges to the main thread packed as typed
 * arrays and a string table (range-transfer.ts): what arrives must be exactly what `extractRanges` yields in
 * this thread, chunk for chunk, for real files (glibc's Debian debug file: dwz-free DWARF 5 with inlines and
 * line tables; a g++ program with templates and inline chains).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { SymbolRange } from '../../src/model/symbols.ts';
import { extractRanges } from '../../src/symbolizer/ranges/extract.ts';
import { threadedRangeExtractor } from '../../src/symbolizer/service/extract-thread-main.ts';
import { packRanges, unpackRanges } from '../../src/symbolizer/service/range-transfer.ts';
import { buildProgram, canBuild } from '../peers/toolchains.ts';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const haveLibcDebug = existsSync('/usr/lib/debug/.build-id') && existsSync(LIBC);
if (process.env.CI === 'true')
  assert.ok(haveLibcDebug, 'libc6-dbg is not installed (apt-get install libc6-dbg)');

async function threadedChunks(path: string): Promise<SymbolRange[][]> {
  const chunks: SymbolRange[][] = [];
  for await (const chunk of threadedRangeExtractor(path, {})) chunks.push(chunk);
  return chunks;
}

describe('extraction thread', { timeout: 300_000 }, () => {
  it(
    'glibc: the ranges from the thread equal extractRanges',
    { skip: !haveLibcDebug && 'libc6-dbg missing' },
    async () => {
      const expected = [...extractRanges(LIBC)];
      const actual = await threadedChunks(LIBC);
      assert.ok(expected.flat().length > 10_000, `glibc ranges: ${expected.flat().length}`);
      assert.ok(expected.flat().some((range) => range.depth > 0 && range.lines.length > 1));
      assert.deepStrictEqual(actual, expected);
    },
  );

  it(
    'g++ program: the ranges from the thread equal extractRanges',
    { skip: !canBuild('cpp') && 'toolchain missing' },
    async () => {
      const { binary } = buildProgram('cpp');
      const expected = [...extractRanges(binary)];
      assert.ok(expected.flat().some((range) => range.callFileName !== '' && range.depth > 1));
      assert.deepStrictEqual(await threadedChunks(binary), expected);
    },
  );

  it('packs numbers past 32 bits, empty line tables and repeated strings', () => {
    const ranges: SymbolRange[] = [
      {
        start: 2 ** 47 + 5,
        end: 2 ** 47 + 90,
        depth: 0,
        functionName: 'f',
        functionLine: 7,
        fileName: 'a.c',
        callFileName: '',
        callLine: 0,
        lineOffsets: [0, 16],
        lines: [7, 2 ** 32 - 1],
      },
      {
        start: 2 ** 47 + 20,
        end: 2 ** 47 + 30,
        depth: 1,
        functionName: 'g',
        functionLine: 0,
        fileName: 'a.c',
        callFileName: 'a.c',
        callLine: 12,
        lineOffsets: [],
        lines: [],
      },
    ];
    const packed = packRanges(ranges);
    assert.deepStrictEqual(packed.strings, ['f', 'a.c', '', 'g']);
    assert.deepStrictEqual(unpackRanges(packed), ranges);
  });
});
