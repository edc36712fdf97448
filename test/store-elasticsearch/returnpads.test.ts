/**
 * Return pads on the Elasticsearch store, against a real Elasticsearch: the shared contract
 * (test/store/returnpads-contract.ts), one `profiling-returnpads-private` document per page of addresses under
 * `<file ID>.<page hex>` with the template's fields, a marker once they are stored, and lookups that are
 * `mget`s (no refresh needed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { fileIdFromHex } from '../../src/model/index.ts';
import { layout, type ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import { PAGE_BYTES, padPageId } from '../../src/store/elasticsearch/returnpads.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import {
  checkReturnPadContract,
  checkSymbolsVersionContract,
  inChunks,
  randomPads,
} from '../store/returnpads-contract.ts';
import { removeTempDirs, storeFor, tempDir } from './helpers.ts';

let peer: ElasticsearchPeer;
let store: ElasticsearchStore;

before(async () => {
  peer = await startElasticsearch();
  store = storeFor(peer, await tempDir('es-retpads'));
  await store.open();
});

after(async () => {
  await store?.close();
  await peer?.dispose();
  await removeTempDirs();
});

const freshFileId = () => fileIdFromHex(randomBytes(16).toString('hex'));

test('return pads keep the store contract on Elasticsearch', async () => {
  await checkReturnPadContract(store.symbolization, freshFileId(), freshFileId(), { atomic: false });
});

test("symbols versions, whole reads of a file's ranges and the pads-made mark keep the contract", async () => {
  await checkSymbolsVersionContract(store.symbolization, freshFileId());
});

test('one document per page of pads, with the template fields, read back without a refresh', async () => {
  const fileId = freshFileId();
  const pads = randomPads(11, 400);
  const pages = new Set(pads.map((p) => Math.floor(p.address / PAGE_BYTES)));
  assert.ok(pages.size > 1 && pages.size < pads.length / 10, `${pages.size} pages`);
  assert.equal(await store.symbolization.hasReturnPads(fileId), false);
  await store.symbolization.putReturnPads(fileId, inChunks(pads));
  assert.equal(await store.symbolization.hasReturnPads(fileId), true);
  // Point reads are real-time: no refresh between the write and the lookup.
  const found = await store.symbolization.returnPads(
    fileId,
    pads.map((p) => p.address),
  );
  assert.equal(found.size, pads.length);
  const pad = pads[3];
  const page = Math.floor(pad.address / PAGE_BYTES);
  const response = await peer.request('GET', `/${layout.RETURNPADS_PRIVATE}/_doc/${padPageId(fileId, page)}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const source = (response.body as { _source: Record<string, unknown> })._source;
  assert.equal(source['Symbfile.file.id'], fileId);
  assert.equal(source['Symbfile.part'], 1);
  assert.equal(source['Symbfile.parts'], 1);
  assert.equal(typeof source['Symbfile.created'], 'number');
  const data = JSON.parse(Buffer.from(String(source['Symbfile.data']), 'base64').toString('utf8')) as [
    number,
    unknown,
  ][];
  const inPage = pads.filter((p) => Math.floor(p.address / PAGE_BYTES) === page);
  assert.deepEqual(
    data,
    inPage.map((p) => [
      p.address % PAGE_BYTES,
      p.frames.map((f) => [f.functionName, f.fileName, f.line, f.startLine]),
    ]),
  );
  // The index is searchable by file ID (how a file's pads are deleted): one document per page.
  await peer.request('POST', `/${layout.RETURNPADS_PRIVATE}/_refresh`);
  const counted = await peer.request('POST', `/${layout.RETURNPADS_PRIVATE}/_count`, {
    query: { term: { 'Symbfile.file.id': fileId } },
  });
  assert.equal((counted.body as { count: number }).count, pages.size);
});

test('pads out of address order land in their pages, and documents of the per-pad layout are replaced', async () => {
  const fileId = freshFileId();
  const pads = randomPads(12, 9_000);
  // A legacy per-pad document of this file: not read, deleted by the next put.
  const legacy = `${fileId}-${pads[0].address.toString(16)}`;
  await peer.request('PUT', `/${layout.RETURNPADS_PRIVATE}/_doc/${legacy}?refresh=true`, {
    'Symbfile.file.id': fileId,
    'Symbfile.data': Buffer.from('[["old","",1,1]]').toString('base64'),
  });
  // Every 50th pad comes last, after its page was written (more than one flush of pads before it).
  const late = pads.filter((_, i) => i % 50 === 0);
  const early = pads.filter((_, i) => i % 50 !== 0);
  await store.symbolization.putReturnPads(fileId, inChunks([...early, ...late], 700));
  const found = await store.symbolization.returnPads(
    fileId,
    pads.map((p) => p.address),
  );
  assert.equal(found.size, pads.length);
  for (const pad of pads) assert.deepEqual(found.get(pad.address), pad.frames);
  assert.equal((await peer.request('GET', `/${layout.RETURNPADS_PRIVATE}/_doc/${legacy}`)).status, 404);
  // New symbols drop the pads and their marker.
  const main = {
    start: 0x400000,
    end: 0x500000,
    depth: 0,
    functionName: 'main',
    functionLine: 0,
    fileName: '',
    callFileName: '',
    callLine: 0,
    lineOffsets: [],
    lines: [],
  };
  await store.symbolization.putSymbols(fileId, inChunks([main]), { source: 'local' });
  assert.equal(await store.symbolization.hasReturnPads(fileId), false);
  assert.equal((await store.symbolization.returnPads(fileId, [pads[5].address])).size, 0);
});
