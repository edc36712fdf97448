/**
 * `npm run fuzz`: the long fuzz run. Runs each target for its share of the duration (in turn, one worker at a
 * time), prints cases per second per target, writes any failing input under fuzz-failures/ and exits 1 if
 * there was one.
 *
 *   npm run fuzz -- [--duration 600] [--seed N] [--targets otlp-protobuf,filter] [--out fuzz-failures]
 *   npm run fuzz -- --replay <target> <file>...     run saved inputs again (a failure file, a regression)
 *
 * FUZZ_DURATION (seconds, whole run) and FUZZ_SEED do the same as the flags.
 */
import { readInput } from './support/inputs.ts';
import { parseArgs } from 'node:util';
import { runTarget, type FuzzReport } from './support/runner.ts';
import { TARGETS } from './targets/index.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: process.env.FUZZ_DURATION ?? '600' },
    seed: { type: 'string', default: process.env.FUZZ_SEED ?? String(Date.now() % 2 ** 31) },
    targets: { type: 'string' },
    out: { type: 'string', default: 'fuzz-failures' },
    replay: { type: 'string' },
  },
});

function line(report: FuzzReport): string {
  const { accepted, rejected } = report.outcomes;
  const verdict = report.failure ? `FAILED (${report.failure.kind})` : 'ok';
  return (
    `${report.target.padEnd(15)} ${String(report.cases).padStart(9)} cases ` +
    `${report.casesPerSecond.toFixed(0).padStart(7)}/s  accepted ${accepted}, rejected ${rejected}, ` +
    `slowest ${report.slowestMs.toFixed(0)} ms, RSS +${report.rssGrowthMiB.toFixed(0)} MiB  ${verdict}`
  );
}

let failed = false;
if (values.replay) {
  const inputs = positionals.map(readInput);
  const report = await runTarget(values.replay, {
    seed: 0,
    durationMs: 0,
    replay: inputs,
    failureDir: values.out,
  });
  console.log(line(report));
  if (report.failure) console.log(`${report.failure.message}\n-> ${report.failureFile}`);
  failed = report.failure !== undefined;
} else {
  const seed = Number(values.seed);
  const names = values.targets ? values.targets.split(',') : TARGETS.map((t) => t.name);
  const share = (Number(values.duration) * 1000) / names.length;
  console.log(`fuzzing ${names.join(', ')} for ${values.duration} s in all, seed ${seed}`);
  const reports: FuzzReport[] = [];
  for (const name of names) {
    const report = await runTarget(name, { seed, durationMs: share, failureDir: values.out });
    console.log(line(report));
    if (report.failure) {
      failed = true;
      console.log(
        `  ${report.failure.message.split('\n').slice(0, 6).join('\n  ')}\n  -> ${report.failureFile}`,
      );
    }
    reports.push(report);
  }
  const total = reports.reduce((n, r) => n + r.cases, 0);
  console.log(`${total} cases in all, ${reports.filter((r) => r.failure).length} targets failed`);
}
process.exit(failed ? 1 : 0);
