/**
 * Records the seed corpus of the OTLP fuzz targets from the real eBPF profiler agent: the agent (the pinned
 * release the e2e test uses) reports to `uniprof serve` through the gRPC tap, which keeps each Export
 * request's message bytes; the smallest few distinct ones are written to test/fuzz/corpus/agent-*.binpb.
 * Needs root and an eBPF-capable kernel, so it is run by hand when the agent's wire format changes:
 *
 *   node --import tsx test/fuzz/capture-agent-requests.ts [seconds]
 *
 * (UNIPROF_AGENT_MEMLOCK_SHIM=1 as for the e2e test on hosts that withhold CAP_SYS_RESOURCE.)
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildMemlockShim, prepareAgentHost, provisionAgent, startAgent } from '../peers/agent.ts';
import { GrpcTap } from '../e2e/support/otlp-tap.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';
import { decodeExportRequestView } from '../../src/protocol/otlp-profiles.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const CORPUS = new URL('./corpus/', import.meta.url).pathname;
const KEEP = 4;
/** Seeds stay small so that mutations are cheap and the corpus fits a repository. */
const MAX_SEED_BYTES = 64 * 1024;

const seconds = Number(process.argv[2] ?? 25);
const readiness = await prepareAgentHost();
const shim =
  readiness.onlyMemlockBlocks && process.env.UNIPROF_AGENT_MEMLOCK_SHIM === '1'
    ? await buildMemlockShim()
    : undefined;
if (readiness.blockers.length > 0 && !shim)
  throw new Error(`agent cannot run here: ${readiness.blockers.join('; ')}`);

const work = mkdtempSync(join(tmpdir(), 'uniprof-capture-'));
const serve = spawn(
  process.execPath,
  [BIN, ...serveOnFreePorts(join(work, 'data')), '--set', 'collector.auth.disabled=true'],
  {
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
const output = new ProcessOutput(serve);
try {
  await output.until(SERVE_READY);
  const [host, port] = servedAddresses(output.stdout).grpc.split(':');
  const tap = new GrpcTap({ host, port: Number(port) });
  const tapPort = await tap.listen();
  const agent = await startAgent({
    binary: await provisionAgent(),
    collector: `127.0.0.1:${tapPort}`,
    reportIntervalSeconds: 5,
    samplesPerSecond: 20,
    memlockShim: shim,
  });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await agent.stop();
  await tap.close();
  const seen = new Set<string>();
  const kept = tap.requests
    .map((r) => r.message)
    .filter((message) => {
      const hash = createHash('sha256').update(message).digest('hex');
      if (seen.has(hash) || message.length > MAX_SEED_BYTES) return false;
      seen.add(hash);
      decodeExportRequestView(message); // a seed must be a valid request
      return true;
    })
    .sort((a, b) => b.length - a.length)
    .slice(0, KEEP);
  kept.forEach((message, i) => writeFileSync(join(CORPUS, `agent-${i + 1}.binpb`), message));
  console.log(
    `captured ${tap.requests.length} requests; kept ${kept.length} (${kept.map((m) => m.length).join(', ')} bytes)`,
  );
} finally {
  serve.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
