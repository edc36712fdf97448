/**
 * What the storage explorer and the layout promise on the real Elasticsearch peer: the storage report with
 * known counts, the `profiling-metrics` and `profiling-costs` templates taking documents shaped like the
 * plugin's, and the ILM policy where the cluster has ILM (the integration-test build has none: see
 * docs/elasticsearch.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import { checkStore, knownBatch } from '../store/storage-fixture.ts';
import { storeFor, tempDir } from './helpers.ts';

describe('Elasticsearch storage layout', () => {
  let peer: ElasticsearchPeer;
  let store: ElasticsearchStore;
  let spoolDir: string;
  before(async () => {
    peer = await startElasticsearch();
    spoolDir = await tempDir('storage-es');
    store = storeFor(peer, spoolDir);
    await store.open();
  });
  after(async () => {
    await store?.close();
    await peer?.dispose();
    if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
  });

  it('reports documents and store size per index, per host and per day exactly', async () => {
    const { batch, events } = knownBatch();
    await store.write(batch);
    await store.flush();
    await peer.request('POST', '/profiling-*,.profiling-*/_refresh?expand_wildcards=all');
    const report = await checkStore(store, events, 'profiling-events-all');
    const index = (name: string) => report.areas.find((a) => a.name === name);
    assert.equal(index('.profiling-stacktraces-v001-000001')?.rows, 3);
    assert.ok(index('profiling-events-all')!.bytes! > 0);
    assert.equal(
      report.totalBytes,
      report.areas.reduce((sum, a) => sum + (a.bytes ?? 0), 0),
    );
  });

  it('installs the profiling-metrics and profiling-costs templates, which take documents shaped like the plugin expects', async () => {
    const metrics = await peer.request('GET', '/_index_template/profiling-metrics');
    assert.equal(metrics.status, 200);
    const costs = await peer.request('GET', '/_index_template/profiling-costs');
    assert.equal(costs.status, 200);
    // A metrics document as an agent's collector writes it: epoch seconds, and metrics as dynamic fields.
    const metric = await peer.request('POST', '/profiling-metrics/_create/m1?refresh=true', {
      '@timestamp': 1_760_000_000,
      'host.id': 'host-a',
      'profiling.project.id': '1',
      'profiling.agent.metrics.unwind_errors': 3,
    });
    assert.equal(metric.status, 201, JSON.stringify(metric.body));
    // The integration-test build has no data-stream API (405): the backing index's name shows the stream.
    const mapping = (await peer.request('GET', '/profiling-metrics/_mapping')).body as Record<
      string,
      {
        mappings: {
          _source?: { enabled: boolean };
          properties: Record<string, { type?: string; format?: string }>;
        };
      }
    >;
    const [[backingName, backing]] = Object.entries(mapping);
    assert.match(backingName, /^\.ds-profiling-metrics-/);
    assert.equal(backing.mappings._source?.enabled, false);
    assert.equal(backing.mappings.properties['@timestamp'].format, 'epoch_second');
    const counted = (
      await peer.request('POST', '/profiling-metrics/_count', {
        query: { range: { '@timestamp': { gte: 1_760_000_000, format: 'epoch_second' } } },
      })
    ).body as { count: number };
    assert.equal(counted.count, 1);

    const cost = await peer.request('PUT', '/.profiling-costs/_doc/aws-eu-west-1-m5.large?refresh=true', {
      '@timestamp': '2025-01-01T00:00:00Z',
      provider: 'aws',
      region: 'eu-west-1',
      instance_type: 'm5.large',
      co2_factor: 0.000_27,
      cost_factor: 0.107,
    });
    assert.equal(cost.status, 201, JSON.stringify(cost.body));
    const found = (
      await peer.request('POST', '/.profiling-costs/_search', {
        query: { bool: { filter: [{ term: { provider: 'aws' } }, { term: { instance_type: 'm5.large' } }] } },
      })
    ).body as { hits: { hits: { _source: { cost_factor: number } }[] } };
    assert.equal(found.hits.hits.length, 1);
    assert.equal(found.hits.hits[0]._source.cost_factor, 0.107);
    const settings = (await peer.request('GET', '/.profiling-costs/_settings')).body as Record<
      string,
      { settings: { index: { hidden?: string } } }
    >;
    assert.equal(Object.values(settings)[0].settings.index.hidden, 'true');
  });

  it('puts the ILM policy in where the cluster has ILM, and says it has none otherwise', async (t) => {
    const ilmApi = await peer.request('GET', '/_ilm/policy');
    t.diagnostic(
      `GET /_ilm/policy: ${ilmApi.status}; the store found ILM: ${store.layout!.capabilities.ilm}`,
    );
    const capabilities = store.layout!.capabilities;
    if (capabilities.ilm) {
      assert.equal(ilmApi.status, 200);
      assert.equal((await peer.request('GET', '/_ilm/policy/profiling-60-days')).status, 200);
      const ilm = (await peer.request('GET', '/_component_template/profiling-ilm')).body as {
        component_templates: { component_template: { template: { settings: unknown } } }[];
      };
      assert.match(
        JSON.stringify(ilm.component_templates[0].component_template.template.settings),
        /profiling-60-days/,
      );
    } else {
      // The integration-test distribution has no ILM module: the API is not there at all.
      assert.ok(ilmApi.status >= 400, `GET /_ilm/policy answered ${ilmApi.status}`);
      const ilm = (await peer.request('GET', '/_component_template/profiling-ilm')).body as {
        component_templates: { component_template: { template: { settings?: unknown } } }[];
      };
      assert.doesNotMatch(
        JSON.stringify(ilm.component_templates[0].component_template.template),
        /lifecycle/,
      );
    }
  });
});
