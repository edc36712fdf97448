import {
  FrameType,
  emptyBatch,
  frameId,
  stackTraceId,
  type FrameRef,
  type ProfileBatch,
  type ProfilingEvent,
  type StackTrace,
} from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';

/**
 * A small, fully known profile: four stacks over an app binary (one frame with an inline chain), an
 * unsymbolized libc frame, a kernel frame and Python frames; events spread over two hosts and threads.
 * Tests compute their expectations from `events` and the stack shapes below, not from the query code.
 */
export const T0 = 1_700_000_000;

export const FILES = {
  app: Buffer.alloc(16, 1).toString('base64url'),
  libc: Buffer.alloc(16, 2).toString('base64url'),
  kernel: Buffer.alloc(16, 3).toString('base64url'),
  python: Buffer.alloc(16, 4).toString('base64url'),
};

function ref(fileId: string, addressOrLine: number): FrameRef {
  return { fileId, addressOrLine: BigInt(addressOrLine) };
}

const MAIN = ref(FILES.app, 0x1000);
const REQUEST_INLINE = ref(FILES.app, 0x2000);
const REQUEST = ref(FILES.app, 0x2004);
const LIBC = ref(FILES.libc, 0x5000);
const SYSCALL = ref(FILES.kernel, 0x9000);
const WORKER_THREAD = ref(FILES.kernel, 0xa000);
const PY_MAIN = ref(FILES.python, 3);
const PY_HANDLER = ref(FILES.python, 10);

function stack(frames: FrameRef[], types: number[]): StackTrace {
  return {
    id: stackTraceId(frames),
    frameIds: frames.map((f) => frameId(f.fileId, f.addressOrLine)),
    frameTypes: types,
  };
}

const N = FrameType.Native;
/** Leaf first, as stored. Root-first labels in the comments. */
export const STACKS = {
  // main → process_request → inlined_helper → libc.so.6+0x5000
  s1: stack([LIBC, REQUEST_INLINE, MAIN], [N, N, N]),
  // main → process_request
  s2: stack([REQUEST, MAIN], [N, N]),
  // main → libc.so.6+0x5000 → do_syscall_64
  s3: stack([SYSCALL, LIBC, MAIN], [FrameType.Kernel, N, N]),
  // <module> → handler
  s4: stack([PY_HANDLER, PY_MAIN], [FrameType.Python, FrameType.Python]),
  // A kernel thread's stack: kernel frames only (root included).
  s5: stack([SYSCALL, WORKER_THREAD], [FrameType.Kernel, FrameType.Kernel]),
};

export const LABELS = {
  main: 'main',
  request: 'process_request',
  inlined: 'inlined_helper',
  libc: 'libc.so.6+0x5000',
  syscall: 'do_syscall_64',
  pyModule: '<module>',
  pyHandler: 'handler',
};

function symbols(ref: FrameRef, names: string[], files: string[], lines: number[]) {
  return {
    frameId: frameId(ref.fileId, ref.addressOrLine),
    functionNames: names,
    fileNames: files,
    lineNumbers: lines,
    functionOffsets: names.map(() => 0),
  };
}

function event(
  timestamp: number,
  id: string,
  count: number,
  host: string,
  thread: string,
  tags: string[] = [],
): ProfilingEvent {
  return {
    timestamp,
    stackTraceId: id,
    count,
    hostId: `id-${host}`,
    hostName: host,
    threadName: thread,
    processName: thread === 'python3' ? 'python3' : 'app',
    containerName: `${host}-c`,
    tags,
    projectId: 1,
  };
}

export const EVENTS: ProfilingEvent[] = [
  event(T0 + 0, STACKS.s1.id, 5, 'web-1', 'worker', ['prod']),
  event(T0 + 1, STACKS.s1.id, 3, 'web-2', 'worker', ['prod']),
  event(T0 + 2, STACKS.s2.id, 7, 'web-1', 'main', ['prod']),
  event(T0 + 3, STACKS.s3.id, 2, 'web-2', 'worker', ['canary']),
  event(T0 + 4, STACKS.s4.id, 11, 'web-1', 'python3', ['prod']),
  event(T0 + 60, STACKS.s2.id, 4, 'web-2', 'main', ['canary']),
  event(T0 + 61, STACKS.s3.id, 6, 'web-1', 'worker', ['prod']),
  // Outside the ranges the tests query:
  event(T0 + 500, STACKS.s2.id, 1000, 'web-1', 'main', ['prod']),
  // Only in ELASTIC_RANGE: events without an executable name (a kernel thread, and one whose stack starts
  // in user space but ends in the kernel) and one without a thread name.
  { ...event(T0 + 200, STACKS.s5.id, 9, 'web-2', 'kworker/0:1'), processName: undefined },
  { ...event(T0 + 201, STACKS.s3.id, 8, 'web-1', 'main'), processName: undefined },
  { ...event(T0 + 202, STACKS.s3.id, 12, 'web-1', 'worker'), threadName: undefined },
];

/** The range the Elasticsearch-flamegraph level tests read: RANGE plus the events above without names. */
export const ELASTIC_RANGE = { from: T0, to: T0 + 300 };

export function fixtureBatch(): ProfileBatch {
  const batch = emptyBatch();
  batch.stackTraces = Object.values(STACKS);
  batch.stackFrames = [
    symbols(MAIN, ['main'], ['main.c'], [10]),
    // Innermost first: inlined_helper was inlined into process_request.
    symbols(REQUEST_INLINE, ['inlined_helper', 'process_request'], ['helper.h', 'server.c'], [5, 42]),
    symbols(REQUEST, ['process_request'], ['server.c'], [44]),
    symbols(SYSCALL, ['do_syscall_64'], ['arch/x86/entry/common.c'], [80]),
    symbols(PY_MAIN, ['<module>'], ['app.py'], [3]),
    symbols(PY_HANDLER, ['handler'], ['app.py'], [10]),
  ];
  batch.executables = [
    { fileId: FILES.app, fileName: 'app', lastSeen: T0 },
    { fileId: FILES.libc, fileName: 'libc.so.6', lastSeen: T0 },
    { fileId: FILES.kernel, fileName: 'vmlinux', lastSeen: T0 },
  ];
  batch.hosts = [
    { hostId: 'id-web-1', timestamp: T0, hostName: 'web-1', arch: 'amd64', projectId: 1, attributes: {} },
    { hostId: 'id-web-2', timestamp: T0, hostName: 'web-2', arch: 'amd64', projectId: 1, attributes: {} },
  ];
  batch.events = EVENTS;
  return batch;
}

export async function fixtureStore(): Promise<EmbeddedStore> {
  const store = new EmbeddedStore({ path: ':memory:', seed: 7 });
  await store.open();
  await store.write(fixtureBatch());
  return store;
}

/** Sum of event counts in [from, to) matching a predicate: the independent expectation. */
export function expectedCount(
  from: number,
  to: number,
  keep: (e: ProfilingEvent) => boolean = () => true,
): number {
  return EVENTS.filter((e) => e.timestamp >= from && e.timestamp < to && keep(e)).reduce(
    (s, e) => s + e.count,
    0,
  );
}
