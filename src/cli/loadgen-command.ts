import { readFileSync } from 'node:fs';
import { runLoadgen, type LoadgenStats } from '../loadgen/index.ts';

function formatStats(s: LoadgenStats): string {
  return (
    `${s.requests} requests, ${s.samples} samples in ${s.elapsedSeconds.toFixed(1)} s ` +
    `(${Math.round(s.achievedRate)} samples/s), ${s.errors} errors, ` +
    `latency p50 ${s.latencyMs.p50.toFixed(1)} ms p99 ${s.latencyMs.p99.toFixed(1)} ms`
  );
}

/** `uniprof loadgen`: progress once a second on stderr, the totals on stdout. */
export async function runLoadgenCommand(options: Record<string, unknown>): Promise<void> {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const stats = await runLoadgen({
    target: String(options.target),
    token: (options.token as string | undefined) ?? process.env.UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN,
    rate: options.rate as number,
    duration: options.duration as number,
    hosts: options.hosts as number,
    seed: options.seed as number,
    tls: options.tls === true,
    caCertificate: options.ca ? readFileSync(String(options.ca)) : undefined,
    signal: controller.signal,
    onProgress: (progress) => process.stderr.write(`\r${formatStats(progress)}`),
  });
  process.stderr.write('\n');
  console.log(formatStats(stats));
  for (const [status, count] of Object.entries(stats.errorsByStatus)) console.log(`  ${status}: ${count}`);
  for (const message of stats.errorMessages) console.log(`  e.g. ${message}`);
  if (stats.errors > 0 && stats.samples === 0) process.exitCode = 1;
}
