import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import { decodeExportRequestView, encodeExportRequest, toSafeNumber } from '../../src/protocol/index.ts';

/*
 * The columnar view sizes its columns from a count of the dictionary's entries and guesses the lines and index
 * lists; entries beyond the guess must grow the columns without losing or shifting anything.
 */
describe('columnar view', () => {
  it('keeps every line and index when locations carry more than the columns were sized for', () => {
    const request = new Workload({ seed: 7, hosts: 3 }).next(
      nanosFromMillis(Date.UTC(2026, 10, 25)),
      200,
    ).request;
    const dictionary = request.dictionary!;
    const locations = dictionary.locationTable!;
    const functions = dictionary.functionTable!.length;
    const attributes = dictionary.attributeTable!.length;
    // Four lines and three attribute indices per location: twice and more what the sizing assumes.
    locations.forEach((location, i) => {
      location.lines = [0, 1, 2, 3].map((k) => ({
        functionIndex: (i + k) % functions,
        line: i * 4 + k,
        column: k,
      }));
      location.attributeIndices = [0, 1, 2].map((k) => (i + k) % attributes);
    });
    const view = decodeExportRequestView(encodeExportRequest(request)).dictionary;
    assert.equal(view.locationCount, locations.length);
    assert.equal(view.lineFunction.length, 4 * locations.length);
    locations.forEach((location, i) => {
      const linesStart = view.locationLines.start[i];
      assert.equal(view.locationLines.end[i] - linesStart, 4);
      location.lines!.forEach((line, k) => {
        assert.equal(view.lineFunction[linesStart + k], line.functionIndex ?? 0);
        assert.equal(view.lineNumber[linesStart + k], toSafeNumber(line.line));
        assert.equal(view.lineColumn[linesStart + k], toSafeNumber(line.column));
      });
      const attributesStart = view.locationAttributes.start[i];
      assert.deepEqual(
        [...view.indices.subarray(attributesStart, view.locationAttributes.end[i])],
        location.attributeIndices,
      );
      assert.equal(view.locationMapping[i], location.mappingIndex ?? 0);
    });
    dictionary.stackTable!.forEach((stack, i) => {
      const start = view.stackLocations.start[i];
      assert.deepEqual(
        [...view.indices.subarray(start, view.stackLocations.end[i])],
        stack.locationIndices ?? [],
      );
    });
  });
});
