import type { DiffTopNResponse } from '../../query/topn.ts';
import { getJson, type CompactFlamegraph } from '../api.ts';
import { diffSummary, diffSummaryHtml, normalizationOf } from '../diff-summary.ts';
import { diffColor } from '../colors.ts';
import { escapeHtml, formatCount, formatPercent, samplingNote } from '../format.ts';
import type { PageContext } from '../main.ts';
import { QUERY_KEYS, apiParams, updateState } from '../state.ts';
import { missingSymbolsDetails } from '../symbols.ts';
import { mountFlamegraph } from './flamegraph.ts';

type DiffTopN = DiffTopNResponse;

const RELATIVE = /^now-(\d+)([smhdw])$/;

/** Without an explicit baseline, compare with the period of the same length just before the range. */
export function defaultBaseline(from: string, to: string): { from: string; to: string } | undefined {
  const match = RELATIVE.exec(from);
  if (match && to === 'now') return { from: `now-${Number(match[1]) * 2}${match[2]}`, to: from };
  if (/^\d+$/.test(from) && /^\d+$/.test(to)) {
    const span = Number(to) - Number(from);
    return { from: String(Number(from) - span), to: from };
  }
  return undefined;
}

export async function renderDiff({ root, params, tooltip }: PageContext): Promise<void> {
  const query = apiParams(params, QUERY_KEYS);
  const fallback = defaultBaseline(query.get('from')!, query.get('to')!);
  const baselineFrom = params.get('baselineFrom') || fallback?.from || '';
  const baselineTo = params.get('baselineTo') || fallback?.to || '';
  const baselineFilter = params.get('baselineFilter') ?? '';
  if (baselineFrom) query.set('baselineFrom', baselineFrom);
  if (baselineTo) query.set('baselineTo', baselineTo);
  if (params.has('baselineFilter')) query.set('baselineFilter', baselineFilter);
  const [graph, top] = await Promise.all([
    getJson<CompactFlamegraph>('/api/diff/flamegraph', query),
    getJson<DiffTopN>('/api/diff/topn', new URLSearchParams([...query.entries(), ['limit', '50']])),
  ]);
  const normalization = normalizationOf(params);
  root.innerHTML = `
    <form class="summary" id="baseline-form">
      <strong>Baseline</strong>
      <label>From <input name="baselineFrom" size="20" value="${escapeHtml(baselineFrom)}"></label>
      <label>To <input name="baselineTo" size="20" value="${escapeHtml(baselineTo)}"></label>
      <label class="grow">Filter <input name="baselineFilter" value="${escapeHtml(baselineFilter)}" placeholder="same as comparison"></label>
      <button type="submit">Compare</button>
    </form>
    ${diffSummaryHtml(diffSummary(top.baseline, top.comparison, normalization), normalization)}
    <div class="summary">
      <span>Comparison <strong>${formatCount(top.comparison.totalCount)}</strong> samples (${escapeHtml(samplingNote(top.comparison.sampling))})</span>
      <span>Baseline <strong>${formatCount(top.baseline.totalCount)}</strong> samples (${escapeHtml(samplingNote(top.baseline.sampling))}); the graph and table scale it ×${top.scale.toFixed(3)} to the comparison’s total</span>
      <span class="legend"><span class="swatch" style="background:${diffColor(0.2)}"></span>more in comparison <span class="swatch" style="background:${diffColor(-0.2)}"></span>less</span>
    </div>`;
  root.querySelector<HTMLFormElement>('#baseline-form')!.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    updateState({
      baselineFrom: String(data.get('baselineFrom') ?? ''),
      baselineTo: String(data.get('baselineTo') ?? ''),
      baselineFilter: String(data.get('baselineFilter') ?? ''),
    });
  });
  wireNormalization(root);
  mountFlamegraph(root, tooltip, graph, params, `/api/diff/flamegraph?${query.toString()}`);
  root.insertAdjacentHTML(
    'beforeend',
    `<h3>Largest changes (self share)</h3>
     <table class="grid" id="diff-table"><thead><tr><th>Function</th><th class="num">Comparison self</th><th class="num">Baseline self (normalised)</th><th class="num">Change</th><th class="num">Rank</th></tr></thead>
     <tbody>${top.functions
       .map(
         (f) => `<tr>
           <td class="fn">${escapeHtml(f.label)}${f.inline ? ' <span class="inline-marker">inlined</span>' : ''}${
             f.missingSymbols ? missingSymbolsDetails(f.missingSymbols) : ''
           }</td>
           <td class="num">${formatCount(f.comparison.self)} <span class="muted">${formatPercent(f.comparison.self, top.comparison.totalCount)}</span></td>
           <td class="num">${formatCount(f.baseline.self)}</td>
           <td class="num" style="background:${diffColor(f.selfDelta)}">${f.selfDelta >= 0 ? '+' : ''}${(f.selfDelta * 100).toFixed(2)} pp</td>
           <td class="num">${f.baseline.rank ?? '—'} → ${f.comparison.rank ?? '—'}</td>
         </tr>`,
       )
       .join('')}</tbody></table>`,
  );
}

/** The normalisation lives in the URL like the rest of the view: switching to time applies at once. */
function wireNormalization(root: HTMLElement): void {
  const form = root.querySelector<HTMLFormElement>('#normalize-form')!;
  const factors = [...form.querySelectorAll<HTMLInputElement>('input[type="number"]')];
  const apply = () => {
    const data = new FormData(form);
    const byScale = data.get('normalize') === 'scale';
    updateState({
      normalize: byScale ? 'scale' : undefined,
      baselineScale: byScale ? String(data.get('baselineScale') ?? '1') : undefined,
      comparisonScale: byScale ? String(data.get('comparisonScale') ?? '1') : undefined,
    });
  };
  for (const radio of form.querySelectorAll<HTMLInputElement>('input[name="normalize"]')) {
    radio.addEventListener('change', () => {
      for (const input of factors) input.disabled = radio.value !== 'scale';
      if (radio.value === 'time') apply();
    });
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply();
  });
}
