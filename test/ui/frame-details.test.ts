/**
 * The frame details panel (flamegraph, top functions, stack traces) and keyboard navigation in the
 * flamegraph, in headless Chromium against the real embedded store: the wide profile (100,000+ nodes) for
 * navigation and speed, the query fixture for native frames with and without symbols.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { symbolUploadTarget } from '../../src/api/index.ts';
import { loadConfig } from '../../src/config/config.ts';
import { FrameType } from '../../src/model/index.ts';
import type { CompactFlamegraph } from '../../src/query/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { frameFacts, functionCounts, nodeByPath } from '../../src/ui/frame-facts.ts';
import { LABELS, LIBZ_BUILD_ID, NATIVE_RANGE, STACKS, EVENTS, writeFixture } from '../query/fixture.ts';
import { HOT_FUNCTION, wideProfile, type WideProfile } from '../query/wide-fixture.ts';
import {
  ARTIFACTS,
  buildUiInto,
  chromiumSkip,
  launchChromium,
  openView,
  serveUi,
  type UiServer,
} from '../support/browser.ts';
import { bearer } from '../support/reader-auth.ts';

const UPLOAD = symbolUploadTarget(loadConfig({ overrides: ['dataDir=/srv/uniprof'] }));
const LIBZ_COMMAND = `uniprof symbtool push-symbols -u http://127.0.0.1:4319 -t "$(cat /srv/uniprof/symbol-upload-token)" -e /path/to/libz.so.1`;
const ROW = 18;

/** Samples of the fixture's events in the native range whose stack is one of `ids`. */
function nativeCount(...ids: string[]): number {
  return EVENTS.filter(
    (e) => e.timestamp >= NATIVE_RANGE.from && e.timestamp < NATIVE_RANGE.to && ids.includes(e.stackTraceId),
  ).reduce((sum, e) => sum + e.count, 0);
}

/** A node reached by labels from the root, or -1. */
function nodeByLabels(graph: CompactFlamegraph, path: string[]): number {
  let node = 0;
  for (const label of path) {
    node = graph.nodes.parent.findIndex(
      (p, i) => p === node && graph.frames.label[graph.nodes.frame[i]] === label,
    );
    if (node < 0) return -1;
  }
  return node;
}

/** A hand-made graph with recursion: all → a → b → a → c, and all → a (self). */
function recursiveGraph(): CompactFlamegraph {
  const labels = ['a', 'b', 'c'];
  const column = <T>(value: T) => labels.map(() => value);
  return {
    sampling: { samplingLevel: 0, scale: 1, eventsRead: 3, samplingRate: 1 } as CompactFlamegraph['sampling'],
    totalCount: 10,
    size: 5,
    impactPerSample: { cpuSeconds: 0.05, annualCoreHours: 1, annualCo2Tons: 0.001, annualCostUsd: 0.5 },
    frames: {
      key: ['ka', 'kb', 'kc'],
      label: labels,
      functionName: labels,
      frameType: column<number>(FrameType.Native),
      inline: column(false),
      sourceFile: column(''),
      sourceLine: column(0),
      executable: column('x'),
      buildId: column(''),
      fileId: column('f'),
      addressOrLine: column(0),
      symbolized: column(true),
      missingSymbols: column(-1),
    },
    missingSymbols: [],
    // 0 all(10) → 1 a(10, self 4) → 2 b(6, self 1) → 3 a(5, self 2) → 4 c(3, self 3)
    nodes: {
      parent: [-1, 0, 1, 2, 3],
      frame: [-1, 0, 1, 0, 2],
      total: [10, 10, 6, 5, 3],
      self: [0, 4, 1, 2, 3],
    },
    missingStackTraces: 0,
  };
}

describe('frame figures', () => {
  it('counts a recursive function once per stack in its total, and every self sample', () => {
    const graph = recursiveGraph();
    assert.deepEqual(functionCounts(graph, 0), { self: 6, total: 10 });
    assert.deepEqual(functionCounts(graph, 1), { self: 1, total: 6 });
    const facts = frameFacts(graph, 3);
    assert.deepEqual(facts.nodeCounts, { self: 2, total: 5 });
    assert.deepEqual(facts.callPath, ['a', 'b', 'a']);
    assert.equal(nodeByPath(graph, ['ka', 'kb', 'ka', 'kc']), 4);
    assert.equal(nodeByPath(graph, ['ka', 'kc']), -1);
  });
});

describe('frame details and keyboard navigation in headless chromium', { skip: chromiumSkip() }, () => {
  let uiDir: string;
  let wide: WideProfile;
  let wideStore: EmbeddedStore;
  let wideApp: FastifyInstance;
  let wideBase: string;
  let nativeStore: EmbeddedStore;
  let nativeApp: FastifyInstance;
  let nativeBase: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let wideGraph: CompactFlamegraph;
  let nativeGraph: CompactFlamegraph;

  const wideRange = () => `from=${wide.from}&to=${wide.to}&samplingLevel=0`;
  const nativeRange = `from=${NATIVE_RANGE.from}&to=${NATIVE_RANGE.to}&samplingLevel=0`;

  async function serve(store: EmbeddedStore, now: number): Promise<UiServer> {
    return serveUi(store, uiDir, { query: { now: () => now, symbolUpload: UPLOAD } });
  }

  async function flamegraph(base: string, query: string): Promise<CompactFlamegraph> {
    const response = await fetch(`${base}/api/flamegraph?${query}`, { headers: bearer() });
    assert.equal(response.status, 200);
    return (await response.json()) as CompactFlamegraph;
  }

  before(async () => {
    uiDir = buildUiInto();
    wide = wideProfile({ stacks: 30_000, depth: 12, branching: 8 });
    wideStore = new EmbeddedStore({ path: ':memory:', seed: 3 });
    await wideStore.open();
    await wideStore.write(wide.batch);
    ({ app: wideApp, base: wideBase } = await serve(wideStore, wide.to));
    nativeStore = new EmbeddedStore({ path: ':memory:', seed: 7 });
    await nativeStore.open();
    await writeFixture(nativeStore);
    ({ app: nativeApp, base: nativeBase } = await serve(nativeStore, NATIVE_RANGE.to));
    wideGraph = await flamegraph(wideBase, wideRange());
    nativeGraph = await flamegraph(nativeBase, nativeRange);
    browser = await launchChromium();
    // The smallest screen the UI promises to work on; the read token stands in for a login.
    context = await browser.newContext({
      viewport: { width: 1280, height: 720 },
      extraHTTPHeaders: bearer(),
      permissions: ['clipboard-read', 'clipboard-write'],
    });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await wideApp?.close();
    await wideStore?.close();
    await nativeApp?.close();
    await nativeStore?.close();
    if (uiDir) rmSync(uiDir, { recursive: true, force: true });
  });

  /** The centre of a node on the canvas, from the graph's layout (as the view lays it out). */
  async function pointAt(graph: CompactFlamegraph, node: number): Promise<[number, number]> {
    const { parent, total } = graph.nodes;
    const x0 = new Float64Array(graph.size);
    const cursor = new Float64Array(graph.size);
    const depth = new Int32Array(graph.size);
    for (let i = 1; i < graph.size; i++) {
      x0[i] = cursor[parent[i]];
      cursor[parent[i]] += total[i];
      cursor[i] = x0[i];
      depth[i] = depth[parent[i]] + 1;
    }
    const rect = (await page.locator('canvas.flamegraph').boundingBox())!;
    const middle = (x0[node] + total[node] / 2) / total[0];
    return [rect.x + middle * rect.width, rect.y + depth[node] * ROW + ROW / 2];
  }

  const text = async (selector: string) =>
    ((await page.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();
  const value = async (selector: string) => Number(await page.getAttribute(selector, 'data-value'));
  const inlineChain = () => page.$$eval('#fd-inline li', (items) => items.map((li) => li.textContent));
  const hash = () => page.evaluate(() => decodeURIComponent(location.hash));

  /** The panel lies inside the 1280×720 viewport, nothing scrolls sideways, and the graph is not under it. */
  async function assertPanelFits(): Promise<void> {
    const panel = (await page.locator('#frame-details').boundingBox())!;
    assert.ok(panel.x >= 0 && panel.y >= 0, JSON.stringify(panel));
    assert.ok(panel.x + panel.width <= 1280 && panel.y + panel.height <= 720, JSON.stringify(panel));
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scroll <= 1280, `the page scrolls sideways: ${scroll} px wide`);
    const canvas = await (await page.$('canvas.flamegraph'))?.boundingBox();
    if (canvas) assert.ok(canvas.x + canvas.width <= panel.x + 1, 'the panel covers the graph');
  }

  it('opens the details of a clicked native frame without symbols: figures, why, and the command with a copy button', async () => {
    await openView(page, nativeBase, `flamegraph?${nativeRange}`);
    const { main, compress, libz } = LABELS;
    const node = nodeByLabels(nativeGraph, [main, compress, libz]);
    assert.ok(node > 0);
    await page.mouse.click(...(await pointAt(nativeGraph, node)));
    await page.waitForSelector('#frame-details:not([hidden])');
    // The click still zooms.
    assert.equal(await page.getAttribute('canvas.flamegraph', 'data-focus'), String(node));
    assert.equal(await text('#fd-title'), libz);
    assert.equal(await text('#fd-executable'), 'libz.so.1');
    assert.equal(await text('#fd-build-id'), LIBZ_BUILD_ID);
    assert.equal(await text('#fd-type'), 'Native');
    assert.equal(await text('#fd-address'), '0x7000');
    assert.equal(await page.$('#fd-function'), null, 'no function name before symbols');
    assert.match(
      await text('#fd-missing-reason'),
      /No symbols were uploaded for libz\.so\.1.*debuginfod.*build ID/,
    );
    assert.equal(await text('#fd-command'), LIBZ_COMMAND);
    // s7 (main → compress_block → libz) is the only stack through the frame, all self.
    const total = nativeCount(STACKS.s6.id, STACKS.s7.id, STACKS.s8.id, STACKS.s9.id, STACKS.s10.id);
    assert.equal(await value('#fd-node-self'), nativeCount(STACKS.s7.id));
    assert.equal(await value('#fd-node-total'), nativeCount(STACKS.s7.id));
    assert.equal(await value('#fd-node-total-share'), nativeCount(STACKS.s7.id) / total);
    assert.equal(await value('#fd-fn-total'), nativeCount(STACKS.s7.id));
    const perSample = nativeGraph.impactPerSample;
    assert.equal(await value('#fd-node-total-cpu'), nativeGraph.nodes.total[node] * perSample.cpuSeconds);
    assert.equal(await value('#fd-node-total-co2'), nativeGraph.nodes.total[node] * perSample.annualCo2Tons);
    assert.equal(await value('#fd-node-total-cost'), nativeGraph.nodes.total[node] * perSample.annualCostUsd);
    await page.click('#fd-copy');
    await page.waitForFunction(() => document.querySelector('#fd-copied')?.textContent === 'Copied');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), LIBZ_COMMAND);
    await assertPanelFits();
    await page.screenshot({ path: `${ARTIFACTS}/frame-details-missing-symbols.png` });
    await page.click('#fd-close');
    assert.equal(await page.isHidden('#frame-details'), true);
  });

  it('says why a frame of an executable the store has no record of has no symbols', async () => {
    const { main, compress, copyWords, load8, unknownFile } = LABELS;
    const node = nodeByLabels(nativeGraph, [main, compress, copyWords, load8, unknownFile]);
    await page.click('#reset');
    await page.mouse.click(...(await pointAt(nativeGraph, node)));
    await page.waitForSelector('#frame-details:not([hidden])');
    assert.match(await text('#fd-missing-reason'), /no record of this executable/);
    assert.match(await text('#fd-command'), /-e <path to the executable>$/);
    assert.equal(await page.$('#fd-build-id'), null);
    assert.equal(await page.$('#fd-inline'), null, 'a called frame has no inline chain');
    await page.keyboard.press('Escape');
    assert.equal(await page.isHidden('#frame-details'), true);
  });

  it('opens a function row of Top functions: the function across the profile, with its inline chain', async () => {
    await openView(page, nativeBase, `topn?${nativeRange}`);
    await page.locator('#topn-table tbody tr', { hasText: LABELS.copyWords }).click();
    await page.waitForSelector('#frame-details:not([hidden])');
    assert.equal(await text('#fd-title'), LABELS.copyWords);
    assert.equal(await text('#fd-function'), 'copy_words');
    assert.match(await text('#fd-source'), /^copy\.h:\d+$/);
    assert.deepEqual(await inlineChain(), ['compress_block', 'copy_words']);
    assert.equal(await text('#fd-executable'), 'app');
    assert.equal(await page.$('#fd-missing'), null);
    // Stacks s6, s8 end in copy_words; s9 passes through it.
    assert.equal(await value('#fd-fn-self'), nativeCount(STACKS.s6.id, STACKS.s8.id));
    assert.equal(await value('#fd-fn-total'), nativeCount(STACKS.s6.id, STACKS.s8.id, STACKS.s9.id));
    const top = (await (
      await fetch(`${nativeBase}/api/topn/functions?${nativeRange}`, { headers: bearer() })
    ).json()) as { topn: { label: string; self_count: number; total_count: number }[] };
    const row = top.topn.find((f) => f.label === LABELS.copyWords)!;
    assert.equal(await value('#fd-fn-self'), row.self_count, 'the same figures as the table');
    assert.equal(await value('#fd-fn-total'), row.total_count);
    await assertPanelFits();
    await page.screenshot({ path: `${ARTIFACTS}/frame-details-topn.png` });
    await page.keyboard.press('Escape');
    assert.equal(await page.isHidden('#frame-details'), true);
  });

  it('opens a frame of a listed stack on that stack’s own path', async () => {
    await openView(page, nativeBase, `stacks?${nativeRange}&groupBy=host.name`);
    for (const summary of await page.$$('#groups details.group > summary')) await summary.click();
    const load8 = page.locator('#groups li', { hasText: LABELS.load8 }).first();
    await load8.click();
    await page.waitForSelector('#frame-details:not([hidden])');
    assert.equal(await text('#fd-title'), LABELS.load8);
    assert.deepEqual(await inlineChain(), ['compress_block', 'copy_words', 'load8']);
    assert.equal(await text('#fd-source'), 'bytes.h:3');
    const node = nodeByLabels(nativeGraph, [LABELS.main, LABELS.compress, LABELS.copyWords, LABELS.load8]);
    assert.equal(await page.getAttribute('#frame-details', 'data-node'), String(node));
    assert.equal(await value('#fd-node-total'), nativeCount(STACKS.s9.id));
    assert.equal(await value('#fd-node-self'), 0);
    await assertPanelFits();
    await page.screenshot({ path: `${ARTIFACTS}/frame-details-stacks.png` });
  });

  it('emits the frame actions as URL state', async () => {
    // Only host web-1's stacks: s6, s8 (copy_words inlined into compress_block) and s10.
    const filtered = await flamegraph(nativeBase, `${nativeRange}&filter=host%3Aweb-1`);
    const key = (label: string) => filtered.frames.key[filtered.frames.label.indexOf(label)];
    const open = async (path: string[]) => {
      await openView(page, nativeBase, `flamegraph?${nativeRange}&filter=host%3Aweb-1`);
      await page.mouse.click(...(await pointAt(filtered, nodeByLabels(filtered, path))));
      await page.waitForSelector('#frame-details:not([hidden])');
    };
    const { main, compress, copyWords } = LABELS;
    await open([main, compress]);
    await page.click('#fd-sandwich');
    await page.waitForFunction(() => location.hash.startsWith('#/sandwich'));
    const sandwich = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
    assert.deepEqual(Object.fromEntries(sandwich), {
      from: String(NATIVE_RANGE.from),
      to: String(NATIVE_RANGE.to),
      filter: 'host:web-1',
      samplingLevel: '0',
      frame: key(compress),
    });

    await open([main, compress]);
    await page.click('#fd-focus');
    await page.waitForFunction(() => location.hash.includes('focus='));
    assert.ok((await hash()).includes(`&focus=${key(compress)}`), await hash());
    await page.waitForSelector('#page[data-ready="true"]');
    assert.equal(await page.isHidden('#frame-details'), true, 'navigation closes the panel');

    await open([main, compress]);
    await page.click('#fd-hide');
    await page.waitForFunction(() => location.hash.includes('hide='));
    await page.waitForSelector('#page[data-ready="true"]');
    // compress_block is hidden now: copy_words, inlined into it, hangs under main.
    const withoutCompress = await flamegraph(
      nativeBase,
      `${nativeRange}&filter=host%3Aweb-1&hide=${encodeURIComponent(key(compress))}`,
    );
    await page.mouse.click(
      ...(await pointAt(withoutCompress, nodeByLabels(withoutCompress, [main, copyWords]))),
    );
    await page.waitForSelector('#frame-details:not([hidden])');
    await page.click('#fd-hide');
    await page.waitForFunction(() => location.hash.split('hide=').length === 3);
    // Repeated, not comma-separated: frame keys may contain commas (C++ templates).
    const hidden = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]).getAll(
      'hide',
    );
    assert.deepEqual(hidden, [key(compress), key(copyWords)]);

    await open([main, compress, copyWords]);
    await page.click('#fd-collapse');
    await page.waitForFunction(() => location.hash.includes('collapse='));
    const collapsed = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
    assert.equal(collapsed.get('collapse'), key(copyWords));
    assert.equal(collapsed.get('filter'), 'host:web-1', 'the rest of the view is kept');
  });

  /** A key press or a mouse button event at (x share of the canvas, y in pixels from its top). */
  type Step = { key: string } | { mouse: 'mousedown' | 'mouseup'; x: number; y: number };

  /** Dispatches the steps in the page and returns how long their handlers (drawing included) took. */
  function timed(steps: Step[]): Promise<number> {
    return page.evaluate((list) => {
      const canvas = document.querySelector<HTMLCanvasElement>('canvas.flamegraph')!;
      const box = canvas.getBoundingClientRect();
      const started = performance.now();
      for (const step of list) {
        if ('key' in step)
          canvas.dispatchEvent(
            new KeyboardEvent('keydown', { key: step.key, bubbles: true, cancelable: true }),
          );
        else
          canvas.dispatchEvent(
            new MouseEvent(step.mouse, {
              clientX: box.x + step.x * box.width,
              clientY: box.y + step.y,
              bubbles: true,
              button: 0,
            }),
          );
      }
      return performance.now() - started;
    }, steps);
  }

  it('navigates the 100,000+ node flamegraph with the keyboard, visibly and announced, each step under 100 ms', async (t) => {
    await openView(page, wideBase, `flamegraph?${wideRange()}`);
    assert.ok(wideGraph.size > 100_000, `${wideGraph.size} nodes`);
    const selected = async () => Number(await page.getAttribute('canvas.flamegraph', 'data-selected'));
    const label = (node: number) => wideGraph.frames.label[wideGraph.nodes.frame[node]];
    const { parent, total } = wideGraph.nodes;
    const children = (node: number) => parent.flatMap((p, i) => (p === node ? [i] : []));
    await page.focus('canvas.flamegraph');
    await page.keyboard.press('ArrowDown');
    assert.equal(await selected(), 0, 'the first key selects the root');
    await page.keyboard.press('ArrowDown');
    const first = children(0).reduce((a, b) => (total[b] > total[a] ? b : a));
    assert.equal(await selected(), first, 'down: the child with the most samples');
    await page.keyboard.press('ArrowDown');
    const second = children(first).reduce((a, b) => (total[b] > total[a] ? b : a));
    assert.equal(await selected(), second);
    assert.match(
      await text('#flamegraph-announcer'),
      new RegExp(`^${label(second)}: .* samples, .* of the total, depth 2$`),
    );
    await page.keyboard.press('ArrowRight');
    // Preorder lists each row left to right: the next node of depth 2 after `second` is its right neighbour.
    const sameDepth = parent.flatMap((p, i) => (p > 0 && parent[p] === 0 ? [i] : []));
    const right = sameDepth[sameDepth.indexOf(second) + 1];
    assert.equal(await selected(), right, 'right: the next frame on the row');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await selected(), second, 'left: back');
    await page.keyboard.press('ArrowUp');
    assert.equal(await selected(), first, 'up: the caller');
    await page.keyboard.press('ArrowDown');
    // The selection is drawn: the outline's colour sits on the selected frame's top edge.
    await page.screenshot({ path: `${ARTIFACTS}/flamegraph-keyboard-selection.png` });
    await page.keyboard.press('Enter');
    await page.waitForSelector('#frame-details:not([hidden])');
    assert.equal(await page.getAttribute('canvas.flamegraph', 'data-focus'), String(second), 'Enter zooms');
    assert.equal(await text('#fd-title'), label(second));
    assert.equal(await value('#fd-node-total'), total[second]);
    assert.equal(
      await page.evaluate(() => document.activeElement?.tagName),
      'CANVAS',
      'focus stays on the graph',
    );
    await assertPanelFits();
    await page.screenshot({ path: `${ARTIFACTS}/frame-details-keyboard.png` });
    await page.keyboard.press('Escape');
    assert.equal(await page.isHidden('#frame-details'), true, 'Escape closes the panel first');
    assert.equal(
      await page.getAttribute('canvas.flamegraph', 'data-focus'),
      String(second),
      '…and keeps the zoom',
    );
    await page.keyboard.press('Escape');
    assert.equal(await page.getAttribute('canvas.flamegraph', 'data-focus'), '0', 'then resets the zoom');
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'search');

    // The function across the profile: hot_function's total is the fixture's own count.
    const hot = wideGraph.frames.label.indexOf(HOT_FUNCTION);
    // Its widest node, so the click cannot miss it on a thin one.
    const hotNode = wideGraph.nodes.frame.reduce(
      (best, frame, i) => (frame === hot && (best < 0 || total[i] > total[best]) ? i : best),
      -1,
    );
    await page.mouse.click(...(await pointAt(wideGraph, hotNode)));
    await page.waitForSelector('#frame-details:not([hidden])');
    assert.equal(await text('#fd-title'), HOT_FUNCTION);
    assert.equal(await value('#fd-fn-total'), wide.hotCount);
    assert.equal(await value('#fd-node-total'), total[hotNode]);

    // Interaction latency, measured in the page around the handlers (the drawing is synchronous).
    await page.click('#reset');
    const times: Record<string, number[]> = { arrows: [], enter: [], escape: [], click: [] };
    const [x, y] = await pointAt(wideGraph, first);
    const rect = (await page.locator('canvas.flamegraph').boundingBox())!;
    const at = { x: (x - rect.x) / rect.width, y: y - rect.y };
    for (let round = 0; round < 5; round++) {
      await page.focus('canvas.flamegraph');
      times.arrows.push(
        await timed([{ key: 'ArrowDown' }, { key: 'ArrowDown' }, { key: 'ArrowRight' }, { key: 'ArrowUp' }]),
      );
      times.enter.push(await timed([{ key: 'Enter' }]));
      times.escape.push(await timed([{ key: 'Escape' }, { key: 'Escape' }]));
      times.click.push(
        await timed([
          { mouse: 'mousedown', ...at },
          { mouse: 'mouseup', ...at },
        ]),
      );
      assert.equal(await page.isVisible('#frame-details'), true, 'the dispatched click opened the panel');
      assert.equal(await page.getAttribute('canvas.flamegraph', 'data-focus'), String(first));
      await page.click('#reset');
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    t.diagnostic(
      `${wideGraph.size} nodes, median ms: ${Object.entries(times)
        .map(([name, values]) => `${name} ${median(values).toFixed(1)}`)
        .join(', ')}`,
    );
    // Four arrow steps, each a redraw: the budget is per step.
    assert.ok(median(times.arrows) / 4 < 100, `arrow steps ${times.arrows.join(', ')} ms for four`);
    assert.ok(median(times.enter) < 100, `Enter (zoom + details) ${times.enter.join(', ')} ms`);
    assert.ok(median(times.escape) / 2 < 100, `Escape ${times.escape.join(', ')} ms for two`);
    assert.ok(median(times.click) < 100, `click (zoom + details) ${times.click.join(', ')} ms`);
  });
});
