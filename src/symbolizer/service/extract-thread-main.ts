/**
 * Symbol range extraction in a worker thread. Extraction is synchronous CPU work (a large compilation unit
 * takes seconds), and the symbolizer shares its process with the collector in `uniprof serve`: on the main
 * thread it would hold up ingest, health checks and scrapes for that long. The thread sends one chunk at a
 * time and waits for the consumer to ask for the next, so memory stays at a chunk or two.
 */
import { Worker } from 'node:worker_threads';
import type { SymbolRange } from '../../model/symbols.ts';
import type { RangeExtractor } from './sources.ts';
import type { ExtractRequest, ExtractMessage } from './extract-thread.ts';

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

export const threadedRangeExtractor: RangeExtractor = (path, options) => ({
  [Symbol.asyncIterator]: () => extractInThread({ path, ...options }),
});

function extractInThread(request: ExtractRequest): AsyncIterator<SymbolRange[]> {
  const worker = new Worker(THREAD_BOOTSTRAP, {
    eval: true,
    workerData: request,
    stdout: false,
    stderr: false,
  });
  // Messages not yet asked for, and the consumer waiting for one.
  const arrived: ExtractMessage[] = [];
  let waiting: ((message: ExtractMessage) => void) | undefined;
  let finished = false;
  const deliver = (message: ExtractMessage) => {
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve(message);
    } else arrived.push(message);
  };
  worker.on('message', (message: ExtractMessage) => deliver(message));
  worker.on('error', (error: Error) => deliver({ type: 'error', message: error.message, name: error.name }));
  worker.on('exit', (code) => {
    if (!finished) deliver({ type: 'error', message: `the extraction thread exited with code ${code}` });
  });
  const stop = async () => {
    finished = true;
    await worker.terminate();
  };
  return {
    async next(): Promise<IteratorResult<SymbolRange[]>> {
      if (finished) return { done: true, value: undefined };
      const message =
        arrived.shift() ?? (await new Promise<ExtractMessage>((resolve) => (waiting = resolve)));
      switch (message.type) {
        case 'chunk':
          worker.postMessage('next');
          return { done: false, value: message.ranges };
        case 'done':
          await stop();
          return { done: true, value: undefined };
        case 'error': {
          await stop();
          const error = new Error(message.message);
          if (message.name) error.name = message.name;
          throw error;
        }
      }
    },
    async return(): Promise<IteratorResult<SymbolRange[]>> {
      await stop();
      return { done: true, value: undefined };
    },
  };
}
