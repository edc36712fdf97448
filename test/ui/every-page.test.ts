import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext } from 'playwright-core';
import { pino } from 'pino';
import { registerSetupRoute, symbolUploadTarget } from '../../src/api/index.ts';
import { createCollector, type Collector } from '../../src/collector/collector.ts';
import { loadConfig } from '../../src/config/config.ts';
import { runLoadgen } from '../../src/loadgen/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import {
  allowNodeFunctions,
  ARTIFACTS,
  buildUiInto,
  chromiumSkip,
  launchChromium,
  openView,
  serveUi,
} from '../support/browser.ts';
import { bearer } from '../support/reader-auth.ts';

const VIEWPORT = { width: 1280, height: 720 };
const AGENT_TOKEN = 'every-page-agent-token';
/**
 * What each known page is for, as a selector: it must start on screen at 1280×720. A page added later without
 * an entry here is still checked, by its first visible block.
 */
const PRIMARY_CONTENT: Record<string, string> = {
  flamegraph: 'canvas.flamegraph',
  topn: '#topn-table',
  stacks: '#groups',
  diff: 'canvas.flamegraph',
  status: '.cards',
  setup: '.setup',
};
/** The query bar's controls, the header's navigation and the page's own first block. */
const CHROME = ['#nav', '#querybar', '#range-preset', '#from', '#to', '#filter', '#frame-types', '#apply'];

/**
 * Every page of the UI at a laptop's 1280×720, over data that came in as an agent sends it: the load generator
 * exports OTLP over gRPC to an in-process collector writing the embedded store, and the UI's server reads that
 * store. Pages are taken from the navigation itself, so a page added to it later is checked too.
 */
describe('every UI page at 1280×720 over load-generator data', { skip: chromiumSkip() }, () => {
  let dataDir: string;
  let uiDir: string;
  let store: EmbeddedStore;
  let collector: Collector;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let samplesSent = 0;

  before(async () => {
    uiDir = buildUiInto();
    dataDir = mkdtempSync(join(tmpdir(), 'uniprof-every-page-'));
    store = new EmbeddedStore({ path: join(dataDir, 'uniprof.duckdb'), seed: 5 });
    collector = createCollector(
      {
        grpc: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        auth: { secretToken: AGENT_TOKEN },
        shutdownTimeoutMs: 5_000,
      },
      store,
      pino({ level: 'silent' }),
    );
    const { grpcAddress } = await collector.start();
    const sent = await runLoadgen({
      target: grpcAddress,
      token: AGENT_TOKEN,
      rate: 4000,
      duration: 2,
      hosts: 4,
      processesPerHost: 3,
      stacksPerRuntime: 400,
      seed: 9,
    });
    assert.equal(sent.errors, 0, `the collector refused requests: ${sent.errorMessages.join('; ')}`);
    samplesSent = sent.samples;

    const upload = symbolUploadTarget(loadConfig({ overrides: [`dataDir=${dataDir}`] }));
    ({ app, base } = await serveUi(store, uiDir, {
      query: { symbolUpload: upload },
      extra: (server) =>
        registerSetupRoute(server, () => ({
          grpc: { host: '127.0.0.1', port: Number(grpcAddress.split(':').at(-1)), tls: false },
          otlpHttp: { host: '127.0.0.1', port: 4318, tls: false },
          token: { value: AGENT_TOKEN, file: join(dataDir, 'secret-token') },
          agentVersion: 'v0.0.202633',
          symbolUpload: upload,
        })),
    }));
    browser = await launchChromium();
    context = await browser.newContext({ viewport: VIEWPORT, extraHTTPHeaders: bearer() });
    await allowNodeFunctions(context);
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await collector?.stop();
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('the load generator’s samples reached the store through the collector', async () => {
    const response = await fetch(`${base}/api/flamegraph?from=now-15m&to=now&samplingLevel=0`, {
      headers: bearer(),
    });
    assert.equal(response.status, 200);
    const graph = (await response.json()) as { totalCount: number };
    assert.ok(samplesSent > 0);
    assert.equal(graph.totalCount, samplesSent, 'every sample sent is in the flamegraph');
  });

  it('renders every page without errors, without sideways scrolling, with its controls on screen', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`);
    });
    await openView(page, base, 'flamegraph');
    const pages = await page.$$eval('#nav a[data-page]', (links) =>
      links.map((link) => (link as HTMLElement).dataset.page ?? ''),
    );
    assert.ok(pages.length >= 6 && pages.includes('flamegraph'), `navigation lists the pages: ${pages}`);
    const problems: string[] = [];
    for (const name of pages) {
      // Through the navigation, as a user gets there: the link carries the shared range and filter.
      await page.click(`#nav a[data-page="${name}"]`);
      await page.waitForFunction((id) => document.getElementById('page')?.dataset.page === id, name);
      await page.waitForSelector('#page[data-ready="true"]', { timeout: 30_000 });
      const shown = await page.$('#page .error');
      if (shown) problems.push(`${name}: shows an error: ${await shown.textContent()}`);
      await page.screenshot({ path: `${ARTIFACTS}/${name}-${VIEWPORT.width}x${VIEWPORT.height}.png` });
      const layout = await page.evaluate(
        ({ chrome, primary }) => {
          const box = (element: Element | null) => {
            const r = element?.getBoundingClientRect();
            return r ? { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width } : null;
          };
          const root = document.getElementById('page')!;
          const first = [...root.children].find((c) => (c as HTMLElement).offsetParent !== null) ?? null;
          return {
            scrollWidth: document.scrollingElement!.scrollWidth,
            chrome: chrome.map((selector) => ({ selector, box: box(document.querySelector(selector)) })),
            primary: primary ? box(document.querySelector(primary)) : null,
            first: box(first),
            firstName: first ? `${first.tagName.toLowerCase()}#${first.id}.${first.className}` : '',
          };
        },
        { chrome: CHROME, primary: PRIMARY_CONTENT[name] ?? '' },
      );
      if (layout.scrollWidth > VIEWPORT.width)
        problems.push(`${name}: the page scrolls sideways (scrollWidth ${layout.scrollWidth})`);
      const onScreen = (what: string, b: { left: number; top: number; right: number; bottom: number }) => {
        if (b.left < 0 || b.right > VIEWPORT.width || b.top < 0 || b.top >= VIEWPORT.height)
          problems.push(`${name}: ${what} is not on screen: ${JSON.stringify(b)}`);
      };
      for (const { selector, box } of layout.chrome) {
        if (!box) problems.push(`${name}: no ${selector}`);
        else onScreen(selector, box);
      }
      if (PRIMARY_CONTENT[name]) {
        if (!layout.primary) problems.push(`${name}: no ${PRIMARY_CONTENT[name]}`);
        else onScreen(PRIMARY_CONTENT[name], layout.primary);
      }
      if (!layout.first) problems.push(`${name}: the page shows nothing`);
      else onScreen(`its first block (${layout.firstName})`, layout.first);
    }
    assert.deepEqual(errors, [], 'no script errors while the pages rendered');
    assert.deepEqual(problems, [], `at ${VIEWPORT.width}×${VIEWPORT.height}`);
  });
});
