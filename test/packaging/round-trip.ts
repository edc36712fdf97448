/**
 * The round trip every installed form of Uniprof must serve, shared by the packaging tests: load-generator
 * profiles in over OTLP/gRPC, the flamegraph back from the query API with a reader's token. Starting
 * `uniprof serve` and reading its banner is in test/support/serve.ts.
 */
import assert from 'node:assert/strict';
import { runLoadgen } from '../../src/loadgen/index.ts';

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
