import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { registerQueryApi, registerUi } from '../../src/api/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { HOT_FUNCTION, wideProfile, type WideProfile } from '../query/wide-fixture.ts';

const CHROMIUM = process.env.UNIPROF_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';
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

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === 'true') {
  throw new Error(
    `chromium not found at ${CHROMIUM}: install the Debian package "chromium" (.ci/apt-packages.txt)`,
  );
}

describe('web UI in headless chromium', { skip: hasChromium ? false : `no chromium at ${CHROMIUM}` }, () => {
  let store: EmbeddedStore;
  let app: FastifyInstance;
  let browser: Browser;
  let page: Page;
  let base: string;
  let wide: WideProfile;
  let uiDir: string;

  before(async () => {
    // The UI under test is what the build script produces, built into a directory of its own so that other
    // tests serving dist/ui never see it half-written.
    uiDir = mkdtempSync(join(tmpdir(), 'uniprof-ui-'));
    execFileSync('npm', ['run', '--silent', 'build:ui', '--', '--outDir', uiDir, '--emptyOutDir'], {
      stdio: 'ignore',
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    wide = wideProfile({ stacks: 30_000, depth: 12, branching: 8 });
    store = new EmbeddedStore({ path: ':memory:', seed: 3 });
    await store.open();
    await store.write(wide.batch);
    app = Fastify();
    await registerQueryApi(app, { store, options: { now: () => wide.to } });
    await registerUi(app, { directory: uiDir });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
  });

  const range = () => `from=${wide.from}&to=${wide.to}&samplingLevel=0`;

  async function open(hash: string): Promise<void> {
    await page.goto(`${base}/ui/#/${hash}`);
    await page.waitForSelector('#page[data-ready="true"]', { timeout: 30_000 });
    const error = await page.$('#page .error');
    if (error) assert.fail(`page shows an error: ${await error.textContent()}`);
  }

  async function canvasData(): Promise<Record<string, string>> {
    return page.$eval(
      'canvas.flamegraph',
      (canvas) => ({ ...(canvas as HTMLCanvasElement).dataset }) as Record<string, string>,
    );
  }

  it('draws a 100,000+ node flamegraph with the expected root total, first paint under 200 ms', async (t) => {
    // The machine is shared with parallel test files: the best of three page loads is the paint time, so a
    // burst of someone else's CPU work does not decide the result.
    const paints: number[] = [];
    let data: Record<string, string> = {};
    for (let load = 0; load < 3; load++) {
      if (load > 0) await page.goto('about:blank');
      await open(`flamegraph?${range()}`);
      data = await canvasData();
      paints.push(Number(data.firstPaintMs));
    }
    assert.equal(Number(data.rootTotal), wide.totalCount);
    assert.ok(Number(data.nodes) > 100_000, `only ${data.nodes} nodes`);
    const best = Math.min(...paints);
    assert.ok(best < 200, `first paint took ${paints.join(', ')} ms`);
    t.diagnostic(
      `${data.nodes} nodes: fetch+parse ${data.fetchMs} ms, layout+first paint ${paints.join(' / ')} ms`,
    );
    await page.screenshot({ path: `${ARTIFACTS}/flamegraph.png` });
  });

  it('highlights search matches and counts their samples', async () => {
    await page.fill('#search', HOT_FUNCTION);
    await page.waitForFunction(
      (expected) =>
        document.querySelector<HTMLCanvasElement>('canvas.flamegraph')?.dataset.searchMatches === expected,
      String(wide.hotCount),
      { timeout: 10_000 },
    );
    assert.match(page.url(), new RegExp(`search=${HOT_FUNCTION}`));
    await page.screenshot({ path: `${ARTIFACTS}/flamegraph-search.png` });
    await page.fill('#search', '');
  });

  it('zooms on click, shows a tooltip, zooms with the wheel and resets', async () => {
    const rect = (await (await page.$('canvas.flamegraph'))!.boundingBox())!;
    // Row 1 (depth 1) at the left edge: the first child of the root.
    await page.mouse.move(rect.x + 5, rect.y + 18 + 9);
    await page.waitForSelector('#tooltip:not([hidden])');
    assert.match((await page.textContent('#tooltip')) ?? '', /Total: .* samples/);
    await page.mouse.click(rect.x + 5, rect.y + 18 + 9);
    let data = await canvasData();
    assert.notEqual(data.focus, '0');
    const span = Number(data.viewEnd) - Number(data.viewStart);
    assert.ok(span > 0 && span < wide.totalCount, `zoomed span ${span}`);
    await page.screenshot({ path: `${ARTIFACTS}/flamegraph-zoomed.png` });
    await page.mouse.move(rect.x + rect.width / 2, rect.y + 60);
    await page.mouse.wheel(0, -400);
    await page.waitForFunction((before) => {
      const d = document.querySelector<HTMLCanvasElement>('canvas.flamegraph')!.dataset;
      return Number(d.viewEnd) - Number(d.viewStart) < before;
    }, span);
    await page.click('#reset');
    data = await canvasData();
    assert.equal(data.focus, '0');
    assert.equal(Number(data.viewEnd) - Number(data.viewStart), wide.totalCount);
  });

  it('keeps the range and filter in the URL and applies them', async () => {
    await open(`flamegraph?${range()}`);
    await page.focus('#filter');
    await page.waitForFunction(() => document.querySelectorAll('#filter-suggestions option').length > 0);
    const suggestions = await page.$$eval('#filter-suggestions option', (options) =>
      options.map((o) => (o as HTMLOptionElement).value),
    );
    assert.ok(suggestions.includes('host:"host-1"'), suggestions.join(', '));
    assert.ok(suggestions.includes('thread:"thread-4"'), suggestions.join(', '));
    await page.fill('#filter', 'host:host-1');
    await page.click('#apply');
    await page.waitForFunction(() => location.hash.includes('filter=host%3Ahost-1'));
    await page.waitForSelector('#page[data-ready="true"]');
    const expected = wide.batch.events
      .filter((e) => e.hostName === 'host-1')
      .reduce((s, e) => s + e.count, 0);
    await page.waitForFunction(
      (value) => document.querySelector<HTMLCanvasElement>('canvas.flamegraph')?.dataset.rootTotal === value,
      String(expected),
    );
    // The navigation keeps the shared range and filter.
    const href = await page.getAttribute('nav a[data-page="topn"]', 'href');
    assert.match(href ?? '', /filter=host%3Ahost-1/);
  });

  it('shows top functions and sorts them by a clicked column', async () => {
    await open(`topn?${range()}`);
    const rows = await page.$$eval('#topn-table tbody tr', (trs) => trs.length);
    assert.ok(rows > 10);
    await page.click('#topn-table th[data-sort="total"]');
    await page.waitForFunction(() => location.hash.includes('sort=total'));
    await page.waitForSelector('#page[data-ready="true"]');
    const totals = await page.$$eval('#topn-table tbody tr td:nth-child(5)', (tds) =>
      tds.map(
        (td) =>
          Number((td.firstChild?.textContent ?? '').replace(/[^0-9.]/g, '')) *
          (/k/.test(td.textContent ?? '') ? 1000 : 1),
      ),
    );
    for (let i = 1; i < totals.length; i++) assert.ok(totals[i - 1] >= totals[i], `row ${i} out of order`);
    await page.screenshot({ path: `${ARTIFACTS}/topn.png` });
  });

  it('shows stack traces grouped by thread', async () => {
    await open(`stacks?${range()}&groupBy=process.thread.name`);
    const names = await page.$$eval('#groups .group-name', (els) => els.map((e) => e.textContent));
    assert.deepEqual([...names].sort(), ['thread-0', 'thread-1', 'thread-2', 'thread-3', 'thread-4']);
    await page.click('#groups details summary');
    await page.screenshot({ path: `${ARTIFACTS}/stacks.png` });
  });

  it('shows a differential flamegraph and table', async () => {
    const half = wide.from + 300;
    await open(
      `diff?from=${half}&to=${wide.to}&baselineFrom=${wide.from}&baselineTo=${half}&samplingLevel=0`,
    );
    const expected = wide.batch.events.filter((e) => e.timestamp >= half).reduce((s, e) => s + e.count, 0);
    assert.equal(Number((await canvasData()).rootTotal), expected);
    assert.ok((await page.$$('#diff-table tbody tr')).length > 0);
    await page.screenshot({ path: `${ARTIFACTS}/diff.png` });
  });

  it('shows a bad filter as an error that names the problem', async () => {
    await page.goto(`${base}/ui/#/flamegraph?${range()}&filter=${encodeURIComponent('nosuchfield:1')}`);
    await page.waitForSelector('#page[data-ready="true"]');
    assert.match((await page.textContent('#page .error')) ?? '', /filter: unknown field "nosuchfield"/);
  });

  it('shows the storage and status page', async () => {
    await open('status');
    // 30,000 events were written; the card abbreviates thousands.
    assert.equal((await page.textContent('#status-events'))?.trim(), '30.0k');
    await page.screenshot({ path: `${ARTIFACTS}/status.png`, fullPage: true });
  });
});
