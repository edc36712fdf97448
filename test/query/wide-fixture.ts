import {
  FrameType,
  emptyBatch,
  frameId,
  seededRandom,
  stackTraceId,
  type FrameRef,
  type ProfileBatch,
  type ProfilingEvent,
} from '../../src/model/index.ts';

/**
 * A wide synthetic profile for UI and speed tests: random walks down a tree with `branching` children per
 * level, so deep levels make most paths distinct and the flamegraph has well over 100,000 nodes. Functions are
 * few (depth × branching), stacks many. `hot_function` sits at a fixed depth in a known share of stacks.
 */
export interface WideProfile {
  batch: ProfileBatch;
  totalCount: number;
  /** Samples whose stack contains hot_function (counted while generating). */
  hotCount: number;
  from: number;
  to: number;
}

export const HOT_FUNCTION = 'hot_function';

export function wideProfile(options: {
  stacks: number;
  depth: number;
  branching: number;
  seed?: number;
}): WideProfile {
  const random = seededRandom(options.seed ?? 1);
  const fileId = Buffer.alloc(16, 9).toString('base64url');
  const from = 1_700_000_000;
  const batch = emptyBatch();
  const frameRefs = new Map<string, FrameRef>();
  const refOf = (depth: number, child: number): FrameRef => {
    const key = `${depth}/${child}`;
    let ref = frameRefs.get(key);
    if (!ref) {
      ref = { fileId, addressOrLine: BigInt(0x10000 + depth * 0x1000 + child * 0x10) };
      frameRefs.set(key, ref);
      const name = depth === 3 && child === 0 ? HOT_FUNCTION : `fn_d${depth}_c${child}`;
      batch.stackFrames.push({
        frameId: frameId(ref.fileId, ref.addressOrLine),
        functionNames: [name],
        fileNames: [`src/level${depth}.c`],
        lineNumbers: [child + 1],
        functionOffsets: [0],
      });
    }
    return ref;
  };
  const seen = new Set<string>();
  let totalCount = 0;
  let hotCount = 0;
  const events: ProfilingEvent[] = [];
  for (let s = 0; s < options.stacks; s++) {
    const rootFirst: FrameRef[] = [];
    let hot = false;
    for (let d = 0; d < options.depth; d++) {
      const child = Math.floor(random() * options.branching);
      if (d === 3 && child === 0) hot = true;
      rootFirst.push(refOf(d, child));
    }
    const leafFirst = rootFirst.reverse();
    const id = stackTraceId(leafFirst);
    if (!seen.has(id)) {
      seen.add(id);
      batch.stackTraces.push({
        id,
        frameIds: leafFirst.map((f) => frameId(f.fileId, f.addressOrLine)),
        frameTypes: leafFirst.map(() => FrameType.Native),
      });
    }
    const count = 1 + Math.floor(random() * 4);
    totalCount += count;
    if (hot) hotCount += count;
    events.push({
      timestamp: from + (s % 600),
      stackTraceId: id,
      count,
      hostId: `host-${s % 3}`,
      hostName: `host-${s % 3}`,
      threadName: `thread-${s % 5}`,
      processName: 'wide',
      tags: [],
      projectId: 1,
    });
  }
  batch.events = events;
  batch.executables = [{ fileId, fileName: 'wide', lastSeen: from }];
  batch.hosts = [0, 1, 2].map((i) => ({
    hostId: `host-${i}`,
    hostName: `host-${i}`,
    timestamp: from,
    arch: 'amd64',
    projectId: 1,
    attributes: {},
  }));
  return { batch, totalCount, hotCount, from, to: from + 600 };
}
