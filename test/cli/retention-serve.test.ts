/**
 * `uniprof serve` on the embedded store runs the retention job: old events written before it started are gone
 * after its first run, which /metrics counts; recent ones stay; it stops cleanly.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyBatch } from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { makeStack } from '../store-elasticsearch/helpers.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const DAY = 86_400;

test('uniprof serve deletes events older than output.embedded.retention.days and counts them on /metrics', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-retention-serve-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const now = Math.floor(Date.now() / 1000);
  const store = new EmbeddedStore({ path: join(dataDir, 'uniprof.duckdb'), seed: 1 });
  await store.open();
  const batch = emptyBatch();
  const stacks = [0, 1, 2, 3].map((i) => makeStack(i, 3).trace);
  batch.stackTraces.push(...stacks);
  const old = 300;
  const recent = 120;
  for (let i = 0; i < old + recent; i++) {
    const timestamp = i < old ? now - 10 * DAY + i : now - 600 + i;
    // The old events alone name the last stack: it is collected.
    const stack = i < old ? stacks[i % 4] : stacks[i % 3];
    batch.events.push({
      timestamp,
      stackTraceId: stack.id,
      count: 1,
      hostId: 'host-1',
      tags: [],
      projectId: 1,
    });
  }
  await store.write(batch);
  await store.close();

  const child = spawn(
    process.execPath,
    [BIN, ...serveOnFreePorts(dataDir), '--set', 'output.embedded.retention.days=7', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = new ProcessOutput(child);
  try {
    await output.until(SERVE_READY);
    const { otlpHttp } = servedAddresses(output.stdout);
    // The first run starts 10 s after start.
    let metrics = '';
    const deadline = Date.now() + 60_000;
    while (!/uniprof_retention_runs_total\{outcome="ok"\} 1/.test(metrics)) {
      assert.ok(Date.now() < deadline, `no retention run within 60 s:\n${metrics}\n${output.stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      metrics = await (await fetch(`${otlpHttp}/metrics`)).text();
    }
    const deleted = (table: string) =>
      Number(
        new RegExp(`uniprof_retention_deleted_rows_total\\{table="${table}"\\} (\\d+)`).exec(metrics)?.[1],
      );
    // Every level: events_all holds all 300, deeper levels about a fifth, a 25th, … of them.
    assert.ok(deleted('events') >= old, `deleted ${deleted('events')} events`);
    assert.equal(deleted('stackTraces'), 1);
  } finally {
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, output.stderr);
  }
  // The run's log line (pino writes asynchronously: read once the process has exited).
  assert.match(output.stdout + output.stderr, /retention: removed data older than 7 days/);
  const reopened = new EmbeddedStore({ path: join(dataDir, 'uniprof.duckdb'), seed: 1 });
  await reopened.open();
  const stats = await reopened.stats();
  await reopened.close();
  assert.equal(stats.events, recent);
  assert.equal(stats.stackTraces, 3);
});
