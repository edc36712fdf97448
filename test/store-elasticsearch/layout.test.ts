import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { layout } from '../../src/store/elasticsearch/index.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { storeFor, tempDir } from './helpers.ts';

let peer: ElasticsearchPeer;
let spoolDir: string;

before(async () => {
  peer = await startElasticsearch();
  spoolDir = await tempDir('es-layout');
});

after(async () => {
  await peer?.dispose();
  if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
});

type TemplateMeta = { version?: number; _meta?: Record<string, unknown> };

async function componentTemplate(
  name: string,
): Promise<TemplateMeta & { template: Record<string, unknown> }> {
  const response = await peer.request('GET', `/_component_template/${name}`);
  assert.equal(response.status, 200, `component template ${name}: ${JSON.stringify(response.body)}`);
  const body = response.body as {
    component_templates: { component_template: TemplateMeta & { template: Record<string, unknown> } }[];
  };
  return body.component_templates[0].component_template;
}

test('start-up installs the profiling layout, and a second start-up changes nothing', async () => {
  const store = storeFor(peer, spoolDir);
  await store.open();
  assert.equal(store.layout?.owner, 'uniprof');
  assert.ok(store.layout!.changed.includes('component template profiling-events'));
  await store.close();

  const events = await componentTemplate('profiling-events');
  const mappings = events.template.mappings as {
    properties: Record<string, { type: string; index?: boolean }>;
  };
  assert.equal(mappings.properties['Stacktrace.id'].type, 'keyword');
  assert.equal(mappings.properties['Stacktrace.id'].index, false);
  assert.equal(mappings.properties['Stacktrace.count'].type, 'short');
  assert.equal(mappings.properties['host.ip'].type, 'ip');
  assert.equal(events._meta?.managed_by, 'uniprof');

  for (const alias of layout.KEY_VALUE_INDICES) {
    const response = await peer.request('GET', `/_alias/${alias}`);
    assert.equal(response.status, 200, `alias ${alias}`);
    const indices = Object.keys(response.body as object);
    assert.deepEqual(indices, [`.${alias}-v001-000001`]);
  }
  for (const name of layout.PLAIN_INDICES) {
    assert.equal((await peer.request('HEAD', `/.${name}-v001`)).status, 200, `index .${name}-v001`);
  }
  const template = await peer.request('GET', '/_index_template/profiling-events');
  const indexTemplate = (
    template.body as {
      index_templates: { index_template: { index_patterns: string[]; data_stream?: object } }[];
    }
  ).index_templates[0].index_template;
  assert.deepEqual(indexTemplate.index_patterns, ['profiling-events*']);
  assert.ok(indexTemplate.data_stream, 'events are a data stream');

  const again = storeFor(peer, spoolDir);
  await again.open();
  assert.deepEqual(again.layout?.changed, []);
  await again.close();
});

test('an outdated template of ours is replaced; a template someone else owns is left alone', async () => {
  const current = await componentTemplate('profiling-stacktraces');
  await peer.request('PUT', '/_component_template/profiling-stacktraces', {
    template: current.template,
    version: 0,
    _meta: { managed_by: 'uniprof' },
  });
  const upgrading = storeFor(peer, spoolDir);
  await upgrading.open();
  assert.deepEqual(upgrading.layout?.changed, ['component template profiling-stacktraces']);
  await upgrading.close();
  assert.equal((await componentTemplate('profiling-stacktraces')).version, layout.LAYOUT_VERSION);

  const events = await componentTemplate('profiling-events');
  await peer.request('PUT', '/_component_template/profiling-events', {
    template: events.template,
    version: 99,
    _meta: { managed: true, description: 'installed by the profiling plugin' },
  });
  const guest = storeFor(peer, spoolDir);
  await guest.open();
  assert.equal(guest.layout?.owner, 'foreign');
  assert.deepEqual(guest.layout?.changed, []);
  await guest.close();
  const after = await componentTemplate('profiling-events');
  assert.equal(after.version, 99);
  assert.equal(after._meta?.managed_by, undefined);
});
