/**
 * The servers, over real HTTP to a real `uniprof serve`: the symbol-upload endpoint (POST
 * /api/v1/symbols/{fileId}, gzip-compressed upload streams made from the ranges and return pads of programs
 * built in the test run, mutated before compression or after it) and the OTLP receivers, HTTP and gRPC (the
 * OTLP targets' protobuf and JSON cases). Every answer must come within the case budget, be below 500, carry a
 * message when it is a 4xx, and leave the server running.
 */
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import type { SymbolRange } from '../../../src/model/symbols.ts';
import { OTLP_HTTP_PROFILES_PATH } from '../../../src/protocol/otlp-profiles.ts';
import { RangeIndex } from '../../../src/symbolizer/ranges/range-index.ts';
import { extractRanges } from '../../../src/symbolizer/ranges/extract.ts';
import { openExecutableCode, returnPadsFrom } from '../../../src/symbolizer/returnpads/generate.ts';
import { fileIdOfExecutable } from '../../../src/symbolizer/upload/file-id.ts';
import {
  encodeSymbolUpload,
  SYMBOL_UPLOAD_CONTENT_TYPE,
  SYMBOL_UPLOAD_MAGIC,
} from '../../../src/symbolizer/upload/format.ts';
import { buildProgram, canBuild, MissingToolError } from '../../peers/toolchains.ts';
import { grpcClient, grpcExport } from '../../collector/helpers.ts';
import { mutatedBytes, protobufHotSpots, type Seed } from '../support/mutate.ts';
import { fetchWithin, judgeAnswer, startFuzzServe } from '../support/serve-peer.ts';
import { FuzzViolation, type FuzzTarget, type Outcome, type PreparedTarget } from '../support/target.ts';
import { otlpJsonInputs } from './otlp-json.ts';
import { otlpProtobufInputs } from './otlp-protobuf.ts';

/** First byte of an upload case: send the rest gzip-compressed, or as it is (a damaged gzip stream). */
const COMPRESS = 0;
const AS_IS = 1;

/** Frame length prefixes and the protobuf fields inside each frame of an upload stream. */
function uploadHotSpots(stream: Uint8Array): number[] {
  const spots: number[] = [];
  let at = SYMBOL_UPLOAD_MAGIC.length;
  while (at < stream.length && spots.length < 20_000) {
    spots.push(at);
    let length = 0;
    let scale = 1;
    let p = at;
    for (; p < stream.length; p++) {
      length += (stream[p] & 0x7f) * scale;
      scale *= 128;
      if (stream[p] < 0x80) break;
    }
    const start = p + 1;
    for (const s of protobufHotSpots(stream.subarray(start, start + length), 2_000)) spots.push(start + s);
    at = start + length;
  }
  return spots;
}

function uploadSeeds(): { seeds: Seed[]; fileIds: string[]; firstFileId: string } {
  const variants = (['c-dwarf5', 'cpp'] as const).filter((v) => canBuild(v));
  if (variants.length === 0) throw new MissingToolError('no program to make symbol uploads from');
  const seeds: Seed[] = [];
  const fileIds: string[] = [];
  let firstFileId = '';
  for (const variant of variants) {
    const path = buildProgram(variant).binary;
    const { fileId, hex } = fileIdOfExecutable(path);
    fileIds.push(hex);
    firstFileId ||= fileId;
    const ranges = [...extractRanges(path)].flat();
    const opened = openExecutableCode(path);
    const pads =
      'executable' in opened
        ? () => returnPadsFrom(opened.executable, RangeIndex.of(ranges), { chunkSize: 256 })
        : undefined;
    for (const withPads of pads ? [false, true] : [false]) {
      const stream = Buffer.concat([
        ...encodeSymbolUpload(
          { fileId, fileName: variant },
          [ranges],
          undefined,
          withPads ? pads : undefined,
        ),
      ]);
      const hotSpots = uploadHotSpots(stream).map((s) => s + 2);
      // The first byte picks the file ID of the path (the seed's own: a mutation there makes it disagree with
      // the header), the second how the body is sent.
      const id = fileIds.length - 1;
      const name = `${variant}${withPads ? ' with pads' : ''}`;
      seeds.push({ name, bytes: Buffer.concat([Uint8Array.of(id, COMPRESS), stream]), hotSpots });
      const gzip = gzipSync(stream);
      seeds.push({
        name: `${name}, gzip`,
        bytes: Buffer.concat([Uint8Array.of(id, AS_IS), gzip]),
        hotSpots: [5, 6, 11, 12, 13],
      });
    }
    if ('executable' in opened) opened.executable.elf.close();
  }
  return { seeds, fileIds, firstFileId };
}

const edgeName = fc.string({ maxLength: 24, unit: 'binary' });
const plainName = fc.oneof(
  fc.constantFrom('', 'main', '_ZN3foo3barEv', '_RNvCs1234_4core3fmt', 'inlined_helper', 'src/a.c'),
  fc.string({ maxLength: 24 }),
);
const edgeLine = fc.constantFrom(-1, 2 ** 31 - 1, 2 ** 32, 2 ** 53 - 1);

/** A range as the client would send it, or (one in five) with edge values in any field. */
const generatedRange: fc.Arbitrary<SymbolRange> = fc.nat(4).chain((edge) => {
  const pick = <T>(plain: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) =>
    edge === 0 ? fc.oneof(plain, odd) : plain;
  const name = pick(plainName, edgeName);
  const line = pick(fc.nat(10_000), edgeLine);
  return fc
    .record({
      start: pick(fc.nat(0xfffff), fc.constantFrom(0, 2 ** 32, 2 ** 47, 2 ** 53 - 1)),
      length: pick(fc.integer({ min: 1, max: 0x400 }), fc.constantFrom(0, -1, 2 ** 32)),
      depth: pick(fc.nat(3), fc.constantFrom(511, 512, 513, 100_000)),
      functionName: name,
      functionLine: line,
      fileName: name,
      callFileName: name,
      callLine: line,
      table: fc.array(fc.tuple(fc.nat(0x400), line), { maxLength: 4 }),
    })
    .map((r) => {
      // In order and inside the range unless this is an edge case.
      const table = edge === 0 ? r.table : r.table.map(([o, l]): [number, number] => [o % r.length, l]);
      if (edge !== 0) table.sort((a, b) => a[0] - b[0]);
      return {
        start: r.start,
        end: r.start + r.length,
        depth: r.depth,
        functionName: r.functionName,
        functionLine: r.functionLine,
        fileName: r.fileName,
        callFileName: r.callFileName,
        callLine: r.callLine,
        lineOffsets: table.map(([offset]) => offset),
        lines: table.map(([, l]) => l),
      };
    });
});

/**
 * Whole uploads of generated ranges (usually in address order, as the client sends them), encoded by the
 * client's encoder: well-formed streams whose values are edge cases, which reach the checks and the store
 * behind the framing that byte mutations mostly stop at.
 */
function generatedUploads(fileId: string): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.array(generatedRange, { minLength: 1, maxLength: 40 }), fc.nat(9))
    .map(([ranges, order]) => {
      if (order < 8) ranges.sort((a, b) => a.start - b.start || a.depth - b.depth);
      const stream = Buffer.concat([...encodeSymbolUpload({ fileId, fileName: 'fuzz' }, [ranges])]);
      return Buffer.concat([Uint8Array.of(0, COMPRESS), stream]);
    });
}

export const symbolUploadTarget: FuzzTarget = {
  name: 'symbol-upload',
  description: 'symbol-upload endpoint of uniprof serve (HTTP, gzip upload streams with ranges and pads)',
  caseBudgetMs: 10_000,
  async prepare(): Promise<PreparedTarget> {
    const { seeds, fileIds, firstFileId } = uploadSeeds();
    const serve = await startFuzzServe();
    const base = serve.addresses.symbolizer;
    if (!base) throw new Error('uniprof serve printed no symbolizer address');
    return {
      arbitrary: fc.oneof(
        { weight: 3, arbitrary: mutatedBytes(seeds, { hotWeight: 60 }) },
        { weight: 1, arbitrary: generatedUploads(firstFileId) },
      ),
      childPids: serve.child.pid ? [serve.child.pid] : [],
      async run(input) {
        const fileId = fileIds[(input[0] ?? 0) % fileIds.length];
        const mode = (input[1] ?? 0) & 1;
        const rest = input.subarray(2);
        const body = Buffer.from(mode === AS_IS ? rest : gzipSync(rest, { level: 1 }));
        const response = await fetchWithin(
          `${base}/api/v1/symbols/${fileId}`,
          {
            method: 'POST',
            headers: {
              authorization: `Bearer ${serve.uploadToken}`,
              'content-type': SYMBOL_UPLOAD_CONTENT_TYPE,
            },
            body,
          },
          symbolUploadTarget.caseBudgetMs,
        );
        const outcome = await judgeAnswer(response, 'symbol upload');
        serve.assertUp();
        return outcome;
      },
      close: () => serve.close(),
    };
  },
};

const HTTP_PROTOBUF = 0;
const HTTP_JSON = 1;
const GRPC = 2;

/** gRPC answers a fuzzed Export may get: stored, refused as malformed, or the store's backpressure. */
const GRPC_EXPECTED = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]);

export const otlpReceiversTarget: FuzzTarget = {
  name: 'otlp-receivers',
  description: 'OTLP/HTTP (protobuf, JSON) and gRPC receivers of uniprof serve, real store behind them',
  caseBudgetMs: 10_000,
  async prepare(): Promise<PreparedTarget> {
    const serve = await startFuzzServe();
    const url = `${serve.addresses.otlpHttp}${OTLP_HTTP_PROFILES_PATH}`;
    const client = grpcClient(serve.addresses.grpc);
    const tagged = (tags: number[]) => (bytes: Uint8Array, i: number) =>
      Buffer.concat([Uint8Array.of(tags[i % tags.length]), bytes]);
    const protobufCases = fc
      .tuple(otlpProtobufInputs(), fc.nat())
      .map(([bytes, i]) => tagged([HTTP_PROTOBUF, GRPC])(bytes, i));
    return {
      arbitrary: fc.oneof(
        protobufCases,
        otlpJsonInputs().map((bytes) => tagged([HTTP_JSON])(bytes, 0)),
      ),
      childPids: serve.child.pid ? [serve.child.pid] : [],
      async run(input) {
        const body = Buffer.from(input.subarray(1));
        let outcome: Outcome;
        if (input[0] === GRPC) {
          const answer = await grpcExport(client, body, serve.agentToken);
          if (!GRPC_EXPECTED.has(answer.code) || (answer.code !== grpc.status.OK && !answer.details)) {
            throw new FuzzViolation(`gRPC Export: status ${grpc.status[answer.code]} ${answer.details}`);
          }
          outcome = answer.code === grpc.status.OK ? 'accepted' : 'rejected';
        } else {
          const json = input[0] === HTTP_JSON;
          const response = await fetchWithin(
            url,
            {
              method: 'POST',
              headers: {
                authorization: `Bearer ${serve.agentToken}`,
                'content-type': json ? 'application/json' : 'application/x-protobuf',
              },
              body,
            },
            otlpReceiversTarget.caseBudgetMs,
          );
          outcome = await judgeAnswer(response, `OTLP/HTTP ${json ? 'JSON' : 'protobuf'}`);
        }
        serve.assertUp();
        return outcome;
      },
      close: async () => {
        client.close();
        await serve.close();
      },
    };
  },
};
