/**
 * The round trip every installed form of Uniprof must serve, shared by the packaging tests: wait for
 * `uniprof serve`'s start banner, read the addresses it prints, send load-generator profiles over OTLP/gRPC,
 * and read the flamegraph back from the query API with a reader's token.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { runLoadgen } from '../../src/loadgen/index.ts';

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
  const otlpHttp = loopback(/OTLP HTTP\s+(http:\/\/\S+?)\/v1development/.exec(banner)?.[1]);
  const api = loopback(/web UI\s+(http:\/\/\S+?)\/\s/.exec(banner)?.[1]);
  const symbolizer = loopback(/symbolizer\s+(http:\/\/\S+)/.exec(banner)?.[1]);
  assert.ok(grpc && otlpHttp && api, `the banner names the gRPC, OTLP/HTTP and UI addresses:\n${banner}`);
  return { grpc, otlpHttp, api, symbolizer };
}

/** Sends load-generator profiles with `token`; returns the samples the collector acknowledged. */
export async function sendProfiles(grpc: string, token: string): Promise<number> {
  const sent = await runLoadgen({
    target: grpc,
    token,
    rate: 2000,
    duration: 2,
    hosts: 3,
    timeoutMs: 30_000,
  });
  assert.equal(sent.errors, 0, JSON.stringify(sent.errorMessages));
  assert.ok(sent.samples > 500, `sent ${sent.samples} samples`);
  return sent.samples;
}

export interface FlamegraphSummary {
  totalCount: number;
  /** Nodes in the tree, the root included. */
  nodes: number;
  /** Frames with a name. */
  namedFrames: number;
}

/** The flamegraph over all time from the query API at `api`, read with a reader's bearer token. */
export async function flamegraph(api: string, readToken: string): Promise<FlamegraphSummary> {
  const response = await fetch(`${api}/api/flamegraph?from=0&to=4000000000&samplingLevel=0`, {
    headers: { authorization: `Bearer ${readToken}` },
  });
  assert.equal(response.status, 200, await response.clone().text());
  const body = (await response.json()) as {
    totalCount: number;
    frames: { label: string[] };
    nodes: { parent: number[] };
  };
  return {
    totalCount: body.totalCount,
    nodes: body.nodes.parent.length,
    namedFrames: body.frames.label.filter((label) => label.length > 0).length,
  };
}
