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
import { runLoadgen } from '../../src/loadgen/index.ts';
import { bearer, generatedReadToken } from '../support/reader-auth.ts';

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
  const child = spawn(
    installed.command,
    [
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
    ],
    { env: installed.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`serve did not start in 60 s:\n${stdout}\n${stderr}`)),
        60_000,
      );
      child.stdout.on('data', () => {
        if (/data dir/.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${stdout}\n${stderr}`)));
    });
    const grpc = /OTLP gRPC\s+(\S+)/.exec(stdout)?.[1];
    const http = /web UI\s+(http:\/\/\S+?)\/\s/.exec(stdout)?.[1];
    const symbolizer = /symbolizer\s+(http:\/\/\S+)/.exec(stdout)?.[1];
    assert.ok(grpc && http && symbolizer, `the banner names the addresses:\n${stdout}`);
    assert.equal((await fetch(`${http}/ready`)).status, 200);
    assert.equal((await fetch(`${symbolizer}/ready`)).status, 200);

    const token = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
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

    const reader = { headers: bearer(generatedReadToken(dataDir)) };
    assert.equal((await fetch(`${http}/api/status`)).status, 401, 'profiles need reader credentials');
    const response = await fetch(`${http}/api/flamegraph?from=0&to=4000000000&samplingLevel=0`, reader);
    assert.equal(response.status, 200, await response.clone().text());
    const flamegraph = (await response.json()) as {
      totalCount: number;
      frames: { label: string[] };
      nodes: { parent: number[] };
    };
    assert.equal(flamegraph.totalCount, sent.samples, 'every acknowledged sample is in the flamegraph');
    assert.ok(
      flamegraph.nodes.parent.length > 10,
      `a tree, not just a root: ${flamegraph.nodes.parent.length}`,
    );
    assert.ok(
      flamegraph.frames.label.some((label) => label.length > 0),
      'frames have names',
    );

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
    assert.equal(code, 0, stderr);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
