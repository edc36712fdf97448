/** Hues per frame type, so the language of each frame shows at a glance (similar families, distinct hues). */
const HUES: Record<number, number> = {
  0: 0, // unknown
  1: 210, // Python
  2: 260, // PHP
  3: 30, // native
  4: 0, // kernel
  5: 110, // JVM
  6: 340, // Ruby
  7: 290, // Perl
  8: 55, // JavaScript
  9: 270, // PHP JIT
  10: 190, // .NET
  11: 175, // Go
  12: 320, // BEAM
  13: 240, // LuaJIT
};

export function frameColor(frameType: number, label: string): string {
  if (frameType >= 0x100) return 'hsl(220, 10%, 78%)';
  if (frameType & 0x80) return 'hsl(0, 0%, 55%)';
  const hue = HUES[frameType] ?? 0;
  // A little lightness variation by name keeps neighbours apart without changing the type's colour.
  let hash = 0;
  for (let i = 0; i < label.length && i < 24; i++) hash = (hash * 31 + label.charCodeAt(i)) | 0;
  const lightness = 62 + (Math.abs(hash) % 14);
  const saturation = frameType === 4 ? 70 : 60;
  return `hsl(${hue}, ${saturation}%, ${lightness}%)`;
}

/** Differential colour: red where the comparison spends more (share of samples), blue where it spends less. */
export function diffColor(delta: number): string {
  const strength = Math.min(1, Math.abs(delta) * 4);
  const lightness = 92 - strength * 40;
  return delta >= 0 ? `hsl(0, 75%, ${lightness}%)` : `hsl(215, 75%, ${lightness}%)`;
}

export const LEGEND: [string, number][] = [
  ['Native', 3],
  ['Kernel', 4],
  ['Python', 1],
  ['JVM', 5],
  ['Go', 11],
  ['JavaScript', 8],
  ['PHP', 2],
  ['Ruby', 6],
  ['.NET', 10],
];
