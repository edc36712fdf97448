import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerQueryApi } from '../../src/api/index.ts';
import { ProfileTranslator } from '../../src/collector/translate.ts';
import { Workload } from '../../src/loadgen/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { emptyBatch, type ProfileBatch } from '../../src/model/index.ts';
import { bearer, withTestReaders } from '../support/reader-auth.ts';

/**
 * The API over a store filled the way the collector fills it: load-generator requests translated and written.
 * Expected totals come from what the generator says it sent, not from the store or the query layer.
 */
describe('query API over load-generator data', () => {
  const start = 1_750_000_000;
  const requests = 30;
  let store: EmbeddedStore;
  let app: FastifyInstance;
  let totalSamples = 0;
  const samplesByHost = new Map<string, number>();

  before(async () => {
    store = new EmbeddedStore({ path: ':memory:', seed: 11 });
    await store.open();
    const workload = new Workload({ seed: 5, hosts: 6, processesPerHost: 3, stacksPerRuntime: 300 });
    const translator = new ProfileTranslator();
    // One write of everything: this test is about queries, not about the store's write path.
    const all = emptyBatch();
    for (let i = 0; i < requests; i++) {
      const end = BigInt(start + 10 + i * 5) * 1_000_000_000n;
      const generated = workload.next(end, 400);
      const translation = translator.translate(generated.request, { now: start + 10 + i * 5 });
      for (const key of Object.keys(all) as Exclude<keyof ProfileBatch, 'eventColumns'>[]) {
        (all[key] as unknown[]).push(...(translation.batch[key] ?? []));
      }
      translation.commit();
      totalSamples += generated.samples;
      samplesByHost.set(generated.hostId, (samplesByHost.get(generated.hostId) ?? 0) + generated.samples);
    }
    await store.write(all);
    app = Fastify();
    await withTestReaders(app);
    await registerQueryApi(app, { store, options: { now: () => start + 1000 } });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  const range = `from=${start}&to=${start + 1000}&samplingLevel=0`;
  const get = async <T>(url: string): Promise<T> => {
    const response = await app.inject({ method: 'GET', url, headers: bearer() });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as T;
  };

  it('flamegraph root, Elasticsearch totals and top-N totals equal the samples sent', async () => {
    const compact = await get<{ nodes: { total: number[]; self: number[] }; missingStackTraces: number }>(
      `/api/flamegraph?${range}`,
    );
    assert.equal(compact.missingStackTraces, 0);
    assert.equal(compact.nodes.total[0], totalSamples);
    // Every sample ends in exactly one leaf: self counts add up to the root.
    assert.equal(
      compact.nodes.self.reduce((a, b) => a + b, 0),
      totalSamples,
    );
    const es = await get<{ TotalSamples: number; SelfCPU: number }>(
      `/api/flamegraph?${range}&format=elastic`,
    );
    assert.equal(es.TotalSamples, totalSamples);
    assert.equal(es.SelfCPU, totalSamples);
    const top = await get<{ total_count: number; topn: { self_count: number }[] }>(
      `/api/topn/functions?${range}&limit=100000`,
    );
    assert.equal(
      top.topn.reduce((a, f) => a + f.self_count, 0),
      totalSamples,
    );
  });

  it('per-host filters and host groups match what each host sent', async () => {
    const grouped = await get<{ groups: { value: string; count: number }[] }>(
      `/api/stacktraces?${range}&groupBy=host.id&groups=100`,
    );
    assert.deepEqual(new Map(grouped.groups.map((g) => [g.value, g.count])), samplesByHost);
    const [hostId, expected] = [...samplesByHost][0];
    const filtered = await get<{ totalCount: number }>(
      `/api/flamegraph?${range}&filter=${encodeURIComponent(`host.id:"${hostId}"`)}`,
    );
    assert.equal(filtered.totalCount, expected);
  });

  it('a downsampled level estimates the total within a few percent and says which level it read', async () => {
    const level1 = await get<{ totalCount: number; sampling: { samplingLevel: number; scale: number } }>(
      `/api/flamegraph?from=${start}&to=${start + 1000}&samplingLevel=1`,
    );
    assert.equal(level1.sampling.samplingLevel, 1);
    assert.equal(level1.sampling.scale, 5);
    assert.ok(
      Math.abs(level1.totalCount - totalSamples) / totalSamples < 0.05,
      `${level1.totalCount} vs ${totalSamples}`,
    );
  });
});
