/**
 * `uniprof serve`, `uniprof collector` and `uniprof symbolizer` as child processes, as tests start them. Every
 * listener the test does not pin binds port 0 and the real port is read from the child's `listening` log
 * lines (src/collector/listening.ts): a port picked by the test beforehand (bind 0, close, hand the number
 * on) can be taken by another process before the child binds it, which failed CI runs with EADDRINUSE.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import type { ListenerName } from '../../src/collector/listening.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(REPO, 'bin', 'uniprof.mjs');

export type UniprofCommand = 'serve' | 'collector' | 'symbolizer';

/** The listeners each command binds. */
const LISTENERS: Record<UniprofCommand, readonly ListenerName[]> = {
  serve: ['collector.grpc', 'collector.http', 'api.http', 'symbolizer.http'],
  collector: ['collector.grpc', 'collector.http', 'api.http'],
  symbolizer: ['symbolizer.http'],
};

/** Config sections of the listeners: `collector.grpc` → config.collector.grpc. */
const SECTION: Record<ListenerName, [string, string]> = {
  'collector.grpc': ['collector', 'grpc'],
  'collector.http': ['collector', 'http'],
  'api.http': ['api', 'http'],
  'symbolizer.http': ['symbolizer', 'http'],
};

export interface StartUniprofOptions {
  /**
   * The config, written as YAML to `configFile`. Listeners without a port get `127.0.0.1:0`; a log level
   * quieter than `info` is raised to it (the `listening` lines are info).
   */
  config: Record<string, unknown>;
  configFile: string;
  /** More arguments after `-c <file>`. */
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Also echo the child's output to the test's (for long runs one wants to watch). */
  echo?: boolean;
  /** How long until every listener is bound and the command says it is running (default 90 s). */
  timeoutMs?: number;
}

export interface UniprofChild {
  readonly process: ChildProcess;
  readonly command: UniprofCommand;
  /** The bound port of a listener. */
  port(listener: ListenerName): number;
  /** `http://127.0.0.1:<port>` of an HTTP listener (the tests bind loopback). */
  url(listener: Exclude<ListenerName, 'collector.grpc'>): string;
  /** Everything it wrote, stdout and stderr interleaved. */
  output(): string;
  /** Sends `signal` (SIGKILL after `timeoutMs`) and resolves with the exit code; at once if it has exited. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/**
 * Starts `uniprof <command> -c <configFile>` and resolves once each of its listeners logged its bound address
 * and its banner says it is running (printed after start-up finished: store open, worker started).
 */
export async function startUniprof(
  command: UniprofCommand,
  options: StartUniprofOptions,
): Promise<UniprofChild> {
  mkdirSync(dirname(options.configFile), { recursive: true });
  writeFileSync(options.configFile, toYaml(withListenersAndLogs(command, options.config)));
  const child = spawn(process.execPath, [BIN, command, '-c', options.configFile, ...(options.args ?? [])], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  let output = '';
  const ports = new Map<ListenerName, number>();
  let running = false;
  const lines = { stdout: '', stderr: '' };
  const take = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    if (options.echo) process[stream].write(text);
    lines[stream] += text;
    const complete = lines[stream].split('\n');
    lines[stream] = complete.pop() ?? '';
    for (const line of complete) {
      if (stream === 'stdout' && / is running$/.test(line)) running = true;
      const listening = listeningLine(line);
      if (listening) ports.set(listening.listener, listening.port);
    }
  };
  child.stdout!.on('data', take('stdout'));
  child.stderr!.on('data', take('stderr'));
  const exited = once(child, 'exit');

  const handle: UniprofChild = {
    process: child,
    command,
    port(listener) {
      const port = ports.get(listener);
      if (port === undefined) throw new Error(`uniprof ${command} reported no ${listener} listener`);
      return port;
    },
    url(listener) {
      return `http://127.0.0.1:${handle.port(listener)}`;
    },
    output: () => output,
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (!(running && LISTENERS[command].every((listener) => ports.has(listener)))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `uniprof ${command} exited (${child.exitCode ?? child.signalCode}) while starting:\n${output}`,
      );
    }
    if (Date.now() > deadline) {
      await handle.stop('SIGKILL');
      throw new Error(
        `uniprof ${command} did not start within ${options.timeoutMs ?? 90_000} ms:\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return handle;
}

/** A `listening` log line's listener and port (src/collector/listening.ts), else undefined. */
function listeningLine(line: string): { listener: ListenerName; port: number } | undefined {
  if (!line.startsWith('{') || !line.includes('"listening"')) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown; listener?: unknown; port?: unknown };
    if (record.msg !== 'listening' || typeof record.port !== 'number') return undefined;
    if (typeof record.listener !== 'string' || !(record.listener in SECTION)) return undefined;
    return { listener: record.listener as ListenerName, port: record.port };
  } catch {
    return undefined;
  }
}

const QUIET_LEVELS = new Set(['warn', 'error', 'fatal', 'silent']);

/** The config with every listener of the command bound (port 0 unless given) and logs at info at least. */
function withListenersAndLogs(
  command: UniprofCommand,
  config: Record<string, unknown>,
): Record<string, unknown> {
  const result = structuredClone(config);
  for (const listener of LISTENERS[command]) {
    const [section, key] = SECTION[listener];
    const parent = (result[section] ??= {}) as Record<string, unknown>;
    const listen = (parent[key] ??= {}) as Record<string, unknown>;
    listen.host ??= '127.0.0.1';
    listen.port ??= 0;
  }
  const log = (result.log ??= {}) as Record<string, unknown>;
  if (log.level === undefined || QUIET_LEVELS.has(String(log.level))) log.level = 'info';
  return result;
}
