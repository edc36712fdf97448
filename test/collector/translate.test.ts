import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameType,
  eventCount,
  eventsFromColumns,
  fromBase64Url,
  stackTraceId,
} from '../../src/model/index.ts';
import { Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import {
  InvalidRequestError,
  decodeExportRequest,
  decodeExportRequestJson,
  encodeExportRequest,
  schema,
  uint64Bits,
  type ExportProfilesServiceRequest,
} from '../../src/protocol/index.ts';
import { ProfileTranslator, translateRequest } from '../../src/collector/translate.ts';
import { xxh64 } from '../../src/collector/hashes.ts';
import { Fnv1a128 } from '../../src/model/index.ts';
import {
  FILE_ID_HEX,
  KERNEL_ADDRESS,
  KERNEL_FILE_ID_HEX,
  NATIVE_ADDRESS,
  agentRequestBytes,
} from '../protocol/agent-request.ts';

/** FNV-1a 128 written the obvious way, with BigInt: the reference the fast versions must match. */
function fnv1a128(bytes: Uint8Array): Buffer {
  let hash = 0x6c62272e07bb014262b821756295c58dn;
  const prime = (1n << 88n) + 0x13bn;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * prime) & ((1n << 128n) - 1n);
  return Buffer.from(hash.toString(16).padStart(32, '0'), 'hex');
}

/** Frame ID = file ID ‖ address-or-line (big-endian), computed here from first principles. */
function expectedFrameId(fileId: Buffer, addressOrLine: bigint): string {
  const bytes = Buffer.alloc(24);
  fileId.copy(bytes, 0);
  bytes.writeBigUInt64BE(addressOrLine, 16);
  return bytes.toString('base64url');
}

function expectedTraceId(frames: [Buffer, bigint][]): string {
  return fnv1a128(
    Buffer.concat(frames.flatMap(([fileId, value]) => [fileId, Buffer.from(value.toString(10))])),
  ).toString('base64url');
}

const nativeFileId = Buffer.from(FILE_ID_HEX, 'hex');
const kernelFileId = Buffer.from(KERNEL_FILE_ID_HEX, 'hex');
/**
 * Synthetic file ID of the Python frame (handle_request, /srv/app.py, line 42, column 7): XXH64 over the names
 * and the line and column as 8 bytes big-endian, in both halves. Computed independently with Go
 * (github.com/cespare/xxhash/v2, as the OTLP → Elasticsearch exporter uses it).
 */
const pythonFileId = fromBase64Url('hxuyd-GDiY-HG7J34YOJjw');
const NOW = 1_790_000_100;

function rejects(fn: () => unknown, reason: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidRequestError, `expected InvalidRequestError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('hashes and IDs against independent references', () => {
  it('FNV-1a 128 equals the BigInt definition, fed as bytes, as ASCII text and as a string', () => {
    const inputs = [
      Buffer.alloc(0),
      Buffer.from('a'),
      Buffer.from('foobar'),
      Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 255)),
    ];
    for (const input of inputs) {
      const fast = new Fnv1a128().update(input).digestInto(Buffer.alloc(16));
      assert.deepEqual(fast, fnv1a128(input));
      const ascii = new Fnv1a128().updateAscii(input.toString('latin1')).digestInto(Buffer.alloc(16));
      assert.deepEqual(ascii, fnv1a128(input));
      assert.deepEqual(
        new Fnv1a128().updateString(input.toString('latin1')).digest(),
        fnv1a128(Buffer.from(input.toString('latin1'), 'utf8')),
      );
    }
  });

  it('FNV-1a 128 over a 64-bit value in decimal, without the string, equals hashing its text', () => {
    const values = [
      0n,
      9n,
      10n,
      4294967295n,
      4294967296n,
      0x1234_5678_9abcn,
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 64n - 1n,
    ];
    for (const value of values) {
      const lo = Number(value & 0xffffffffn);
      const hi = Number(value >> 32n);
      const digest = new Fnv1a128()
        .update(Buffer.from([7]))
        .updateDecimal(lo, hi)
        .digest();
      assert.deepEqual(digest, fnv1a128(Buffer.from(`\x07${value}`, 'latin1')), `value ${value}`);
    }
  });

  it('stack trace IDs match a vector computed with Go hash/fnv the way the exporter does', () => {
    // Frames leaf first: (file ID, address-or-line) → Go: fnv.New128a over file ID bytes and decimal text.
    const frames = [
      { fileId: 'AAECAwQFBgcICQoLDA0ODw', addressOrLine: 0x1234n },
      { fileId: '__79_Pv6-fj39vX08_Lx8A', addressOrLine: 0xffffffff81000000n },
      { fileId: 'hxuyd-GDiY-HG7J34YOJjw', addressOrLine: 42n },
    ];
    assert.equal(stackTraceId(frames), 'Dv4dJEZcvQpYLPzWtcsGUw');
  });

  it('XXH64 matches published and Go-computed values', () => {
    assert.equal(xxh64(Buffer.from('')), 0xef46db3751d8e999n);
    assert.equal(xxh64(Buffer.from('abc')), 0x44bc2cf5ad770999n);
    const long = Buffer.from('The quick brown fox jumps over the lazy dog, twice: the quick brown fox.');
    assert.equal(xxh64(long), 0x05ddddec682d9f58n);
  });
});

describe('translation of an agent request', () => {
  const translation = translateRequest(decodeExportRequest(agentRequestBytes()), { now: NOW });
  const { batch } = translation;
  const kernelFrame = expectedFrameId(kernelFileId, KERNEL_ADDRESS);
  const nativeFrame = expectedFrameId(nativeFileId, NATIVE_ADDRESS);
  const pythonFrame = expectedFrameId(pythonFileId, 42n);
  const traceId = expectedTraceId([
    [kernelFileId, KERNEL_ADDRESS],
    [nativeFileId, NATIVE_ADDRESS],
    [pythonFileId, 42n],
  ]);

  it('writes the stack trace once, leaf first, with content-addressed ID and frame types', () => {
    assert.deepEqual(batch.stackTraces, [
      {
        id: traceId,
        frameIds: [kernelFrame, nativeFrame, pythonFrame],
        frameTypes: [FrameType.Kernel, FrameType.Native, FrameType.Python],
      },
    ]);
  });

  it('keeps the names of frames the agent symbolized (kernel, Python), not of native ones', () => {
    const byId = new Map(batch.stackFrames.map((frame) => [frame.frameId, frame]));
    assert.equal(byId.size, 2);
    assert.deepEqual(byId.get(pythonFrame), {
      frameId: pythonFrame,
      functionNames: ['handle_request'],
      fileNames: ['/srv/app.py'],
      lineNumbers: [42],
      functionOffsets: [0],
    });
    assert.deepEqual(byId.get(kernelFrame)!.functionNames, ['do_syscall_64']);
    assert.equal(byId.has(nativeFrame), false);
  });

  it('aggregates samples into events per second, thread and tags', () => {
    const events = batch.events
      .map((e) => ({ t: e.timestamp, count: e.count, thread: e.threadName, tags: e.tags }))
      .sort((a, b) => a.t - b.t || a.tags.length - b.tags.length);
    // T1 and T2 fall in second 1_790_000_000, T3 in the next; the second sample is labelled.
    assert.deepEqual(events, [
      { t: 1_790_000_000, count: 2, thread: 'kworker/0:1', tags: [] },
      { t: 1_790_000_000, count: 1, thread: 'kworker/0:1', tags: ['tenant:acme'] },
      { t: 1_790_000_001, count: 1, thread: 'kworker/0:1', tags: [] },
    ]);
    assert.equal(translation.samples, 4);
    for (const event of batch.events) {
      assert.equal(event.stackTraceId, traceId);
      assert.equal(event.hostId, 'host-a');
      assert.equal(event.processName, 'myapp');
      assert.equal(event.containerId, 'c0ffee');
      assert.equal(event.agentVersion, 'v0.0.202633');
      assert.equal(event.projectId, 1);
    }
  });

  it('lists the executables with file IDs and GNU build IDs', () => {
    const executables = [...batch.executables].sort((a, b) => a.fileName.localeCompare(b.fileName));
    assert.deepEqual(executables, [
      {
        fileId: nativeFileId.toString('base64url'),
        fileName: 'myapp',
        lastSeen: NOW,
        buildId: 'abcdef0123456789abcdef0123456789abcdef01',
      },
      { fileId: kernelFileId.toString('base64url'), fileName: 'vmlinux', lastSeen: NOW },
    ]);
  });

  it('reports the host', () => {
    assert.equal(batch.hosts.length, 1);
    assert.equal(batch.hosts[0].hostId, 'host-a');
    assert.equal(batch.hosts[0].agentVersion, 'v0.0.202633');
    assert.equal(batch.hosts[0].timestamp, NOW);
  });

  it('gives the previous wire revision the same result', () => {
    const previous = translateRequest(decodeExportRequest(agentRequestBytes({ revision: 'previous' })), {
      now: NOW,
    });
    assert.deepEqual(previous.batch, batch);
  });

  it('gives the same result for the request as OTLP/JSON', () => {
    const json = schema.request.toObject(schema.request.decode(agentRequestBytes()), {
      longs: String,
      bytes: String,
    });
    const fromJson = translateRequest(decodeExportRequestJson(JSON.parse(JSON.stringify(json))), {
      now: NOW,
    });
    assert.deepEqual(fromJson.batch, batch);
  });

  it('takes the host from the connection when the resource names none', () => {
    const request = decodeExportRequest(agentRequestBytes());
    const plain = schema.request.toObject(schema.request.fromObject(request)) as ExportProfilesServiceRequest;
    plain.resourceProfiles![0].resource!.attributes = plain.resourceProfiles![0].resource!.attributes!.filter(
      (a) => a.key !== 'host.id',
    );
    const result = translateRequest(plain, { now: NOW, peer: { hostIp: '10.1.2.3' } });
    assert.ok(result.batch.events.every((e) => e.hostId === '10.1.2.3' && e.hostIp === '10.1.2.3'));
    // Named by the address too: grouping by host name must not put such hosts into one unnamed group.
    assert.ok(result.batch.events.every((e) => e.hostName === '10.1.2.3'));
    assert.equal(result.batch.hosts[0].hostName, '10.1.2.3');
  });
});

describe('ID stability', () => {
  it('does not depend on where entries sit in the dictionary', () => {
    const original = decodeExportRequest(agentRequestBytes());
    const plain = schema.request.toObject(
      schema.request.fromObject(original),
    ) as ExportProfilesServiceRequest;
    // Reverse the location table (keeping entry 0) and rewrite the stack to match.
    const locations = plain.dictionary!.locationTable!;
    const reordered = [locations[0], ...locations.slice(1).reverse()];
    const newIndex = (old: number) => (old === 0 ? 0 : locations.length - old);
    plain.dictionary!.locationTable = reordered;
    plain.dictionary!.stackTable![1].locationIndices =
      plain.dictionary!.stackTable![1].locationIndices!.map(newIndex);
    const a = translateRequest(original, { now: NOW }).batch;
    const b = translateRequest(plain, { now: NOW }).batch;
    assert.deepEqual(b.stackTraces, a.stackTraces);
    assert.deepEqual(
      new Set(b.stackFrames.map((f) => f.frameId)),
      new Set(a.stackFrames.map((f) => f.frameId)),
    );
  });

  it('changes when a frame changes', () => {
    const a = translateRequest(decodeExportRequest(agentRequestBytes()), { now: NOW }).batch.stackTraces[0]
      .id;
    const b = translateRequest(decodeExportRequest(agentRequestBytes({ locationIndices: [2, 1] })), {
      now: NOW,
    }).batch.stackTraces[0].id;
    const c = translateRequest(decodeExportRequest(agentRequestBytes({ locationIndices: [1, 2, 3] })), {
      now: NOW,
    }).batch.stackTraces[0].id;
    assert.notEqual(a, b);
    assert.notEqual(a, c);
  });
});

describe('event columns', () => {
  it('hold the same events as the event objects, one dimensions object per source', () => {
    const request = new Workload({ seed: 3, hosts: 2 }).next(nanosFromMillis(NOW * 1000), 600).request;
    const { batch, samples } = translateRequest(request, { now: NOW });
    const columns = batch.eventColumns!;
    assert.equal(eventCount(batch), columns.length);
    assert.equal(
      columns.counts.reduce((a, b) => a + b, 0),
      samples,
    );
    // Objects are built from the columns on first read, with every field of the source.
    assert.deepEqual(batch.events, eventsFromColumns(columns));
    assert.equal(batch.events.length, columns.length);
    const bySource = new Map<string, Set<object>>();
    columns.dimensions.forEach((dimensions) => {
      const key = JSON.stringify(dimensions);
      if (!bySource.has(key)) bySource.set(key, new Set());
      bySource.get(key)!.add(dimensions);
    });
    for (const [key, objects] of bySource) assert.equal(objects.size, 1, `one object for ${key}`);
    assert.ok(bySource.size < columns.length / 2, 'events of one source share its dimensions');
  });

  it('are dropped when the events are replaced, so no writer reads stale columns', () => {
    const { batch } = translateRequest(decodeExportRequest(agentRequestBytes()), { now: NOW });
    assert.ok(batch.eventColumns);
    batch.events = [];
    assert.equal(batch.eventColumns, undefined);
    assert.equal(eventCount(batch), 0);
  });
});

describe('dedup across batches', () => {
  it('leaves out what a committed batch carried, and only then', () => {
    const translator = new ProfileTranslator();
    const first = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW });
    assert.equal(first.batch.stackTraces.length, 1);
    // Not committed (the write failed): the next batch must carry everything again.
    const retry = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW });
    assert.equal(retry.batch.stackTraces.length, 1);
    assert.equal(retry.batch.stackFrames.length, 2);
    retry.commit();
    const later = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW + 1 });
    assert.equal(later.batch.stackTraces.length, 0);
    assert.equal(later.batch.stackFrames.length, 0);
    assert.equal(later.batch.executables.length, 0);
    assert.equal(later.batch.hosts.length, 0);
    assert.equal(later.batch.events.length, 3, 'events are never deduplicated');
    translator.reset();
    const afterReset = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW + 2 });
    assert.equal(afterReset.batch.stackTraces.length, 1);
  });

  it('remembers nothing as stored when its stored-trace memory has no room', () => {
    const translator = new ProfileTranslator({ capacities: { stackTraces: 0 } });
    translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW }).commit();
    const again = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW + 1 });
    assert.equal(again.batch.stackTraces.length, 1);
  });

  it('writes executables and hosts again once their refresh interval passed', () => {
    const translator = new ProfileTranslator({ executableRefreshSeconds: 100, hostRefreshSeconds: 10 });
    translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW }).commit();
    const soon = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW + 5 });
    assert.equal(soon.batch.hosts.length, 0);
    assert.equal(soon.batch.executables.length, 0);
    const later = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW + 50 });
    assert.equal(later.batch.hosts.length, 1);
    assert.equal(later.batch.executables.length, 0);
    const muchLater = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW + 500 });
    assert.equal(muchLater.batch.executables.length, 2);
  });
});

/** A small request built as an object, for the bad-input cases. */
function smallRequest(): ExportProfilesServiceRequest {
  return {
    dictionary: {
      stringTable: [
        '',
        'samples',
        'count',
        'profile.frame.type',
        'native',
        'app',
        'process.executable.build_id.htlhash',
        FILE_ID_HEX,
        'f',
      ],
      attributeTable: [
        {},
        { keyStrindex: 3, value: { stringValue: 'native' } },
        { keyStrindex: 6, value: { stringValue: FILE_ID_HEX } },
      ],
      mappingTable: [{}, { filenameStrindex: 5, attributeIndices: [2] }],
      functionTable: [{}, { nameStrindex: 8 }],
      locationTable: [{}, { mappingIndex: 1, address: 0x1000, attributeIndices: [1] }],
      stackTable: [{}, { locationIndices: [1] }],
    },
    resourceProfiles: [
      {
        scopeProfiles: [
          {
            profiles: [
              {
                sampleType: { typeStrindex: 1, unitStrindex: 2 },
                samples: [{ stackIndex: 1, timestampsUnixNano: [uint64Bits(1_790_000_000_000_000_000n)] }],
              },
            ],
          },
        ],
      },
    ],
  };
}

describe('synthetic file IDs of interpreted frames', () => {
  /** The rule written plainly: XXH64 over each line's UTF-8 name and file, line and column (i64 BE). */
  function expectedSyntheticFileId(
    lines: { name: string; file: string; line: bigint; column: bigint }[],
  ): Buffer {
    const parts = lines.flatMap(({ name, file, line, column }) => {
      const numbers = Buffer.alloc(16);
      numbers.writeBigInt64BE(BigInt.asIntN(64, line), 0);
      numbers.writeBigInt64BE(column, 8);
      return [Buffer.from(name, 'utf8'), Buffer.from(file, 'utf8'), numbers];
    });
    const hash = xxh64(Buffer.concat(parts));
    const fileId = Buffer.alloc(16);
    fileId.writeBigUInt64BE(hash, 0);
    fileId.writeBigUInt64BE(hash, 8);
    return fileId;
  }

  it('hash every line of an inline chain: non-ASCII names, 64-bit lines, negative and wide columns', () => {
    const lines = [
      { name: 'wrapper', file: '/srv/ünïcode/app.py', line: 7n, column: -3n },
      { name: 'déjà_vu_文件_😀', file: 'x'.repeat(5000), line: 2n ** 33n + 1n, column: 2n ** 40n + 5n },
    ];
    const strings = ['', 'samples', 'count', 'profile.frame.type', 'python'];
    const functionTable = [{}];
    for (const { name, file } of lines) {
      strings.push(name, file);
      functionTable.push({ nameStrindex: strings.length - 2, filenameStrindex: strings.length - 1 });
    }
    const request: ExportProfilesServiceRequest = {
      dictionary: {
        stringTable: strings,
        attributeTable: [{}, { keyStrindex: 3, value: { stringValue: 'python' } }],
        mappingTable: [{}],
        functionTable,
        locationTable: [
          {},
          {
            attributeIndices: [1],
            lines: lines.map(({ line, column }, i) => ({
              functionIndex: i + 1,
              line: uint64Bits(line),
              column: Number(column),
            })),
          },
        ],
        stackTable: [{}, { locationIndices: [1] }],
      },
      resourceProfiles: smallRequest().resourceProfiles,
    };
    // Twice: the second translator meets the buffer the first one grew for the 5,000-byte file name.
    for (let round = 0; round < 2; round++) {
      const { batch } = new ProfileTranslator().translate(request, { now: NOW });
      const expected = expectedFrameId(expectedSyntheticFileId(lines), 2n ** 33n + 1n);
      assert.deepEqual(batch.stackTraces[0].frameIds, [expected]);
      assert.deepEqual(batch.stackFrames[0].functionNames, ['wrapper', 'déjà_vu_文件_😀']);
    }
  });
});

describe('bad input rejects the whole request, naming the field', () => {
  const translator = new ProfileTranslator();
  const translate = (request: ExportProfilesServiceRequest) => () =>
    translator.translate(request, { now: NOW });
  const sampleOf = (r: ExportProfilesServiceRequest) =>
    r.resourceProfiles![0].scopeProfiles![0].profiles![0].samples![0];

  it('accepts the small request as it is', () => {
    const result = translator.translate(smallRequest(), { now: NOW });
    assert.equal(result.samples, 1);
  });

  it('a stack index out of range', () => {
    const r = smallRequest();
    sampleOf(r).stackIndex = 7;
    rejects(
      translate(r),
      'index_out_of_range',
      /samples\[0\]\.stack_index = 7 is out of range: dictionary\.stack_table has 2 entries/,
    );
  });

  it('a location index out of range', () => {
    const r = smallRequest();
    r.dictionary!.stackTable![1].locationIndices = [1, 5];
    rejects(
      translate(r),
      'index_out_of_range',
      /stack_table\[1\]\.location_indices\[1\] = 5 is out of range: dictionary\.location_table/,
    );
  });

  it('a mapping index out of range', () => {
    const r = smallRequest();
    r.dictionary!.locationTable![1].mappingIndex = 3;
    rejects(
      translate(r),
      'index_out_of_range',
      /location_table\[1\]\.mapping_index = 3 .*mapping_table has 2 entries/,
    );
  });

  it('a function index out of range', () => {
    const r = smallRequest();
    r.dictionary!.locationTable![1].lines = [{ functionIndex: 4, line: 3 }];
    rejects(translate(r), 'index_out_of_range', /lines\[0\]\.function_index = 4 .*function_table/);
  });

  it('an attribute index out of range', () => {
    const r = smallRequest();
    sampleOf(r).attributeIndices = [1, 40];
    rejects(
      translate(r),
      'index_out_of_range',
      /samples\[0\]\.attribute_indices\[1\] = 40 .*attribute_table has 3 entries/,
    );
  });

  it('a string index out of range', () => {
    const r = smallRequest();
    r.dictionary!.attributeTable![1].keyStrindex = 99;
    rejects(translate(r), 'index_out_of_range', /attribute_table\[1\]\.key_strindex = 99 .*string_table/);
    const r2 = smallRequest();
    r2.dictionary!.functionTable![1].filenameStrindex = 50;
    r2.dictionary!.locationTable![1].lines = [{ functionIndex: 1 }];
    rejects(translate(r2), 'index_out_of_range', /function_table\[1\]\.filename_strindex = 50/);
  });

  it('a missing dictionary', () => {
    const r = smallRequest();
    delete r.dictionary;
    rejects(translate(r), 'missing_dictionary_entry', /the request has no string_table/);
    const r2 = smallRequest();
    r2.dictionary!.stackTable = [];
    rejects(
      translate(r2),
      'missing_dictionary_entry',
      /stack_index refers to dictionary\.stack_table\[1\], but the request has no stack_table/,
    );
  });

  it('a file ID that is not 32 hex digits', () => {
    const r = smallRequest();
    r.dictionary!.attributeTable![2].value = { stringValue: 'not-a-file-id' };
    rejects(
      translate(r),
      'bad_attribute',
      /mapping_table\[1\] has process\.executable\.build_id\.htlhash "not-a-file-id"/,
    );
  });

  it('a negative count', () => {
    const r = smallRequest();
    sampleOf(r).values = [-3];
    rejects(translate(r), 'bad_value', /samples\[0\]\.values\[0\] is not a valid sample count/);
  });

  it('indices that only bad binary input can carry (negative int32)', () => {
    const r = smallRequest();
    sampleOf(r).stackIndex = -1;
    rejects(
      () => translator.translate(decodeExportRequest(encodeExportRequest(r)), { now: NOW }),
      'index_out_of_range',
      /stack_index = -1/,
    );
  });

  it('leaves the caches untouched by a rejected request', () => {
    const fresh = new ProfileTranslator();
    const r = smallRequest();
    sampleOf(r).values = [-3];
    assert.throws(() => fresh.translate(r, { now: NOW }));
    assert.equal(fresh.translate(smallRequest(), { now: NOW }).batch.stackTraces.length, 1);
  });
});

describe('profiles the model has no place for', () => {
  it('are left out and counted, the rest is translated', () => {
    const r = smallRequest();
    const profiles = r.resourceProfiles![0].scopeProfiles![0].profiles!;
    r.dictionary!.stringTable!.push('off_cpu', 'nanoseconds');
    const strings = r.dictionary!.stringTable!.length;
    profiles.push({ ...profiles[0], sampleType: { typeStrindex: strings - 2, unitStrindex: strings - 1 } });
    const result = translateRequest(r, { now: NOW });
    assert.equal(result.skippedProfiles, 1);
    assert.equal(result.samples, 1);
  });

  it('samples without timestamps count their values at the profile time', () => {
    const r = smallRequest();
    const profile = r.resourceProfiles![0].scopeProfiles![0].profiles![0];
    profile.timeUnixNano = uint64Bits(1_700_000_000_500_000_000n);
    profile.samples = [{ stackIndex: 1, values: [5] }];
    const result = translateRequest(r, { now: NOW });
    assert.deepEqual(
      result.batch.events.map((e) => [e.timestamp, e.count]),
      [[1_700_000_000, 5]],
    );
  });
});

describe('the cache of stack IDs by content', () => {
  it('gives the IDs a fresh translation gives, whatever the dictionary order, and no stale ones', () => {
    const warm = new ProfileTranslator();
    warm.translate(decodeExportRequest(agentRequestBytes()), { now: NOW });
    // Same stacks, different table positions: served from the cache, with complete documents.
    const original = decodeExportRequest(agentRequestBytes());
    const plain = schema.request.toObject(
      schema.request.fromObject(original),
    ) as ExportProfilesServiceRequest;
    const locations = plain.dictionary!.locationTable!;
    plain.dictionary!.locationTable = [locations[0], ...locations.slice(1).reverse()];
    plain.dictionary!.stackTable![1].locationIndices = [2, 3, 1];
    const cached = warm.translate(plain, { now: NOW }).batch;
    const fresh = translateRequest(plain, { now: NOW }).batch;
    assert.deepEqual(cached.stackTraces, fresh.stackTraces);
    assert.deepEqual(cached.stackFrames, fresh.stackFrames);
    // One address changed: a different stack, not a cache hit on the old one.
    const moved = schema.request.toObject(
      schema.request.fromObject(original),
    ) as ExportProfilesServiceRequest;
    moved.dictionary!.locationTable![1].address = uint64Bits(NATIVE_ADDRESS + 1n);
    const changed = warm.translate(moved, { now: NOW }).batch.stackTraces[0];
    assert.deepEqual(changed, translateRequest(moved, { now: NOW }).batch.stackTraces[0]);
    assert.notEqual(changed.id, fresh.stackTraces[0].id);
  });
});
