import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stackFrameDocument, stackFrameFromSource } from '../../src/store/elasticsearch/documents.ts';

test('stack frames: all-zero function offsets are left out (as the reference exporter does) and read back as zeros', () => {
  const frame = {
    frameId: 'f',
    functionNames: ['inner', 'outer'],
    fileNames: ['a.c', 'b.c'],
    lineNumbers: [10, 20],
    functionOffsets: [0, 0],
  };
  const doc = stackFrameDocument(frame);
  assert.equal('Stackframe.function.offset' in doc, false);
  assert.deepEqual(stackFrameFromSource('f', doc), frame);

  const withOffsets = { ...frame, functionOffsets: [0, 3] };
  const written = stackFrameDocument(withOffsets);
  assert.deepEqual(written['Stackframe.function.offset'], [3, 0], 'written outermost first');
  assert.deepEqual(stackFrameFromSource('f', written), withOffsets);
});
