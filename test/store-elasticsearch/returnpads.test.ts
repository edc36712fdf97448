/**
 * Return pads on the Elasticsearch store, against a real Elasticsearch: the shared contract
 * (test/store/returnpads-contract.ts), one `profiling-returnpads-private` document per pad under
 * `<file ID>-<address hex>` with the template's fields, and lookups that are `mget`s (no refresh needed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { fileIdFromHex } from '../../src/model/index.ts';
import { layout, type ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import { padId } from '../../src/store/elasticsearch/returnpads.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { checkReturnPadContract, inChunks, randomPads } from '../store/returnpads-contract.ts';
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

test('one document per pad, with the template fields, read back without a refresh', async () => {
  const fileId = freshFileId();
  const pads = randomPads(11, 20);
  await store.symbolization.putReturnPads(fileId, inChunks(pads));
  // Point reads are real-time: no refresh between the write and the lookup.
  const found = await store.symbolization.returnPads(
    fileId,
    pads.map((p) => p.address),
  );
  assert.equal(found.size, pads.length);
  const response = await peer.request(
    'GET',
    `/${layout.RETURNPADS_PRIVATE}/_doc/${padId(fileId, pads[3].address)}`,
  );
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const source = (response.body as { _source: Record<string, unknown> })._source;
  assert.equal(source['Symbfile.file.id'], fileId);
  assert.equal(source['Symbfile.part'], 1);
  assert.equal(source['Symbfile.parts'], 1);
  assert.equal(typeof source['Symbfile.created'], 'number');
  const data = JSON.parse(
    Buffer.from(String(source['Symbfile.data']), 'base64').toString('utf8'),
  ) as unknown[];
  assert.deepEqual(
    data,
    pads[3].frames.map((f) => [f.functionName, f.fileName, f.line, f.startLine]),
  );
  // The index is searchable by file ID (how a file's pads are deleted).
  await peer.request('POST', `/${layout.RETURNPADS_PRIVATE}/_refresh`);
  const counted = await peer.request('POST', `/${layout.RETURNPADS_PRIVATE}/_count`, {
    query: { term: { 'Symbfile.file.id': fileId } },
  });
  assert.equal((counted.body as { count: number }).count, pads.length);
});
