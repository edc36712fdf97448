/**
 * Return pads of an executable (see `ReturnPad` in src/model/symbols.ts): every call instruction inside a
 * function (a depth-0 symbol range) is found by decoding the function's code linearly, and the inline chain
 * at the call is stored under the return address − 1, the address the agent reports for the calling frame.
 * Most native frames of a stack are such frames, so most lookups become point lookups.
 */
import type { ReturnPad, SymbolRange } from '../../model/symbols.ts';
import { ElfFile } from '../elf/elf.ts';
import { RangeIndex } from '../ranges/range-index.ts';
import { callFinderFor, type CallFinder, type CallInstruction } from './calls.ts';
import { LoadedCode } from './code.ts';

export class ReturnPadError extends Error {
  override readonly name = 'ReturnPadError';
}

export interface ReturnPadOptions {
  /** Pads per yielded chunk, about (default 4096: a function's pads stay in one chunk). */
  chunkSize?: number;
}

const DEFAULT_CHUNK_SIZE = 4096;

/**
 * Go starts every goroutine's stack with a return address its scheduler pushed by hand into
 * `runtime.goexit`, after that function's first instruction (a NOP before `CALL runtime.goexit1`): no call
 * instruction precedes it, so the scan cannot find it (symblib makes the same exception).
 */
const GO_STACK_START = new Set(['runtime.goexit', 'runtime.goexit.abi0']);

/** The executable's code and a decoder for its machine; throws `ReturnPadError` when there is neither. */
export class ExecutableCode {
  readonly code: LoadedCode;
  readonly finder: CallFinder;

  constructor(readonly elf: ElfFile) {
    const finder = callFinderFor(elf.machine);
    if (finder === undefined)
      throw new ReturnPadError(`${elf.path}: no call decoder for ELF machine ${elf.machine}`);
    this.code = new LoadedCode(elf);
    if (!this.code.hasCode) throw new ReturnPadError(`${elf.path}: no executable code in the file`);
    this.finder = finder;
  }

  /** The call instructions inside these functions (depth-0 ranges), each function decoded from its start. */
  calls(functions: readonly SymbolRange[]): CallInstruction[] {
    const found: CallInstruction[] = [];
    for (const fn of functions) {
      const bytes = this.code.bytes(fn.start, fn.end);
      if (bytes !== undefined) this.finder.calls(bytes, fn.start, found);
    }
    return found;
  }
}

/**
 * The executable's code for pads, or why not (a separate debug file has no code; an architecture without a
 * decoder). The caller closes `elf`.
 */
export function openExecutableCode(path: string): { executable: ExecutableCode } | { notUsable: string } {
  let elf: ElfFile;
  try {
    elf = ElfFile.open(path);
  } catch (error) {
    return { notUsable: (error as Error).message };
  }
  try {
    return { executable: new ExecutableCode(elf) };
  } catch (error) {
    elf.close();
    return { notUsable: (error as Error).message };
  }
}

/**
 * The return pads of the executable at `path` from its symbol ranges (all of them: a chain needs every
 * depth), a chunk at a time in address order of the functions. Throws `ReturnPadError` when the file has no
 * code or a machine we cannot decode.
 */
export function* returnPads(
  path: string,
  ranges: Iterable<readonly SymbolRange[]>,
  options: ReturnPadOptions = {},
): Generator<ReturnPad[]> {
  const elf = ElfFile.open(path);
  try {
    yield* returnPadsFrom(new ExecutableCode(elf), new RangeIndex(ranges), options);
  } finally {
    elf.close();
  }
}

export function* returnPadsFrom(
  executable: ExecutableCode,
  index: RangeIndex,
  options: ReturnPadOptions = {},
): Generator<ReturnPad[]> {
  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? DEFAULT_CHUNK_SIZE));
  const { code, finder } = executable;
  // Functions in address order, so the code window only moves forward.
  const functions = index.rangesAt(0);
  let pending: ReturnPad[] = [];
  const calls: CallInstruction[] = [];
  for (const fn of functions) {
    const bytes = code.bytes(fn.start, fn.end);
    if (bytes === undefined) continue;
    if (GO_STACK_START.has(fn.functionName)) {
      const length = finder.firstLength(bytes);
      if (length !== undefined) {
        // Only the function is known for sure: no call site, so no line.
        const frame = {
          functionName: fn.functionName,
          fileName: fn.fileName,
          line: 0,
          startLine: fn.functionLine,
        };
        pending.push({ address: fn.start + length - 1, frames: [frame] });
      }
    }
    calls.length = 0;
    finder.calls(bytes, fn.start, calls);
    for (const call of calls) {
      const frames = index.symbolize(call.address);
      if (frames.length > 0) pending.push({ address: call.address + call.length - 1, frames });
    }
    if (pending.length >= chunkSize) {
      yield pending;
      pending = [];
    }
  }
  if (pending.length > 0) yield pending;
}
