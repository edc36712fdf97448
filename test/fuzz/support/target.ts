/**
 * What a fuzz target is: a name, the time one case may take, and a preparation step (seeds, peers) that
 * yields the case generator and the check of one input. Inputs are always bytes (text targets take UTF-8),
 * so any case can be written to a file and replayed.
 */
import type fc from 'fast-check';

/** A property broken: a crash (an undocumented exception), a 5xx, a wrong status, a dead server. */
export class FuzzViolation extends Error {
  override readonly name = 'FuzzViolation';
}

/** How a case ended when no property was broken. */
export type Outcome = 'accepted' | 'rejected';

export interface PreparedTarget {
  arbitrary: fc.Arbitrary<Uint8Array>;
  /** Feeds one input; throws FuzzViolation (or anything else: also a violation) when a property breaks. */
  run(input: Uint8Array): Outcome | Promise<Outcome>;
  /** Child processes the target started, so the runner can end them if the worker has to be stopped. */
  childPids?: number[];
  close?(): Promise<void>;
}

export interface FuzzTarget {
  name: string;
  /** What the target exercises, for the runner's listing. */
  description: string;
  /** Longest a single case may take before it counts as a hang. */
  caseBudgetMs: number;
  prepare(): Promise<PreparedTarget>;
}

/**
 * Runs `action` and sorts what it throws: the documented error types are a rejection, anything else a
 * crash, reported with the original stack.
 */
export function expectOnly(
  action: () => void,
  documented: readonly (abstract new (...args: never[]) => Error)[],
): Outcome {
  try {
    action();
    return 'accepted';
  } catch (error) {
    if (documented.some((type) => error instanceof type)) {
      if (!(error as Error).message) throw new FuzzViolation(`${(error as Error).name} without a message`);
      return 'rejected';
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    throw new FuzzViolation(`undocumented exception: ${detail}`);
  }
}
