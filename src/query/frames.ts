import { isAddressFrame, parseFrameId, type FrameType, type StackFrameSymbols } from '../model/index.ts';
import type { StoreReader } from '../store/store.ts';
import type { Executable, StackTrace } from '../model/index.ts';

/**
 * One function as it appears in flamegraphs and tables. Frames of the same function at different addresses
 * share a group (so a hot function is one node, not one per instruction); unsymbolized frames are grouped by
 * executable and address, because that is all we know about them yet.
 */
export interface FrameGroup {
  key: string;
  /** What the UI prints: the function name, or executable+address until the symbolizer has run. */
  label: string;
  functionName: string;
  sourceFile: string;
  sourceLine: number;
  functionOffset: number;
  frameType: FrameType;
  inline: boolean;
  fileId: string;
  executable: string;
  /** Address (native, kernel) or line number (interpreted) of the first frame seen for the group. */
  addressOrLine: number;
  symbolized: boolean;
}

/** Interns frame groups to small integers so trees and tables work on numbers, not strings. */
export class FrameGroupTable {
  readonly groups: FrameGroup[] = [];
  private readonly byKey = new Map<string, number>();

  intern(group: FrameGroup): number {
    const existing = this.byKey.get(group.key);
    if (existing !== undefined) return existing;
    const id = this.groups.length;
    this.groups.push(group);
    this.byKey.set(group.key, id);
    return id;
  }

  get size(): number {
    return this.groups.length;
  }
}

/** Stacks expanded to frame-group IDs, root first; inline chains become consecutive entries. */
export interface ExpandedStacks {
  table: FrameGroupTable;
  stacks: Map<string, Int32Array>;
  /** Per stack, the frame types it contains, for the frame-type filter. */
  frameTypes: Map<string, readonly FrameType[]>;
  /** Stack trace IDs the store did not know (events written before their stack): counted, not drawn. */
  missingStackTraces: string[];
}

const LOOKUP_CHUNK = 10_000;

/**
 * Remembers what the store returned for IDs that cannot change: stack traces are content-addressed, and a
 * frame's symbols or an executable's name, once known, stay. Misses (unsymbolized frames) are not cached, so
 * the symbolizer's later work shows up on the next query. Each map is dropped whole when it reaches `limit`:
 * simpler than an LRU and good enough for a cache whose working set is "the stacks of recent queries".
 */
export class LookupCache {
  readonly stackTraces = new Map<string, StackTrace>();
  readonly stackFrames = new Map<string, StackFrameSymbols>();
  readonly executables = new Map<string, Executable>();

  constructor(readonly limit = 300_000) {}

  async lookup<V>(
    cache: Map<string, V>,
    ids: readonly string[],
    fetch: (chunk: readonly string[]) => Promise<Map<string, V>>,
  ): Promise<Map<string, V>> {
    const found = new Map<string, V>();
    const missing: string[] = [];
    for (const id of ids) {
      const hit = cache.get(id);
      if (hit !== undefined) found.set(id, hit);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    const fetched = await inChunks(missing, fetch);
    if (cache.size + fetched.size > this.limit) cache.clear();
    for (const [id, value] of fetched) {
      found.set(id, value);
      if (fetched.size <= this.limit) cache.set(id, value);
    }
    return found;
  }
}

async function inChunks<V>(
  ids: readonly string[],
  lookup: (chunk: readonly string[]) => Promise<Map<string, V>>,
): Promise<Map<string, V>> {
  const merged = new Map<string, V>();
  for (let start = 0; start < ids.length; start += LOOKUP_CHUNK) {
    const part = await lookup(ids.slice(start, start + LOOKUP_CHUNK));
    for (const [id, value] of part) merged.set(id, value);
  }
  return merged;
}

function shortFileId(fileId: string): string {
  return fileId.slice(0, 8);
}

function unsymbolizedGroup(
  frameType: FrameType,
  fileId: string,
  addressOrLine: bigint,
  executable: string,
): FrameGroup {
  const where = executable || `file ${shortFileId(fileId)}`;
  const label = isAddressFrame(frameType)
    ? `${where}+0x${addressOrLine.toString(16)}`
    : `${where}:${addressOrLine.toString(10)}`;
  return {
    key: `u|${frameType}|${fileId}|${addressOrLine}`,
    label,
    functionName: '',
    sourceFile: '',
    sourceLine: 0,
    functionOffset: 0,
    frameType,
    inline: false,
    fileId,
    executable,
    addressOrLine: Number(addressOrLine),
    symbolized: false,
  };
}

/**
 * The groups of one frame, outermost function first: the symbols list the inline chain innermost first, and a
 * root-to-leaf walk meets the caller (the function the code was inlined into) before what it inlined.
 */
function symbolizedGroups(
  frameType: FrameType,
  fileId: string,
  addressOrLine: bigint,
  executable: string,
  symbols: StackFrameSymbols,
): FrameGroup[] {
  const count = symbols.functionNames.length;
  const groups: FrameGroup[] = [];
  for (let i = count - 1; i >= 0; i--) {
    const functionName = symbols.functionNames[i] ?? '';
    const sourceFile = symbols.fileNames[i] ?? '';
    groups.push({
      key: `s|${frameType}|${executable || fileId}|${sourceFile}|${functionName}`,
      label: functionName || `${executable || shortFileId(fileId)}+0x${addressOrLine.toString(16)}`,
      functionName,
      sourceFile,
      sourceLine: symbols.lineNumbers[i] ?? 0,
      functionOffset: symbols.functionOffsets[i] ?? 0,
      frameType,
      inline: i < count - 1,
      fileId,
      executable,
      addressOrLine: Number(addressOrLine),
      symbolized: true,
    });
  }
  return groups;
}

/** Reads the stacks, symbols and executables behind a set of stack trace IDs and expands them. */
export async function expandStacks(
  reader: StoreReader,
  stackTraceIds: readonly string[],
  table = new FrameGroupTable(),
  cache = new LookupCache(),
): Promise<ExpandedStacks> {
  const traces = await cache.lookup(cache.stackTraces, stackTraceIds, (chunk) =>
    reader.getStackTraces(chunk),
  );
  const frameIds = new Set<string>();
  for (const trace of traces.values()) for (const id of trace.frameIds) frameIds.add(id);
  const frameIdList = [...frameIds];
  const parsed = new Map<string, { fileId: string; addressOrLine: bigint }>();
  const fileIds = new Set<string>();
  for (const id of frameIdList) {
    const frame = parseFrameId(id);
    parsed.set(id, frame);
    fileIds.add(frame.fileId);
  }
  const [symbols, executables] = await Promise.all([
    cache.lookup(cache.stackFrames, frameIdList, (chunk) => reader.getStackFrames(chunk)),
    cache.lookup(cache.executables, [...fileIds], (chunk) => reader.getExecutables(chunk)),
  ]);

  // Frame IDs repeat across stacks; a frame's groups depend only on (frame ID, frame type). The type is
  // nearly always the same for one ID, so it is checked rather than made part of the key.
  const groupsOfFrame = new Map<string, { frameType: FrameType; ids: number[] }>();
  const stacks = new Map<string, Int32Array>();
  const frameTypes = new Map<string, readonly FrameType[]>();
  const missingStackTraces: string[] = [];

  for (const id of stackTraceIds) {
    const trace = traces.get(id);
    if (!trace) {
      missingStackTraces.push(id);
      continue;
    }
    const expanded: number[] = [];
    for (let i = trace.frameIds.length - 1; i >= 0; i--) {
      const frameId = trace.frameIds[i];
      const frameType = trace.frameTypes[i] ?? 0;
      const cached = groupsOfFrame.get(frameId);
      let ids = cached && cached.frameType === frameType ? cached.ids : undefined;
      if (!ids) {
        const { fileId, addressOrLine } = parsed.get(frameId) ?? parseFrameId(frameId);
        const executable = executables.get(fileId)?.fileName ?? '';
        const frameSymbols = symbols.get(frameId);
        const groups =
          frameSymbols && frameSymbols.functionNames.length > 0
            ? symbolizedGroups(frameType, fileId, addressOrLine, executable, frameSymbols)
            : [unsymbolizedGroup(frameType, fileId, addressOrLine, executable)];
        ids = groups.map((group) => table.intern(group));
        if (!cached) groupsOfFrame.set(frameId, { frameType, ids });
      }
      for (const groupId of ids) expanded.push(groupId);
    }
    stacks.set(id, Int32Array.from(expanded));
    frameTypes.set(id, trace.frameTypes);
  }
  return { table, stacks, frameTypes, missingStackTraces };
}
