/**
 * The container image: `uniprof-<version>-oci.tar`, an OCI archive (image layout in a tar) holding one image
 * index with a linux/amd64 and a linux/arm64 image, built without any daemon by buildah (Debian package
 * `buildah`) in a storage directory of its own.
 *
 * Each image has two layers:
 *   - the base: Debian Bookworm's libc6, libgcc-s1 and libstdc++6 (all the bundled Node.js and DuckDB link
 *     against) and busybox-static (for /bin/sh, which bin/uniprof is written in), unpacked for the target
 *     architecture by mmdebstrap without running maintainer scripts (debian-rootfs.ts); plus the `uniprof`
 *     user and group and the /data volume directory it owns;
 *   - the application: the release archive for that architecture, unpacked as /opt/uniprof.
 * File times and the creation time are those of the last commit (or SOURCE_DATE_EPOCH), so a rebuild of the
 * same tree gives the same layers.
 *
 * The image's settings (user, ports, volume, environment) live in IMAGE below, where the test and
 * deploy/docker/Dockerfile's check read them too.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema, envName } from '../../src/config/config.ts';
import { ROOT } from './inputs.ts';
import { DEBIAN_ARCH, DEBIAN_SUITE, unpackDebianRootfs, type RootfsSpec } from './debian-rootfs.ts';
import { ARCHES, type Arch } from './node-runtime.ts';

const defaults = configSchema.parse({});

/** What the image runs as, where, and with which settings: the one place these are written down. */
export const IMAGE = {
  /** Numeric, so that Kubernetes' runAsNonRoot can check it without a passwd lookup. */
  user: { name: 'uniprof', uid: 10001, gid: 10001 },
  appDir: '/opt/uniprof',
  dataDir: '/data',
  /** The configuration's default ports. */
  ports: {
    /** OTLP gRPC, for agents. */
    grpc: defaults.collector.grpc.port,
    /** OTLP/HTTP for agents, health, readiness, metrics. */
    otlpHttp: defaults.collector.http.port,
    /** The symbolizer: health, symbol upload. */
    symbolizer: defaults.symbolizer.http.port,
    /** The web UI and the query API (reader credentials). */
    api: defaults.api.http.port,
  },
  entrypoint: ['uniprof'],
  cmd: ['serve'],
  /**
   * Serving on every address with data in the volume, through the environment rather than flags, so that
   * another command (`collector`, `symbolizer`) or extra flags given to `docker run` keep these settings.
   */
  env: {
    PATH: '/opt/uniprof/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    [envName(['dataDir'])]: '/data',
    [envName(['collector', 'grpc', 'host'])]: '0.0.0.0',
    [envName(['collector', 'http', 'host'])]: '0.0.0.0',
    [envName(['symbolizer', 'http', 'host'])]: '0.0.0.0',
    [envName(['api', 'http', 'host'])]: '0.0.0.0',
  } as Record<string, string>,
  /** What a health check runs: the container has no curl or wget (see src/cli/healthcheck-command.ts). */
  healthcheck: ['uniprof', 'healthcheck'],
} as const;

/** Debian packages in the base layer; their dependencies come along. */
const BASE_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'busybox-static'];

/**
 * Parts of the unpacked packages a container never uses: package-manager state, manuals, debugger aids, and
 * glibc's iconv modules (Node.js converts text with its own ICU, DuckDB with its own code).
 */
const BASE_PRUNE = [
  'dev',
  'etc/apt',
  'etc/dpkg',
  'etc/fstab',
  'etc/hostname',
  'etc/resolv.conf',
  'var/cache/apt',
  'var/lib/apt',
  'usr/share/man',
  'usr/share/gdb',
  'usr/share/gcc',
  'usr/share/lintian',
  'usr/share/initramfs-tools',
  'usr/lib/*/gconv',
];

export interface ImageInputs {
  version: string;
  /** The release archive (uniprof-<version>-linux-<arch>.tar.gz) for each architecture. */
  archives: Record<Arch, string>;
  /** Where the image archive is written. */
  outDir: string;
  /** Scratch space, removed afterwards. */
  workDir: string;
}

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** Seconds since the epoch that every file and the image's creation time carry. */
function sourceDateEpoch(): number {
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (fromEnv && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  try {
    return Number(run('git', ['-C', ROOT, 'log', '-1', '--format=%ct']));
  } catch {
    return 0;
  }
}

/** Lays out the base layer's tree for `arch` in `dir`. */
function stageBase(arch: Arch, dir: string): void {
  const spec: RootfsSpec = { arch, variant: 'extract', include: BASE_PACKAGES };
  unpackDebianRootfs(spec, dir);
  const triplet = arch === 'x64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
  for (const path of BASE_PRUNE)
    rmSync(join(dir, path.replace('*', triplet)), { recursive: true, force: true });
  // Keep each package's copyright file, the licence terms the image is distributed under.
  const docs = join(dir, 'usr/share/doc');
  for (const pkg of readdirSync(docs))
    for (const file of readdirSync(join(docs, pkg)))
      if (file !== 'copyright') rmSync(join(docs, pkg, file), { recursive: true, force: true });
  symlinkSync('busybox', join(dir, 'bin/sh'));
  const { name, uid, gid } = IMAGE.user;
  writeFileSync(
    join(dir, 'etc/passwd'),
    `root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n` +
      `${name}:x:${uid}:${gid}:Uniprof:${IMAGE.dataDir}:/usr/sbin/nologin\n`,
  );
  writeFileSync(join(dir, 'etc/group'), `root:x:0:\nnogroup:x:65534:\n${name}:x:${gid}:\n`);
  writeFileSync(join(dir, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  mkdirSync(join(dir, 'root'), { mode: 0o700 });
  mkdirSync(join(dir, IMAGE.dataDir), { mode: 0o750 });
  run('chown', [`${uid}:${gid}`, join(dir, IMAGE.dataDir)]);
}

/** A tar of `dir`'s contents in a fixed order, owners as they are. */
function tarTree(dir: string, tar: string): void {
  run('tar', ['--sort=name', '--numeric-owner', '-cf', tar, '-C', dir, '.']);
}

/** Builds the image for `arch` into buildah's storage and returns its name there. */
function buildArch(
  inputs: ImageInputs,
  buildah: (args: string[]) => string,
  arch: Arch,
  epoch: number,
): string {
  const stage = join(inputs.workDir, arch);
  const baseDir = join(stage, 'base');
  stageBase(arch, baseDir);
  const baseTar = join(stage, 'base.tar');
  tarTree(baseDir, baseTar);
  rmSync(baseDir, { recursive: true, force: true });

  const appDir = join(stage, 'app', IMAGE.appDir);
  mkdirSync(appDir, { recursive: true });
  run('tar', ['-xzf', inputs.archives[arch], '-C', appDir, '--strip-components=1', '--numeric-owner']);
  const appTar = join(stage, 'app.tar');
  tarTree(join(stage, 'app'), appTar);
  rmSync(join(stage, 'app'), { recursive: true, force: true });

  const platform = ['--os', 'linux', '--arch', DEBIAN_ARCH[arch]];
  const timestamp = ['--timestamp', String(epoch)];
  // Two commits, two layers: the Debian base stays the same from one release to the next.
  const base = buildah(['from', ...platform, 'scratch']);
  // A local tar archive is unpacked with its owners kept (/data belongs to the uniprof user).
  buildah(['add', base, baseTar, '/']);
  buildah(['config', '--created-by', `Debian ${DEBIAN_SUITE} packages: ${BASE_PACKAGES.join(', ')}`, base]);
  const baseImage = `localhost/uniprof-debian-base:${DEBIAN_SUITE}-${DEBIAN_ARCH[arch]}`;
  buildah(['commit', '--quiet', '--format', 'oci', ...timestamp, '--rm', base, baseImage]);

  const app = buildah(['from', ...platform, '--pull-never', baseImage]);
  buildah(['add', app, appTar, '/']);
  const { uid, gid } = IMAGE.user;
  const config = [
    '--created-by',
    `uniprof ${inputs.version} release archive, linux-${arch}`,
    '--user',
    `${uid}:${gid}`,
    '--workingdir',
    IMAGE.dataDir,
    '--volume',
    IMAGE.dataDir,
    '--entrypoint',
    JSON.stringify(IMAGE.entrypoint),
    '--cmd',
    JSON.stringify(IMAGE.cmd),
    '--stop-signal',
    'SIGTERM',
    ...Object.values(IMAGE.ports).flatMap((port) => ['--port', `${port}/tcp`]),
    ...Object.entries(IMAGE.env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    ...Object.entries(imageLabels(inputs.version, epoch)).flatMap(([key, value]) => [
      '--label',
      `${key}=${value}`,
    ]),
  ];
  buildah(['config', ...config, app]);
  const image = `localhost/uniprof:${inputs.version}-${arch}`;
  buildah(['commit', '--quiet', '--format', 'oci', ...timestamp, '--rm', app, image]);
  rmSync(stage, { recursive: true, force: true });
  return image;
}

export function imageLabels(version: string, epoch: number): Record<string, string> {
  return {
    'org.opencontainers.image.title': 'uniprof',
    'org.opencontainers.image.description':
      'Self-hostable backend for fleet-wide continuous profiling with the OpenTelemetry eBPF profiler',
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.licenses': 'Apache-2.0',
    'org.opencontainers.image.created': new Date(epoch * 1000).toISOString(),
  };
}

/** The file name of the image archive for `version`. */
export function imageArchiveName(version: string): string {
  return `uniprof-${version}-oci.tar`;
}

/** The reference the archive's index carries (`podman load` names the image after it). */
export function imageReference(version: string): string {
  return `localhost/uniprof:${version}`;
}

/** Builds the multi-architecture image archive; returns its file name in `inputs.outDir`. */
export function buildImage(inputs: ImageInputs): string {
  const storage = join(inputs.workDir, 'containers');
  const globals = [
    '--root',
    join(storage, 'root'),
    '--runroot',
    join(storage, 'run'),
    '--storage-driver',
    'vfs',
  ];
  const buildah = (args: string[]) => run('buildah', [...globals, ...args]);
  const epoch = sourceDateEpoch();
  try {
    const list = `localhost/uniprof-list:${inputs.version}`;
    buildah(['manifest', 'create', list]);
    for (const arch of ARCHES) buildah(['manifest', 'add', list, buildArch(inputs, buildah, arch, epoch)]);
    const name = imageArchiveName(inputs.version);
    buildah([
      'manifest',
      'push',
      '--quiet',
      '--all',
      '--format',
      'oci',
      list,
      `oci-archive:${join(inputs.outDir, name)}:${imageReference(inputs.version)}`,
    ]);
    return name;
  } finally {
    rmSync(storage, { recursive: true, force: true });
  }
}
