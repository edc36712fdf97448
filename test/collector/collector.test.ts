import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createCollector } from '../../src/collector/collector.ts';
import { CollectorConfigError } from '../../src/collector/options.ts';
import type { ProfileBatch } from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { StoreUnavailableError, type Store } from '../../src/store/store.ts';
import {
  agentLikeBytes,
  assertEmpty,
  grpcClient,
  grpcExport,
  httpExport,
  quietLogger,
  startCollector,
  tempDir,
} from './helpers.ts';

const ALL_TIME = { from: 0, to: 2 ** 31 };

test('no token and auth not disabled: the collector refuses to start, saying what to set', (t) => {
  const store = new EmbeddedStore({ path: join(tempDir(t), 'x.duckdb') });
  assert.throws(
    () => createCollector({ auth: {} }, store, quietLogger()),
    (error: unknown) =>
      error instanceof CollectorConfigError &&
      /collector\.auth\.secretToken/.test(error.message) &&
      /collector\.auth\.disabled: true/.test(error.message),
  );
  assert.throws(
    () => createCollector({ auth: { secretToken: '   ' } }, store, quietLogger()),
    CollectorConfigError,
  );
});

test('auth explicitly disabled: requests without a token are stored', async (t) => {
  const { store, addresses, url } = await startCollector(t, { auth: { disabled: true } });
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());
  assert.equal(
    (await grpcExport(client, agentLikeBytes({ stacks: 1, samplesPerStack: 2 }), null)).code,
    grpc.status.OK,
  );
  assert.equal(
    (await httpExport(url, { body: agentLikeBytes({ stacks: 1, samplesPerStack: 3 }), token: null })).status,
    200,
  );
  assert.equal((await store.aggregateEvents(ALL_TIME)).totalCount, 5);
});

test('a port already in use fails start with a clear error and leaves nothing behind', async (t) => {
  const first = await startCollector(t);
  const port = Number(first.addresses.grpcAddress.split(':').pop());
  const dbPath = join(tempDir(t), 'second.duckdb');
  const second = createCollector(
    { grpc: { port }, http: { port: 0 }, auth: { secretToken: 't' } },
    new EmbeddedStore({ path: dbPath }),
    quietLogger(),
  );
  await assert.rejects(second.start(), /cannot listen for gRPC on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  // The failed start closed the store it had opened: the database can be opened again right away.
  const reopened = new EmbeddedStore({ path: dbPath });
  await reopened.open();
  await reopened.close();
});

test('other modules register routes on the HTTP server before start', async (t) => {
  const store = new EmbeddedStore({ path: join(tempDir(t), 'x.duckdb') });
  const collector = createCollector(
    { grpc: { port: 0 }, http: { port: 0 }, auth: { secretToken: 't' } },
    store,
    quietLogger(),
  );
  collector.http.get('/api/hello', async () => ({ hello: 'world' }));
  collector.http.post('/api/echo', async (request) => request.body);
  const { httpAddress } = await collector.start();
  t.after(() => collector.stop());
  assert.deepEqual(await (await fetch(`${httpAddress}/api/hello`)).json(), { hello: 'world' });
  // The OTLP route's raw-body parsers stay in its own scope: JSON still parses everywhere else.
  const echo = await fetch(`${httpAddress}/api/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a: 1 }),
  });
  assert.deepEqual(await echo.json(), { a: 1 });
});

test('graceful stop: in-flight requests finish and are acknowledged, and survive a restart', async (t) => {
  let gated: GatedStore | undefined;
  const { collector, addresses, dbPath, url } = await startCollector(t, {}, (inner) => {
    gated = new GatedStore(inner);
    return gated;
  });
  const client = grpcClient(addresses.grpcAddress, { gzip: true });
  t.after(() => client.close());
  const before = await grpcExport(
    client,
    agentLikeBytes({ hostId: 'before', stacks: 2, samplesPerStack: 3 }),
  );
  assert.equal(before.code, grpc.status.OK);

  // Five requests reach the collector and wait on a store that has fallen behind; then the stop begins.
  gated!.hold();
  const inFlight = Array.from({ length: 5 }, (_, i) =>
    grpcExport(client, agentLikeBytes({ hostId: `in-flight-${i}`, stacks: 2, samplesPerStack: 3 })),
  );
  await waitFor(async () => /write_queue_depth 5/.test(await (await fetch(`${url}/metrics`)).text()));
  let stopFinished = false;
  const stopped = collector.stop().then(() => (stopFinished = true));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(stopFinished, false, 'stop waits for the requests still being written');
  const lateClient = grpcClient(addresses.grpcAddress);
  t.after(() => lateClient.close());
  const late = await grpcExport(lateClient, agentLikeBytes({ hostId: 'late' }));
  assert.equal(late.code, grpc.status.UNAVAILABLE, 'no new calls once stopping');

  gated!.release();
  const answers = await Promise.all(inFlight);
  await stopped;
  for (const answer of answers) assert.equal(answer.code, grpc.status.OK, answer.details);

  const reopened = new EmbeddedStore({ path: dbPath });
  await reopened.open();
  t.after(() => reopened.close());
  const hosts = await reopened.fieldValues('host.id', ALL_TIME.from, ALL_TIME.to, 100);
  assert.deepEqual([...hosts].sort(), [
    'before',
    'in-flight-0',
    'in-flight-1',
    'in-flight-2',
    'in-flight-3',
    'in-flight-4',
  ]);
  assert.equal((await reopened.aggregateEvents({ ...ALL_TIME, samplingLevel: 0 })).totalCount, 6 * 6);
});

/**
 * The real embedded store behind a gate: writes wait until the test opens it (a store falling behind), or fail
 * with StoreUnavailableError while `reachable` is false (what the Elasticsearch store throws when its cluster
 * is out of reach; the embedded store has no such state).
 */
class GatedStore implements Store {
  readonly kind = 'gated-embedded';
  reachable = true;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;

  constructor(private readonly inner: Store) {}

  get symbolization(): Store['symbolization'] {
    return this.inner.symbolization;
  }

  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate();
  }

  async write(batch: ProfileBatch): Promise<void> {
    if (!this.reachable) throw new StoreUnavailableError('cluster at 127.0.0.1:9 is not answering');
    await this.gate;
    return this.inner.write(batch);
  }

  health: Store['health'] = () => this.inner.health();
  open = () => this.inner.open();
  close = () => this.inner.close();
  writeStackFrames: Store['writeStackFrames'] = (frames) => this.inner.writeStackFrames(frames);
  aggregateEvents: Store['aggregateEvents'] = (query) => this.inner.aggregateEvents(query);
  countOverTime: Store['countOverTime'] = (query) => this.inner.countOverTime(query);
  readSetting: Store['readSetting'] = (name) => this.inner.readSetting(name);
  writeSetting: Store['writeSetting'] = (name, setting) => this.inner.writeSetting(name, setting);
  getStackTraces: Store['getStackTraces'] = (ids) => this.inner.getStackTraces(ids);
  getStackFrames: Store['getStackFrames'] = (ids) => this.inner.getStackFrames(ids);
  getExecutables: Store['getExecutables'] = (ids) => this.inner.getExecutables(ids);
  listHosts: Store['listHosts'] = (from, to) => this.inner.listHosts(from, to);
  fieldValues: Store['fieldValues'] = (field, from, to, limit) =>
    this.inner.fieldValues(field, from, to, limit);
  stats: Store['stats'] = () => this.inner.stats();
  storage: Store['storage'] = (query) => this.inner.storage(query);
}

test('a full write queue answers RESOURCE_EXHAUSTED / 429 with a retry hint; the queued request is still stored', async (t) => {
  let gated: GatedStore | undefined;
  const { store, addresses, url } = await startCollector(
    t,
    { writeQueue: { maxPendingRequests: 1 } },
    (inner) => {
      gated = new GatedStore(inner);
      return gated;
    },
  );
  gated!.hold();
  t.after(() => gated!.release());
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());
  const first = grpcExport(client, agentLikeBytes({ hostId: 'queued', stacks: 1, samplesPerStack: 7 }));
  await waitFor(async () => /write_queue_depth 1/.test(await (await fetch(`${url}/metrics`)).text()));

  const busy = await grpcExport(client, agentLikeBytes({ hostId: 'refused' }));
  assert.equal(busy.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(busy.details, /store busy: write queue full/);
  assert.ok(busy.metadata?.get('grpc-status-details-bin')[0], 'carries a google.rpc.Status with RetryInfo');
  const busyHttp = await httpExport(url, { body: agentLikeBytes({ hostId: 'refused' }) });
  assert.equal(busyHttp.status, 429);
  assert.equal(busyHttp.headers.get('retry-after'), '5');

  gated!.release();
  assert.equal((await first).code, grpc.status.OK);
  assert.deepEqual(await store.fieldValues('host.id', ALL_TIME.from, ALL_TIME.to, 10), ['queued']);
  assert.equal((await store.aggregateEvents(ALL_TIME)).totalCount, 7);
});

test('an unreachable store answers UNAVAILABLE / 503 and keeps nothing', async (t) => {
  let gated: GatedStore | undefined;
  const { store, addresses, url } = await startCollector(t, {}, (inner) => {
    gated = new GatedStore(inner);
    return gated;
  });
  gated!.reachable = false;
  const client = grpcClient(addresses.grpcAddress);
  t.after(() => client.close());
  const answer = await grpcExport(client, agentLikeBytes());
  assert.equal(answer.code, grpc.status.UNAVAILABLE);
  assert.match(answer.details, /store unavailable: cluster at 127\.0\.0\.1:9 is not answering/);
  const response = await httpExport(url, { body: agentLikeBytes() });
  assert.equal(response.status, 503);
  assert.equal(response.headers.get('retry-after'), '5');
  assertEmpty(await store.stats());

  gated!.reachable = true;
  assert.equal((await grpcExport(client, agentLikeBytes())).code, grpc.status.OK);
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
