import type { DiffSideTotals } from '../query/topn.ts';
import { escapeHtml, formatCo2, formatCount, formatSeconds, formatUsd } from './format.ts';

/**
 * How the two sides of a comparison are made comparable, as in Kibana's differential views: by the lengths of
 * their ranges (the baseline's counts scaled to the comparison's length), or by factors the user sets (say,
 * the baseline ran on 2 hosts and the comparison on 3: scale them by 3 and 2, or by 1/2 and 1/3).
 */
export type Normalization =
  { mode: 'time' } | { mode: 'scale'; baselineScale: number; comparisonScale: number };

export interface SideFigures {
  samples: number;
  cpuSeconds: number;
  annualCo2Tons: number;
  annualCostUsd: number;
}

export interface DiffSummary {
  baseline: SideFigures;
  comparison: SideFigures;
  /** Each side's multiplier of counts and CPU time under the normalisation. */
  baselineScale: number;
  comparisonScale: number;
  /**
   * (comparison − baseline) ÷ baseline of the normalised samples: above 0 the comparison needs more CPU (lost
   * performance), below 0 less (gained); undefined without a baseline.
   */
  change?: number;
}

/** Reads the normalisation from the URL (`normalize=scale&baselineScale=…&comparisonScale=…`). */
export function normalizationOf(params: URLSearchParams): Normalization {
  if (params.get('normalize') !== 'scale') return { mode: 'time' };
  const factor = (name: string) => {
    const value = Number(params.get(name) ?? '1');
    return Number.isFinite(value) && value > 0 ? value : 1;
  };
  return {
    mode: 'scale',
    baselineScale: factor('baselineScale'),
    comparisonScale: factor('comparisonScale'),
  };
}

function figures(side: DiffSideTotals, countScale: number, annualScale: number): SideFigures {
  const samples = side.totalCount * countScale;
  return {
    samples,
    cpuSeconds: samples * side.impactPerSample.cpuSeconds,
    annualCo2Tons: side.totalCount * side.impactPerSample.annualCo2Tons * annualScale,
    annualCostUsd: side.totalCount * side.impactPerSample.annualCostUsd * annualScale,
  };
}

/**
 * The summary's figures. Annualised CO2 and cost are rates per year already, so normalising by time leaves
 * them as they are (scaling the baseline's counts to the comparison's length gives the same yearly figure);
 * a scale factor multiplies them like the counts.
 */
export function diffSummary(
  baseline: DiffSideTotals,
  comparison: DiffSideTotals,
  normalization: Normalization,
): DiffSummary {
  const byTime = normalization.mode === 'time';
  const baselineScale = byTime
    ? baseline.durationSeconds > 0
      ? comparison.durationSeconds / baseline.durationSeconds
      : 1
    : normalization.baselineScale;
  const comparisonScale = byTime ? 1 : normalization.comparisonScale;
  const before = figures(baseline, baselineScale, byTime ? 1 : baselineScale);
  const after = figures(comparison, comparisonScale, byTime ? 1 : comparisonScale);
  return {
    baseline: before,
    comparison: after,
    baselineScale,
    comparisonScale,
    change: before.samples > 0 ? (after.samples - before.samples) / before.samples : undefined,
  };
}

function signedPercent(change: number | undefined): string {
  if (change === undefined || !Number.isFinite(change)) return 'n/a';
  const percent = change * 100;
  return `${percent > 0 ? '+' : ''}${percent.toFixed(Math.abs(percent) >= 10 ? 1 : 2)}%`;
}

function relative(before: number, after: number): number | undefined {
  return before > 0 ? (after - before) / before : undefined;
}

const CARDS: { key: keyof SideFigures; title: string; format: (value: number) => string }[] = [
  { key: 'samples', title: 'Samples', format: formatCount },
  { key: 'cpuSeconds', title: 'CPU time', format: formatSeconds },
  { key: 'annualCo2Tons', title: 'Annualised CO2', format: formatCo2 },
  { key: 'annualCostUsd', title: 'Annualised cost', format: formatUsd },
];

/** The panel: the verdict in words, then baseline → comparison and the change of each figure. */
export function diffSummaryHtml(summary: DiffSummary, normalization: Normalization): string {
  const change = summary.change;
  const verdict =
    change === undefined
      ? 'No samples in the baseline: nothing to compare with.'
      : change === 0
        ? 'Overall performance unchanged.'
        : `${change < 0 ? 'Gained' : 'Lost'} overall performance by <strong>${Math.abs(change * 100).toFixed(2)}%</strong>`;
  const cards = CARDS.map(({ key, title, format }) => {
    const before = summary.baseline[key];
    const after = summary.comparison[key];
    const delta = relative(before, after);
    const tone = delta === undefined || delta === 0 ? '' : delta > 0 ? ' worse' : ' better';
    return `<div class="card diff-card" data-figure="${key}" data-baseline="${before}" data-comparison="${after}" data-change="${delta ?? ''}">
        <div class="muted">${escapeHtml(title)}</div>
        <div class="big${tone}">${escapeHtml(signedPercent(delta))}</div>
        <div class="muted">${escapeHtml(format(before))} → ${escapeHtml(format(after))}</div>
      </div>`;
  }).join('');
  const scale = normalization.mode === 'scale';
  const how = scale
    ? `baseline ×${summary.baselineScale}, comparison ×${summary.comparisonScale}`
    : `baseline ×${summary.baselineScale.toFixed(3)} for the length of the ranges`;
  return `<section id="diff-summary" data-change="${change ?? ''}" data-performance="${change === undefined ? '' : change < 0 ? 'gained' : change > 0 ? 'lost' : 'unchanged'}">
      <form class="summary" id="normalize-form">
        <strong>Normalise</strong>
        <label><input type="radio" name="normalize" value="time"${scale ? '' : ' checked'}> by time</label>
        <label><input type="radio" name="normalize" value="scale"${scale ? ' checked' : ''}> by scale factor</label>
        <label>Baseline × <input name="baselineScale" type="number" min="0" step="any" size="6" value="${scale ? summary.baselineScale : 1}"${scale ? '' : ' disabled'}></label>
        <label>Comparison × <input name="comparisonScale" type="number" min="0" step="any" size="6" value="${scale ? summary.comparisonScale : 1}"${scale ? '' : ' disabled'}></label>
        <button type="submit">Apply</button>
        <span class="muted">${escapeHtml(how)}</span>
      </form>
      <p id="diff-verdict">${verdict}</p>
      <div class="cards">${cards}</div>
    </section>`;
}
