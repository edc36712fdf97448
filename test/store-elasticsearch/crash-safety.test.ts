/**
 * `uniprof serve` writing to Elasticsearch through its spool, killed with SIGKILL under load at a seeded
 * random moment, again and again on one data directory — every other time with Elasticsearch out of reach,
 * so that the kill comes while acknowledged data waits in the spool. Then one last start with the cluster
 * there: every acknowledged request reaches Elasticsearch, whole, once. UNIPROF_CRASH_SEED repeats a run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../../src/model/index.ts';
import {
  answered,
  auditWindows,
  elasticsearchWindows,
  newLedger,
  sendLoad,
} from '../support/acknowledged-load.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const SEED = Number(process.env.UNIPROF_CRASH_SEED ?? 13);
const ROUNDS = 6;
const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-es-crash-'));
const spoolDir = join(dataDir, 'elasticsearch-spool');
let peer: ElasticsearchPeer;
/** A port nothing listens on: Elasticsearch "out of reach". */
let deadPort: number;

before(async () => {
  peer = await startElasticsearch();
  deadPort = await unusedPort();
});
after(async () => {
  await peer?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startServe(reachable: boolean) {
  const ca = join(dataDir, 'es-ca.pem');
  writeFileSync(ca, peer.caPem);
  const host = reachable ? peer.url : `https://127.0.0.1:${deadPort}`;
  const child = spawn(
    process.execPath,
    [
      BIN,
      ...serveOnFreePorts(dataDir),
      ...['--set', 'output.type=elasticsearch', '--set', `output.elasticsearch.hosts=${host}`],
      ...['--set', `output.elasticsearch.username=${peer.username}`],
      ...['--set', `output.elasticsearch.password=${peer.password}`],
      ...['--set', `output.elasticsearch.tls.ca=${ca}`],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = new ProcessOutput(child);
  await output.until(SERVE_READY);
  return { child, output, grpc: servedAddresses(output.stdout).grpc };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const spooledSegments = () => readdirSync(spoolDir).filter((name) => /^\d+\.(open|seg)$/.test(name));

describe('crash safety of the Elasticsearch spool', { timeout: 300_000 }, () => {
  it(`delivers every acknowledged request through ${ROUNDS} SIGKILLs under load (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const ledger = newLedger();
    let killedWithSpool = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Odd rounds: Elasticsearch out of reach, everything acknowledged waits in the spool.
      const serve = await startServe(round % 2 === 0);
      const token = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
      const acknowledgedBefore = ledger.acknowledged.size;
      const answeredBefore = answered(ledger);
      const load = sendLoad(ledger, {
        target: serve.grpc,
        token,
        seed: SEED * 100 + round,
        samplesPerRequest: 100,
        concurrency: 2,
      });
      await waitFor('a first answer', () => answered(ledger) > answeredBefore);
      await sleep(Math.floor(random() * 2000));
      serve.child.kill('SIGKILL');
      await once(serve.child, 'exit');
      await load.stop();
      if (spooledSegments().length > 0) killedWithSpool++;
      assert.ok(
        ledger.acknowledged.size > acknowledgedBefore,
        `round ${round + 1} acknowledged nothing: ${JSON.stringify([...ledger.refusals])}\n${serve.output.stderr}`,
      );
    }
    assert.ok(killedWithSpool >= ROUNDS / 2, `only ${killedWithSpool} kills left data in the spool`);

    // The last start finds the cluster: the spool drains, and a clean stop leaves nothing behind.
    const serve = await startServe(true);
    try {
      await waitFor('the spool to drain', () => spooledSegments().length === 0, 120_000);
    } finally {
      serve.child.kill('SIGTERM');
      await once(serve.child, 'exit');
    }
    assert.equal(existsSync(join(spoolDir, 'rejected.ndjson')), false, 'no document was set aside');
    assert.deepEqual(
      auditWindows(ledger, await elasticsearchWindows(peer, ledger, { wholeIndex: true })),
      [],
    );
    assert.ok(ledger.acknowledged.size > 0);
  });
});
