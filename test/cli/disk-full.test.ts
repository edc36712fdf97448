/**
 * `uniprof serve` (embedded store) on a small file system that fills up under load: agents are told
 * UNAVAILABLE (gRPC) / 503 (OTLP/HTTP), never INTERNAL; `/ready` and the status API say the disk is full;
 * once the space is back ingest resumes by itself; nothing acknowledged is lost.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workload } from '../../src/loadgen/index.ts';
import {
  auditWindows,
  embeddedStoreWindows,
  newLedger,
  nextRequest,
  sendLoad,
  type Ledger,
} from '../support/acknowledged-load.ts';
import { bearer } from '../support/reader-auth.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';
import { createSmallDisk, smallDiskUnsupported, type SmallDisk } from '../support/small-disk.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const DISK_BYTES = 64 << 20;

const unsupported = smallDiskUnsupported();
if (unsupported && process.env.CI === 'true')
  throw new Error(`the disk-full test needs a tmpfs: ${unsupported}`);

let disk: SmallDisk;
before(async () => {
  if (!unsupported) disk = await createSmallDisk(DISK_BYTES);
});
after(async () => {
  await disk?.dispose();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

interface ReadyReport {
  ready: boolean;
  checks: Record<string, boolean>;
  storeProblem?: string;
}

async function ready(otlpHttp: string): Promise<{ status: number; body: ReadyReport }> {
  const response = await fetch(`${otlpHttp}/ready`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as ReadyReport };
}

/** One OTLP/HTTP export of the ledger's next request; its window counts as acknowledged on 200. */
async function postOtlpHttp(otlpHttp: string, token: string, ledger: Ledger, workload: Workload) {
  const { window, body } = nextRequest(ledger, workload, 50);
  const response = await fetch(`${otlpHttp}/v1development/profiles`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${token}` },
    body: Uint8Array.from(body),
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status === 200) ledger.acknowledged.add(window);
  return { status: response.status, retryAfter: response.headers.get('retry-after') };
}

describe('uniprof serve on a full disk', { skip: unsupported, timeout: 300_000 }, () => {
  it('refuses with UNAVAILABLE / 503, says why, resumes by itself and loses nothing acknowledged', async () => {
    const dataDir = disk.mountPoint;
    const child = disk.spawn(process.execPath, [BIN, ...serveOnFreePorts(dataDir)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = new ProcessOutput(child);
    await output.until(SERVE_READY);
    const { grpc, otlpHttp, api } = servedAddresses(output.stdout);
    const secret = (name: string) => readFileSync(disk.outside(join(dataDir, name)), 'utf8').trim();
    const token = secret('secret-token');
    const readToken = secret('read-token');
    const ledger = newLedger();
    const httpWorkload = new Workload({ seed: 99, hosts: 2 });
    const load = sendLoad(ledger, { target: grpc, token, seed: 7, samplesPerRequest: 100, concurrency: 4 });
    try {
      await waitFor('acknowledgements before the disk fills', () => ledger.acknowledged.size >= 10);
      assert.equal((await ready(otlpHttp)).status, 200);

      await disk.fill();
      const refusedBefore = ledger.refusals.get('UNAVAILABLE') ?? 0;
      await waitFor(
        'refusals on a full disk',
        () => (ledger.refusals.get('UNAVAILABLE') ?? 0) >= refusedBefore + 8,
      );
      const notReady = await ready(otlpHttp);
      assert.equal(notReady.status, 503);
      assert.equal(notReady.body.checks.store, false);
      assert.match(notReady.body.storeProblem ?? '', /disk is full/);
      const http = await postOtlpHttp(otlpHttp, token, ledger, httpWorkload);
      assert.equal(http.status, 503, 'OTLP/HTTP answers 503 on a full disk');
      assert.ok(http.retryAfter, 'with a Retry-After');
      const status = await fetch(`${api}/api/status`, {
        headers: bearer(readToken),
        signal: AbortSignal.timeout(10_000),
      });
      const statusBody = (await status.json()) as { storage?: { writable: boolean; problem?: string } };
      if (status.status === 200) {
        assert.equal(statusBody.storage?.writable, false);
        assert.match(statusBody.storage?.problem ?? '', /disk is full/);
      } else {
        // The database is being reopened: the status cannot be read, and the answer says why.
        assert.equal(status.status, 503);
        assert.match(JSON.stringify(statusBody), /disk is full/);
      }

      await disk.free();
      await waitFor('ready again once the space is back', async () => (await ready(otlpHttp)).status === 200);
      const acknowledgedAfterFree = ledger.acknowledged.size;
      await waitFor(
        'acknowledgements after the space is back',
        () => ledger.acknowledged.size >= acknowledgedAfterFree + 10,
      );
      assert.equal((await postOtlpHttp(otlpHttp, token, ledger, httpWorkload)).status, 200);
    } finally {
      await load.stop();
      child.kill('SIGTERM');
      const exited = once(child, 'exit');
      const stuck = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const [code, signal] = (await exited) as [number | null, string | null];
      clearTimeout(stuck);
      assert.equal(signal, null, `serve did not stop on SIGTERM:\n${output.stderr}`);
      assert.equal(code, 0, output.stderr);
    }
    const refusalKinds = [...ledger.refusals.keys()];
    assert.deepEqual(refusalKinds, ['UNAVAILABLE'], `refusals: ${JSON.stringify([...ledger.refusals])}`);
    // DuckDB resolves the /proc/<pid>/root link to the path in this namespace: read a copy of the files.
    const copy = mkdtempSync(join(tmpdir(), 'uniprof-disk-full-'));
    try {
      for (const name of ['uniprof.duckdb', 'uniprof.duckdb.wal']) {
        const file = disk.outside(join(dataDir, name));
        if (existsSync(file)) copyFileSync(file, join(copy, name));
      }
      const stored = await embeddedStoreWindows(join(copy, 'uniprof.duckdb'), ledger);
      assert.deepEqual(auditWindows(ledger, stored), []);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
