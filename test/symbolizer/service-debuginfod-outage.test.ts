/**
 * A debuginfod outage longer than the symbolizer's longest backoff, with real parts: a real debuginfod
 * (test/peers/debuginfod.ts) serving a test-built program's debug file, a real embedded store holding frames
 * queued by the collector's translator, and the worker with the service's real lookup. While the server is
 * down the executable waits (reason debuginfod-unreachable) with its backoff; once the server is back the
 * client's probe notices, the waiting work is due at once, and every frame is named within a few seconds
 * rather than after what is left of the backoff (up to `retry.maxSeconds`, six hours by default).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { SymbolizerMetrics } from '../../src/symbolizer/service/metrics.ts';
import { createDebugInfoLookup, defaultRangeExtractor } from '../../src/symbolizer/service/wiring.ts';
import { SymbolizerWorker } from '../../src/symbolizer/service/worker.ts';
import { SymbolizedBinary } from '../../src/symbolizer/symbolizer.ts';
import { debuginfodAvailable, startDebuginfod } from '../peers/debuginfod.ts';
import { canBuild, haveTool } from '../peers/toolchains.ts';
import {
  nativeFrameId,
  nativeProfileBatch,
  programAddresses,
  randomFileIdHex,
  splitProgram,
  tempDir,
  waitFor,
  type ProfiledExecutable,
} from './service-fixture.ts';

const NOW = Math.floor(Date.now() / 1000) - 60;
/** The backoff: every failed attempt waits this long (first = max), so the outage outlasts the longest. */
const BACKOFF_SECONDS = 8;
const PROBE_INTERVAL_MS = 250;
/** Once the server is back, every frame is named within this (the backoff left would be some 6 s). */
const NAMED_WITHIN_MS = 3_000;

const skip =
  !(debuginfodAvailable() && canBuild('c-dwarf5') && haveTool('objcopy', 'apt-get install binutils')) &&
  'debuginfod, bsdtar, gcc or objcopy missing (CI=true fails instead)';

describe('symbolizer and a debuginfod outage', { skip, timeout: 180_000 }, () => {
  it('retries the work waiting for a server that was down as soon as it answers, not after the backoff', async (t) => {
    const dir = tempDir(t, 'uniprof-debuginfod-outage-');
    const program = splitProgram(dir);
    // debuginfod's -F directory: the stripped program next to its debug file, as a build tree publishes them.
    const elfDir = join(dir, 'elf');
    mkdirSync(elfDir);
    copyFileSync(program.stripped, join(elfDir, 'prog'));
    copyFileSync(program.debugFile, join(elfDir, 'prog.debug'));
    const debuginfod = await startDebuginfod({ elfDirectories: [elfDir], readyBuildIds: [program.buildId] });
    t.after(() => debuginfod.dispose());

    const store = new EmbeddedStore({ path: join(dir, 'uniprof.duckdb'), seed: 1, commitIntervalMs: 0 });
    await store.open();
    let worker: SymbolizerWorker | undefined = undefined;
    // One hook, worker first: `t.after` hooks run in the order registered, and a DuckDB connection closed
    // under a query in flight leaves that query unanswered, so a worker still polling would never stop.
    t.after(async () => {
      await worker?.stop();
      await store.close();
    });
    const executable: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/bin/prog',
      buildId: program.buildId,
      addresses: programAddresses(program.unstripped, 200),
    };
    await store.write(nativeProfileBatch([executable], NOW));

    const config = loadConfig({
      overrides: [
        `dataDir=${dir}`,
        `symbolizer.debugDirectories=${join(dir, 'no-debug-files')}`,
        `symbolizer.debuginfod.urls=${debuginfod.url}`,
        'symbolizer.debuginfod.timeoutMs=2000',
        'symbolizer.debuginfod.retries=0',
        `symbolizer.debuginfod.probeIntervalMs=${PROBE_INTERVAL_MS}`,
        'symbolizer.pollIntervalMs=50',
        `symbolizer.retry.firstSeconds=${BACKOFF_SECONDS}`,
        `symbolizer.retry.maxSeconds=${BACKOFF_SECONDS}`,
      ],
      env: {},
    });
    const metrics = new SymbolizerMetrics({ processMetrics: false });
    const lookup = createDebugInfoLookup(config, metrics);
    const failures: number[] = [];
    worker = new SymbolizerWorker(
      {
        owner: 'outage-test',
        concurrency: 2,
        pollIntervalMs: config.symbolizer.pollIntervalMs,
        leaseMs: 60_000,
        retry: config.symbolizer.retry,
        debugDirectories: config.symbolizer.debugDirectories,
      },
      {
        store: store.symbolization,
        lookup: {
          find: async (query) => {
            const found = await lookup.find(query);
            if ('notFound' in found) failures.push(Date.now());
            return found;
          },
          findExecutable: lookup.findExecutable?.bind(lookup),
          onSourceBack: lookup.onSourceBack?.bind(lookup),
        },
        extractRanges: defaultRangeExtractor,
        metrics,
        logger: pino({ level: process.env.UNIPROF_TEST_LOG ?? 'silent' }),
      },
    );

    await debuginfod.stop();
    worker.start();
    // Two failed attempts, a backoff apart: the outage has lasted longer than the longest backoff.
    await waitFor('two failed attempts', async () => (failures.length >= 2 ? true : undefined), 60_000);
    const waiting = await waitFor(
      'the executable to wait for debuginfod',
      async () => {
        const backlog = await store.symbolization.backlog();
        return backlog.waitingByReason['debuginfod-unreachable'] === 1 ? backlog : undefined;
      },
      10_000,
    );
    assert.equal(waiting.pendingFrames, executable.addresses.length, 'every frame waits');
    const gap = failures[1] - failures[0];
    assert.ok(gap >= BACKOFF_SECONDS * 1000 - 100, `the second attempt came after the backoff (${gap} ms)`);
    const nextByBackoff = failures[1] + BACKOFF_SECONDS * 1000;

    await debuginfod.start();
    const backAt = Date.now();
    await waitFor(
      'every frame to be answered',
      async () => ((await store.symbolization.backlog()).pendingFrames === 0 ? true : undefined),
      BACKOFF_SECONDS * 1000 + 10_000,
    );
    const namedAfterMs = Date.now() - backAt;
    t.diagnostic(
      `debuginfod was down ${((backAt - failures[0]) / 1000).toFixed(1)} s; every frame answered ` +
        `${namedAfterMs} ms after it was back (the backoff would have waited ${nextByBackoff - backAt} ms more)`,
    );
    assert.ok(
      namedAfterMs < NAMED_WITHIN_MS,
      `every frame answered ${namedAfterMs} ms after debuginfod came back (within ${NAMED_WITHIN_MS} ms)`,
    );
    assert.ok(
      nextByBackoff - backAt > NAMED_WITHIN_MS,
      `the backoff alone would have come later (${nextByBackoff - backAt} ms after): the test tells them apart`,
    );

    // Named as the engine names the unstripped program, not merely taken off the queue.
    const binary = SymbolizedBinary.open(program.unstripped, { functionNames: 'dwarf' });
    const expectNamed = executable.addresses.filter((address) => binary.symbolize(address).length > 0);
    binary.close();
    const ids = executable.addresses.map((address) => nativeFrameId(executable, address));
    const stored = await store.getStackFrames(ids);
    const named = ids.filter((id) => (stored.get(id)?.functionNames.length ?? 0) > 0);
    assert.ok(expectNamed.length > executable.addresses.length * 0.9, 'the engine names most addresses');
    assert.equal(named.length, expectNamed.length, 'every frame the engine names is named');
    assert.deepEqual((await store.symbolization.backlog()).waitingByReason, {});
  });
});
