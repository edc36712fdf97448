/**
 * One target's fuzz loop, in a worker thread so the runner can stop it when a case hangs or allocates without
 * bound. Before each case the input is copied into shared memory and a counter bumped: whatever stops the
 * worker, the runner still has the input that was running.
 */
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { targetByName } from '../targets/index.ts';
import type { Outcome } from './target.ts';
import { FuzzViolation } from './target.ts';
import type { WorkerDone, WorkerJob, WorkerReady } from './runner.ts';

const job = workerData as WorkerJob;
const control = new Int32Array(job.control);
const inputArea = new Uint8Array(job.input);

function publish(input: Uint8Array): void {
  const n = Math.min(input.length, inputArea.length);
  inputArea.set(input.subarray(0, n));
  Atomics.store(control, 1, input.length);
  Atomics.add(control, 0, 1);
}

const target = targetByName(job.target);
const prepared = await target.prepare();
const ready: WorkerReady = { type: 'ready', childPids: prepared.childPids ?? [] };
parentPort?.postMessage(ready);

const outcomes: Record<Outcome, number> = { accepted: 0, rejected: 0 };
let cases = 0;
let slowestMs = 0;
let failureSeen = false;
const property = fc.asyncProperty(
  job.replay ? fc.constantFrom(...job.replay) : prepared.arbitrary,
  async (input) => {
    publish(input);
    const started = performance.now();
    const outcome = await prepared.run(input);
    const took = performance.now() - started;
    if (!failureSeen) {
      cases++;
      outcomes[outcome]++;
      slowestMs = Math.max(slowestMs, took);
    }
    if (took > target.caseBudgetMs) {
      throw new FuzzViolation(`a case took ${took.toFixed(0)} ms (budget ${target.caseBudgetMs} ms)`);
    }
  },
);
const details = await fc.check(property, {
  seed: job.seed,
  numRuns: job.replay ? job.replay.length : (job.maxCases ?? 2 ** 31 - 1),
  plugins: job.replay ? [] : [fc.interruptAfterTimeLimit(job.durationMs)],
  // Replays must run every input, so the path of a failure is not followed by shrinking there.
  endOnFailure: job.replay !== undefined,
  reporter: (run) => {
    if (run.failed) failureSeen = true;
  },
});
await prepared.close?.();
const counterexample = details.counterexample?.[0];
const done: WorkerDone = {
  type: 'done',
  cases,
  outcomes,
  slowestMs,
  failure:
    details.failed && counterexample
      ? {
          kind: 'property',
          message:
            details.errorInstance instanceof Error
              ? details.errorInstance.message
              : String(details.errorInstance),
          input: counterexample,
          shrinks: details.numShrinks,
        }
      : undefined,
};
parentPort?.postMessage(done);
