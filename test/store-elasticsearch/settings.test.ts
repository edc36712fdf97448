import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { ReaderAccess, registerQueryApi, registerReaderAuth } from '../../src/api/index.ts';
import type { SettingsResponse } from '../../src/api/settings.ts';
import { DEFAULT_IMPACT_FACTORS } from '../../src/query/index.ts';
import type { ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import { SETTINGS_INDEX } from '../../src/store/elasticsearch/settings.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { removeTempDirs, storeFor, tempDir } from './helpers.ts';

let peer: ElasticsearchPeer;
const opened: { store: ElasticsearchStore; app: FastifyInstance }[] = [];

before(async () => {
  peer = await startElasticsearch();
});

after(async () => {
  for (const { app, store } of opened) {
    await app.close();
    await store.close();
  }
  await peer?.dispose();
  await removeTempDirs();
});

/** A server on its own store instance and spool: what one of several collectors on one cluster runs. */
async function server(): Promise<{ store: ElasticsearchStore; app: FastifyInstance }> {
  const store = storeFor(peer, await tempDir('es-settings'));
  await store.open();
  const app = Fastify();
  await registerReaderAuth(app, ReaderAccess.disabled());
  // No cache: the second server must see the first one's change on its next request.
  await registerQueryApi(app, { store, options: { settingsCacheMs: 0 } });
  const entry = { store, app };
  opened.push(entry);
  return entry;
}

async function settingsOf(app: FastifyInstance): Promise<SettingsResponse> {
  const response = await app.inject({ method: 'GET', url: '/api/settings' });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as SettingsResponse;
}

test('settings on Elasticsearch: one value for every server on the cluster, kept across restarts', async () => {
  const first = await server();
  const second = await server();
  assert.deepEqual((await settingsOf(first.app)).impact.values, DEFAULT_IMPACT_FACTORS);

  const changed = await first.app.inject({
    method: 'PUT',
    url: '/api/settings',
    payload: { impact: { wattsPerCoreArm64: 3.5, azureCostDiscountPercent: 15 } },
  });
  assert.equal(changed.statusCode, 200, changed.body);
  const seen = await settingsOf(second.app);
  assert.equal(seen.impact.values.wattsPerCoreArm64, 3.5);
  assert.equal(seen.impact.values.azureCostDiscountPercent, 15);
  assert.deepEqual(seen.impact.overridden.sort(), ['azureCostDiscountPercent', 'wattsPerCoreArm64']);

  // The record lives in a small hidden index of ours, not in the profiling layout.
  const index = await peer.request('GET', `/${SETTINGS_INDEX}/_settings`);
  assert.equal(index.status, 200);

  for (const { app, store } of opened.splice(0)) {
    await app.close();
    await store.close();
  }
  const restarted = await server();
  assert.equal((await settingsOf(restarted.app)).impact.values.wattsPerCoreArm64, 3.5);

  const invalid = await restarted.app.inject({
    method: 'PUT',
    url: '/api/settings',
    payload: { impact: { wattsPerCoreArm64: -2 } },
  });
  assert.equal(invalid.statusCode, 400);
  assert.match((invalid.json() as { message: string }).message, /^impact\.wattsPerCoreArm64: /);
  assert.equal((await settingsOf(restarted.app)).impact.values.wattsPerCoreArm64, 3.5);
});
