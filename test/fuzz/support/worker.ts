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
import { Phase, type WorkerDone, type WorkerJob, type WorkerReady } from './runner.ts';

const job = workerData as WorkerJob;
const control = new Int32Array(job.control);
const inputArea = new Uint8Array(job.input);

function publish(input: Uint8Array): void {
  const n = Math.min(input.length, inputArea.length);
  inputArea.set(input.subarray(0, n));
  Atomics.store(control, 1, input.length);
  Atomics.add(control, 0, 1);
}

function lastPublished(): Uint8Array {
  return inputArea.slice(0, Math.min(Atomics.load(control, 1), inputArea.length));
}

const target = targetByName(job.target);
const prepared = await target.prepare();
const ready: WorkerReady = { type: 'ready', childPids: prepared.childPids ?? [] };
parentPort?.postMessage(ready);

const outcomes: Record<Outcome, number> = { accepted: 0, rejected: 0 };
let cases = 0;
let slowestMs = 0;
let failureSeen = false;
const MIB = 1024 * 1024;

/** Bytes in ArrayBuffers of this worker: they fall only when collected, so a case's transient ones show. */
const arrayBufferBytes = (): number => process.memoryUsage().arrayBuffers;

async function runCase(input: Uint8Array): Promise<void> {
  publish(input);
  Atomics.store(control, 2, Phase.case);
  const buffersBefore = arrayBufferBytes();
  const started = performance.now();
  const outcome = await prepared.run(input);
  const took = performance.now() - started;
  Atomics.store(control, 2, Phase.generating);
  const allocated = (arrayBufferBytes() - buffersBefore) / MIB;
  if (!failureSeen) {
    cases++;
    outcomes[outcome]++;
    slowestMs = Math.max(slowestMs, took);
  }
  if (took > target.caseBudgetMs) {
    throw new FuzzViolation(`a case took ${took.toFixed(0)} ms (budget ${target.caseBudgetMs} ms)`);
  }
  if (allocated > job.maxCaseBuffersMiB) {
    throw new FuzzViolation(
      `a case of ${input.length} bytes allocated ${allocated.toFixed(0)} MiB of buffers ` +
        `(bound ${job.maxCaseBuffersMiB} MiB)`,
    );
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let failure: WorkerDone['failure'];
if (job.replay) {
  // Every kept input once, in order; the first failure ends the replay.
  for (const input of job.replay) {
    try {
      await runCase(input);
    } catch (error) {
      failure = { kind: 'property', message: describeError(error), input };
      break;
    }
  }
} else {
  const property = fc.asyncProperty(prepared.arbitrary, async (input) => {
    try {
      await runCase(input);
    } catch (error) {
      // Shrinking runs follow: they are not counted as cases.
      failureSeen = true;
      throw error;
    }
  });
  const details = await fc.check(property, {
    seed: job.seed,
    numRuns: job.maxCases ?? 2 ** 31 - 1,
    plugins: [fc.interruptAfterTimeLimit(job.durationMs)],
  });
  const counterexample = (details.counterexample as [Uint8Array] | null)?.[0];
  if (details.failed && counterexample) {
    failure = {
      kind: 'property',
      message: describeError(details.errorInstance),
      input: counterexample,
      shrinks: details.numShrinks,
    };
  }
}
Atomics.store(control, 2, Phase.closing);
try {
  await prepared.close?.();
} catch (error) {
  // A server that does not stop is a failure too; the input is the last one it was sent.
  failure ??= { kind: 'property', message: describeError(error), input: lastPublished() };
}
const done: WorkerDone = { type: 'done', cases, outcomes, slowestMs, failure };
parentPort?.postMessage(done);
