/**
 * The browser pass of the real-agent test: the web UI, in Debian's Chromium, over the store the agent's data
 * went into, served by the same query API and UI routes `uniprof serve` registers (in this process: the
 * served process has stopped by then, and its UI directory may be unbuilt in a developer's checkout).
 */
import { rmSync } from 'node:fs';
import Fastify from 'fastify';
import { registerQueryApi, registerReaderAuth, registerUi } from '../../../src/api/index.ts';
import type { Store } from '../../../src/store/store.ts';
import { ARTIFACTS, buildUiInto, launchChromium, openView } from '../../support/browser.ts';
import { bearer, testReaderAccess } from '../../support/reader-auth.ts';

export interface AgentPages {
  /** Per function: the samples the flamegraph page's search box says match it. */
  flamegraphMatches: Record<string, number>;
  /** The top functions table's text. */
  topFunctions: string;
  /** Stack traces grouped by thread: the group names and the listed stacks' text. */
  stackGroups: string[];
  stacks: string;
}

/**
 * Opens the flamegraph, top functions and stack traces pages for a time range and a filter (the agent profiles
 * the whole machine: the filter keeps the screenshots on the workloads), with a screenshot of each.
 */
export async function browseAgentData(
  store: Store,
  view: { from: number; to: number; filter: string },
  functions: readonly string[],
): Promise<AgentPages> {
  const uiDir = buildUiInto();
  const app = Fastify();
  const browser = await launchChromium();
  try {
    await registerReaderAuth(app, await testReaderAccess());
    await registerQueryApi(app, { store });
    await registerUi(app, { directory: uiDir });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const context = await browser.newContext({
      viewport: { width: 1280, height: 720 },
      extraHTTPHeaders: bearer(),
    });
    const page = await context.newPage();
    const query = new URLSearchParams({
      from: String(view.from),
      to: String(view.to),
      filter: view.filter,
      samplingLevel: '0',
    }).toString();

    await openView(page, base, `flamegraph?${query}`);
    const flamegraphMatches: Record<string, number> = {};
    for (const name of functions) {
      await page.fill('#search', name);
      await page.waitForFunction(
        (term) => new URL(location.href).hash.includes(`search=${encodeURIComponent(term)}`),
        name,
      );
      flamegraphMatches[name] = Number(
        await page.$eval('canvas.flamegraph', (c) => (c as HTMLCanvasElement).dataset.searchMatches),
      );
    }
    await page.screenshot({ path: `${ARTIFACTS}/agent-flamegraph.png` });

    await openView(page, base, `topn?${query}`);
    const topFunctions = (await page.textContent('#topn-table')) ?? '';
    await page.screenshot({ path: `${ARTIFACTS}/agent-topn.png` });

    await openView(page, base, `stacks?${query}&groupBy=process.thread.name`);
    // Opened, so that the screenshot shows the stacks and not only the groups.
    await page.$$eval('#groups details', (groups) =>
      groups.forEach((group) => ((group as HTMLDetailsElement).open = true)),
    );
    const stackGroups = await page.$$eval('#groups .group-name', (names) =>
      names.map((name) => name.textContent ?? ''),
    );
    const stacks = (await page.textContent('#groups')) ?? '';
    await page.screenshot({ path: `${ARTIFACTS}/agent-stacks.png` });
    return { flamegraphMatches, topFunctions, stackGroups, stacks };
  } finally {
    await browser.close();
    await app.close();
    rmSync(uiDir, { recursive: true, force: true });
  }
}
