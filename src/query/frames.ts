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
  /** GNU build ID (hex) of the executable, as the agent reported it; '' when unknown. */
  buildId: string;
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

  /** The ID of the group with this key, if one was interned. */
  idOf(key: string): number | undefined {
    return this.byKey.get(key);
  }

  private ranks = new Int32Array(0);

  /** Each group's position in label order; recomputed only after new groups were interned. */
  labelRanks(): Int32Array {
    if (this.ranks.length === this.groups.length) return this.ranks;
    const groups = this.groups;
    const order = Array.from(groups.keys()).sort((a, b) =>
      groups[a].label < groups[b].label ? -1 : groups[a].label > groups[b].label ? 1 : a - b,
    );
    const ranks = new Int32Array(groups.length);
    order.forEach((group, index) => (ranks[group] = index));
    this.ranks = ranks;
    return ranks;
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
  /**
   * The source line of each entry of one stack (same order as its groups): a group is a function at any
   * address and keeps the line of the first frame seen, while a view of single stacks wants each frame's
   * own. Computed on demand, for the few stacks a view lists; undefined if the stack is unknown.
   */
  sourceLines(stackTraceId: string): Int32Array | undefined;
}

const LOOKUP_CHUNK = 10_000;

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

/**
 * One kind of lookup: hits kept until the map is full (unless `keepHits` is false), misses remembered for a
 * short while.
 */
class CachedLookup<V> {
  private readonly hits = new Map<string, V>();
  private readonly misses = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly missTtlMs: number,
    private readonly keepHits = true,
  ) {}

  async get(
    ids: readonly string[],
    fetch: (chunk: readonly string[]) => Promise<Map<string, V>>,
    nowMs: number,
  ): Promise<Map<string, V>> {
    const found = new Map<string, V>();
    const wanted: string[] = [];
    for (const id of ids) {
      const hit = this.hits.get(id);
      if (hit !== undefined) found.set(id, hit);
      else if ((this.misses.get(id) ?? 0) <= nowMs) wanted.push(id);
    }
    if (wanted.length === 0) return found;
    const fetched = await inChunks(wanted, fetch);
    if (this.hits.size + fetched.size > this.limit) this.hits.clear();
    if (this.misses.size + wanted.length > this.limit) this.misses.clear();
    for (const id of wanted) {
      const value = fetched.get(id);
      if (value === undefined) {
        if (this.missTtlMs > 0) this.misses.set(id, nowMs + this.missTtlMs);
        continue;
      }
      found.set(id, value);
      if (this.keepHits) this.hits.set(id, value);
    }
    return found;
  }
}

/**
 * Remembers what the store returned for IDs whose answer does not change: stack traces are content-addressed,
 * and a frame's symbols or an executable's name, once known, stay. Misses (frames the symbolizer has not
 * reached yet) are remembered for `missTtlMs` only, so its work shows up within that time. Short, because a
 * user waiting for a name keeps asking, and every ask inside the window still shows the address. Maps are
 * dropped whole when they reach `limit`: simpler than an LRU, and the working set is "the stacks of recent
 * queries".
 *
 * A frame's symbols are not kept once read: its expansion (its groups) is, and a symbolized frame's never
 * expires, so they would be read again only after the expansions start over. Kept, they were a fifth of a
 * busy server's heap (54 MB for 127,000 frames in a soak).
 */
export class LookupCache {
  readonly stackTraces: CachedLookup<StackTrace>;
  readonly stackFrames: CachedLookup<StackFrameSymbols>;
  readonly executables: CachedLookup<Executable>;
  private state: ExpansionState = newExpansionState();

  constructor(
    readonly limit = 300_000,
    readonly missTtlMs = 2_000,
    readonly clock: () => number = Date.now,
  ) {
    // A stack trace ID the store does not know yet may be written any moment (events can arrive first).
    this.stackTraces = new CachedLookup(limit, 0);
    this.stackFrames = new CachedLookup(limit, missTtlMs, false);
    this.executables = new CachedLookup(limit, missTtlMs);
  }

  /**
   * The frame-group table and expansions shared by every query through this cache, so that queries compared
   * with each other (differential views) name the same function with the same group ID.
   */
  expansionState(): ExpansionState {
    return this.state;
  }

  /** Starts over when the shared state has grown past the limit; running queries keep their reference. */
  trim(): void {
    const { table, frames, stacks } = this.state;
    if (table.size > this.limit || frames.size > this.limit || stacks.size > this.limit) {
      this.state = newExpansionState();
    }
  }
}

/**
 * A frame's groups, outermost first, each with the frame's own source line there (0 when unknown);
 * `expiresMs` is Infinity once nothing about the frame can change. One is kept per frame of every stack
 * queried, and most frames have a single group: it sits in the object, and only an inline chain's further
 * groups take an array (two arrays per frame made each expansion about twice its size now).
 */
interface FrameExpansion {
  frameType: FrameType;
  fileId: string;
  group: number;
  line: number;
  /** The inline chain's further groups and lines, interleaved: group, line, group, line, … */
  inlined: number[] | undefined;
  expiresMs: number;
}

function expansionOf(
  frameType: FrameType,
  fileId: string,
  groups: readonly number[],
  lines: readonly number[],
  expiresMs: number,
): FrameExpansion {
  let inlined: number[] | undefined;
  for (let i = 1; i < groups.length; i++) (inlined ??= []).push(groups[i], lines[i]);
  return { frameType, fileId, group: groups[0], line: lines[0], inlined, expiresMs };
}

/** Appends the expansion's groups (or, with `lines`, its source lines) to `out`. */
function appendExpansion(expansion: FrameExpansion, out: number[], lines: boolean): void {
  out.push(lines ? expansion.line : expansion.group);
  const inlined = expansion.inlined;
  if (inlined) for (let i = lines ? 1 : 0; i < inlined.length; i += 2) out.push(inlined[i]);
}

interface ExpansionState {
  table: FrameGroupTable;
  frames: Map<string, FrameExpansion>;
  /** Expanded stacks, valid until the first of their frames' expansions expires. */
  stacks: Map<string, { stack: Int32Array; expiresMs: number }>;
  /** One string per file ID, shared by its frames' groups (parsing a frame ID makes a new one each time). */
  fileIds: Map<string, string>;
}

function newExpansionState(): ExpansionState {
  return { table: new FrameGroupTable(), frames: new Map(), stacks: new Map(), fileIds: new Map() };
}

/**
 * A string of the parts, flat. A template literal builds a tree of cons strings, one per part, and a cached
 * key keeps its tree: 200 bytes for an unsymbolized frame's key against 80 joined (measured).
 */
function joined(...parts: (string | number | bigint)[]): string {
  return parts.join('');
}

/** A frame ID's parts, its file ID the state's one string for it. */
function parseFrame(state: ExpansionState, frameId: string): { fileId: string; addressOrLine: bigint } {
  const frame = parseFrameId(frameId);
  const shared = state.fileIds.get(frame.fileId);
  if (shared !== undefined) frame.fileId = shared;
  else state.fileIds.set(frame.fileId, frame.fileId);
  return frame;
}

function shortFileId(fileId: string): string {
  return fileId.slice(0, 8);
}

function unsymbolizedGroup(
  frameType: FrameType,
  fileId: string,
  addressOrLine: bigint,
  executable: string,
  buildId: string,
): FrameGroup {
  const where = executable || `file ${shortFileId(fileId)}`;
  const label = isAddressFrame(frameType)
    ? joined(where, '+0x', addressOrLine.toString(16))
    : joined(where, ':', addressOrLine);
  return {
    // The executable's name is part of the key: a frame first seen before its executable was known gets a
    // new group (with the name) once it is, instead of keeping the nameless one.
    key: joined('u|', frameType, '|', fileId, '|', addressOrLine, '|', executable),
    label,
    functionName: '',
    sourceFile: '',
    sourceLine: 0,
    functionOffset: 0,
    frameType,
    inline: false,
    fileId,
    executable,
    buildId,
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
  buildId: string,
  symbols: StackFrameSymbols,
): FrameGroup[] {
  const count = symbols.functionNames.length;
  const groups: FrameGroup[] = [];
  for (let i = count - 1; i >= 0; i--) {
    const functionName = symbols.functionNames[i] ?? '';
    const sourceFile = symbols.fileNames[i] ?? '';
    groups.push({
      // The inline flag is part of the identity: the same function inlined and called is shown (and exported
      // to pprof) as two frames, each with the right flag.
      key: joined(
        's|',
        i < count - 1 ? 'i' : 'o',
        '|',
        frameType,
        '|',
        executable || fileId,
        '|',
        sourceFile,
        '|',
        functionName,
      ),
      label: functionName || joined(executable || shortFileId(fileId), '+0x', addressOrLine.toString(16)),
      functionName,
      sourceFile,
      sourceLine: symbols.lineNumbers[i] ?? 0,
      functionOffset: symbols.functionOffsets[i] ?? 0,
      frameType,
      inline: i < count - 1,
      fileId,
      executable,
      buildId,
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
  cache = new LookupCache(),
): Promise<ExpandedStacks> {
  const now = cache.clock();
  const state = cache.expansionState();
  const traces = await cache.stackTraces.get(stackTraceIds, (chunk) => reader.getStackTraces(chunk), now);

  // Look up symbols and executables only for frames whose expansion is not cached (or has expired).
  const pending = new Set<string>();
  // Only native and kernel frames are labelled with their executable; interpreted frames carry synthetic
  // file IDs (one per function) that name no executable, so looking them up would only cost time.
  const fileIds = new Set<string>();
  const parsed = new Map<string, { fileId: string; addressOrLine: bigint }>();
  for (const id of stackTraceIds) {
    if ((state.stacks.get(id)?.expiresMs ?? 0) > now) continue;
    const trace = traces.get(id);
    if (!trace) continue;
    for (let i = 0; i < trace.frameIds.length; i++) {
      const frameId = trace.frameIds[i];
      if (pending.has(frameId)) continue;
      const known = state.frames.get(frameId);
      if (known && known.expiresMs > now) continue;
      pending.add(frameId);
      let fileId = known?.fileId;
      if (fileId === undefined) {
        const frame = parseFrame(state, frameId);
        parsed.set(frameId, frame);
        fileId = frame.fileId;
      }
      if (isAddressFrame(trace.frameTypes[i] ?? 0)) fileIds.add(fileId);
    }
  }
  const [symbols, executables] = await Promise.all([
    cache.stackFrames.get([...pending], (chunk) => reader.getStackFrames(chunk), now),
    cache.executables.get([...fileIds], (chunk) => reader.getExecutables(chunk), now),
  ]);

  const expandFrame = (frameId: string, frameType: FrameType): FrameExpansion => {
    const known = state.frames.get(frameId);
    if (known && known.frameType === frameType && (known.expiresMs > now || !pending.has(frameId)))
      return known;
    const fileId = known ? known.fileId : (parsed.get(frameId) ?? parseFrame(state, frameId)).fileId;
    const executableRecord = executables.get(fileId);
    const executable = executableRecord?.fileName ?? '';
    const buildId = executableRecord?.buildId ?? '';
    const frameSymbols = symbols.get(frameId);
    const symbolized = frameSymbols !== undefined && frameSymbols.functionNames.length > 0;
    // Still without symbols and under the same executable name: its group stands, until the next look.
    // (Most frames of a fleet without debug files: building their groups again made a warm flamegraph of
    // 241,000 nodes allocate twice what it does now.)
    if (known && !symbolized && known.frameType === frameType) {
      const group = state.table.groups[known.group];
      if (!group.symbolized && group.executable === executable) {
        known.expiresMs = now + cache.missTtlMs;
        return known;
      }
    }
    const { addressOrLine } = parsed.get(frameId) ?? parseFrame(state, frameId);
    const groups = symbolized
      ? symbolizedGroups(frameType, fileId, addressOrLine, executable, buildId, frameSymbols)
      : [unsymbolizedGroup(frameType, fileId, addressOrLine, executable, buildId)];
    // Final once symbolized and, for native/kernel frames, the executable is known: nothing left to learn.
    const final = symbolized && (executable !== '' || !isAddressFrame(frameType));
    const expansion = expansionOf(
      frameType,
      fileId,
      groups.map((group) => state.table.intern(group)),
      groups.map((group) => group.sourceLine),
      final ? Infinity : now + cache.missTtlMs,
    );
    if (!known || known.frameType === frameType) state.frames.set(frameId, expansion);
    return expansion;
  };

  const stacks = new Map<string, Int32Array>();
  const frameTypes = new Map<string, readonly FrameType[]>();
  const missingStackTraces: string[] = [];
  for (const id of stackTraceIds) {
    const trace = traces.get(id);
    if (!trace) {
      missingStackTraces.push(id);
      continue;
    }
    frameTypes.set(id, trace.frameTypes);
    const known = state.stacks.get(id);
    if (known && known.expiresMs > now) {
      stacks.set(id, known.stack);
      continue;
    }
    const expanded: number[] = [];
    let expiresMs = Infinity;
    for (let i = trace.frameIds.length - 1; i >= 0; i--) {
      const expansion = expandFrame(trace.frameIds[i], trace.frameTypes[i] ?? 0);
      if (expansion.expiresMs < expiresMs) expiresMs = expansion.expiresMs;
      appendExpansion(expansion, expanded, false);
    }
    const stack = Int32Array.from(expanded);
    stacks.set(id, stack);
    state.stacks.set(id, { stack, expiresMs });
  }
  cache.trim();
  const sourceLines = (stackTraceId: string): Int32Array | undefined => {
    const trace = traces.get(stackTraceId);
    const stack = stacks.get(stackTraceId);
    if (!trace || !stack) return undefined;
    const lines: number[] = [];
    for (let i = trace.frameIds.length - 1; i >= 0; i--) {
      const expansion = state.frames.get(trace.frameIds[i]);
      if (!expansion) return undefined;
      appendExpansion(expansion, lines, true);
    }
    // A frame expanded again since this stack was (its symbols arrived) no longer matches its groups.
    return lines.length === stack.length ? Int32Array.from(lines) : undefined;
  };
  return { table: state.table, stacks, frameTypes, missingStackTraces, sourceLines };
}
