/**
 * The container image of `npm run package` (uniprof-<version>-oci.tar), used as a user uses it, with podman
 * (Debian's podman and runc; its own storage in a temporary directory):
 *   - the archive holds a linux/amd64 and a linux/arm64 image whose settings are those of IMAGE;
 *   - the amd64 image, loaded with `podman load` and run with its ports published and a named volume on
 *     /data, serves the round trip (load-generator profiles in, a flamegraph back through the API), answers its
 *     health check as its non-root user, stops cleanly, and a new container on the same volume still has the
 *     data (an upgrade);
 *   - the arm64 image's Node.js runs `uniprof --version` in that image's root under qemu-aarch64 user emulation;
 *   - deploy/docker/Dockerfile builds with buildah from the release archive (on a local Debian base, as
 *     there is no registry here) into an image with the same settings plus a Docker health check, which runs.
 *
 * This sandbox withholds CAP_SYS_RESOURCE and mounts cgroups in hybrid mode: runc (crun refuses hybrid
 * cgroups) with --ulimit values no higher than the host's lets containers start.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianRootfsTar } from '../../scripts/package/debian-rootfs.ts';
import { IMAGE, imageArchiveName, imageReference } from '../../scripts/package/image.ts';
import { flamegraph, sendProfiles } from './round-trip.ts';
import { releaseArtifacts } from './artifacts.ts';
import { VERSION } from './installed.ts';

const TOOLS = ['podman', 'buildah', 'runc'];
const QEMU = '/usr/bin/qemu-aarch64-static';
const missing = [...TOOLS.filter((tool) => spawnSync(tool, ['--version']).status !== 0)];
if (!existsSync(QEMU)) missing.push(QEMU);
if (missing.length > 0 && process.env.CI === 'true')
  throw new Error(`${missing.join(', ')} missing: install them (.ci/apt-packages.txt)`);
const skip = missing.length > 0 && `not installed: ${missing.join(', ')}`;

const work = mkdtempSync(join(tmpdir(), 'uniprof-image-'));
const storage = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
const podmanGlobals = [
  ...storage,
  '--runtime',
  'runc',
  '--cgroup-manager',
  'cgroupfs',
  '--events-backend',
  'file',
];

function podman(args: string[]): string {
  return execFileSync('podman', [...podmanGlobals, ...args], { encoding: 'utf8', stdio: 'pipe' }).trim();
}

function buildah(args: string[]): string {
  return execFileSync('buildah', [...storage, ...args], { encoding: 'utf8', stdio: 'pipe' }).trim();
}

/** Resource limits no higher than this process's own, which is all the runtime may set here. */
function ulimits(): string[] {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const soft = (name: string) => Number(new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(limits)?.[1] ?? 1024);
  const nofile = Math.min(soft('Max open files'), 65536);
  const nproc = Math.min(soft('Max processes'), 4096);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

interface ImageConfig {
  architecture: string;
  os: string;
  config: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    Healthcheck?: { Test?: string[] };
  };
  rootfs: { diff_ids: string[] };
}

/** The settings every form of the image must carry, as IMAGE states them. */
function assertSettings(config: ImageConfig['config'], where: string): void {
  const { uid, gid } = IMAGE.user;
  assert.equal(config.User, `${uid}:${gid}`, `${where}: numeric non-root user`);
  assert.notEqual(uid, 0);
  assert.deepEqual(
    Object.keys(config.ExposedPorts ?? {}).sort(),
    Object.values(IMAGE.ports)
      .map((port) => `${port}/tcp`)
      .sort(),
    `${where}: exposed ports`,
  );
  assert.deepEqual(Object.keys(config.Volumes ?? {}), [IMAGE.dataDir], `${where}: volume`);
  assert.equal(config.WorkingDir, IMAGE.dataDir);
  assert.deepEqual(config.Entrypoint, IMAGE.entrypoint, `${where}: entry point`);
  assert.deepEqual(config.Cmd, IMAGE.cmd, `${where}: command`);
  for (const [key, value] of Object.entries(IMAGE.env))
    assert.ok(
      config.Env?.includes(`${key}=${value}`),
      `${where}: ${key}=${value} in ${config.Env?.join(' ')}`,
    );
  assert.equal(config.Labels?.['org.opencontainers.image.version'], VERSION, `${where}: version label`);
  assert.equal(config.Labels?.['org.opencontainers.image.title'], 'uniprof');
}

async function untilReady(url: string, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready in ${timeoutMs} ms:\n${logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('container image (OCI archive, podman)', { timeout: 900_000, skip }, () => {
  let archive = '';
  let amd64Image = '';
  const containers: string[] = [];
  before(() => {
    archive = join(releaseArtifacts(), imageArchiveName(VERSION));
  });
  after(() => {
    for (const container of containers)
      spawnSync('podman', [...podmanGlobals, 'rm', '-f', '-t', '0', container]);
    // Removes images, volumes and the storage's overlay mounts, which a plain rm could not.
    spawnSync('podman', [...podmanGlobals, 'system', 'reset', '--force']);
    rmSync(work, { recursive: true, force: true });
  });

  it('holds a linux/amd64 and a linux/arm64 image with the settings of IMAGE', () => {
    const blob = (digest: string) =>
      execFileSync('tar', ['-xOf', archive, `blobs/sha256/${digest.replace(/^sha256:/, '')}`], {
        maxBuffer: 1024 * 1024 * 1024,
      });
    const json = <T>(digest: string) => JSON.parse(blob(digest).toString('utf8')) as T;
    const top = JSON.parse(execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' })) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    assert.equal(top.manifests.length, 1);
    assert.equal(
      top.manifests[0]!.annotations?.['org.opencontainers.image.ref.name'],
      imageReference(VERSION),
    );
    const index = json<{ manifests: { digest: string; platform: { os: string; architecture: string } }[] }>(
      top.manifests[0]!.digest,
    );
    assert.deepEqual(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(), [
      'linux/amd64',
      'linux/arm64',
    ]);
    for (const { digest, platform } of index.manifests) {
      const manifest = json<{ config: { digest: string }; layers: { digest: string }[] }>(digest);
      const config = json<ImageConfig>(manifest.config.digest);
      assert.equal(config.architecture, platform.architecture);
      assertSettings(config.config, platform.architecture);
      assert.equal(manifest.layers.length, 2, 'a Debian base layer and the application layer');
      // The base layer: the volume directory belongs to the image's user; no Node.js of Debian's own.
      const listing = execFileSync('tar', ['-tvz', '--numeric-owner'], {
        input: blob(manifest.layers[0]!.digest),
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      assert.match(listing, new RegExp(`^d\\S+ ${IMAGE.user.uid}/${IMAGE.user.gid} .* data/$`, 'm'));
      assert.match(listing, / etc\/passwd$/m);
      assert.doesNotMatch(listing, /bin\/node$/m);
    }
  });

  it('serves the round trip in podman, healthy, as its user, and keeps the data for the next container', async () => {
    podman(['load', '--quiet', '--input', archive]);
    amd64Image = podman(['image', 'inspect', '--format', '{{.Id}}', imageReference(VERSION)]);
    assert.equal(podman(['image', 'inspect', '--format', '{{.Architecture}}', amd64Image]), 'amd64');

    const token = 'image-test-token';
    const volume = 'uniprof-image-test-data';
    const start = async () => {
      const container = podman([
        'run',
        '--detach',
        ...ulimits(),
        ...Object.values(IMAGE.ports).flatMap((port) => ['--publish', `127.0.0.1::${port}`]),
        '--volume',
        `${volume}:${IMAGE.dataDir}`,
        '--env',
        `UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN=${token}`,
        '--health-cmd',
        JSON.stringify(IMAGE.healthcheck),
        amd64Image,
      ]);
      containers.push(container);
      const port = (inside: number) => podman(['port', container, `${inside}/tcp`]).split('\n')[0]!;
      const api = `http://${port(IMAGE.ports.api)}`;
      await untilReady(`${api}/ready`, 60_000, () => podman(['logs', container]));
      // The read token the first start generated into the volume.
      const readToken = podman(['exec', container, 'busybox', 'cat', `${IMAGE.dataDir}/read-token`]);
      return {
        container,
        api: { url: api, readToken },
        grpc: port(IMAGE.ports.grpc),
        symbolizer: `http://${port(IMAGE.ports.symbolizer)}`,
      };
    };

    const first = await start();
    assert.equal((await fetch(`${first.symbolizer}/ready`)).status, 200, 'the symbolizer port is published');
    const samples = await sendProfiles(first.grpc, token);
    const anonymous = await fetch(`${first.api.url}/api/flamegraph?from=0&to=4000000000`);
    assert.equal(anonymous.status, 401, 'the API needs reader credentials');
    const graph = await flamegraph(first.api.url, first.api.readToken);
    assert.equal(graph.totalCount, samples, 'every acknowledged sample is in the flamegraph');
    assert.ok(graph.nodes > 10, `a tree, not just a root: ${graph.nodes}`);

    assert.equal(podman(['exec', first.container, 'busybox', 'id', '-u']), String(IMAGE.user.uid));
    const health = spawnSync('podman', [...podmanGlobals, 'healthcheck', 'run', first.container], {
      encoding: 'utf8',
    });
    assert.equal(health.status, 0, `healthy: ${health.stdout}${health.stderr}`);

    podman(['stop', '--time', '30', first.container]);
    assert.equal(
      podman(['inspect', '--format', '{{.State.ExitCode}}', first.container]),
      '0',
      'stops on SIGTERM',
    );
    podman(['rm', first.container]);

    // A new container (as after `podman pull` of a newer version) on the same volume finds the profiles.
    const second = await start();
    assert.equal(
      (await flamegraph(second.api.url, second.api.readToken)).totalCount,
      samples,
      'the volume kept the data',
    );
    podman(['rm', '-f', '-t', '0', second.container]);
  });

  it('fails its health check when nothing serves', () => {
    const result = spawnSync(
      'podman',
      [
        ...podmanGlobals,
        'run',
        '--rm',
        ...ulimits(),
        '--network',
        'none',
        amd64Image,
        ...IMAGE.healthcheck.slice(1),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /healthcheck: http:\/\/127\.0\.0\.1:\d+\/health/);
  });

  it("runs the arm64 image's uniprof --version under qemu-aarch64", () => {
    const pulled = podman(['pull', '--quiet', '--arch', 'arm64', `oci-archive:${archive}`]);
    const image = pulled.split('\n').at(-1)!;
    assert.equal(podman(['image', 'inspect', '--format', '{{.Architecture}}', image]), 'arm64');
    // No binfmt_misc here: the emulator, mounted into the container, starts the image's own Node.js (what
    // bin/uniprof runs), which loads the image's arm64 libc and libstdc++.
    const version = podman([
      'run',
      '--rm',
      ...ulimits(),
      '--network',
      'none',
      '--arch',
      'arm64',
      '--volume',
      `${QEMU}:/usr/local/bin/qemu-aarch64-static:ro`,
      '--entrypoint',
      '/usr/local/bin/qemu-aarch64-static',
      image,
      `${IMAGE.appDir}/lib/node/bin/node`,
      `${IMAGE.appDir}/lib/uniprof/bin/uniprof.mjs`,
      '--version',
    ]);
    assert.equal(version, VERSION);
  });

  it('builds deploy/docker/Dockerfile with buildah into an image with the same settings', () => {
    // The Dockerfile's base is Docker Hub's debian:bookworm-slim; with no registry here, the same Debian
    // release from mmdebstrap stands in for it.
    const base = buildah(['from', 'scratch']);
    buildah(['add', base, debianRootfsTar({ arch: 'x64', variant: 'minbase' }), '/']);
    buildah(['commit', '--quiet', '--rm', base, 'localhost/debian:bookworm-local']);
    const dockerfile = join(import.meta.dirname, '../../deploy/docker/Dockerfile');
    // A build context of the x64 archive alone: artifacts/ also holds the image archive, which buildah
    // would read in for nothing.
    const context = join(work, 'docker-context');
    mkdirSync(context);
    const x64 = `uniprof-${VERSION}-linux-x64.tar.gz`;
    copyFileSync(join(archive, '..', x64), join(context, x64));
    buildah([
      'build',
      '--quiet',
      '--isolation',
      'chroot',
      '--format',
      'docker',
      '--build-arg',
      'BASE_IMAGE=localhost/debian:bookworm-local',
      '--build-arg',
      `VERSION=${VERSION}`,
      '--file',
      dockerfile,
      '--tag',
      'localhost/uniprof-dockerfile:test',
      context,
    ]);
    const [inspected] = JSON.parse(podman(['image', 'inspect', 'localhost/uniprof-dockerfile:test'])) as {
      Config: ImageConfig['config'];
      Healthcheck?: { Test?: string[] };
    }[];
    assertSettings(inspected!.Config, 'Dockerfile');
    assert.deepEqual(inspected!.Healthcheck?.Test, ['CMD', ...IMAGE.healthcheck], 'Docker health check');
    const version = podman([
      'run',
      '--rm',
      ...ulimits(),
      '--network',
      'none',
      'localhost/uniprof-dockerfile:test',
      '--version',
    ]);
    assert.equal(version, VERSION);
  });
});
