import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decodeExportResponse, schema } from '../../src/protocol/otlp-profiles.ts';
import { agentLikeBytes, assertEmpty, httpExport, startCollector } from './helpers.ts';

/** The OTLP/JSON form of a request: protobufjs's canonical JSON mapping (64-bit integers as strings). */
function agentLikeJson(hostId = 'json-host'): string {
  const message = schema.request.decode(agentLikeBytes({ hostId, stacks: 2, samplesPerStack: 3 }));
  return JSON.stringify(schema.request.toObject(message, { longs: String, bytes: String, defaults: false }));
}

test('OTLP/HTTP protobuf body is stored and answered with an ExportProfilesServiceResponse', async (t) => {
  const { store, url } = await startCollector(t);
  const response = await httpExport(url, { body: agentLikeBytes({ stacks: 2, samplesPerStack: 3 }) });
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get('content-type'), 'application/x-protobuf');
  const decoded = decodeExportResponse(new Uint8Array(await response.arrayBuffer()));
  assert.equal(decoded.partialSuccess ?? null, null);
  assert.equal((await store.aggregateEvents({ from: 0, to: 2 ** 31 })).totalCount, 6);
});

test('OTLP/HTTP JSON body and gzip Content-Encoding', async (t) => {
  const { store, url } = await startCollector(t);
  const json = await httpExport(url, {
    body: agentLikeJson(),
    contentType: 'application/json; charset=utf-8',
  });
  assert.equal(json.status, 200, await json.clone().text());
  assert.match(json.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(await json.json(), {});

  const gz = await httpExport(url, {
    body: gzipSync(agentLikeBytes({ stacks: 1, samplesPerStack: 4 })),
    contentEncoding: 'gzip',
  });
  assert.equal(gz.status, 200, await gz.clone().text());
  const gzJson = await httpExport(url, {
    body: gzipSync(agentLikeJson('json-gz')),
    contentType: 'application/json',
    contentEncoding: 'gzip',
  });
  assert.equal(gzJson.status, 200, await gzJson.clone().text());
  assert.equal((await store.aggregateEvents({ from: 0, to: 2 ** 31 })).totalCount, 6 + 4 + 6);
});

test('OTLP/HTTP requires the bearer token: 401 and nothing stored', async (t) => {
  const { store, url } = await startCollector(t);
  const missing = await httpExport(url, {
    body: agentLikeBytes(),
    token: null,
    contentType: 'application/json',
  });
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
  assert.match((await missing.json()).message, /missing agent token/);
  const wrong = await httpExport(url, { body: agentLikeBytes(), token: 'nope' });
  assert.equal(wrong.status, 401);
  assertEmpty(await store.stats());
});

test('OTLP/HTTP bad transport input: corrupt gzip, oversized, unknown encoding and media type → 4xx, nothing stored', async (t) => {
  const { store, url } = await startCollector(t, { http: { maxBodyBytes: 4096 } });
  const corrupt = gzipSync(agentLikeBytes());
  corrupt.fill(0x55, 12, 40);
  const bad = await httpExport(url, {
    body: corrupt,
    contentEncoding: 'gzip',
    contentType: 'application/json',
  });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).message, /not valid gzip/);

  const big = agentLikeBytes({ stacks: 200 });
  const tooLarge = await httpExport(url, { body: big, contentType: 'application/json' });
  assert.equal(tooLarge.status, 400);
  assert.match((await tooLarge.json()).message, /too large.*limit of 4096 bytes/);
  const bomb = await httpExport(url, {
    body: gzipSync(big),
    contentEncoding: 'gzip',
    contentType: 'application/json',
  });
  assert.equal(bomb.status, 400);
  assert.match((await bomb.json()).message, /decompresses to more than.*4096/);

  const brotli = await httpExport(url, {
    body: agentLikeBytes(),
    contentEncoding: 'br',
    contentType: 'application/json',
  });
  assert.equal(brotli.status, 400);
  assert.match((await brotli.json()).message, /unsupported Content-Encoding "br"/);

  const text = await httpExport(url, { body: 'hello', contentType: 'text/plain' });
  assert.equal(text.status, 415);
  assertEmpty(await store.stats());

  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /uniprof_collector_rejects_total\{transport="http",reason="too_large"\} 2/);
  assert.match(metrics, /uniprof_collector_rejects_total\{transport="http",reason="bad_compression"\} 1/);
  assert.equal((await httpExport(url, { body: agentLikeBytes({ stacks: 1 }) })).status, 200);
});

test("the error body is a google.rpc.Status in the request's encoding", async (t) => {
  const { url } = await startCollector(t);
  const response = await httpExport(url, { body: Buffer.from([0x0a, 0xff, 0xff]) });
  assert.equal(response.status, 400);
  assert.equal(response.headers.get('content-type'), 'application/x-protobuf');
  const bytes = Buffer.from(await response.arrayBuffer());
  // field 1 (code) varint = 3 (INVALID_ARGUMENT), then field 2 (message) as a length-delimited string.
  assert.deepEqual([...bytes.subarray(0, 3)], [0x08, 3, 0x12]);
  assert.match(bytes.subarray(4).toString('utf8'), /malformed protobuf/);
});

test('/health, /ready and /metrics', async (t) => {
  const { url } = await startCollector(t);
  assert.deepEqual(await (await fetch(`${url}/health`)).json(), { status: 'ok' });
  const ready = await fetch(`${url}/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), {
    ready: true,
    checks: { store: true, grpc: true, http: true, accepting: true },
  });

  assert.equal(
    (await httpExport(url, { body: agentLikeBytes({ stacks: 2, samplesPerStack: 5 }) })).status,
    200,
  );
  assert.equal((await httpExport(url, { body: agentLikeBytes(), token: 'wrong' })).status, 401);
  const metrics = await fetch(`${url}/metrics`);
  assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
  const text = await metrics.text();
  assert.match(text, /uniprof_collector_requests_total\{transport="http",status="ok"\} 1/);
  assert.match(text, /uniprof_collector_requests_total\{transport="http",status="unauthenticated"\} 1/);
  assert.match(text, /uniprof_collector_samples_total 10/);
  assert.match(text, /uniprof_collector_rejects_total\{transport="http",reason="unauthenticated"\} 1/);
  assert.match(text, /uniprof_collector_received_bytes_total\{transport="http"\} [1-9]/);
  assert.match(text, /uniprof_collector_request_duration_seconds_count\{transport="http"\} 2/);
  assert.match(text, /uniprof_collector_write_queue_depth 0/);
  assert.match(text, /uniprof_collector_write_queue_capacity 64/);
});
