/**
 * A real debuginfod (elfutils, Debian package `debuginfod`) for tests: it indexes Debian -dbg packages
 * (`-U`, which Debian's build reads with `bsdtar`, package `libarchive-tools`) and a directory of ELF files
 * (`-F`), keeps its sqlite index in a temporary directory, and can be stopped and started again on the same
 * port so tests can take the server away and bring it back.
 *
 * debuginfod 0.188 has no listen-address option: it binds the port on every interface (IPv4 and IPv6). The
 * tests only ever talk to it over 127.0.0.1, and it never federates: DEBUGINFOD_URLS is removed from its
 * environment, so a build ID it does not know is a plain 404 instead of a request to the internet.
 *
 * libc6-dbg's .deb is fetched once with `apt-get download` (the version of the installed libc6, so its build
 * IDs match the machine's libc) into $UNIPROF_CACHE/debuginfod/.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/ports.ts';

const run = promisify(execFile);

function cacheRoot(): string {
  return process.env.UNIPROF_CACHE ?? path.join(os.homedir(), '.cache', 'uniprof');
}

export class MissingPeerError extends Error {}

/** debuginfod could not bind its port: another process took it between our pick and its bind. */
class PortTakenError extends Error {}

/** Binds tried per start: a restart on the same port, or the first start on a new port each time. */
const BIND_ATTEMPTS = 4;

const REQUIRED_TOOLS: [string, string, string[]][] = [
  ['debuginfod', 'apt-get install debuginfod', ['--version']],
  ['bsdtar', 'apt-get install libarchive-tools (debuginfod -U reads .deb files with it)', ['--version']],
  ['apt-get', 'a Debian system', ['--version']],
];

/**
 * Whether debuginfod and what it needs are installed. Under CI=true a missing tool throws (never a skip);
 * elsewhere the caller may skip.
 */
export function debuginfodAvailable(): boolean {
  for (const [tool, hint, args] of REQUIRED_TOOLS) {
    try {
      execFileSync(tool, args, { stdio: 'ignore' });
    } catch {
      const error = new MissingPeerError(`${tool} is not installed (${hint}); the debuginfod tests need it`);
      if (process.env.CI === 'true') throw error;
      return false;
    }
  }
  return true;
}

/**
 * A directory holding libc6-dbg's .deb for the installed libc6 (downloaded once, then reused). Several test
 * files may ask at once: each downloads into its own temporary directory and renames it into place.
 */
export async function libc6DbgDebDirectory(): Promise<string> {
  const { stdout } = await run('dpkg-query', ['-W', '-f=${Version}', 'libc6']);
  const version = stdout.trim();
  const dir = path.join(cacheRoot(), 'debuginfod', `libc6-dbg_${version}`);
  if (existsSync(dir)) return dir;
  await mkdir(path.dirname(dir), { recursive: true });
  const staging = await mkdtemp(`${dir}.tmp-`);
  try {
    await run('apt-get', ['download', `libc6-dbg=${version}`], { cwd: staging });
    const debs = (await readdir(staging)).filter((name) => name.endsWith('.deb'));
    if (debs.length !== 1)
      throw new Error(`expected one .deb in ${staging}, found ${debs.join(', ') || 'none'}`);
    await rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another test file won the race: its copy is as good as ours.
      if (!existsSync(dir)) throw error;
      await rm(staging, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw new MissingPeerError(
      `debuginfod test peer: cannot fetch libc6-dbg=${version} with apt-get download ` +
        `(${(error as Error).message.trim()}); run apt-get update, or put the .deb into ${dir} by hand`,
      { cause: error },
    );
  }
  return dir;
}

export interface DebuginfodPeerOptions {
  /** Directories of .deb files (scanned with -U). */
  debDirectories?: string[];
  /** Directories of ELF files (scanned with -F). */
  elfDirectories?: string[];
  /** Build IDs that must answer 200 before the server counts as ready (i.e. its scan has reached them). */
  readyBuildIds: string[];
  /** How long the first scan may take. */
  readyTimeoutMs?: number;
}

export interface DebuginfodPeer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly running: boolean;
  /** Stops the server, keeping its index, so a test can take it away. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it answers for the ready build IDs. */
  start(): Promise<void>;
  /** Stops it and deletes its index. */
  dispose(): Promise<void>;
  /** debuginfod's /metrics, as `name{labels}` → value. */
  metrics(): Promise<Map<string, number>>;
  /** Debuginfo requests the server answered with `code` (from its own metrics). */
  debuginfoResponses(code: 200 | 404): Promise<number>;
}

class RunningDebuginfod implements DebuginfodPeer {
  readonly url: string;
  readonly port: number;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(
    port: number,
    private readonly workDir: string,
    private readonly options: DebuginfodPeerOptions,
  ) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Starts debuginfod on this peer's port. Its port is picked before it binds (debuginfod has no way to bind
   * port 0 and report the port), so another process may take it first: a bind failure is retried a few times
   * (a restart must keep its port: the tests hold its URL), then thrown as PortTakenError.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce();
      } catch (error) {
        if (!(error instanceof PortTakenError) || attempt >= BIND_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  /** One try at `start` (for startDebuginfod, which moves to a new port instead of retrying this one). */
  async startOnce(): Promise<void> {
    if (this.child) return;
    const args = [
      ['-d', path.join(this.workDir, 'index.sqlite')],
      ['-p', String(this.port)],
      // Scan once at start (the directories do not change during a test) and never groom.
      ['-t', '0', '-g', '0'],
      // One scanning thread: the machine is shared.
      ['-c', '1'],
      ['--disable-source-scan'],
      this.options.debDirectories?.length ? ['-U'] : [],
      this.options.elfDirectories?.length ? ['-F'] : [],
      [...(this.options.debDirectories ?? []), ...(this.options.elfDirectories ?? [])],
    ].flat();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DEBUGINFOD_CACHE_PATH: path.join(this.workDir, 'client-cache'),
    };
    delete env.DEBUGINFOD_URLS;
    this.log = '';
    const child = spawn('debuginfod', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.log = (this.log + text).slice(-20_000);
    });
    // A test run that dies without stopping the peer must not leave a server behind.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        process.removeListener('exit', killOnExit);
        resolve();
      }),
    );
    let exitedEarly = false;
    void this.exited.then(() => {
      exitedEarly = true;
      if (this.child === child) this.child = undefined;
    });
    const timeoutMs = this.options.readyTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(this.options.readyBuildIds);
    while (pending.size > 0) {
      if (exitedEarly) {
        if (/cannot start http server|Failed to bind/.test(this.log)) {
          throw new PortTakenError(`debuginfod could not bind port ${this.port}:\n${this.log.slice(-1000)}`);
        }
        throw new Error(`debuginfod exited while starting:\n${this.log.slice(-3000)}`);
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `debuginfod did not index build IDs ${[...pending].join(', ')} within ${timeoutMs} ms:\n` +
            this.log.slice(-3000),
        );
      }
      for (const buildId of pending) {
        if ((await this.status(`/buildid/${buildId}/debuginfo`)) === 200) pending.delete(buildId);
      }
      if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** The status of a GET (body discarded); 0 when the server cannot be reached. */
  private async status(urlPath: string): Promise<number> {
    try {
      const response = await fetch(`${this.url}${urlPath}`, { signal: AbortSignal.timeout(5000) });
      await response.body?.cancel();
      return response.status;
    } catch {
      return 0;
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killed);
    this.child = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.workDir, { recursive: true, force: true });
  }

  async metrics(): Promise<Map<string, number>> {
    const response = await fetch(`${this.url}/metrics`);
    const values = new Map<string, number>();
    for (const line of (await response.text()).split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const space = line.lastIndexOf(' ');
      values.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
    return values;
  }

  async debuginfoResponses(code: 200 | 404): Promise<number> {
    const metrics = await this.metrics();
    return metrics.get(`http_responses_duration_milliseconds_count{code="${code}",type="debuginfo"}`) ?? 0;
  }
}

/** Starts a debuginfod on a free loopback port and waits until its first scan has indexed `readyBuildIds`. */
export async function startDebuginfod(options: DebuginfodPeerOptions): Promise<DebuginfodPeer> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-debuginfod-'));
  // The first start may move to another port when its port was taken (a restart keeps its port).
  for (let attempt = 1; ; attempt++) {
    const peer = new RunningDebuginfod(await freePort(), workDir, options);
    try {
      await peer.startOnce();
      return peer;
    } catch (error) {
      if (error instanceof PortTakenError && attempt < BIND_ATTEMPTS) continue;
      await peer.dispose();
      throw error;
    }
  }
}
