/**
 * The .deb and .rpm of `npm run package`, and the release archive, installed as a user installs them, on a fresh
 * Debian Bookworm root file system with no Node.js (test/packaging/chroot.ts):
 *   - the .deb with dpkg: user, files, modes, token, units (also through systemd-analyze verify and security); the
 *     collector unit's own ExecStart run as its user through the round trip (profiles in, flamegraph out); an
 *     upgrade to a newer release keeping the edited configuration and the data; remove keeping, purge deleting;
 *   - the release archive unpacked there, serving the same round trip;
 *   - the .rpm through the rpm tools (contents, modes, configuration files, scriptlets, dependencies), and its
 *     file tree installed with `rpm --root`;
 *   - the ARM64 .deb and .rpm: their architecture fields, and that the ELF files in them are aarch64.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { elfArch } from '../../scripts/package/elf.ts';
import { buildSystemPackages, systemPackageName } from '../../scripts/package/system-packages.ts';
import { releaseArtifacts } from './artifacts.ts';
import { freePort } from '../support/ports.ts';
import { chrootBlocker, DebianRoot, RunningService, serviceCommand } from './chroot.ts';
import { VERSION } from './installed.ts';
import { servedAddresses } from '../support/serve.ts';
import { flamegraph, sendProfiles } from './round-trip.ts';

const blocker = chrootBlocker([
  'mmdebstrap',
  'chroot',
  'unshare',
  'dpkg',
  'rpm',
  'systemd-analyze',
  'bsdtar',
]);
if (blocker && process.env.CI === 'true') throw new Error(`system package tests: ${blocker}`);
const skip = blocker ?? false;

const work = mkdtempSync(join(tmpdir(), 'uniprof-system-packages-'));
after(() => rmSync(work, { recursive: true, force: true }));
let artifacts = '';
// One fresh root file system: the .deb's whole life cycle, then (after its purge) the release archive.
let root: DebianRoot;
before(() => {
  if (skip) return;
  artifacts = releaseArtifacts();
  root = DebianRoot.fresh(join(work, 'root'));
  for (const node of ['node', 'nodejs'])
    assert.ok(!root.succeeds(['sh', '-c', `command -v ${node}`]), `no ${node} in the root file system`);
});
after(() => root?.remove());

const COLLECTOR_UNIT = '/usr/lib/systemd/system/uniprof-collector.service';
const SYMBOLIZER_UNIT = '/usr/lib/systemd/system/uniprof-symbolizer.service';

/** The files (and links) of a tree, as paths relative to it. */
function treeFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** Every ELF file in a tree, with the architecture it was built for. */
function elfFiles(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    try {
      found.set(relative(dir, path), elfArch(path));
    } catch {
      // not an ELF file
    }
  }
  return found;
}

/** The collector's ports, set in the installed configuration as an administrator edits it. */
function editPorts(root: DebianRoot, file: string, ports: Record<number, number>): void {
  let text = root.read(file);
  for (const [from, to] of Object.entries(ports)) {
    assert.match(text, new RegExp(`port: ${from}\\n`));
    text = text.replace(`port: ${from}\n`, `port: ${to}\n`);
  }
  writeFileSync(root.path(file), `${text}# edited by the system package test\n`);
}

describe('.deb on Debian Bookworm without Node.js', { skip, timeout: 900_000 }, () => {
  const deb = () => join(artifacts, systemPackageName('deb', 'x64', VERSION));
  let samples = 0;

  function dpkg(args: string[], file?: string): void {
    if (file) execFileSync('cp', [file, root.path('/tmp/')]);
    root.run(['dpkg', ...args, ...(file ? [`/tmp/${file.split('/').pop()}`] : [])]);
  }

  it('installs with dpkg: system user, files and modes, a generated token, the collector unit enabled', () => {
    dpkg(['--install'], deb());
    const [name, , uid, , , home, shell] = root.run(['getent', 'passwd', 'uniprof']).trim().split(':');
    assert.equal(name, 'uniprof');
    assert.ok(Number(uid) < 1000, `a system user: uid ${uid}`);
    assert.equal(home, '/var/lib/uniprof');
    assert.equal(shell, '/usr/sbin/nologin');

    assert.equal(root.run(['readlink', '/usr/bin/uniprof']).trim(), '/usr/lib/uniprof/bin/uniprof');
    assert.equal(root.run(['uniprof', '--version']).trim(), VERSION);
    assert.equal(elfArch(root.path('/usr/lib/uniprof/lib/node/bin/node')), 'x64');

    assert.equal(root.stat('/etc/uniprof/collector.yaml'), '640 root uniprof');
    assert.equal(root.stat('/etc/uniprof/symbolizer.yaml'), '640 root uniprof');
    assert.equal(root.stat('/var/lib/uniprof'), '750 uniprof uniprof');
    assert.equal(root.stat('/var/lib/uniprof/secret-token'), '600 uniprof uniprof');
    assert.match(root.read('/var/lib/uniprof/secret-token'), /^[A-Za-z0-9_-]{32}\n$/);
    assert.equal(root.stat(COLLECTOR_UNIT), '644 root root');
    const conffiles = root.run(['dpkg-query', '--show', '--showformat=${Conffiles}', 'uniprof']);
    assert.deepEqual([...conffiles.matchAll(/^ (\S+) [0-9a-f]{32}$/gm)].map((match) => match[1]).sort(), [
      '/etc/uniprof/collector.yaml',
      '/etc/uniprof/symbolizer.yaml',
    ]);
    // Enabled without a running systemd (deb-systemd-helper); the symbolizer unit is for Elasticsearch only.
    const wants = '/etc/systemd/system/multi-user.target.wants';
    assert.ok(root.exists(`${wants}/uniprof-collector.service`), 'the collector unit is enabled');
    assert.ok(!root.exists(`${wants}/uniprof-symbolizer.service`), 'the symbolizer unit is not');
  });

  it('ships units that pass systemd-analyze verify and security', () => {
    // systemd-analyze resolves a unit's dependencies (sysinit.target, …) and ExecStart under --root: the
    // package's files plus this machine's systemd units, since the minimal root file system has no systemd.
    const tree = join(work, 'deb-verify');
    execFileSync('dpkg-deb', ['--extract', deb(), tree]);
    execFileSync('cp', ['-rn', '/usr/lib/systemd/system/.', join(tree, 'usr/lib/systemd/system/')]);
    for (const unit of [COLLECTOR_UNIT, SYMBOLIZER_UNIT]) {
      const path = join(tree, unit);
      // Silent on success: an unknown or misspelt setting only warns, so any output fails the test.
      const verify = execFileSync('systemd-analyze', ['verify', `--root=${tree}`, path], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      assert.equal(verify, '');
      const security = execFileSync(
        'systemd-analyze',
        ['security', '--offline=yes', `--root=${tree}`, '--threshold=25', '--no-pager', path],
        { encoding: 'utf8' },
      );
      const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security)?.[1]);
      assert.ok(exposure <= 2.5, `exposure ${exposure} of ${unit}:\n${security}`);
      for (const setting of ['NoNewPrivileges=', 'ProtectSystem=', 'ProtectHome=', 'PrivateTmp='])
        assert.match(security, new RegExp(`✓ ${setting}`), setting);
    }
    rmSync(tree, { recursive: true, force: true });
  });

  it("runs the collector unit's ExecStart as its user: profiles in, a flamegraph out", async () => {
    const collector = serviceCommand(root.read(COLLECTOR_UNIT));
    assert.deepEqual(collector.argv, [
      '/usr/bin/uniprof',
      'serve',
      '--config',
      '/etc/uniprof/collector.yaml',
    ]);
    assert.equal(collector.user, 'uniprof');
    // Free ports instead of the defaults, as an administrator edits the configuration; the upgrade keeps it.
    const [grpc, http, symbolizer] = [await freePort(), await freePort(), await freePort()];
    const api = await freePort();
    editPorts(root, '/etc/uniprof/collector.yaml', { 4317: grpc, 4318: http, 4319: symbolizer, 4320: api });
    const service = await RunningService.start(root, collector, /data dir/);
    try {
      assert.match(service.stdout, /store\s+embedded DuckDB at \/var\/lib\/uniprof\/uniprof\.duckdb/);
      assert.match(service.stdout, /agent auth\s+bearer token \(in \/var\/lib\/uniprof\/secret-token\)/);
      const addresses = servedAddresses(service.stdout);
      assert.equal(addresses.grpc, `127.0.0.1:${grpc}`);
      // The token postinst generated is the one the service asks agents for.
      samples = await sendProfiles(addresses.grpc, root.read('/var/lib/uniprof/secret-token').trim());
      assert.equal(addresses.api, `http://127.0.0.1:${api}`);
      // The UI and query API need a reader's credentials: the read token the first start generated.
      assert.equal(root.stat('/var/lib/uniprof/read-token'), '600 uniprof uniprof');
      const served = await flamegraph(addresses.api, root.read('/var/lib/uniprof/read-token').trim());
      assert.equal(served.totalCount, samples, 'every acknowledged sample is in the flamegraph');
      assert.ok(served.nodes > 10, `a tree, not just a root: ${served.nodes} nodes`);
      assert.equal(await service.stop(), 0, service.stderr);
    } finally {
      service.kill();
    }
    assert.equal(root.stat('/var/lib/uniprof/uniprof.duckdb'), '600 uniprof uniprof');
  });

  it('runs the symbolizer unit on Elasticsearch only, never on the embedded store', async () => {
    const symbolizer = serviceCommand(root.read(SYMBOLIZER_UNIT));
    assert.equal(symbolizer.environment.UNIPROF_OUTPUT_TYPE, 'elasticsearch');
    editPorts(root, '/etc/uniprof/symbolizer.yaml', { 4319: await freePort() });
    const service = await RunningService.start(root, symbolizer, /data dir/);
    try {
      // Its configured Elasticsearch is not there: it waits for it and leaves the embedded store alone.
      assert.match(service.stdout, /store\s+Elasticsearch at http:\/\/127\.0\.0\.1:9200/);
      assert.equal(await service.stop(), 0, service.stderr);
    } finally {
      service.kill();
    }
    assert.ok(!root.exists('/var/lib/uniprof/symbolizer/uniprof.duckdb'));
  });

  it('upgrades to a newer release, keeping the edited configuration, the token and the data', async () => {
    const edited = {
      collector: root.read('/etc/uniprof/collector.yaml'),
      symbolizer: root.read('/etc/uniprof/symbolizer.yaml'),
      token: root.read('/var/lib/uniprof/secret-token'),
    };
    assert.match(edited.collector, /edited by the system package test/);
    const newer = join(work, 'newer');
    const [name] = buildSystemPackages(
      {
        archive: join(artifacts, `uniprof-${VERSION}-linux-x64.tar.gz`),
        arch: 'x64',
        version: VERSION,
        release: 2,
        out: newer,
        uncompressed: true,
      },
      ['deb'],
    );
    dpkg(['--install'], join(newer, name!));
    assert.equal(root.run(['dpkg-query', '--show', '--showformat=${Version}', 'uniprof']), `${VERSION}-2`);
    assert.equal(root.read('/etc/uniprof/collector.yaml'), edited.collector);
    assert.equal(root.read('/etc/uniprof/symbolizer.yaml'), edited.symbolizer);
    assert.equal(root.read('/var/lib/uniprof/secret-token'), edited.token);
    // The upgraded service serves what the old one stored.
    const service = await RunningService.start(root, serviceCommand(root.read(COLLECTOR_UNIT)), /data dir/);
    try {
      const readToken = root.read('/var/lib/uniprof/read-token').trim();
      assert.equal((await flamegraph(servedAddresses(service.stdout).api, readToken)).totalCount, samples);
      assert.equal(await service.stop(), 0, service.stderr);
    } finally {
      service.kill();
    }
  });

  it('remove keeps the configuration and the data; purge deletes them', () => {
    dpkg(['--remove', 'uniprof']);
    assert.ok(!root.exists('/usr/bin/uniprof') && !root.exists('/usr/lib/uniprof'), 'the program is gone');
    assert.ok(!root.exists(COLLECTOR_UNIT), 'the units are gone');
    for (const kept of [
      '/etc/uniprof/collector.yaml',
      '/var/lib/uniprof/uniprof.duckdb',
      '/var/lib/uniprof/secret-token',
    ])
      assert.ok(root.exists(kept), `${kept} is kept`);

    dpkg(['--purge', 'uniprof']);
    assert.ok(!root.exists('/var/lib/uniprof'), 'the data is deleted');
    assert.ok(!root.exists('/etc/uniprof'), 'the configuration is deleted');
    assert.ok(!root.exists('/etc/systemd/system/multi-user.target.wants/uniprof-collector.service'));
    assert.ok(!root.succeeds(['dpkg-query', '--show', 'uniprof']), 'dpkg has forgotten the package');
  });
});

describe('release archive on Debian Bookworm without Node.js', { skip, timeout: 600_000 }, () => {
  it('serves the round trip from /opt, as an unprivileged user', async () => {
    execFileSync('tar', [
      '-xzf',
      join(artifacts, `uniprof-${VERSION}-linux-x64.tar.gz`),
      '-C',
      root.path('/opt'),
    ]);
    root.run(['ln', '-s', `/opt/uniprof-${VERSION}-linux-x64/bin/uniprof`, '/usr/local/bin/uniprof']);
    assert.equal(
      root.run(['sh', '-c', 'readlink -f "$(command -v uniprof)"']).trim(),
      `/opt/uniprof-${VERSION}-linux-x64/bin/uniprof`,
    );
    root.run(['install', '-d', '-o', 'nobody', '-g', 'nogroup', '-m', '750', '/srv/uniprof']);
    const [grpc, http, symbolizer] = [await freePort(), await freePort(), await freePort()];
    const argv = ['uniprof', 'serve', '--data-dir', '/srv/uniprof', '--grpc-port', `${grpc}`];
    argv.push('--http-port', `${http}`, '--api-port', `${await freePort()}`);
    argv.push('--set', `symbolizer.http.port=${symbolizer}`);
    const command = {
      argv,
      user: 'nobody',
      group: 'nogroup',
      workingDirectory: '/srv/uniprof',
      umask: '0077',
      environment: {},
    };
    const service = await RunningService.start(root, command, /data dir/);
    try {
      const addresses = servedAddresses(service.stdout);
      const samples = await sendProfiles(addresses.grpc, root.read('/srv/uniprof/secret-token').trim());
      const readToken = root.read('/srv/uniprof/read-token').trim();
      assert.equal((await flamegraph(addresses.api, readToken)).totalCount, samples);
      assert.equal(await service.stop(), 0, service.stderr);
    } finally {
      service.kill();
    }
  });
});

describe('.rpm, checked with the rpm tools', { skip, timeout: 300_000 }, () => {
  const rpmFile = () => join(artifacts, systemPackageName('rpm', 'x64', VERSION));
  const query = (...args: string[]) =>
    execFileSync('rpm', ['--query', '--package', ...args, rpmFile()], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });

  it('names, versions and describes itself', () => {
    assert.equal(
      query('--queryformat', '%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE}'),
      `uniprof ${VERSION} 1 x86_64 Apache-2.0`,
    );
    assert.match(query('--provides'), new RegExp(`^uniprof = ${VERSION}-1$`, 'm'));
  });

  it('requires the libraries its Node.js and DuckDB link, and the user tools its scriptlets use', () => {
    const requires = query('--requires').split('\n');
    for (const needed of [
      'libc.so.6(GLIBC_2.28)(64bit)',
      'libstdc++.so.6()(64bit)',
      '/usr/sbin/useradd',
      '/usr/sbin/groupadd',
    ])
      assert.ok(requires.includes(needed), `requires ${needed}: ${requires.join(', ')}`);
    assert.ok(!requires.some((name) => /node/i.test(name)), 'no Node.js of the system');
  });

  it('holds the program, units and configuration, with their owners and modes', () => {
    const files = query('--list').split('\n');
    for (const path of [
      '/usr/bin/uniprof',
      '/usr/lib/uniprof/bin/uniprof',
      '/usr/lib/uniprof/lib/node/bin/node',
      '/usr/lib/uniprof/lib/uniprof/dist/cli/main.js',
      COLLECTOR_UNIT,
      SYMBOLIZER_UNIT,
      '/etc/uniprof/collector.yaml',
      '/etc/uniprof/symbolizer.yaml',
      '/var/lib/uniprof',
    ])
      assert.ok(files.includes(path), path);
    assert.ok(!files.includes('/usr/lib/systemd/system'), 'shared directories stay the system’s');
    assert.deepEqual(query('--configfiles').trim().split('\n'), [
      '/etc/uniprof/collector.yaml',
      '/etc/uniprof/symbolizer.yaml',
    ]);
    // --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
    const dump = new Map(
      query('--dump')
        .trim()
        .split('\n')
        .map((line) => line.split(' '))
        .map((fields) => [fields[0]!, fields]),
    );
    const modeOwner = (path: string) => dump.get(path)!.slice(4, 7).join(' ');
    assert.equal(modeOwner('/etc/uniprof/collector.yaml'), '0100640 root uniprof');
    assert.equal(modeOwner('/var/lib/uniprof'), '040750 uniprof uniprof');
    assert.equal(modeOwner(COLLECTOR_UNIT), '0100644 root root');
    assert.equal(dump.get('/usr/bin/uniprof')![10], '/usr/lib/uniprof/bin/uniprof');
    assert.equal(modeOwner('/usr/lib/uniprof/lib/node/bin/node'), '0100755 root root');
  });

  it('has scriptlets that create the user, generate the token and handle the units', () => {
    const scripts = query('--scripts');
    const scriptlet = (name: string) =>
      new RegExp(`${name} scriptlet \\(using /bin/sh\\):\\n([\\s\\S]*?)(?=\\n\\S+ scriptlet|$)`).exec(
        scripts,
      )?.[1] ?? '';
    assert.match(scriptlet('preinstall'), /useradd --system --gid uniprof/);
    assert.match(scriptlet('postinstall'), /\/var\/lib\/uniprof\/secret-token/);
    assert.match(scriptlet('postinstall'), /systemctl --no-reload preset/);
    assert.match(scriptlet('preuninstall'), /"\$1" -eq 0/);
    assert.match(scriptlet('postuninstall'), /try-restart/);
    assert.doesNotMatch(scripts, /rm -rf \/var\/lib\/uniprof/, 'erasing keeps the data');
    // Every scriptlet parses as POSIX shell.
    for (const name of ['preinstall', 'postinstall', 'preuninstall', 'postuninstall'])
      execFileSync('sh', ['-n'], { input: scriptlet(name) });
  });

  it('installs with rpm --root the same program tree as the .deb, and that tree runs', () => {
    const rpmRoot = join(work, 'rpm-root');
    mkdirSync(rpmRoot);
    execFileSync('rpm', ['--root', rpmRoot, '--initdb']);
    execFileSync('rpm', ['--root', rpmRoot, '--install', '--nodeps', '--noscripts', rpmFile()], {
      stdio: 'pipe',
    });
    // The .deb's listing, lines like "-rw-r--r-- root/root 219 2026-01-01 00:00 ./usr/lib/uniprof/… [-> target]".
    const debListing = execFileSync(
      'dpkg-deb',
      ['--contents', join(artifacts, systemPackageName('deb', 'x64', VERSION))],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const debProgram = [
      ...debListing.matchAll(/^[^d]\S+ \S+ +\d+ \S+ \S+ \.\/usr\/lib\/uniprof\/(.+?)(?: -> .*)?$/gm),
    ]
      .map((match) => match[1]!)
      .sort();
    assert.deepEqual(treeFiles(join(rpmRoot, 'usr/lib/uniprof')), debProgram);
    assert.equal(
      execFileSync(join(rpmRoot, 'usr/lib/uniprof/bin/uniprof'), ['--version'], { encoding: 'utf8' }).trim(),
      VERSION,
    );
    rmSync(rpmRoot, { recursive: true, force: true });
  });
});

describe('ARM64 .deb and .rpm', { skip, timeout: 300_000 }, () => {
  /**
   * Where ELF files live in the tree: executables in bin/ directories, shared objects, Node.js addons. Only these
   * are unpacked, not the whole tree.
   */
  const ELF_PLACES = ['*/bin/*', '*.so*', '*.node'];

  function checkArm64Tree(dir: string): void {
    const elves = elfFiles(join(dir, 'usr/lib/uniprof'));
    for (const must of [
      'lib/node/bin/node',
      'lib/uniprof/node_modules/@duckdb/node-bindings-linux-arm64/duckdb.node',
      'lib/uniprof/node_modules/@duckdb/node-bindings-linux-arm64/libduckdb.so',
    ])
      assert.ok(elves.has(must), `${must} is there`);
    const foreign = [...elves].filter(([, arch]) => arch !== 'arm64');
    assert.deepEqual(foreign, [], 'every ELF file is aarch64');
  }

  it('.deb: arm64, with aarch64 ELF files only', () => {
    const deb = join(artifacts, systemPackageName('deb', 'arm64', VERSION));
    assert.equal(
      execFileSync('dpkg-deb', ['--field', deb, 'Architecture'], { encoding: 'utf8' }).trim(),
      'arm64',
    );
    const tree = join(work, 'deb-arm64');
    mkdirSync(tree);
    const data = execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', tree, '--wildcards', ...ELF_PLACES], { input: data });
    checkArm64Tree(tree);
    rmSync(tree, { recursive: true, force: true });
  });

  it('.rpm: aarch64, with aarch64 ELF files only', () => {
    const rpmFile = join(artifacts, systemPackageName('rpm', 'arm64', VERSION));
    assert.equal(
      execFileSync('rpm', ['--query', '--package', '--queryformat', '%{ARCH}', rpmFile], {
        encoding: 'utf8',
      }),
      'aarch64',
    );
    const tree = join(work, 'rpm-arm64');
    mkdirSync(tree);
    // bsdtar reads an rpm's payload directly.
    execFileSync('bsdtar', ['-x', '-f', rpmFile, '-C', tree, ...ELF_PLACES], { stdio: 'pipe' });
    checkArm64Tree(tree);
    rmSync(tree, { recursive: true, force: true });
  });
});
