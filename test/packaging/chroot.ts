/**
 * A fresh Debian Bookworm root file system with no Node.js in it (scripts/package/debian-rootfs.ts, `minbase`),
 * unpacked for one test, and a way to run a service in it the way systemd would — its unit's command line, user,
 * working directory and environment — with `chroot` in a private mount namespace that has its own /proc and
 * goes away with the process. Needs root, as mmdebstrap and dpkg do.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { unpackDebianRootfs } from '../../scripts/package/debian-rootfs.ts';
import { ProcessOutput } from '../support/serve.ts';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Why these tests cannot run on this machine, or undefined if they can. */
export function chrootBlocker(tools: readonly string[]): string | undefined {
  if (process.getuid?.() !== 0) return 'installing into a root file system needs root';
  const missing = tools.filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: SYSTEM_PATH } }).status !== 0,
  );
  if (missing.length > 0) return `missing tools: ${missing.join(', ')} (.ci/apt-packages.txt)`;
  return undefined;
}

export class DebianRoot {
  private constructor(readonly dir: string) {}

  /** A fresh minbase root file system of the machine's architecture, unpacked into `dir`. */
  static fresh(dir: string): DebianRoot {
    unpackDebianRootfs({ arch: 'x64', variant: 'minbase' }, dir);
    return new DebianRoot(dir);
  }

  /** The host path of `path` inside the root. */
  path(path: string): string {
    return join(this.dir, path);
  }

  read(path: string): string {
    return readFileSync(this.path(path), 'utf8');
  }

  /** Whether `path` exists in the root (a symlink counts, wherever it points). */
  exists(path: string): boolean {
    try {
      lstatSync(this.path(path));
      return true;
    } catch {
      return false;
    }
  }

  /** Whether `argv` succeeds inside the root. */
  succeeds(argv: string[]): boolean {
    return (
      spawnSync('chroot', [this.dir, ...argv], { env: { PATH: SYSTEM_PATH }, stdio: 'ignore' }).status === 0
    );
  }

  /** Runs `argv` inside the root as root, with a service's environment; returns its output, throws on failure. */
  run(argv: string[]): string {
    const result = spawnSync('chroot', [this.dir, ...argv], {
      env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: '/root' },
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    if (result.status !== 0)
      throw new Error(
        `${argv.join(' ')} in ${this.dir} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
      );
    return result.stdout;
  }

  /** `stat` inside the root, so that user and group names are the root's own: "640 root uniprof". */
  stat(path: string): string {
    return this.run(['stat', '--format=%a %U %G', path]).trim();
  }

  remove(): void {
    // Nothing is mounted from outside: /proc lives in each service's own mount namespace only.
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** How a systemd unit starts its service, from its [Service] section. */
export interface ServiceCommand {
  argv: string[];
  user: string;
  group: string;
  workingDirectory: string;
  /** The file mode creation mask, as octal digits. */
  umask: string;
  environment: Record<string, string>;
}

/** Reads a unit file's ExecStart, User, Group, WorkingDirectory, UMask and Environment (unquoted values only). */
export function serviceCommand(unitText: string): ServiceCommand {
  let section = '';
  const settings = new Map<string, string[]>();
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (section !== 'Service' || eq < 0) continue;
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  const one = (key: string) => {
    const values = settings.get(key) ?? [];
    assert.equal(values.length, 1, `one ${key}= in the unit's [Service] section`);
    return values[0]!;
  };
  const execStart = one('ExecStart');
  assert.doesNotMatch(execStart, /["'\\$%]/, 'a command line this parser reads as systemd does');
  // Prefixes such as "-" (ignore failure) or "+" (full privileges) change how systemd runs the command.
  assert.match(execStart, /^\//, 'ExecStart is a plain absolute command');
  const environment: Record<string, string> = {};
  for (const assignments of settings.get('Environment') ?? [])
    for (const assignment of assignments.split(/\s+/).filter(Boolean)) {
      const eq = assignment.indexOf('=');
      environment[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
  return {
    argv: execStart.split(/\s+/),
    user: one('User'),
    group: one('Group'),
    workingDirectory: one('WorkingDirectory'),
    // systemd's default.
    umask: settings.has('UMask') ? one('UMask') : '0022',
    environment,
  };
}

/** A service started in a root file system; stdout and stderr are collected. */
export class RunningService {
  private readonly output: ProcessOutput;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.output = new ProcessOutput(child);
  }

  get stdout(): string {
    return this.output.stdout;
  }

  get stderr(): string {
    return this.output.stderr;
  }

  /**
   * Starts `command` in `root` as systemd would (its user and group, working directory and the environment systemd
   * gives a service plus the unit's own) and waits until its output matches `ready`.
   */
  static async start(root: DebianRoot, command: ServiceCommand, ready: RegExp): Promise<RunningService> {
    // unshare and chroot exec what follows, so the process started here ends up being the service itself.
    const script =
      'mount -t proc proc "$0/proc" && root=$0 user=$1 && umask "$2" && shift 2 && ' +
      `exec chroot --userspec="$user" "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$@"`;
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        root.dir,
        `${command.user}:${command.group}`,
        command.umask,
        command.workingDirectory,
        ...command.argv,
      ],
      {
        env: {
          PATH: SYSTEM_PATH,
          LANG: 'C.UTF-8',
          HOME: command.workingDirectory,
          USER: command.user,
          LOGNAME: command.user,
          ...command.environment,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    child.stdin.end();
    const service = new RunningService(child);
    try {
      await service.output.until(ready);
    } catch (error) {
      service.kill();
      throw new Error(`${command.argv.join(' ')}: ${(error as Error).message}`, { cause: error });
    }
    return service;
  }

  /** SIGTERM, as `systemctl stop` sends; resolves to the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const [code] = (await once(this.child, 'exit')) as [number | null];
    return code;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
