/**
 * The release forms of `npm run package`, installed as a user installs them:
 *   - the linux-x64 archive, unpacked and run from a PATH without any Node.js on it;
 *   - the linux-arm64 archive: its own Node.js runs the program's --version, and loads its DuckDB binding,
 *     under qemu-aarch64 user emulation (Debian's qemu-user-static and the arm64 cross libraries);
 *   - the npm package, installed with `npm install -g` into a fresh prefix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { nodeRuntimeVersion } from '../../scripts/package/node-runtime.ts';
import { releaseArtifacts } from './artifacts.ts';
import { serveRoundTrip, version, VERSION } from './installed.ts';

const work = mkdtempSync(join(tmpdir(), 'uniprof-release-'));
after(() => rmSync(work, { recursive: true, force: true }));
let artifacts = '';
before(() => {
  artifacts = releaseArtifacts();
});

function unpack(archive: string): string {
  const into = join(work, archive.replace(/\.tar\.gz$/, ''));
  mkdirSync(into);
  execFileSync('tar', ['-xzf', join(artifacts, archive), '-C', into, '--strip-components=1']);
  return into;
}

/** A PATH directory holding only links to the given programs (found on the test's own PATH). */
function pathWith(name: string, links: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const [link, target] of Object.entries(links)) symlinkSync(target, join(dir, link));
  return dir;
}

function which(program: string): string {
  return execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim();
}

describe('release archive, linux-x64', { timeout: 600_000 }, () => {
  let root = '';
  let env: NodeJS.ProcessEnv = {};
  before(() => {
    root = unpack(`uniprof-${VERSION}-linux-x64.tar.gz`);
    // uniprof on the PATH as a symlink into the archive (as docs/install.md suggests), readlink for the
    // launcher to follow it, and nothing else: no node.
    const bin = pathWith('x64-path', { uniprof: join(root, 'bin', 'uniprof'), readlink: which('readlink') });
    env = { PATH: bin, HOME: work, LANG: 'C.UTF-8' };
    const node = spawnSync('sh', ['-c', 'command -v node'], { env });
    assert.notEqual(node.status, 0, 'no node on the PATH the archive runs with');
  });

  it('ships its runtime and production dependencies only', () => {
    assert.deepEqual(readdirSync(root).sort(), ['bin', 'lib']);
    assert.equal(
      execFileSync(join(root, 'lib/node/bin/node'), ['--version'], { encoding: 'utf8' }).trim(),
      `v${nodeRuntimeVersion()}`,
    );
    const modules = readdirSync(join(root, 'lib/uniprof/node_modules'));
    for (const dev of ['tsx', 'typescript', 'vite', 'eslint', 'esbuild'])
      assert.ok(!modules.includes(dev), dev);
    assert.ok(!existsSync(join(root, 'lib/uniprof/src')), 'no TypeScript sources');
  });

  it('prints its version', () => {
    assert.equal(version({ command: 'uniprof', env }), VERSION);
  });

  it('serves: load-generator profiles in, a flamegraph out', async () => {
    await serveRoundTrip({ command: 'uniprof', env });
  });

  it("extracts symbol ranges in the compiled program's worker thread", () => {
    // The symbolizer's extraction thread is started from an eval'd bootstrap that must load the compiled
    // thread module (no tsx); the archive's own DuckDB binding is the small ELF file with a symbol table.
    const app = join(root, 'lib/uniprof');
    const elf = join(app, 'node_modules/@duckdb/node-bindings-linux-x64/duckdb.node');
    const script = `
      const { threadedRangeExtractor } = await import(${JSON.stringify(join(app, 'dist/symbolizer/service/extract-thread-main.js'))});
      let ranges = 0;
      for await (const chunk of threadedRangeExtractor(${JSON.stringify(elf)}, {})) ranges += chunk.length;
      console.log(ranges);`;
    const output = execFileSync(join(root, 'lib/node/bin/node'), ['--input-type=module', '-e', script], {
      env,
      encoding: 'utf8',
    });
    assert.ok(Number(output) > 100, `symbol ranges extracted: ${output}`);
  });
});

describe('release archive, linux-arm64 (under qemu-aarch64)', { timeout: 300_000 }, () => {
  const qemu = '/usr/bin/qemu-aarch64-static';
  const sysroot = '/usr/aarch64-linux-gnu';
  const missing = !existsSync(qemu) || !existsSync(join(sysroot, 'lib/ld-linux-aarch64.so.1'));
  if (missing && process.env.CI === 'true')
    throw new Error(
      `${qemu} or the arm64 libraries in ${sysroot} are missing: install qemu-user-static, libc6-arm64-cross, libstdc++6-arm64-cross (.ci/apt-packages.txt)`,
    );
  let root = '';
  before(() => {
    if (!missing) root = unpack(`uniprof-${VERSION}-linux-arm64.tar.gz`);
  });
  const emulated = (args: string[]) =>
    execFileSync(qemu, ['-L', sysroot, join(root, 'lib/node/bin/node'), ...args], {
      env: { PATH: '/nonexistent', HOME: work },
      encoding: 'utf8',
    }).trim();

  it('prints its version', { skip: missing && 'qemu-aarch64-static is not installed' }, () => {
    // What bin/uniprof runs, with its node started by the emulator (no binfmt_misc needed).
    assert.equal(emulated([join(root, 'lib/uniprof/bin/uniprof.mjs'), '--version']), VERSION);
  });

  it('loads its arm64 DuckDB binding', { skip: missing && 'qemu-aarch64-static is not installed' }, () => {
    const api = join(root, 'lib/uniprof/node_modules/@duckdb/node-api/lib/index.js');
    const script = `
      const { DuckDBInstance } = await import(${JSON.stringify(api)});
      const connection = await (await DuckDBInstance.create(':memory:')).connect();
      const reader = await connection.runAndReadAll("select 6 * 7 as answer, platform from pragma_platform()");
      console.log(JSON.stringify(reader.getRowObjects()[0]));`;
    const row = JSON.parse(emulated(['--input-type=module', '-e', script])) as {
      answer: number;
      platform: string;
    };
    assert.equal(row.answer, 42);
    assert.match(row.platform, /linux_arm64/);
  });
});

describe('npm package, installed with npm install -g', { timeout: 300_000 }, () => {
  const prefix = join(work, 'npm-global');
  let env: NodeJS.ProcessEnv = {};
  before(() => {
    execFileSync(
      'npm',
      [
        'install',
        '-g',
        '--no-audit',
        '--no-fund',
        '--prefix',
        prefix,
        join(artifacts, `uniprof-${VERSION}.tgz`),
      ],
      {
        stdio: 'pipe',
      },
    );
    // The package runs on the machine's Node.js: this one.
    env = { PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}`, HOME: work, LANG: 'C.UTF-8' };
  });

  it('installs production dependencies only, and compiled JavaScript', () => {
    const app = join(prefix, 'lib/node_modules/uniprof');
    const modules = readdirSync(join(app, 'node_modules'));
    for (const dev of ['tsx', 'typescript', 'vite', 'esbuild']) assert.ok(!modules.includes(dev), dev);
    assert.ok(existsSync(join(app, 'dist/cli/main.js')));
    assert.ok(!existsSync(join(app, 'src')));
  });

  it('prints its version and serves the round trip', async () => {
    assert.equal(version({ command: 'uniprof', env }), VERSION);
    await serveRoundTrip({ command: 'uniprof', env });
  });
});
