import type { Timeline } from '../query/timeline.ts';
import { getJson } from './api.ts';
import { escapeHtml, formatCount } from './format.ts';
import { QUERY_KEYS, apiParams, updateState } from './state.ts';

/** Series colours: distinguishable, and readable on the light and dark backgrounds alike. */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
const OTHER_COLOR = '#bab0ac';
const WIDTH = 1000;
const HEIGHT = 100;
/** A drag shorter than this (in CSS pixels) is a click, not a zoom. */
const MIN_DRAG_PX = 4;

/** Samples over the view's range (split by `groupBy`'s largest groups when given), for the chart above a view. */
export function fetchTimeline(params: URLSearchParams, groupBy?: string): Promise<Timeline> {
  const query = apiParams(params, QUERY_KEYS);
  query.set('buckets', '100');
  query.set('groups', String(PALETTE.length));
  if (groupBy) query.set('groupBy', groupBy);
  return getJson<Timeline>('/api/timeline', query);
}

interface Layer {
  name: string;
  color: string;
  counts: number[];
  total: number;
}

function layersOf(line: Timeline): Layer[] {
  if (line.series.length === 0 && !line.other)
    return [{ name: 'samples', color: PALETTE[0], counts: line.totals, total: sum(line.totals) }];
  const layers = line.series.map((series, i) => ({
    name: series.group ?? '(none)',
    color: PALETTE[i % PALETTE.length],
    counts: series.counts,
    total: series.total,
  }));
  const otherTotal = sum(line.other ?? []);
  if (line.other && otherTotal > 0)
    layers.push({ name: 'other', color: OTHER_COLOR, counts: line.other, total: otherTotal });
  return layers;
}

/**
 * A stacked bar chart of samples per bucket, with a legend; dragging across it zooms the view to the dragged
 * time range (kept in the URL like every other setting).
 */
export function renderTimeline(container: HTMLElement, line: Timeline): void {
  const layers = layersOf(line);
  const buckets = line.starts.length;
  const stackHeights = line.starts.map((_, i) =>
    layers.reduce((height, layer) => height + layer.counts[i], 0),
  );
  const peak = Math.max(1, ...stackHeights);
  const barWidth = WIDTH / Math.max(1, buckets);
  const bars: string[] = [];
  for (let i = 0; i < buckets; i++) {
    let top = HEIGHT;
    for (const layer of layers) {
      const count = layer.counts[i];
      if (count <= 0) continue;
      const height = (count / peak) * HEIGHT;
      top -= height;
      bars.push(
        `<rect x="${(i * barWidth).toFixed(2)}" y="${top.toFixed(2)}" width="${Math.max(barWidth - 0.5, 0.5).toFixed(2)}" height="${height.toFixed(2)}" fill="${layer.color}"><title>${escapeHtml(layer.name)}: ${formatCount(count)} samples at ${timeLabel(line.starts[i])}</title></rect>`,
      );
    }
  }
  const end = (line.starts.at(-1) ?? 0) + line.bucketSeconds;
  container.innerHTML = `
    <div class="timeline-head">
      <span class="muted">samples per ${durationLabel(line.bucketSeconds)} · peak ${formatCount(peak)} · drag to zoom</span>
      <span class="timeline-legend">${layers
        .map(
          (layer) =>
            `<span class="legend-item" data-group="${escapeHtml(layer.name)}"><span class="swatch" style="background:${layer.color}"></span>${escapeHtml(layer.name)} <span class="muted">${formatCount(layer.total)}</span></span>`,
        )
        .join('')}</span>
    </div>
    <div class="timeline-plot">
      <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img" aria-label="samples over time">${bars.join('')}</svg>
      <div class="timeline-selection" hidden></div>
    </div>
    <div class="timeline-axis muted"><span>${timeLabel(line.starts[0] ?? 0)}</span><span>${timeLabel(end)}</span></div>`;
  enableDragZoom(container.querySelector<HTMLElement>('.timeline-plot')!, line.starts[0] ?? 0, end);
}

function enableDragZoom(plot: HTMLElement, start: number, end: number): void {
  const selection = plot.querySelector<HTMLElement>('.timeline-selection')!;
  let anchor: number | undefined;
  const offset = (event: PointerEvent) => {
    const box = plot.getBoundingClientRect();
    return Math.min(Math.max(event.clientX - box.left, 0), box.width);
  };
  const show = (a: number, b: number) => {
    selection.hidden = false;
    selection.style.left = `${Math.min(a, b)}px`;
    selection.style.width = `${Math.abs(b - a)}px`;
  };
  plot.addEventListener('pointerdown', (event) => {
    anchor = offset(event);
    plot.setPointerCapture(event.pointerId);
    show(anchor, anchor);
  });
  plot.addEventListener('pointermove', (event) => {
    if (anchor !== undefined) show(anchor, offset(event));
  });
  plot.addEventListener('pointerup', (event) => {
    if (anchor === undefined) return;
    const [a, b] = [anchor, offset(event)].sort((x, y) => x - y);
    anchor = undefined;
    selection.hidden = true;
    if (b - a < MIN_DRAG_PX) return;
    const width = plot.getBoundingClientRect().width;
    const at = (x: number) => Math.round(start + (x / width) * (end - start));
    updateState({ from: String(at(a)), to: String(at(b)) });
  });
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function timeLabel(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleString();
}

function durationLabel(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? 'day' : `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? 'hour' : `${seconds / 3600} h`;
  if (seconds % 60 === 0) return seconds === 60 ? 'minute' : `${seconds / 60} min`;
  return seconds === 1 ? 'second' : `${seconds} s`;
}
