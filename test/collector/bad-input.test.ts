/**
 * Every kind of bad request the issue names, over both transports: each is refused whole with
 * INVALID_ARGUMENT / 400 and a message that names the problem, the store stays empty, and the collector keeps
 * serving good requests afterwards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { encodeExportRequest } from '../../src/protocol/otlp-profiles.ts';
import type { ExportProfilesServiceRequest } from '../../src/protocol/types.ts';
import {
  agentLikeBytes,
  agentLikeRequest,
  assertEmpty,
  grpcClient,
  grpcExport,
  httpExport,
  startCollector,
} from './helpers.ts';

interface BadCase {
  name: string;
  body: () => Buffer;
  /** What the refusal must say. */
  message: RegExp;
}

function mutated(change: (request: ExportProfilesServiceRequest) => void): () => Buffer {
  return () => {
    const request = agentLikeRequest();
    change(request);
    return Buffer.from(encodeExportRequest(request));
  };
}

function firstProfile(request: ExportProfilesServiceRequest) {
  return request.resourceProfiles![0].scopeProfiles![0].profiles![0];
}

const cases: BadCase[] = [
  {
    name: 'malformed protobuf (random bytes)',
    body: () => Buffer.from('this is not a protobuf message at all, just text \u00ff\u00fe', 'latin1'),
    message: /malformed protobuf/i,
  },
  {
    name: 'malformed protobuf (truncated message)',
    body: () => agentLikeBytes().subarray(0, 57),
    message: /malformed protobuf/i,
  },
  {
    name: 'sample stack index out of range',
    body: mutated((request) => {
      firstProfile(request).samples![0].stackIndex = 99;
    }),
    message: /stack.*99|99.*stack/i,
  },
  {
    name: 'stack location index out of range',
    body: mutated((request) => {
      request.dictionary!.stackTable![1].locationIndices = [1, 4000];
    }),
    message: /location.*4000|4000.*location/i,
  },
  {
    name: 'location mapping index out of range',
    body: mutated((request) => {
      request.dictionary!.locationTable![1].mappingIndex = 17;
    }),
    message: /mapping.*17|17.*mapping/i,
  },
  {
    name: 'attribute index out of range',
    body: mutated((request) => {
      firstProfile(request).samples![0].attributeIndices = [3, 250];
    }),
    message: /attribute.*250|250.*attribute/i,
  },
  {
    name: 'string index out of range',
    body: mutated((request) => {
      request.dictionary!.mappingTable![1].filenameStrindex = 512;
    }),
    message: /string.*512|512.*string/i,
  },
  {
    name: 'missing dictionary',
    body: mutated((request) => {
      request.dictionary = null;
    }),
    message: /dictionary|stack|table/i,
  },
  {
    name: 'missing dictionary entries (empty location table)',
    body: mutated((request) => {
      request.dictionary!.locationTable = [];
    }),
    message: /location/i,
  },
];

test('bad requests over gRPC: INVALID_ARGUMENT naming the problem, nothing stored', async (t) => {
  const { store, addresses } = await startCollector(t);
  const client = grpcClient(addresses.grpcAddress, { gzip: true });
  t.after(() => client.close());
  for (const bad of cases) {
    const answer = await grpcExport(client, bad.body());
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT, `${bad.name}: ${answer.details}`);
    assert.match(answer.details, bad.message, bad.name);
    assertEmpty(await store.stats());
  }
  assert.equal((await grpcExport(client, agentLikeBytes())).code, grpc.status.OK, 'still serving');
});

test('bad requests over HTTP: 400 naming the problem, nothing stored', async (t) => {
  const { store, url } = await startCollector(t);
  for (const bad of cases) {
    const response = await httpExport(url, { body: bad.body() });
    assert.equal(response.status, 400, bad.name);
    // The error body is a google.rpc.Status; its message is readable text inside the protobuf.
    const text = Buffer.from(await response.arrayBuffer()).toString('utf8');
    assert.match(text, bad.message, bad.name);
    assertEmpty(await store.stats());
  }
  const notJson = await httpExport(url, { body: '{"resourceProfiles": [', contentType: 'application/json' });
  assert.equal(notJson.status, 400);
  assert.match((await notJson.json()).message, /not JSON/);
  const wrongShape = await httpExport(url, {
    body: JSON.stringify({ resourceProfiles: 'nope' }),
    contentType: 'application/json',
  });
  assert.equal(wrongShape.status, 400);
  assert.match((await wrongShape.json()).message, /resourceProfiles/);
  assertEmpty(await store.stats());

  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /uniprof_collector_rejects_total\{transport="http",reason="malformed_protobuf"\} 2/);
  assert.equal((await httpExport(url, { body: agentLikeBytes() })).status, 200, 'still serving');
});
