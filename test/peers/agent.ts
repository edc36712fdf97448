/**
 * The real OpenTelemetry eBPF profiler agent for tests: a pinned release built with Go from the Go module
 * proxy into the cache (nothing of its source lives in this repository), plus the host preparation it needs
 * (tracefs, debugfs) and a way to run it against a collector and stop it cleanly.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const AGENT_MODULE = 'go.opentelemetry.io/ebpf-profiler';
export const AGENT_VERSION = 'v0.0.202633';
const GO_PROXY = 'https://proxy.golang.org';

/** Thrown when the agent cannot be provisioned or cannot run here; the message says exactly why. */
export class AgentUnavailableError extends Error {
  override readonly name = 'AgentUnavailableError';
}

function cacheRoot(): string {
  return process.env.UNIPROF_CACHE ?? path.join(os.homedir(), '.cache', 'uniprof');
}

export function agentCacheDir(version = AGENT_VERSION): string {
  return path.join(cacheRoot(), 'agent', version);
}

async function findGo(): Promise<string> {
  const candidates = [process.env.GO ?? '', 'go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go'].filter(
    Boolean,
  );
  for (const candidate of candidates) {
    try {
      await run(candidate, ['version']);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new AgentUnavailableError(
    'agent test peer: no Go toolchain found (tried $GO, go on PATH, /usr/local/go/bin/go); ' +
      'building the agent needs Go ≥ 1.25',
  );
}

async function reportsVersion(binary: string, version: string): Promise<boolean> {
  try {
    const { stdout } = await run(binary, ['-version'], { timeout: 10_000 });
    return stdout.trim() === version;
  } catch {
    return false;
  }
}

/**
 * The agent's eBPF programs must come prebuilt in the module: building them would need clang and the
 * agent's own build scripts, which this provisioning deliberately does not run.
 */
async function checkPrebuiltEbpf(
  go: string,
  version: string,
  workDir: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  // Downloads the module (a fresh machine has nothing yet) and says where it lives.
  const { stdout } = await run(go, ['mod', 'download', '-json', `${AGENT_MODULE}@${version}`], {
    cwd: workDir,
    env,
    maxBuffer: 1 << 20,
  });
  const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir ?? '';
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const object = path.join(moduleDir, 'support', 'ebpf', `tracer.ebpf.${arch}`);
  try {
    await access(object);
  } catch {
    throw new AgentUnavailableError(
      `agent test peer: ${AGENT_MODULE}@${version} ships no prebuilt eBPF object ${object}; ` +
        'this provisioning only supports releases with committed eBPF objects',
    );
  }
}

/**
 * Builds the pinned agent once and returns the path of its binary. `go install module@version` cannot be
 * used: it asks the proxy for the module's version list to check for deprecation, and the proxy answers
 * 404 for this module. A throw-away module that requires the exact version builds the same package with
 * the agent's own dependency versions (minimal version selection over its go.mod).
 */
export async function provisionAgent(version = AGENT_VERSION): Promise<string> {
  const dir = agentCacheDir(version);
  const binary = path.join(dir, 'ebpf-profiler');
  if (existsSync(binary) && (await reportsVersion(binary, version))) return binary;

  const go = await findGo();
  const workDir = path.join(dir, 'build');
  await mkdir(workDir, { recursive: true });
  await writeFile(
    path.join(workDir, 'go.mod'),
    `module uniprof.test/agentbuild\n\ngo 1.25.0\n\nrequire ${AGENT_MODULE} ${version}\n`,
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOPROXY: GO_PROXY,
    GOFLAGS: '-mod=mod',
    GOWORK: 'off',
    CGO_ENABLED: '0',
  };
  const partial = `${binary}.part`;
  try {
    await checkPrebuiltEbpf(go, version, workDir, env);
    await run(go, ['build', '-trimpath', '-o', partial, AGENT_MODULE], {
      cwd: workDir,
      env,
      maxBuffer: 16 << 20,
      timeout: 20 * 60_000,
    });
  } catch (error) {
    if (error instanceof AgentUnavailableError) throw error;
    const failure = error as Error & { stderr?: string };
    throw new AgentUnavailableError(
      `agent test peer: building ${AGENT_MODULE}@${version} with ${go} failed: ` +
        `${(failure.stderr ?? '').trim() || failure.message}`,
    );
  }
  await rename(partial, binary);
  if (!(await reportsVersion(binary, version))) {
    throw new AgentUnavailableError(
      `agent test peer: built ${binary} but it does not report version ${version}`,
    );
  }
  return binary;
}

/** CAP_SYS_RESOURCE: the agent needs it to lift RLIMIT_MEMLOCK before loading its eBPF code. */
const CAP_SYS_RESOURCE = 24n;

async function effectiveCapabilities(): Promise<bigint> {
  const status = await readFile('/proc/self/status', 'utf8');
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return line ? BigInt(`0x${line[1]}`) : 0n;
}

async function isMounted(mountPoint: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === mountPoint);
}

async function ensureMounted(fsType: string, mountPoint: string): Promise<void> {
  if (await isMounted(mountPoint)) return;
  try {
    await run('mount', ['-t', fsType, fsType, mountPoint]);
  } catch (error) {
    const failure = error as Error & { stderr?: string };
    throw new AgentUnavailableError(
      `agent host: cannot mount ${fsType} on ${mountPoint}: ${(failure.stderr ?? failure.message).trim()}`,
    );
  }
}

export interface AgentHostReadiness {
  /** Problems that stop the unmodified agent from starting here, each with its evidence. */
  blockers: string[];
  /** True when the only blocker is the RLIMIT_MEMLOCK raise, which the memlock shim can take away. */
  onlyMemlockBlocks: boolean;
}

/**
 * Mounts what the agent reads (tracefs, debugfs) and reports what would still stop it. Needs root for the
 * mounts; reports instead of throwing so the caller decides between failing and skipping.
 */
export async function prepareAgentHost(): Promise<AgentHostReadiness> {
  const blockers: string[] = [];
  let memlockBlocks = false;
  if (process.platform !== 'linux')
    blockers.push(`the agent runs on Linux only, this is ${process.platform}`);
  else if (process.getuid?.() !== 0) blockers.push('the agent must run as root (uid 0)');
  else {
    if (!existsSync('/sys/kernel/btf/vmlinux'))
      blockers.push('the kernel has no BTF (/sys/kernel/btf/vmlinux)');
    try {
      await ensureMounted('tracefs', '/sys/kernel/tracing');
      await ensureMounted('debugfs', '/sys/kernel/debug');
    } catch (error) {
      blockers.push((error as Error).message);
    }
    if (((await effectiveCapabilities()) & (1n << CAP_SYS_RESOURCE)) === 0n) {
      memlockBlocks = true;
      const limits = await readFile('/proc/self/limits', 'utf8');
      const memlock = /^Max locked memory.*$/m.exec(limits)?.[0].replace(/\s+/g, ' ') ?? 'unknown';
      blockers.push(
        'CAP_SYS_RESOURCE is not in this process’s effective capabilities (nor can it be gained), so the ' +
          'agent cannot raise RLIMIT_MEMLOCK to unlimited and stops with "failed to adjust rlimit: failed to ' +
          `set temporary rlimit: operation not permitted" (limits: ${memlock})`,
      );
    }
  }
  return { blockers, onlyMemlockBlocks: memlockBlocks && blockers.length === 1 };
}

/**
 * A launcher that makes prlimit64() a successful no-op for the program it executes (seccomp, errno 0).
 * The agent unconditionally raises RLIMIT_MEMLOCK before loading eBPF code; since Linux 5.11 eBPF memory is
 * charged to the memory cgroup instead, so on such kernels skipping the raise changes nothing else. Only
 * used when explicitly asked for (UNIPROF_AGENT_MEMLOCK_SHIM=1) on hosts that withhold CAP_SYS_RESOURCE.
 */
const MEMLOCK_SHIM_SOURCE = String.raw`
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#endif

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s program [args...]\n", argv[0]); return 2; }
  struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prlimit64, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = { .len = sizeof filter / sizeof filter[0], .filter = filter };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    perror("memlock shim: installing the seccomp filter");
    return 1;
  }
  execv(argv[1], argv + 1);
  perror("memlock shim: exec");
  return 1;
}
`;

export async function buildMemlockShim(): Promise<string> {
  const dir = path.join(cacheRoot(), 'agent', 'memlock-shim');
  const binary = path.join(dir, 'memlock-shim');
  const source = path.join(dir, 'memlock-shim.c');
  if (existsSync(binary) && (await readFile(source, 'utf8').catch(() => '')) === MEMLOCK_SHIM_SOURCE)
    return binary;
  await mkdir(dir, { recursive: true });
  await writeFile(source, MEMLOCK_SHIM_SOURCE);
  try {
    await run('cc', ['-O2', '-o', `${binary}.part`, source]);
  } catch (error) {
    const failure = error as Error & { stderr?: string };
    throw new AgentUnavailableError(`memlock shim: cc failed: ${(failure.stderr ?? failure.message).trim()}`);
  }
  await rename(`${binary}.part`, binary);
  return binary;
}

export interface AgentOptions {
  binary: string;
  /** host:port of the collector's gRPC receiver (plain text). */
  collector: string;
  reportIntervalSeconds: number;
  samplesPerSecond: number;
  /** Run through the memlock shim (see buildMemlockShim). */
  memlockShim?: string;
}

export interface RunningAgent {
  readonly pid: number;
  /** Everything the agent logged so far. */
  log(): string;
  /** SIGINT, as an operator's Ctrl-C; resolves with the exit code once it has flushed and exited. */
  stop(): Promise<number | null>;
}

/** Lines the agent logs once its eBPF code is loaded and attached, or when it gives up. */
const ATTACHED = 'Attached tracer program';
const START_FAILURE = /level=ERROR msg="Failed to start agent controller[^\n]*/;

/**
 * Starts the agent and resolves once its eBPF programs are attached. If it exits or logs its start-up
 * failure first, rejects with the exact error the agent printed.
 */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const args = [
    '-collection-agent',
    options.collector,
    '-disable-tls',
    '-reporter-interval',
    `${options.reportIntervalSeconds}s`,
    '-reporter-jitter',
    '0',
    '-samples-per-second',
    String(options.samplesPerSecond),
  ];
  const [command, commandArgs] = options.memlockShim
    ? [options.memlockShim, [options.binary, ...args]]
    : [options.binary, args];
  const child: ChildProcess = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(
      () => finish(new AgentUnavailableError(`agent did not attach within 90 s:\n${output}`)),
      90_000,
    );
    const poll = setInterval(() => {
      const failure = START_FAILURE.exec(output);
      if (failure) finish(new AgentUnavailableError(`agent failed to start: ${failure[0]}`));
      else if (output.includes(ATTACHED)) finish();
    }, 100);
    void exited.then((code) => {
      const failure = START_FAILURE.exec(output);
      const summary = failure
        ? `agent failed to start: ${failure[0]}`
        : `agent exited with code ${code} before attaching`;
      finish(new AgentUnavailableError(`${summary}\n--- agent log ---\n${output}`));
    });
    let done = false;
    function finish(error?: Error): void {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearInterval(poll);
      if (error) {
        child.kill('SIGKILL');
        reject(error);
      } else resolve();
    }
  });

  return {
    pid: child.pid ?? -1,
    log: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
