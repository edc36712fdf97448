import { FRAME_TYPE_ERROR_BIT, FrameType } from '../model/frame-type.ts';
import type { MissingSymbols } from '../query/missing-symbols.ts';
import type { CompactFlamegraph, ImpactPerSample } from './api.ts';
import { frameKind } from './format.ts';

/**
 * What the frame details panel shows about one node of a compact flamegraph, computed from the graph alone
 * (no DOM), so the flamegraph, top functions and stack traces pages share one computation.
 */
export interface FrameFacts {
  node: number;
  /** Index into `graph.frames`; -1 for the root. */
  frame: number;
  /** The frame group's key ('' for the root): what URL state such as `focus` and `hide` names. */
  key: string;
  label: string;
  functionName: string;
  sourceFile: string;
  sourceLine: number;
  executable: string;
  buildId: string;
  fileId: string;
  addressOrLine: number;
  frameType: number;
  /** Human name of the frame type ("Native", "Python", …, or a pseudo level such as "thread"). */
  kind: string;
  /** A real frame, not the root or a grouping level (executable, thread, host, …) above the frames. */
  isFrame: boolean;
  inline: boolean;
  symbolized: boolean;
  /** For an inlined frame: the functions it is inlined into, outermost first, then itself; else empty. */
  inlineChain: string[];
  /** Labels from the first level under the root down to this node. */
  callPath: string[];
  missingSymbols?: MissingSymbols;
  /** Why a frame has no name, when it has none. */
  missingReason?: string;
  rootTotal: number;
  /** This node (one call path). */
  nodeCounts: { self: number; total: number };
  /** The frame group across the whole profile; recursion counted once per stack. */
  functionCounts: { self: number; total: number };
  impactPerSample: ImpactPerSample;
}

interface GraphIndex {
  /** One past the last node of each node's subtree (preorder makes subtrees contiguous). */
  end: Int32Array;
  frameByKey: Map<string, number>;
}

const indexes = new WeakMap<CompactFlamegraph, GraphIndex>();

function indexOf(graph: CompactFlamegraph): GraphIndex {
  let index = indexes.get(graph);
  if (index) return index;
  const { parent } = graph.nodes;
  const end = new Int32Array(graph.size);
  for (let i = 0; i < graph.size; i++) end[i] = i + 1;
  for (let i = graph.size - 1; i > 0; i--) if (end[i] > end[parent[i]]) end[parent[i]] = end[i];
  const frameByKey = new Map<string, number>();
  graph.frames.key.forEach((key, frame) => frameByKey.set(key, frame));
  index = { end, frameByKey };
  indexes.set(graph, index);
  return index;
}

/**
 * Self and total samples of one frame group over all its nodes. A node below another node of the same group
 * (recursion) is already inside that node's total, so only the outermost ones add to it.
 */
export function functionCounts(graph: CompactFlamegraph, frame: number): { self: number; total: number } {
  const { frame: frames, parent, total, self } = graph.nodes;
  let selfSum = 0;
  let totalSum = 0;
  for (let i = 1; i < graph.size; i++) {
    if (frames[i] !== frame) continue;
    selfSum += self[i];
    let outermost = true;
    for (let a = parent[i]; a > 0; a = parent[a])
      if (frames[a] === frame) {
        outermost = false;
        break;
      }
    if (outermost) totalSum += total[i];
  }
  return { self: selfSum, total: totalSum };
}

/** The node reached from the root by following frame-group keys (a stack, root first), or -1. */
export function nodeByPath(graph: CompactFlamegraph, keys: readonly string[]): number {
  const { end, frameByKey } = indexOf(graph);
  let node = 0;
  for (const key of keys) {
    const frame = frameByKey.get(key);
    if (frame === undefined) return -1;
    let found = -1;
    for (let child = node + 1; child < end[node]; child = end[child])
      if (graph.nodes.frame[child] === frame) {
        found = child;
        break;
      }
    if (found < 0) return -1;
    node = found;
  }
  return node;
}

/** The node of a frame group with the most samples (its hottest call path), or -1 when it has none. */
export function hottestNodeOf(graph: CompactFlamegraph, key: string): number {
  const frame = indexOf(graph).frameByKey.get(key);
  if (frame === undefined) return -1;
  let best = -1;
  for (let i = 1; i < graph.size; i++)
    if (graph.nodes.frame[i] === frame && (best < 0 || graph.nodes.total[i] > graph.nodes.total[best]))
      best = i;
  return best;
}

function isNative(frameType: number): boolean {
  return (frameType & ~FRAME_TYPE_ERROR_BIT) === FrameType.Native;
}

/** Why a frame has no function name, from what the response knows about its executable. */
function missingReason(facts: FrameFacts): string | undefined {
  if (!facts.isFrame || facts.symbolized) return undefined;
  if (!isNative(facts.frameType))
    return `The agent sent no name for this ${facts.kind} frame; symbol uploads apply to native code only.`;
  if (!facts.executable)
    return 'The store has no record of this executable (the agent never reported its name or build ID), so the symbolizer cannot look it up: upload its symbols from the host it runs on.';
  if (!facts.buildId)
    return `The agent reported no GNU build ID for ${facts.executable}, so debuginfod servers cannot be asked for it, and no symbols were uploaded for it.`;
  return `No symbols were uploaded for ${facts.executable}, and the debuginfod servers the symbolizer asks did not have build ID ${facts.buildId} (or have not been asked yet).`;
}

export function frameFacts(graph: CompactFlamegraph, node: number): FrameFacts {
  const { frames } = graph;
  const { parent, frame: frameOf, total, self } = graph.nodes;
  const frame = node > 0 ? frameOf[node] : -1;
  const frameType = frame >= 0 ? frames.frameType[frame] : 0x100;
  const at = <T>(column: T[], empty: T): T => (frame >= 0 ? column[frame] : empty);
  const inline = at(frames.inline, false);
  const callPath: string[] = [];
  for (let n = node; n > 0; n = parent[n]) callPath.push(frames.label[frameOf[n]]);
  callPath.reverse();
  // Inline chains are expanded outermost first, so the functions a frame is inlined into are its parents.
  const inlineChain: string[] = [];
  if (inline) {
    let n = node;
    while (n > 0) {
      inlineChain.push(frames.label[frameOf[n]]);
      if (!frames.inline[frameOf[n]]) break;
      n = parent[n];
    }
    inlineChain.reverse();
  }
  const missingIndex = at(frames.missingSymbols, -1);
  const facts: FrameFacts = {
    node,
    frame,
    key: at(frames.key, ''),
    label: node === 0 ? 'all samples' : frames.label[frame],
    functionName: at(frames.functionName, ''),
    sourceFile: at(frames.sourceFile, ''),
    sourceLine: at(frames.sourceLine, 0),
    executable: at(frames.executable, ''),
    buildId: at(frames.buildId, ''),
    fileId: at(frames.fileId, ''),
    addressOrLine: at(frames.addressOrLine, 0),
    frameType,
    kind: frameKind(frameType),
    isFrame: frame >= 0 && frameType < 0x100,
    inline,
    symbolized: at(frames.symbolized, true),
    inlineChain,
    callPath,
    rootTotal: total[0] ?? 0,
    nodeCounts: { self: self[node], total: total[node] },
    functionCounts: frame >= 0 ? functionCounts(graph, frame) : { self: self[0], total: total[0] },
    impactPerSample: graph.impactPerSample,
  };
  if (missingIndex >= 0) facts.missingSymbols = graph.missingSymbols[missingIndex];
  facts.missingReason = missingReason(facts);
  return facts;
}
