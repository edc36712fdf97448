/**
 * The symbolizer service end to end, with real parts only: the collector's translator writes native frames
 * into a real embedded (DuckDB) store; the worker finds a gcc -g program's debug file by build ID in a debug
 * directory, extracts its symbol ranges, and answers the queued frames; the answers must equal what the
 * engine (`SymbolizedBinary.symbolize`) says for the unstripped program. Then the `uniprof symbolizer`
 * command as a child process: health, readiness, metrics, the locked-file refusal, and kill -9 in the middle
 * of a large file.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { fileIdFromHex, type StackFrameSymbols } from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import type { Store } from '../../src/store/store.ts';
import type { SymbolizationStore } from '../../src/store/symbolization.ts';
import { SymbolizerMetrics } from '../../src/symbolizer/service/metrics.ts';
import type { DebugInfoLookup } from '../../src/symbolizer/service/sources.ts';
import { createDebugInfoLookup, defaultRangeExtractor } from '../../src/symbolizer/service/wiring.ts';
import { SymbolizerWorker } from '../../src/symbolizer/service/worker.ts';
import { SymbolizedBinary, toStackFrameSymbols } from '../../src/symbolizer/symbolizer.ts';
import { canBuild, haveTool } from '../peers/toolchains.ts';
import {
  corruptSectionCopy,
  installDebugFile,
  nativeFrameId,
  nativeProfileBatch,
  programAddresses,
  randomFileIdHex,
  splitProgram,
  tempDir,
  waitFor,
  type ProfiledExecutable,
} from './service-fixture.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const NOW = Math.floor(Date.now() / 1000) - 60;
const canRun = canBuild('c-dwarf5') && haveTool('objcopy', 'apt-get install binutils');
const quiet = () => pino({ level: process.env.UNIPROF_TEST_LOG ?? 'silent' });

function testConfig(dataDir: string, debugDir: string, extra: Record<string, unknown> = {}): Config {
  const config = loadConfig({
    overrides: [
      `dataDir=${dataDir}`,
      `symbolizer.debugDirectories=${debugDir}`,
      'symbolizer.debuginfod.urls=',
      'symbolizer.pollIntervalMs=50',
    ],
    env: {},
  });
  return { ...config, symbolizer: { ...config.symbolizer, ...extra } };
}

/** Things to stop at the end of a test, last started first (the worker before the store it uses). */
function cleanups(t: TestContext): (stop: () => Promise<unknown>) => void {
  const stack: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const stop of stack.reverse()) await stop().catch(() => undefined);
  });
  return (stop) => stack.push(stop);
}

async function openStore(onEnd: (stop: () => Promise<unknown>) => void, path: string): Promise<Store> {
  const store = new EmbeddedStore({ path, seed: 1, commitIntervalMs: 0 });
  await store.open();
  onEnd(() => store.close());
  return store;
}

/**
 * A worker on `store` with the service's real lookup and extractor (the lookup may be wrapped to watch it, and
 * the worker given a view of the store's queue that delays some answers).
 */
function startWorker(
  onEnd: (stop: () => Promise<unknown>) => void,
  store: Store,
  config: Config,
  wrap: (lookup: DebugInfoLookup) => DebugInfoLookup = (lookup) => lookup,
  symbolization: SymbolizationStore = store.symbolization,
): { worker: SymbolizerWorker; metrics: SymbolizerMetrics } {
  const metrics = new SymbolizerMetrics({ processMetrics: false });
  const settings = config.symbolizer;
  const worker = new SymbolizerWorker(
    {
      owner: 'test-worker',
      concurrency: settings.concurrency,
      pollIntervalMs: settings.pollIntervalMs,
      leaseMs: settings.leaseSeconds * 1000,
      retry: settings.retry,
      debugDirectories: settings.debugDirectories,
    },
    {
      store: symbolization,
      lookup: wrap(createDebugInfoLookup(config, metrics)),
      extractRanges: defaultRangeExtractor,
      metrics,
      logger: quiet(),
    },
  );
  metrics.observeBacklog(() => store.symbolization.backlog());
  worker.start();
  onEnd(() => worker.stop());
  return { worker, metrics };
}

async function queueDrained(store: Store): Promise<true | undefined> {
  return (await store.symbolization.backlog()).pendingFrames === 0 ? true : undefined;
}

/** What the engine says for each address of the unstripped file, as the frame documents readers get. */
function expectedSymbols(binaryPath: string, executable: ProfiledExecutable): Map<string, StackFrameSymbols> {
  const binary = SymbolizedBinary.open(binaryPath, { functionNames: 'dwarf' });
  try {
    const expected = new Map<string, StackFrameSymbols>();
    for (const address of executable.addresses) {
      const chain = binary.symbolize(address);
      const id = nativeFrameId(executable, address);
      if (chain.length > 0) expected.set(id, toStackFrameSymbols(id, chain));
    }
    return expected;
  } finally {
    binary.close();
  }
}

async function assertNamed(
  store: Store,
  executable: ProfiledExecutable,
  expected: Map<string, StackFrameSymbols>,
): Promise<void> {
  const ids = executable.addresses.map((a) => nativeFrameId(executable, a));
  const stored = await store.getStackFrames(ids);
  let named = 0;
  for (const id of ids) {
    assert.deepEqual(stored.get(id), expected.get(id), `frame ${id}`);
    if (expected.has(id)) named++;
  }
  assert.ok(named > executable.addresses.length * 0.9, `most frames named (${named} of ${ids.length})`);
}

describe('symbolizer service', { skip: !canRun && 'gcc or objcopy missing', timeout: 600_000 }, () => {
  it('names frames queued by the real translator as the engine names the unstripped program', async (t) => {
    const dir = tempDir(t);
    const program = splitProgram(dir);
    const debugDir = join(dir, 'debug');
    installDebugFile(debugDir, program.buildId, program.debugFile);
    const executable: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/bin/prog',
      buildId: program.buildId,
      addresses: programAddresses(program.unstripped, 600),
    };
    const onEnd = cleanups(t);
    const store = await openStore(onEnd, join(dir, 'uniprof.duckdb'));
    const batch = nativeProfileBatch([executable], NOW);
    assert.equal(batch.pendingFrames?.length, executable.addresses.length);
    await store.write(batch);
    assert.equal((await store.symbolization.backlog()).pendingFrames, executable.addresses.length);

    const { metrics } = startWorker(onEnd, store, testConfig(dir, debugDir));
    await waitFor('the queue to drain', () => queueDrained(store));
    const expected = expectedSymbols(program.unstripped, executable);
    await assertNamed(store, executable, expected);
    assert.equal(await counter(metrics, 'uniprof_symbolizer_frames_symbolized_total'), expected.size);
    assert.equal(
      await counter(metrics, 'uniprof_symbolizer_frames_without_symbols_total'),
      executable.addresses.length - expected.size,
    );
    assert.equal(
      await counter(metrics, 'uniprof_symbolizer_executables_symbolized_total{source="local"}'),
      1,
    );
  });

  it('names frames queued while it released their executable, when its next lease comes back first', async (t) => {
    // The embedded store commits a release and the worker's next lease in one transaction when both wait for
    // it: the lease's answer may reach the worker before the released task has ended. Here the release's
    // answer is held back a while (the store's work is real), with new frames queued just before it.
    const dir = tempDir(t);
    const program = splitProgram(dir);
    const debugDir = join(dir, 'debug');
    installDebugFile(debugDir, program.buildId, program.debugFile);
    const addresses = programAddresses(program.unstripped, 200);
    const first: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/bin/prog',
      buildId: program.buildId,
      addresses: addresses.slice(0, 100),
    };
    const later = { ...first, addresses: addresses.slice(100) };
    const onEnd = cleanups(t);
    const store = await openStore(onEnd, join(dir, 'uniprof.duckdb'));
    await store.write(nativeProfileBatch([first], NOW));
    const real = store.symbolization;
    let releases = 0;
    let laterQueued = false;
    const slowRelease = new Proxy(real, {
      get(target, property, receiver) {
        if (property !== 'releaseExecutable') {
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (...args: Parameters<SymbolizationStore['releaseExecutable']>) => {
          if (releases++ === 0) {
            await store.write(nativeProfileBatch([later], NOW + 1));
            laterQueued = true;
          }
          const released = await target.releaseExecutable(...args);
          await sleep(500);
          return released;
        };
      },
    });
    const config = testConfig(dir, debugDir);
    startWorker(onEnd, store, config, undefined, slowRelease);
    // Answered, and released a second time: the frames may be stored a moment before the release that
    // follows them is called, so both are waited for.
    await waitFor(
      'the frames queued during the release to be answered and the executable released again',
      async () => (laterQueued && releases >= 2 ? queueDrained(store) : undefined),
      15_000,
    );
    assert.ok(config.symbolizer.leaseSeconds * 1000 > 15_000, 'not answered by a lease that expired');
    await assertNamed(store, later, expectedSymbols(program.unstripped, later));
  });

  it('retries a file whose debug file is missing with backoff and the reason, then names its old frames', async (t) => {
    const dir = tempDir(t);
    const program = splitProgram(dir);
    const debugDir = join(dir, 'debug');
    const executable: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/bin/prog',
      buildId: program.buildId,
      addresses: programAddresses(program.unstripped, 200),
    };
    const onEnd = cleanups(t);
    const store = await openStore(onEnd, join(dir, 'uniprof.duckdb'));
    await store.write(nativeProfileBatch([executable], NOW));
    const lookups: number[] = [];
    const config = testConfig(dir, debugDir, { retry: { firstSeconds: 1, maxSeconds: 4 } });
    const { metrics } = startWorker(onEnd, store, config, (lookup) => ({
      find: (query) => {
        lookups.push(Date.now());
        return lookup.find(query);
      },
    }));
    await waitFor('three attempts', async () => (lookups.length >= 3 ? true : undefined), 30_000);
    const gaps = lookups.slice(1, 3).map((at, i) => at - lookups[i]);
    assert.ok(gaps[0] >= 950 && gaps[0] < 1900, `first retry after about 1 s, was ${gaps[0]} ms`);
    assert.ok(gaps[1] >= 1950 && gaps[1] < 3500, `second retry after about 2 s (doubled), was ${gaps[1]} ms`);
    const backlog = await store.symbolization.backlog();
    assert.deepEqual(backlog.waitingByReason, { 'not-found': 1 });
    assert.equal(backlog.pendingFrames, executable.addresses.length);
    assert.ok(
      (await counter(metrics, 'uniprof_symbolizer_executables_failed_total{reason="not-found"}')) >= 3,
    );

    installDebugFile(debugDir, program.buildId, program.debugFile);
    await waitFor('the queue to drain', () => queueDrained(store), 30_000);
    await assertNamed(store, executable, expectedSymbols(program.unstripped, executable));
    assert.deepEqual((await store.symbolization.backlog()).waitingByReason, {});
  });

  it('records a corrupt debug file as bad-debug-file and goes on with other files', async (t) => {
    const dir = tempDir(t);
    const program = splitProgram(dir);
    const debugDir = join(dir, 'debug');
    // The program's own debug file with .debug_info pointing past its end: found by build ID, unreadable.
    corruptSectionCopy(program.debugFile, '.debug_info', join(dir, 'corrupt.debug'));
    installDebugFile(debugDir, program.buildId, join(dir, 'corrupt.debug'));
    const corrupt: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/bin/prog-corrupt',
      buildId: program.buildId,
      addresses: programAddresses(program.unstripped, 30),
    };
    const onEnd = cleanups(t);
    const store = await openStore(onEnd, join(dir, 'uniprof.duckdb'));
    await store.write(nativeProfileBatch([corrupt], NOW));
    const { metrics } = startWorker(onEnd, store, testConfig(dir, debugDir));
    await waitFor('the corrupt file to be recorded', async () => {
      const backlog = await store.symbolization.backlog();
      return backlog.waitingByReason['bad-debug-file'] === 1 ? true : undefined;
    });
    assert.equal(
      await counter(metrics, 'uniprof_symbolizer_executables_failed_total{reason="bad-debug-file"}'),
      1,
    );

    // The worker is still there for the next file: another build of the program, with a sound debug file.
    const other = splitProgram(dir, 'c-dwarf4', 'other');
    installDebugFile(debugDir, other.buildId, other.debugFile);
    const good: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/bin/prog-other',
      buildId: other.buildId,
      addresses: programAddresses(other.unstripped, 100),
    };
    await store.write(nativeProfileBatch([good], NOW + 1));
    await waitFor('the good file to be named', async () => {
      const backlog = await store.symbolization.backlog();
      return backlog.pendingFrames === corrupt.addresses.length ? true : undefined;
    });
    assert.equal(
      await counter(metrics, 'uniprof_symbolizer_executables_symbolized_total{source="local"}'),
      1,
    );
    await assertNamed(store, good, expectedSymbols(other.unstripped, good));
  });
});

// ---- the command, as a child process ----

interface Child {
  process: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts `uniprof symbolizer` on a data directory and reads its HTTP address from the banner. */
async function startSymbolizer(dataDir: string, extra: string[]): Promise<Child> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'symbolizer',
      '--data-dir',
      dataDir,
      '--log-level',
      'info',
      '--set',
      'symbolizer.http.port=0',
      '--set',
      'symbolizer.pollIntervalMs=100',
      '--set',
      'symbolizer.debuginfod.urls=',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUGINFOD_URLS: '' } },
  );
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`uniprof symbolizer did not start:\n${output}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const match = /symbolizer\s+(http:\/\/\S+)/.exec(output);
      // The whole banner: its last line is the data directory.
      if (match && /data dir/.test(output)) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`uniprof symbolizer exited with ${code}:\n${output}`));
    });
  });
  return { process: child, url, output: () => output };
}

async function stopChild(child: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  // A child killed by a signal has no exit code, only a signal code.
  if (child.process.exitCode !== null || child.process.signalCode !== null) return child.process.exitCode;
  const exited = once(child.process, 'exit');
  child.process.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

/** Asks /health every 50 ms until stopped; resolves with the slowest answer's milliseconds. */
function watchHealth(url: string): { stop(): Promise<number> } {
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`${url}/health`);
      await response.arrayBuffer();
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return slowest;
    },
  };
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** A sample's value in Prometheus text (`name{labels}` exactly as printed); 0 when absent. */
function sample(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

async function counter(metrics: SymbolizerMetrics, series: string): Promise<number> {
  return sample(await metrics.registry.metrics(), series);
}

/** Writes the batch into a fresh store file and closes it, as a collector that stopped would leave it. */
async function storeWithFrames(path: string, executables: readonly ProfiledExecutable[]): Promise<void> {
  const store = new EmbeddedStore({ path, seed: 1 });
  await store.open();
  try {
    await store.write(nativeProfileBatch(executables, NOW));
  } finally {
    await store.close();
  }
}

async function withStore<T>(path: string, read: (store: Store) => Promise<T>): Promise<T> {
  const store = new EmbeddedStore({ path, seed: 1 });
  await store.open();
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

describe('uniprof symbolizer', { skip: !canRun && 'gcc or objcopy missing', timeout: 600_000 }, () => {
  it('answers health, readiness and metrics, counts what it did, refuses a locked store, stops on SIGTERM', async (t) => {
    const dir = tempDir(t);
    const program = splitProgram(dir);
    const debugDir = join(dir, 'debug');
    installDebugFile(debugDir, program.buildId, program.debugFile);
    const executable: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/bin/prog',
      buildId: program.buildId,
      addresses: programAddresses(program.unstripped, 300),
    };
    const missing: ProfiledExecutable = {
      fileIdHex: randomFileIdHex(),
      fileName: '/usr/lib/libnowhere.so',
      buildId: 'ab'.repeat(20),
      addresses: [0x1000, 0x2000],
    };
    const dbPath = join(dir, 'uniprof.duckdb');
    await storeWithFrames(dbPath, [executable, missing]);
    const expected = expectedSymbols(program.unstripped, executable);

    const child = await startSymbolizer(dir, ['--set', `symbolizer.debugDirectories=${debugDir}`]);
    t.after(() => stopChild(child, 'SIGKILL'));
    assert.ok(existsSync(join(dir, 'symbol-upload-token')), 'the upload token was generated');
    assert.match(child.output(), /symbol upload token in .*symbol-upload-token/);

    const health = await fetch(`${child.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${child.url}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      ready: true,
      checks: { store: true, worker: true, http: true, accepting: true },
    });

    const text = await waitFor('the frames to be counted', async () => {
      const metrics = await scrape(child.url);
      return sample(metrics, 'uniprof_symbolizer_frames_symbolized_total') === expected.size &&
        sample(metrics, 'uniprof_symbolizer_executables_failed_total{reason="not-found"}') >= 1
        ? metrics
        : undefined;
    });
    assert.equal(sample(text, 'uniprof_symbolizer_executables_symbolized_total{source="local"}'), 1);
    assert.equal(
      sample(text, 'uniprof_symbolizer_frames_without_symbols_total'),
      executable.addresses.length - expected.size,
    );
    // The backlog gauges are read from the store at scrape time: the missing file's two frames wait.
    assert.equal(sample(text, 'uniprof_symbolizer_pending_frames'), missing.addresses.length);
    assert.equal(sample(text, 'uniprof_symbolizer_waiting_executables{reason="not-found"}'), 1);
    assert.match(text, /process_cpu_seconds_total/);

    // A second process cannot open the same DuckDB file: it says why and exits.
    const second = spawn(
      process.execPath,
      [BIN, 'symbolizer', '--data-dir', dir, '--set', 'symbolizer.http.port=0'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let secondOutput = '';
    second.stderr!.on('data', (d: Buffer) => (secondOutput += d.toString()));
    const [secondCode] = (await once(second, 'exit')) as [number | null];
    assert.equal(secondCode, 1);
    assert.match(secondOutput, /in use by another process/);
    assert.match(secondOutput, /uniprof serve' already runs the symbolizer/);

    assert.equal(await stopChild(child), 0, child.output());
    await withStore(dbPath, async (store) => assertNamed(store, executable, expected));
  });

  it(
    'abandons a large file on SIGTERM, and finishes the work of one killed with SIGKILL on its next start',
    { skip: !canBuild('cpp-large') && 'g++ missing' },
    async (t) => {
      const dir = tempDir(t);
      // The large C++ test program (g++ -O2 -g, 9 MB): its debug file takes seconds to extract.
      const large = splitProgram(dir, 'cpp-large', 'large');
      const debugDir = join(dir, 'debug');
      installDebugFile(debugDir, large.buildId, large.debugFile);
      const program: ProfiledExecutable = {
        fileIdHex: randomFileIdHex(),
        fileName: '/usr/bin/large',
        buildId: large.buildId,
        addresses: programAddresses(large.unstripped, 600),
      };
      const dbPath = join(dir, 'uniprof.duckdb');
      await storeWithFrames(dbPath, [program]);
      // Long leases: the restarted process must not wait for the dead one's lease to expire.
      const settings = [
        '--set',
        `symbolizer.debugDirectories=${debugDir}`,
        '--set',
        'symbolizer.leaseSeconds=600',
      ];

      // SIGTERM in the middle: the process abandons the file and exits cleanly; nothing of it is stored.
      const stopped = await startSymbolizer(dir, settings);
      t.after(() => stopChild(stopped, 'SIGKILL'));
      await waitFor('extraction to be under way', async () => {
        const text = await scrape(stopped.url);
        return sample(text, 'uniprof_symbolizer_symbol_ranges_total') > 0 ? true : undefined;
      });
      const stopAsked = Date.now();
      assert.equal(await stopChild(stopped), 0, stopped.output());
      t.diagnostic(`SIGTERM during extraction: exited in ${Date.now() - stopAsked} ms`);
      assert.match(stopped.output(), /work abandoned/);
      await withStore(dbPath, async (store) => {
        const fileId = fileIdFromHex(program.fileIdHex);
        assert.deepEqual(await store.symbolization.filesWithSymbols([fileId]), new Set());
        assert.equal((await store.symbolization.backlog()).pendingFrames, program.addresses.length);
      });

      const first = await startSymbolizer(dir, settings);
      t.after(() => stopChild(first, 'SIGKILL'));
      let rangesAtKill = 0;
      await waitFor('extraction to be under way', async () => {
        const text = await scrape(first.url);
        rangesAtKill = sample(text, 'uniprof_symbolizer_symbol_ranges_total');
        const started = rangesAtKill > 0;
        const finished = sample(text, 'uniprof_symbolizer_executables_symbolized_total{source="local"}') > 0;
        assert.ok(!finished, 'the file was finished before the kill: the test needs a larger one');
        return started ? true : undefined;
      });
      await stopChild(first, 'SIGKILL');

      const restartedAt = Date.now();
      const second = await startSymbolizer(dir, settings);
      t.after(() => stopChild(second, 'SIGKILL'));
      // Extraction runs in a worker thread: the process keeps answering while the large unit is swept (on
      // the main thread that unit alone holds the event loop for seconds).
      const health = watchHealth(second.url);
      const finished = await waitFor(
        'the restarted symbolizer to finish the file',
        async () => {
          const text = await scrape(second.url);
          return sample(text, 'uniprof_symbolizer_executables_symbolized_total{source="local"}') === 1 &&
            sample(text, 'uniprof_symbolizer_pending_frames') === 0
            ? text
            : undefined;
        },
        300_000,
      );
      const slowestHealth = await health.stop();
      const seconds = (Date.now() - restartedAt) / 1000;
      const totalRanges = sample(finished, 'uniprof_symbolizer_symbol_ranges_total');
      t.diagnostic(
        `killed after ${rangesAtKill} of the file's ${totalRanges} ranges; the restart finished in ${seconds.toFixed(1)} s; ` +
          `slowest /health answer meanwhile ${slowestHealth.toFixed(0)} ms`,
      );
      assert.ok(slowestHealth < 800, `/health answered within 0.8 s during extraction (${slowestHealth} ms)`);
      assert.ok(rangesAtKill < totalRanges, 'the kill came before the last range');
      assert.ok(seconds < 600, `finished in ${seconds} s, before the lease would have expired`);
      assert.equal(await stopChild(second), 0, second.output());
      await withStore(dbPath, async (store) =>
        assertNamed(store, program, expectedSymbols(large.unstripped, program)),
      );
    },
  );
});
