/**
 * `npm run bench:ui`: how fast the web UI paints and answers, in Debian's Chromium, over the real embedded store
 * and query API fed with wide synthetic profiles (test/query/wide-fixture.ts: random walks down a tree 12 deep
 * with 8 children per level, so most stacks are distinct and the flamegraph grows with the samples).
 *
 * Per profile size: time to first paint of the flamegraph, top functions and stack traces pages (from the
 * navigation's start to the first frame after the page marked itself ready, i.e. canvas or table painted), and
 * the flamegraph's interactions (hover tooltip, click zoom, wheel zoom, search), timed in the page from just
 * before the event's dispatch to the frame after the handler (handler + style, layout and paint). The issue's
 * target: interactions under 100 ms at 100k+ nodes.
 *
 * Sizes (samples) can be chosen with UNIPROF_BENCH_UI_SIZES=10000,100000,1000000 (the default); repetitions
 * with UNIPROF_BENCH_UI_REPEATS (default 20 per interaction, 3 page loads per page).
 */
import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { EmbeddedStore } from '../src/store/embedded/index.ts';
import { wideProfile } from '../test/query/wide-fixture.ts';
import {
  allowNodeFunctions,
  buildUiInto,
  chromiumSkip,
  launchChromium,
  serveUi,
} from '../test/support/browser.ts';
import { bearer } from '../test/support/reader-auth.ts';

const sizes = (process.env.UNIPROF_BENCH_UI_SIZES ?? '10000,100000,1000000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const REPEATS = Number(process.env.UNIPROF_BENCH_UI_REPEATS ?? 20);
const PAGE_LOADS = Number(process.env.UNIPROF_BENCH_UI_LOADS ?? 3);
/** The wide fixture gives each stack 1–4 samples (2.5 on average). */
const SAMPLES_PER_STACK = 2.5;
const VIEWPORT = { width: 1280, height: 720 };
const PAGES = ['flamegraph', 'topn', 'stacks'] as const;
/** UNIPROF_BENCH_UI_PAGES=flamegraph times only that page's loads (the interactions are always measured). */
const pagesTimed = (process.env.UNIPROF_BENCH_UI_PAGES ?? PAGES.join(','))
  .split(',')
  .filter((name): name is (typeof PAGES)[number] => (PAGES as readonly string[]).includes(name));
const INTERACTIONS = ['hover', 'click zoom', 'wheel zoom', 'search', 'search handler'] as const;
const TARGET_MS = 100;
const ROW_NAMES: Partial<Record<Interaction, string>> = {
  search: '  search (after the 120 ms debounce)',
  'search handler': '    of which matching + canvas',
};
const PROFILE = process.env.UNIPROF_BENCH_UI_PROFILE === '1';

type Interaction = (typeof INTERACTIONS)[number];

interface SizeResult {
  samples: number;
  nodes: number;
  firstPaintMs: Record<(typeof PAGES)[number], number[]>;
  /** The flamegraph page's own split of its first paint: API fetch and parse, then DOM and canvas. */
  fetchMs: number[];
  drawMs: number[];
  interactionMs: Record<Interaction, number[]>;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * Installed in every document before its scripts run: records when the page first marks itself ready and the
 * frame after that has been produced (rAF, then a task: style, layout and paint are done by then).
 */
function recordReadyPaint(): void {
  const win = window as unknown as { uniprofPaintedAt?: number };
  const channel = new MessageChannel();
  channel.port1.onmessage = () => (win.uniprofPaintedAt = performance.now());
  const observer = new MutationObserver(() => {
    if (document.getElementById('page')?.dataset.ready !== 'true') return;
    observer.disconnect();
    requestAnimationFrame(() => channel.port2.postMessage(null));
  });
  document.addEventListener('DOMContentLoaded', () => {
    const page = document.getElementById('page');
    if (page) observer.observe(page, { attributes: true, attributeFilter: ['data-ready'] });
  });
}

async function firstPaint(page: Page, url: string): Promise<number> {
  // A fresh document each time: performance.now() then counts from this navigation's start.
  await page.goto('about:blank');
  await page.goto(url);
  await page.waitForFunction(() => (window as { uniprofPaintedAt?: number }).uniprofPaintedAt, null, {
    timeout: 120_000,
  });
  const error = await page.$('#page .error');
  if (error) throw new Error(`${url} shows an error: ${await error.textContent()}`);
  return page.evaluate(() => (window as unknown as { uniprofPaintedAt: number }).uniprofPaintedAt);
}

/** Runs in the page: each interaction `repeats` times on the flamegraph canvas, in ms per event. */
function measureInteractions(repeats: number): Promise<Record<string, number[]>> {
  const canvas = document.querySelector<HTMLCanvasElement>('canvas.flamegraph')!;
  const search = document.querySelector<HTMLInputElement>('#search')!;
  const result = document.querySelector<HTMLElement>('#search-result')!;
  const reset = document.querySelector<HTMLButtonElement>('#reset')!;
  const tooltip = document.getElementById('tooltip')!;
  const ROW = 18;
  const SEARCH_DEBOUNCE_MS = 120;
  const afterNextFrame = () =>
    new Promise<number>((resolve) =>
      requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => resolve(performance.now());
        channel.port2.postMessage(null);
      }),
    );
  const box = () => canvas.getBoundingClientRect();
  const mouse = (type: string, x: number, y: number) =>
    canvas.dispatchEvent(
      new MouseEvent(type, { bubbles: true, cancelable: true, clientX: x, clientY: y, button: 0 }),
    );
  /** A point on row `depth`, at a share of the width that differs per repetition. */
  const point = (depth: number, i: number) => {
    const b = box();
    return { x: b.left + ((i * 0.137 + 0.05) % 0.95) * b.width, y: b.top + depth * ROW + ROW / 2 };
  };
  const timed = async (act: () => void) => {
    const started = performance.now();
    act();
    return (await afterNextFrame()) - started;
  };
  return (async () => {
    const out: Record<string, number[]> = {
      hover: [],
      'click zoom': [],
      'wheel zoom': [],
      search: [],
      'search handler': [],
    };
    // The view scrolls with the page: keep the graph's top rows on screen for the events' coordinates.
    canvas.scrollIntoView({ block: 'start' });
    await afterNextFrame();
    for (let i = 0; i < repeats; i++) {
      const { x, y } = point(1 + (i % 6), i);
      out.hover.push(await timed(() => mouse('mousemove', x, y)));
      if (tooltip.hidden) throw new Error(`no tooltip after hovering at ${x},${y}`);
    }
    mouse('mouseleave', 0, 0);
    for (let i = 0; i < repeats; i++) {
      const { x, y } = point(1 + (i % 3), i);
      const before = canvas.dataset.focus;
      out['click zoom'].push(
        await timed(() => {
          mouse('mousedown', x, y);
          mouse('mouseup', x, y);
        }),
      );
      if (canvas.dataset.focus === before) throw new Error(`clicking at ${x},${y} did not zoom`);
      reset.click();
      await afterNextFrame();
    }
    for (let i = 0; i < repeats; i++) {
      const b = box();
      const x = b.left + b.width * (0.2 + (i % 5) * 0.15);
      const y = b.top + ROW * 3;
      const before = canvas.dataset.viewEnd;
      out['wheel zoom'].push(
        await timed(() =>
          canvas.dispatchEvent(
            new WheelEvent('wheel', {
              bubbles: true,
              cancelable: true,
              clientX: x,
              clientY: y,
              deltaY: i % 4 < 2 ? -240 : 240,
            }),
          ),
        ),
      );
      if (canvas.dataset.viewEnd === before && i % 4 === 0) throw new Error('the wheel did not zoom');
    }
    reset.click();
    const terms = ['hot_function', 'fn_d7_c3', '/fn_d(9|10)_c[0-3]/', 'c5'];
    for (let i = 0; i < repeats; i++) {
      const term = terms[i % terms.length];
      const changed = new Promise<void>((resolve) => {
        const observer = new MutationObserver(() => {
          observer.disconnect();
          resolve();
        });
        observer.observe(result, { childList: true, characterData: true, subtree: true });
      });
      const started = performance.now();
      search.value = term;
      search.dispatchEvent(new Event('input', { bubbles: true }));
      await changed;
      // The page waits for typing to pause before it searches: that wait is not the search's cost.
      out.search.push((await afterNextFrame()) - started - SEARCH_DEBOUNCE_MS);
      out['search handler'].push(Number(canvas.dataset.searchMs));
      search.value = '';
      search.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((resolve) => setTimeout(resolve, SEARCH_DEBOUNCE_MS + 50));
    }
    return out;
  })();
}

async function benchSize(samples: number, uiDir: string, page: Page): Promise<SizeResult> {
  const wide = wideProfile({ stacks: Math.round(samples / SAMPLES_PER_STACK), depth: 12, branching: 8 });
  // The 1M-sample profile is written in one batch: more than the store's default memory limit.
  const store = new EmbeddedStore({ path: ':memory:', seed: 3, memoryLimit: '2GB' });
  let app: FastifyInstance | undefined;
  try {
    await store.open();
    await store.write(wide.batch);
    const server = await serveUi(store, uiDir, { query: { now: () => wide.to } });
    app = server.app;
    const base = server.base;
    const range = `from=${wide.from}&to=${wide.to}&samplingLevel=0`;
    const result: SizeResult = {
      samples: wide.totalCount,
      nodes: 0,
      firstPaintMs: { flamegraph: [], topn: [], stacks: [] },
      fetchMs: [],
      drawMs: [],
      interactionMs: { hover: [], 'click zoom': [], 'wheel zoom': [], search: [], 'search handler': [] },
    };
    for (const name of pagesTimed) {
      // One load not counted: the store's and the query layer's first-use costs are not the UI's.
      await firstPaint(page, `${base}/ui/#/${name}?${range}`);
      for (let i = 0; i < PAGE_LOADS; i++) {
        result.firstPaintMs[name].push(await firstPaint(page, `${base}/ui/#/${name}?${range}`));
        if (name !== 'flamegraph') continue;
        const data = await page.$eval('canvas.flamegraph', (c) => ({ ...(c as HTMLCanvasElement).dataset }));
        result.nodes = Number(data.nodes);
        result.fetchMs.push(Number(data.fetchMs));
        result.drawMs.push(Number(data.firstPaintMs));
      }
    }
    await firstPaint(page, `${base}/ui/#/flamegraph?${range}`);
    const profiler = PROFILE ? await page.context().newCDPSession(page) : undefined;
    await profiler?.send('Profiler.enable');
    await profiler?.send('Profiler.start');
    const measured = await page.evaluate(measureInteractions, REPEATS);
    if (profiler) {
      printHotFunctions((await profiler.send('Profiler.stop')).profile as CpuProfile);
      for (const [name, values] of Object.entries(measured))
        console.log(`  ${name}: ${values.map((v) => v.toFixed(0)).join(' ')}`);
    }
    for (const name of INTERACTIONS) result.interactionMs[name] = measured[name];
    return result;
  } finally {
    await app?.close();
    await store.close();
  }
}

/** The parts of a DevTools CPU profile (Profiler.stop) read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** The page's functions by self time while the interactions ran (UNIPROF_BENCH_UI_PROFILE=1). */
function printHotFunctions(profile: CpuProfile): void {
  const selfMs = new Map<string, number>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').pop()}:${frame.lineNumber + 1}`;
    selfMs.set(key, (selfMs.get(key) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  });
  const top = [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, 15);
  console.log(top.map(([name, ms]) => `  ${ms.toFixed(0).padStart(6)} ms  ${name}`).join('\n'));
}

function table(results: SizeResult[]): string {
  const rows: string[][] = [['', ...results.map((r) => `${r.samples.toLocaleString('en')} samples`)]];
  rows.push(['flamegraph nodes', ...results.map((r) => r.nodes.toLocaleString('en'))]);
  const median = (values: number[]) => (values.length ? `${percentile(values, 50).toFixed(0)} ms` : '—');
  rows.push([`first paint (median of ${PAGE_LOADS})`, ...results.map(() => '')]);
  rows.push(['  flamegraph', ...results.map((r) => median(r.firstPaintMs.flamegraph))]);
  rows.push(['    of which API fetch + parse', ...results.map((r) => median(r.fetchMs))]);
  rows.push(['    of which DOM + layout + canvas', ...results.map((r) => median(r.drawMs))]);
  rows.push(['  top functions', ...results.map((r) => median(r.firstPaintMs.topn))]);
  rows.push(['  stack traces', ...results.map((r) => median(r.firstPaintMs.stacks))]);
  rows.push([`interaction p50 / p95 (${REPEATS}×)`, ...results.map(() => '')]);
  for (const name of INTERACTIONS) {
    rows.push([
      ROW_NAMES[name] ?? `  ${name}`,
      ...results.map((r) => {
        const p95 = percentile(r.interactionMs[name], 95);
        const miss = r.nodes >= 100_000 && p95 > TARGET_MS ? ' !' : '';
        return `${percentile(r.interactionMs[name], 50).toFixed(1)} / ${p95.toFixed(1)} ms${miss}`;
      }),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row) =>
      row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '),
    )
    .join('\n');
}

async function main(): Promise<void> {
  const skip = chromiumSkip();
  if (skip) throw new Error(`bench:ui needs Chromium: ${skip}`);
  const uiDir = buildUiInto();
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: VIEWPORT, extraHTTPHeaders: bearer() });
    await allowNodeFunctions(context);
    await context.addInitScript(recordReadyPaint);
    const page = await context.newPage();
    const results: SizeResult[] = [];
    for (const samples of sizes) {
      const started = performance.now();
      results.push(await benchSize(samples, uiDir, page));
      console.log(
        `${samples.toLocaleString('en')} samples: ${results.at(-1)!.nodes.toLocaleString('en')} nodes, ` +
          `measured in ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
    }
    console.log(
      `\nweb UI in Chromium at ${VIEWPORT.width}×${VIEWPORT.height}, wide profiles (depth 12, branching 8); ` +
        `first paint = navigation start → frame after the page is ready; interactions = event → next frame ` +
        `painted; "!" marks a p95 over ${TARGET_MS} ms at 100k+ nodes\n`,
    );
    console.log(table(results));
  } finally {
    await browser.close();
    rmSync(uiDir, { recursive: true, force: true });
  }
}

await main();
