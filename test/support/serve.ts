/**
 * Starting `uniprof serve` the way the tests and benches do: on ports the system picks, waiting for its start
 * banner, and reading the addresses the banner prints.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';

/** `uniprof serve` arguments for a data directory and every listener on a port the system picks. */
export function serveOnFreePorts(dataDir: string): string[] {
  return [
    'serve',
    '--data-dir',
    dataDir,
    '--grpc-port',
    '0',
    '--http-port',
    '0',
    '--api-port',
    '0',
    '--set',
    'symbolizer.http.port=0',
    '--log-level',
    'warn',
  ];
}

/** Collects a child's stdout and stderr, and waits for a line of its output. */
export class ProcessOutput {
  stdout = '';
  stderr = '';

  constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  /** Resolves once stdout matches `ready`; rejects, with the output so far, on exit or after `timeoutMs`. */
  until(ready: RegExp, timeoutMs = 60_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        cleanup();
        reject(new Error(`${why}:\n${this.stdout}\n${this.stderr}`));
      };
      const check = () => {
        if (!ready.test(this.stdout)) return;
        cleanup();
        resolve();
      };
      const exited = (code: number | null) => fail(`exited with ${code} before printing ${ready}`);
      const timer = setTimeout(() => fail(`did not print ${ready} in ${timeoutMs} ms`), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout?.off('data', check);
        this.child.off('exit', exited);
      };
      this.child.stdout?.on('data', check);
      this.child.once('exit', exited);
      check();
    });
  }
}

/** What `uniprof serve` prints once it is listening: the last line of its banner. */
export const SERVE_READY = /data dir/;

export interface ServedAddresses {
  /** host:port of the OTLP gRPC receiver. */
  grpc: string;
  /** Base URL of the agents' OTLP/HTTP listener (health, metrics). */
  otlpHttp: string;
  /** Base URL of the web UI and query API. */
  api: string;
  /** Base URL of the in-process symbolizer's HTTP server, unless it is disabled. */
  symbolizer?: string;
}

/** The addresses in `uniprof serve`'s banner; one on every interface is reached through loopback. */
export function servedAddresses(banner: string): ServedAddresses {
  const loopback = (address: string | undefined) => address?.replace('0.0.0.0:', '127.0.0.1:');
  const grpc = loopback(/OTLP gRPC\s+(\S+)/.exec(banner)?.[1]);
  const otlpHttp = loopback(/OTLP HTTP\s+(https?:\/\/\S+?)\/v1development/.exec(banner)?.[1]);
  const api = loopback(/web UI\s+(https?:\/\/\S+?)\/\s/.exec(banner)?.[1]);
  const symbolizer = loopback(/symbolizer\s+(https?:\/\/\S+)/.exec(banner)?.[1]);
  assert.ok(grpc && otlpHttp && api, `the banner names the gRPC, OTLP/HTTP and UI addresses:\n${banner}`);
  return { grpc, otlpHttp, api, symbolizer };
}
