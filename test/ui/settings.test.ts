import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashPassword, ReaderAccess } from '../../src/api/index.ts';
import type { TopNResponse } from '../../src/query/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { formatUsd } from '../../src/ui/format.ts';
import { T0, expectedCount, writeFixture } from '../query/fixture.ts';
import {
  ARTIFACTS,
  buildUiInto,
  chromiumSkip,
  launchChromium,
  openView,
  serveUi,
} from '../support/browser.ts';
import { TEST_READ_TOKEN, bearer } from '../support/reader-auth.ts';

const EDITOR = { name: 'ops', password: 'the editor password 123' };
const READER = { name: 'analyst', password: 'the reader password 456' };
const VIEWPORT = { width: 1280, height: 720 };
const SECONDS_PER_YEAR = 365 * 24 * 3600;
/** The defaults (Elastic's): 20 Hz, 7 W per x86 core, PUE 1.7, US-East grid. The fixture's hosts are x86. */
const HZ = 20;
const KW_PER_CORE = 7 / 1000;
const PUE = 1.7;
const CO2_PER_KWH = 0.000379069;
/** What the editor sets the price to: four times the default. */
const PRICE = 0.17;

/** Independently of the query code: a count of samples over `seconds`, as core-hours per year. */
function annualCoreHours(count: number, seconds: number): number {
  return ((count / HZ) * (SECONDS_PER_YEAR / seconds)) / 3600;
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} ≠ ${expected}`,
  );
}

describe('settings page and differential summary in headless chromium', { skip: chromiumSkip() }, () => {
  let store: EmbeddedStore;
  let app: FastifyInstance;
  let base: string;
  let uiDir: string;
  let browser: Browser;
  let editor: BrowserContext;
  let reader: BrowserContext;
  let page: Page;

  async function loggedIn(user: { name: string; password: string }): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const response = await context.request.post(`${base}/api/auth/login`, {
      data: { user: user.name, password: user.password },
    });
    assert.equal(response.status(), 200, await response.text());
    return context;
  }

  before(async () => {
    uiDir = buildUiInto();
    store = new EmbeddedStore({ path: ':memory:', seed: 7 });
    await store.open();
    await writeFixture(store);
    const access = new ReaderAccess({
      users: {
        [EDITOR.name]: await hashPassword(EDITOR.password),
        [READER.name]: await hashPassword(READER.password),
      },
      tokens: [TEST_READ_TOKEN],
    });
    ({ app, base } = await serveUi(store, uiDir, {
      access,
      query: { now: () => T0 + 120, settingsEditors: [EDITOR.name] },
    }));
    browser = await launchChromium();
    editor = await loggedIn(EDITOR);
    reader = await loggedIn(READER);
    page = await editor.newPage();
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
  });

  /** Nothing wider than the viewport: every control reachable at 1280×720 without scrolling sideways. */
  async function assertFitsViewport(on: Page): Promise<void> {
    const width = await on.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= VIEWPORT.width, `the page is ${width}px wide at ${VIEWPORT.width}px`);
  }

  it('lets an editor change a factor, keeps it across a reload, and top functions use it', async () => {
    await openView(page, base, 'settings');
    const price = page.locator('#factor-costPerCoreHourUsd');
    assert.equal(await price.isEnabled(), true);
    assert.equal(await price.inputValue(), '0.0425');
    await assertFitsViewport(page);
    assert.ok(await page.locator('#settings-save').isVisible());
    const saveBox = await page.locator('#settings-save').boundingBox();
    assert.ok(saveBox && saveBox.y + saveBox.height <= VIEWPORT.height, 'Save is on the first screen');

    // An absurd value is refused by the server, which names the field; nothing is kept.
    await page.fill('#factor-datacenterPue', '0.2');
    await page.click('#settings-save');
    await page.waitForSelector('#settings-message.error-text');
    assert.match((await page.textContent('#settings-message'))!, /datacenterPue/);

    await page.fill('#factor-datacenterPue', '1.7');
    await price.fill(String(PRICE));
    await page.click('#settings-save');
    await page.waitForFunction(() =>
      document.querySelector('#settings-message')?.textContent?.includes('Saved'),
    );
    await page.screenshot({ path: join(ARTIFACTS, 'settings-editor.png') });

    await page.reload();
    await page.waitForSelector('#page[data-ready="true"]');
    assert.equal(await page.locator('#factor-costPerCoreHourUsd').inputValue(), String(PRICE));
    assert.equal(await page.getAttribute('tr[data-factor="costPerCoreHourUsd"]', 'class'), 'changed');
    assert.equal(await page.textContent('tr[data-factor="costPerCoreHourUsd"] td.default'), '0.0425');
    assert.equal(await page.getAttribute('tr[data-factor="datacenterPue"]', 'class'), null);
    assert.match((await page.textContent('#settings-updated'))!, /by ops/);

    // Top functions: each row's annual cost is its total count at the new price.
    await openView(page, base, `topn?from=${T0}&to=${T0 + 120}&samplingLevel=0`);
    const api = (await (
      await editor.request.get(`${base}/api/topn/functions?from=${T0}&to=${T0 + 120}&samplingLevel=0`)
    ).json()) as TopNResponse;
    const cells = await page.$$eval('#topn-table tbody tr', (rows) =>
      rows.map((row) => {
        const cells = (row as HTMLTableRowElement).cells;
        return [cells[0].textContent!.trim(), cells[6].textContent!.trim()];
      }),
    );
    assert.ok(cells.length > 3);
    for (const [rank, cost] of cells) {
      const fn = api.topn.find((f) => String(f.rank) === rank)!;
      assert.equal(cost, formatUsd(annualCoreHours(fn.total_count, 120) * PRICE), `rank ${rank}`);
    }
  });

  it('shows a reader who is not an editor the values, read-only', async () => {
    const readerPage = await reader.newPage();
    await openView(readerPage, base, 'settings');
    assert.match((await readerPage.textContent('#settings-read-only'))!, /"analyst".*settingsEditors/);
    assert.equal(await readerPage.locator('#factor-costPerCoreHourUsd').inputValue(), String(PRICE));
    assert.equal(await readerPage.locator('#factor-costPerCoreHourUsd').isDisabled(), true);
    assert.equal(await readerPage.locator('#settings-save').count(), 0);
    assert.equal(await readerPage.locator('button[data-reset]').count(), 0);
    await assertFitsViewport(readerPage);
    await readerPage.screenshot({ path: join(ARTIFACTS, 'settings-read-only.png') });
    // The API agrees: the page hides nothing the server would allow.
    const refused = await reader.request.put(`${base}/api/settings`, { data: { impact: {} } });
    assert.equal(refused.status(), 403);
    const byToken = await fetch(`${base}/api/settings`, {
      method: 'PUT',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: JSON.stringify({ impact: {} }),
    });
    assert.equal(byToken.status, 403);
    await readerPage.close();
  });

  it('summarises a comparison of ranges of different lengths, normalised by time and by scale factors', async () => {
    // Comparison: the minute [T0+60, T0+120); baseline: the half minute [T0, T0+30).
    const comparison = { from: T0 + 60, to: T0 + 120 };
    const baseline = { from: T0, to: T0 + 30 };
    const c = expectedCount(comparison.from, comparison.to);
    const b = expectedCount(baseline.from, baseline.to);
    assert.ok(b > 0 && c > 0);
    const co2PerCoreHour = KW_PER_CORE * PUE * CO2_PER_KWH;
    const hash = `diff?from=${comparison.from}&to=${comparison.to}&baselineFrom=${baseline.from}&baselineTo=${baseline.to}&samplingLevel=0`;

    const figures = async () =>
      Object.fromEntries(
        await page.$$eval('#diff-summary .diff-card', (cards) =>
          cards.map((card) => {
            const data = (card as HTMLElement).dataset;
            return [data.figure!, { baseline: Number(data.baseline), comparison: Number(data.comparison) }];
          }),
        ),
      ) as Record<string, { baseline: number; comparison: number }>;

    /** The page rendered after a change of the normalisation: its summary no longer shows `previous`. */
    const renderedAgain = (previous: string) =>
      page.waitForFunction(
        (old) =>
          document.querySelector<HTMLElement>('#page')?.dataset.ready === 'true' &&
          document.querySelector<HTMLElement>('#diff-summary')?.dataset.change !== old,
        previous,
      );

    await openView(page, base, hash);
    await assertFitsViewport(page);
    const summaryBox = await page.locator('#diff-summary').boundingBox();
    assert.ok(
      summaryBox && summaryBox.y + summaryBox.height <= VIEWPORT.height,
      'the summary is on the first screen',
    );
    // By time: the baseline's half minute counts twice to match the comparison's minute.
    let shown = await figures();
    close(shown.samples.baseline, b * 2, 'baseline samples');
    close(shown.samples.comparison, c, 'comparison samples');
    close(shown.cpuSeconds.baseline, (b * 2) / HZ, 'baseline CPU');
    close(shown.cpuSeconds.comparison, c / HZ, 'comparison CPU');
    close(shown.annualCostUsd.baseline, annualCoreHours(b, 30) * PRICE, 'baseline cost');
    close(shown.annualCostUsd.comparison, annualCoreHours(c, 60) * PRICE, 'comparison cost');
    close(shown.annualCo2Tons.baseline, annualCoreHours(b, 30) * co2PerCoreHour, 'baseline CO2');
    close(shown.annualCo2Tons.comparison, annualCoreHours(c, 60) * co2PerCoreHour, 'comparison CO2');
    const byTime = (c - 2 * b) / (2 * b);
    close(Number(await page.getAttribute('#diff-summary', 'data-change')), byTime, 'change by time');
    assert.equal(
      await page.getAttribute('#diff-summary', 'data-performance'),
      byTime < 0 ? 'gained' : 'lost',
    );
    assert.match(
      (await page.textContent('#diff-verdict'))!,
      new RegExp(
        `${byTime < 0 ? 'Gained' : 'Lost'} overall performance by ${Math.abs(byTime * 100).toFixed(2)}%`,
      ),
    );
    await page.screenshot({ path: join(ARTIFACTS, 'diff-summary-time.png') });

    // By scale factors the user sets: kept in the URL.
    await page.check('#normalize-form input[value="scale"]');
    await page.fill('#normalize-form input[name="baselineScale"]', '3');
    await page.fill('#normalize-form input[name="comparisonScale"]', '0.5');
    let previous = (await page.getAttribute('#diff-summary', 'data-change'))!;
    await page.click('#normalize-form button[type="submit"]');
    await renderedAgain(previous);
    assert.match(page.url(), /baselineScale=3&comparisonScale=0\.5/);
    shown = await figures();
    close(shown.samples.baseline, b * 3, 'scaled baseline samples');
    close(shown.samples.comparison, c * 0.5, 'scaled comparison samples');
    close(shown.cpuSeconds.comparison, (c * 0.5) / HZ, 'scaled comparison CPU');
    close(shown.annualCostUsd.baseline, annualCoreHours(b, 30) * PRICE * 3, 'scaled baseline cost');
    close(
      shown.annualCo2Tons.comparison,
      annualCoreHours(c, 60) * co2PerCoreHour * 0.5,
      'scaled comparison CO2',
    );
    const byScale = (c * 0.5 - b * 3) / (b * 3);
    close(Number(await page.getAttribute('#diff-summary', 'data-change')), byScale, 'change by scale');
    await assertFitsViewport(page);
    await page.screenshot({ path: join(ARTIFACTS, 'diff-summary-scale.png') });

    // A shared URL opens with the same normalisation; switching back to time applies at once.
    await page.reload();
    await page.waitForSelector('#page[data-ready="true"]');
    assert.equal(await page.isChecked('#normalize-form input[value="scale"]'), true);
    previous = (await page.getAttribute('#diff-summary', 'data-change'))!;
    await page.check('#normalize-form input[value="time"]');
    await renderedAgain(previous);
    close(Number(await page.getAttribute('#diff-summary', 'data-change')), byTime, 'back to time');
  });
});
