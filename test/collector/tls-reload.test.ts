import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { writeSelfSignedCertificate } from '../support/certificates.ts';
import { agentLikeBytes, grpcClient, grpcExport, startCollector, tempDir } from './helpers.ts';

test('a renewed certificate is served by both agent listeners without a restart; a broken one is not', async (t) => {
  const dir = tempDir(t);
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  writeSelfSignedCertificate(cert, key, 'first');
  const { store, addresses, url } = await startCollector(t, {
    grpc: { tls: { cert, key } },
    http: { tls: { cert, key } },
  });
  const grpcPort = Number(addresses.grpcAddress.split(':').at(-1));
  const httpPort = Number(new URL(url).port);
  assert.equal(await servedCommonName(grpcPort), 'first');
  assert.equal(await servedCommonName(httpPort), 'first');

  writeSelfSignedCertificate(cert, key, 'second');
  await until(async () => (await servedCommonName(grpcPort)) === 'second', 'gRPC serves the new certificate');
  await until(
    async () => (await servedCommonName(httpPort)) === 'second',
    'HTTPS serves the new certificate',
  );

  // A client that trusts only the new certificate exports over the same, never restarted, listener.
  const client = grpcClient(addresses.grpcAddress, {
    credentials: grpc.credentials.createSsl(readFileSync(cert)),
    channelOptions: { 'grpc.ssl_target_name_override': 'localhost' },
  });
  t.after(() => client.close());
  const answer = await grpcExport(client, agentLikeBytes({ stacks: 1, samplesPerStack: 3 }));
  assert.equal(answer.code, grpc.status.OK, answer.details);
  assert.equal((await store.aggregateEvents({ from: 0, to: 2 ** 31 })).totalCount, 3);

  // A half-done renewal (a key that does not match the certificate) is refused; the last good pair stays in
  // service. The other key is a whole, valid one: a corrupted key could still pass the pair check and only fail
  // handshakes.
  const [otherCert, otherKey] = [join(dir, 'other.pem'), join(dir, 'other-key.pem')];
  writeSelfSignedCertificate(otherCert, otherKey, 'third');
  copyFileSync(otherKey, key);
  await sleep(2_500);
  assert.equal(await servedCommonName(grpcPort), 'second');
  assert.equal(await servedCommonName(httpPort), 'second');
});

/** The subject CN of the certificate a TLS listener presents to a new connection. */
function servedCommonName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] },
      () => {
        const subject = socket.getPeerCertificate().subject;
        socket.destroy();
        resolve(String(subject?.CN ?? ''));
      },
    );
    socket.once('error', reject);
  });
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(200);
  }
}
