/** The library surface: model arrays, the Go table reporting, errors for missing and non-ELF files. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SymbolizedBinary,
  SymbolizerFormatError,
  toStackFrameSymbols,
} from '../../src/symbolizer/symbolizer.ts';
import { buildProgram, canBuild } from '../peers/toolchains.ts';
import { testAddresses } from './oracle.ts';

describe('symbolizer API', () => {
  it(
    'turns an inline chain into the model arrays, innermost first',
    { skip: !canBuild('c-dwarf5') && 'gcc missing' },
    () => {
      const built = buildProgram('c-dwarf5');
      const binary = SymbolizedBinary.open(built.binary, { debugDirectories: [] });
      try {
        const inlined = testAddresses(built.binary, 800)
          .map((a) => binary.symbolize(a))
          .find((frames) => frames.length >= 3 && frames[frames.length - 1].functionName === 'nearest');
        assert.ok(inlined, 'expected square() inlined into distance2() inlined into nearest()');
        assert.deepEqual(
          inlined.map((f) => f.functionName),
          ['square', 'distance2', 'nearest'],
        );
        const symbols = toStackFrameSymbols('frame-1', inlined);
        assert.equal(symbols.frameId, 'frame-1');
        assert.deepEqual(symbols.functionNames, ['square', 'distance2', 'nearest']);
        assert.ok(symbols.fileNames.every((f) => f.endsWith('/prog.c')));
        assert.ok(symbols.lineNumbers.every((l) => l > 0));
        symbols.functionOffsets.forEach((offset, i) =>
          assert.equal(offset, inlined[i].line - inlined[i].startLine),
        );
      } finally {
        binary.close();
      }
    },
  );

  it('reports missing files as such and non-ELF files as format errors', () => {
    assert.throws(() => SymbolizedBinary.open('/nonexistent/uniprof-test'), /ENOENT/);
    assert.throws(() => SymbolizedBinary.open(new URL(import.meta.url).pathname), SymbolizerFormatError);
  });

  it(
    'symbolizes addresses outside any function as an empty chain',
    { skip: !canBuild('c-dwarf4') && 'gcc missing' },
    () => {
      const binary = SymbolizedBinary.open(buildProgram('c-dwarf4').binary, { debugDirectories: [] });
      try {
        assert.deepEqual(binary.symbolize(0), []);
        // Past the end only the zero-sized marker symbol `_end` covers the address, as in llvm-symbolizer.
        assert.deepEqual(
          binary.symbolize(2 ** 48).map((f) => f.functionName),
          ['_end'],
        );
      } finally {
        binary.close();
      }
    },
  );
});
