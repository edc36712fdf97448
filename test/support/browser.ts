import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  registerQueryApi,
  registerReaderAuth,
  registerUi,
  type QueryApiDeps,
  type QueryApiOptions,
  type ReaderAccess,
} from '../../src/api/index.ts';
import { testReaderAccess } from './reader-auth.ts';

/** Debian's Chromium (`.ci/apt-packages.txt`), driven by playwright-core: no browser download. */
export const CHROMIUM = process.env.UNIPROF_CHROMIUM ?? '/usr/bin/chromium';
/** Where browser tests leave their screenshots and downloads for a reader of the CI run. */
export const ARTIFACTS = 'test-artifacts';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The `skip` option of a browser test's `describe`: skipped on a developer machine without Chromium, but a
 * missing browser fails CI instead of passing it silently.
 */
export function chromiumSkip(): false | string {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') {
    throw new Error(
      `chromium not found at ${CHROMIUM}: install the Debian package "chromium" (.ci/apt-packages.txt)`,
    );
  }
  return `no chromium at ${CHROMIUM}`;
}

/**
 * The UI under test is what the build script produces, built into a directory of its own so that other tests
 * serving dist/ui never see it half-written. The caller removes the directory.
 */
export function buildUiInto(): string {
  const directory = mkdtempSync(join(tmpdir(), 'uniprof-ui-'));
  execFileSync('npm', ['run', '--silent', 'build:ui', '--', '--outDir', directory, '--emptyOutDir'], {
    stdio: 'ignore',
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return directory;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Opens a UI route (`flamegraph?from=…`) and waits until the page has rendered, failing on a shown error. */
export async function openView(page: Page, server: string, hash: string): Promise<void> {
  await page.goto(`${server}/ui/#/${hash}`);
  await page.waitForSelector('#page[data-ready="true"]', { timeout: 30_000 });
  const error = await page.$('#page .error');
  if (error) assert.fail(`page shows an error: ${await error.textContent()}`);
}

/**
 * tsx compiles with esbuild's keepNames, which wraps named inner functions in calls to a `__name` helper that
 * exists only in Node: a function handed to `page.evaluate` that declares one needs the helper in the page too.
 */
export async function allowNodeFunctions(context: BrowserContext): Promise<void> {
  await context.addInitScript({ content: 'globalThis.__name ??= (fn) => fn;' });
}

export interface UiServer {
  app: FastifyInstance;
  base: string;
}

/**
 * What every browser test serves: reader auth (the test readers unless `access` is given), the query API over
 * `store`, and the built UI from `uiDir`, on a free loopback port. `extra` adds routes before the UI.
 */
export async function serveUi(
  store: QueryApiDeps['store'],
  uiDir: string,
  options: { access?: ReaderAccess; query?: QueryApiOptions; extra?: (app: FastifyInstance) => void } = {},
): Promise<UiServer> {
  const app = Fastify();
  await registerReaderAuth(app, options.access ?? (await testReaderAccess()));
  await registerQueryApi(app, { store, options: options.query });
  options.extra?.(app);
  await registerUi(app, { directory: uiDir });
  return { app, base: await app.listen({ host: '127.0.0.1', port: 0 }) };
}
