/**
 * Return pads in the symbolizer service, with real parts: a stripped g++ program whose debug file is found
 * by build ID while its code comes from the executable on this machine (the agent's path) or from a real
 * debuginfod (`/buildid/<id>/executable`). Frames at return addresses − 1, as the agent reports callers,
 * are answered from the pads (the metrics count the hits); every frame gets exactly the engine's chain.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { fileIdFromHex, type StackFrameSymbols, type SymbolRange } from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { extractRanges } from '../../src/symbolizer/ranges/extract.ts';
import { RangeIndex } from '../../src/symbolizer/ranges/range-index.ts';
import { ExecutableCode } from '../../src/symbolizer/returnpads/generate.ts';
import { SymbolizerMetrics } from '../../src/symbolizer/service/metrics.ts';
import { createDebugInfoLookup, defaultRangeExtractor } from '../../src/symbolizer/service/wiring.ts';
import { SymbolizerWorker } from '../../src/symbolizer/service/worker.ts';
import { SymbolizedBinary, toStackFrameSymbols } from '../../src/symbolizer/symbolizer.ts';
import { debuginfodAvailable, startDebuginfod } from '../peers/debuginfod.ts';
import { canBuild, haveTool } from '../peers/toolchains.ts';
import {
  installDebugFile,
  nativeFrameId,
  nativeProfileBatch,
  programAddresses,
  randomFileIdHex,
  splitProgram,
  tempDir,
  type ProfiledExecutable,
  type TestProgram,
} from './service-fixture.ts';

const NOW = Math.floor(Date.now() / 1000) - 60;
const canRun = canBuild('cpp-large') && haveTool('objcopy', 'apt-get install binutils');
const haveDebuginfod = debuginfodAvailable();
if (process.env.CI === 'true')
  assert.ok(haveDebuginfod, 'debuginfod is not installed (apt-get install debuginfod)');

function testConfig(dataDir: string, debugDirs: string, debuginfod: string): Config {
  return loadConfig({
    overrides: [
      `dataDir=${dataDir}`,
      `symbolizer.debugDirectories=${debugDirs}`,
      `symbolizer.debuginfod.urls=${debuginfod}`,
      'symbolizer.pollIntervalMs=50',
    ],
    env: {},
  });
}

/** Return addresses − 1 of the program's calls (what the agent sends for callers) and some other addresses. */
function frameAddresses(program: TestProgram): { returns: number[]; others: number[] } {
  const ranges: SymbolRange[] = [];
  for (const chunk of extractRanges(program.unstripped, { functionNames: 'dwarf' })) ranges.push(...chunk);
  const elf = ElfFile.open(program.stripped);
  try {
    const calls = new ExecutableCode(elf).calls(RangeIndex.of(ranges).rangesAt(0));
    const returns = calls.filter((_, i) => i % 4 === 0).map((c) => c.address + c.length - 1);
    // Other addresses: none of them the last byte of a call (which would have a pad too).
    const taken = new Set(calls.map((c) => c.address + c.length - 1));
    const others = programAddresses(program.unstripped, 200).filter((a) => !taken.has(a));
    return { returns, others };
  } finally {
    elf.close();
  }
}

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

async function counter(metrics: SymbolizerMetrics, series: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * Queues the frames, runs a worker until they are answered, checks every answer against the engine and
 * returns the worker's metrics and how many of the frames' addresses have a pad in the store.
 */
async function symbolize(
  t: TestContext,
  dir: string,
  config: Config,
  program: TestProgram,
  executable: ProfiledExecutable,
): Promise<{ metrics: SymbolizerMetrics; padsFound: number }> {
  const store = new EmbeddedStore({ path: join(dir, 'uniprof.duckdb'), seed: 1, commitIntervalMs: 0 });
  await store.open();
  let worker: SymbolizerWorker | undefined = undefined;
  // One hook, worker first: `t.after` hooks run in the order registered, and a DuckDB connection closed
  // under a query in flight leaves that query unanswered, so a worker still polling would never stop.
  t.after(async () => {
    await worker?.stop();
    await store.close();
  });
  await store.write(nativeProfileBatch([executable], NOW));
  const metrics = new SymbolizerMetrics({ processMetrics: false });
  const settings = config.symbolizer;
  worker = new SymbolizerWorker(
    {
      owner: 'test-worker',
      concurrency: 1,
      pollIntervalMs: settings.pollIntervalMs,
      leaseMs: settings.leaseSeconds * 1000,
      retry: settings.retry,
      debugDirectories: settings.debugDirectories,
    },
    {
      store: store.symbolization,
      lookup: createDebugInfoLookup(config, metrics, {}),
      extractRanges: defaultRangeExtractor,
      metrics,
      logger: pino({ level: process.env.UNIPROF_TEST_LOG ?? 'silent' }),
    },
  );
  worker.start();
  const deadline = Date.now() + 120_000;
  while ((await store.symbolization.backlog()).pendingFrames > 0) {
    assert.ok(Date.now() < deadline, 'the queue drains within 2 minutes');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const expected = expectedSymbols(program.unstripped, executable);
  const ids = executable.addresses.map((a) => nativeFrameId(executable, a));
  const stored = await store.getStackFrames(ids);
  for (const id of ids) assert.deepEqual(stored.get(id), expected.get(id), `frame ${id}`);
  // The pads themselves are in the store, keyed by return address − 1.
  const fileId = fileIdFromHex(executable.fileIdHex);
  const pads = await store.symbolization.returnPads(fileId, executable.addresses);
  return { metrics, padsFound: pads.size };
}

describe(
  'symbolizer service: return pads',
  { skip: !canRun && 'g++ or objcopy missing', timeout: 600_000 },
  () => {
    it("answers callers' frames from pads made from the local executable's code", async (t) => {
      const dir = tempDir(t);
      const program = splitProgram(dir, 'cpp-large');
      const debugDir = join(dir, 'debug');
      installDebugFile(debugDir, program.buildId, program.debugFile);
      const { returns, others } = frameAddresses(program);
      const executable: ProfiledExecutable = {
        fileIdHex: randomFileIdHex(),
        // The agent's path is this machine's stripped copy (same build ID): its code makes the pads.
        fileName: program.stripped,
        buildId: program.buildId,
        addresses: [...returns, ...others],
      };
      const { metrics, padsFound } = await symbolize(
        t,
        dir,
        testConfig(dir, debugDir, ''),
        program,
        executable,
      );
      assert.equal(padsFound, returns.length);
      const hits = await counter(metrics, 'uniprof_symbolizer_return_pad_lookups_total{result="hit"}');
      const misses = await counter(metrics, 'uniprof_symbolizer_return_pad_lookups_total{result="miss"}');
      t.diagnostic(
        `${returns.length} return-address frames, ${others.length} others: ${hits} pad hits, ${misses} misses`,
      );
      assert.equal(hits, returns.length, 'every caller frame is a point lookup');
      assert.equal(misses, others.length);
      assert.ok((await counter(metrics, 'uniprof_symbolizer_return_pads_total')) >= returns.length * 4 - 4);
      assert.equal(await counter(metrics, 'uniprof_symbolizer_return_pad_failures_total'), 0);
    });

    it('without the executable there are no pads, and frames are still answered from the ranges', async (t) => {
      const dir = tempDir(t);
      const program = splitProgram(dir, 'cpp-large');
      const debugDir = join(dir, 'debug');
      installDebugFile(debugDir, program.buildId, program.debugFile);
      const { returns, others } = frameAddresses(program);
      const executable: ProfiledExecutable = {
        fileIdHex: randomFileIdHex(),
        fileName: '/nonexistent/prog',
        buildId: program.buildId,
        addresses: [...returns.slice(0, 100), ...others.slice(0, 50)],
      };
      const { metrics, padsFound } = await symbolize(
        t,
        dir,
        testConfig(dir, debugDir, ''),
        program,
        executable,
      );
      assert.equal(padsFound, 0);
      assert.equal(await counter(metrics, 'uniprof_symbolizer_return_pads_total'), 0);
      assert.equal(await counter(metrics, 'uniprof_symbolizer_return_pad_lookups_total{result="hit"}'), 0);
    });

    it(
      "makes pads from debuginfod's /executable when only the debug file is found",
      { skip: !haveDebuginfod && 'debuginfod missing' },
      async (t) => {
        const dir = tempDir(t);
        const program = splitProgram(dir, 'cpp-large');
        // A build tree as debuginfod -F indexes it: the stripped binary next to its debug file.
        const elfDir = join(dir, 'elf');
        mkdirSync(elfDir, { recursive: true });
        copyFileSync(program.stripped, join(elfDir, 'prog'));
        copyFileSync(program.debugFile, join(elfDir, 'prog.debug'));
        const peer = await startDebuginfod({ elfDirectories: [elfDir], readyBuildIds: [program.buildId] });
        t.after(() => peer.dispose());
        const { returns, others } = frameAddresses(program);
        const executable: ProfiledExecutable = {
          fileIdHex: randomFileIdHex(),
          fileName: '/on/another/host/prog',
          buildId: program.buildId,
          addresses: [...returns, ...others],
        };
        const { metrics, padsFound } = await symbolize(
          t,
          dir,
          testConfig(dir, '', peer.url),
          program,
          executable,
        );
        assert.equal(padsFound, returns.length);
        const hits = await counter(metrics, 'uniprof_symbolizer_return_pad_lookups_total{result="hit"}');
        t.diagnostic(`debuginfod: ${returns.length} return-address frames, ${hits} pad hits`);
        assert.equal(hits, returns.length);
        assert.equal(
          await counter(metrics, 'uniprof_symbolizer_executables_symbolized_total{source="debuginfod"}'),
          1,
        );
      },
    );
  },
);
