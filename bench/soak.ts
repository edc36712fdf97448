/**
 * `npm run soak [-- SECONDS]`: 100 simulated agents against a real `uniprof serve` for a while (default 3600 s;
 * also UNIPROF_SOAK_SECONDS), then the verdict: no errors, RSS on a plateau over the last third (its trend adds less than max(32 MiB, 5 %)), query latency
 * flat. Writes test-artifacts/soak.csv (RSS, fleet totals and query latency over time) and soak.svg (RSS plot).
 * Knobs: UNIPROF_SOAK_HOSTS (default 100), UNIPROF_SOAK_REQUEST_SAMPLES (default 800).
 */
import { runSoak } from '../test/support/soak.ts';

const seconds = Number(process.argv[2] ?? process.env.UNIPROF_SOAK_SECONDS ?? 3600);
if (!(seconds > 0))
  throw new Error(`soak: the duration must be a number of seconds > 0, got ${process.argv[2]}`);
const hosts = Number(process.env.UNIPROF_SOAK_HOSTS ?? 100);
const samplesPerRequest = Number(process.env.UNIPROF_SOAK_REQUEST_SAMPLES ?? 800);
console.log(`soak: ${hosts} agents, ${samplesPerRequest} samples per 5 s each, for ${seconds} s`);
let lastPrint = 0;
const result = await runSoak({
  seconds,
  hosts,
  samplesPerRequest,
  onSample: (s) => {
    if (s.t - lastPrint < 60) return;
    lastPrint = s.t;
    console.log(
      `${(s.t / 60).toFixed(1).padStart(6)} min  RSS ${s.rssMiB.toFixed(0).padStart(5)} MiB  ` +
        `${s.requests} requests, ${s.errors} errors`,
    );
  },
});
const { fleet, plateau, queryTrend } = result;
const ms = (v: number) => `${v.toFixed(0)} ms`;
console.log(
  `fleet: ${fleet.requests} requests, ${fleet.samples.toLocaleString('en-US')} samples acknowledged ` +
    `(${fleet.achievedRate.toFixed(0)}/s), ${fleet.errors} errors${fleet.errors ? ` ${JSON.stringify(fleet.errorsByStatus)}` : ''} ` +
    `(${result.warmupErrors} in the first 30 s, ${result.errorsAfterWarmup} after); ` +
    `Export latency p50 ${ms(fleet.latencyMs.p50)}, p99 ${ms(fleet.latencyMs.p99)}, max ${ms(fleet.latencyMs.max)}`,
);
console.log(
  `RSS: peak ${result.peakRssMiB.toFixed(0)} MiB, final ${result.finalRssMiB.toFixed(0)} MiB; last third ` +
    `${plateau.lastThirdSlopeMiBPerMin.toFixed(2)} MiB/min, ${plateau.lastThirdGrowthMiB.toFixed(0)} MiB over it ` +
    `(limit ${plateau.limitMiB.toFixed(0)} MiB): ` +
    (plateau.ok ? 'plateau' : 'STILL GROWING'),
);
console.log(
  `queries (${result.queries.length} rounds, ${result.queryErrors.length} failed): flamegraph median ` +
    `${ms(queryTrend.firstThirdMs.flamegraph)} → ${ms(queryTrend.lastThirdMs.flamegraph)}, top functions ` +
    `${ms(queryTrend.firstThirdMs.topN)} → ${ms(queryTrend.lastThirdMs.topN)} (first → last third): ` +
    (queryTrend.ok ? 'flat' : 'GROWING'),
);
for (const error of [...fleet.errorMessages, ...result.queryErrors]) console.log(`  error: ${error}`);
console.log(`written: ${result.csv}, ${result.svg}`);
const ok =
  result.errorsAfterWarmup === 0 &&
  result.queryErrors.length === 0 &&
  plateau.ok &&
  queryTrend.ok &&
  fleet.requests > 0;
if (!ok && result.serverLog)
  console.log(`server log (warnings and errors):\n${result.serverLog.slice(-4000)}`);
process.exitCode = ok ? 0 : 1;
