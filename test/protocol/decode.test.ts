import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidRequestError,
  decodeExportRequest,
  decodeExportRequestJson,
  decodeExportRequestView,
  decodeExportRequestWithRevision,
  decodeExportResponse,
  encodeExportRequest,
  encodeExportResponse,
  exportResponseJson,
  nanosHalvesToSeconds,
  nanosToSeconds,
  toInt64,
  toSafeNumber,
  toUint64,
  uint64Bits,
  schema,
} from '../../src/protocol/index.ts';
import { seededRandom } from '../../src/model/index.ts';
import {
  ATTRIBUTES,
  KERNEL_ADDRESS,
  NATIVE_ADDRESS,
  STRINGS,
  T1,
  T2,
  T3,
  agentRequestBytes,
} from './agent-request.ts';
import { bytes, varint } from './wire-writer.ts';

function rejects(fn: () => unknown, reason: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidRequestError, `expected InvalidRequestError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('binary decoding at the agent revision', () => {
  it('reads every field the agent sends with its wire number', () => {
    const { request, revision } = decodeExportRequestWithRevision(agentRequestBytes());
    assert.equal(revision, 'current');
    const dictionary = request.dictionary!;
    assert.deepEqual(dictionary.stringTable, STRINGS);
    assert.equal(dictionary.attributeTable!.length, ATTRIBUTES.length);
    assert.equal(dictionary.attributeTable![1].value!.stringValue, 'kworker/0:1');
    assert.equal(dictionary.mappingTable![1].filenameStrindex, STRINGS.indexOf('myapp'));
    assert.deepEqual(dictionary.mappingTable![1].attributeIndices, [2, 7]);
    assert.equal(toUint64(dictionary.locationTable![1].address), NATIVE_ADDRESS);
    // Above 2^63: every bit must survive.
    assert.equal(toUint64(dictionary.locationTable![2].address), KERNEL_ADDRESS);
    assert.equal(toInt64(dictionary.locationTable![3].lines![0].line), 42n);
    assert.equal(toInt64(dictionary.locationTable![3].lines![0].column), 7n);
    assert.deepEqual(dictionary.stackTable![1].locationIndices, [2, 1, 3]);

    const scope = request.resourceProfiles![0].scopeProfiles![0];
    assert.equal(scope.scope!.version, 'v0.0.202633');
    const profile = scope.profiles![0];
    assert.equal(STRINGS[profile.sampleType!.typeStrindex!], 'samples');
    assert.equal(STRINGS[profile.periodType!.unitStrindex!], 'nanoseconds');
    assert.equal(toUint64(profile.timeUnixNano), T1 - 5_000_000_000n);
    assert.equal(toSafeNumber(profile.period), 50_000_000);
    const [first, second] = profile.samples!;
    assert.equal(first.stackIndex, 1);
    assert.deepEqual(first.attributeIndices, [1]);
    assert.deepEqual(
      first.timestampsUnixNano!.map((t) => toUint64(t)),
      [T1, T2, T3],
    );
    assert.deepEqual(second.attributeIndices, [1, 8]);
    const resource = request.resourceProfiles![0].resource!;
    assert.equal(resource.attributes![0].key, 'host.id');
    assert.equal(toInt64(resource.attributes![2].value!.intValue), 4242n);
  });

  it('reads the previous revision, whose Sample numbers its fields differently', () => {
    const { request, revision } = decodeExportRequestWithRevision(
      agentRequestBytes({ revision: 'previous' }),
    );
    assert.equal(revision, 'previous');
    const samples = request.resourceProfiles![0].scopeProfiles![0].profiles![0].samples!;
    assert.deepEqual(samples[0].attributeIndices, [1]);
    assert.deepEqual(samples[1].attributeIndices, [1, 8]);
    assert.equal(samples[0].values!.length, 0);
  });

  it('decodes to the same content as protobufjs does on its own', () => {
    const wire = agentRequestBytes();
    const lazy = decodeExportRequest(wire);
    const plain = schema.request.toObject(schema.request.decode(wire), { longs: String, bytes: String });
    const fromLazy = schema.request.toObject(schema.request.fromObject(lazy), {
      longs: String,
      bytes: String,
    });
    assert.deepEqual(fromLazy, plain);
  });

  it('round-trips what it encodes, 64-bit values included', () => {
    const request = {
      dictionary: {
        stringTable: ['', 'x'],
        locationTable: [{}, { mappingIndex: 0, address: uint64Bits(0xffff_ffff_ffff_fff0n) }],
      },
      resourceProfiles: [
        {
          scopeProfiles: [
            {
              profiles: [{ samples: [{ stackIndex: 1, values: [3], timestampsUnixNano: [uint64Bits(T2)] }] }],
            },
          ],
        },
      ],
    };
    const decoded = decodeExportRequest(encodeExportRequest(request));
    assert.equal(toUint64(decoded.dictionary!.locationTable![1].address), 0xffff_ffff_ffff_fff0n);
    const sample = decoded.resourceProfiles![0].scopeProfiles![0].profiles![0].samples![0];
    assert.equal(toUint64(sample.timestampsUnixNano![0]), T2);
    assert.equal(toSafeNumber(sample.values![0]), 3);
  });

  it('encodes and decodes the response', () => {
    const wire = encodeExportResponse({
      partialSuccess: { rejectedProfiles: 2, errorMessage: 'two were off-CPU' },
    });
    const response = decodeExportResponse(wire);
    assert.equal(response.partialSuccess!.errorMessage, 'two were off-CPU');
    assert.equal(toSafeNumber(response.partialSuccess!.rejectedProfiles), 2);
    assert.equal(encodeExportResponse().length, 0);
    assert.deepEqual(exportResponseJson({ partialSuccess: { rejectedProfiles: 2, errorMessage: 'x' } }), {
      partialSuccess: { rejectedProfiles: '2', errorMessage: 'x' },
    });
  });
});

describe('malformed protobuf is rejected with a message naming the problem', () => {
  const good = agentRequestBytes();

  it('truncated anywhere', () => {
    for (const cut of [1, 7, Math.floor(good.length / 2), good.length - 1]) {
      rejects(() => decodeExportRequest(good.subarray(0, cut)), 'malformed_protobuf', /malformed protobuf/);
    }
  });

  it('a length running past the end', () => {
    rejects(
      () => decodeExportRequest(Uint8Array.from([0x12, 0x7f, 0x01])),
      'malformed_protobuf',
      /runs past the end/,
    );
  });

  it('an invalid wire type', () => {
    rejects(
      () => decodeExportRequest(Uint8Array.from([0x1f, 0x00])),
      'malformed_protobuf',
      /invalid wire type 7 for field 3/,
    );
  });

  it('a known field with the wrong wire type', () => {
    // dictionary (field 2) sent as a varint.
    rejects(
      () => decodeExportRequest(Uint8Array.from([0x10, 0x01])),
      'malformed_protobuf',
      /field 2 has unexpected wire type 0/,
    );
    // Sample.stack_index (field 1) as a length-delimited field, inside a valid nesting.
    const nested = bytes([
      {
        field: 1,
        message: [
          {
            field: 2,
            message: [{ field: 2, message: [{ field: 2, message: [{ field: 1, bytes: 'xx' }] }] }],
          },
        ],
      },
    ]);
    rejects(() => decodeExportRequest(nested), 'malformed_protobuf', /field 1 has unexpected wire type 2/);
  });

  it('a varint longer than ten bytes', () => {
    // An unknown varint field 3 whose value never ends within ten bytes.
    const tooLong = Uint8Array.from([0x18, ...new Array(11).fill(0xff), 0x01]);
    rejects(() => decodeExportRequest(tooLong), 'malformed_protobuf', /varint/);
  });

  it('garbage', () => {
    const random = seededRandom(3);
    let rejected = 0;
    for (let i = 0; i < 200; i++) {
      const noise = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
      try {
        decodeExportRequest(noise);
      } catch (error) {
        assert.ok(error instanceof InvalidRequestError, `noise ${i} threw ${String(error)}`);
        rejected++;
      }
    }
    assert.ok(rejected > 150, `only ${rejected} of 200 random inputs were rejected`);
  });

  it('unknown fields are skipped, so newer senders still get through', () => {
    const extended = Uint8Array.from([
      ...agentRequestBytes(),
      ...varint((99 << 3) | 0),
      5,
      ...varint((98 << 3) | 5),
      1,
      2,
      3,
      4,
    ]);
    const view = decodeExportRequestView(extended);
    assert.equal(view.dictionary.locationCount, 4);
  });
});

describe('OTLP/JSON', () => {
  const json = {
    resourceProfiles: [
      {
        resource: { attributes: [{ key: 'host.id', value: { stringValue: 'host-j' } }] },
        scopeProfiles: [
          {
            scope: { name: 'agent', version: 'v0.0.202633' },
            profiles: [
              {
                sampleType: { typeStrindex: 1, unitStrindex: 2 },
                timeUnixNano: '1790000000000000000',
                period: '50000000',
                profileId: '0102030405060708090a0b0c0d0e0f10',
                samples: [
                  {
                    stackIndex: 1,
                    attributeIndices: [1],
                    timestampsUnixNano: [T1.toString(), T2.toString()],
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
    dictionary: {
      stringTable: ['', 'samples', 'count', 'thread.name', 'main'],
      attributeTable: [{}, { keyStrindex: 3, value: { stringValue: 'main' } }],
      locationTable: [{}, { address: KERNEL_ADDRESS.toString(), attributeIndices: [] }],
      stack_table: [{}, { location_indices: [1] }],
      linkTable: [{}, { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174' }],
      mappingTable: [{ memoryStart: 4096 }],
    },
  };

  it('decodes lowerCamelCase (and proto) names, 64-bit strings, hex IDs', () => {
    const request = decodeExportRequestJson(json);
    const dictionary = request.dictionary!;
    assert.equal(toUint64(dictionary.locationTable![1].address), KERNEL_ADDRESS);
    assert.deepEqual(dictionary.stackTable![1].locationIndices, [1]);
    assert.equal(
      Buffer.from(dictionary.linkTable![1].traceId!).toString('hex'),
      '5b8efff798038103d269b633813fc60c',
    );
    const profile = request.resourceProfiles![0].scopeProfiles![0].profiles![0];
    assert.equal(Buffer.from(profile.profileId!).toString('hex'), '0102030405060708090a0b0c0d0e0f10');
    assert.deepEqual(
      profile.samples![0].timestampsUnixNano!.map((t) => toUint64(t)),
      [T1, T2],
    );
    assert.equal(toUint64(profile.timeUnixNano), 1_790_000_000_000_000_000n);
  });

  it('gives the same message as the binary encoding of the same request', () => {
    const fromJson = decodeExportRequestJson(json);
    const viaBinary = decodeExportRequest(encodeExportRequest(fromJson));
    assert.deepEqual(
      schema.request.toObject(schema.request.fromObject(viaBinary), { longs: String }),
      schema.request.toObject(schema.request.fromObject(fromJson), { longs: String }),
    );
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an object', [1, 2], /\(root\): expected an object/],
    [
      'a string for an int32',
      { dictionary: { stackTable: [{ locationIndices: ['x'] }] } },
      /dictionary\.stackTable\[0\]\.locationIndices\[0\]: expected an integer/,
    ],
    [
      'a fraction',
      { dictionary: { locationTable: [{ mappingIndex: 1.5 }] } },
      /mappingIndex: expected an integer/,
    ],
    [
      'an int32 out of range',
      { dictionary: { locationTable: [{ mappingIndex: 2 ** 31 }] } },
      /expected an integer in/,
    ],
    [
      'a 64-bit number beyond 2^53',
      { dictionary: { locationTable: [{ address: 2 ** 60 }] } },
      /address: expected a 64-bit integer/,
    ],
    [
      'a negative uint64',
      { dictionary: { locationTable: [{ address: '-1' }] } },
      /address: "-1" is out of range/,
    ],
    ['an object where a list belongs', { resourceProfiles: { a: 1 } }, /resourceProfiles: expected an array/],
    ['a list where an object belongs', { dictionary: [] }, /dictionary: expected an object/],
    [
      'two members of a oneof',
      { dictionary: { attributeTable: [{ value: { stringValue: 'a', intValue: '1' } }] } },
      /only one of stringValue and intValue/,
    ],
    [
      'bad base64',
      { resourceProfiles: [{ scopeProfiles: [{ profiles: [{ originalPayload: '***' }] }] }] },
      /originalPayload: expected base64/,
    ],
    [
      'a number for a string',
      { dictionary: { stringTable: ['', 5] } },
      /stringTable\[1\]: expected a string/,
    ],
    [
      'a string for a bool',
      { dictionary: { attributeTable: [{ value: { boolValue: 'yes' } }] } },
      /boolValue: expected true or false/,
    ],
    [
      // Found by fuzzing: nested deep enough, the recursive conversion used to exhaust the stack (a 500).
      'attribute values nested 100,000 deep',
      JSON.parse(
        `{"dictionary":{"attributeTable":[{"value":${'{"arrayValue":{"values":['.repeat(100_000)}{"stringValue":"x"}${']}}'.repeat(100_000)}}]}}`,
      ) as unknown,
      /nested more than 64 levels deep/,
    ],
  ];
  for (const [what, input, pattern] of bad) {
    it(`rejects ${what}`, () => rejects(() => decodeExportRequestJson(input), 'bad_json', pattern));
  }
});

describe('64-bit helpers', () => {
  it('convert nanoseconds to seconds exactly over the whole range', () => {
    const random = seededRandom(11);
    const values = [0n, 999_999_999n, 1_000_000_000n, T1, T2, T3, 2n ** 64n - 1n, 2n ** 63n];
    for (let i = 0; i < 2000; i++) {
      values.push((BigInt(Math.floor(random() * 2 ** 32)) << 32n) | BigInt(Math.floor(random() * 2 ** 32)));
    }
    for (const value of values) {
      const bits = uint64Bits(value);
      const expected = Number(value / 1_000_000_000n);
      assert.equal(nanosHalvesToSeconds(bits.low >>> 0, bits.high >>> 0), expected, `for ${value}`);
      assert.equal(nanosToSeconds(bits), expected);
    }
  });

  it('keep signed and unsigned readings apart', () => {
    const minusOne = uint64Bits(2n ** 64n - 1n);
    assert.equal(toUint64(minusOne), 2n ** 64n - 1n);
    assert.equal(toInt64(minusOne), -1n);
    assert.equal(toSafeNumber({ low: 0, high: 0x200000 }), undefined);
    assert.equal(toSafeNumber({ low: 5, high: 0 }), 5);
  });
});
