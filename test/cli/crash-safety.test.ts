/**
 * `uniprof serve` with the embedded store, killed with SIGKILL under load at a seeded random moment, twenty
 * times on one data directory: the store opens every time, and every request acknowledged before a kill is
 * there afterwards, whole (and none is there in part). UNIPROF_CRASH_SEED repeats a failing run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { seededRandom } from '../../src/model/index.ts';
import {
  answered,
  auditWindows,
  embeddedStoreWindows,
  newLedger,
  sendLoad,
  type Ledger,
} from '../support/acknowledged-load.ts';
import { bearer, generatedReadToken } from '../support/reader-auth.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const SEED = Number(process.env.UNIPROF_CRASH_SEED ?? 13);
const ROUNDS = 20;
const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-crash-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

async function startServe(): Promise<{ child: ReturnType<typeof spawn>; grpc: string; api: string }> {
  const child = spawn(process.execPath, [BIN, ...serveOnFreePorts(dataDir)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = new ProcessOutput(child);
  await output.until(SERVE_READY);
  const { grpc, api } = servedAddresses(output.stdout);
  return { child, grpc, api };
}

describe('crash safety of the embedded store', { timeout: 300_000 }, () => {
  it(`keeps every acknowledged request through ${ROUNDS} SIGKILLs under load (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const ledger = newLedger();
    for (let round = 0; round < ROUNDS; round++) {
      const serve = await startServe();
      const token = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
      const before = ledger.acknowledged.size;
      const answeredBefore = answered(ledger);
      const load = sendLoad(ledger, {
        target: serve.grpc,
        token,
        seed: SEED * 100 + round,
        samplesPerRequest: 100,
        concurrency: 4,
      });
      // Kill at a seeded moment under load: once the first answer came (a cold start takes a while), right
      // away or up to two seconds later.
      await waitFor(() => answered(ledger) > answeredBefore);
      await sleep(Math.floor(random() * 2000));
      serve.child.kill('SIGKILL');
      await once(serve.child, 'exit');
      await load.stop();
      const problems = auditWindows(
        ledger,
        await embeddedStoreWindows(join(dataDir, 'uniprof.duckdb'), ledger),
      );
      assert.deepEqual(problems, [], `after kill ${round + 1} (seed ${SEED})`);
      assert.ok(
        ledger.acknowledged.size > before,
        `round ${round + 1} acknowledged nothing; refusals: ${JSON.stringify([...ledger.refusals])}`,
      );
    }

    // The product's own read path agrees after the last recovery.
    const serve = await startServe();
    try {
      const stored = await storedWindowsViaApi(serve.api, ledger);
      const acknowledgedSamples = [...ledger.acknowledged].reduce((sum, w) => sum + ledger.sent.get(w)!, 0);
      assert.ok(
        stored >= acknowledgedSamples,
        `${stored} samples served, ${acknowledgedSamples} acknowledged`,
      );
    } finally {
      serve.child.kill('SIGTERM');
      await once(serve.child, 'exit');
    }
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `nothing answered within ${timeoutMs} ms`);
    await sleep(10);
  }
}

async function storedWindowsViaApi(api: string, ledger: Ledger): Promise<number> {
  const to = ledger.start + (ledger.sent.size + 1) * 5;
  const response = await fetch(`${api}/api/flamegraph?from=${ledger.start}&to=${to}&samplingLevel=0`, {
    headers: bearer(generatedReadToken(dataDir)),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { totalCount: number }).totalCount;
}
