/**
 * Symbol range extraction in worker threads. Extraction is synchronous CPU work (a large compilation unit
 * takes seconds), and the symbolizer shares its process with the collector in `uniprof serve`: on the main
 * thread it would hold up ingest, health checks and scrapes for that long. A thread sends one chunk at a time
 * and waits for the consumer to ask for the next, so memory stays at a chunk or two.
 *
 * Threads are kept for the next file: a new thread per file spent about as long starting and warming up as a
 * typical file takes to extract (`npm run bench:symbolizer-pipeline -- fleet`, 1.1 s against 0.46 s of CPU per
 * executable). One that sat idle for `IDLE_MS` ends, so an idle symbolizer holds no extra heap.
 */
import { Worker } from 'node:worker_threads';
import type { SymbolRange } from '../../model/symbols.ts';
import type { RangeExtractor } from './sources.ts';
import type { ExtractCommand, ExtractMessage, ExtractRequest } from './extract-thread.ts';
import { transferablesOf, unpackRanges } from './range-transfer.ts';

/**
 * Compiled (the installed program), this module is `.js` and its thread script is plain JavaScript next to it.
 * From a source checkout it is `.ts`, and the thread loads TypeScript as bin/uniprof.mjs does (tsx's
 * `register`), whatever flags the process was started with: a worker inherits no module hooks. tsx is resolved
 * only then, because an installed program has no tsx.
 */
const COMPILED = import.meta.url.endsWith('.js');
const THREAD_SCRIPT = new URL(COMPILED ? './extract-thread.js' : './extract-thread.ts', import.meta.url).href;
const THREAD_BOOTSTRAP = COMPILED
  ? `import(${JSON.stringify(THREAD_SCRIPT)});`
  : `
  import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
    .then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD_SCRIPT)}); });
`;
const IDLE_MS = 30_000;
/**
 * The thread's young generation, in MB. V8 sizes it by the machine's memory (much larger on Node 24 than on
 * Node 20), and an extraction's short-lived garbage then fills all of it: extracting a 516 MB debug file, the
 * process peaked at 2.2× its largest DWARF section with the default and 1.6× with this bound (and the main
 * thread's semi-spaces at 8 MB, as the release launcher sets them), at the same CPU time; a smaller young
 * generation did not cost glibc's extraction time either (`npm run bench:symbolizer-pipeline -- large`).
 */
const YOUNG_GENERATION_MB = 8;

interface IdleThread {
  worker: Worker;
  timer: NodeJS.Timeout;
  /** Takes the thread off the idle list when it ends while waiting. */
  forget: () => void;
}

const idle: IdleThread[] = [];

function acquireThread(): Worker {
  const reused = idle.pop();
  if (!reused)
    return new Worker(THREAD_BOOTSTRAP, {
      eval: true,
      stdout: false,
      stderr: false,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
  clearTimeout(reused.timer);
  reused.worker.off('error', reused.forget).off('exit', reused.forget).ref();
  return reused.worker;
}

/** Keeps a thread that finished its file cleanly; it must not keep the process alive while it waits. */
function releaseThread(worker: Worker): void {
  const timer = setTimeout(() => void worker.terminate(), IDLE_MS).unref();
  const entry: IdleThread = {
    worker,
    timer,
    forget: () => {
      clearTimeout(timer);
      const at = idle.indexOf(entry);
      if (at >= 0) idle.splice(at, 1);
    },
  };
  worker.once('error', entry.forget).once('exit', entry.forget).unref();
  idle.push(entry);
}

export const threadedRangeExtractor: RangeExtractor = (path, options) => ({
  [Symbol.asyncIterator]: () => extractInThread({ path, ...options }),
});

function extractInThread(request: ExtractRequest): AsyncIterator<SymbolRange[]> {
  const worker = acquireThread();
  const command = (message: ExtractCommand, transfer: ArrayBuffer[] = []) =>
    worker.postMessage(message, transfer);
  // Messages not yet asked for, and the consumer waiting for one.
  const arrived: ExtractMessage[] = [];
  let waiting: ((message: ExtractMessage) => void) | undefined;
  let finished = false;
  // The thread itself failed (not the file): it is not trusted with another one.
  let broken = false;
  const deliver = (message: ExtractMessage) => {
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve(message);
    } else arrived.push(message);
  };
  const onMessage = (message: ExtractMessage) => deliver(message);
  const onError = (error: Error) => {
    broken = true;
    deliver({ type: 'error', message: error.message, name: error.name });
  };
  const onExit = (code: number) => {
    broken = true;
    if (!finished) deliver({ type: 'error', message: `the extraction thread exited with code ${code}` });
  };
  worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  /** A thread left mid-file, or one that failed, ends; one that finished a file (or refused it) is kept. */
  const end = async (reusable: boolean) => {
    finished = true;
    worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    if (reusable && !broken) releaseThread(worker);
    else await worker.terminate();
  };
  command({ type: 'extract', request });
  return {
    async next(): Promise<IteratorResult<SymbolRange[]>> {
      if (finished) return { done: true, value: undefined };
      const message =
        arrived.shift() ?? (await new Promise<ExtractMessage>((resolve) => (waiting = resolve)));
      switch (message.type) {
        case 'chunk': {
          const ranges = unpackRanges(message.ranges);
          const spare = transferablesOf(message.ranges);
          command({ type: 'next', spare }, spare);
          return { done: false, value: ranges };
        }
        case 'done':
          await end(true);
          return { done: true, value: undefined };
        case 'error': {
          await end(true);
          const error = new Error(message.message);
          if (message.name) error.name = message.name;
          throw error;
        }
      }
    },
    async return(): Promise<IteratorResult<SymbolRange[]>> {
      if (!finished) await end(false);
      return { done: true, value: undefined };
    },
  };
}
