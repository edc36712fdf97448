import {
  FrameType,
  emptyBatch,
  frameId,
  stackTraceId,
  type FrameRef,
  type ProfileBatch,
  type ProfilingEvent,
  type StackFrameSymbols,
  type StackTrace,
} from '../../src/model/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import type { StoreWriter } from '../../src/store/store.ts';

/**
 * A small, fully known profile: four stacks over an app binary (one frame with an inline chain), an
 * unsymbolized libc frame, a kernel frame and Python frames; events spread over two hosts and threads.
 * The app's native frames get their symbols the way the symbolizer gives them, with `writeStackFrames`
 * after the batch (`NATIVE_SYMBOLS`); kernel and Python frames come with the batch, as the agent names them.
 * In `NATIVE_RANGE`, more native stacks: one function (`compress_block`) at five addresses, with inline
 * chains up to three deep, and native frames without symbols in an executable with a build ID (libz) and in
 * a file the store has no executable record for.
 * Tests compute their expectations from `events` and the stack shapes below, not from the query code.
 */
export const T0 = 1_700_000_000;

export const FILES = {
  app: Buffer.alloc(16, 1).toString('base64url'),
  libc: Buffer.alloc(16, 2).toString('base64url'),
  kernel: Buffer.alloc(16, 3).toString('base64url'),
  python: Buffer.alloc(16, 4).toString('base64url'),
  libz: Buffer.alloc(16, 5).toString('base64url'),
  /** No executable record: the agent never reported this file's name. */
  unknown: Buffer.alloc(16, 6).toString('base64url'),
};

export const LIBZ_BUILD_ID = '4f1c9a0b6a3e2d1c8b7a69584736251403f2e1d0';

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
// compress_block at five addresses: alone, or with copy_words (and load8 within it) inlined.
const COMPRESS_INLINE = ref(FILES.app, 0x3000);
const COMPRESS_CALL = ref(FILES.app, 0x3010);
const COMPRESS_SELF = ref(FILES.app, 0x3014);
const COMPRESS_INLINE_2 = ref(FILES.app, 0x3020);
const COMPRESS_INLINE_3 = ref(FILES.app, 0x3030);
const LIBZ = ref(FILES.libz, 0x7000);
const UNKNOWN_FILE = ref(FILES.unknown, 0x100);

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
  // Only in NATIVE_RANGE:
  // main → compress_block → copy_words (inline)
  s6: stack([COMPRESS_INLINE, MAIN], [N, N]),
  // main → compress_block → libz.so.1+0x7000
  s7: stack([LIBZ, COMPRESS_CALL, MAIN], [N, N, N]),
  // main → compress_block → copy_words (inline), another address
  s8: stack([COMPRESS_INLINE_2, MAIN], [N, N]),
  // main → compress_block → copy_words (inline) → load8 (inline) → <unknown file>+0x100
  s9: stack([UNKNOWN_FILE, COMPRESS_INLINE_3, MAIN], [N, N, N]),
  // main → compress_block (self)
  s10: stack([COMPRESS_SELF, MAIN], [N, N]),
};

/** The range of the stacks s6–s10 (and nothing else). */
export const NATIVE_RANGE = { from: T0 + 1000, to: T0 + 1100 };

export const LABELS = {
  main: 'main',
  request: 'process_request',
  inlined: 'inlined_helper',
  libc: 'libc.so.6+0x5000',
  syscall: 'do_syscall_64',
  pyModule: '<module>',
  pyHandler: 'handler',
  compress: 'compress_block',
  copyWords: 'copy_words',
  load8: 'load8',
  libz: 'libz.so.1+0x7000',
  unknownFile: `file ${FILES.unknown.slice(0, 8)}+0x100`,
};

function symbols(ref: FrameRef, names: string[], files: string[], lines: number[]): StackFrameSymbols {
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
  // NATIVE_RANGE:
  event(T0 + 1000, STACKS.s6.id, 4, 'web-1', 'worker'),
  event(T0 + 1001, STACKS.s7.id, 3, 'web-2', 'worker'),
  event(T0 + 1002, STACKS.s8.id, 2, 'web-1', 'worker'),
  event(T0 + 1003, STACKS.s9.id, 5, 'web-2', 'worker'),
  event(T0 + 1004, STACKS.s10.id, 6, 'web-1', 'main'),
];

/**
 * Symbols of the app's native frames, innermost function first, as the symbolizer writes them: an inlined
 * function's file and line are where the code runs, its caller's the call site.
 */
export function nativeSymbols(): StackFrameSymbols[] {
  return [
    symbols(MAIN, ['main'], ['main.c'], [10]),
    // Innermost first: inlined_helper was inlined into process_request.
    symbols(REQUEST_INLINE, ['inlined_helper', 'process_request'], ['helper.h', 'server.c'], [5, 42]),
    symbols(REQUEST, ['process_request'], ['server.c'], [44]),
    symbols(COMPRESS_INLINE, ['copy_words', 'compress_block'], ['copy.h', 'zlib.c'], [7, 120]),
    symbols(COMPRESS_CALL, ['compress_block'], ['zlib.c'], [125]),
    symbols(COMPRESS_SELF, ['compress_block'], ['zlib.c'], [126]),
    symbols(COMPRESS_INLINE_2, ['copy_words', 'compress_block'], ['copy.h', 'zlib.c'], [9, 130]),
    symbols(
      COMPRESS_INLINE_3,
      ['load8', 'copy_words', 'compress_block'],
      ['bytes.h', 'copy.h', 'zlib.c'],
      [3, 11, 140],
    ),
  ];
}

/** Native frames the collector queues for the symbolizer: those without symbols. */
export const UNSYMBOLIZED_NATIVE = [
  { ref: LIBC, executable: 'libc.so.6' },
  { ref: LIBZ, executable: 'libz.so.1' },
  { ref: UNKNOWN_FILE, executable: '' },
];

/** The range the Elasticsearch-flamegraph level tests read: RANGE plus the events above without names. */
export const ELASTIC_RANGE = { from: T0, to: T0 + 300 };

export function fixtureBatch(): ProfileBatch {
  const batch = emptyBatch();
  batch.stackTraces = Object.values(STACKS);
  batch.stackFrames = [
    symbols(SYSCALL, ['do_syscall_64'], ['arch/x86/entry/common.c'], [80]),
    symbols(PY_MAIN, ['<module>'], ['app.py'], [3]),
    symbols(PY_HANDLER, ['handler'], ['app.py'], [10]),
  ];
  batch.executables = [
    { fileId: FILES.app, fileName: 'app', lastSeen: T0 },
    { fileId: FILES.libc, fileName: 'libc.so.6', lastSeen: T0 },
    { fileId: FILES.kernel, fileName: 'vmlinux', lastSeen: T0 },
    { fileId: FILES.libz, fileName: 'libz.so.1', buildId: LIBZ_BUILD_ID, lastSeen: T0 },
  ];
  batch.pendingFrames = UNSYMBOLIZED_NATIVE.map(({ ref }) => ({
    frameId: frameId(ref.fileId, ref.addressOrLine),
    fileId: ref.fileId,
    address: Number(ref.addressOrLine),
  }));
  batch.hosts = [
    { hostId: 'id-web-1', timestamp: T0, hostName: 'web-1', arch: 'amd64', projectId: 1, attributes: {} },
    { hostId: 'id-web-2', timestamp: T0, hostName: 'web-2', arch: 'amd64', projectId: 1, attributes: {} },
  ];
  batch.events = EVENTS;
  return batch;
}

/** The batch as the collector writes it, then the native frames' symbols as the symbolizer writes them. */
export async function writeFixture(store: StoreWriter): Promise<void> {
  await store.write(fixtureBatch());
  await store.writeStackFrames(nativeSymbols());
}

export async function fixtureStore(): Promise<EmbeddedStore> {
  const store = new EmbeddedStore({ path: ':memory:', seed: 7 });
  await store.open();
  await writeFixture(store);
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
