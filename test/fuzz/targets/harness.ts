/**
 * Targets that misbehave on purpose, so the tests can show the runner notices: one hangs on some inputs,
 * one builds an ever larger JS array (the V8 heap limit of the worker), one fills a buffer of the size the
 * input declares (RSS). Not part of `npm run fuzz`.
 */
import fc from 'fast-check';
import { FuzzViolation, type FuzzTarget } from '../support/target.ts';

const firstByte = fc.uint8Array({ minLength: 1, maxLength: 4 });

export const harnessTargets: readonly FuzzTarget[] = [
  {
    name: 'harness-hang',
    description: 'loops forever when the first byte is above 200',
    caseBudgetMs: 200,
    async prepare() {
      return {
        arbitrary: firstByte,
        run(input) {
          if (input[0] > 200) for (;;);
          return 'accepted';
        },
      };
    },
  },
  {
    name: 'harness-heap',
    description: 'grows a JS array without bound when the first byte is above 200',
    caseBudgetMs: 60_000,
    async prepare() {
      return {
        arbitrary: firstByte,
        run(input) {
          const kept: number[][] = [];
          if (input[0] > 200) for (;;) kept.push(new Array<number>(1 << 16).fill(input[0]));
          return 'accepted';
        },
      };
    },
  },
  {
    name: 'harness-rss',
    description: 'fills a buffer of (first byte) × 2 MiB, as a reader trusting a declared size would',
    caseBudgetMs: 10_000,
    async prepare() {
      return {
        arbitrary: firstByte,
        run(input) {
          const buffer = Buffer.allocUnsafe(input[0] * 2 * 1024 * 1024).fill(1);
          // Held past the watchdog's next look, as a real decoder holds what it decoded.
          const until = Date.now() + 100;
          while (Date.now() < until);
          if (buffer.length < 0) throw new FuzzViolation('unreachable');
          return 'accepted';
        },
      };
    },
  },
];
