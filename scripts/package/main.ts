/**
 * `npm run package`: builds every release artifact into artifacts/ (emptied first):
 *
 *   - uniprof-<version>.tgz — the npm package (`npm install -g` it; runs on the Node.js of the machine);
 *   - uniprof-<version>-linux-<x64|arm64>.tar.gz — self-contained: the pinned Node.js runtime for that
 *     architecture, the compiled program and its production dependencies with that architecture's native
 *     DuckDB binding, and one entry point, bin/uniprof;
 *   - uniprof-<version>-oci.tar — the container image for linux/amd64 and linux/arm64, an OCI archive built
 *     from the release archives on Debian packages without a daemon (image.ts);
 *   - uniprof_<version>-1_<amd64|arm64>.deb and uniprof-<version>-1.<x86_64|aarch64>.rpm — that archive's tree
 *     as a system package with a `uniprof` user, /etc/uniprof configuration and systemd units
 *     (system-packages.ts);
 *   - SHA256SUMS.
 *
 * Cross-architecture: dependencies are installed for the target with npm's --os/--cpu/--libc, and each
 * native file is checked to be built for it. See docs/install.md.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { elfArch } from './elf.ts';
import { buildImage } from './image.ts';
import { inputsHash, ROOT } from './inputs.ts';
import { ARCHES, nodeRuntime, type Arch } from './node-runtime.ts';
import { buildReleaseSystemPackages } from './system-packages.ts';

const OUT = join(ROOT, 'artifacts');
const STAGE = join(OUT, '.stage');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function run(command: string, args: string[], cwd = ROOT): void {
  execFileSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Fails unless every native file the archive ships for `arch` is built for it, and DuckDB's is there. */
function checkNativeFiles(app: string, runtime: string, arch: Arch): void {
  const duckdb = join(app, 'node_modules', '@duckdb');
  const bindings = readdirSync(duckdb).filter((name) => name.startsWith('node-bindings-'));
  if (bindings.join() !== `node-bindings-linux-${arch}`)
    throw new Error(
      `expected only DuckDB's linux-${arch} binding in ${duckdb}, found: ${bindings.join(', ')}`,
    );
  const binding = join(duckdb, `node-bindings-linux-${arch}`);
  for (const file of [
    join(runtime, 'bin', 'node'),
    join(binding, 'duckdb.node'),
    join(binding, 'libduckdb.so'),
  ]) {
    const built = elfArch(file);
    if (built !== arch) throw new Error(`${file} is built for ${built}, not ${arch}`);
  }
}

function buildArchive(npmPackage: string, arch: Arch): string {
  const name = `uniprof-${version}-linux-${arch}`;
  const dir = join(STAGE, name);
  const app = join(dir, 'lib', 'uniprof');
  mkdirSync(app, { recursive: true });
  run('tar', ['-xzf', npmPackage, '-C', app, '--strip-components=1']);
  // The lock file pins the production dependencies to what the tests ran with.
  copyFileSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
  run(
    'npm',
    [
      'ci',
      '--omit=dev',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--os=linux',
      `--cpu=${arch}`,
      '--libc=glibc',
    ],
    app,
  );
  const runtime = join(dir, 'lib', 'node');
  cpSync(nodeRuntime(arch), runtime, { recursive: true });
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'scripts', 'package', 'launcher.sh'), join(dir, 'bin', 'uniprof'));
  chmodSync(join(dir, 'bin', 'uniprof'), 0o755);
  checkNativeFiles(app, runtime, arch);
  const archive = `${name}.tar.gz`;
  // Owner and order fixed, so the archive depends on its contents only (and on gzip).
  run('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-czf',
    join(OUT, archive),
    '-C',
    STAGE,
    name,
  ]);
  return archive;
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(STAGE, { recursive: true });
const hash = inputsHash();
run('npm', ['run', 'build']);
// Built just above: --ignore-scripts spares prepack a second compile.
run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', OUT]);
const artifacts = [`uniprof-${version}.tgz`];
for (const arch of ARCHES) artifacts.push(buildArchive(join(OUT, artifacts[0]!), arch));
artifacts.push(
  buildImage({
    version,
    archives: {
      x64: join(OUT, `uniprof-${version}-linux-x64.tar.gz`),
      arm64: join(OUT, `uniprof-${version}-linux-arm64.tar.gz`),
    },
    outDir: OUT,
    workDir: join(STAGE, 'image'),
  }),
);
artifacts.push(...buildReleaseSystemPackages(OUT, version));
rmSync(STAGE, { recursive: true, force: true });

const sums = artifacts.map((file) => {
  const digest = createHash('sha256')
    .update(readFileSync(join(OUT, file)))
    .digest('hex');
  return `${digest}  ${file}\n`;
});
writeFileSync(join(OUT, 'SHA256SUMS'), sums.join(''));
writeFileSync(join(OUT, '.inputs-sha256'), `${hash}\n`);
console.log(`artifacts/: ${artifacts.join(', ')}, SHA256SUMS`);
