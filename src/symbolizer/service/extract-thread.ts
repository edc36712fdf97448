/**
 * The worker thread of `threadedRangeExtractor` (extract-thread-main.ts): extracts a file's ranges and
 * posts them a chunk at a time, each after the main thread asked for the next.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SymbolRange } from '../../model/symbols.ts';
import { extractRanges } from '../ranges/extract.ts';

export interface ExtractRequest {
  path: string;
  debugFile?: string;
  debugDirectories?: string[];
}

export type ExtractMessage =
  | { type: 'chunk'; ranges: SymbolRange[] }
  | { type: 'done' }
  | { type: 'error'; message: string; name?: string };

async function run(port: NonNullable<typeof parentPort>, request: ExtractRequest): Promise<void> {
  const asked = () => new Promise<void>((resolve) => port.once('message', () => resolve()));
  try {
    for (const ranges of extractRanges(request.path, {
      debugFile: request.debugFile,
      debugDirectories: request.debugDirectories,
    })) {
      port.postMessage({ type: 'chunk', ranges } satisfies ExtractMessage);
      await asked();
    }
    port.postMessage({ type: 'done' } satisfies ExtractMessage);
  } catch (error) {
    const { message, name } = error instanceof Error ? error : new Error(String(error));
    port.postMessage({ type: 'error', message, name } satisfies ExtractMessage);
  }
}

if (parentPort) void run(parentPort, workerData as ExtractRequest);
