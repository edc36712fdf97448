/**
 * Runs a target's fuzz loop in a worker thread (support/worker.ts) and watches it from outside: a case that
 * runs past its time budget (a hang), a worker that dies (out of heap, an uncaught error in a callback) or a
 * process whose RSS grows past a bound (an allocation sized from the input) each stop the worker and become
 * a failure, with the input that was running read from shared memory. Failures are written to files that
 * `npm run fuzz -- --replay <target> <file>` runs again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { targetByName } from '../targets/index.ts';
import type { Outcome } from './target.ts';

export interface WorkerJob {
  target: string;
  seed: number;
  durationMs: number;
  maxCases?: number;
  /** Run exactly these inputs instead of generating cases. */
  replay?: Uint8Array[];
  /** ArrayBuffer bytes one case may leave allocated (collected or not) before it counts as unbounded. */
  maxCaseBuffersMiB: number;
  control: SharedArrayBuffer;
  input: SharedArrayBuffer;
}

export interface FuzzFailure {
  kind: 'property' | 'hang' | 'worker-died' | 'memory';
  message: string;
  input: Uint8Array;
  shrinks?: number;
}

/** What the worker is doing, in the control area: for the message when it stops answering. */
export const Phase = { generating: 0, case: 1, closing: 2 } as const;
const PHASE_NAMES = ['between cases (generating the next)', 'running a case', 'closing the target'];

export interface WorkerReady {
  type: 'ready';
  childPids: number[];
}

export interface WorkerDone {
  type: 'done';
  cases: number;
  outcomes: Record<Outcome, number>;
  slowestMs: number;
  failure?: FuzzFailure;
}

export interface FuzzReport {
  target: string;
  seed: number;
  cases: number;
  outcomes: Record<Outcome, number>;
  seconds: number;
  casesPerSecond: number;
  slowestMs: number;
  /** Largest RSS of this process above its level when the target started, in MiB. */
  rssGrowthMiB: number;
  failure?: FuzzFailure;
  /** Where the failing input was written. */
  failureFile?: string;
}

export interface RunOptions {
  seed: number;
  durationMs: number;
  maxCases?: number;
  replay?: Uint8Array[];
  /** RSS growth of this process (workers included) that counts as unbounded allocation. */
  maxRssGrowthMiB?: number;
  /** The worker's V8 heap limit. */
  maxHeapMiB?: number;
  /** ArrayBuffers one case may allocate (default 256 MiB; the largest seed is a few MiB). */
  maxCaseBuffersMiB?: number;
  failureDir?: string;
}

/** Big enough for the largest seed after mutation (Go test programs are a few MiB). */
const INPUT_AREA_BYTES = 64 << 20;
const MIB = 1024 * 1024;

export async function runTarget(name: string, options: RunOptions): Promise<FuzzReport> {
  const target = targetByName(name);
  const control = new SharedArrayBuffer(12);
  const inputArea = new SharedArrayBuffer(INPUT_AREA_BYTES);
  const job: WorkerJob = {
    target: name,
    seed: options.seed,
    durationMs: options.durationMs,
    maxCases: options.maxCases,
    replay: options.replay,
    maxCaseBuffersMiB: options.maxCaseBuffersMiB ?? 256,
    control,
    input: inputArea,
  };
  const counter = new Int32Array(control);
  const maxHeap = options.maxHeapMiB ?? 768;
  const worker = new Worker(new URL('./worker.ts', import.meta.url), {
    workerData: job,
    execArgv: ['--import', 'tsx'],
    resourceLimits: { maxOldGenerationSizeMb: maxHeap, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 },
  });
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  let childPids: number[] = [];
  let started = 0;
  const lastInput = (): Uint8Array => {
    const length = Math.min(Atomics.load(counter, 1), INPUT_AREA_BYTES);
    return new Uint8Array(inputArea, 0, length).slice();
  };

  const result = await new Promise<{ done?: WorkerDone; failure?: FuzzFailure }>((resolve) => {
    let settled = false;
    let seen = -1;
    let seenAt = 0;
    const finish = (value: { done?: WorkerDone; failure?: FuzzFailure }) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      resolve(value);
    };
    const stop = (kind: FuzzFailure['kind'], message: string) => {
      const input = lastInput();
      void worker.terminate();
      finish({ failure: { kind, message, input } });
    };
    const watchdog = setInterval(() => {
      const rss = process.memoryUsage.rss();
      peak = Math.max(peak, rss);
      const growth = (rss - baseline) / MIB;
      if (growth > (options.maxRssGrowthMiB ?? 1024)) {
        stop('memory', `RSS grew by ${growth.toFixed(0)} MiB during one case`);
        return;
      }
      if (!started) return;
      const now = Date.now();
      const count = Atomics.load(counter, 0);
      if (count !== seen) {
        seen = count;
        seenAt = now;
      } else if (now - seenAt > 4 * target.caseBudgetMs + 2_000) {
        const phase = PHASE_NAMES[Atomics.load(counter, 2)];
        stop('hang', `no progress for ${now - seenAt} ms, ${phase} (case budget ${target.caseBudgetMs} ms)`);
      }
    }, 25);
    worker.on('message', (message: WorkerReady | WorkerDone) => {
      if (message.type === 'ready') {
        childPids = message.childPids;
        started = Date.now();
      } else finish({ done: message });
    });
    worker.on('error', (error) => {
      const kind =
        (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'worker-died';
      finish({ failure: { kind, message: error.stack ?? error.message, input: lastInput() } });
    });
    worker.on('exit', (code) => {
      if (!settled)
        finish({
          failure: { kind: 'worker-died', message: `worker exited with ${code}`, input: lastInput() },
        });
    });
  });
  for (const pid of childPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone: the target closed it
    }
  }
  const seconds = started ? (Date.now() - started) / 1000 : 0;
  const failure = result.done?.failure ?? result.failure;
  const report: FuzzReport = {
    target: name,
    seed: options.seed,
    cases: result.done?.cases ?? Atomics.load(counter, 0),
    outcomes: result.done?.outcomes ?? { accepted: 0, rejected: 0 },
    seconds,
    casesPerSecond: seconds > 0 ? (result.done?.cases ?? Atomics.load(counter, 0)) / seconds : 0,
    slowestMs: result.done?.slowestMs ?? 0,
    rssGrowthMiB: (peak - baseline) / MIB,
    failure,
  };
  if (failure && options.failureDir) report.failureFile = writeFailure(options.failureDir, report, failure);
  return report;
}

function writeFailure(dir: string, report: FuzzReport, failure: FuzzFailure): string {
  mkdirSync(dir, { recursive: true });
  const hash = createHash('sha256').update(failure.input).digest('hex').slice(0, 12);
  const file = join(dir, `${report.target}-${hash}.bin`);
  writeFileSync(file, failure.input);
  writeFileSync(
    `${file}.txt`,
    [
      `target: ${report.target}`,
      `seed: ${report.seed}`,
      `kind: ${failure.kind}`,
      `replay: npm run fuzz -- --replay ${report.target} ${file}`,
      '',
      failure.message,
      '',
    ].join('\n'),
  );
  return file;
}
