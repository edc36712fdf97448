/**
 * A short soak (`npm run soak` runs the long one): 100 simulated agents against a real `uniprof serve` for
 * UNIPROF_SOAK_TEST_SECONDS (default 150). After the fleet's cold arrival (45 s), no Export fails, the server's RSS
 * levels off over the last third and query latency stays flat. The RSS plot and CSV are in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak } from '../support/soak.ts';

const SECONDS = Number(process.env.UNIPROF_SOAK_TEST_SECONDS ?? 150);

test(`soak: 100 agents for ${SECONDS} s — no errors after the cold start, RSS on a plateau, queries flat`, async (t) => {
  const result = await runSoak({
    seconds: SECONDS,
    name: 'soak-test',
    queryEverySeconds: 20,
    warmupSeconds: 45,
  });
  const { fleet, plateau, queryTrend } = result;
  t.diagnostic(
    `${fleet.requests} Exports, ${fleet.errors} failed (${result.warmupErrors} in the cold start), p50 ` +
      `${fleet.latencyMs.p50.toFixed(0)} ms, p99 ${fleet.latencyMs.p99.toFixed(0)} ms; RSS peak ` +
      `${result.peakRssMiB.toFixed(0)} MiB, last third ${plateau.lastThirdGrowthMiB.toFixed(0)} MiB trend; ` +
      `flamegraph ${queryTrend.firstThirdMs.flamegraph.toFixed(0)} → ${queryTrend.lastThirdMs.flamegraph.toFixed(0)} ms, ` +
      `top functions ${queryTrend.firstThirdMs.topN.toFixed(0)} → ${queryTrend.lastThirdMs.topN.toFixed(0)} ms; ${result.svg}`,
  );
  assert.ok(fleet.samples > 0.5 * ((100 * 800) / 5) * SECONDS, `the fleet got ${fleet.samples} samples in`);
  assert.equal(
    result.errorsAfterWarmup,
    0,
    `Exports failed after the cold start: ${fleet.errorMessages.join('; ')}`,
  );
  assert.deepEqual(result.queryErrors, []);
  assert.ok(
    result.queries.every((q) => q.totalCount > 0),
    'every query round saw the fleet’s samples',
  );
  assert.ok(plateau.ok, `RSS still grows: ${JSON.stringify(plateau)}`);
  assert.ok(queryTrend.ok, `query latency grows: ${JSON.stringify(queryTrend)}`);
});
