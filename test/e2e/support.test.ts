/**
 * The end-to-end test's own instruments, checked without root or the agent: the relay's protobuf walk
 * against our encoder, and the file ID recipes against the model, so a wrong instrument cannot hide a bug.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Fnv1a128 } from '../../src/model/index.ts';
import { encodeExportRequest } from '../../src/protocol/index.ts';
import { tappedSamples } from './support/otlp-tap.ts';
import { executableFileId, runningKernel } from './support/workloads.ts';

test('the relay decodes samples, threads, executables and timestamps of an encoded request', () => {
  const strings = [
    '',
    'samples',
    'count',
    'thread.name',
    'cpu',
    'nanoseconds',
    'process.executable.build_id.htlhash',
    'profile.frame.type',
    'uniprof_python_hot',
  ];
  const timestamps = [1_795_582_843_533_964_991n, 1_795_582_843_553_974_502n, 2n ** 63n + 5n];
  const int64 = (value: bigint) => ({
    low: Number(value & 0xffffffffn) | 0,
    high: Number(value >> 32n) | 0,
    unsigned: true,
  });
  const bytes = encodeExportRequest({
    dictionary: {
      stringTable: strings,
      attributeTable: [
        {},
        { keyStrindex: 3, value: { stringValue: 'uprof-cpu' } },
        { keyStrindex: 6, value: { stringValue: 'a0527170b69f45ca1adc632c4c9874a4' } },
        { keyStrindex: 7, value: { stringValue: 'native' } },
        { keyStrindex: 7, value: { stringValue: 'kernel' } },
        { keyStrindex: 7, value: { stringValue: 'cpython' } },
      ],
      stackTable: [{}, { locationIndices: [2, 1, 3] }],
      locationTable: [
        {},
        { mappingIndex: 1, address: int64(0x132bn), attributeIndices: [3] },
        { mappingIndex: 1, address: int64(2n ** 64n - 3n), attributeIndices: [4] },
        {
          lines: [
            { functionIndex: 1, line: 5 },
            { functionIndex: 1, line: 9 },
          ],
          attributeIndices: [5],
        },
      ],
      mappingTable: [{}, { attributeIndices: [2] }],
      functionTable: [{}, { nameStrindex: 8 }],
      linkTable: [{}],
    },
    resourceProfiles: [
      {
        resource: {
          attributes: [{ key: 'process.executable.name', value: { stringValue: 'uniprof-cburn' } }],
        },
        scopeProfiles: [
          {
            profiles: [
              {
                sampleType: { typeStrindex: 1, unitStrindex: 2 },
                periodType: { typeStrindex: 4, unitStrindex: 5 },
                samples: [
                  { stackIndex: 1, attributeIndices: [1], timestampsUnixNano: timestamps.map(int64) },
                  { attributeIndices: [], timestampsUnixNano: [int64(7n)] },
                ],
              },
            ],
          },
        ],
      },
    ],
  });
  const samples = tappedSamples(Buffer.from(bytes));
  assert.equal(samples.length, 2);
  assert.deepEqual(samples[0], {
    sampleType: 'samples',
    threadName: 'uprof-cpu',
    executableName: 'uniprof-cburn',
    timestampsNs: timestamps,
    frames: [
      { frameType: 'kernel', fileIdHex: 'a0527170b69f45ca1adc632c4c9874a4', addressOrLine: 2n ** 64n - 3n },
      { frameType: 'native', fileIdHex: 'a0527170b69f45ca1adc632c4c9874a4', addressOrLine: 0x132bn },
      { frameType: 'cpython', fileIdHex: undefined, addressOrLine: 9n },
    ],
  });
  assert.deepEqual(samples[1].frames, [], 'stack index 0 is the empty stack');
  assert.deepEqual(samples[1].timestampsNs, [7n]);
  assert.equal(samples[1].threadName, undefined);
});

test('the file ID recipe hashes head, tail and length', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-fileid-'));
  try {
    const content = randomBytes(10_000);
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await writeFile(a, content);
    // A change in the middle (outside the first and last 4 KiB) keeps the ID; a change at the end does not.
    const middle = Buffer.from(content);
    middle[5000] ^= 0xff;
    await writeFile(b, middle);
    assert.equal(await executableFileId(a), await executableFileId(b));
    const tail = Buffer.from(content);
    tail[9999] ^= 0xff;
    await writeFile(b, tail);
    assert.notEqual(await executableFileId(a), await executableFileId(b));
    assert.match(await executableFileId(a), /^[0-9a-f]{32}$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the kernel file ID (BigInt FNV-1a-128 of the build ID text) agrees with the model’s FNV', async () => {
  const kernel = await runningKernel();
  assert.match(kernel.gnuBuildId, /^[0-9a-f]{32,}$/);
  assert.equal(kernel.fileId, new Fnv1a128().updateString(kernel.gnuBuildId).digest().toString('hex'));
});
