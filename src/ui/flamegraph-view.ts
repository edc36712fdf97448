import type { CompactFlamegraph } from './api.ts';
import { diffColor, frameColor } from './colors.ts';
import {
  escapeHtml,
  formatCo2,
  formatCount,
  formatPercent,
  formatSeconds,
  formatUsd,
  frameKind,
} from './format.ts';
import { missingSymbolsLines, sourcePosition } from './symbols.ts';

const ROW_HEIGHT = 18;
const FONT = '11px system-ui, sans-serif';
/** Average glyph width of FONT: truncating by estimate avoids a measureText call per node. */
const CHAR_WIDTH = 6.2;
const MIN_WIDTH_PX = 0.35;
const MAX_CANVAS_HEIGHT = 16_000;

const EMPTY_MESSAGE = 'No samples in this range and filter.';

/** Where the drawing loop draws: the canvas on screen, or an SVG document for export. */
interface Painter {
  rect(x: number, y: number, width: number, height: number, fill: string, title: string): void;
  text(text: string, x: number, y: number, color: string): void;
}

/** Positions of every node, computed once per data set in O(n) from the preorder arrays. */
interface Layout {
  depth: Int32Array;
  x0: Float64Array;
  /** Index one past the last node of each node's subtree (preorder makes subtrees contiguous). */
  end: Int32Array;
  maxDepth: number;
  /** Node indices per depth, ordered by x, for hit testing by binary search; built on the first hover. */
  byDepth?: Int32Array[];
}

function layout(graph: CompactFlamegraph): Layout {
  const { parent, total } = graph.nodes;
  const n = graph.size;
  const depth = new Int32Array(n);
  const x0 = new Float64Array(n);
  const cursor = new Float64Array(n);
  const end = new Int32Array(n);
  let maxDepth = 0;
  for (let i = 1; i < n; i++) {
    const p = parent[i];
    depth[i] = depth[p] + 1;
    x0[i] = cursor[p];
    cursor[p] += total[i];
    cursor[i] = x0[i];
    if (depth[i] > maxDepth) maxDepth = depth[i];
  }
  for (let i = 0; i < n; i++) end[i] = i + 1;
  for (let i = n - 1; i > 0; i--) if (end[i] > end[parent[i]]) end[parent[i]] = end[i];
  return { depth, x0, end, maxDepth };
}

/** Preorder visits each depth's nodes left to right, so one pass files them in x order. */
function nodesByDepth(lay: Layout): Int32Array[] {
  const counts = new Int32Array(lay.maxDepth + 1);
  for (let i = 0; i < lay.depth.length; i++) counts[lay.depth[i]]++;
  const byDepth = Array.from(counts, (count) => new Int32Array(count));
  counts.fill(0);
  for (let i = 0; i < lay.depth.length; i++) byDepth[lay.depth[i]][counts[lay.depth[i]]++] = i;
  return byDepth;
}

export interface FlameGraphStats {
  layoutMs: number;
  renderMs: number;
}

/**
 * A canvas icicle graph: root on top, zoom (wheel, click), pan (drag), search highlight and tooltips, and a
 * keyboard selection (arrows move it, Enter zooms to it) announced to screen readers.
 */
export class FlameGraphView {
  readonly canvas: HTMLCanvasElement;
  private readonly context: CanvasRenderingContext2D;
  private graph?: CompactFlamegraph;
  private layout?: Layout;
  private viewStart = 0;
  private viewEnd = 1;
  private focus = 0;
  private matches?: Uint8Array;
  private searchBuffer?: Uint8Array;
  private hovered = -1;
  /** The keyboard selection (a node index), or -1; drawn as an outline and announced. */
  private selected = -1;
  private readonly announcer: HTMLElement;
  private drag?: { x: number; start: number; end: number; moved: boolean };
  private width = 0;
  private height = 0;
  readonly stats: FlameGraphStats = { layoutMs: 0, renderMs: 0 };
  /** Called after zoom, reset or search so the page can mirror the state (URL, labels). */
  onChange?: () => void;
  /** A frame was clicked or chosen with Enter (after the zoom): the page shows its details. */
  onActivate?: (node: number) => void;
  /** Escape on the graph: the page closes its details or, with none open, resets the zoom. */
  onEscape?: () => void;
  /** `/` on the graph: the page focuses its search box. */
  onSearchKey?: () => void;

  constructor(
    private readonly container: HTMLElement,
    private readonly tooltip: HTMLElement,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'flamegraph';
    this.container.append(this.canvas);
    const context = this.canvas.getContext('2d', { alpha: false });
    if (!context) throw new Error('this browser has no 2D canvas');
    this.context = context;
    // Focusable, so the arrow keys reach it; the live region reads the selection out.
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'application');
    this.canvas.setAttribute('aria-roledescription', 'flamegraph');
    this.canvas.setAttribute(
      'aria-label',
      'Flamegraph. Arrow keys move the selection (up: caller, down: largest callee, left and right: neighbours), Enter zooms and shows details, Escape closes details or resets the zoom, slash searches.',
    );
    this.announcer = document.createElement('div');
    this.announcer.className = 'visually-hidden';
    this.announcer.setAttribute('aria-live', 'polite');
    this.announcer.id = 'flamegraph-announcer';
    this.container.append(this.announcer);
    this.canvas.addEventListener('keydown', (event) => this.onKeyDown(event));
    this.canvas.addEventListener('mousemove', (event) => this.onMouseMove(event));
    this.canvas.addEventListener('mouseleave', () => this.hideTooltip());
    this.canvas.addEventListener('mousedown', (event) => this.onMouseDown(event));
    window.addEventListener('mouseup', (event) => this.onMouseUp(event));
    this.canvas.addEventListener('wheel', (event) => this.onWheel(event), { passive: false });
    new ResizeObserver(() => this.render()).observe(this.container);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.render());
  }

  setData(graph: CompactFlamegraph): void {
    const started = performance.now();
    this.graph = graph;
    this.layout = layout(graph);
    this.stats.layoutMs = performance.now() - started;
    // The hit-test index costs tens of ms on millions of nodes: built while the browser is idle after the
    // first paint, not inside the first hover's handler.
    const built = this.layout;
    requestIdleCallback(() => (built.byDepth ??= nodesByDepth(built)), { timeout: 1000 });
    this.matches = undefined;
    this.selected = -1;
    this.searchBuffer = undefined;
    this.resetZoom(false);
    this.canvas.dataset.rootTotal = String(graph.nodes.total[0] ?? 0);
    this.canvas.dataset.nodes = String(graph.size);
  }

  get isDiff(): boolean {
    return this.graph?.nodes.baselineTotal !== undefined;
  }

  resetZoom(notify = true): void {
    this.focus = 0;
    this.viewStart = 0;
    this.viewEnd = Math.max(1, this.graph?.nodes.total[0] ?? 1);
    this.render();
    if (notify) this.onChange?.();
  }

  zoomTo(node: number): void {
    if (!this.graph || !this.layout || node < 0 || node >= this.graph.size) return;
    const total = this.graph.nodes.total[node];
    if (total <= 0) return;
    this.focus = node;
    this.viewStart = this.layout.x0[node];
    this.viewEnd = this.viewStart + total;
    this.render();
    this.onChange?.();
  }

  get focusedNode(): number {
    return this.focus;
  }

  get selectedNode(): number {
    return this.selected;
  }

  /** Moves the keyboard selection to `node`, bringing it into view at the current zoom, and announces it. */
  select(node: number): void {
    const graph = this.graph;
    const lay = this.layout;
    if (!graph || !lay || node < 0 || node >= graph.size) return;
    this.selected = node;
    const start = lay.x0[node];
    const end = start + graph.nodes.total[node];
    const span = this.viewEnd - this.viewStart;
    if (end - start > span) this.zoomTo(node);
    else if (start < this.viewStart || end > this.viewEnd)
      this.setView(start < this.viewStart ? start : end - span, start < this.viewStart ? start + span : end);
    else this.render();
    this.canvas.dataset.selected = String(node);
    this.announcer.textContent = this.describe(node);
  }

  /** One sentence about a node for the live region: name, samples and share. */
  private describe(node: number): string {
    const graph = this.graph!;
    const total = graph.nodes.total[node];
    const label = node === 0 ? 'all samples' : graph.frames.label[graph.nodes.frame[node]];
    return `${label}: ${formatCount(total)} samples, ${formatPercent(total, graph.nodes.total[0])} of the total, depth ${this.layout!.depth[node]}`;
  }

  /** The child with the most samples, or -1: preorder puts a node's children after it, each run to its end. */
  private largestChild(node: number): number {
    const { total } = this.graph!.nodes;
    const end = this.layout!.end;
    let best = -1;
    for (let child = node + 1; child < end[node]; child = end[child])
      if (best < 0 || total[child] > total[best]) best = child;
    return best;
  }

  /** The node left (-1) or right (+1) of `node` on its row, across parents; -1 at the row's end. */
  private neighbour(node: number, direction: -1 | 1): number {
    const lay = this.layout!;
    lay.byDepth ??= nodesByDepth(lay);
    const row = lay.byDepth[lay.depth[node]];
    let lo = 0;
    let hi = row.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (row[mid] < node) lo = mid + 1;
      else hi = mid;
    }
    return row[lo + direction] ?? -1;
  }

  private onKeyDown(event: KeyboardEvent): void {
    if (!this.graph || this.isEmpty() || event.altKey || event.ctrlKey || event.metaKey) return;
    const current = this.selected >= 0 ? this.selected : this.focus;
    let next: number;
    switch (event.key) {
      case 'ArrowUp':
        next = current > 0 ? this.graph.nodes.parent[current] : 0;
        break;
      case 'ArrowDown':
        next = this.selected < 0 ? current : this.largestChild(current);
        break;
      case 'ArrowLeft':
      case 'ArrowRight':
        next = this.selected < 0 ? current : this.neighbour(current, event.key === 'ArrowLeft' ? -1 : 1);
        break;
      case 'Enter':
        event.preventDefault();
        this.activate(current);
        return;
      case 'Escape':
        event.preventDefault();
        if (this.onEscape) this.onEscape();
        else this.resetZoom();
        return;
      case '/':
        event.preventDefault();
        this.onSearchKey?.();
        return;
      default:
        return;
    }
    event.preventDefault();
    if (next >= 0) this.select(next);
  }

  /** What a click or Enter does: zoom to the node (the root resets) and hand it to the page. */
  private activate(node: number): void {
    this.selected = node;
    this.canvas.dataset.selected = String(node);
    this.announcer.textContent = this.describe(node);
    if (node === 0) this.resetZoom();
    else this.zoomTo(node);
    this.onActivate?.(node);
  }

  /** Labels containing `term` (case-insensitive), or matching it as /regex/. Returns the matched samples. */
  search(term: string): number {
    const graph = this.graph;
    if (!graph || term.trim() === '') {
      this.matches = undefined;
      this.canvas.dataset.searchMatches = '0';
      this.render();
      return 0;
    }
    const started = performance.now();
    const test = searchTest(term.trim());
    const matchedFrames = Uint8Array.from(graph.frames.label, (label) => (test(label) ? 1 : 0));
    // One buffer per data set: a new one per keystroke on millions of nodes keeps the collector busy.
    const matches = (this.searchBuffer ??= new Uint8Array(graph.size));
    const frame = graph.nodes.frame;
    for (let i = 1; i < graph.size; i++) matches[i] = matchedFrames[frame[i]];
    this.matches = matches;
    let matchedSamples = 0;
    const end = this.layout!.end;
    // Count each matched subtree once: nested matches are already inside their ancestor's total.
    for (let i = 1; i < graph.size;) {
      if (matches[i]) {
        matchedSamples += graph.nodes.total[i];
        i = end[i];
      } else i++;
    }
    this.canvas.dataset.searchMatches = String(matchedSamples);
    this.render();
    this.canvas.dataset.searchMs = (performance.now() - started).toFixed(1);
    this.onChange?.();
    return matchedSamples;
  }

  private resize(): void {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(100, this.container.clientWidth);
    const rows = (this.layout?.maxDepth ?? 0) + 1;
    const height = Math.min(MAX_CANVAS_HEIGHT, Math.max(ROW_HEIGHT * 4, rows * ROW_HEIGHT));
    if (width !== this.width || height !== this.height) {
      this.width = width;
      this.height = height;
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
    this.context.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  render(): void {
    const started = performance.now();
    this.resize();
    const ctx = this.context;
    const theme = this.theme();
    ctx.fillStyle = theme.background;
    ctx.fillRect(0, 0, this.width, this.height);
    if (this.isEmpty()) {
      ctx.fillStyle = theme.text;
      ctx.font = '14px system-ui, sans-serif';
      ctx.fillText(EMPTY_MESSAGE, 12, 24);
      this.finishRender(started);
      return;
    }
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    this.paint(
      {
        rect: (x, y, w, h, fill) => {
          ctx.fillStyle = fill;
          ctx.fillRect(x, y, w, h);
        },
        text: (text, x, y, color) => {
          ctx.fillStyle = color;
          ctx.fillText(text, x, y);
        },
      },
      Math.floor(this.height / ROW_HEIGHT),
    );
    this.outlineSelection(theme.outline);
    this.finishRender(started);
  }

  /** The keyboard selection as a two-pixel frame (on screen only, not in exports). */
  private outlineSelection(color: string): void {
    const node = this.selected;
    if (node < 0 || !this.graph || !this.layout) return;
    const scale = this.width / (this.viewEnd - this.viewStart);
    const x = (this.layout.x0[node] - this.viewStart) * scale;
    const w = this.graph.nodes.total[node] * scale;
    const left = Math.max(1, x);
    const right = Math.min(this.width - 1, x + w);
    if (right <= left) return;
    const ctx = this.context;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.strokeRect(
      left,
      this.layout.depth[node] * ROW_HEIGHT + 1,
      Math.max(2, right - left - 1),
      ROW_HEIGHT - 3,
    );
  }

  /** The graph as drawn now (zoom, search highlight, diff colours) as a standalone SVG document. */
  toSvg(): string {
    const rows = Math.min((this.layout?.maxDepth ?? 0) + 1, Math.floor(MAX_CANVAS_HEIGHT / ROW_HEIGHT));
    const height = Math.max(ROW_HEIGHT * 4, rows * ROW_HEIGHT);
    const parts: string[] = [];
    const theme = this.theme();
    if (this.isEmpty())
      parts.push(
        `<text x="12" y="24" font-size="14" fill="${theme.text}">${escapeHtml(EMPTY_MESSAGE)}</text>`,
      );
    else
      this.paint(
        {
          rect: (x, y, w, h, fill, title) =>
            parts.push(
              `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${h}" fill="${fill}"><title>${escapeHtml(title)}</title></rect>`,
            ),
          text: (text, x, y, color) =>
            parts.push(
              `<text x="${x.toFixed(1)}" y="${y}" fill="${color}" dominant-baseline="middle">${escapeHtml(text)}</text>`,
            ),
        },
        rows,
      );
    return (
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${height}" viewBox="0 0 ${this.width} ${height}" ` +
      `font-family="system-ui, sans-serif" font-size="11"><rect width="100%" height="100%" fill="${theme.background}"/>${parts.join('')}</svg>`
    );
  }

  /** The canvas as a PNG, at the screen's pixel density. */
  toPng(): Promise<Blob> {
    return new Promise((resolve, reject) =>
      this.canvas.toBlob(
        (blob) => (blob ? resolve(blob) : reject(new Error('the browser made no PNG'))),
        'image/png',
      ),
    );
  }

  /** The page's colours (light or dark, as the system asks), so the graph's ground matches its panel. */
  private theme(): { background: string; text: string; outline: string } {
    const style = getComputedStyle(this.container);
    return {
      background: style.getPropertyValue('--surface').trim() || '#ffffff',
      text: style.getPropertyValue('--muted').trim() || '#555555',
      outline: style.getPropertyValue('--text').trim() || '#1d2329',
    };
  }

  private isEmpty(): boolean {
    const graph = this.graph;
    return !graph || !this.layout || graph.size === 0 || graph.nodes.total[0] <= 0;
  }

  /** Draws every node wide enough to see in the current view, on the first `maxRows` rows. */
  private paint(painter: Painter, maxRows: number): void {
    const graph = this.graph!;
    const lay = this.layout!;
    const scale = this.width / (this.viewEnd - this.viewStart);
    const { total, frame } = graph.nodes;
    const labels = graph.frames.label;
    const types = graph.frames.frameType;
    const diff = this.diffShares();
    for (let i = 0; i < graph.size;) {
      const x = (lay.x0[i] - this.viewStart) * scale;
      const w = total[i] * scale;
      const d = lay.depth[i];
      // Children lie inside their parent: a node out of view or too thin takes its subtree with it.
      if (w < MIN_WIDTH_PX || x >= this.width || x + w <= 0 || d >= maxRows) {
        i = lay.end[i];
        continue;
      }
      const left = Math.max(0, x);
      const right = Math.min(this.width, x + w);
      const y = d * ROW_HEIGHT;
      const label = i === 0 ? 'all' : labels[frame[i]];
      const fill = this.fillFor(i, label, i === 0 ? 0x100 : types[frame[i]], diff);
      painter.rect(left, y, Math.max(MIN_WIDTH_PX, right - left - 0.5), ROW_HEIGHT - 1, fill, label);
      const visible = right - left;
      if (visible > 24) {
        const chars = Math.floor((visible - 6) / CHAR_WIDTH);
        const text = label.length > chars ? `${label.slice(0, Math.max(1, chars - 1))}…` : label;
        painter.text(text, left + 3, y + ROW_HEIGHT / 2, i === this.hovered ? '#000' : '#1a1a1a');
      }
      i++;
    }
  }

  private finishRender(started: number): void {
    this.stats.renderMs = performance.now() - started;
    this.canvas.dataset.renderMs = this.stats.renderMs.toFixed(1);
    this.canvas.dataset.viewStart = String(this.viewStart);
    this.canvas.dataset.viewEnd = String(this.viewEnd);
    this.canvas.dataset.focus = String(this.focus);
  }

  /** For differential graphs, each node's change of share: comparison share − baseline share. */
  private diffShares(): Float64Array | undefined {
    const graph = this.graph;
    const base = graph?.nodes.baselineTotal;
    if (!graph || !base) return undefined;
    const nowRoot = graph.nodes.total[0] || 1;
    const baseRoot = base[0] || 1;
    const out = new Float64Array(graph.size);
    for (let i = 0; i < graph.size; i++) out[i] = graph.nodes.total[i] / nowRoot - base[i] / baseRoot;
    return out;
  }

  private fillFor(node: number, label: string, type: number, diff: Float64Array | undefined): string {
    if (this.matches) {
      if (this.matches[node]) return 'hsl(300, 85%, 62%)';
      return node < this.focus || !this.inFocus(node) ? '#eceff3' : '#e1e4e8';
    }
    if (!this.inFocus(node)) return '#dde1e6';
    if (diff) return diffColor(diff[node]);
    return frameColor(type, label);
  }

  /** Ancestors of the zoomed node are drawn muted. */
  private inFocus(node: number): boolean {
    if (this.focus === 0 || !this.layout) return true;
    return node >= this.focus && node < this.layout.end[this.focus];
  }

  private nodeAt(offsetX: number, offsetY: number): number {
    const lay = this.layout;
    const graph = this.graph;
    if (!lay || !graph) return -1;
    const d = Math.floor(offsetY / ROW_HEIGHT);
    if (d < 0 || d > lay.maxDepth) return -1;
    const value = this.viewStart + (offsetX / this.width) * (this.viewEnd - this.viewStart);
    lay.byDepth ??= nodesByDepth(lay);
    const row = lay.byDepth[d];
    let lo = 0;
    let hi = row.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const node = row[mid];
      if (value < lay.x0[node]) hi = mid - 1;
      else if (value >= lay.x0[node] + graph.nodes.total[node]) lo = mid + 1;
      else return node;
    }
    return -1;
  }

  private onMouseMove(event: MouseEvent): void {
    if (this.drag) {
      const dx = event.clientX - this.drag.x;
      if (Math.abs(dx) > 3) this.drag.moved = true;
      if (this.drag.moved) {
        const shift = (-dx / this.width) * (this.drag.end - this.drag.start);
        this.setView(this.drag.start + shift, this.drag.end + shift);
      }
      return;
    }
    const node = this.nodeAt(event.offsetX, event.offsetY);
    if (node !== this.hovered) {
      this.hovered = node;
      this.canvas.style.cursor = node >= 0 ? 'pointer' : 'default';
    }
    if (node < 0) this.hideTooltip();
    else this.showTooltip(node, event.clientX, event.clientY);
  }

  private onMouseDown(event: MouseEvent): void {
    if (event.button !== 0) return;
    this.drag = { x: event.clientX, start: this.viewStart, end: this.viewEnd, moved: false };
  }

  private onMouseUp(event: MouseEvent): void {
    const drag = this.drag;
    this.drag = undefined;
    if (!drag || drag.moved || event.target !== this.canvas) return;
    const node = this.nodeAt(event.offsetX, event.offsetY);
    if (node >= 0) this.activate(node);
  }

  private onWheel(event: WheelEvent): void {
    if (!this.graph) return;
    event.preventDefault();
    const span = this.viewEnd - this.viewStart;
    if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
      const delta = event.shiftKey ? event.deltaY : event.deltaX;
      const shift = (delta / this.width) * span;
      this.setView(this.viewStart + shift, this.viewEnd + shift);
      return;
    }
    const factor = Math.exp(event.deltaY * 0.0015);
    const anchor = this.viewStart + (event.offsetX / this.width) * span;
    this.setView(anchor - (anchor - this.viewStart) * factor, anchor + (this.viewEnd - anchor) * factor);
  }

  private setView(start: number, end: number): void {
    const rootTotal = this.graph?.nodes.total[0] ?? 1;
    let span = Math.min(rootTotal, Math.max(rootTotal * 1e-9, end - start));
    if (!Number.isFinite(span) || span <= 0) span = rootTotal;
    const clampedStart = Math.min(Math.max(0, start), rootTotal - span);
    this.viewStart = clampedStart;
    this.viewEnd = clampedStart + span;
    this.render();
  }

  /**
   * What is known about a node, as HTML lines: the tooltip shows them, and the page's frame details show
   * them for the clicked node (where text such as the upload command can be selected).
   */
  detailLines(node: number): string[] {
    const graph = this.graph;
    if (!graph || node < 0 || node >= graph.size) return [];
    const { total, self, frame, parent, baselineTotal, baselineSelf } = graph.nodes;
    const frames = graph.frames;
    const rootTotal = total[0];
    const f = frame[node];
    const label = node === 0 ? 'all samples' : frames.label[f];
    const type = node === 0 ? 0x100 : frames.frameType[f];
    const isFrame = node > 0 && type < 0x100;
    const missing =
      isFrame && frames.missingSymbols[f] >= 0 ? graph.missingSymbols[frames.missingSymbols[f]] : undefined;
    const perSample = graph.impactPerSample;
    let kind = escapeHtml(frameKind(type));
    if (isFrame && frames.inline[f]) {
      // The caller is the parent node: inline chains are expanded outermost first.
      const caller = parent[node] > 0 ? frames.label[frame[parent[node]]] : '';
      kind += caller ? ` · inlined into ${escapeHtml(caller)}` : ' · inlined';
    }
    if (isFrame && !frames.symbolized[f] && !missing) kind += ' · symbols not available';
    const lines = [
      `<strong>${escapeHtml(label)}</strong>`,
      `<span class="muted">${kind}</span>`,
      `Total: ${formatCount(total[node])} samples (${formatPercent(total[node], rootTotal)})`,
      `Self: ${formatCount(self[node])} samples (${formatPercent(self[node], rootTotal)})`,
      `CPU time: ${formatSeconds(total[node] * perSample.cpuSeconds)} total, ${formatSeconds(self[node] * perSample.cpuSeconds)} self`,
      `Annual CO₂: ${formatCo2(total[node] * perSample.annualCo2Tons)} · cost: ${formatUsd(total[node] * perSample.annualCostUsd)}`,
    ];
    const position = isFrame ? sourcePosition(frames.sourceFile[f], frames.sourceLine[f]) : '';
    if (position) lines.push(`Source: ${escapeHtml(position)}`);
    if (missing) lines.push(...missingSymbolsLines(missing));
    else if (node > 0 && frames.executable[f]) lines.push(`Executable: ${escapeHtml(frames.executable[f])}`);
    if (baselineTotal && baselineSelf) {
      const baseRoot = baselineTotal[0] || 1;
      lines.push(
        `Baseline: ${formatPercent(baselineTotal[node], baseRoot)} total, ${formatPercent(baselineSelf[node], baseRoot)} self`,
        `Change of total share: ${((total[node] / (rootTotal || 1) - baselineTotal[node] / baseRoot) * 100).toFixed(2)} pp`,
      );
    }
    return lines;
  }

  private showTooltip(node: number, clientX: number, clientY: number): void {
    const lines = this.detailLines(node);
    const graph = this.graph!;
    // The tooltip follows the pointer, so its text cannot be selected: say where the command can be.
    if (node > 0 && graph.frames.missingSymbols[graph.nodes.frame[node]] >= 0)
      lines.push('<span class="muted">Click the frame to zoom and copy the command from its details</span>');
    this.tooltip.innerHTML = lines.join('<br>');
    this.tooltip.hidden = false;
    const box = this.tooltip.getBoundingClientRect();
    const x = clientX + 14 + box.width > window.innerWidth ? clientX - box.width - 10 : clientX + 14;
    const y = clientY + 14 + box.height > window.innerHeight ? clientY - box.height - 10 : clientY + 14;
    this.tooltip.style.left = `${Math.max(0, x)}px`;
    this.tooltip.style.top = `${Math.max(0, y)}px`;
  }

  private hideTooltip(): void {
    this.tooltip.hidden = true;
    if (this.hovered !== -1) this.hovered = -1;
  }
}

/** The search box's test of a label: `/regex/flags`, or else the text, case-insensitively. */
export function searchTest(term: string): (label: string) => boolean {
  const regex = /^\/(.+)\/([imsu]*)$/.exec(term);
  if (regex) {
    try {
      const pattern = new RegExp(regex[1], regex[2] || 'i');
      return (label) => pattern.test(label);
    } catch {
      // Not a valid expression: search for the text as typed.
    }
  }
  const lower = term.toLowerCase();
  return (label) => label.toLowerCase().includes(lower);
}
