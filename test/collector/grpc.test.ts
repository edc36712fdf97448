import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, constants as http2 } from 'node:http2';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { EXPORT_METHOD_PATH, encodeExportRequest } from '../../src/protocol/otlp-profiles.ts';
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

test('gRPC refuses an oversized message with a status naming the limit, and stays up', async (t) => {
  const { store, addresses, url } = await startCollector(t, { grpc: { maxMessageBytes: 4096 } });
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());
  const big = agentLikeBytes({ stacks: 200 });
  assert.ok(big.byteLength > 4096);
  const answer = await grpcExport(client, big);
  assert.equal(answer.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(answer.details, /too large.*limit of 4096 bytes/);

  // A small body that inflates past the limit is refused the same way.
  const gz = grpcClient(addresses.grpcAddress, { gzip: true });
  t.after(() => gz.close());
  const bomb = await grpcExport(gz, big);
  assert.equal(bomb.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(bomb.details, /too large/);

  assertEmpty(await store.stats());
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /uniprof_collector_rejects_total\{transport="grpc",reason="too_large"\} 2/);
  await assertStillServing(addresses.grpcAddress);
});

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
  makeSelfSignedCertificate(cert, key);
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

function makeSelfSignedCertificate(cert: string, key: string): void {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  args.push('-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost');
  args.push('-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(
      'the TLS test makes its certificate with openssl (Debian package "openssl", listed in ' +
        `.ci/apt-packages.txt): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

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
  options: { compressed: boolean },
): Promise<RawAnswer> {
  const session = connect(`http://${address}`);
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
