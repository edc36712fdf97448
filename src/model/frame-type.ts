/**
 * Frame types as the agent numbers them (its eBPF frame markers). The same small integers are stored in
 * `Stacktrace.frame.types` and read by Kibana, so they must never be renumbered.
 */
export const FrameType = {
  Unknown: 0,
  Python: 1,
  PHP: 2,
  Native: 3,
  Kernel: 4,
  HotSpot: 5,
  Ruby: 6,
  Perl: 7,
  V8: 8,
  PHPJIT: 9,
  Dotnet: 10,
  Go: 11,
  BEAM: 12,
  LuaJIT: 13,
} as const;
export type FrameType = number;

/** Set on a frame type when the agent hit an error unwinding at that frame. */
export const FRAME_TYPE_ERROR_BIT = 0x80;
export const ABORT_FRAME_TYPE = FRAME_TYPE_ERROR_BIT | FrameType.Unknown;

/** The `profile.frame.type` attribute strings the agent sends, mapped to frame types. */
const byAgentName: ReadonlyMap<string, FrameType> = new Map([
  ['unknown', FrameType.Unknown],
  ['cpython', FrameType.Python],
  ['python', FrameType.Python],
  ['php', FrameType.PHP],
  ['phpjit', FrameType.PHPJIT],
  ['native', FrameType.Native],
  ['kernel', FrameType.Kernel],
  ['jvm', FrameType.HotSpot],
  ['hotspot', FrameType.HotSpot],
  ['ruby', FrameType.Ruby],
  ['perl', FrameType.Perl],
  ['v8js', FrameType.V8],
  ['dotnet', FrameType.Dotnet],
  ['go', FrameType.Go],
  ['beam', FrameType.BEAM],
  ['luajit', FrameType.LuaJIT],
  ['abort-marker', ABORT_FRAME_TYPE],
]);

const displayNames: ReadonlyMap<FrameType, string> = new Map([
  [FrameType.Unknown, 'unknown'],
  [FrameType.Python, 'Python'],
  [FrameType.PHP, 'PHP'],
  [FrameType.Native, 'Native'],
  [FrameType.Kernel, 'Kernel'],
  [FrameType.HotSpot, 'JVM'],
  [FrameType.Ruby, 'Ruby'],
  [FrameType.Perl, 'Perl'],
  [FrameType.V8, 'JavaScript'],
  [FrameType.PHPJIT, 'PHP JIT'],
  [FrameType.Dotnet, '.NET'],
  [FrameType.Go, 'Go'],
  [FrameType.BEAM, 'BEAM'],
  [FrameType.LuaJIT, 'LuaJIT'],
]);

/** Returns undefined for a name we do not know, so the caller decides how loud to be about it. */
export function frameTypeFromAgentName(name: string): FrameType | undefined {
  return byAgentName.get(name.toLowerCase());
}

export function frameTypeName(type: FrameType): string {
  if (type === ABORT_FRAME_TYPE) return 'abort';
  const base = displayNames.get(type & ~FRAME_TYPE_ERROR_BIT) ?? `type ${type & ~FRAME_TYPE_ERROR_BIT}`;
  return type & FRAME_TYPE_ERROR_BIT ? `${base} (error)` : base;
}

/** Native and kernel frames carry an address that the symbolizer resolves; the rest carry a line number. */
export function isAddressFrame(type: FrameType): boolean {
  const base = type & ~FRAME_TYPE_ERROR_BIT;
  return base === FrameType.Native || base === FrameType.Kernel;
}
