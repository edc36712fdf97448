import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { decodeExportRequest, schema } from '../../src/protocol/otlp-profiles.ts';
import { agentLikeBytes, agentLikeRequest, httpExport, startCollector, tempDir } from './helpers.ts';

const recorded = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.binpb'))
    .sort();

async function waitForFiles(dir: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  while (recorded(dir).length < count && Date.now() < deadline) await sleep(20);
  return recorded(dir);
}

test('--record-dir keeps every acknowledged request as protobuf, JSON ones re-encoded, numbering on after a restart', async (t) => {
  const dir = join(tempDir(t), 'requests');
  const { url } = await startCollector(t, { record: { dir } });
  const binary = agentLikeBytes({ hostId: 'recorded-binary' });
  assert.equal((await httpExport(url, { body: binary })).status, 200);
  const message = schema.request.fromObject(agentLikeRequest({ hostId: 'recorded-json' }));
  const json = JSON.stringify(schema.request.toObject(message, { longs: String, bytes: String }));
  assert.equal((await httpExport(url, { body: json, contentType: 'application/json' })).status, 200);
  // Refused requests are not recorded.
  assert.equal((await httpExport(url, { body: binary, token: 'wrong-token-wrong-token' })).status, 401);

  const files = await waitForFiles(dir, 2);
  assert.deepEqual(files, ['000000000.binpb', '000000001.binpb']);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, files[0]))), new Uint8Array(binary));
  const hostOf = (file: string) =>
    decodeExportRequest(readFileSync(join(dir, file))).resourceProfiles?.[0]?.resource?.attributes?.find(
      (a) => a.key === 'host.id',
    )?.value?.stringValue;
  assert.equal(hostOf(files[1]), 'recorded-json');

  const again = await startCollector(t, { record: { dir } });
  assert.equal((await httpExport(again.url, { body: binary })).status, 200);
  assert.deepEqual(await waitForFiles(dir, 3), [...files, '000000002.binpb']);
});

test('recording stops at collector.record.maxBytes; requests are still acknowledged', async (t) => {
  const dir = join(tempDir(t), 'requests');
  const body = agentLikeBytes({ hostId: 'bounded' });
  const { url } = await startCollector(t, { record: { dir, maxBytes: body.byteLength * 2 + 1 } });
  for (let i = 0; i < 5; i++) assert.equal((await httpExport(url, { body })).status, 200);
  await sleep(200);
  const files = recorded(dir);
  assert.equal(files.length, 2);
  const total = files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  assert.ok(total <= body.byteLength * 2 + 1);
});
