import { frameTypeName } from '../model/frame-type.ts';

export function formatCount(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return Math.round(value).toLocaleString('en-US');
}

export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const percent = (part / whole) * 100;
  return `${percent >= 10 ? percent.toFixed(1) : percent.toFixed(2)}%`;
}

export function formatSeconds(seconds: number): string {
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(2)} h`;
  if (seconds >= 60) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds >= 1) return `${seconds.toFixed(2)} s`;
  return `${(seconds * 1000).toFixed(0)} ms`;
}

export function formatCo2(tons: number): string {
  if (tons >= 1) return `${tons.toFixed(2)} t`;
  if (tons >= 0.001) return `${(tons * 1000).toFixed(2)} kg`;
  return `${(tons * 1e6).toFixed(1)} g`;
}

export function formatUsd(usd: number): string {
  return `$${usd >= 100 ? usd.toFixed(0) : usd.toFixed(2)}`;
}

/** Frame type names, including the pseudo types of the nodes above the frames. */
export function frameKind(type: number): string {
  if (type === 0x100) return 'root';
  if (type === 0x101) return 'executable';
  if (type === 0x102) return 'thread';
  if (type === 0x103) return 'group';
  return frameTypeName(type);
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function samplingNote(sampling: { samplingLevel: number; scale: number; eventsRead: number }): string {
  return sampling.samplingLevel === 0
    ? `all events (${formatCount(sampling.eventsRead)} read)`
    : `downsampled level ${sampling.samplingLevel}: counts ×${sampling.scale} (${formatCount(sampling.eventsRead)} events read)`;
}
