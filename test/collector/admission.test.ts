import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdmissionGate, type Admission } from '../../src/collector/admission.ts';
import { ExportClient, Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import { encodeExportRequest } from '../../src/protocol/index.ts';
import type { ProfileBatch } from '../../src/model/index.ts';
import { StoreBusyError, type Store } from '../../src/store/store.ts';
import { startCollector } from './helpers.ts';

/** Settles pending promise callbacks, so whatever the gate let in has run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the gate lets requests in while new items in flight are under the budget, then in arrival order', async () => {
  const gate = new AdmissionGate({ maxNewItemsInFlight: 100, maxWaitingRequests: 10, maxWaitMs: 60_000 });
  const first = await gate.admit();
  first.charge(150);
  const order: number[] = [];
  const admitted: Admission[] = [];
  for (const n of [1, 2, 3]) {
    void gate.admit().then((admission) => {
      order.push(n);
      admitted.push(admission);
    });
  }
  await settle();
  assert.deepEqual(order, [], 'over the budget: nobody is let in');
  assert.equal(gate.queued, 3);
  first.release();
  await settle();
  assert.deepEqual(order, [1], 'one at a time: the next waits until the admitted one reports its items');
  admitted[0].charge(0);
  await settle();
  assert.deepEqual(order, [1, 2], 'a batch with nothing new lets the next one in at once');
  admitted[1].charge(500);
  await settle();
  assert.deepEqual(order, [1, 2], 'a heavy batch closes the gate again');
  admitted[1].release();
  admitted[1].release();
  await settle();
  assert.deepEqual(order, [1, 2, 3], 'released once (a second release changes nothing)');
  assert.equal(gate.inFlight, 0);
  // A request that fails before charging (undecodable body) must not keep the gate shut.
  admitted[2].release();
  const after = await gate.admit();
  after.charge(1);
  after.release();
  assert.equal(gate.inFlight, 0);
});

test('the gate refuses with StoreBusyError once too many requests wait, or one waited too long', async () => {
  const gate = new AdmissionGate({ maxNewItemsInFlight: 1, maxWaitingRequests: 2, maxWaitMs: 200 });
  const first = await gate.admit();
  first.charge(5);
  const started = performance.now();
  const waiting = [gate.admit(), gate.admit()];
  await assert.rejects(gate.admit(), StoreBusyError);
  assert.equal(gate.queued, 2);
  for (const wait of waiting) await assert.rejects(wait, /not admitted within 200 ms/);
  assert.ok(performance.now() - started >= 190, 'refused only once the wait was up');
  assert.equal(gate.queued, 0);
  // The gate still works after the refusals.
  first.release();
  (await gate.admit()).release();
});

test("a request waits no longer than it is given, and never past the gate's own limit", async () => {
  const gate = new AdmissionGate({ maxNewItemsInFlight: 1, maxWaitingRequests: 10, maxWaitMs: 400 });
  const first = await gate.admit();
  first.charge(5);
  const started = performance.now();
  const short = gate.admit(100).catch((error: unknown) => ({ error, ms: performance.now() - started }));
  const long = gate.admit(60_000).catch((error: unknown) => ({ error, ms: performance.now() - started }));
  const late = gate.admit(-50).catch((error: unknown) => ({ error, ms: performance.now() - started }));
  const [s, l, d] = await Promise.all([short, long, late]);
  for (const outcome of [s, l, d]) assert.ok('error' in outcome && outcome.error instanceof StoreBusyError);
  assert.ok('ms' in s && s.ms >= 90 && s.ms < 350, `the short wait ended after ${JSON.stringify(s)}`);
  assert.ok('ms' in l && l.ms >= 390, 'the long wait was cut at the gate limit');
  assert.ok('ms' in d && d.ms < 90, 'a request already out of time is refused at once');
  assert.match(String((s as { error: Error }).error.message), /not admitted within 100 ms/);
  first.release();
  // An open gate admits at once, whatever the wait.
  (await gate.admit(-1)).release();
});

/** A store that records each batch it is asked to write, then writes it. */
function recording(batches: ProfileBatch[]): (store: Store) => Store {
  return (store) =>
    new Proxy(store, {
      get(target, key, receiver) {
        if (key === 'write')
          return (batch: ProfileBatch) => {
            batches.push(batch);
            return target.write(batch);
          };
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
}

test('over gRPC a request waits for admission only until a second before its deadline', async (t) => {
  let unblock!: () => void;
  const blocked = new Promise<void>((resolve) => (unblock = resolve));
  const running = await startCollector(
    t,
    { auth: { disabled: true }, admission: { maxNewItemsInFlight: 1, maxWaitMs: 60_000 } },
    // Writes hang until the test lets them go: the first request's new items stay in flight.
    (store) =>
      new Proxy(store, {
        get(target, key, receiver) {
          if (key === 'write') return (batch: ProfileBatch) => blocked.then(() => target.write(batch));
          const value: unknown = Reflect.get(target, key, receiver);
          return typeof value === 'function'
            ? (value as (...args: unknown[]) => unknown).bind(target)
            : value;
        },
      }),
  );
  const workload = new Workload({ seed: 3, hosts: 2 });
  const end = nanosFromMillis(Date.now());
  const [first, second] = [0, 1].map(() => encodeExportRequest(workload.next(end, 50).request));
  const patient = new ExportClient({ target: running.addresses.grpcAddress, timeoutMs: 60_000 });
  const hurried = new ExportClient({ target: running.addresses.grpcAddress, timeoutMs: 1_800 });
  t.after(() => {
    patient.close();
    hurried.close();
  });
  const firstOutcome = patient.export(first);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = performance.now();
  const secondOutcome = await hurried.export(second);
  const waited = performance.now() - started;
  assert.equal(secondOutcome.ok, false);
  assert.equal(
    !secondOutcome.ok && secondOutcome.status,
    'RESOURCE_EXHAUSTED',
    'refused by the store, not timed out',
  );
  assert.ok(
    waited > 600 && waited < 1_700,
    `refused ${waited.toFixed(0)} ms after sending, before its deadline`,
  );
  unblock();
  assert.equal((await firstOutcome).ok, true, 'the admitted request is stored once writes go on');
});

/**
 * A fleet arriving at a fresh collector, all at once over gRPC: every request succeeds either way, and with
 * admission control the store is sent each new stack trace and frame about once instead of once per request
 * that was translated before the first commit.
 */
async function coldBurst(t: import('node:test').TestContext, maxNewItemsInFlight: number) {
  const batches: ProfileBatch[] = [];
  const running = await startCollector(
    t,
    {
      auth: { disabled: true },
      admission: { maxNewItemsInFlight, maxWaitMs: 120_000 },
      writeQueue: { maxPendingRequests: 200 },
    },
    recording(batches),
  );
  const workload = new Workload({ seed: 7, hosts: 30 });
  const end = nanosFromMillis(Date.now());
  const bodies = Array.from({ length: 30 }, () => encodeExportRequest(workload.next(end, 300).request));
  const client = new ExportClient({ target: running.addresses.grpcAddress, timeoutMs: 60_000 });
  t.after(() => client.close());
  const outcomes = await Promise.all(bodies.map((body) => client.export(body)));
  assert.deepEqual(
    outcomes.filter((o) => !o.ok),
    [],
    'every request of the burst is acknowledged',
  );
  const sent = batches.reduce((sum, b) => sum + b.stackFrames.length + b.stackTraces.length, 0);
  const distinct = new Set(
    batches.flatMap((b) => [...b.stackFrames.map((f) => f.frameId), ...b.stackTraces.map((s) => s.id)]),
  );
  const stats = await running.store.stats();
  assert.equal(
    stats.stackTraces + stats.stackFrames,
    distinct.size,
    'the store holds every distinct item once',
  );
  return sent / distinct.size;
}

test('a cold burst with admission control sends each new stack trace and frame about once', async (t) => {
  const gated = await coldBurst(t, 2_000);
  const ungated = await coldBurst(t, 1_000_000_000);
  t.diagnostic(`items sent per distinct item: ${gated.toFixed(2)} gated, ${ungated.toFixed(2)} ungated`);
  assert.ok(gated < 1.2, `with admission control the store was sent ${gated.toFixed(2)}× the distinct items`);
  assert.ok(
    ungated > 1.3 * gated,
    `without it, ${ungated.toFixed(2)}× (so the test shows the difference the gate makes, ${gated.toFixed(2)}×)`,
  );
});
