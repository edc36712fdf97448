import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, constants as http2 } from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { EXPORT_METHOD_PATH, encodeExportRequest } from '../../src/protocol/otlp-profiles.ts';
import { ProfilingQueries } from '../../src/query/index.ts';
import {
  TOKEN,
  agentLikeBytes,
  agentLikeRequest,
  assertEmpty,
  grpcClient,
  grpcExport,
  startCollector,
  tempDir,
} from './helpers.ts';
import { writeSelfSignedCertificate } from '../support/certificates.ts';

test('gRPC Export stores the request and answers OK', async (t) => {
  const { store, addresses } = await startCollector(t);
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());

  const answer = await grpcExport(client, agentLikeBytes({ stacks: 3, samplesPerStack: 4 }));
  assert.equal(answer.code, grpc.status.OK, answer.details);
  const stats = await store.stats();
  assert.equal(stats.stackTraces, 3);
  assert.ok(stats.events > 0);
  const agg = await store.aggregateEvents({ from: 0, to: 2 ** 31 });
  assert.equal(agg.totalCount, 12, 'every sample is counted once');

  // The previous wire revision of the proto (older agents) is accepted too.
  const previous = Buffer.from(
    encodeExportRequest(agentLikeRequest({ hostId: 'old-agent', samplesPerStack: 1 }), 'previous'),
  );
  assert.equal((await grpcExport(client, previous)).code, grpc.status.OK);
  assert.equal((await store.aggregateEvents({ from: 0, to: 2 ** 31 })).totalCount, 15);
});

test('a request that names no host (the standalone agent) is attributed to the peer address', async (t) => {
  const { store, addresses } = await startCollector(t);
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());
  const request = agentLikeRequest();
  const resource = request.resourceProfiles![0].resource!;
  resource.attributes = resource.attributes!.filter((attribute) => !attribute.key!.startsWith('host.'));
  assert.equal((await grpcExport(client, Buffer.from(encodeExportRequest(request)))).code, grpc.status.OK);
  assert.deepEqual(await store.fieldValues('host.id', 0, 2 ** 31, 10), ['127.0.0.1']);
  assert.deepEqual(await store.fieldValues('host.ip', 0, 2 ** 31, 10), ['127.0.0.1']);
  assert.deepEqual(await store.fieldValues('host.name', 0, 2 ** 31, 10), ['127.0.0.1']);
});

test('standalone agents on two machines are two hosts, named by their addresses, when grouped by host', async (t) => {
  const { store, addresses } = await startCollector(t);
  const request = agentLikeRequest({ stacks: 2, samplesPerStack: 3 });
  const resource = request.resourceProfiles![0].resource!;
  resource.attributes = resource.attributes!.filter((attribute) => !attribute.key!.startsWith('host.'));
  const bytes = Buffer.from(encodeExportRequest(request));
  // Two clients on two loopback addresses stand for two machines.
  for (const localAddress of ['127.0.0.2', '127.0.0.3']) {
    const answer = await rawGrpcCall(addresses.grpcAddress, bytes, { compressed: false, localAddress });
    assert.equal(answer.status, grpc.status.OK, answer.message);
  }
  // What the UI's "Stack traces → Group by Host" asks for: stacks grouped by host.name.
  const grouped = await new ProfilingQueries(store).stacks({ from: 0, to: 2 ** 31 }, 'host.name', 20, 10);
  assert.deepEqual(grouped.groups.map((group) => [group.value, group.count]).sort(), [
    ['127.0.0.2', 6],
    ['127.0.0.3', 6],
  ]);
  const hosts = await store.listHosts(0, 2 ** 31);
  assert.deepEqual(hosts.map((host) => [host.hostId, host.hostName, host.hostIp]).sort(), [
    ['127.0.0.2', '127.0.0.2', '127.0.0.2'],
    ['127.0.0.3', '127.0.0.3', '127.0.0.3'],
  ]);
});

test('gRPC accepts gzip-compressed requests (grpc-encoding: gzip), as the agent sends them', async (t) => {
  const { store, addresses } = await startCollector(t);
  const client = grpcClient(addresses.grpcAddress, { gzip: true });
  t.after(() => client.close());
  const answer = await grpcExport(client, agentLikeBytes({ stacks: 2, samplesPerStack: 5 }));
  assert.equal(answer.code, grpc.status.OK, answer.details);

  // The same, framed by hand, so the message is certainly compressed on the wire.
  const raw = await rawGrpcCall(
    addresses.grpcAddress,
    gzipSync(agentLikeBytes({ stacks: 1, samplesPerStack: 1, hostId: 'h2' })),
    {
      compressed: true,
    },
  );
  assert.equal(raw.status, grpc.status.OK, raw.message);
  const agg = await store.aggregateEvents({ from: 0, to: 2 ** 31 });
  assert.equal(agg.totalCount, 11);
});

test('gRPC refuses a corrupt gzip body with INVALID_ARGUMENT, stores nothing and keeps serving', async (t) => {
  const { store, addresses } = await startCollector(t);
  const corrupt = gzipSync(agentLikeBytes());
  corrupt.fill(0x55, 12, 40);
  const raw = await rawGrpcCall(addresses.grpcAddress, corrupt, { compressed: true });
  assert.equal(raw.status, grpc.status.INVALID_ARGUMENT);
  assert.match(raw.message, /decompress/);
  assertEmpty(await store.stats());
  await assertStillServing(addresses.grpcAddress);
});

test('gRPC refuses an oversized message, plain or inflating past the limit, with INVALID_ARGUMENT naming size and limit', async (t) => {
  const limit = 4096;
  const { store, addresses, url } = await startCollector(t, { grpc: { maxMessageBytes: limit } });
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());
  const big = agentLikeBytes({ stacks: 200 });
  assert.ok(big.byteLength > limit);
  const answer = await grpcExport(client, big);
  assert.equal(answer.code, grpc.status.INVALID_ARGUMENT, answer.details);
  assert.equal(
    answer.details,
    `export request too large: the message is ${big.byteLength} bytes as sent, over the collector's limit ` +
      `of ${limit} bytes (collector.grpc.maxMessageBytes); send smaller batches`,
  );

  // Compressed below the limit, inflating past it: refused once the limit is passed, not inflated in full.
  const gz = grpcClient(addresses.grpcAddress, { gzip: true });
  t.after(() => gz.close());
  assert.ok(gzipSync(big).byteLength < limit, 'the client sends the message compressed below the limit');
  const inflating = await grpcExport(gz, big);
  assert.equal(inflating.code, grpc.status.INVALID_ARGUMENT, inflating.details);
  assert.match(
    inflating.details,
    /too large: it decompresses to more than the collector's limit of 4096 bytes/,
  );
  assert.match(inflating.details, /collector\.grpc\.maxMessageBytes/);

  // A zip bomb: 2 KiB on the wire, 2 MiB of zeros inside.
  const bomb = await rawGrpcCall(addresses.grpcAddress, gzipSync(Buffer.alloc(2 << 20)), {
    compressed: true,
  });
  assert.equal(bomb.status, grpc.status.INVALID_ARGUMENT, bomb.message);
  assert.match(bomb.message, /decompresses to more than the collector's limit of 4096 bytes/);

  // A compressed frame that is itself over the limit is refused on its declared size, before it is read.
  const incompressible = gzipSync(randomBytes(8192));
  const wide = await rawGrpcCall(addresses.grpcAddress, incompressible, { compressed: true });
  assert.equal(wide.status, grpc.status.INVALID_ARGUMENT, wide.message);
  assert.match(
    wide.message,
    new RegExp(`the message is ${incompressible.byteLength} bytes as sent.*limit of 4096`),
  );

  assertEmpty(await store.stats());
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /uniprof_collector_rejects_total\{transport="grpc",reason="too_large"\} 4/);
  assert.match(metrics, /uniprof_collector_requests_total\{transport="grpc",status="invalid_argument"\} 4/);
  assert.doesNotMatch(metrics, /status="resource_exhausted"/);
  await assertStillServing(addresses.grpcAddress);
});

test('gRPC takes a message of exactly the limit, plain and decompressed, and refuses one byte more', async (t) => {
  const probe = agentLikeBytes({ stacks: 2, samplesPerStack: 3, hostId: 'at-limit' });
  const limit = probe.byteLength + 600;
  const { store, addresses } = await startCollector(t, { grpc: { maxMessageBytes: limit } });
  const atLimit = padded(probe, limit);
  const overLimit = padded(probe, limit + 1);

  for (const compressed of [false, true]) {
    const wire = (message: Buffer) => (compressed ? gzipSync(message) : message);
    const before = await store.stats();
    const over = await rawGrpcCall(addresses.grpcAddress, wire(overLimit), { compressed });
    assert.equal(over.status, grpc.status.INVALID_ARGUMENT, over.message);
    assert.match(over.message, new RegExp(`too large.*limit of ${limit} bytes`));
    assert.deepEqual(await store.stats(), before, 'the refused message stored nothing');
    const at = await rawGrpcCall(addresses.grpcAddress, wire(atLimit), { compressed });
    assert.equal(at.status, grpc.status.OK, at.message);
  }
  // Both at-limit messages (plain and gzip) were stored: 2 stacks × 3 samples each.
  assert.equal((await store.aggregateEvents({ from: 0, to: 2 ** 31 })).totalCount, 12);
});

/** `message` grown to exactly `size` bytes with an unknown length-delimited field, which decoders skip. */
function padded(message: Buffer, size: number): Buffer {
  const UNKNOWN_FIELD_TAG = (15 << 3) | 2;
  const padding = size - message.byteLength - 3;
  assert.ok(padding >= 128 && padding < 16384, 'the padding length is a two-byte varint');
  const header = Buffer.from([UNKNOWN_FIELD_TAG, (padding & 0x7f) | 0x80, padding >> 7]);
  return Buffer.concat([message, header, Buffer.alloc(padding)]);
}

test('gRPC requires the token: missing or wrong → UNAUTHENTICATED and nothing stored', async (t) => {
  const { store, addresses } = await startCollector(t);
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());
  const missing = await grpcExport(client, agentLikeBytes(), null);
  assert.equal(missing.code, grpc.status.UNAUTHENTICATED);
  assert.match(missing.details, /missing agent token/);
  const wrong = await grpcExport(client, agentLikeBytes(), 'not-the-token');
  assert.equal(wrong.code, grpc.status.UNAUTHENTICATED);
  assert.match(wrong.details, /does not match/);
  assertEmpty(await store.stats());
  assert.equal((await grpcExport(client, agentLikeBytes())).code, grpc.status.OK);
});

test('gRPC over TLS with a self-signed certificate', async (t) => {
  const dir = tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeSelfSignedCertificate(cert, key);
  const { store, addresses } = await startCollector(t, { grpc: { tls: { cert, key } } });

  const trusted = grpcClient(addresses.grpcAddress, {
    credentials: grpc.credentials.createSsl(readFileSync(cert)),
    gzip: true,
    // The certificate names localhost; the address is an IP literal, which TLS SNI may not carry.
    channelOptions: { 'grpc.ssl_target_name_override': 'localhost' },
  });
  t.after(() => trusted.close());
  const answer = await grpcExport(trusted, agentLikeBytes({ stacks: 1, samplesPerStack: 2 }));
  assert.equal(answer.code, grpc.status.OK, answer.details);
  assert.equal((await store.aggregateEvents({ from: 0, to: 2 ** 31 })).totalCount, 2);

  // A plaintext client gets nowhere: the port speaks TLS only.
  const plain = grpcClient(addresses.grpcAddress);
  t.after(() => plain.close());
  const refused = await grpcExport(plain, agentLikeBytes());
  assert.equal(refused.code, grpc.status.UNAVAILABLE);
});

/** A valid request still gets through: the server survived whatever the test threw at it. */
async function assertStillServing(address: string): Promise<void> {
  const client = grpcClient(address);
  try {
    const answer = await grpcExport(client, agentLikeBytes({ hostId: 'after' }));
    assert.equal(answer.code, grpc.status.OK, answer.details);
  } finally {
    client.close();
  }
}

interface RawAnswer {
  status: number;
  message: string;
}

/**
 * One gRPC call framed by hand over HTTP/2: lets a test put exactly the bytes it wants on the wire (a
 * compressed flag over data that is not valid gzip, for instance), which a gRPC client library would not.
 */
async function rawGrpcCall(
  address: string,
  message: Buffer,
  options: { compressed: boolean; localAddress?: string },
): Promise<RawAnswer> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const session = connect(`http://${address}`, {
    // The source address of the connection: what the collector sees as the peer.
    createConnection: () => net.connect({ host, port, localAddress: options.localAddress }),
  });
  try {
    const frame = Buffer.alloc(5 + message.byteLength);
    frame.writeUInt8(options.compressed ? 1 : 0, 0);
    frame.writeUInt32BE(message.byteLength, 1);
    message.copy(frame, 5);
    const stream = session.request({
      [http2.HTTP2_HEADER_METHOD]: 'POST',
      [http2.HTTP2_HEADER_PATH]: EXPORT_METHOD_PATH,
      [http2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      authorization: `Bearer ${TOKEN}`,
      ...(options.compressed ? { 'grpc-encoding': 'gzip' } : {}),
    });
    stream.end(frame);
    return await new Promise<RawAnswer>((resolve, reject) => {
      let answered: RawAnswer | undefined;
      const take = (headers: Record<string, unknown>) => {
        if (headers['grpc-status'] !== undefined) {
          answered = {
            status: Number(headers['grpc-status']),
            message: decodeURIComponent(String(headers['grpc-message'] ?? '')),
          };
        }
      };
      stream.on('response', take);
      stream.on('trailers', take);
      stream.on('data', () => undefined);
      stream.on('error', reject);
      stream.on('close', () =>
        answered ? resolve(answered) : reject(new Error('no grpc-status in the answer')),
      );
    });
  } finally {
    session.close();
  }
}
