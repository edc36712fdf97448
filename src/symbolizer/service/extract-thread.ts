/**
 * The worker thread of `threadedRangeExtractor` (extract-thread-main.ts). It serves one extraction at a time
 * and stays up for the next: starting a thread and warming up the extractor's code costs more than extracting
 * a typical file. Ranges go out a chunk at a time, each after the main thread asked for the next.
 */
import { parentPort } from 'node:worker_threads';
import type { SymbolRange } from '../../model/symbols.ts';
import { extractRanges } from '../ranges/extract.ts';
import { BufferPool, packRanges, transferablesOf, type PackedRanges } from './range-transfer.ts';

export interface ExtractRequest {
  path: string;
  debugFile?: string;
  debugDirectories?: string[];
}

/**
 * From the main thread: start a file, or send the next chunk of the current one (with the buffers of the
 * chunk before it, moved back to be packed into again).
 */
export type ExtractCommand =
  { type: 'extract'; request: ExtractRequest } | { type: 'next'; spare: ArrayBuffer[] };

export type ExtractMessage =
  | { type: 'chunk'; ranges: PackedRanges }
  | { type: 'done' }
  | { type: 'error'; message: string; name?: string };

function serve(port: NonNullable<typeof parentPort>): void {
  let current: Iterator<SymbolRange[]> | undefined;
  const pool = new BufferPool();
  const send = (message: ExtractMessage) => port.postMessage(message);
  const advance = () => {
    if (!current) return;
    try {
      const step = current.next();
      if (step.done) {
        current = undefined;
        send({ type: 'done' });
      } else {
        const ranges = packRanges(step.value, pool);
        port.postMessage({ type: 'chunk', ranges } satisfies ExtractMessage, transferablesOf(ranges));
      }
    } catch (error) {
      current = undefined;
      const { message, name } = error instanceof Error ? error : new Error(String(error));
      send({ type: 'error', message, name });
    }
  };
  port.on('message', (command: ExtractCommand) => {
    if (command.type === 'next') pool.give(command.spare);
    else {
      current?.return?.(); // never expected: the main thread hands out idle threads only
      const { path, debugFile, debugDirectories } = command.request;
      current = extractRanges(path, { debugFile, debugDirectories })[Symbol.iterator]();
    }
    advance();
  });
}

if (parentPort) serve(parentPort);
