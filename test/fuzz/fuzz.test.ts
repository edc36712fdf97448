/**
 * The bounded fuzz run of `npm test`: every target for a few seconds with a fixed seed (the same cases each
 * run), every kept regression input replayed, and proof that the runner itself notices a hang, a heap that
 * grows without bound and an allocation sized from the input. `npm run fuzz` is the long run (test/fuzz/main.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { canBuild, type VariantName } from '../peers/toolchains.ts';
import {
  dwarfDeclaredSizes,
  elfDeclaredSizes,
  pclntabDeclaredSizes,
  protobufDeclaredSizes,
  uploadDeclaredSizes,
} from './support/declared-sizes.ts';
import { readInput, regressionFiles } from './support/inputs.ts';
import { runTarget, type FuzzReport } from './support/runner.ts';
import { TARGETS } from './targets/index.ts';

const SEED = 20261128;
/** Per target: 8 targets, a few tens of seconds in all. */
const BUDGET_MS = Number(process.env.FUZZ_TEST_MS ?? 3_000);
/** Failing inputs are kept for a look after the run (test-artifacts/ is git-ignored, as for the UI test). */
const failureDir = process.env.FUZZ_FAILURE_DIR ?? join('test-artifacts', 'fuzz-failures');
const harnessDir = mkdtempSync(join(tmpdir(), 'uniprof-fuzz-harness-'));
after(() => rmSync(harnessDir, { recursive: true, force: true }));

/** Programs each target builds its seeds from (none: the seeds are in the repository or generated). */
const NEEDS: Record<string, VariantName[]> = {
  elf: ['c-dwarf5', 'c-gz-zlib'],
  dwarf: ['c-dwarf5'],
  pclntab: ['go-stripped', 'go-386'],
  'symbol-upload': ['c-dwarf5'],
};

function explain(report: FuzzReport): string {
  const f = report.failure;
  if (!f) return '';
  return `${f.kind}: ${f.message}\ninput written to ${report.failureFile} (npm run fuzz -- --replay ${report.target} <file>)`;
}

describe('fuzzing (bounded, seeded)', { timeout: 300_000 }, () => {
  for (const target of TARGETS) {
    const missing = (NEEDS[target.name] ?? []).find((v) => !canBuild(v));
    it(`${target.name}: ${target.description}`, { skip: missing && `cannot build ${missing}` }, async (t) => {
      const report = await runTarget(target.name, { seed: SEED, durationMs: BUDGET_MS, failureDir });
      t.diagnostic(
        `${report.cases} cases (${report.casesPerSecond.toFixed(0)}/s), ${report.outcomes.rejected} rejected, ` +
          `slowest ${report.slowestMs.toFixed(0)} ms, RSS +${report.rssGrowthMiB.toFixed(0)} MiB`,
      );
      // Not assert.equal on the failure: a diff of a large input takes the reporter minutes.
      assert.ok(!report.failure, explain(report));
      // A harness that runs nothing must not pass: even the HTTP targets do hundreds of cases a second.
      assert.ok(report.cases >= 20, `only ${report.cases} cases ran`);
      assert.ok(report.outcomes.rejected > 0, 'no case was rejected: the mutations do not reach the decoder');
    });
  }
});

describe('fuzz regressions (inputs that once failed)', { timeout: 120_000 }, () => {
  for (const target of TARGETS) {
    const files = regressionFiles(target.name);
    if (files.length === 0) continue;
    const missing = (NEEDS[target.name] ?? []).find((v) => !canBuild(v));
    it(
      `${target.name}: ${files.length} kept inputs`,
      { skip: missing && `cannot build ${missing}` },
      async () => {
        const report = await runTarget(target.name, {
          seed: 0,
          durationMs: 0,
          replay: files.map(readInput),
          failureDir,
        });
        // Not assert.equal on the failure: a diff of a large input takes the reporter minutes.
        assert.ok(!report.failure, explain(report));
        assert.equal(report.cases, files.length);
      },
    );
  }
});

/** Each input must be refused (never accepted as something else) with its buffers bounded. */
const DECLARED_SIZES: [string, () => Uint8Array[]][] = [
  ['otlp-protobuf', protobufDeclaredSizes],
  ['symbol-upload', uploadDeclaredSizes],
  ['elf', elfDeclaredSizes],
  ['dwarf', dwarfDeclaredSizes],
  ['pclntab', pclntabDeclaredSizes],
];

describe('declared sizes of 4 GiB and more are refused before allocating', { timeout: 120_000 }, () => {
  for (const [target, inputs] of DECLARED_SIZES) {
    const missing = (NEEDS[target] ?? []).find((v) => !canBuild(v));
    it(target, { skip: missing && `cannot build ${missing}` }, async () => {
      const replay = inputs();
      const report = await runTarget(target, {
        seed: 0,
        durationMs: 0,
        replay,
        maxCaseBuffersMiB: 64,
        failureDir,
      });
      assert.ok(!report.failure, explain(report));
      assert.equal(report.outcomes.rejected, replay.length, JSON.stringify(report.outcomes));
    });
  }
});

describe('the fuzz runner notices', { timeout: 120_000 }, () => {
  it('a case that hangs, and keeps its input', async () => {
    const report = await runTarget('harness-hang', { seed: 1, durationMs: 20_000, failureDir: harnessDir });
    assert.equal(report.failure?.kind, 'hang', JSON.stringify(report));
    assert.ok(report.failure.input[0] > 200, `kept input ${report.failure.input[0]}`);
    assert.ok(report.failureFile);
    assert.deepEqual(readInput(report.failureFile), report.failure.input);
  });

  it('a heap that grows without bound (the worker’s heap limit), and keeps its input', async () => {
    const report = await runTarget('harness-heap', { seed: 1, durationMs: 20_000, maxHeapMiB: 64 });
    assert.equal(report.failure?.kind, 'memory', JSON.stringify(report.failure?.message));
    assert.ok(report.failure.input[0] > 200);
  });

  it('an allocation sized from the input (RSS), and keeps its input', async () => {
    const report = await runTarget('harness-rss', { seed: 1, durationMs: 20_000, maxRssGrowthMiB: 256 });
    assert.equal(report.failure?.kind, 'memory', JSON.stringify(report.failure?.message));
    assert.ok(report.failure.input[0] * 2 > 256, `kept input ${report.failure.input[0]}`);
  });
});
