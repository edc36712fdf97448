import { isAddressFrame } from '../model/frame-type.ts';
import { getJson, type CompactFlamegraph } from './api.ts';
import { escapeHtml, formatCo2, formatCount, formatPercent, formatSeconds, formatUsd } from './format.ts';
import { applyFrameAction, sandwichUrl } from './flamegraph-actions.ts';
import { frameFacts, hottestNodeOf, nodeByPath, type FrameFacts } from './frame-facts.ts';
import { QUERY_KEYS, apiParams, readState } from './state.ts';
import { sourcePosition } from './symbols.ts';

/** A cell with the figure as shown and its exact value (for copying into other tools, and for tests). */
function valueCell(id: string, shown: string, value: number): string {
  return `<td id="${id}" data-value="${value}">${escapeHtml(shown)}</td>`;
}

function countsRows(prefix: string, facts: FrameFacts, counts: { self: number; total: number }): string {
  const { rootTotal, impactPerSample: perSample } = facts;
  const row = (name: string, self: string, total: string) =>
    `<tr><th scope="row">${name}</th>${self}${total}</tr>`;
  return [
    row(
      'Samples',
      valueCell(`${prefix}-self`, formatCount(counts.self), counts.self),
      valueCell(`${prefix}-total`, formatCount(counts.total), counts.total),
    ),
    row(
      'Share',
      valueCell(
        `${prefix}-self-share`,
        formatPercent(counts.self, rootTotal),
        counts.self / (rootTotal || 1),
      ),
      valueCell(
        `${prefix}-total-share`,
        formatPercent(counts.total, rootTotal),
        counts.total / (rootTotal || 1),
      ),
    ),
    row(
      'CPU time',
      valueCell(
        `${prefix}-self-cpu`,
        formatSeconds(counts.self * perSample.cpuSeconds),
        counts.self * perSample.cpuSeconds,
      ),
      valueCell(
        `${prefix}-total-cpu`,
        formatSeconds(counts.total * perSample.cpuSeconds),
        counts.total * perSample.cpuSeconds,
      ),
    ),
    row(
      'Annual CO₂',
      valueCell(
        `${prefix}-self-co2`,
        formatCo2(counts.self * perSample.annualCo2Tons),
        counts.self * perSample.annualCo2Tons,
      ),
      valueCell(
        `${prefix}-total-co2`,
        formatCo2(counts.total * perSample.annualCo2Tons),
        counts.total * perSample.annualCo2Tons,
      ),
    ),
    row(
      'Annual cost',
      valueCell(
        `${prefix}-self-cost`,
        formatUsd(counts.self * perSample.annualCostUsd),
        counts.self * perSample.annualCostUsd,
      ),
      valueCell(
        `${prefix}-total-cost`,
        formatUsd(counts.total * perSample.annualCostUsd),
        counts.total * perSample.annualCostUsd,
      ),
    ),
  ].join('');
}

function countsTable(id: string, caption: string, rows: string): string {
  return `<table class="fd-counts" id="${id}"><caption>${caption}</caption>
    <thead><tr><td></td><th scope="col">Self</th><th scope="col">Total</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

function fact(id: string, name: string, value: string): string {
  return value ? `<dt>${name}</dt><dd id="${id}">${value}</dd>` : '';
}

/** An unsymbolized frame is one address (or line): the only place it can be told apart from others. */
function addressText(facts: FrameFacts): string {
  if (!facts.isFrame || facts.symbolized) return '';
  return isAddressFrame(facts.frameType)
    ? `0x${facts.addressOrLine.toString(16)}`
    : `line ${facts.addressOrLine}`;
}

/** Where the node sits, and why it has no name with the command that fixes it. */
function factsHtml(facts: FrameFacts, hottest: boolean): string {
  const position = sourcePosition(facts.sourceFile, facts.sourceLine);
  const chain =
    facts.inlineChain.length > 0
      ? `<ol class="fd-inline-chain">${facts.inlineChain
          .map(
            (name, i) =>
              `<li${i === facts.inlineChain.length - 1 ? ' class="self"' : ''}>${escapeHtml(name)}</li>`,
          )
          .join('')}</ol>`
      : '';
  const missing = facts.missingSymbols;
  const hint =
    facts.missingReason !== undefined
      ? `<section id="fd-missing" class="fd-missing">
          <strong class="nosym">Symbols not available</strong>
          <p id="fd-missing-reason">${escapeHtml(facts.missingReason)}</p>
          ${
            missing
              ? `<p>Upload the executable (or its debug file) with:</p>
                 <code class="command" id="fd-command">${escapeHtml(missing.command)}</code>
                 <button type="button" id="fd-copy">Copy command</button>
                 <span id="fd-copied" class="muted" aria-live="polite"></span>`
              : ''
          }
        </section>`
      : '';
  const actions = facts.isFrame
    ? `<div class="fd-actions" role="group" aria-label="Frame actions">
        <button type="button" id="fd-sandwich">Callers and callees</button>
        <button type="button" id="fd-focus">Focus on this frame</button>
        <button type="button" id="fd-hide">Hide this frame</button>
        <button type="button" id="fd-collapse">Collapse frames like this</button>
      </div>`
    : '';
  return `
    <dl class="fd-facts">
      ${fact('fd-function', 'Function', escapeHtml(facts.functionName))}
      ${fact('fd-source', 'Source', escapeHtml(position))}
      ${chain ? `<dt title="Outermost first: the functions this frame is inlined into, then itself">Inline chain</dt><dd id="fd-inline">${chain}</dd>` : ''}
      ${fact('fd-executable', 'Executable', escapeHtml(facts.executable))}
      ${fact('fd-build-id', 'Build ID', facts.buildId ? `<code>${escapeHtml(facts.buildId)}</code>` : '')}
      ${fact('fd-address', 'Address', addressText(facts))}
      ${fact('fd-type', 'Frame type', escapeHtml(facts.kind))}
    </dl>
    ${actions}
    ${hint}
    ${countsTable(
      'fd-node',
      hottest ? 'Its hottest call path' : 'This call path',
      countsRows('fd-node', facts, facts.nodeCounts),
    )}
    ${facts.isFrame ? countsTable('fd-fn', 'The function across the profile', countsRows('fd-fn', facts, facts.functionCounts)) : ''}
    ${
      facts.callPath.length > 1
        ? `<details class="fd-path"><summary>Call path (${facts.callPath.length} frames)</summary><ol>${facts.callPath
            .map((name) => `<li>${escapeHtml(name)}</li>`)
            .join('')}</ol></details>`
        : ''
    }`;
}

/** Adds `key` to a comma-separated URL parameter, once. */
/**
 * Kibana's frame flyout: a side panel beside the view (the page makes room for it, nothing is covered) with
 * what is known about one frame, its figures, how to get its symbols, and actions that go through the URL.
 * One instance serves every page; it closes on navigation, with its button, and with Escape.
 */
export class FrameDetailsPanel {
  readonly element: HTMLElement;
  private body: HTMLElement;
  private facts?: FrameFacts;
  private returnFocus?: HTMLElement;

  constructor() {
    this.element = document.createElement('aside');
    this.element.id = 'frame-details';
    this.element.className = 'frame-details-panel';
    this.element.setAttribute('aria-labelledby', 'fd-title');
    this.element.hidden = true;
    this.element.innerHTML = `<div class="fd-head"><h2 id="fd-title"></h2>
      <button type="button" id="fd-close" aria-label="Close frame details" title="Close (Escape)">×</button></div>
      <div id="fd-body"></div>`;
    this.body = this.element.querySelector<HTMLElement>('#fd-body')!;
    document.body.append(this.element);
    this.element.querySelector('#fd-close')!.addEventListener('click', () => this.close());
    this.body.addEventListener('click', (event) => this.onAction(event));
    // Views handle Escape themselves first (the flamegraph: close, else reset the zoom) and mark it handled.
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.isOpen && !event.defaultPrevented) {
        event.preventDefault();
        this.close();
      }
    });
    window.addEventListener('hashchange', () => this.close());
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  get shownKey(): string | undefined {
    return this.isOpen ? this.facts?.key : undefined;
  }

  /**
   * Shows one node. `hottest` says the node was picked as the function's hottest call path (from a table),
   * not clicked; `returnFocus` gets the focus back when the panel closes.
   */
  show(
    graph: CompactFlamegraph,
    node: number,
    options: { hottest?: boolean; returnFocus?: HTMLElement } = {},
  ): void {
    if (node < 0 || node >= graph.size) return;
    const facts = frameFacts(graph, node);
    this.facts = facts;
    this.returnFocus = options.returnFocus;
    this.element.querySelector('#fd-title')!.textContent = facts.label;
    this.element.dataset.key = facts.key;
    this.element.dataset.node = String(node);
    this.body.innerHTML = factsHtml(facts, options.hottest ?? false);
    // Below the header and query bar where they are on screen, so they stay usable; at the top once scrolled away.
    const main = document.querySelector('main');
    this.element.style.top = `${Math.max(0, main?.getBoundingClientRect().top ?? 0)}px`;
    this.element.hidden = false;
    this.element.scrollTop = 0;
    document.body.classList.add('frame-details-open');
  }

  close(): void {
    if (!this.isOpen) return;
    this.element.hidden = true;
    document.body.classList.remove('frame-details-open');
    const target = this.returnFocus;
    this.returnFocus = undefined;
    if (target?.isConnected) target.focus();
  }

  private onAction(event: Event): void {
    const button = (event.target as HTMLElement).closest('button');
    const facts = this.facts;
    if (!button || !facts) return;
    switch (button.id) {
      case 'fd-sandwich':
        location.hash = sandwichUrl(readState().params, facts.key);
        break;
      case 'fd-focus':
        applyFrameAction('focus', facts.key);
        break;
      case 'fd-hide':
        applyFrameAction('hide', facts.key);
        break;
      case 'fd-collapse':
        applyFrameAction('collapse', facts.key);
        break;
      case 'fd-copy':
        void this.copyCommand();
        break;
    }
  }

  private async copyCommand(): Promise<void> {
    const command = this.facts?.missingSymbols?.command;
    const status = this.body.querySelector<HTMLElement>('#fd-copied');
    if (!command || !status) return;
    try {
      await navigator.clipboard.writeText(command);
      status.textContent = 'Copied';
    } catch {
      // No clipboard access (an insecure origin, or denied): select the text so Ctrl+C copies it.
      const code = this.body.querySelector('#fd-command');
      if (code) getSelection()?.selectAllChildren(code);
      status.textContent = 'Selected: press Ctrl+C to copy';
    }
  }
}

let shared: FrameDetailsPanel | undefined;

/** The one panel of the page, created on first use. */
export function frameDetailsPanel(): FrameDetailsPanel {
  shared ??= new FrameDetailsPanel();
  return shared;
}

let profile: { query: string; graph: Promise<CompactFlamegraph> } | undefined;

/**
 * The flamegraph of the profile a table page shows (same range and filters), fetched on the first click and
 * kept for the next ones: the figures for a function come from it, as on the flamegraph page.
 */
function profileGraph(params: URLSearchParams): Promise<CompactFlamegraph> {
  const query = apiParams(params, QUERY_KEYS).toString();
  if (profile?.query !== query) {
    const graph = getJson<CompactFlamegraph>('/api/flamegraph', new URLSearchParams(query));
    profile = { query, graph };
    graph.catch(() => (profile = undefined));
  }
  return profile.graph;
}

/** From a table of functions: the details of the function with this key, at its hottest call path. */
export async function showFunctionDetails(
  params: URLSearchParams,
  key: string,
  returnFocus?: HTMLElement,
): Promise<boolean> {
  const asked = location.hash;
  const graph = await profileGraph(params);
  // A click that also navigated (a link in the row) must not open the panel over the next page.
  if (location.hash !== asked) return false;
  const node = hottestNodeOf(graph, key);
  if (node < 0) return false;
  frameDetailsPanel().show(graph, node, { hottest: true, returnFocus });
  return true;
}

/** From a listed stack: the details of the frame at the end of `keys` (root first), on that very path. */
export async function showStackFrameDetails(
  params: URLSearchParams,
  keys: readonly string[],
  returnFocus?: HTMLElement,
): Promise<boolean> {
  const asked = location.hash;
  const graph = await profileGraph(params);
  if (location.hash !== asked) return false;
  const node = nodeByPath(graph, keys);
  if (node < 0) return showFunctionDetails(params, keys[keys.length - 1], returnFocus);
  frameDetailsPanel().show(graph, node, { returnFocus });
  return true;
}
