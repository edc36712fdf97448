/**
 * The storage explorer page (#/storage) in headless Chromium, over a real embedded store fed by the
 * load generator through the collector's translation: every figure on the page equals the API's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import type { StorageResponse } from '../../src/api/storage.ts';
import { ProfileTranslator } from '../../src/collector/translate.ts';
import { Workload } from '../../src/loadgen/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { formatCount } from '../../src/ui/format.ts';
import { bytes } from '../../src/ui/pages/status.ts';
import {
  ARTIFACTS,
  buildUiInto,
  chromiumSkip,
  launchChromium,
  openView,
  serveUi,
} from '../support/browser.ts';
import { bearer } from '../support/reader-auth.ts';

const DAY = 86_400;
const NOW = Math.floor(Date.now() / 1000);
const RETENTION = { days: 30, enforcedBy: "the embedded store's retention job, every 60 minutes" };

function exact(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

describe('storage explorer in headless chromium', { skip: chromiumSkip() }, () => {
  let dir: string;
  let uiDir: string;
  let store: EmbeddedStore;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let page: Page;
  let api: StorageResponse;

  before(async () => {
    uiDir = buildUiInto();
    dir = mkdtempSync(join(tmpdir(), 'uniprof-storage-ui-'));
    store = new EmbeddedStore({ path: join(dir, 'store.duckdb'), seed: 5 });
    await store.open();
    // Four hosts over five days, at 19 Hz and 20 Hz, through the collector's own translation.
    const translator = new ProfileTranslator();
    for (const [seed, hz] of [
      [11, 19],
      [12, 20],
    ]) {
      const workload = new Workload({ seed, hosts: 2, stacksPerRuntime: 100, samplesPerSecond: hz });
      for (let day = 0; day < 5; day++) {
        for (let i = 0; i < 4; i++) {
          const end = BigInt(NOW - day * DAY - i * 600) * 1_000_000_000n;
          const { batch, commit } = translator.translate(workload.next(end, 120).request, { now: NOW });
          await store.write(batch);
          commit();
        }
      }
    }
    // Reopened: closing checkpoints the data from the write-ahead log into the file's blocks, which the
    // page's per-table sizes count.
    await store.close();
    store = new EmbeddedStore({ path: join(dir, 'store.duckdb'), seed: 5 });
    await store.open();
    ({ app, base } = await serveUi(store, uiDir, { query: { now: () => NOW, retention: RETENTION } }));
    const response = await fetch(`${base}/api/storage`, { headers: bearer() });
    assert.equal(response.status, 200);
    api = (await response.json()) as StorageResponse;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 720 }, extraHTTPHeaders: bearer() });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
  });

  const text = async (selector: string) => (await page.textContent(selector))?.trim();

  it('the API reports the data written: four hosts, five days, two sampling frequencies', () => {
    assert.equal(api.hosts.length, 4);
    assert.equal(api.days.length >= 5, true, `${api.days.length} days`);
    assert.deepEqual(
      api.samplingFrequencies.map((f) => [f.hz, f.hosts]),
      [
        [19, 2],
        [20, 2],
      ],
    );
    assert.deepEqual(api.retention, RETENTION);
  });

  it('shows the same figures as the API, usable at 1280×720', async () => {
    await openView(page, base, 'status');
    await page.click('#storage-link');
    await page.waitForURL(/#\/storage/);
    await page.waitForSelector('#page[data-ready="true"][data-page="storage"]');
    assert.equal(await page.$('#page .error'), null);

    assert.equal(await text('#storage-retention'), '30 days');
    assert.equal(await text('#storage-retention-by'), RETENTION.enforcedBy);
    assert.equal(await text('#storage-host-count'), '4');
    assert.equal(await text('#storage-events'), exact(api.days.reduce((s, d) => s + d.events, 0)));
    assert.equal(await text('#storage-samples'), exact(api.days.reduce((s, d) => s + d.samples, 0)));
    assert.ok(api.areas.find((a) => a.name === 'events_all')!.bytes! > 0);
    for (const area of api.areas) {
      assert.equal(await text(`tr[data-area="${area.name}"] td.rows`), exact(area.rows), area.name);
    }
    const totalSamples = api.hosts.reduce((s, h) => s + h.samples, 0);
    for (const host of api.hosts) {
      const row = `tr[data-host="${host.hostId}"]`;
      assert.equal(await text(`${row} td.events`), exact(host.events));
      assert.equal(await text(`${row} .samples`), exact(host.samples));
      const share = (host.samples / totalSamples) * 100;
      assert.equal(await text(`${row} td.share`), `${share >= 10 ? share.toFixed(1) : share.toFixed(2)}%`);
      assert.equal(
        await text(`${row} td.last-seen`),
        new Date(host.lastSeen * 1000).toISOString().replace('.000Z', 'Z'),
      );
    }
    for (const day of api.days) {
      assert.equal(await text(`tr[data-day="${day.day}"] td.events`), exact(day.events));
      assert.equal(await text(`tr[data-day="${day.day}"] .samples`), exact(day.samples));
      assert.ok(day.estimatedBytes! > 0);
      assert.equal(await text(`tr[data-day="${day.day}"] td.size`), bytes(day.estimatedBytes));
    }
    for (const level of api.samplingLevels) {
      assert.equal(await text(`tr[data-level="${level.level}"] td.events`), exact(level.events));
    }
    for (const frequency of api.samplingFrequencies) {
      assert.equal(await text(`tr[data-hz="${frequency.hz}"] td.hosts`), exact(frequency.hosts));
    }
    assert.ok(api.symbolization.available, 'the embedded store reports its backlog');
    if (api.symbolization.available) {
      // The backlog is the status page's own panel, with its rounded counts.
      assert.equal(await text('#backlog-pending-frames'), formatCount(api.symbolization.pendingFrames));
      assert.ok(api.symbolization.pendingFrames > 0, 'native frames wait for symbols');
    }

    // 1280×720: nothing wider than the window, the first table in view without scrolling sideways.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 1280, `the page is ${width} px wide`);
    const areas = await page.$eval(
      '#storage-areas',
      (table) => table.getBoundingClientRect().toJSON() as DOMRect,
    );
    assert.ok(areas.left >= 0 && areas.right <= 1280, `the tables table spans ${areas.left}..${areas.right}`);
    assert.ok(areas.top < 720, 'the first table starts within the first screen');
    await page.screenshot({ path: `${ARTIFACTS}/storage.png` });
    await page.screenshot({ path: `${ARTIFACTS}/storage-full.png`, fullPage: true });
  });
});
