import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { fileIdToHex } from '../../src/model/ids.ts';
import { framesAt, type ReturnPad, type SymbolRange } from '../../src/model/symbols.ts';
import { PushError, pushSymbols } from '../../src/symbolizer/upload/client.ts';
import { fileIdOfExecutable } from '../../src/symbolizer/upload/file-id.ts';
import {
  SYMBOL_UPLOAD_MAGIC,
  encodeHeader,
  encodeSymbolUpload,
  encodeTrailer,
  frame,
  uploadSchema,
} from '../../src/symbolizer/upload/format.ts';
import { haveTool } from '../peers/toolchains.ts';
import { startUploadServer, type UploadServer } from './upload-helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'uniprof-upload-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The agent's formula, written independently in Python (libpf/fileid.go, FileIDFromExecutableReader). */
const PYTHON_FILE_ID = `
import hashlib, os, sys
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(4096)
        f.seek(size - min(size, 4096))
        tail = f.read()
    print(hashlib.sha256(head + tail + size.to_bytes(8, 'big')).hexdigest()[:32])
`;

describe('file ID', () => {
  it("equals the agent's formula (SHA-256 of head, tail and length) on real files of every size class", () => {
    const files = ['/lib/x86_64-linux-gnu/libc.so.6', '/bin/ls', process.execPath];
    if (haveTool('gcc', 'apt-get install gcc')) {
      // A real ELF executable smaller than the 4 KiB head and tail (they overlap: the file is hashed twice).
      const tiny = join(work, 'tiny');
      writeFileSync(`${tiny}.c`, 'void _start(void) { for (;;) ; }\n');
      execFileSync('gcc', ['-Os', '-nostdlib', '-static', '-s', '-Wl,-n', '-o', tiny, `${tiny}.c`]);
      files.push(tiny);
    }
    // Sizes around the edges of the head and tail: empty, exactly 4 KiB, between 4 and 8 KiB, exactly 8 KiB.
    for (const size of [0, 1, 4095, 4096, 4097, 6000, 8192, 8193, 100_000]) {
      const path = join(work, `bytes-${size}`);
      writeFileSync(path, randomBytes(size));
      files.push(path);
    }
    const expected = spawnSync('python3', ['-c', PYTHON_FILE_ID, ...files], { encoding: 'utf8' });
    assert.equal(expected.status, 0, expected.stderr);
    const python = expected.stdout.trim().split('\n');
    assert.equal(python.length, files.length);
    files.forEach((file, i) => {
      const ours = fileIdOfExecutable(file);
      assert.equal(ours.hex, python[i], file);
      assert.equal(fileIdToHex(ours.fileId), ours.hex);
    });
    if (files.some((f) => f.endsWith('tiny'))) assert.ok(statSync(join(work, 'tiny')).size < 4096);
  });
});

/** Synthetic but consistent ranges: functions of 0x40 bytes, each with an inlined call in its middle. */
function syntheticRanges(count: number, base = 0x10000): SymbolRange[] {
  const out: SymbolRange[] = [];
  for (let i = 0; i < count; i++) {
    const start = base + i * 0x40;
    out.push({
      start,
      end: start + 0x40,
      depth: 0,
      functionName: `function_${i}`,
      functionLine: 10 + i,
      fileName: `src/file${i % 50}.c`,
      callFileName: '',
      callLine: 0,
      lineOffsets: [0, 0x10, 0x30],
      lines: [11 + i, 12 + i, 14 + i],
    });
    out.push({
      start: start + 0x10,
      end: start + 0x30,
      depth: 1,
      functionName: 'inlined_helper',
      functionLine: 3,
      fileName: 'src/helper.h',
      callFileName: `src/file${i % 50}.c`,
      callLine: 12 + i,
      lineOffsets: [0, 8],
      lines: [4, 5],
    });
  }
  return out;
}

describe('symbol upload encoding', () => {
  it('sends a name once per chunk, however many ranges repeat it, and chunks stay bounded', () => {
    const ranges = syntheticRanges(20_000); // 40,000 ranges, 'inlined_helper' in half of them
    const raw = Buffer.concat([
      ...encodeSymbolUpload({ fileId: 'AAECAwQFBgcICQoLDA0ODw', fileName: 'prog' }, [ranges]),
    ]);
    let occurrences = 0;
    for (let at = raw.indexOf('inlined_helper'); at >= 0; at = raw.indexOf('inlined_helper', at + 1))
      occurrences++;
    // 8,192 ranges per chunk: 5 chunks, one copy of the name in each.
    assert.equal(occurrences, 5);
    // Bytes per range, names included: delta-coded addresses and line tables keep it small.
    assert.ok(raw.length / ranges.length < 40, `${(raw.length / ranges.length).toFixed(1)} bytes per range`);
  });
});

const FILE_ID = 'AAECAwQFBgcICQoLDA0ODw'; // bytes 00..0f
const OTHER_FILE_ID = 'EBESExQVFhcYGRobHB0eHw';

function upload(ranges: SymbolRange[], fileId = FILE_ID): Buffer {
  return Buffer.concat([...encodeSymbolUpload({ fileId, buildId: 'abcd01', fileName: 'prog' }, [ranges])]);
}

interface Answer {
  status: number;
  body: { error?: string; reason?: string; ranges?: number; hasSymbols?: boolean };
}

/**
 * Sends a body with node:http, in pieces, and stops sending once the server answers (it answers errors
 * before reading everything and closes the connection).
 */
function post(
  server: UploadServer,
  body: Buffer | Buffer[],
  options: { token?: string | null; fileId?: string } = {},
) {
  return new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/vnd.uniprof.symbols+gzip' };
    if (options.token !== null) headers.authorization = `Bearer ${options.token ?? server.token}`;
    const req = request(`${server.url}/api/v1/symbols/${options.fileId ?? FILE_ID}`, {
      method: 'POST',
      headers,
    });
    let answered = false;
    req.on('response', (response) => {
      answered = true;
      const parts: Buffer[] = [];
      response.on('data', (d: Buffer) => parts.push(d));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(parts).toString()) as Answer['body'],
        }),
      );
    });
    req.on('error', (error) => {
      if (!answered) setTimeout(() => !answered && reject(error), 500);
    });
    const pieces = Array.isArray(body) ? body : [body];
    let i = 0;
    const write = () => {
      while (i < pieces.length && !answered && !req.destroyed) {
        if (!req.write(pieces[i++])) return void req.once('drain', write);
      }
      if (!answered && !req.destroyed) req.end();
    };
    write();
  });
}

async function get(
  server: UploadServer,
  fileId: string,
  token: string | null = server.token,
): Promise<Answer> {
  const response = await fetch(`${server.url}/api/v1/symbols/${fileId}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

async function assertNothingStored(server: UploadServer, fileId = FILE_ID): Promise<void> {
  const has = await server.store.symbolization.filesWithSymbols([fileId]);
  assert.equal(has.size, 0, 'no symbols stored for the file');
  const ranges = await server.store.symbolization.symbolRanges(fileId, [
    0x10000,
    0x10010,
    0x10000 + 0x40 * 100,
  ]);
  assert.equal(ranges.size, 0, 'no ranges stored for the file');
  assert.equal((await get(server, fileId)).body.hasSymbols, false);
}

function assertRejected(answer: Answer, status: number, reason: string, message: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.reason, reason, JSON.stringify(answer.body));
  assert.match(answer.body.error ?? '', message);
}

/** A message built with the schema, framed. */
function message(fields: Record<string, unknown>): Buffer {
  return frame(uploadSchema.message.encode(fields).finish());
}

const header = (fileId = FILE_ID) =>
  Buffer.concat([
    SYMBOL_UPLOAD_MAGIC,
    encodeHeader({ formatVersion: 1, fileId, buildId: 'abcd01', fileName: 'prog' }),
  ]);

const goodRange = { startDelta: 0x1000, length: 0x10, depth: 0, functionName: 1 };

describe('symbol upload endpoint', { timeout: 120_000 }, () => {
  let server: UploadServer;
  before(async () => {
    server = await startUploadServer();
  });
  after(() => server.close());

  it("refuses a missing, a wrong and the agent's token with 401 and a message", async () => {
    const body = gzipSync(upload(syntheticRanges(10)));
    const missing = await post(server, body, { token: null });
    assertRejected(missing, 401, 'unauthorized', /Authorization: Bearer/);
    const wrong = await post(server, body, { token: 'not-the-token' });
    assertRejected(wrong, 401, 'unauthorized', /not valid/);
    // The collector's secret token is another scope: it only works if configured as the same string.
    const agent = await post(server, body, { token: 'the-agents-secret-token' });
    assertRejected(agent, 401, 'unauthorized', /not valid/);
    const prefix = await post(server, body, { token: server.token.slice(0, -1) });
    assert.equal(prefix.status, 401);
    assert.equal((await get(server, FILE_ID, null)).status, 401);
    assert.equal((await get(server, FILE_ID, 'wrong')).status, 401);
    await assertNothingStored(server);
  });

  it('stores a valid upload and answers with the counts; symbolRanges + framesAt give the chains back', async () => {
    const ranges = syntheticRanges(20_000); // 40,000 ranges: several chunks
    const body = gzipSync(upload(ranges, OTHER_FILE_ID));
    const answer = await post(server, body, { fileId: fileIdToHex(OTHER_FILE_ID) });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.ranges, 40_000);
    assert.equal((await get(server, OTHER_FILE_ID)).body.hasSymbols, true);
    const address = 0x10000 + 0x40 * 1234 + 0x18;
    const found = await server.store.symbolization.symbolRanges(OTHER_FILE_ID, [address]);
    assert.deepEqual(framesAt(found.get(address) ?? [], address), [
      { functionName: 'inlined_helper', fileName: 'src/helper.h', line: 5, startLine: 3 },
      { functionName: 'function_1234', fileName: 'src/file34.c', line: 1246, startLine: 1244 },
    ]);
  });

  const rejections: Array<{
    name: string;
    body: () => Buffer | Buffer[];
    status: number;
    reason: string;
    message: RegExp;
  }> = [
    {
      name: 'a body that is not gzip',
      body: () => Buffer.from('{"symbols": []}'),
      status: 400,
      reason: 'not_gzip',
      message: /not a uniprof symbol upload.*gzip/,
    },
    {
      name: 'gzip that is not our format',
      body: () => gzipSync(Buffer.from('hello, this is some other file\n'.repeat(10))),
      status: 400,
      reason: 'not_symbol_upload',
      message: /UPSYMBOL/,
    },
    {
      name: 'a corrupt gzip stream',
      body: () => {
        const bytes = gzipSync(upload(syntheticRanges(100)));
        bytes.fill(0x55, 20, 60);
        return bytes;
      },
      status: 400,
      reason: 'bad_gzip',
      message: /not a valid gzip stream/,
    },
    {
      name: 'a gzip stream cut short',
      body: () => {
        const bytes = gzipSync(upload(syntheticRanges(5000)));
        return bytes.subarray(0, bytes.length >> 1);
      },
      status: 400,
      reason: 'truncated',
      message: /truncated upload/,
    },
    {
      // Several chunks reach the store before the end shows the trailer missing: all must go.
      name: 'an upload without its trailer (cut at a message boundary, after several chunks)',
      body: () => {
        const bytes = upload(syntheticRanges(20_000));
        const trailer = encodeTrailer(40_000, 5);
        assert.ok(bytes.subarray(bytes.length - trailer.length).equals(trailer));
        return gzipSync(bytes.subarray(0, bytes.length - trailer.length));
      },
      status: 400,
      reason: 'truncated',
      message: /without its trailer/,
    },
    {
      name: 'a trailer whose counts disagree',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({ chunk: { strings: ['f', 'a.c'], ranges: [goodRange] } }),
            encodeTrailer(2, 1),
          ]),
        ),
      status: 400,
      reason: 'count_mismatch',
      message: /trailer counts 2 ranges/,
    },
    {
      name: 'an upload for another file ID than the path names',
      body: () => gzipSync(upload(syntheticRanges(10), OTHER_FILE_ID)),
      status: 400,
      reason: 'file_id_mismatch',
      message: /the upload is for file ID 101112.*path names 00010203/,
    },
    {
      name: 'an unknown format version',
      body: () =>
        gzipSync(Buffer.concat([SYMBOL_UPLOAD_MAGIC, encodeHeader({ formatVersion: 7, fileId: FILE_ID })])),
      status: 400,
      reason: 'bad_version',
      message: /version 7 is not supported/,
    },
    {
      name: 'a message length of 2^31',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            protobuf.Writer.create()
              .uint32(2 ** 31)
              .finish(),
            Buffer.alloc(100),
          ]),
        ),
      status: 400,
      reason: 'message_too_large',
      message: /claims 2147483648 bytes, over the per-message limit/,
    },
    {
      name: 'a range length of 2^60',
      body: () => {
        const chunk = uploadSchema.message.encode({
          chunk: { strings: ['f'], ranges: [{ ...goodRange, length: 2 ** 60 }] },
        });
        return gzipSync(Buffer.concat([header(), frame(chunk.finish()), encodeTrailer(1, 1)]));
      },
      status: 400,
      reason: 'malformed_protobuf',
      message: /chunk 1, range 1: .*value over 2\^53/,
    },
    {
      name: 'a string index outside the chunk table',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({ chunk: { strings: ['f'], ranges: [{ ...goodRange, functionName: 4_000_000_000 }] } }),
            encodeTrailer(1, 1),
          ]),
        ),
      status: 400,
      reason: 'bad_string_index',
      message: /string index 4000000000 outside the chunk's table of 1 strings/,
    },
    {
      name: 'a length-delimited field running past its message',
      body: () => {
        // A chunk whose strings field claims 1,000,000 bytes inside a 10-byte message.
        const chunk = protobuf.Writer.create()
          .uint32((1 << 3) | 2)
          .uint32(1_000_000)
          .finish();
        const wrapped = protobuf.Writer.create()
          .uint32((2 << 3) | 2)
          .bytes(chunk)
          .finish();
        return gzipSync(
          Buffer.concat([header(), frame(Buffer.concat([wrapped, Buffer.alloc(8)])), encodeTrailer(0, 1)]),
        );
      },
      status: 400,
      reason: 'malformed_protobuf',
      message: /runs past the end of its message/,
    },
    {
      name: 'a name that is not UTF-8',
      body: () => {
        const chunk = Buffer.from(
          uploadSchema.message.encode({ chunk: { strings: ['f', 'XXXX'], ranges: [goodRange] } }).finish(),
        );
        chunk.fill(0xff, chunk.indexOf('XXXX'), chunk.indexOf('XXXX') + 4);
        return gzipSync(Buffer.concat([header(), frame(chunk), encodeTrailer(1, 1)]));
      },
      status: 400,
      reason: 'bad_utf8',
      message: /chunk 1, string 2 is not valid UTF-8/,
    },
    {
      name: 'a string longer than the limit',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({ chunk: { strings: ['x'.repeat(300_000)], ranges: [goodRange] } }),
            encodeTrailer(1, 1),
          ]),
        ),
      status: 400,
      reason: 'string_too_long',
      message: /300000 bytes long, over the limit/,
    },
    {
      name: 'a line table with more offsets than lines',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({
              chunk: {
                strings: ['f'],
                ranges: [{ ...goodRange, lineOffsetDeltas: [0, 1], lineDeltas: [5] }],
              },
            }),
            encodeTrailer(1, 1),
          ]),
        ),
      status: 400,
      reason: 'bad_line_table',
      message: /2 line offsets but 1 lines/,
    },
    // Found by fuzzing: values the decoder let through and the store then refused, answered with a 500.
    ...[
      {
        field: 'functionLine',
        value: 2 ** 32 - 1,
        reason: 'bad_range',
        message: /function or call line over/,
      },
      { field: 'callLine', value: 2 ** 31, reason: 'bad_range', message: /function or call line over/ },
      {
        // Deltas are sint32: the line passes 2^31 - 1 as they add up.
        field: 'lineDeltas',
        value: [2 ** 31 - 1, 1],
        reason: 'bad_line_table',
        message: /line 2147483648 out of range/,
      },
    ].map(({ field, value, reason, message: pattern }) => ({
      name: `a ${field} of ${JSON.stringify(value)}`,
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({
              chunk: {
                strings: ['f'],
                ranges: [
                  { ...goodRange, lineOffsetDeltas: field === 'lineDeltas' ? [0, 1] : [], [field]: value },
                ],
              },
            }),
            encodeTrailer(1, 1),
          ]),
        ),
      status: 400,
      reason,
      message: pattern,
    })),
    {
      name: 'a line offset past 2^32 in a long range',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({
              chunk: {
                strings: ['f'],
                ranges: [
                  {
                    ...goodRange,
                    length: 2 ** 40,
                    lineOffsetDeltas: [2 ** 32 - 1, 2 ** 32 - 1],
                    lineDeltas: [1, 1],
                  },
                ],
              },
            }),
            encodeTrailer(1, 1),
          ]),
        ),
      status: 400,
      reason: 'bad_line_table',
      message: /line offset 8589934590 over 4294967295/,
    },
    {
      name: 'a name with the control character U+0001',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({ chunk: { strings: ['f\u0001g'], ranges: [goodRange] } }),
            encodeTrailer(1, 1),
          ]),
        ),
      status: 400,
      reason: 'bad_string',
      message: /chunk 1, string 1 contains the control character U\+0001/,
    },
    {
      name: 'an inline depth of a million',
      body: () =>
        gzipSync(
          Buffer.concat([
            header(),
            message({ chunk: { strings: ['f'], ranges: [{ ...goodRange, depth: 1_000_000 }] } }),
            encodeTrailer(1, 1),
          ]),
        ),
      status: 400,
      reason: 'bad_range',
      message: /inline depth 1000000 over the limit/,
    },
    {
      name: 'data after the trailer',
      body: () => gzipSync(Buffer.concat([upload(syntheticRanges(10)), Buffer.from('more')])),
      status: 400,
      reason: 'trailing_data',
      message: /data follows the upload trailer/,
    },
    {
      name: 'an upload without ranges',
      body: () => gzipSync(Buffer.concat([header(), encodeTrailer(0, 0)])),
      status: 400,
      reason: 'no_ranges',
      message: /holds no symbol ranges/,
    },
  ];

  for (const r of rejections) {
    it(`refuses ${r.name}: ${r.status} naming the problem, nothing stored`, async () => {
      const answer = await post(server, r.body());
      assertRejected(answer, r.status, r.reason, r.message);
      await assertNothingStored(server);
    });
  }

  it('refuses a file ID that is not one', async () => {
    const answer = await post(server, gzipSync(upload(syntheticRanges(1))), { fileId: 'not-a-file-id' });
    assertRejected(answer, 400, 'bad_file_id', /"not-a-file-id" is not a file ID/);
    assert.equal((await get(server, 'zz')).status, 400);
  });

  it('stores nothing when the client goes away mid-upload', async () => {
    const body = gzipSync(upload(syntheticRanges(20_000)));
    await new Promise<void>((resolve) => {
      const req = request(`${server.url}/api/v1/symbols/${FILE_ID}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}` },
      });
      req.on('error', () => resolve());
      req.write(body.subarray(0, body.length >> 1), () => setTimeout(() => req.destroy(), 200));
      req.on('close', () => resolve());
    });
    // The server notices the closed connection and rolls back; give it a moment.
    for (
      let i = 0;
      i < 50 && !server.events.some((e) => e.reason === 'truncated' && e.stats.chunks > 0);
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(
      server.events.some((e) => e.reason === 'truncated' && e.stats.chunks > 0),
      'the server saw the upload break off after some chunks',
    );
    await assertNothingStored(server);
  });

  it('uploading the same symbols again is idempotent', async () => {
    const ranges = syntheticRanges(3000);
    const fileId = 'ICEiIyQlJicoKSorLC0uLw';
    const first = await post(server, gzipSync(upload(ranges, fileId)), { fileId });
    const second = await post(server, gzipSync(upload(ranges, fileId)), { fileId });
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    const addresses = [0x10000, 0x10000 + 0x40 * 2999 + 0x3f, 0x10000 + 0x40 * 1500 + 0x12];
    const found = await server.store.symbolization.symbolRanges(fileId, addresses);
    for (const address of addresses)
      assert.equal(found.get(address)?.length, address % 0x40 >= 0x10 && address % 0x40 < 0x30 ? 2 : 1);
  });
});

describe('symbol upload limits', { timeout: 120_000 }, () => {
  let server: UploadServer;
  const limit = 8 * 1024 * 1024;
  before(async () => {
    server = await startUploadServer({ maxUploadBytes: limit, limits: { maxRanges: 50_000 } });
  });
  after(() => server.close());

  it('refuses a gzip bomb at the limit, without inflating it', async () => {
    // 1 GiB of zeros after a valid start (a chunk claiming 12 MiB), as 64 gzip members of 16 MiB: ~1 MiB sent.
    const start = gzipSync(
      Buffer.concat([
        header(),
        protobuf.Writer.create()
          .uint32(12 * 1024 * 1024)
          .finish(),
      ]),
    );
    const zeros = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
    const answer = await post(server, [start, ...Array<Buffer>(64).fill(zeros)]);
    assertRejected(answer, 413, 'too_large', /exceeds the limit of 8388608 bytes once decompressed/);
    const event = server.events.at(-1)!;
    assert.equal(event.reason, 'too_large');
    assert.ok(
      event.stats.decompressedBytes <= limit + 256 * 1024,
      `inflated ${event.stats.decompressedBytes} bytes`,
    );
    assert.ok(
      event.stats.compressedBytes < 2 * 1024 * 1024,
      `read ${event.stats.compressedBytes} compressed bytes`,
    );
    await assertNothingStored(server);
  });

  it('refuses an upload over the limit (413) after several chunks went to the store, leaving nothing', async () => {
    // ~13 MB decompressed: real chunks until the limit is reached.
    const ranges = syntheticRanges(24_000).map((r) => ({
      ...r,
      functionName: `${r.functionName}_${'n'.repeat(500)}`,
    }));
    const answer = await post(server, gzipSync(upload(ranges)));
    assertRejected(answer, 413, 'too_large', /exceeds the limit/);
    await assertNothingStored(server);
  });

  it('refuses more ranges than the limit (413)', async () => {
    const answer = await post(server, gzipSync(upload(syntheticRanges(30_000))));
    assertRejected(answer, 413, 'too_many_ranges', /more than 50000 ranges/);
    await assertNothingStored(server);
  });

  it('refuses an endless compressed stream that inflates to nothing (413 on compressed bytes)', async () => {
    // A gzip header, then empty stored deflate blocks (5 bytes each, no output) past the limit.
    const gzipHeader = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    const emptyBlock = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
    const blocks = Buffer.concat(Array<Buffer>(200_000).fill(emptyBlock)); // 1 MB
    const answer = await post(server, [gzipHeader, ...Array<Buffer>(10).fill(blocks)]);
    assertRejected(answer, 413, 'too_large', /compressed body exceeds the upload limit/);
    await assertNothingStored(server);
  });
});

describe('symbol upload client against a refusing server', { timeout: 120_000 }, () => {
  let server: UploadServer;
  before(async () => {
    server = await startUploadServer({ maxUploadBytes: 1024 * 1024 });
  });
  after(() => server.close());

  /** ~300,000 ranges with names that do not compress away: megabytes still to send when the server says no. */
  function* large(): Generator<SymbolRange[]> {
    for (let part = 0; part < 30; part++) {
      yield syntheticRanges(5000, 0x100000 + part * 5000 * 0x40).map((r) => ({
        ...r,
        functionName: `${r.functionName}_${randomBytes(12).toString('hex')}`,
      }));
    }
  }

  it("reports the server's 413 (not a broken pipe) when refused in the middle of a large upload", async () => {
    let extracted = 0;
    await assert.rejects(
      pushSymbols({
        url: server.url,
        token: server.token,
        fileId: FILE_ID,
        ranges: large(),
        onProgress: (p) => (extracted = p.ranges),
      }),
      (error: unknown) => {
        assert.ok(error instanceof PushError, String(error));
        assert.equal(error.status, 413);
        assert.match(error.message, /server answered 413: upload exceeds the limit of 1048576 bytes/);
        return true;
      },
    );
    assert.ok(server.events.at(-1)!.stats.chunks >= 1, 'chunks had reached the store');
    // The client stopped extracting and sending when refused (the body is pulled as the network takes it).
    assert.ok(extracted < 300_000, `extracted ${extracted} of 300,000 ranges`);
    await assertNothingStored(server);
  });

  it("reports the server's 401 for a wrong token on a large upload", async () => {
    await assert.rejects(
      pushSymbols({ url: server.url, token: 'wrong', fileId: FILE_ID, ranges: large() }),
      /server answered 401: the symbol upload token is not valid/,
    );
    await assertNothingStored(server);
  });

  it('gives up on a client that stops sending (408), storing nothing', async () => {
    const stalling = await startUploadServer({ limits: { idleTimeoutMs: 500 } });
    try {
      const body = gzipSync(upload(syntheticRanges(20_000)));
      const answer = await new Promise<Answer>((resolve, reject) => {
        const req = request(`${stalling.url}/api/v1/symbols/${FILE_ID}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${stalling.token}` },
        });
        req.on('response', (response) => {
          const parts: Buffer[] = [];
          response.on('data', (d: Buffer) => parts.push(d));
          response.on('end', () => {
            req.destroy();
            resolve({
              status: response.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(parts).toString()) as Answer['body'],
            });
          });
        });
        req.on('error', reject);
        req.write(body.subarray(0, body.length >> 1)); // and then nothing, with the connection left open
      });
      assertRejected(answer, 408, 'timeout', /the upload stalled: no data for 0.5 s/);
      await assertNothingStored(stalling);
    } finally {
      await stalling.close();
    }
  });
});

/** Pads for syntheticRanges: a call at offset 0x18 of each function (inside the inlined helper). */
function syntheticPads(count: number, base = 0x10000): ReturnPad[] {
  const pads: ReturnPad[] = [];
  for (let i = 0; i < count; i++) {
    const at = base + i * 0x40 + 0x1c;
    pads.push({
      address: at,
      frames: [
        { functionName: 'inlined_helper', fileName: 'src/helper.h', line: 5, startLine: 3 },
        { functionName: `function_${i}`, fileName: `src/file${i % 50}.c`, line: 12 + i, startLine: 10 + i },
      ],
    });
  }
  return pads;
}

function uploadWithPads(ranges: SymbolRange[], pads: ReturnPad[], fileId = FILE_ID): Buffer {
  return Buffer.concat([
    ...encodeSymbolUpload({ fileId, buildId: 'abcd01', fileName: 'prog' }, [ranges], undefined, () => [pads]),
  ]);
}

const headerV2 = (fileId = FILE_ID) =>
  Buffer.concat([
    SYMBOL_UPLOAD_MAGIC,
    encodeHeader({ formatVersion: 2, fileId, buildId: 'abcd01', fileName: 'prog' }),
  ]);

/** One range chunk (one range at 0x1000) and then the given pad chunk messages, with a trailer that counts them. */
function withPadChunks(
  padChunks: Array<Record<string, unknown>>,
  padCount: number,
  formatVersion = 2,
): Buffer {
  return gzipSync(
    Buffer.concat([
      formatVersion === 2 ? headerV2(HOSTILE_ID) : header(HOSTILE_ID),
      message({ chunk: { strings: ['f', 'a.c'], ranges: [goodRange] } }),
      ...padChunks.map((pads) => message({ pads })),
      encodeTrailer(1, 1, padCount, padChunks.length),
    ]),
  );
}

/** The file the hostile uploads are for: nothing of it may ever be stored. */
const HOSTILE_ID = 'YGFiY2RlZmdoaWprbG1ubw';
const goodPad = { addressDelta: 0x1008, frames: [1, 2, 7, 3] };

describe('return pads in symbol uploads', { timeout: 120_000 }, () => {
  let server: UploadServer;
  before(async () => {
    server = await startUploadServer({ limits: { maxPads: 1000, maxDepth: 8, maxStringBytes: 1024 } });
  });
  after(() => server.close());

  async function assertNoPads(fileId: string, addresses: number[]): Promise<void> {
    const pads = await server.store.symbolization.returnPads(fileId, addresses);
    assert.equal(pads.size, 0, 'no return pads stored for the file');
  }

  it('stores the pads after the ranges; the store answers each pad address with its chain', async () => {
    const ranges = syntheticRanges(900);
    const pads = syntheticPads(900);
    const answer = await post(server, gzipSync(uploadWithPads(ranges, pads)));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((answer.body as { pads?: number }).pads, 900);
    const addresses = pads.map((p) => p.address);
    const stored = await server.store.symbolization.returnPads(FILE_ID, [...addresses, 0x10000, 0x10001]);
    assert.equal(stored.size, 900, 'every pad, and nothing at the other addresses');
    for (const pad of pads) assert.deepEqual(stored.get(pad.address), pad.frames);
    // The pads agree with the ranges they were made from.
    const ranged = await server.store.symbolization.symbolRanges(FILE_ID, [pads[417].address]);
    assert.deepEqual(framesAt(ranged.get(pads[417].address) ?? [], pads[417].address), pads[417].frames);
  });

  it('a rejected upload leaves the earlier ranges and pads as they were', async () => {
    const pads = syntheticPads(900);
    const before = await server.store.symbolization.returnPads(FILE_ID, [pads[3].address]);
    assert.equal(before.size, 1, 'the previous test stored pads');
    // New ranges, then a pad whose chain is too deep: neither the ranges nor any pad of it may stay.
    const ranges = syntheticRanges(10, 0x900000);
    const bad = gzipSync(
      Buffer.concat([
        headerV2(),
        ...[...encodeSymbolUpload({ fileId: FILE_ID }, [ranges])].slice(1, -1),
        message({ pads: { strings: ['f', 'a.c'], pads: [goodPad] } }),
        message({
          pads: { strings: ['f', 'a.c'], pads: [{ addressDelta: 0x2000, frames: Array(40).fill(1) }] },
        }),
        encodeTrailer(20, 1, 2, 2),
      ]),
    );
    assertRejected(
      await post(server, bad),
      400,
      'pad_too_deep',
      /pad chunk 2, pad 1: a chain of more than 9 frames/,
    );
    assert.equal(
      (await server.store.symbolization.symbolRanges(FILE_ID, [0x900010])).size,
      0,
      'no new ranges',
    );
    await assertNoPads(FILE_ID, [0x1008]);
    const after = await server.store.symbolization.returnPads(FILE_ID, [pads[3].address]);
    assert.deepEqual(after.get(pads[3].address), before.get(pads[3].address), 'the old pads stay');
    assert.equal(
      (await server.store.symbolization.symbolRanges(FILE_ID, [0x10010])).size,
      1,
      'the old ranges stay',
    );
  });

  it('uploading the same symbols and pads again is idempotent', async () => {
    const fileId = 'MDEyMzQ1Njc4OTo7PD0-Pw';
    const ranges = syntheticRanges(300);
    const pads = syntheticPads(300);
    for (let i = 0; i < 2; i++) {
      const answer = await post(server, gzipSync(uploadWithPads(ranges, pads, fileId)), { fileId });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    const stored = await server.store.symbolization.returnPads(
      fileId,
      pads.map((p) => p.address),
    );
    assert.equal(stored.size, 300);
    assert.deepEqual(stored.get(pads[299].address), pads[299].frames);
  });

  it('accepts an upload in format version 1 (ranges only, as clients before pads send it)', async () => {
    const fileId = 'QEFCQ0RFRkdISUpLTE1OTw';
    const body = upload(syntheticRanges(50), fileId);
    // Byte 8 after the magic is the header's length; the version is the header's first field.
    assert.equal(uploadSchema.message.decode(body.subarray(9, 9 + body[8])).toJSON().header.formatVersion, 1);
    const answer = await post(server, gzipSync(body), { fileId });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((answer.body as { pads?: number }).pads, 0);
    assert.equal((await get(server, fileId)).body.hasSymbols, true);
    await assertNoPads(
      fileId,
      syntheticPads(50).map((p) => p.address),
    );
  });

  const hostile: Array<{
    name: string;
    body: () => Buffer;
    status: number;
    reason: string;
    message: RegExp;
  }> = [
    {
      name: 'pads in a format version 1 upload',
      body: () => withPadChunks([{ strings: ['f'], pads: [goodPad] }], 1, 1),
      status: 400,
      reason: 'bad_sequence',
      message: /holds return pads, which need format version 2 \(the header says 1\)/,
    },
    {
      name: 'a range chunk after pads',
      body: () =>
        gzipSync(
          Buffer.concat([
            headerV2(HOSTILE_ID),
            message({ chunk: { strings: ['f'], ranges: [goodRange] } }),
            message({ pads: { strings: ['f', 'a.c'], pads: [goodPad] } }),
            message({ chunk: { strings: ['f'], ranges: [{ ...goodRange, startDelta: 0x3000 }] } }),
            encodeTrailer(2, 2, 1, 1),
          ]),
        ),
      status: 400,
      reason: 'bad_sequence',
      message: /range chunk after return pads/,
    },
    {
      name: 'more pads than the limit',
      body: () =>
        withPadChunks(
          [
            {
              strings: ['f'],
              pads: Array.from({ length: 1001 }, () => ({ addressDelta: 4, frames: [1, 0, 1, 1] })),
            },
          ],
          1001,
        ),
      status: 413,
      reason: 'too_many_pads',
      message: /more than 1000 return pads/,
    },
    {
      name: 'a chain deeper than the inline depth limit',
      body: () =>
        withPadChunks(
          [{ strings: ['f'], pads: [{ addressDelta: 0x1008, frames: Array(4 * 10).fill(1) }] }],
          1,
        ),
      status: 400,
      reason: 'pad_too_deep',
      message: /a chain of more than 9 frames \(inline depth limit 8\)/,
    },
    {
      name: 'a string index outside the chunk table',
      body: () =>
        withPadChunks([{ strings: ['f'], pads: [{ addressDelta: 0x1008, frames: [1, 5, 1, 1] }] }], 1),
      status: 400,
      reason: 'bad_string_index',
      message: /string index 5 outside the chunk's table of 1 strings/,
    },
    {
      name: 'a string over the length limit',
      body: () => withPadChunks([{ strings: ['x'.repeat(2000)], pads: [goodPad] }], 1),
      status: 400,
      reason: 'string_too_long',
      message: /pad chunk 1, string 1 is 2000 bytes long, over the limit of 1024/,
    },
    {
      name: 'two pads at one address (across chunks)',
      body: () =>
        withPadChunks(
          [
            { strings: ['f', 'a.c'], pads: [goodPad] },
            { strings: ['f', 'a.c'], pads: [goodPad] },
          ],
          2,
        ),
      status: 400,
      reason: 'bad_pad',
      message: /pad chunk 2, pad 1: address 0x1008 does not follow the previous pad's 0x1008/,
    },
    {
      name: 'a pad without frames',
      body: () => withPadChunks([{ strings: ['f'], pads: [{ addressDelta: 0x1008, frames: [] }] }], 1),
      status: 400,
      reason: 'bad_pad',
      message: /a pad without frames/,
    },
    {
      name: 'frame numbers not four per frame',
      body: () => withPadChunks([{ strings: ['f'], pads: [{ addressDelta: 0x1008, frames: [1, 0, 1] }] }], 1),
      status: 400,
      reason: 'bad_pad',
      message: /3 frame numbers, not four per frame/,
    },
    {
      name: 'a negative pad address',
      body: () => withPadChunks([{ strings: ['f'], pads: [{ addressDelta: -5, frames: [1, 0, 1, 1] }] }], 1),
      status: 400,
      reason: 'bad_pad',
      message: /address -5 is out of range/,
    },
    {
      name: 'a line beyond what the stores keep',
      body: () =>
        withPadChunks([{ strings: ['f'], pads: [{ addressDelta: 0x1008, frames: [1, 0, 2 ** 31, 1] }] }], 1),
      status: 400,
      reason: 'bad_pad',
      message: /frame 1 has a line over 2147483647/,
    },
    {
      name: 'a trailer whose pad counts disagree',
      body: () =>
        gzipSync(
          Buffer.concat([
            headerV2(HOSTILE_ID),
            message({ chunk: { strings: ['f'], ranges: [goodRange] } }),
            message({ pads: { strings: ['f', 'a.c'], pads: [goodPad] } }),
            encodeTrailer(1, 1, 5, 1),
          ]),
        ),
      status: 400,
      reason: 'count_mismatch',
      message: /the trailer counts 5 return pads in 1 chunks, the upload held 1 in 1/,
    },
    {
      name: 'an upload cut after its pads (no trailer)',
      body: () =>
        gzipSync(
          Buffer.concat([
            headerV2(HOSTILE_ID),
            message({ chunk: { strings: ['f'], ranges: [goodRange] } }),
            message({ pads: { strings: ['f', 'a.c'], pads: [goodPad] } }),
          ]),
        ),
      status: 400,
      reason: 'truncated',
      message: /1 pad chunks \(1 pads\) without its trailer/,
    },
  ];

  for (const h of hostile) {
    it(`refuses ${h.name}: ${h.status} naming the problem, neither ranges nor pads stored`, async () => {
      const answer = await post(server, h.body(), { fileId: HOSTILE_ID });
      assertRejected(answer, h.status, h.reason, h.message);
      await assertNothingStored(server, HOSTILE_ID);
      await assertNoPads(HOSTILE_ID, [0x1008, 0x100c]);
    });
  }
});
