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
