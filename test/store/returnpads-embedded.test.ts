/**
 * Return pads on the embedded store: the shared contract (returnpads-contract.ts), and the pads survive a
 * close and reopen of the store file, which gains the table when it was written before it existed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileIdFromHex } from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import {
  checkReturnPadContract,
  checkSymbolsVersionContract,
  inChunks,
  randomPads,
} from './returnpads-contract.ts';

const FILE_A = fileIdFromHex('00112233445566778899aabbccddeeff');
const FILE_B = fileIdFromHex('ffeeddccbbaa99887766554433221100');

describe('embedded store: return pads', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'uniprof-retpads-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const open = async (path: string) => {
    const store = new EmbeddedStore({ path, commitIntervalMs: 0, seed: 1 });
    await store.open();
    return store;
  };

  it('keeps the contract: point lookups, idempotent re-put, all or nothing, dropped with new symbols', async () => {
    const store = await open(join(dir, 'contract.duckdb'));
    try {
      await checkReturnPadContract(store.symbolization, FILE_A, FILE_B, { atomic: true });
    } finally {
      await store.close();
    }
  });

  it("symbols versions, whole reads of a file's ranges and the pads-made mark keep the contract", async () => {
    const store = await open(join(dir, 'versions.duckdb'));
    try {
      await checkSymbolsVersionContract(store.symbolization, FILE_A);
    } finally {
      await store.close();
    }
  });

  it('pads survive close and reopen, and count as made after it', async () => {
    const path = join(dir, 'reopen.duckdb');
    const pads = randomPads(5, 200);
    let store = await open(path);
    await store.symbolization.putReturnPads(FILE_A, inChunks(pads));
    await store.close();
    store = await open(path);
    try {
      const found = await store.symbolization.returnPads(
        FILE_A,
        pads.map((p) => p.address),
      );
      assert.equal(found.size, pads.length);
      assert.deepEqual(found.get(pads[17].address), pads[17].frames);
      assert.equal(await store.symbolization.hasReturnPads(FILE_A), true);
    } finally {
      await store.close();
    }
  });
});
