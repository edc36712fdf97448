/**
 * The .deb and .rpm packages, written by nfpm from a release archive: the archive's tree (its own Node.js runtime,
 * the compiled program, its production dependencies) under /usr/lib/uniprof with /usr/bin/uniprof linked to its
 * entry point, so the machine needs no Node.js; plus what makes it a system service (scripts/package/system/):
 *
 *   - /etc/uniprof/collector.yaml and symbolizer.yaml, configuration files that upgrades keep as edited;
 *   - /var/lib/uniprof, the data directory, owned by the `uniprof` system user the maintainer scripts create;
 *   - the systemd units uniprof-collector.service (`uniprof serve`: collector, API, UI and the in-process
 *     symbolizer, the one unit for the embedded store) and uniprof-symbolizer.service (for Elasticsearch only);
 *   - maintainer scripts: user, agents' secret token on first installation, units enabled and started only where
 *     systemd runs; purge (deb) deletes data and configuration.
 *
 * See docs/install.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ROOT } from './inputs.ts';
import { nfpm } from './nfpm.ts';
import { ARCHES, type Arch } from './node-runtime.ts';

export type PackageFormat = 'deb' | 'rpm';
export const PACKAGE_FORMATS: readonly PackageFormat[] = ['deb', 'rpm'];

const SYSTEM = join(ROOT, 'scripts', 'package', 'system');
/** The project has no public address yet; packagers replace this with theirs. */
const MAINTAINER = 'Uniprof maintainers <uniprof@localhost>';

/** Each format's name for the architecture. */
const FORMAT_ARCH: Record<PackageFormat, Record<Arch, string>> = {
  deb: { x64: 'amd64', arm64: 'arm64' },
  rpm: { x64: 'x86_64', arm64: 'aarch64' },
};

export interface SystemPackageSpec {
  /** A release archive, uniprof-<version>-linux-<arch>.tar.gz. */
  archive: string;
  arch: Arch;
  version: string;
  /** The package's own revision of `version` (Debian revision, RPM release). */
  release?: number;
  /** The directory the package is written to. */
  out: string;
  /** Leave the payload uncompressed: for a package that is only built to be installed at once (tests). */
  uncompressed?: boolean;
}

/** The conventional file name: uniprof_0.1.0-1_amd64.deb, uniprof-0.1.0-1.x86_64.rpm. */
export function systemPackageName(format: PackageFormat, arch: Arch, version: string, release = 1): string {
  const formatArch = FORMAT_ARCH[format][arch];
  return format === 'deb'
    ? `uniprof_${version}-${release}_${formatArch}.deb`
    : `uniprof-${version}-${release}.${formatArch}.rpm`;
}

const octal = (mode: string) => parseInt(mode, 8);

/** nfpm's configuration (https://nfpm.goreleaser.com/configuration/) for the archive unpacked at `tree`. */
function nfpmConfig(spec: SystemPackageSpec, tree: string): Record<string, unknown> {
  const script = (format: PackageFormat, name: string) => join(SYSTEM, format, name);
  const config = (name: string) => ({
    src: join(SYSTEM, name),
    dst: `/etc/uniprof/${name}`,
    type: 'config|noreplace',
    // Group-readable only: it may hold Elasticsearch credentials or the agents' token.
    file_info: { mode: octal('640'), owner: 'root', group: 'uniprof' },
  });
  const unit = (name: string) => ({
    src: join(SYSTEM, name),
    dst: `/usr/lib/systemd/system/${name}`,
    file_info: { mode: octal('644') },
  });
  return {
    name: 'uniprof',
    arch: FORMAT_ARCH.deb[spec.arch],
    platform: 'linux',
    version: spec.version,
    release: String(spec.release ?? 1),
    section: 'net',
    priority: 'optional',
    maintainer: MAINTAINER,
    vendor: 'Uniprof',
    license: 'Apache-2.0',
    description:
      'Self-hostable continuous profiling backend for the OpenTelemetry eBPF profiler\n' +
      'Receives profiles from OpenTelemetry eBPF profiler agents over OTLP, stores them in an embedded\n' +
      'DuckDB file or in Elasticsearch, names native frames with its own symbolizer, and serves\n' +
      'flamegraphs, top functions and differential views in a web UI. Brings its own Node.js runtime.',
    contents: [
      { src: tree, dst: '/usr/lib/uniprof', type: 'tree', file_info: { owner: 'root', group: 'root' } },
      { src: '/usr/lib/uniprof/bin/uniprof', dst: '/usr/bin/uniprof', type: 'symlink' },
      { dst: '/etc/uniprof', type: 'dir', file_info: { mode: octal('755') } },
      config('collector.yaml'),
      config('symbolizer.yaml'),
      unit('uniprof-collector.service'),
      unit('uniprof-symbolizer.service'),
      {
        dst: '/var/lib/uniprof',
        type: 'dir',
        file_info: { mode: octal('750'), owner: 'uniprof', group: 'uniprof' },
      },
    ],
    overrides: {
      deb: {
        // The bundled Node.js and DuckDB need glibc 2.28 and libstdc++; passwd brings useradd for postinst.
        depends: ['libc6 (>= 2.28)', 'libstdc++6', 'passwd'],
        scripts: {
          postinstall: script('deb', 'postinst'),
          preremove: script('deb', 'prerm'),
          postremove: script('deb', 'postrm'),
        },
      },
      rpm: {
        // Library and file names rather than package names, so that one package installs on Fedora, RHEL and SUSE.
        depends: [
          'libc.so.6(GLIBC_2.28)(64bit)',
          'libstdc++.so.6()(64bit)',
          '/usr/sbin/useradd',
          '/usr/sbin/groupadd',
        ],
        scripts: {
          preinstall: script('rpm', 'pre'),
          postinstall: script('rpm', 'post'),
          preremove: script('rpm', 'preun'),
          postremove: script('rpm', 'postun'),
        },
      },
    },
    // Level 6 packs as small as nfpm's default (best) gzip at under half its time. gzip rather than zstd or xz:
    // the oldest dpkg and rpm of the supported systems (Debian 11, RHEL 8) all read it.
    deb: { compression: spec.uncompressed ? 'none' : 'gzip:6' },
    rpm: {
      // rpm has no uncompressed payload; its fastest.
      compression: spec.uncompressed ? 'gzip:1' : 'gzip:6',
      summary: 'Self-hostable continuous profiling backend for the OpenTelemetry eBPF profiler',
    },
  };
}

/** Writes the packages of `formats` for `spec` into spec.out; returns their file names. */
export function buildSystemPackages(
  spec: SystemPackageSpec,
  formats: readonly PackageFormat[] = PACKAGE_FORMATS,
): string[] {
  const tool = nfpm();
  mkdirSync(spec.out, { recursive: true });
  const work = mkdtempSync(join(spec.out, '.system-packages-'));
  try {
    const tree = join(work, 'tree');
    mkdirSync(tree);
    execFileSync('tar', ['-xzf', spec.archive, '-C', tree, '--strip-components=1']);
    const configFile = join(work, 'nfpm.yaml');
    writeFileSync(configFile, stringify(nfpmConfig(spec, tree)));
    return formats.map((format) => {
      const name = systemPackageName(format, spec.arch, spec.version, spec.release);
      execFileSync(
        tool,
        ['package', '--config', configFile, '--packager', format, '--target', join(spec.out, name)],
        {
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      return name;
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The .deb and .rpm of every architecture, from the release archives `npm run package` wrote into `out`. */
export function buildReleaseSystemPackages(out: string, version: string): string[] {
  return ARCHES.flatMap((arch) =>
    buildSystemPackages({
      archive: join(out, `uniprof-${version}-linux-${arch}.tar.gz`),
      arch,
      version,
      out,
    }),
  );
}
