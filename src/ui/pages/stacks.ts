import type { GroupedStacksResponse, StackFrameView } from '../../query/stacks.ts';
import { getJson } from '../api.ts';
import { showStackFrameDetails } from '../frame-details.ts';
import { frameColor } from '../colors.ts';
import { escapeHtml, formatCount, formatPercent, samplingNote } from '../format.ts';
import type { PageContext } from '../main.ts';
import { emptyStateHtml } from './setup.ts';
import { QUERY_KEYS, apiParams, updateState } from '../state.ts';
import { missingSymbolsDetails, sourcePosition } from '../symbols.ts';
import { fetchTimeline, renderTimeline } from '../timeline-chart.ts';

type GroupedStacks = GroupedStacksResponse;

const DIMENSIONS: [string, string][] = [
  ['host.name', 'Host'],
  ['container.name', 'Container'],
  ['process.executable.name', 'Process'],
  ['process.thread.name', 'Thread'],
  ['tags', 'Tag'],
  ['service.name', 'Service'],
  ['k8s.namespace.name', 'Namespace'],
  ['orchestrator.resource.name', 'Pod'],
];

/** The executables of the listed frames that lack symbols, once each, with their upload commands. */
function missingSymbolsSummary(data: GroupedStacks): string {
  if (data.missingSymbols.length === 0) return '';
  return `<section id="missing-symbols" class="notice">
    <strong>Symbols not available</strong> for native frames of ${data.missingSymbols.length} executable(s) below:
    <ul>${data.missingSymbols
      .map(
        (m) =>
          `<li>${m.executable ? escapeHtml(m.executable) : `file ${escapeHtml(m.fileId)}`}${
            m.buildId ? ` <span class="muted">build ID ${escapeHtml(m.buildId)}</span>` : ''
          }<pre class="command">${escapeHtml(m.command)}</pre></li>`,
      )
      .join('')}</ul>
  </section>`;
}

/** One frame of a listed stack: name, inline marker, its own file:line, or the missing-symbols hint. */
function frameItem(frame: StackFrameView): string {
  const inline = frame.inline ? ' <span class="inline-marker">inlined</span>' : '';
  const position = sourcePosition(frame.sourceFile, frame.sourceLine);
  let detail = position ? ` <span class="muted src">${escapeHtml(position)}</span>` : '';
  if (frame.missingSymbols) detail = missingSymbolsDetails(frame.missingSymbols);
  else if (!frame.symbolized && frame.frameType < 0x100)
    detail += ' <span class="nosym">symbols not available</span>';
  return `<li data-key="${escapeHtml(frame.key)}" tabindex="0"><span class="swatch" style="background:${frameColor(frame.frameType, frame.label)}"></span>${escapeHtml(frame.label)}${inline}${detail}</li>`;
}

export async function renderStacks({ root, params }: PageContext): Promise<void> {
  const groupBy = params.get('groupBy') || 'host.name';
  const query = apiParams(params, QUERY_KEYS);
  query.set('groupBy', groupBy);
  query.set('stacks', '5');
  const [data, line] = await Promise.all([
    getJson<GroupedStacks>('/api/stacktraces', query),
    fetchTimeline(params, groupBy),
  ]);
  root.innerHTML = `
    <section id="timeline" class="timeline"></section>
    ${data.totalCount === 0 ? emptyStateHtml() : ''}
    <div class="summary">
      <label>Group by <select id="dimension">${DIMENSIONS.map(
        ([value, name]) => `<option value="${value}"${value === groupBy ? ' selected' : ''}>${name}</option>`,
      ).join('')}</select></label>
      <span><strong>${formatCount(data.totalCount)}</strong> samples in ${data.groups.length} groups</span>
      <span class="muted">${escapeHtml(samplingNote(data.sampling))}</span>
    </div>
    ${missingSymbolsSummary(data)}
    <div id="groups">${data.groups
      .map(
        (group) => `<details class="group">
          <summary>
            <span class="bar" style="width:${Math.max(1, group.fraction * 100).toFixed(1)}%"></span>
            <span class="group-name">${escapeHtml(group.value || '(none)')}</span>
            <span class="num">${formatCount(group.count)} · ${formatPercent(group.count, data.totalCount)} · ${group.stackCount} stacks</span>
          </summary>
          ${group.stacks
            .map(
              (stack) => `<div class="stack">
                <div class="stack-head">${formatCount(stack.count)} samples (${formatPercent(stack.count, group.count)} of group)</div>
                <ol>${stack.frames.map(frameItem).join('')}</ol>
              </div>`,
            )
            .join('')}
        </details>`,
      )
      .join('')}</div>`;
  renderTimeline(root.querySelector<HTMLElement>('#timeline')!, line);
  // A frame of a listed stack opens its details, on the stack's own path (the frames above it, root first).
  const openFrame = (item: HTMLElement | null, event: Event) => {
    if (!item?.dataset.key || (event.target as HTMLElement).closest('.nosym-details')) return;
    const frames = [...item.parentElement!.querySelectorAll<HTMLElement>(':scope > li[data-key]')];
    const keys = frames.slice(0, frames.indexOf(item) + 1).map((li) => li.dataset.key!);
    void showStackFrameDetails(params, keys, item);
  };
  const groups = root.querySelector<HTMLElement>('#groups')!;
  groups.addEventListener('click', (event) =>
    openFrame((event.target as HTMLElement).closest<HTMLElement>('li[data-key]'), event),
  );
  groups.addEventListener('keydown', (event) => {
    if (event.key === 'Enter')
      openFrame((event.target as HTMLElement).closest<HTMLElement>('li[data-key]'), event);
  });
  root.querySelector<HTMLSelectElement>('#dimension')!.addEventListener('change', (event) => {
    updateState({ groupBy: (event.target as HTMLSelectElement).value });
  });
}
