/**
 * Callers/callees (sandwich) and flamegraph actions in headless Chromium, over the real embedded store with
 * the wide profile (100,000+ nodes). Expected numbers are computed here from the profile's own stacks and
 * events (function names per frame, summed per path), not by the query code.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import type { CompactFlamegraph, SandwichResponse, TopNResponse } from '../../src/query/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { HOT_FUNCTION, wideProfile, type WideProfile } from '../query/wide-fixture.ts';
import {
  ARTIFACTS,
  buildUiInto,
  chromiumSkip,
  launchChromium,
  openView,
  serveUi,
} from '../support/browser.ts';
import { bearer } from '../support/reader-auth.ts';

/** Root-first function names of every event's stack, with its count: the reference the tests sum over. */
function samplesOf(wide: WideProfile): { path: string[]; count: number }[] {
  const nameOf = new Map(wide.batch.stackFrames.map((f) => [f.frameId, f.functionNames[0]]));
  const paths = new Map(
    wide.batch.stackTraces.map((s) => [s.id, s.frameIds.map((id) => nameOf.get(id)!).reverse()]),
  );
  return wide.batch.events.map((e) => ({ path: paths.get(e.stackTraceId)!, count: e.count }));
}

function sumBy(
  samples: { path: string[]; count: number }[],
  keyOf: (path: string[]) => string | undefined,
): Map<string, number> {
  const sums = new Map<string, number>();
  for (const { path, count } of samples) {
    const key = keyOf(path);
    if (key !== undefined) sums.set(key, (sums.get(key) ?? 0) + count);
  }
  return sums;
}

/** Children of the root of a compact graph: label → total. */
function rootChildren(graph: CompactFlamegraph): Map<string, number> {
  const out = new Map<string, number>();
  graph.nodes.parent.forEach((p, i) => {
    if (p === 0) out.set(graph.frames.label[graph.nodes.frame[i]], graph.nodes.total[i]);
  });
  return out;
}

/** Grandchildren under the root's only child (the sandwich's function): label → total. */
function secondLevel(graph: CompactFlamegraph): Map<string, number> {
  const out = new Map<string, number>();
  graph.nodes.parent.forEach((p, i) => {
    if (p > 0 && graph.nodes.parent[p] === 0)
      out.set(graph.frames.label[graph.nodes.frame[i]], graph.nodes.total[i]);
  });
  return out;
}

describe('callers/callees and flamegraph actions in headless chromium', { skip: chromiumSkip() }, () => {
  let store: EmbeddedStore;
  let app: FastifyInstance;
  let browser: Browser;
  let page: Page;
  let base: string;
  let uiDir: string;
  let wide: WideProfile;
  let samples: { path: string[]; count: number }[];
  let hotKey: string;

  before(async () => {
    uiDir = buildUiInto();
    wide = wideProfile({ stacks: 30_000, depth: 12, branching: 8 });
    samples = samplesOf(wide);
    store = new EmbeddedStore({ path: ':memory:', seed: 3 });
    await store.open();
    await store.write(wide.batch);
    ({ app, base } = await serveUi(store, uiDir, { query: { now: () => wide.to } }));
    browser = await launchChromium();
    // A read token on every request: the login flow is ui.test.ts's subject.
    const context = await browser.newContext({
      viewport: { width: 1280, height: 720 },
      extraHTTPHeaders: bearer(),
    });
    page = await context.newPage();
    const top = await api<TopNResponse>(`/api/topn/functions?${range()}&limit=1000`);
    hotKey = top.topn.find((f) => f.label === HOT_FUNCTION)!.id;
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await store?.close();
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
  });

  const range = () => `from=${wide.from}&to=${wide.to}&samplingLevel=0`;

  async function api<T>(path: string, status = 200): Promise<T> {
    const response = await fetch(`${base}${path}`, { headers: bearer() });
    const body = (await response.json()) as T;
    assert.equal(response.status, status, JSON.stringify(body));
    return body;
  }

  async function canvasData(selector = 'canvas.flamegraph'): Promise<Record<string, string>> {
    return page.$eval(
      selector,
      (canvas) => ({ ...(canvas as HTMLCanvasElement).dataset }) as Record<string, string>,
    );
  }

  /** The page fits the 1280×720 viewport's width (no sideways scrolling). */
  async function fitsWidth(): Promise<void> {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 1280, `page is ${width} px wide`);
  }

  it('serves the sandwich of a function over the API, 400 without a frame and 404 for an unknown one', async () => {
    const missing = await api<{ message: string }>(`/api/sandwich?${range()}`, 400);
    assert.match(missing.message, /frame/);
    const unknown = await api<{ message: string }>(`/api/sandwich?${range()}&frame=nope`, 404);
    assert.match(unknown.message, /frame "nope" has no samples/);
    const view = await api<SandwichResponse>(`/api/sandwich?${range()}&frame=${encodeURIComponent(hotKey)}`);
    assert.equal(view.total, wide.hotCount);
    assert.equal(view.callers.nodes.total[0], wide.hotCount);
    assert.equal(view.callees.nodes.total[0], wide.hotCount);
    // hot_function sits at depth 3: its callers are the depth-2 functions, its callees the depth-4 ones.
    const through = samples.filter((s) => s.path[3] === HOT_FUNCTION);
    assert.deepEqual(
      secondLevel(view.callers),
      sumBy(through, (path) => path[2]),
    );
    assert.deepEqual(
      secondLevel(view.callees),
      sumBy(through, (path) => path[4]),
    );
  });

  it('applies focus, hide, collapse and invert in /api/flamegraph with exact counts', async (t) => {
    const key = encodeURIComponent(hotKey);
    const timed = async (query: string) => {
      const started = performance.now();
      const graph = await api<CompactFlamegraph>(`/api/flamegraph?${range()}${query}`);
      return { graph, ms: performance.now() - started };
    };
    const plain = await timed('');
    const focused = await timed(`&focus=${key}`);
    assert.equal(focused.graph.nodes.total[0], wide.hotCount);
    assert.deepEqual(rootChildren(focused.graph), new Map([[HOT_FUNCTION, wide.hotCount]]));
    const inverted = await timed('&invert=1');
    assert.equal(inverted.graph.nodes.total[0], wide.totalCount);
    assert.deepEqual(
      rootChildren(inverted.graph),
      sumBy(samples, (path) => path[path.length - 1]),
    );
    const hidden = await timed(`&hide=${key}`);
    assert.equal(hidden.graph.nodes.total[0], wide.totalCount);
    assert.ok(!hidden.graph.frames.label.includes(HOT_FUNCTION));
    // Its callees attach to its callers: depth-4 functions right under depth-2 ones hold exactly its samples.
    let reattached = 0;
    hidden.graph.nodes.frame.forEach((f, i) => {
      const parent = hidden.graph.nodes.parent[i];
      const label = f >= 0 ? hidden.graph.frames.label[f] : '';
      const parentFrame = parent > 0 ? hidden.graph.nodes.frame[parent] : -1;
      if (
        label.startsWith('fn_d4_') &&
        parentFrame >= 0 &&
        hidden.graph.frames.label[parentFrame].startsWith('fn_d2_')
      )
        reattached += hidden.graph.nodes.total[i];
    });
    assert.equal(reattached, wide.hotCount);
    const collapsed = await timed(`&collapse=${key}`);
    assert.equal(collapsed.graph.nodes.total[0], wide.totalCount);
    let hotSelf = 0;
    collapsed.graph.nodes.frame.forEach((f, i) => {
      if (f >= 0 && collapsed.graph.frames.label[f] === HOT_FUNCTION) {
        hotSelf += collapsed.graph.nodes.self[i];
        assert.equal(collapsed.graph.nodes.self[i], collapsed.graph.nodes.total[i]);
      }
    });
    assert.equal(hotSelf, wide.hotCount);
    const focusMissing = await api<{ message: string }>(`/api/flamegraph?${range()}&focus=nope`, 404);
    assert.match(focusMissing.message, /has no samples/);
    t.diagnostic(
      `/api/flamegraph at ${plain.graph.size} nodes: plain ${plain.ms.toFixed(0)} ms, focus ${focused.ms.toFixed(0)} ms, invert ${inverted.ms.toFixed(0)} ms (${inverted.graph.size} nodes), hide ${hidden.ms.toFixed(0)} ms, collapse ${collapsed.ms.toFixed(0)} ms`,
    );
  });

  it('links top functions to the sandwich page, which draws both trees rooted at the function', async () => {
    await openView(page, base, `topn?${range()}&limit=100`);
    await fitsWidth();
    await page.screenshot({ path: `${ARTIFACTS}/topn-callers-callees-links.png` });
    const link = page.locator('#topn-table tr', { hasText: HOT_FUNCTION }).locator('a.sandwich-link');
    await link.click();
    await page.waitForURL(/#\/sandwich\?.*frame=/);
    await page.waitForSelector('#page[data-ready="true"]');
    assert.equal(await page.textContent('#sandwich-function'), HOT_FUNCTION);
    assert.equal(Number(await page.getAttribute('#sandwich-total', 'data-count')), wide.hotCount);
    const callers = await canvasData('#callers canvas.flamegraph');
    const callees = await canvasData('#callees canvas.flamegraph');
    assert.equal(Number(callers.rootTotal), wide.hotCount);
    assert.equal(Number(callees.rootTotal), wide.hotCount);
    await fitsWidth();
    // Both trees start within the first screen at 1280×720.
    for (const id of ['#callers canvas', '#callees canvas']) {
      const box = (await page.locator(id).boundingBox())!;
      assert.ok(box.y < 720 && box.width > 1000, `${id} at ${JSON.stringify(box)}`);
    }
    await page.screenshot({ path: `${ARTIFACTS}/sandwich.png` });
  });

  it('searches both trees at once and offers a clicked caller as the next function', async (t) => {
    const term = 'fn_d2_c1';
    const took = await page.evaluate((text) => {
      const input = document.querySelector<HTMLInputElement>('#search')!;
      const started = performance.now();
      input.value = text;
      input.dispatchEvent(new Event('input'));
      return performance.now() - started;
    }, term);
    const through = samples.filter((s) => s.path[3] === HOT_FUNCTION);
    const expected = sumBy(through, (path) => (path[2] === term ? term : undefined)).get(term)!;
    assert.equal(Number((await canvasData('#callers canvas.flamegraph')).searchMatches), expected);
    assert.equal(Number((await canvasData('#callees canvas.flamegraph')).searchMatches), 0);
    assert.ok(took < 100, `search took ${took.toFixed(1)} ms`);
    t.diagnostic(`search of both trees: ${took.toFixed(1)} ms`);
    // Row 1 of the callers tree is hot_function, row 2 its callers: click one, then open its sandwich.
    const box = (await page.locator('#callers canvas').boundingBox())!;
    await page.mouse.click(box.x + 3, box.y + 18 * 2 + 9);
    const recenter = page.locator('#callers .selected-frame a.recenter');
    await recenter.waitFor();
    const caller = (await page.textContent('#callers .selected-frame'))!.split(':')[0].trim();
    assert.match(caller, /^fn_d2_c\d$/);
    await recenter.click();
    await page.waitForFunction(
      (name) => document.querySelector('#sandwich-function')?.textContent === name,
      caller,
    );
    await page.waitForSelector('#page[data-ready="true"]');
    const expectedTotal = samples.filter((s) => s.path[2] === caller).reduce((sum, s) => sum + s.count, 0);
    assert.equal(Number((await canvasData('#callees canvas.flamegraph')).rootTotal), expectedTotal);
  });

  it('shows a how-to and a function picker when no function is chosen', async () => {
    await openView(page, base, `sandwich?${range()}`);
    assert.match((await page.textContent('.sandwich-howto'))!, /Callers and callees/);
    await page.fill('#sandwich-pick', 'hot_');
    const rows = page.locator('#sandwich-functions tbody tr');
    assert.equal(await rows.count(), 1);
    await fitsWidth();
    await page.screenshot({ path: `${ARTIFACTS}/sandwich-picker.png` });
    await rows.locator('a').click();
    await page.waitForFunction(
      () => document.querySelector('#sandwich-function')?.textContent === 'hot_function',
    );
  });

  it('drives the flamegraph actions: the frame panel buttons, the chips and the invert toggle', async (t) => {
    await openView(page, base, `flamegraph?${range()}`);
    assert.equal(Number((await canvasData()).rootTotal), wide.totalCount);
    // Clicking a frame (client-side zoom) opens its panel with the action buttons: timed in the page, 100k+ nodes.
    const clickMs = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('canvas.flamegraph')!;
      const rect = canvas.getBoundingClientRect();
      const at = { clientX: rect.x + 4, clientY: rect.y + 18 * 4 + 9, button: 0, bubbles: true };
      const started = performance.now();
      canvas.dispatchEvent(new MouseEvent('mousedown', at));
      canvas.dispatchEvent(new MouseEvent('mouseup', at));
      const shown = !document.querySelector<HTMLElement>('#frame-details')!.hidden;
      return shown ? performance.now() - started : -1;
    });
    assert.ok(clickMs >= 0, 'no frame panel after the click');
    assert.ok(clickMs < 100, `zoom + frame panel took ${clickMs.toFixed(1)} ms`);
    t.diagnostic(
      `click (zoom + frame panel) on ${(await canvasData()).nodes} nodes: ${clickMs.toFixed(1)} ms`,
    );
    const label = (await page.textContent('#fd-function'))!.trim();
    assert.match(label, /^fn_d3_c\d$|^hot_function$/);

    await page.click('#fd-hide');
    await page.waitForSelector('#page[data-ready="true"] .chip[data-action="hide"]');
    assert.equal(Number((await canvasData()).rootTotal), wide.totalCount);
    assert.equal((await page.textContent('.chip[data-action="hide"] strong'))?.trim(), label);
    const exported = await page.$eval('#export-json', (a) => (a as HTMLAnchorElement).href);
    const graph = (await page.evaluate(
      async (url) => (await fetch(url)).json(),
      exported,
    )) as CompactFlamegraph;
    assert.ok(!graph.frames.label.includes(label), 'the JSON export has the hidden frame removed too');
    assert.match(await page.$eval('#pprof', (a) => (a as HTMLAnchorElement).href), /hide=/);

    await page.click('#invert-toggle');
    await page.waitForFunction(
      () => document.querySelector('#invert-toggle')?.getAttribute('aria-pressed') === 'true',
    );
    await page.waitForSelector('#page[data-ready="true"]');
    assert.match(page.url(), /invert=1/);
    assert.equal(Number((await canvasData()).rootTotal), wide.totalCount);
    await fitsWidth();
    await page.screenshot({ path: `${ARTIFACTS}/flamegraph-actions.png` });

    await page.click('.chip[data-action="hide"] .chip-remove');
    await page.waitForFunction(() => !document.querySelector('.chip[data-action="hide"]'));
    await page.click('#invert-toggle');
    await page.waitForFunction(
      () => document.querySelector('#invert-toggle')?.getAttribute('aria-pressed') === 'false',
    );
    assert.doesNotMatch(page.url(), /invert=|hide=/);
  });

  it('focuses the flamegraph on a function from the URL, with a removable chip', async () => {
    await openView(page, base, `flamegraph?${range()}&focus=${encodeURIComponent(hotKey)}`);
    assert.equal(Number((await canvasData()).rootTotal), wide.hotCount);
    assert.equal((await page.textContent('.chip[data-action="focus"] strong'))?.trim(), HOT_FUNCTION);
    await page.screenshot({ path: `${ARTIFACTS}/flamegraph-focus.png` });
    await page.click('.chip[data-action="focus"] .chip-remove');
    await page.waitForFunction(
      (total) => document.querySelector<HTMLCanvasElement>('canvas.flamegraph')?.dataset.rootTotal === total,
      String(wide.totalCount),
    );
    // A focus on a function outside the range is dropped rather than left as an error.
    await page.goto(`${base}/ui/#/flamegraph?${range()}&focus=nope`);
    await page.waitForFunction(() => !location.hash.includes('focus='));
    await page.waitForSelector('#page[data-ready="true"] canvas.flamegraph');
  });
});
