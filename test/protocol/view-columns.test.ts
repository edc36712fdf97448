import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import {
  InvalidRequestError,
  decodeExportRequestView,
  encodeExportRequest,
  toSafeNumber,
  toUint64,
  uint64Bits,
} from '../../src/protocol/index.ts';
import { LocationEntry, StackEntry } from '../../src/protocol/view.ts';

function workloadRequest() {
  return new Workload({ seed: 7, hosts: 3 }).next(nanosFromMillis(Date.UTC(2026, 10, 25)), 200).request;
}

/*
 * Location and stack entries are read on demand into storage reused from entry to entry; entries larger than
 * that storage must grow it without losing or shifting anything, and reading one entry must not leave
 * anything of the previous one behind.
 */
describe('columnar view', () => {
  it('reads every line, attribute and mapping of locations larger than the reader was sized for', () => {
    const request = workloadRequest();
    const dictionary = request.dictionary!;
    const locations = dictionary.locationTable!;
    const functions = dictionary.functionTable!.length;
    const attributes = dictionary.attributeTable!.length;
    // Every other location gets six lines and five attribute indices, more than the reader's first storage;
    // the ones between keep their single line, so leftovers of a bigger entry would show.
    // Values on both sides of the reader's short paths: addresses around 2^28, 2^32 and 2^63, a mapping index
    // and an attribute index that take two bytes.
    const edges = [0, 1, 2 ** 28 - 1, 2 ** 28, 2 ** 32 + 5, '9223372036854775809', '18446744073709551615'];
    edges.forEach((address, k) => {
      const location = locations[1 + 2 * k];
      location.address = uint64Bits(BigInt(address));
      location.mappingIndex = k % 2 === 0 ? 200 : 3;
      location.attributeIndices = k % 3 === 0 ? [130] : [1];
    });
    locations.forEach((location, i) => {
      if (i % 2 === 1) return;
      location.lines = [0, 1, 2, 3, 4, 5].map((k) => ({
        functionIndex: (i + k) % functions,
        line: i * 6 + k,
        column: k,
      }));
      location.attributeIndices = [0, 1, 2, 3, 4].map((k) => (i + k) % attributes);
    });
    // Line values beyond the short path: a line number past 2^32 and a negative column.
    locations[0].lines = [{ functionIndex: 1, line: uint64Bits(2n ** 40n + 3n), column: -3 }];
    const view = decodeExportRequestView(encodeExportRequest(request)).dictionary;
    assert.equal(view.locationCount, locations.length);
    const entry = new LocationEntry(view);
    locations.forEach((location, i) => {
      entry.read(i);
      const lines = location.lines ?? [];
      assert.equal(entry.lineCount, lines.length, `location ${i}`);
      lines.forEach((line, k) => {
        assert.equal(entry.lineFunction[k], line.functionIndex ?? 0);
        assert.equal(entry.lineNumber[k], toSafeNumber(line.line));
        assert.equal(entry.lineColumn[k], toSafeNumber(line.column));
      });
      assert.deepEqual(
        [...entry.attributes.subarray(0, entry.attributeCount)],
        location.attributeIndices ?? [],
      );
      assert.equal(entry.mapping, location.mappingIndex ?? 0);
      const address = BigInt(entry.addressHi) * 2n ** 32n + BigInt(entry.addressLo);
      assert.equal(address, toUint64(location.address));
    });
  });

  it('reads every stack, long ones included, in order', () => {
    const request = workloadRequest();
    const stacks = request.dictionary!.stackTable!;
    const locationCount = request.dictionary!.locationTable!.length;
    // A stack longer than the reader's first storage, between two ordinary ones.
    stacks[2].locationIndices = Array.from({ length: 700 }, (_, k) => (k * 7) % locationCount);
    const view = decodeExportRequestView(encodeExportRequest(request)).dictionary;
    const entry = new StackEntry(view);
    stacks.forEach((stack, i) => {
      entry.read(i);
      assert.deepEqual(
        [...entry.locations.subarray(0, entry.count)],
        stack.locationIndices ?? [],
        `stack ${i}`,
      );
    });
  });

  it('rejects a malformed location entry when it is read', () => {
    const view = decodeExportRequestView(encodeExportRequest(workloadRequest())).dictionary;
    // Point the first location's range one byte short: its last field is then truncated.
    const end = view.locationBytes.end;
    end[1] -= 1;
    assert.throws(() => new LocationEntry(view).read(1), InvalidRequestError);
  });
});
