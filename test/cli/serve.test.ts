import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runLoadgen } from '../../src/loadgen/index.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-serve-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  grpc: string;
  http: string;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `uniprof serve` as a user would and reads the addresses from the banner it prints. */
async function startServe(extra: string[] = []): Promise<Running> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--data-dir',
      dataDir,
      '--grpc-port',
      '0',
      '--http-port',
      '0',
      '--log-level',
      'warn',
      '--set',
      'symbolizer.http.port=0',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve did not start in 60 s:\n${stdout}\n${stderr}`)),
      60_000,
    );
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/data dir/.test(stdout)) {
        clearTimeout(timer);
        resolve(stdout);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${stdout}\n${stderr}`)));
  });
  const grpc = /OTLP gRPC\s+(\S+)/.exec(banner)?.[1];
  const http = /web UI\s+(http:\/\/\S+?)\/\s/.exec(banner)?.[1];
  assert.ok(grpc && http, `banner names the addresses:\n${banner}`);
  return { child, grpc, http, stdout: () => stdout, stderr: () => stderr };
}

async function stopServe(run: Running): Promise<number | null> {
  run.child.kill('SIGTERM');
  const [code] = (await once(run.child, 'exit')) as [number | null];
  return code;
}

async function flamegraphTotal(http: string): Promise<number> {
  const response = await fetch(`${http}/api/flamegraph?from=0&to=4000000000&samplingLevel=0`);
  assert.equal(response.status, 200, await response.clone().text());
  const body = (await response.json()) as { totalCount: number };
  return body.totalCount;
}

describe('uniprof serve', { timeout: 240_000 }, () => {
  it('ingests load, answers queries, stops cleanly and keeps everything acknowledged', async () => {
    let run = await startServe();
    const token = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
    assert.match(run.stdout(), /agent auth\s+bearer token/);
    assert.match(run.stdout(), /symbolizer\s+http:\/\/127\.0\.0\.1:\d+/);
    assert.match(run.stdout(), new RegExp(`symbol upload token in ${join(dataDir, 'symbol-upload-token')}`));
    const uploadToken = readFileSync(join(dataDir, 'symbol-upload-token'), 'utf8').trim();
    assert.notEqual(uploadToken, token, 'the upload token is a secret of its own');
    assert.equal(statSync(join(dataDir, 'symbol-upload-token')).mode & 0o777, 0o600);
    assert.ok(!run.stdout().includes(uploadToken) && !run.stderr().includes(uploadToken));

    const rejected = await runLoadgen({
      target: run.grpc,
      token: 'wrong',
      rate: 500,
      duration: 1,
      hosts: 2,
      timeoutMs: 30_000,
    });
    assert.equal(rejected.samples, 0);
    assert.ok((rejected.errorsByStatus.UNAUTHENTICATED ?? 0) > 0, JSON.stringify(rejected.errorsByStatus));

    const sent = await runLoadgen({
      target: run.grpc,
      token,
      rate: 3000,
      duration: 3,
      hosts: 4,
      timeoutMs: 30_000,
    });
    assert.equal(sent.errors, 0, JSON.stringify(sent.errorMessages));
    assert.ok(sent.samples > 1000, `sent ${sent.samples} samples`);
    assert.equal(await flamegraphTotal(run.http), sent.samples, 'every acknowledged sample is queryable');

    // The in-process symbolizer works on the same store: the load's native frames are queued, and their
    // made-up executables are looked for (and not found).
    const symbolizer = /symbolizer\s+(http:\/\/\S+)/.exec(run.stdout())![1];
    const ready = await fetch(`${symbolizer}/ready`);
    assert.equal(ready.status, 200, await ready.clone().text());
    const deadline = Date.now() + 60_000;
    let metrics = '';
    const failedAttempts = () =>
      [...metrics.matchAll(/^uniprof_symbolizer_executables_failed_total\{[^}]*\} (\d+)/gm)].reduce(
        (sum, match) => sum + Number(match[1]),
        0,
      );
    while (Date.now() < deadline) {
      metrics = await (await fetch(`${symbolizer}/metrics`)).text();
      if (failedAttempts() > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(failedAttempts() > 0, `the symbolizer looked for the load's executables:\n${metrics}`);
    assert.match(metrics, /^uniprof_symbolizer_pending_frames [1-9]\d*$/m);

    const ui = await fetch(`${run.http}/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /<html/i);

    assert.equal(await stopServe(run), 0, run.stderr());

    run = await startServe();
    assert.equal(
      await flamegraphTotal(run.http),
      sent.samples,
      'nothing acknowledged was lost across the restart',
    );
    assert.equal(await stopServe(run), 0, run.stderr());
  });

  it('explains itself: help, configuration errors, when to run the symbolizer alone', () => {
    const help = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--grpc-port/);
    assert.match(help.stdout, /--config/);

    const bad = spawnSync(process.execPath, [BIN, 'serve', '--set', 'collector.grpc.port=70000'], {
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /collector\.grpc\.port/);

    const symbolizer = spawnSync(process.execPath, [BIN, 'symbolizer', '--help'], { encoding: 'utf8' });
    assert.equal(symbolizer.status, 0);
    assert.match(symbolizer.stdout, /one process only/);
    assert.match(symbolizer.stdout, /uniprof serve' already runs the symbolizer/);
  });
});
