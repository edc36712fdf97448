import type { MissingSymbols } from '../query/missing-symbols.ts';
import { escapeHtml } from './format.ts';

/** How a frame's source position reads: `file:line`, the file alone when the line is unknown, or ''. */
export function sourcePosition(file: string, line: number): string {
  if (!file) return '';
  return line > 0 ? `${file}:${line}` : file;
}

function executableLine(missing: MissingSymbols): string {
  const name = missing.executable
    ? escapeHtml(missing.executable)
    : `<span class="muted">unknown executable (file ID ${escapeHtml(missing.fileId)})</span>`;
  const buildId = missing.buildId ? ` · build ID <code>${escapeHtml(missing.buildId)}</code>` : '';
  return `Executable: ${name}${buildId}`;
}

/**
 * Kibana's "symbols not available" for a native frame, as lines: which executable (and build ID) the
 * symbols are missing for, and the command that uploads them to this server's symbolizer.
 */
export function missingSymbolsLines(missing: MissingSymbols): string[] {
  return [
    '<span class="nosym">Symbols not available</span>',
    executableLine(missing),
    'Add them by uploading the executable (or its debug file) with:',
    `<code class="command">${escapeHtml(missing.command)}</code>`,
  ];
}

/**
 * The same in a collapsed block for tables and listings: one short marker per row, the command one click
 * away, so a table with hundreds of such rows stays readable.
 */
export function missingSymbolsDetails(missing: MissingSymbols): string {
  return `<details class="nosym-details"><summary class="nosym">symbols not available</summary>${executableLine(
    missing,
  )}<br>Upload them with:<pre class="command">${escapeHtml(missing.command)}</pre></details>`;
}
