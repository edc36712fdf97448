/**
 * Symbol upload through `uniprof serve` as users run it: the upload routes on the symbolizer's port, the
 * generated upload token, the agents' token refused, the symbolizer's metrics counting the upload.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram, canBuild, haveTool } from '../peers/toolchains.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';
import { fileIdOfExecutable } from '../../src/symbolizer/upload/file-id.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'uniprof-symbtool-serve-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function startServe(dataDir: string): Promise<{ child: ChildProcess; symbolizer: string }> {
  const child = spawn(process.execPath, [BIN, ...serveOnFreePorts(dataDir)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = new ProcessOutput(child);
  await output.until(SERVE_READY);
  const { symbolizer } = servedAddresses(output.stdout);
  assert.ok(symbolizer, `the banner names the symbolizer's address:\n${output.stdout}`);
  return { child, symbolizer };
}

describe(
  'symbol upload through uniprof serve',
  {
    skip:
      !(canBuild('c-dwarf5') && haveTool('strip', 'apt-get install binutils')) && 'gcc or binutils missing',
    timeout: 240_000,
  },
  () => {
    it("accepts the generated upload token on the symbolizer port, refuses the agents' token, counts the upload", async () => {
      const dataDir = join(work, 'data');
      const serve = await startServe(dataDir);
      try {
        const unstripped = buildProgram('c-dwarf5').binary;
        const stripped = join(work, 'prog');
        execFileSync('strip', ['-o', stripped, unstripped]);
        const uploadToken = readFileSync(join(dataDir, 'symbol-upload-token'), 'utf8').trim();
        const agentToken = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
        assert.notEqual(uploadToken, agentToken);

        const push = (token: string, extra: string[] = []) =>
          run(
            ['symbtool', 'push-symbols', '-u', serve.symbolizer, '-e', stripped, '-d', unstripped, ...extra],
            {
              UNIPROF_SYMBOL_UPLOAD_TOKEN: token,
            },
          );
        const refused = await push(agentToken);
        assert.equal(refused.code, 1, refused.stderr);
        assert.match(refused.stderr, /server answered 401: the symbol upload token is not valid/);

        const pushed = await push(uploadToken);
        assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
        assert.match(pushed.stdout, /uploaded symbols for .*prog/);
        const again = await push(uploadToken);
        assert.match(again.stdout, /already uploaded/);

        const { fileId } = fileIdOfExecutable(stripped);
        const status = await fetch(`${serve.symbolizer}/api/v1/symbols/${fileId}`, {
          headers: { authorization: `Bearer ${uploadToken}` },
        });
        assert.deepEqual(await status.json(), {
          fileId,
          fileIdHex: fileIdOfExecutable(stripped).hex,
          hasSymbols: true,
        });
        const metrics = await (await fetch(`${serve.symbolizer}/metrics`)).text();
        const uploaded = /^uniprof_symbolizer_upload_bytes_total (\d+)/m.exec(metrics);
        assert.ok(uploaded && Number(uploaded[1]) > 0, metrics);
        assert.match(metrics, /^uniprof_symbolizer_upload_rejections_total\{reason="unauthorized"\} [1-9]/m);
      } finally {
        serve.child.kill('SIGTERM');
        await once(serve.child, 'exit');
      }
    });

    // Found by fuzzing the upload endpoint: the symbolizer's server waited for every request at stop.
    it('stops on SIGTERM within the shutdown deadline while an upload client stalls mid-body', async () => {
      const dataDir = join(work, 'stall');
      const serve = await startServe(dataDir);
      const uploadToken = readFileSync(join(dataDir, 'symbol-upload-token'), 'utf8').trim();
      const url = new URL(serve.symbolizer);
      const client = connect(Number(url.port), url.hostname);
      try {
        await once(client, 'connect');
        client.write(
          `POST /api/v1/symbols/${'0'.repeat(32)} HTTP/1.1\r\nHost: ${url.host}\r\n` +
            `Authorization: Bearer ${uploadToken}\r\nContent-Length: 100000\r\n\r\n`,
        );
        // The start of a gzip stream, and then nothing: the upload waits for the rest.
        client.write(Buffer.from([0x1f, 0x8b, 8, 0]));
        await new Promise((resolve) => setTimeout(resolve, 500));
        const started = Date.now();
        serve.child.kill('SIGTERM');
        const [code] = (await once(serve.child, 'exit')) as [number | null];
        const took = Date.now() - started;
        assert.equal(code, 0);
        // The shutdown deadline is 10 s; before, the stalled upload held the stop for its 60 s idle timeout.
        assert.ok(took < 20_000, `uniprof serve took ${took} ms to stop`);
      } finally {
        client.destroy();
        if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
      }
    });
  },
);
