/**
 * A `uniprof collector` on a three-node Elasticsearch cluster (indices with one replica) while one node is
 * killed (SIGKILL) during ingest and started again on its data: no acknowledged sample is lost and none is
 * stored twice, no stack trace, frame or executable document is written twice, the collector's /ready and
 * /metrics say the store is degraded while the node is away and well again after, and the cluster ends green.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProfileTranslator } from '../../src/collector/translate.ts';
import { Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import { ElasticsearchStore } from '../../src/store/elasticsearch/index.ts';
import { startElasticsearchCluster, type ElasticsearchCluster } from '../peers/elasticsearch.ts';
import {
  answered,
  auditWindows,
  elasticsearchWindows,
  newLedger,
  sendLoad,
  WINDOW_SECONDS,
  type Ledger,
} from '../support/acknowledged-load.ts';
import { allIds, duplicates } from './helpers.ts';
import { waitFor as waitForValue } from '../support/wait.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const NODES = 3;
const SAMPLES_PER_REQUEST = 100;
const SEED = 303;
const root = mkdtempSync(join(tmpdir(), 'uniprof-es-cluster-'));
let cluster: ElasticsearchCluster;

before(async () => {
  const started = Date.now();
  cluster = await startElasticsearchCluster({ nodes: NODES });
  console.log(`# ${NODES}-node cluster green in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
after(async () => {
  await cluster?.dispose();
  rmSync(root, { recursive: true, force: true });
});

/** Each probe asks the cluster something: every 200 ms is often enough. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> =>
  waitForValue(what, probe, timeoutMs, 200);

async function request(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await cluster.request(method, path, body);
  assert.equal(response.status, 200, `${method} ${path}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** A node that is not the elected master: killing it costs the cluster replicas, not an election. */
async function nonMasterNode(): Promise<number> {
  const [master] = (await request('GET', '/_cat/master?format=json')) as { node: string }[];
  const index = cluster.nodes.findIndex((node) => node.name !== master.node);
  assert.ok(index >= 0);
  return index;
}

interface Readiness {
  ready: boolean;
  storeDegraded?: string;
}

async function readiness(base: string): Promise<Readiness> {
  const response = await fetch(`${base}/ready`);
  return (await response.json()) as Readiness;
}

async function degradedGauge(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = /^uniprof_collector_store_degraded (\d+)$/m.exec(text);
  assert.ok(line, 'the collector exports uniprof_collector_store_degraded');
  return Number(line[1]);
}

/** The IDs the ledger's requests carry, found by generating them again and translating them. */
function expectedIds(ledger: Ledger): Record<string, Set<string>> {
  const ids = {
    'profiling-stacktraces': new Set<string>(),
    'profiling-stackframes': new Set<string>(),
    'profiling-executables': new Set<string>(),
  };
  const workload = new Workload({ seed: SEED, hosts: 20, processesPerHost: 3 });
  for (let window = 0; window < ledger.sent.size; window++) {
    const endMillis = (ledger.start + (window + 1) * WINDOW_SECONDS) * 1000;
    const generated = workload.next(nanosFromMillis(endMillis), SAMPLES_PER_REQUEST, WINDOW_SECONDS);
    const { batch } = new ProfileTranslator().translate(generated.request, {});
    for (const trace of batch.stackTraces) ids['profiling-stacktraces'].add(trace.id);
    for (const frame of batch.stackFrames) ids['profiling-stackframes'].add(frame.frameId);
    for (const executable of batch.executables) ids['profiling-executables'].add(executable.fileId);
  }
  return ids;
}

/** Replicas of each profiling index, and whether every shard copy is started. */
async function replicaLayout(): Promise<{ replicas: Map<string, string>; unstarted: string[] }> {
  const settings = (await request(
    'GET',
    '/profiling-*,.profiling-*/_settings/index.number_of_replicas?expand_wildcards=all',
  )) as Record<string, { settings: { index: { number_of_replicas: string } } }>;
  const replicas = new Map(
    Object.entries(settings).map(([index, value]) => [index, value.settings.index.number_of_replicas]),
  );
  const shards = (await request('GET', '/_cat/shards?format=json&h=index,shard,prirep,state')) as {
    index: string;
    shard: string;
    prirep: string;
    state: string;
  }[];
  const unstarted = shards
    // A relocating copy is a started one the cluster is moving to balance the returned node.
    .filter((s) => /^(\.ds-)?\.?profiling-/.test(s.index) && !['STARTED', 'RELOCATING'].includes(s.state))
    .map((s) => `${s.index}/${s.shard}${s.prirep} ${s.state}`);
  return { replicas, unstarted };
}

describe('a collector on a three-node Elasticsearch cluster', { timeout: 480_000 }, () => {
  it('loses and duplicates nothing when a node is killed during ingest, and shows it degraded', async () => {
    const victim = await nonMasterNode();
    // The victim first: the client starts with it and must move on to the others when it dies.
    const hosts = [cluster.urls[victim], ...cluster.urls.filter((_, i) => i !== victim)];
    const dataDir = join(root, 'collector');
    const ca = join(root, 'es-ca.pem');
    writeFileSync(ca, cluster.caPem);
    const [, ...listeners] = serveOnFreePorts(dataDir);
    const child: ChildProcess = spawn(
      process.execPath,
      [
        BIN,
        'collector',
        ...listeners,
        ...['--set', 'output.type=elasticsearch', '--set', `output.elasticsearch.hosts=${hosts.join(',')}`],
        ...['--set', `output.elasticsearch.username=${cluster.username}`],
        ...['--set', `output.elasticsearch.password=${cluster.password}`],
        ...['--set', `output.elasticsearch.tls.ca=${ca}`],
        ...['--set', 'output.elasticsearch.replicas=1'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output = new ProcessOutput(child);
    const ledger = newLedger();
    const timeline: string[] = [];
    const mark = (what: string, since: number) =>
      timeline.push(`${what} ${((Date.now() - since) / 1000).toFixed(1)} s`);
    try {
      await output.until(SERVE_READY);
      const { grpc, otlpHttp } = servedAddresses(output.stdout);
      const token = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
      const load = sendLoad(ledger, {
        target: grpc,
        token,
        seed: SEED,
        samplesPerRequest: SAMPLES_PER_REQUEST,
        concurrency: 1,
        // Steady, not flat out: what a shared 2-core machine's cluster keeps up with while it recovers shards.
        pauseMs: 1_000,
      });
      try {
        await waitFor(
          'first acknowledgements',
          async () => (ledger.acknowledged.size >= 5 ? true : undefined),
          60_000,
        );
        await waitFor(
          'data in the key-value indices',
          async () => ((await replicaLayout()).replicas.size > 0 ? true : undefined),
          30_000,
        );
        // New indices are yellow until their replicas are allocated; then the store is well.
        await cluster.waitForHealth('green', NODES);
        await waitFor(
          '/ready to show a green cluster as well',
          async () => ((await readiness(otlpHttp)).storeDegraded === undefined ? true : undefined),
          30_000,
        );
        assert.equal(await degradedGauge(otlpHttp), 0);

        const killedAt = Date.now();
        await cluster.kill(victim);
        const before = answered(ledger);
        // Whichever it notices first: the bulk requests that went to the node failing, or the cluster's health.
        const firstSign = await waitFor(
          '/ready to report the lost node',
          async () => (await readiness(otlpHttp)).storeDegraded,
          30_000,
        );
        mark('degraded seen after', killedAt);
        const degraded = await waitFor(
          '/ready to name the cluster yellow',
          async () => {
            const said = (await readiness(otlpHttp)).storeDegraded;
            return said && /cluster is (yellow|red)/.test(said) ? said : undefined;
          },
          30_000,
        );
        mark('cluster yellow seen after', killedAt);
        timeline.push(`first sign "${firstSign}"`, `then "${degraded}"`);
        assert.equal((await readiness(otlpHttp)).ready, true, 'a degraded cluster still takes writes');
        assert.equal(await degradedGauge(otlpHttp), 1);
        const yellow = await cluster.health();
        assert.notEqual(yellow.status, 'green');
        assert.equal(yellow.number_of_nodes, NODES - 1);
        // Ingest goes on while the node is away.
        await waitFor(
          'acknowledgements without the node',
          async () => (answered(ledger) >= before + 10 ? true : undefined),
          60_000,
        );

        // Ingest goes on while the node starts and rejoins.
        const restartedAt = Date.now();
        await cluster.restart(victim);
        mark('node rejoined after', restartedAt);
      } finally {
        await load.stop();
      }
      const rejoinedAt = Date.now();
      await cluster.waitForHealth('green', NODES, 180_000);
      mark('green after another', rejoinedAt);
      await waitFor(
        '/ready to recover',
        async () => ((await readiness(otlpHttp)).storeDegraded === undefined ? true : undefined),
        30_000,
      );
      assert.equal(await degradedGauge(otlpHttp), 0);
      const spoolDir = join(dataDir, 'elasticsearch-spool');
      await waitFor(
        'the spool to drain',
        async () => (readdirSync(spoolDir).some((name) => /^\d+\.(open|seg)$/.test(name)) ? undefined : true),
        180_000,
      );
    } catch (error) {
      // The collector's log, each line cut short: a failed bulk request's log line carries its whole body.
      const log = `${output.stdout}${output.stderr}`
        .split('\n')
        .map((line) => line.slice(0, 600))
        .join('\n');
      throw new Error(`${(error as Error).message}\n${log.slice(-8000)}`, { cause: error });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }

    assert.deepEqual([...ledger.refusals], [], 'losing one node of three refuses no agent request');
    await request('POST', '/profiling-*,.profiling-*/_refresh?expand_wildcards=all');
    const layout = await replicaLayout();
    for (const [index, replicas] of layout.replicas) assert.equal(replicas, '1', `${index}: one replica`);
    assert.deepEqual(layout.unstarted, [], 'every primary and replica started again');
    assert.equal((await cluster.health()).status, 'green');

    const figures: string[] = [];
    for (const [alias, want] of Object.entries(expectedIds(ledger))) {
      const ids = await allIds(cluster, alias);
      assert.ok(want.size > 0, `the load carries ${alias} documents`);
      assert.deepEqual(duplicates(ids), [], `${alias}: no ID twice`);
      assert.deepEqual(new Set(ids), want, `${alias}: exactly the IDs the requests carry`);
      figures.push(`${alias} ${ids.length}`);
    }
    const stored = await elasticsearchWindows(cluster, ledger);
    assert.deepEqual(auditWindows(ledger, stored), []);
    const acknowledgedSamples = [...ledger.acknowledged].reduce(
      (sum, window) => sum + ledger.sent.get(window)!,
      0,
    );
    const storedSamples = [...stored.values()].reduce((sum, samples) => sum + samples, 0);
    assert.equal(
      storedSamples,
      acknowledgedSamples,
      'profiling-events-all holds every acknowledged sample once',
    );
    console.log(
      `# ${ledger.acknowledged.size} requests, ${acknowledgedSamples} samples acknowledged and stored; ` +
        `${figures.join(', ')}; ${timeline.join(', ')}`,
    );
  });
});

describe('replicas on a cluster', { timeout: 120_000 }, () => {
  it('applies a changed replica count to the templates and to the indices that exist', async () => {
    const store = new ElasticsearchStore({
      hosts: cluster.urls,
      username: cluster.username,
      password: cluster.password,
      tls: { caPem: cluster.caPem },
      spoolDir: join(root, 'replicas-spool'),
      replicas: 2,
    });
    await store.open();
    try {
      assert.ok(
        store.layout?.changed.some((change) => change.startsWith('replicas of existing indices')),
        `start-up applied the new count: ${JSON.stringify(store.layout?.changed)}`,
      );
    } finally {
      await store.close();
    }
    const { replicas } = await replicaLayout();
    assert.ok(replicas.size > 0);
    for (const [index, count] of replicas) assert.equal(count, '2', `${index}: two replicas`);
    const template = (await request('GET', '/_component_template/profiling-events')) as {
      component_templates: { component_template: { template: { settings: { index: unknown } } } }[];
    };
    assert.deepEqual(pick(template.component_templates[0].component_template.template.settings.index), {
      number_of_replicas: '2',
      auto_expand_replicas: 'false',
    });
    // Three nodes hold a primary and two replicas of every shard.
    await cluster.waitForHealth('green', NODES);
  });
});

function pick(settings: unknown): Record<string, unknown> {
  const { number_of_replicas, auto_expand_replicas } = settings as Record<string, unknown>;
  return { number_of_replicas, auto_expand_replicas };
}
