import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createServer, type Http2Server } from 'node:http2';
import { gunzipSync } from 'node:zlib';
import {
  EXPORT_METHOD_PATH,
  PROFILES_SERVICE_NAME,
  decodeExportRequest,
  encodeExportResponse,
} from '../../src/protocol/index.ts';
import { translateRequest } from '../../src/collector/translate.ts';
import { runLoadgen } from '../../src/loadgen/index.ts';

/** A real gRPC server on loopback that records what the load generator sends and answers like a collector. */
class RecordingServer {
  readonly server = new grpc.Server();
  port = 0;
  requests = 0;
  samples = 0;
  authorizations = new Set<string>();

  async start(token: string): Promise<void> {
    this.server.addService(
      {
        Export: {
          path: EXPORT_METHOD_PATH,
          requestStream: false,
          responseStream: false,
          requestSerialize: (value: Uint8Array) => Buffer.from(value),
          requestDeserialize: (bytes: Buffer) => new Uint8Array(bytes),
          responseSerialize: (value: Uint8Array) => Buffer.from(value),
          responseDeserialize: (bytes: Buffer) => new Uint8Array(bytes),
        },
      },
      {
        Export: (
          call: grpc.ServerUnaryCall<Uint8Array, Uint8Array>,
          callback: grpc.sendUnaryData<Uint8Array>,
        ) => {
          const authorization = String(call.metadata.get('authorization')[0] ?? '');
          this.authorizations.add(authorization);
          if (authorization !== `Bearer ${token}`) {
            callback({ code: grpc.status.UNAUTHENTICATED, details: 'wrong token' });
            return;
          }
          const translation = translateRequest(decodeExportRequest(call.request));
          this.requests++;
          this.samples += translation.samples;
          callback(null, encodeExportResponse());
        },
      },
    );
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

describe('runLoadgen over gRPC', () => {
  const server = new RecordingServer();
  before(() => server.start('s3cret'));
  after(() => server.stop());

  it('sends gzip-compressed exports with the token, at about the asked rate', async () => {
    const stats = await runLoadgen({
      target: `127.0.0.1:${server.port}`,
      token: 's3cret',
      rate: 2000,
      duration: 1.5,
      hosts: 5,
      samplesPerRequest: 200,
      seed: 3,
      stacksPerRuntime: 300,
    });
    assert.equal(stats.errors, 0, stats.errorMessages.join('; '));
    // 2000 samples/s for 1.5 s in requests of 200: 15 requests, fewer only if this busy machine lags.
    assert.ok(stats.requests >= 8 && stats.requests <= 16, `${stats.requests} requests`);
    assert.equal(stats.samples, stats.requests * 200);
    // What the server decoded and translated is what the generator claims to have sent.
    assert.equal(server.samples, stats.samples);
    assert.equal(server.requests, stats.requests);
    assert.deepEqual([...server.authorizations], ['Bearer s3cret']);
    assert.ok(stats.latencyMs.p50 > 0);
    assert.equal(PROFILES_SERVICE_NAME, EXPORT_METHOD_PATH.split('/')[1]);
  });

  it('counts refusals by status', async () => {
    const stats = await runLoadgen({
      target: `127.0.0.1:${server.port}`,
      token: 'wrong',
      rate: 1000,
      duration: 0.5,
      hosts: 2,
      samplesPerRequest: 100,
      stacksPerRuntime: 300,
    });
    assert.ok(stats.errors > 0);
    assert.equal(stats.samples, 0);
    assert.equal(stats.errorsByStatus.UNAUTHENTICATED, stats.errors);
    assert.match(stats.errorMessages[0], /UNAUTHENTICATED: wrong token/);
  });

  it('rejects nonsense options before connecting', async () => {
    await assert.rejects(runLoadgen({ target: '127.0.0.1:1', rate: 0, duration: 1 }), /rate must be > 0/);
    await assert.rejects(runLoadgen({ target: '', rate: 1, duration: 1 }), /target/);
  });
});

describe('on the wire', () => {
  it('compresses each message with gzip, as the agent does', async () => {
    // A bare HTTP/2 server, to see the gRPC framing itself: grpc-js hides the encoding from handlers.
    const seen: { encoding?: string; compressedFlag?: number; samples?: number; path?: string }[] = [];
    const server: Http2Server = createServer();
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const frame = Buffer.concat(chunks);
        const message = frame.subarray(5, 5 + frame.readUInt32BE(1));
        const body = frame[0] === 1 ? gunzipSync(message) : message;
        seen.push({
          encoding: String(headers['grpc-encoding']),
          compressedFlag: frame[0],
          samples: translateRequest(decodeExportRequest(new Uint8Array(body))).samples,
          path: String(headers[':path']),
        });
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
      });
    });
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    try {
      const stats = await runLoadgen({
        target: `127.0.0.1:${port}`,
        rate: 500,
        duration: 0.3,
        hosts: 1,
        samplesPerRequest: 50,
        stacksPerRuntime: 100,
      });
      assert.equal(stats.errors, 0, stats.errorMessages.join('; '));
      assert.ok(seen.length > 0);
      for (const request of seen) {
        assert.equal(request.encoding, 'gzip');
        assert.equal(request.compressedFlag, 1);
        assert.equal(request.samples, 50);
        assert.equal(request.path, EXPORT_METHOD_PATH);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
