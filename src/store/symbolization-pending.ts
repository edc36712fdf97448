import type { SymbolizationStore } from './symbolization.ts';

/** TEMPORARY placeholder while the stores' queues are being written; must not reach main. */
export function symbolizationNotYet(kind: string): SymbolizationStore {
  const fail = (): never => {
    throw new Error(`the ${kind} store has no symbolization queue yet`);
  };
  return {
    leaseExecutables: fail,
    renewLease: fail,
    pendingFrames: fail,
    putSymbols: fail,
    filesWithSymbols: fail,
    symbolRanges: fail,
    resolveFrames: fail,
    releaseExecutable: fail,
    backlog: fail,
  };
}
