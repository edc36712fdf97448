/**
 * The debuginfod client and the symbol sources against a real debuginfod (test/peers/debuginfod.ts) that
 * indexes Debian's libc6-dbg package and test-built ELF files, plus a tiny misbehaving HTTP server for the
 * answers a real debuginfod never gives (garbage, the wrong file, 5xx, silence).
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/config.ts';
import { ElfFile, STT_FUNC } from '../../src/symbolizer/elf/elf.ts';
import {
  DebugInfoSources,
  DebuginfodClient,
  DebuginfodConfigError,
  LocalDebugSource,
  readElfIdentity,
  type DebuginfodEvent,
  type DebuginfodOptions,
} from '../../src/symbolizer/sources/index.ts';
import { SymbolizedBinary } from '../../src/symbolizer/symbolizer.ts';
import {
  debuginfodAvailable,
  libc6DbgDebDirectory,
  startDebuginfod,
  type DebuginfodPeer,
} from '../peers/debuginfod.ts';
import { buildProgram, canBuild } from '../peers/toolchains.ts';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LIBRESOLV = '/lib/x86_64-linux-gnu/libresolv.so.2';
const LIBUTIL = '/lib/x86_64-linux-gnu/libutil.so.1';
const UNKNOWN_ID = '00112233445566778899aabbccddeeff00112233';
const OTHER_ID = 'ffeeddccbbaa99887766554433221100ffeeddcc';

const available = debuginfodAvailable() && existsSync(LIBC) && canBuild('c-split') && canBuild('cpp-dwz');
const skip = available ? false : 'debuginfod, bsdtar, gcc, objcopy or dwz missing (CI=true fails instead)';
const splitSkip = canBuild('c-split') ? false : 'gcc or objcopy missing (CI=true fails instead)';

const buildIdOf = (file: string): string => {
  const id = readElfIdentity(file).buildId;
  assert.ok(id, `${file} has a build ID`);
  return id;
};

const scratch = mkdtempSync(path.join(os.tmpdir(), 'uniprof-debuginfod-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let cacheCount = 0;
const freshCacheDir = () => path.join(scratch, `cache-${++cacheCount}`);

function client(urls: string[], overrides: Partial<DebuginfodOptions> = {}): DebuginfodClient {
  return new DebuginfodClient({
    urls,
    timeoutMs: 2000,
    retries: 1,
    maxConcurrent: 4,
    negativeCacheSeconds: 3600,
    cacheDir: freshCacheDir(),
    cacheMaxBytes: 1024 ** 3,
    retryDelayMs: 20,
    ...overrides,
  });
}

/** Files in a cache directory, finished and unfinished. */
function cacheContents(dir: string): { debugFiles: string[]; partial: string[] } {
  const debugFiles: string[] = [];
  const root = path.join(dir, '.build-id');
  if (existsSync(root)) {
    for (const prefix of readdirSync(root)) {
      for (const name of readdirSync(path.join(root, prefix)))
        debugFiles.push(prefix + name.replace(/\.debug$/, ''));
    }
  }
  const tmp = path.join(dir, 'tmp');
  return { debugFiles: debugFiles.sort(), partial: existsSync(tmp) ? readdirSync(tmp) : [] };
}

/** Every function start and middle of a file's symbol table, spread over at most `limit` functions. */
function functionAddresses(debugFile: string, limit: number): number[] {
  const elf = ElfFile.open(debugFile);
  try {
    const functions = elf.symbols().filter((s) => s.type === STT_FUNC && s.size > 0);
    const step = Math.max(1, Math.floor(functions.length / limit));
    const addresses: number[] = [];
    for (let i = 0; i < functions.length; i += step) {
      addresses.push(functions[i].address, functions[i].address + Math.floor(functions[i].size / 2));
    }
    return addresses;
  } finally {
    elf.close();
  }
}

describe('debuginfod sources against a real debuginfod', { skip }, () => {
  let peer: DebuginfodPeer;
  let libcId: string;
  let libcLocalDebug: string;
  let split: { binary: string; debugFile: string; id: string };
  let dwz: { binary: string; dir: string; id: string; altId: string };

  before(async () => {
    libcId = buildIdOf(LIBC);
    libcLocalDebug = `/usr/lib/debug/.build-id/${libcId.slice(0, 2)}/${libcId.slice(2)}.debug`;
    const built = buildProgram('c-split');
    split = { binary: built.binary, debugFile: built.debugFile ?? '', id: buildIdOf(built.binary) };
    const dwzBuild = buildProgram('cpp-dwz');
    const altLink = readElfIdentity(dwzBuild.binary).altLink;
    assert.ok(altLink, 'the dwz build refers to a supplementary file');
    dwz = {
      binary: dwzBuild.binary,
      dir: dwzBuild.dir,
      id: buildIdOf(dwzBuild.binary),
      altId: altLink.buildId,
    };
    // The -F directory: the stripped binary next to its debug file (as a build tree publishes them), and the
    // dwz-processed program with its supplementary file.
    const elfDir = path.join(scratch, 'elf');
    mkdirSync(path.join(elfDir, 'split'), { recursive: true });
    mkdirSync(path.join(elfDir, 'dwz'), { recursive: true });
    copyFileSync(split.binary, path.join(elfDir, 'split', 'prog'));
    copyFileSync(split.debugFile, path.join(elfDir, 'split', 'prog.debug'));
    copyFileSync(dwz.binary, path.join(elfDir, 'dwz', 'prog'));
    copyFileSync(path.join(dwz.dir, 'common.debug'), path.join(elfDir, 'dwz', 'common.debug'));
    const started = Date.now();
    peer = await startDebuginfod({
      debDirectories: [await libc6DbgDebDirectory()],
      elfDirectories: [elfDir],
      // Everything the tests ask for: the .deb is indexed file by file, so one answering says nothing of the rest.
      readyBuildIds: [libcId, buildIdOf(LIBRESOLV), buildIdOf(LIBUTIL), split.id, dwz.id, dwz.altId],
    });
    console.log(`debuginfod indexed libc6-dbg and the test binaries in ${Date.now() - started} ms`);
  });

  after(async () => {
    await peer?.dispose();
  });

  test("libc's debug file is fetched, checked, and symbolizes like /usr/lib/debug's copy", async () => {
    const c = client([peer.url]);
    const served = await peer.debuginfoResponses(200);
    let downloadMs = -1;
    c.onEvent((event) => {
      if (event.type === 'download') downloadMs = event.durationMs;
    });
    const result = await c.fetchDebugInfo(libcId);
    assert.ok('path' in result, `found: ${JSON.stringify(result)}`);
    assert.equal(
      result.path,
      path.join(c.cache.dir, '.build-id', libcId.slice(0, 2), `${libcId.slice(2)}.debug`),
    );
    assert.equal(readElfIdentity(result.path).buildId, libcId);
    assert.ok(
      readFileSync(result.path).equals(readFileSync(libcLocalDebug)),
      'same bytes as the installed package',
    );
    const counters = c.counters();
    console.log(
      `libc debug file: ${counters.downloadedBytes} bytes fetched, checked and cached in ${downloadMs} ms`,
    );
    assert.equal(counters.downloads, 1);
    assert.equal(counters.downloadedBytes, statSync(result.path).size);
    assert.equal(await peer.debuginfoResponses(200), served + 1);
    assert.deepEqual(cacheContents(c.cache.dir), { debugFiles: [libcId], partial: [] });

    const fetched = SymbolizedBinary.open(result.path, { debugDirectories: [] });
    const installed = SymbolizedBinary.open(LIBC, { debugDirectories: ['/usr/lib/debug'] });
    try {
      assert.equal(installed.debugFile, libcLocalDebug);
      const addresses = functionAddresses(result.path, 400);
      assert.ok(addresses.length >= 400);
      let withLines = 0;
      for (const address of addresses) {
        const frames = fetched.symbolize(address);
        assert.deepEqual(frames, installed.symbolize(address), `address 0x${address.toString(16)}`);
        if (frames.length > 0 && frames[0].line > 0) withLines++;
      }
      assert.ok(withLines > addresses.length * 0.9, `${withLines} of ${addresses.length} have lines`);
    } finally {
      fetched.close();
      installed.close();
    }
  });

  test('a cached file is answered without asking the server, also by a new client on the same directory', async () => {
    const c = client([peer.url]);
    const first = await c.fetchDebugInfo(split.id);
    assert.ok('path' in first);
    const served = await peer.debuginfoResponses(200);
    assert.deepEqual(await c.fetchDebugInfo(split.id), first);
    assert.equal(c.counters().cacheHits, 1);
    assert.equal(c.counters().downloads, 1);
    const restarted = client([peer.url], { cacheDir: c.cache.dir });
    assert.deepEqual(await restarted.fetchDebugInfo(split.id), first);
    assert.equal(restarted.counters().cacheHits, 1);
    assert.equal(restarted.counters().downloads, 0);
    assert.equal(await peer.debuginfoResponses(200), served, 'no request reached the server');
  });

  test('leftovers of a download cut short by a crash are removed when the cache opens', async () => {
    const cacheDir = freshCacheDir();
    mkdirSync(path.join(cacheDir, 'tmp'), { recursive: true });
    writeFileSync(path.join(cacheDir, 'tmp', 'deadbeef.part'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0]));
    const c = client([peer.url], { cacheDir });
    assert.ok('path' in (await c.fetchDebugInfo(split.id)));
    assert.deepEqual(cacheContents(cacheDir), { debugFiles: [split.id], partial: [] });
    assert.equal(c.cache.totalBytes, statSync(split.debugFile).size);
  });

  test('an unknown build ID is not found, and that is remembered until negativeCacheSeconds pass', async () => {
    let now = 1_000_000;
    const c = client([peer.url], { negativeCacheSeconds: 60, now: () => now });
    const before404 = await peer.debuginfoResponses(404);
    assert.deepEqual(await c.fetchDebugInfo(UNKNOWN_ID), { notFound: 'not-found' });
    assert.equal(await peer.debuginfoResponses(404), before404 + 1);
    now += 59_000;
    assert.deepEqual(await c.fetchDebugInfo(UNKNOWN_ID), { notFound: 'not-found' });
    assert.equal(await peer.debuginfoResponses(404), before404 + 1, 'answered from the negative cache');
    assert.equal(c.counters().negativeCacheHits, 1);
    now += 2_000;
    assert.deepEqual(await c.fetchDebugInfo(UNKNOWN_ID), { notFound: 'not-found' });
    assert.equal(await peer.debuginfoResponses(404), before404 + 2, 'asked again once expired');
    assert.equal(c.counters().notFound, 2);
    assert.deepEqual(c.counters().errors, {
      timeout: 0,
      network: 0,
      'http-status': 0,
      'invalid-elf': 0,
      'build-id-mismatch': 0,
      'too-large': 0,
      'cache-io': 0,
    });
  });

  test("a test-built stripped binary's debug file comes from the -F directory and the engine uses it", async () => {
    const c = client([peer.url]);
    const result = await c.fetchDebugInfo(split.id);
    assert.ok('path' in result);
    assert.ok(readFileSync(result.path).equals(readFileSync(split.debugFile)));
    // Alone in its directory: its .gnu_debuglink must not find the build's prog.debug next to it.
    const binary = path.join(scratch, 'split-alone', 'prog');
    mkdirSync(path.dirname(binary), { recursive: true });
    copyFileSync(split.binary, binary);
    const viaCache = SymbolizedBinary.open(binary, { debugDirectories: [c.cache.dir] });
    const alone = SymbolizedBinary.open(result.path, { debugDirectories: [] });
    const withoutDebugFile = SymbolizedBinary.open(binary, { debugDirectories: [] });
    const elf = ElfFile.open(result.path);
    try {
      assert.equal(viaCache.debugFile, result.path, 'the engine finds the cached file by build ID');
      const functions = new Map(elf.symbols().map((s) => [s.name, s.address]));
      for (const name of ['main', 'fib', 'nearest', 'compare_doubles', 'hash_string']) {
        const address = functions.get(name);
        assert.ok(address !== undefined, `${name} is in the symbol table`);
        const frames = viaCache.symbolize(address);
        assert.equal(frames.at(-1)?.functionName, name);
        assert.match(frames[0].fileName, /prog\.c$/);
        assert.ok(frames[0].line > 0, `${name} has a line`);
        assert.deepEqual(alone.symbolize(address), frames, 'the debug file alone says the same');
        // The stripped binary alone has its dynamic symbols at best, never lines.
        assert.equal(withoutDebugFile.symbolize(address)[0]?.line ?? 0, 0);
      }
    } finally {
      elf.close();
      viaCache.close();
      alone.close();
      withoutDebugFile.close();
    }
  });

  test('a burst of requests for one build ID makes one download', async () => {
    const c = client([peer.url], { maxConcurrent: 2 });
    const served = await peer.debuginfoResponses(200);
    const results = await Promise.all(Array.from({ length: 25 }, () => c.fetchDebugInfo(libcId)));
    const paths = new Set(results.map((r) => ('path' in r ? r.path : JSON.stringify(r))));
    assert.equal(paths.size, 1);
    assert.ok([...paths][0].endsWith('.debug'));
    assert.equal(c.counters().downloads, 1);
    assert.equal(await peer.debuginfoResponses(200), served + 1);
  });

  test('the size cap evicts the least recently used files', async () => {
    const ids = [buildIdOf(LIBRESOLV), buildIdOf(LIBUTIL), split.id];
    const sizes = [
      statSync(`/usr/lib/debug/.build-id/${ids[0].slice(0, 2)}/${ids[0].slice(2)}.debug`).size,
      statSync(`/usr/lib/debug/.build-id/${ids[1].slice(0, 2)}/${ids[1].slice(2)}.debug`).size,
      statSync(split.debugFile).size,
    ];
    const cap = sizes[0] + sizes[1] + sizes[2] - 1;
    const c = client([peer.url], { cacheMaxBytes: cap });
    const evicted: string[] = [];
    c.onEvent((event) => {
      if (event.type === 'evicted') evicted.push(event.buildId);
    });
    assert.ok('path' in (await c.fetchDebugInfo(ids[0])));
    assert.ok('path' in (await c.fetchDebugInfo(ids[1])));
    assert.ok('path' in (await c.fetchDebugInfo(ids[0])), 'a hit makes libresolv the most recently used');
    assert.ok('path' in (await c.fetchDebugInfo(ids[2])));
    assert.deepEqual(evicted, [ids[1]]);
    assert.deepEqual(cacheContents(c.cache.dir), { debugFiles: [ids[0], ids[2]].sort(), partial: [] });
    assert.equal(c.cache.totalBytes, sizes[0] + sizes[2]);
    assert.ok(c.cache.totalBytes <= cap);
    assert.equal(c.counters().evictions, 1);
    assert.equal(c.counters().evictedBytes, sizes[1]);
    // A restart with a smaller cap trims what the last run left, oldest first.
    const smaller = client([peer.url], { cacheDir: c.cache.dir, cacheMaxBytes: sizes[0] + 1 });
    assert.ok('path' in (await smaller.fetchDebugInfo(ids[2])), 'served from the cache');
    assert.equal(smaller.counters().downloads, 0);
    assert.deepEqual(cacheContents(c.cache.dir).debugFiles, [ids[2]]);
  });

  test('a dwz-processed debug file brings its supplementary file, and the engine resolves the names there', async () => {
    const sources = new DebugInfoSources(new LocalDebugSource([]), client([peer.url]));
    const found = await sources.find({ buildId: dwz.id, fileName: '/elsewhere/prog' });
    assert.ok('path' in found, JSON.stringify(found));
    assert.equal(found.source, 'debuginfod');
    const cacheDir = sources.debuginfod?.cache.dir ?? '';
    assert.deepEqual(found.debugDirectories, [cacheDir]);
    assert.deepEqual(cacheContents(cacheDir).debugFiles, [dwz.altId, dwz.id].sort());
    const fetched = SymbolizedBinary.open(found.path, { debugDirectories: found.debugDirectories });
    const original = SymbolizedBinary.open(dwz.binary, { debugDirectories: [] });
    try {
      const addresses = functionAddresses(dwz.binary, 300);
      let inlined = 0;
      for (const address of addresses) {
        const frames = fetched.symbolize(address);
        assert.deepEqual(frames, original.symbolize(address), `address 0x${address.toString(16)}`);
        if (frames.length > 1) inlined++;
      }
      assert.ok(inlined > 0, 'inline chains (whose names dwz moved) are compared too');
    } finally {
      fetched.close();
      original.close();
    }
  });

  test('a stopped server is unreachable quickly and not remembered; once back, the file is found', async () => {
    const c = client([peer.url], { timeoutMs: 1000, retries: 2, retryDelayMs: 50 });
    await peer.stop();
    try {
      const started = Date.now();
      assert.deepEqual(await c.fetchDebugInfo(split.id), { notFound: 'debuginfod-unreachable' });
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 2000, `gave up after ${elapsed} ms`);
      assert.equal(c.counters().errors.network, 3, 'one attempt and two retries');
      assert.equal(c.counters().notFound, 0);
      assert.deepEqual(cacheContents(c.cache.dir), { debugFiles: [], partial: [] });
    } finally {
      await peer.start();
    }
    const result = await c.fetchDebugInfo(split.id);
    assert.ok('path' in result, `found after the restart: ${JSON.stringify(result)}`);
    assert.equal(c.counters().negativeCacheHits, 0);
  });

  test('a server that is down is probed until it answers; the outage ends with one server-up event', async () => {
    const c = client([peer.url], { timeoutMs: 1000, retries: 0, probeIntervalMs: 100 });
    const events: DebuginfodEvent[] = [];
    c.onEvent((event) => events.push(event));
    const outages = () => events.filter((e) => e.type === 'server-down' || e.type === 'server-up');
    await peer.stop();
    try {
      assert.deepEqual(await c.fetchDebugInfo(split.id), { notFound: 'debuginfod-unreachable' });
      assert.deepEqual(await c.fetchDebugInfo(split.id), { notFound: 'debuginfod-unreachable' });
      assert.deepEqual(
        outages(),
        [{ type: 'server-down', server: peer.url, kind: 'network' }],
        'reported once',
      );
      assert.deepEqual(c.serversDown, [peer.url]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(outages().length, 1, 'probes of a stopped server change nothing');
    } finally {
      await peer.start();
    }
    const requests = (await peer.metrics()).get('http_requests_total{type="debuginfo"}') ?? 0;
    const deadline = Date.now() + 5000;
    while (outages().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const up = outages()[1];
    assert.ok(
      up?.type === 'server-up' && up.server === peer.url,
      `server-up reported: ${JSON.stringify(up)}`,
    );
    assert.ok(up.downMs >= 500, `it was down ${up.downMs} ms`);
    assert.deepEqual(c.serversDown, []);
    assert.equal(
      (await peer.metrics()).get('http_requests_total{type="debuginfo"}') ?? 0,
      requests,
      'the probe asks for no build ID',
    );
    const result = await c.fetchDebugInfo(split.id);
    assert.ok('path' in result, 'found');
    assert.equal(outages().length, 2, 'an answer from a server that is up reports nothing');
    c.close();
  });

  describe('DebugInfoSources', () => {
    test('without a usable build ID nothing is asked', async () => {
      const sources = new DebugInfoSources(new LocalDebugSource(['/usr/lib/debug']), client([peer.url]));
      const requests = (await peer.metrics()).get('http_requests_total{type="debuginfo"}');
      assert.deepEqual(await sources.find({ fileName: LIBC }), { notFound: 'no-build-id' });
      assert.deepEqual(await sources.find({ buildId: '', fileName: LIBC }), { notFound: 'no-build-id' });
      assert.deepEqual(await sources.find({ buildId: 'xyz', fileName: LIBC }), {
        notFound: 'invalid-build-id',
      });
      assert.deepEqual(await sources.find({ buildId: '../../etc', fileName: LIBC }), {
        notFound: 'invalid-build-id',
      });
      assert.equal((await peer.metrics()).get('http_requests_total{type="debuginfo"}'), requests);
    });

    test('local debug directories come first, and an upper-case build ID is the same one', async () => {
      const sources = new DebugInfoSources(
        new LocalDebugSource(['/nonexistent', '/usr/lib/debug']),
        client([peer.url]),
      );
      const found = await sources.find({ buildId: libcId.toUpperCase(), fileName: 'libc.so.6' });
      assert.ok('path' in found);
      assert.equal(found.path, libcLocalDebug);
      assert.equal(found.source, 'local');
      assert.deepEqual(found.debugDirectories, [
        '/nonexistent',
        '/usr/lib/debug',
        sources.debuginfod?.cache.dir,
      ]);
      assert.equal(sources.debuginfod?.counters().downloads, 0);
    });

    test('the executable itself when it is here with the same build ID', async () => {
      const unstripped = buildProgram('c-dwarf5').binary;
      const sources = new DebugInfoSources(new LocalDebugSource([]), client([peer.url]));
      const found = await sources.find({ buildId: buildIdOf(unstripped), fileName: unstripped });
      assert.ok('path' in found);
      assert.deepEqual([found.path, found.source], [unstripped, 'local']);
      // Same path, another build ID (the agent's host has another version): not this file.
      assert.deepEqual(await sources.find({ buildId: UNKNOWN_ID, fileName: unstripped }), {
        notFound: 'not-found',
      });
      // A base name does not say which file on this machine is meant.
      assert.deepEqual(await sources.find({ buildId: buildIdOf(unstripped), fileName: 'prog' }), {
        notFound: 'not-found',
      });
    });

    test('a stripped local executable: debuginfod first, the executable only when debuginfod says not found', async () => {
      const strippedHere = path.join(scratch, 'stripped-prog');
      copyFileSync(split.binary, strippedHere);
      const target = { buildId: split.id, fileName: strippedHere };
      const withServer = new DebugInfoSources(new LocalDebugSource([]), client([peer.url]));
      const found = await withServer.find(target);
      assert.ok('path' in found);
      assert.equal(found.source, 'debuginfod');
      assert.ok(readFileSync(found.path).equals(readFileSync(split.debugFile)));

      const emptyServer = await misbehavingServer(() => ({ status: 404, body: Buffer.from('not found') }));
      try {
        const withoutIt = new DebugInfoSources(new LocalDebugSource([]), client([emptyServer.url]));
        assert.deepEqual(await withoutIt.find(target), {
          path: strippedHere,
          source: 'local',
          debugDirectories: [withoutIt.debuginfod?.cache.dir],
        });
      } finally {
        await emptyServer.close();
      }
      const down = new DebugInfoSources(
        new LocalDebugSource([]),
        client([await closedPortUrl()], { retries: 0 }),
      );
      assert.deepEqual(
        await down.find(target),
        { notFound: 'debuginfod-unreachable' },
        'waits for the server',
      );
      const none = new DebugInfoSources(new LocalDebugSource([]), client([]));
      assert.equal(none.debuginfod, undefined);
      assert.deepEqual(await none.find(target), {
        path: strippedHere,
        source: 'local',
        debugDirectories: [],
      });
    });

    test('fromConfig: configured URLs, else DEBUGINFOD_URLS; a bad URL is a clear error', async () => {
      const dataDir = path.join(scratch, 'data');
      const configured = configSchema.parse({
        symbolizer: { debugDirectories: ['/usr/lib/debug'], debuginfod: { urls: [peer.url], retries: 0 } },
      }).symbolizer;
      const sources = DebugInfoSources.fromConfig(configured, dataDir, {
        DEBUGINFOD_URLS: 'http://ignored:1',
      });
      assert.deepEqual(sources.debuginfod?.urls, [peer.url]);
      assert.equal(sources.debuginfod?.cache.dir, path.join(dataDir, 'debuginfod-cache'));
      const found = await sources.find({ buildId: split.id, fileName: 'prog' });
      assert.ok('path' in found && found.path.startsWith(path.join(dataDir, 'debuginfod-cache')));

      const defaults = configSchema.parse({}).symbolizer;
      const fromEnv = DebugInfoSources.fromConfig(defaults, dataDir, {
        DEBUGINFOD_URLS: ` ${peer.url}/  https://debuginfod.example.org `,
      });
      assert.deepEqual(fromEnv.debuginfod?.urls, [peer.url, 'https://debuginfod.example.org']);
      assert.equal(DebugInfoSources.fromConfig(defaults, dataDir, {}).debuginfod, undefined);
      assert.throws(
        () =>
          DebugInfoSources.fromConfig(defaults, dataDir, { DEBUGINFOD_URLS: 'ftp://x debuginfod.example' }),
        (error: unknown) =>
          error instanceof DebuginfodConfigError &&
          /DEBUGINFOD_URLS: "ftp:\/\/x" is not an http\(s\) URL/.test(error.message),
      );
    });
  });
});

describe('the debuginfod client against misbehaving servers', { skip: splitSkip }, () => {
  let split: { debugFile: string; id: string };

  before(() => {
    const built = buildProgram('c-split');
    split = { debugFile: built.debugFile ?? '', id: buildIdOf(built.binary) };
  });

  test('garbage and the wrong ELF file are rejected, not cached, and asked again next time', async () => {
    const wrongFile = readFileSync(split.debugFile);
    let requests = 0;
    const server = await misbehavingServer((url) => {
      requests++;
      if (url.includes(OTHER_ID)) return { status: 200, body: wrongFile };
      return { status: 200, body: Buffer.from('<html>sorry, this is a captive portal</html>') };
    });
    try {
      const c = client([server.url]);
      assert.deepEqual(await c.fetchDebugInfo(OTHER_ID), { notFound: 'debuginfod-invalid-response' });
      assert.deepEqual(await c.fetchDebugInfo(UNKNOWN_ID), { notFound: 'debuginfod-invalid-response' });
      assert.equal(c.counters().errors['build-id-mismatch'], 1);
      assert.equal(c.counters().errors['invalid-elf'], 1);
      assert.deepEqual(cacheContents(c.cache.dir), { debugFiles: [], partial: [] });
      assert.deepEqual(await c.fetchDebugInfo(OTHER_ID), { notFound: 'debuginfod-invalid-response' });
      assert.equal(requests, 3, 'not negatively cached: not retried either, since it is not transient');
    } finally {
      await server.close();
    }
  });

  test('a truncated ELF file is rejected and leaves no partial file behind', async () => {
    const debugFile = readFileSync(split.debugFile);
    const server = await misbehavingServer(() => ({ status: 200, body: debugFile.subarray(0, 2000) }));
    try {
      const c = client([server.url]);
      assert.deepEqual(await c.fetchDebugInfo(split.id), { notFound: 'debuginfod-invalid-response' });
      assert.equal(c.counters().errors['invalid-elf'], 1);
      assert.deepEqual(cacheContents(c.cache.dir), { debugFiles: [], partial: [] });
    } finally {
      await server.close();
    }
  });

  test('a file larger than the whole cache is refused, whether its length is announced or not', async () => {
    const debugFile = readFileSync(split.debugFile);
    for (const announce of [true, false]) {
      const server = await misbehavingServer(() => ({ status: 200, body: debugFile, announce }));
      try {
        const c = client([server.url], { cacheMaxBytes: 4096 });
        assert.deepEqual(await c.fetchDebugInfo(split.id), { notFound: 'debuginfod-invalid-response' });
        assert.equal(c.counters().errors['too-large'], 1, `announced: ${announce}`);
        assert.deepEqual(cacheContents(c.cache.dir), { debugFiles: [], partial: [] });
      } finally {
        await server.close();
      }
    }
  });

  test('at most maxConcurrent requests are in flight; a bad build ID asks nobody', async () => {
    let inFlight = 0;
    let most = 0;
    let requests = 0;
    const server = await misbehavingServer(async () => {
      requests++;
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 60));
      inFlight--;
      return { status: 404, body: Buffer.from('') };
    });
    try {
      const c = client([server.url], { maxConcurrent: 2 });
      const ids = Array.from({ length: 6 }, (_, i) => `${String(i).repeat(2)}${UNKNOWN_ID.slice(2)}`);
      const results = await Promise.all(ids.map((id) => c.fetchDebugInfo(id)));
      assert.deepEqual(new Set(results.map((r) => JSON.stringify(r))), new Set(['{"notFound":"not-found"}']));
      assert.equal(requests, 6);
      assert.equal(most, 2);
      assert.deepEqual(await c.fetchDebugInfo('not hex'), { notFound: 'invalid-build-id' });
      assert.equal(requests, 6);
    } finally {
      await server.close();
    }
  });

  test('a 5xx is retried with backoff, and the next server is asked after a 404', async () => {
    const debugFile = readFileSync(split.debugFile);
    let calls = 0;
    const flaky = await misbehavingServer(() =>
      ++calls < 3 ? { status: 503, body: Buffer.from('busy') } : { status: 200, body: debugFile },
    );
    const empty = await misbehavingServer(() => ({ status: 404, body: Buffer.from('') }));
    try {
      const c = client([empty.url, flaky.url], { retries: 2 });
      const events: string[] = [];
      c.onEvent((event) =>
        events.push(event.type === 'error' ? `error:${event.kind}:${event.willRetry}` : event.type),
      );
      const result = await c.fetchDebugInfo(split.id);
      assert.ok('path' in result, JSON.stringify(result));
      assert.equal(calls, 3);
      assert.deepEqual(events, ['error:http-status:true', 'error:http-status:true', 'download']);
      const exhausted = client([flaky.url], { retries: 1 });
      calls = -10;
      assert.deepEqual(await exhausted.fetchDebugInfo(split.id), { notFound: 'debuginfod-unreachable' });
      assert.equal(exhausted.counters().errors['http-status'], 2);
    } finally {
      await flaky.close();
      await empty.close();
    }
  });

  test('a server that never answers times out within timeoutMs per attempt', async () => {
    const silent = net.createServer(() => {
      // Accepts the connection and says nothing.
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const c = client([`http://127.0.0.1:${port}`], { timeoutMs: 300, retries: 1, retryDelayMs: 10 });
      const started = Date.now();
      assert.deepEqual(await c.fetchDebugInfo(split.id), { notFound: 'debuginfod-unreachable' });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 600 && elapsed < 1500, `took ${elapsed} ms`);
      assert.equal(c.counters().errors.timeout, 2);
    } finally {
      silent.close();
    }
  });

  test('one server down and another saying 404: unreachable, not a remembered "not found"', async () => {
    const empty = await misbehavingServer(() => ({ status: 404, body: Buffer.from('') }));
    try {
      const c = client([await closedPortUrl(), empty.url], { retries: 0 });
      assert.deepEqual(await c.fetchDebugInfo(UNKNOWN_ID), { notFound: 'debuginfod-unreachable' });
      assert.deepEqual(await c.fetchDebugInfo(UNKNOWN_ID), { notFound: 'debuginfod-unreachable' });
      assert.equal(c.counters().negativeCacheHits, 0);
    } finally {
      await empty.close();
    }
  });
});

/** A tiny HTTP server playing a broken debuginfod. `announce: false` sends the body chunked, without a length. */
async function misbehavingServer(
  answer: (
    url: string,
  ) =>
    | { status: number; body: Buffer; announce?: boolean }
    | Promise<{ status: number; body: Buffer; announce?: boolean }>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    void Promise.resolve(answer(request.url ?? '')).then(({ status, body, announce }) => {
      response.writeHead(status, announce === false ? {} : { 'content-length': body.length });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL where nothing listens (connection refused at once). */
async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
