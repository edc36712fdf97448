/**
 * Shared set-up for the collector tests: a real embedded store in a temporary directory, a collector on free
 * loopback ports, export requests shaped like the agent's, and small gRPC / HTTP clients.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { createCollector, type Collector, type CollectorAddresses } from '../../src/collector/collector.ts';
import type { CollectorOptionsInput } from '../../src/collector/options.ts';
import { uint64Bits } from '../../src/protocol/int64.ts';
import { EXPORT_METHOD_PATH, encodeExportRequest } from '../../src/protocol/otlp-profiles.ts';
import type { ExportProfilesServiceRequest } from '../../src/protocol/types.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import type { Store, StoreStats } from '../../src/store/store.ts';

export const TOKEN = 'test-secret-token-7f3a';

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-collector-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Running {
  collector: Collector;
  store: Store;
  addresses: CollectorAddresses;
  dbPath: string;
  /** http://host:port */
  url: string;
}

export const quietLogger = () => pino({ level: process.env.UNIPROF_TEST_LOG ?? 'silent' });

/** A collector on free ports over a fresh embedded store; stopped (and the store closed) after the test. */
export async function startCollector(
  t: TestContext,
  overrides: CollectorOptionsInput = {},
  wrapStore: (store: Store) => Store = (store) => store,
): Promise<Running> {
  const dbPath = join(tempDir(t), 'uniprof.duckdb');
  const store = wrapStore(new EmbeddedStore({ path: dbPath, seed: 1 }));
  const collector = createCollector(
    {
      grpc: { host: '127.0.0.1', port: 0, ...overrides.grpc },
      http: { host: '127.0.0.1', port: 0, ...overrides.http },
      auth: overrides.auth ?? { secretToken: TOKEN },
      writeQueue: overrides.writeQueue,
      admission: overrides.admission,
      shutdownTimeoutMs: overrides.shutdownTimeoutMs ?? 5_000,
      record: overrides.record,
    },
    store,
    quietLogger(),
  );
  const addresses = await collector.start();
  t.after(() => collector.stop());
  return { collector, store, addresses, dbPath, url: addresses.httpAddress };
}

export async function storedCounts(store: Store): Promise<StoreStats> {
  return store.stats();
}

export function assertEmpty(stats: StoreStats): void {
  const { events, stackTraces, stackFrames, executables, hosts } = stats;
  const held = { events, stackTraces, stackFrames, executables, hosts };
  for (const [kind, count] of Object.entries(held)) {
    if (count !== 0)
      throw new Error(`store should hold nothing, but holds ${count} ${kind}: ${JSON.stringify(held)}`);
  }
}

// ---- export requests ----

export interface RequestShape {
  hostId?: string;
  /** Distinct stacks, each sampled `samplesPerStack` times. */
  stacks?: number;
  samplesPerStack?: number;
  /** Seconds since the epoch of the samples. */
  timestamp?: number;
}

const FILE_ID_HEX = '0123456789abcdef0123456789abcdef';

/**
 * A request shaped like the agent's (one shared dictionary; native frames with a file ID mapping attribute;
 * samples with `thread.name`, counted by their timestamps), plus `host.id` as the collector distribution's
 * resource detection adds it. Every stack has two native frames and one Python frame.
 */
export function agentLikeRequest(shape: RequestShape = {}): ExportProfilesServiceRequest {
  const stacks = shape.stacks ?? 3;
  const perStack = shape.samplesPerStack ?? 4;
  const seconds = shape.timestamp ?? Math.floor(Date.now() / 1000) - 30;
  const strings = [
    '',
    'samples',
    'count',
    'cpu',
    'nanoseconds',
    'process.executable.build_id.htlhash',
    'profile.frame.type',
    'native',
    'libapp.so',
    'thread.name',
    'worker-1',
    'python',
    'handle_request',
    'server.py',
  ];
  const s = (text: string) => strings.indexOf(text);
  const locations: NonNullable<NonNullable<ExportProfilesServiceRequest['dictionary']>['locationTable']> = [
    {},
  ];
  const stackTable: Array<{ locationIndices: number[] }> = [{ locationIndices: [] }];
  for (let i = 0; i < stacks; i++) {
    const first = locations.length;
    locations.push({ mappingIndex: 1, address: 0x1000 + i * 16, attributeIndices: [2] });
    locations.push({ mappingIndex: 1, address: 0x9000 + i * 16, attributeIndices: [2] });
    locations.push({ lines: [{ functionIndex: 1, line: 10 + i }], attributeIndices: [4] });
    stackTable.push({ locationIndices: [first, first + 1, first + 2] });
  }
  const samples = [];
  for (let i = 1; i <= stacks; i++) {
    const timestamps = Array.from({ length: perStack }, (_, k) =>
      uint64Bits(BigInt(seconds) * 1_000_000_000n + BigInt(k) * 50_000_000n),
    );
    samples.push({ stackIndex: i, attributeIndices: [3], timestampsUnixNano: timestamps });
  }
  return {
    dictionary: {
      stringTable: strings,
      attributeTable: [
        {},
        { keyStrindex: s('process.executable.build_id.htlhash'), value: { stringValue: FILE_ID_HEX } },
        { keyStrindex: s('profile.frame.type'), value: { stringValue: 'native' } },
        { keyStrindex: s('thread.name'), value: { stringValue: 'worker-1' } },
        { keyStrindex: s('profile.frame.type'), value: { stringValue: 'python' } },
      ],
      mappingTable: [{}, { filenameStrindex: s('libapp.so'), attributeIndices: [1] }],
      locationTable: locations,
      functionTable: [{}, { nameStrindex: s('handle_request'), filenameStrindex: s('server.py') }],
      stackTable,
      linkTable: [{}],
    },
    resourceProfiles: [
      {
        resource: {
          attributes: [
            { key: 'host.id', value: { stringValue: shape.hostId ?? 'host-a' } },
            { key: 'host.name', value: { stringValue: shape.hostId ?? 'host-a' } },
            { key: 'process.executable.name', value: { stringValue: 'app' } },
          ],
        },
        scopeProfiles: [
          {
            scope: { name: 'ebpf-profiler', version: 'v0.0.202633' },
            profiles: [
              {
                sampleType: { typeStrindex: s('samples'), unitStrindex: s('count') },
                periodType: { typeStrindex: s('cpu'), unitStrindex: s('nanoseconds') },
                period: 50_000_000,
                timeUnixNano: uint64Bits(BigInt(seconds) * 1_000_000_000n),
                durationNano: 5_000_000_000,
                samples,
              },
            ],
          },
        ],
      },
    ],
  };
}

export function agentLikeBytes(shape: RequestShape = {}): Buffer {
  return Buffer.from(encodeExportRequest(agentLikeRequest(shape)));
}

// ---- gRPC client ----

export interface GrpcAnswer {
  code: grpc.status;
  details: string;
  metadata?: grpc.Metadata;
}

export function grpcClient(
  address: string,
  options: {
    credentials?: grpc.ChannelCredentials;
    gzip?: boolean;
    channelOptions?: grpc.ChannelOptions;
  } = {},
): grpc.Client {
  return new grpc.Client(address, options.credentials ?? grpc.credentials.createInsecure(), {
    ...(options.gzip ? { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } : {}),
    // Let oversized messages reach the server: its limit is what the tests are about.
    'grpc.max_send_message_length': -1,
    ...options.channelOptions,
  });
}

/** One Export call (`token` null: send none); resolves with the status whether OK or not. */
export function grpcExport(
  client: grpc.Client,
  body: Buffer,
  token: string | null = TOKEN,
): Promise<GrpcAnswer> {
  const metadata = new grpc.Metadata();
  if (token !== null) metadata.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    const pass = (bytes: Buffer) => bytes;
    client.makeUnaryRequest(
      EXPORT_METHOD_PATH,
      pass,
      pass,
      body,
      metadata,
      { deadline: Date.now() + 10_000 },
      (error) => {
        if (!error) resolve({ code: grpc.status.OK, details: '' });
        else resolve({ code: error.code, details: error.details, metadata: error.metadata });
      },
    );
  });
}

// ---- HTTP client ----

export interface HttpExport {
  body: Buffer | string;
  contentType?: string;
  contentEncoding?: string;
  token?: string | null;
}

export async function httpExport(url: string, request: HttpExport): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': request.contentType ?? 'application/x-protobuf' };
  if (request.contentEncoding) headers['content-encoding'] = request.contentEncoding;
  const token = request.token === undefined ? TOKEN : request.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const body = typeof request.body === 'string' ? request.body : new Uint8Array(request.body);
  return fetch(`${url}/v1development/profiles`, { method: 'POST', headers, body });
}
