/**
 * Seeds and generators for the OTLP targets: the requests captured from the real agent (corpus/agent-*.binpb,
 * see capture-agent-requests.ts), the hand-written agent-revision fixture in both wire revisions, and a
 * load-generator request; plus a generator of whole requests whose tables and indices are drawn at random
 * (indices past the tables' ends included), which reaches checks that mutating bytes rarely does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ProfileTranslator } from '../../../src/collector/translate.ts';
import { Workload } from '../../../src/loadgen/workload.ts';
import { encodeExportRequest, schema } from '../../../src/protocol/otlp-profiles.ts';
import type {
  AnyValue,
  ExportProfilesServiceRequest,
  KeyValueAndUnit,
  Location,
  Sample,
} from '../../../src/protocol/types.ts';
import { agentRequestBytes } from '../../protocol/agent-request.ts';
import { protobufHotSpots, type Seed } from './mutate.ts';

export const CORPUS_DIR = new URL('../corpus/', import.meta.url).pathname;

/**
 * One translator for a target's cases, as a collector keeps one for all requests (building one costs tens of
 * milliseconds, more than a case). Its caches hold nothing, so a case does not depend on the ones before.
 */
export function caseTranslator(): ProfileTranslator {
  return new ProfileTranslator({
    capacities: { stackTraces: 0, frames: 0, executables: 0, hosts: 0 },
  });
}

export function otlpSeeds(): Seed[] {
  const named: [string, Uint8Array][] = readdirSync(CORPUS_DIR)
    .filter((name) => name.endsWith('.binpb'))
    .sort()
    .map((name) => [name, new Uint8Array(readFileSync(CORPUS_DIR + name))]);
  named.push(['agent-request fixture (current)', agentRequestBytes()]);
  named.push(['agent-request fixture (previous)', agentRequestBytes({ revision: 'previous' })]);
  const workload = new Workload({ seed: 7, hosts: 2, processesPerHost: 2, stacksPerRuntime: 20 });
  named.push(['load generator', encodeExportRequest(workload.next(1_790_000_000_000_000_000n, 60).request)]);
  if (!named.some(([name]) => name.startsWith('agent-')))
    throw new Error(`no agent-*.binpb in ${CORPUS_DIR}`);
  return named.map(([name, bytes]) => ({ name, bytes, hotSpots: protobufHotSpots(bytes) }));
}

/** OTLP/JSON text of each seed, as protobufjs writes it (64-bit integers as strings, bytes as base64). */
export function otlpJsonSeeds(seeds: readonly Seed[]): string[] {
  return seeds.map((seed) => {
    const type = seed.name.includes('previous') ? schema.previousRequest : schema.request;
    const object = type.toObject(type.decode(seed.bytes), { longs: String, bytes: String, defaults: false });
    return JSON.stringify(object);
  });
}

const index = fc.oneof(
  { weight: 8, arbitrary: fc.nat(8) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1) },
);
const int64 = fc.oneof(
  fc.nat(1_000_000),
  fc.constantFrom(0, 2 ** 53 - 1, -1),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({
    low: Number(v & 0xffffffffn) | 0,
    high: Number(v >> 32n) | 0,
    unsigned: true,
  })),
);
const text = fc.oneof(
  fc.constantFrom(
    '',
    'profile.frame.type',
    'native',
    'kernel',
    'cpython',
    'thread.name',
    'process.executable.build_id.htlhash',
    '0123456789abcdef0123456789abcdef',
    'host.name',
    'samples',
    'cpu',
  ),
  fc.string({ maxLength: 40 }),
);
const anyValue: fc.Arbitrary<AnyValue> = fc.oneof(
  text.map((stringValue) => ({ stringValue })),
  int64.map((intValue) => ({ intValue })),
  fc.boolean().map((boolValue) => ({ boolValue })),
  fc.double().map((doubleValue) => ({ doubleValue })),
  index.map((stringValueStrindex) => ({ stringValueStrindex })),
);
const attribute: fc.Arbitrary<KeyValueAndUnit> = fc.record(
  { keyStrindex: index, value: anyValue, unitStrindex: index },
  { requiredKeys: ['keyStrindex'] },
);
const location: fc.Arbitrary<Location> = fc.record(
  {
    mappingIndex: index,
    address: int64,
    lines: fc.array(fc.record({ functionIndex: index, line: int64, column: int64 }), { maxLength: 3 }),
    attributeIndices: fc.array(index, { maxLength: 3 }),
  },
  { requiredKeys: [] },
);
const sample: fc.Arbitrary<Sample> = fc.record(
  {
    stackIndex: index,
    attributeIndices: fc.array(index, { maxLength: 4 }),
    linkIndex: index,
    values: fc.array(int64, { maxLength: 2 }),
    timestampsUnixNano: fc.array(int64, { maxLength: 4 }),
  },
  { requiredKeys: [] },
);

/** Whole requests with random tables: structurally valid protobuf, semantically anything. */
export const generatedRequest: fc.Arbitrary<ExportProfilesServiceRequest> = fc.record({
  dictionary: fc.record(
    {
      stringTable: fc.array(text, { maxLength: 12 }),
      attributeTable: fc.array(attribute, { maxLength: 8 }),
      mappingTable: fc.array(
        fc.record(
          {
            memoryStart: int64,
            memoryLimit: int64,
            fileOffset: int64,
            filenameStrindex: index,
            attributeIndices: fc.array(index, { maxLength: 3 }),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 4 },
      ),
      locationTable: fc.array(location, { maxLength: 8 }),
      functionTable: fc.array(
        fc.record(
          { nameStrindex: index, systemNameStrindex: index, filenameStrindex: index, startLine: int64 },
          { requiredKeys: [] },
        ),
        { maxLength: 6 },
      ),
      stackTable: fc.array(fc.record({ locationIndices: fc.array(index, { maxLength: 6 }) }), {
        maxLength: 6,
      }),
    },
    { requiredKeys: [] },
  ),
  resourceProfiles: fc.array(
    fc.record({
      resource: fc.record({
        attributes: fc.array(fc.record({ key: text, value: anyValue }), { maxLength: 4 }),
      }),
      scopeProfiles: fc.array(
        fc.record({
          profiles: fc.array(
            fc.record(
              {
                sampleType: fc.record({ typeStrindex: index, unitStrindex: index }),
                periodType: fc.record({ typeStrindex: index, unitStrindex: index }),
                period: int64,
                timeUnixNano: int64,
                durationNano: int64,
                samples: fc.array(sample, { maxLength: 6 }),
                attributeIndices: fc.array(index, { maxLength: 3 }),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 2 },
          ),
        }),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 2 },
  ),
});
