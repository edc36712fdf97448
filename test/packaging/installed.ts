/**
 * Runs an installed Uniprof (the npm package, a release archive) the way a user does — its own entry point
 * and environment, no tsx, no sources — and checks the round trip: `uniprof serve` on a fresh data directory,
 * load-generator profiles in over OTLP/gRPC, a flamegraph back out of the query API, plus the files the
 * compiled program reads beside its modules (UI bundle, OpenAPI document, .proto definitions).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { bearer, generatedReadToken } from '../support/reader-auth.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';
import { flamegraph, sendProfiles } from './round-trip.ts';

export const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** How to start the installed program: its executable (a path, or a name looked up on env.PATH). */
export interface Installed {
  command: string;
  env: NodeJS.ProcessEnv;
}

export function version(installed: Installed): string {
  const result = spawnSync(installed.command, ['--version'], { env: installed.env, encoding: 'utf8' });
  assert.equal(result.status, 0, `${installed.command} --version: ${result.error ?? result.stderr}`);
  return result.stdout.trim();
}

export async function serveRoundTrip(installed: Installed): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-installed-'));
  const child = spawn(installed.command, serveOnFreePorts(dataDir), {
    env: installed.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = new ProcessOutput(child);
  try {
    await output.until(SERVE_READY);
    const { grpc, api: http, symbolizer } = servedAddresses(output.stdout);
    assert.ok(symbolizer, 'serve runs the symbolizer');
    assert.equal((await fetch(`${http}/ready`)).status, 200);
    assert.equal((await fetch(`${symbolizer}/ready`)).status, 200);

    const samples = await sendProfiles(grpc, readFileSync(join(dataDir, 'secret-token'), 'utf8').trim());
    const readToken = generatedReadToken(dataDir);
    const reader = { headers: bearer(readToken) };
    assert.equal((await fetch(`${http}/api/status`)).status, 401, 'profiles need reader credentials');
    const graph = await flamegraph(http, readToken);
    assert.equal(graph.totalCount, samples, 'every acknowledged sample is in the flamegraph');
    assert.ok(graph.nodes > 10, `a tree, not just a root: ${graph.nodes}`);
    assert.ok(graph.namedFrames > 0, 'frames have names');

    // Files read at run time from beside the compiled modules.
    const ui = await fetch(`${http}/`, reader);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /<html/i, 'the UI bundle is served');
    const openApi = await fetch(`${http}/api/openapi.yaml`, reader);
    assert.equal(openApi.status, 200);
    assert.match(await openApi.text(), /^openapi:/m);
    const pprof = await fetch(`${http}/api/pprof?from=0&to=4000000000`, reader);
    assert.equal(pprof.status, 200, await pprof.clone().text());
    assert.ok(
      gunzipSync(Buffer.from(await pprof.arrayBuffer())).length > 100,
      'a pprof profile (profile.proto)',
    );

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, output.stderr);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
