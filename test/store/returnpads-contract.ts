/**
 * The return-pad part of the symbolization store contract, run against both stores
 * (test/store/returnpads-embedded.test.ts, test/store-elasticsearch/returnpads.test.ts).
 */
import assert from 'node:assert/strict';
import { seededRandom, type ReturnPad, type SymbolRange } from '../../src/model/index.ts';
import type { SymbolizationStore } from '../../src/store/symbolization.ts';

export async function* inChunks<T>(items: readonly T[], size = 1000): AsyncIterable<readonly T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Pads as a real file gives them: ascending addresses, chains of 1–4 frames with names, files and lines. */
export function randomPads(seed: number, count: number, base = 0x401000): ReturnPad[] {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pads: ReturnPad[] = [];
  let address = base;
  for (let i = 0; i < count; i++) {
    address += 2 + int(40);
    const depth = 1 + int(4);
    pads.push({
      address,
      frames: Array.from({ length: depth }, (_, d) => ({
        functionName: d === depth - 1 ? `fn_${int(500)}` : `std::inlined<${d}>::call(int, char const*) ü`,
        fileName: int(5) === 0 ? '' : `/src/dir${int(9)}/file${int(50)}.cc`,
        line: int(3000),
        startLine: int(3000),
      })),
    });
  }
  return pads;
}

function range(start: number, end: number, name: string): SymbolRange {
  return {
    start,
    end,
    depth: 0,
    functionName: name,
    functionLine: 0,
    fileName: '',
    callFileName: '',
    callLine: 0,
    lineOffsets: [],
    lines: [],
  };
}

export interface ContractOptions {
  /** The store promises all or nothing (the embedded store; Elasticsearch keeps what was written). */
  atomic: boolean;
  /** Makes writes visible to whatever the store's reads need (nothing for mget; kept for symmetry). */
  settle?: () => Promise<void>;
}

export async function checkReturnPadContract(
  q: SymbolizationStore,
  fileA: string,
  fileB: string,
  options: ContractOptions,
): Promise<void> {
  const settle = options.settle ?? (async () => undefined);
  const pads = randomPads(1, 3_000);
  const other = randomPads(2, 50);
  assert.equal(await q.hasReturnPads(fileA), false, 'no pads stored yet');
  assert.deepEqual(await q.putReturnPads(fileA, inChunks(pads, 700)), { pads: pads.length });
  assert.deepEqual(await q.putReturnPads(fileB, inChunks(other)), { pads: other.length });
  await settle();
  assert.equal(await q.hasReturnPads(fileA), true);
  assert.equal(await q.hasReturnPads(fileB), true);
  // Point lookups: present addresses give their chains exactly, others (and other files' pads) nothing.
  const random = seededRandom(3);
  const asked = pads.filter(() => random() < 0.2);
  const absent = asked.map((p) => p.address + 1);
  const lookup = await q.returnPads(fileA, [...asked.map((p) => p.address), ...absent, other[0].address]);
  assert.equal(lookup.size, asked.length + (pads.some((p) => p.address === other[0].address) ? 1 : 0));
  for (const pad of asked) assert.deepEqual(lookup.get(pad.address), pad.frames);
  assert.deepEqual(await q.returnPads(fileA, []), new Map());
  assert.deepEqual((await q.returnPads(fileB, [other[7].address])).get(other[7].address), other[7].frames);
  // The same pads again, in other chunks: the same answers, nothing doubled.
  assert.deepEqual(await q.putReturnPads(fileA, inChunks(pads, 333)), { pads: pads.length });
  await settle();
  const again = await q.returnPads(
    fileA,
    pads.map((p) => p.address),
  );
  assert.equal(again.size, pads.length);
  assert.deepEqual(again.get(pads[1234].address), pads[1234].frames);
  // Bad input is refused with what was wrong.
  await assert.rejects(q.putReturnPads(fileB, inChunks([other[0], other[0]])), /two pads at address/);
  if (options.atomic) {
    async function* failing(): AsyncIterable<readonly ReturnPad[]> {
      yield randomPads(9, 10);
      throw new Error('the executable is truncated');
    }
    await assert.rejects(q.putReturnPads(fileA, failing()), /truncated/);
    await settle();
    const kept = await q.returnPads(
      fileA,
      pads.map((p) => p.address),
    );
    assert.equal(kept.size, pads.length, 'a failed put leaves the earlier pads as they were');
  }
  // New symbols for a file drop its pads (they were computed from the old ranges), not another file's.
  await q.putSymbols(fileA, inChunks([range(0x400000, 0x500000, 'main')]), { source: 'upload' });
  await settle();
  assert.equal(await q.hasReturnPads(fileA), false, 'new symbols: their pads are not made yet');
  // Another file's mark stays; on a store without all-or-nothing puts, B's refused put above took it away.
  assert.equal(await q.hasReturnPads(fileB), options.atomic);
  assert.equal(
    (
      await q.returnPads(
        fileA,
        pads.map((p) => p.address),
      )
    ).size,
    0,
  );
  assert.equal(
    (
      await q.returnPads(
        fileB,
        other.map((p) => p.address),
      )
    ).size,
    other.length,
  );
}

/**
 * What the worker's range cache and pad backfill read: `symbolsVersion` changes with every `putSymbols` of a
 * file (also of the same ranges), `allSymbolRanges` gives every range of the current version with that
 * version, or nothing past `maxRanges`; a put of no pads still counts as pads made.
 */
export async function checkSymbolsVersionContract(q: SymbolizationStore, fileId: string): Promise<void> {
  assert.equal(await q.symbolsVersion(fileId), undefined);
  assert.equal(await q.allSymbolRanges(fileId, 1000), undefined);
  const first = [range(0x1000, 0x1100, 'a'), range(0x1100, 0x1200, 'b'), range(0x1200, 0x1300, 'c')];
  await q.putSymbols(fileId, inChunks(first, 2), { source: 'local' });
  const v1 = await q.symbolsVersion(fileId);
  assert.equal(v1?.ranges, 3);
  const all = await q.allSymbolRanges(fileId, 3);
  assert.equal(all?.version, v1!.version);
  assert.deepEqual(
    [...all!.ranges].sort((x, y) => x.start - y.start),
    first,
  );
  assert.equal(await q.allSymbolRanges(fileId, 2), undefined, 'more ranges than asked for');
  // The same file again (same ranges, at once): another version.
  await q.putSymbols(fileId, inChunks(first), { source: 'local' });
  const v2 = await q.symbolsVersion(fileId);
  assert.notEqual(v2?.version, v1!.version);
  const second = [range(0x2000, 0x2400, 'd')];
  await q.putSymbols(fileId, inChunks(second), { source: 'upload' });
  const v3 = await q.symbolsVersion(fileId);
  assert.ok(v3 && v3.version !== v2!.version && v3.ranges === 1);
  assert.deepEqual(await q.allSymbolRanges(fileId, 10), { version: v3.version, ranges: second });
  assert.equal(await q.hasReturnPads(fileId), false);
  assert.deepEqual(await q.putReturnPads(fileId, inChunks([])), { pads: 0 });
  assert.equal(await q.hasReturnPads(fileId), true, 'pads made, none found: made all the same');
}
