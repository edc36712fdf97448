/**
 * A synthetic fleet that produces export requests shaped like the eBPF profiler's: many hosts, processes of
 * different runtimes (native, Go, Python, JVM, Node.js), deep stacks that mix kernel, native and interpreted
 * frames, Zipf-skewed stack popularity, and the attribute names the agent uses. Everything derives from one
 * seed, so a run can be repeated exactly.
 */
import { seededRandom, type RandomSource } from '../model/downsample.ts';
import { uint64Bits, type Int64 } from '../protocol/int64.ts';
import type {
  ExportProfilesServiceRequest,
  KeyValue,
  KeyValueAndUnit,
  Location,
  Mapping,
  ProfileFunction,
  ResourceProfiles,
  Sample,
  Stack,
} from '../protocol/types.ts';

export interface WorkloadOptions {
  /** Seed of every random choice (default 1). */
  seed?: number;
  /** Distinct hosts (agents) in the fleet (default 100). */
  hosts?: number;
  /** Profiled processes per host (default 6). */
  processesPerHost?: number;
  /** Distinct stacks per runtime in the whole fleet (default 4000). */
  stacksPerRuntime?: number;
  /** Zipf exponent of stack popularity: higher means a few hot stacks dominate (default 1.1). */
  zipfExponent?: number;
  /** Sampling frequency the agents run at (default 20 Hz, the agent's default). */
  samplesPerSecond?: number;
  /** Set host.id / host.name / host.ip resource attributes (default true). The standalone agent sends none;
   * without them every request from one connection belongs to one host. */
  hostAttributes?: boolean;
}

export type Runtime = 'native' | 'go' | 'python' | 'jvm' | 'node';
const RUNTIMES: readonly Runtime[] = ['native', 'go', 'python', 'jvm', 'node'];

interface ExecutableSpec {
  name: string;
  /** The kernel image or a module: mapped without addresses, as the agent reports them. */
  kernel?: boolean;
  fileIdHex: string;
  gnuBuildId?: string;
  goBuildId?: string;
  textSize: number;
}

type FrameKind = 'native' | 'kernel' | 'cpython' | 'jvm' | 'v8js';

interface FrameSpec {
  kind: FrameKind;
  executable?: ExecutableSpec;
  /** Address in the file (native, kernel); 0 for interpreted frames. */
  address: bigint;
  functionName?: string;
  fileName?: string;
  line?: number;
  column?: number;
}

interface StackSpec {
  frames: FrameSpec[];
}

interface ProcessSpec {
  pid: number;
  runtime: Runtime;
  executable: ExecutableSpec;
  path: string;
  threads: { name: string; tid: number }[];
  containerId?: string;
  serviceName?: string;
}

interface HostSpec {
  id: string;
  name: string;
  ip: string;
  cpus: number;
  processes: ProcessSpec[];
}

export interface GeneratedRequest {
  request: ExportProfilesServiceRequest;
  /** Sample occurrences in the request (the sum of all timestamps). */
  samples: number;
  hostId: string;
}

export const AGENT_VERSION = 'v0.0.202633';
const SCHEMA_URL = 'https://opentelemetry.io/schemas/1.37.0';
const NANOS_PER_SECOND = 1_000_000_000n;

export class Workload {
  readonly hosts: HostSpec[];
  private readonly random: RandomSource;
  private readonly stacks = new Map<Runtime, StackSpec[]>();
  private readonly popularity: Float64Array;
  private readonly samplesPerSecond: number;
  private readonly hostAttributes: boolean;
  private readonly kernel: ExecutableSpec[];
  private readonly libraries: ExecutableSpec[];
  private nextHost = 0;

  constructor(options: WorkloadOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    this.samplesPerSecond = options.samplesPerSecond ?? 20;
    this.hostAttributes = options.hostAttributes ?? true;
    const stacksPerRuntime = options.stacksPerRuntime ?? 4000;
    this.popularity = zipfCdf(stacksPerRuntime, options.zipfExponent ?? 1.1);
    this.kernel = ['vmlinux', 'ext4', 'nf_conntrack', 'xfs'].map((name) => ({
      ...this.executable(name, 16 << 20),
      kernel: true,
    }));
    this.libraries = [
      'libc.so.6',
      'libstdc++.so.6',
      'libssl.so.3',
      'libcrypto.so.3',
      'libz.so.1',
      'ld-linux-x86-64.so.2',
    ].map((name) => this.executable(name, 2 << 20));
    const programs = this.programs();
    for (const runtime of RUNTIMES) {
      const stacks: StackSpec[] = [];
      for (let i = 0; i < stacksPerRuntime; i++) stacks.push(this.stack(runtime, programs[runtime]));
      this.stacks.set(runtime, stacks);
    }
    this.hosts = [];
    for (let h = 0; h < (options.hosts ?? 100); h++)
      this.hosts.push(this.host(h, options.processesPerHost ?? 6, programs));
  }

  /** The next host's request, round robin over the fleet. */
  next(endNanos: bigint, samples: number, intervalSeconds = 5): GeneratedRequest {
    const host = this.hosts[this.nextHost];
    this.nextHost = (this.nextHost + 1) % this.hosts.length;
    return this.request(host, endNanos, samples, intervalSeconds);
  }

  /**
   * What one agent sends after one reporting interval: `samples` occurrences spread over the interval ending
   * at `endNanos`, grouped the way the agent groups them (one Sample per process, stack and thread, with one
   * timestamp per occurrence).
   */
  request(host: HostSpec, endNanos: bigint, samples: number, intervalSeconds = 5): GeneratedRequest {
    const builder = new RequestBuilder();
    const startNanos = endNanos - BigInt(Math.round(intervalSeconds * 1e9));
    const perProcess = new Map<
      ProcessSpec,
      Map<string, { stack: StackSpec; thread: number; timestamps: bigint[] }>
    >();
    for (let i = 0; i < samples; i++) {
      const process = host.processes[Math.floor(this.random() * host.processes.length)];
      const stackRank = this.zipfRank();
      const stack = this.stacks.get(process.runtime)![stackRank];
      const thread = Math.floor(this.random() * process.threads.length);
      const offset = BigInt(Math.floor(this.random() * intervalSeconds * 1e9));
      let samplesOfProcess = perProcess.get(process);
      if (!samplesOfProcess) perProcess.set(process, (samplesOfProcess = new Map()));
      const key = `${stackRank}/${thread}`;
      let entry = samplesOfProcess.get(key);
      if (!entry) samplesOfProcess.set(key, (entry = { stack, thread, timestamps: [] }));
      entry.timestamps.push(startNanos + offset);
    }
    const resourceProfiles: ResourceProfiles[] = [];
    for (const [process, entries] of perProcess) {
      const profileSamples: Sample[] = [];
      for (const entry of entries.values()) {
        entry.timestamps.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const thread = process.threads[entry.thread];
        profileSamples.push({
          stackIndex: builder.stack(entry.stack),
          attributeIndices: [
            builder.attribute('thread.name', thread.name),
            builder.attribute('thread.id', thread.tid),
            builder.attribute('cpu.logical_number', Math.floor(this.random() * host.cpus)),
          ],
          timestampsUnixNano: entry.timestamps.map((t) => uint64Bits(t)),
        });
      }
      resourceProfiles.push({
        resource: { attributes: this.resourceAttributes(host, process) },
        schemaUrl: SCHEMA_URL,
        scopeProfiles: [
          {
            scope: { name: '/usr/local/bin/ebpf-profiler', version: AGENT_VERSION },
            schemaUrl: SCHEMA_URL,
            profiles: [
              {
                sampleType: {
                  typeStrindex: builder.string('samples'),
                  unitStrindex: builder.string('count'),
                },
                periodType: {
                  typeStrindex: builder.string('cpu'),
                  unitStrindex: builder.string('nanoseconds'),
                },
                period: Math.round(1e9 / this.samplesPerSecond),
                timeUnixNano: uint64Bits(startNanos),
                durationNano: uint64Bits(endNanos - startNanos),
                samples: profileSamples,
              },
            ],
          },
        ],
      });
    }
    return { request: { resourceProfiles, dictionary: builder.dictionary() }, samples, hostId: host.id };
  }

  private zipfRank(): number {
    const u = this.random();
    let low = 0;
    let high = this.popularity.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.popularity[mid] < u) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private resourceAttributes(host: HostSpec, process: ProcessSpec): KeyValue[] {
    const attributes: KeyValue[] = [
      { key: 'process.pid', value: { intValue: process.pid } },
      { key: 'process.executable.path', value: { stringValue: process.path } },
      { key: 'process.executable.name', value: { stringValue: process.executable.name } },
    ];
    if (process.containerId)
      attributes.push({ key: 'container.id', value: { stringValue: process.containerId } });
    if (process.serviceName)
      attributes.push({ key: 'service.name', value: { stringValue: process.serviceName } });
    if (this.hostAttributes) {
      attributes.push(
        { key: 'host.id', value: { stringValue: host.id } },
        { key: 'host.name', value: { stringValue: host.name } },
        { key: 'host.ip', value: { stringValue: host.ip } },
        { key: 'host.arch', value: { stringValue: 'amd64' } },
        { key: 'os.kernel', value: { stringValue: '6.8.0-45-generic' } },
      );
    }
    return attributes;
  }

  // ---- the fleet --------------------------------------------------------------------------------------------

  private hex(bytes: number): string {
    let text = '';
    for (let i = 0; i < bytes; i++)
      text += Math.floor(this.random() * 256)
        .toString(16)
        .padStart(2, '0');
    return text;
  }

  private executable(name: string, textSize: number, go = false): ExecutableSpec {
    const spec: ExecutableSpec = { name, fileIdHex: this.hex(16), textSize };
    if (this.random() < 0.85) spec.gnuBuildId = this.hex(20);
    if (go) spec.goBuildId = `${this.hex(8)}/${this.hex(8)}`;
    return spec;
  }

  private programs(): Record<Runtime, ExecutableSpec[]> {
    return {
      native: ['envoy', 'postgres', 'nginx', 'redis-server'].map((n) => this.executable(n, 48 << 20)),
      go: ['api-server', 'scheduler', 'node-exporter'].map((n) => this.executable(n, 24 << 20, true)),
      python: [this.executable('python3.11', 4 << 20)],
      jvm: [this.executable('libjvm.so', 20 << 20)],
      node: [this.executable('node', 80 << 20)],
    };
  }

  private host(index: number, processCount: number, programs: Record<Runtime, ExecutableSpec[]>): HostSpec {
    const processes: ProcessSpec[] = [];
    for (let p = 0; p < processCount; p++) {
      const runtime = RUNTIMES[Math.floor(this.random() * RUNTIMES.length)];
      const candidates = programs[runtime];
      const executable = candidates[Math.floor(this.random() * candidates.length)];
      const main = runtime === 'jvm' ? 'java' : executable.name;
      const threadNames = THREAD_NAMES[runtime](main);
      processes.push({
        pid: 1000 + Math.floor(this.random() * 60000),
        runtime,
        executable: runtime === 'jvm' ? { ...executable, name: 'java' } : executable,
        path: `/usr/bin/${main}`,
        threads: threadNames.map((name, i) => ({ name: name.slice(0, 15), tid: 1000 + p * 100 + i })),
        containerId: this.random() < 0.6 ? this.hex(32) : undefined,
        serviceName: this.random() < 0.3 ? `svc-${main}` : undefined,
      });
    }
    return {
      id: `host-${index.toString().padStart(4, '0')}-${this.hex(4)}`,
      name: `node-${index}.fleet.internal`,
      ip: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
      cpus: [4, 8, 16, 32, 64][Math.floor(this.random() * 5)],
      processes,
    };
  }

  private nativeFrame(executable: ExecutableSpec): FrameSpec {
    return {
      kind: 'native',
      executable,
      address: BigInt(0x1000 + Math.floor(this.random() * executable.textSize)),
    };
  }

  private kernelFrames(): FrameSpec[] {
    const frames: FrameSpec[] = [];
    const depth = 3 + Math.floor(this.random() * 10);
    for (let i = 0; i < depth; i++) {
      const executable =
        i === 0 && this.random() < 0.2 ? this.kernel[1 + Math.floor(this.random() * 3)] : this.kernel[0];
      // Mostly offsets from the kernel text start (what the agent sends); some full kernel virtual addresses
      // keep 64-bit values above 2^63 exercised end to end.
      const offset = BigInt(Math.floor(this.random() * executable.textSize));
      const address = this.random() < 0.15 ? 0xffffffff81000000n + offset : offset;
      frames.push({
        kind: 'kernel',
        executable,
        address,
        functionName: pick(this.random, KERNEL_SYMBOLS),
        line: 0,
      });
    }
    return frames;
  }

  private interpretedFrames(kind: 'cpython' | 'jvm' | 'v8js', depth: number): FrameSpec[] {
    const names = INTERPRETED_NAMES[kind];
    const frames: FrameSpec[] = [];
    for (let i = 0; i < depth; i++) {
      const module = pick(this.random, names.modules);
      const fn = pick(this.random, names.functions);
      frames.push({
        kind,
        address: 0n,
        functionName: kind === 'jvm' ? `${module}.${fn}` : fn,
        fileName: kind === 'jvm' ? `${module.split('.').pop()}.java` : module,
        line: 1 + Math.floor(this.random() * 800),
        column: kind === 'v8js' ? 1 + Math.floor(this.random() * 120) : 0,
      });
    }
    return frames;
  }

  /** A stack, leaf first: optional kernel part, leaf native frames, the runtime's frames, then its entry. */
  private stack(runtime: Runtime, programs: ExecutableSpec[]): StackSpec {
    const executable = pick(this.random, programs);
    const frames: FrameSpec[] = [];
    if (this.random() < 0.4) frames.push(...this.kernelFrames());
    const leafNative = Math.floor(this.random() * 4);
    for (let i = 0; i < leafNative; i++) frames.push(this.nativeFrame(pick(this.random, this.libraries)));
    switch (runtime) {
      case 'native':
      case 'go':
        for (let i = 0, n = 6 + Math.floor(this.random() * 30); i < n; i++)
          frames.push(this.nativeFrame(executable));
        break;
      case 'python':
        frames.push(...this.interpretedFrames('cpython', 5 + Math.floor(this.random() * 30)));
        for (let i = 0; i < 6; i++) frames.push(this.nativeFrame(executable));
        break;
      case 'jvm':
        frames.push(...this.interpretedFrames('jvm', 10 + Math.floor(this.random() * 50)));
        for (let i = 0; i < 5; i++) frames.push(this.nativeFrame(executable));
        break;
      case 'node':
        frames.push(...this.interpretedFrames('v8js', 5 + Math.floor(this.random() * 25)));
        for (let i = 0; i < 8; i++) frames.push(this.nativeFrame(executable));
        break;
    }
    frames.push(this.nativeFrame(this.libraries[0]), this.nativeFrame(this.libraries[0]));
    return { frames };
  }
}

/** Builds one request's dictionary, interning every entry as the agent does (entry 0 of each table is empty). */
class RequestBuilder {
  private readonly strings = new Map<string, number>([['', 0]]);
  private readonly attributes = new Map<string, number>();
  private readonly attributeTable: KeyValueAndUnit[] = [{}];
  private readonly mappings = new Map<ExecutableSpec, number>();
  private readonly mappingTable: Mapping[] = [{}];
  private readonly functions = new Map<string, number>();
  private readonly functionTable: ProfileFunction[] = [{}];
  private readonly locations = new Map<FrameSpec, number>();
  private readonly locationTable: Location[] = [{}];
  private readonly stacks = new Map<StackSpec, number>();
  private readonly stackTable: Stack[] = [{}];

  string(text: string): number {
    let index = this.strings.get(text);
    if (index === undefined) this.strings.set(text, (index = this.strings.size));
    return index;
  }

  attribute(key: string, value: string | number): number {
    const compound = `${key}=${typeof value}:${value}`;
    let index = this.attributes.get(compound);
    if (index === undefined) {
      index = this.attributeTable.length;
      this.attributes.set(compound, index);
      this.attributeTable.push({
        keyStrindex: this.string(key),
        value: typeof value === 'number' ? { intValue: value } : { stringValue: value },
      });
    }
    return index;
  }

  private mapping(executable: ExecutableSpec): number {
    let index = this.mappings.get(executable);
    if (index === undefined) {
      index = this.mappingTable.length;
      this.mappings.set(executable, index);
      const attributeIndices: number[] = [];
      if (executable.gnuBuildId)
        attributeIndices.push(this.attribute('process.executable.build_id.gnu', executable.gnuBuildId));
      if (executable.goBuildId)
        attributeIndices.push(this.attribute('process.executable.build_id.go', executable.goBuildId));
      attributeIndices.push(this.attribute('process.executable.build_id.htlhash', executable.fileIdHex));
      const kernel = executable.kernel === true;
      this.mappingTable.push({
        memoryStart: kernel ? 0 : 0x1000,
        memoryLimit: kernel ? 0 : 0x1000 + executable.textSize,
        fileOffset: 0,
        filenameStrindex: this.string(executable.name),
        attributeIndices,
      });
    }
    return index;
  }

  private function(name: string, fileName: string): number {
    const key = `${name}\u0000${fileName}`;
    let index = this.functions.get(key);
    if (index === undefined) {
      index = this.functionTable.length;
      this.functions.set(key, index);
      this.functionTable.push({ nameStrindex: this.string(name), filenameStrindex: this.string(fileName) });
    }
    return index;
  }

  private location(frame: FrameSpec): number {
    let index = this.locations.get(frame);
    if (index === undefined) {
      index = this.locationTable.length;
      this.locations.set(frame, index);
      const location: Location = {
        mappingIndex: frame.executable ? this.mapping(frame.executable) : 0,
        address: frame.address === 0n ? 0 : (uint64Bits(frame.address) as Int64),
        attributeIndices: [this.attribute('profile.frame.type', frame.kind)],
      };
      if (frame.functionName !== undefined) {
        location.lines = [
          {
            functionIndex: this.function(frame.functionName, frame.fileName ?? ''),
            line: frame.line ?? 0,
            column: frame.column ?? 0,
          },
        ];
      }
      this.locationTable.push(location);
    }
    return index;
  }

  stack(stack: StackSpec): number {
    let index = this.stacks.get(stack);
    if (index === undefined) {
      index = this.stackTable.length;
      this.stacks.set(stack, index);
      this.stackTable.push({ locationIndices: stack.frames.map((frame) => this.location(frame)) });
    }
    return index;
  }

  dictionary(): ExportProfilesServiceRequest['dictionary'] {
    return {
      stringTable: [...this.strings.keys()],
      attributeTable: this.attributeTable,
      mappingTable: this.mappingTable,
      functionTable: this.functionTable,
      locationTable: this.locationTable,
      stackTable: this.stackTable,
      linkTable: [{}],
    };
  }
}

/** Cumulative Zipf distribution over ranks 0..n-1 (rank r has weight 1/(r+1)^s). */
function zipfCdf(n: number, exponent: number): Float64Array {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) {
    total += 1 / Math.pow(r + 1, exponent);
    cdf[r] = total;
  }
  for (let r = 0; r < n; r++) cdf[r] /= total;
  return cdf;
}

function pick<T>(random: RandomSource, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

/** Nanoseconds since the epoch for a JS time in milliseconds. */
export function nanosFromMillis(millis: number): bigint {
  return BigInt(Math.floor(millis)) * (NANOS_PER_SECOND / 1000n);
}

const KERNEL_SYMBOLS = [
  'entry_SYSCALL_64_after_hwframe',
  'do_syscall_64',
  '__x64_sys_read',
  '__x64_sys_write',
  '__x64_sys_epoll_wait',
  'ksys_read',
  'vfs_read',
  'vfs_write',
  'tcp_sendmsg',
  'tcp_recvmsg',
  'ip_output',
  '__schedule',
  'schedule',
  'do_epoll_wait',
  'ep_poll',
  'copy_user_enhanced_fast_string',
  'asm_exc_page_fault',
  'handle_mm_fault',
  'ext4_file_read_iter',
  'filemap_read',
  'nf_conntrack_in',
  'xfs_file_buffered_write',
  'native_queued_spin_lock_slowpath',
  'finish_task_switch.isra.0',
];

const INTERPRETED_NAMES = {
  cpython: {
    modules: [
      '/app/server.py',
      '/app/handlers/orders.py',
      '/usr/lib/python3.11/json/encoder.py',
      '/usr/lib/python3.11/site-packages/django/core/handlers/base.py',
      '/usr/lib/python3.11/site-packages/sqlalchemy/orm/query.py',
      '/usr/lib/python3.11/socketserver.py',
      '/usr/lib/python3.11/threading.py',
    ],
    functions: [
      'handle',
      'get_response',
      'dispatch',
      'encode',
      'iterencode',
      '_run',
      'execute',
      'all',
      'serve_forever',
      'run',
      'process_request',
      '<module>',
    ],
  },
  jvm: {
    modules: [
      'org.apache.catalina.core.StandardWrapperValve',
      'org.springframework.web.servlet.DispatcherServlet',
      'com.example.orders.OrderService',
      'com.fasterxml.jackson.databind.ObjectMapper',
      'java.util.concurrent.ThreadPoolExecutor',
      'io.netty.channel.nio.NioEventLoop',
      'java.lang.Thread',
    ],
    functions: [
      'invoke',
      'doDispatch',
      'handle',
      'writeValueAsString',
      'runWorker',
      'run',
      'processSelectedKeys',
      'select',
    ],
  },
  v8js: {
    modules: [
      '/srv/app/dist/server.js',
      '/srv/app/node_modules/express/lib/router/index.js',
      '/srv/app/node_modules/express/lib/router/layer.js',
      'node:internal/streams/readable',
      'node:internal/process/task_queues',
      'node:net',
    ],
    functions: [
      'handle',
      'next',
      'processTicksAndRejections',
      'onStreamRead',
      'emit',
      'renderOrder',
      'JSON.stringify',
      'anonymous',
    ],
  },
};

const THREAD_NAMES: Record<Runtime, (main: string) => string[]> = {
  native: (main) => [main, `${main}-worker-1`, `${main}-worker-2`, `${main}-worker-3`],
  go: (main) => [main, main, main],
  python: () => ['python3', 'gunicorn', 'ThreadPoolExec'],
  jvm: () => ['java', 'http-nio-8080-e', 'GC Thread#0', 'C2 CompilerThre', 'pool-1-thread-1'],
  node: () => ['node', 'libuv-worker', 'V8 Worker'],
};
