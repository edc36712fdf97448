/**
 * A real `uniprof serve` for the server targets: its own data directory, every listener on a free port, the
 * tokens it generated; and the checks every answer must pass (no 5xx, a message with every 4xx, the process
 * still up).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ProcessOutput,
  SERVE_READY,
  serveOnFreePorts,
  servedAddresses,
  type ServedAddresses,
} from '../../support/serve.ts';
import { FuzzViolation, type Outcome } from './target.ts';

/** How long a SIGTERM may take to stop the server (it drains in-flight work first). */
const STOP_TIMEOUT_MS = 15_000;

const BIN = new URL('../../../bin/uniprof.mjs', import.meta.url).pathname;

export interface FuzzServe {
  child: ChildProcess;
  addresses: ServedAddresses;
  agentToken: string;
  uploadToken: string;
  /** Throws FuzzViolation if the server has exited (with the end of its log). */
  assertUp(): void;
  close(): Promise<void>;
}

export async function startFuzzServe(): Promise<FuzzServe> {
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-fuzz-serve-'));
  const reports = join(dir, 'reports');
  mkdirSync(reports);
  // A diagnostic report on SIGUSR2 (JS stack, libuv handles): what a server that will not stop is waiting for.
  const diagnostics = ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reports}`];
  const child = spawn(process.execPath, [...diagnostics, BIN, ...serveOnFreePorts(join(dir, 'data'))], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = new ProcessOutput(child);
  await output.until(SERVE_READY);
  const read = (name: string) => readFileSync(join(dir, 'data', name), 'utf8').trim();
  return {
    child,
    addresses: servedAddresses(output.stdout),
    agentToken: read('secret-token'),
    uploadToken: read('symbol-upload-token'),
    assertUp() {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new FuzzViolation(
          `uniprof serve exited (${child.exitCode ?? child.signalCode}):\n${output.stderr.slice(-4000)}`,
        );
      }
    },
    async close() {
      const exited = new Promise((resolve) =>
        child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve),
      );
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
      let report = '';
      if (!stopped) {
        child.kill('SIGUSR2');
        await sleep(2_000);
        report = summarizeReport(reports);
        child.kill('SIGKILL');
      }
      await exited;
      rmSync(dir, { recursive: true, force: true });
      if (!stopped) {
        throw new FuzzViolation(
          `uniprof serve did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${report}\n` +
            `--- log ---\n${output.stderr.slice(-2000)}`,
        );
      }
    },
  };
}

/** The JS stack and the open handles of the diagnostic report the server wrote, if it wrote one. */
function summarizeReport(dir: string): string {
  try {
    const file = readdirSync(dir).find((name) => name.endsWith('.json'));
    if (!file) return '(no diagnostic report)';
    const report = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      javascriptStack?: { message?: string; stack?: string[] };
      libuv?: { type: string; is_active?: boolean; address?: string; remoteEndpoint?: unknown }[];
    };
    const handles = (report.libuv ?? [])
      .filter((h) => h.is_active)
      .map((h) => `${h.type}${h.remoteEndpoint ? ` ${JSON.stringify(h.remoteEndpoint)}` : ''}`);
    return [
      `JS stack: ${(report.javascriptStack?.stack ?? []).slice(0, 12).join(' | ') || report.javascriptStack?.message}`,
      `active handles: ${handles.join(', ')}`,
    ].join('\n');
  } catch (error) {
    return `(diagnostic report unreadable: ${String(error)})`;
  }
}

/** A server's answer is fine when it is a success, or a 4xx whose JSON body says what was wrong. */
export async function judgeAnswer(response: Response, what: string): Promise<Outcome> {
  const text = await response.text();
  if (response.status >= 500) throw new FuzzViolation(`${what}: ${response.status} ${text.slice(0, 500)}`);
  if (response.status < 400) return 'accepted';
  let message: unknown;
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    message = body.error ?? body.message;
  } catch {
    message = text;
  }
  if (typeof message !== 'string' || message.trim() === '') {
    throw new FuzzViolation(`${what}: ${response.status} without a message: ${text.slice(0, 200)}`);
  }
  return 'rejected';
}

/** fetch with the case budget as its deadline: an answer that does not come in time is a hang. */
export async function fetchWithin(url: string, init: RequestInit, budgetMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(budgetMs) });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError') throw new FuzzViolation(`no answer from ${url} within ${budgetMs} ms`);
    throw new FuzzViolation(`request to ${url} failed: ${String((error as Error).cause ?? error)}`);
  }
}
