/**
 * The symbol upload wire format (src/protocol/proto/uniprof/symbol_upload.proto): constants, the limits the
 * server enforces, and the client's encoder. The decoder is in decode.ts.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { ReturnPad, SymbolRange } from '../../model/symbols.ts';

/** Ranges only: what clients before return pads send, still accepted. */
export const SYMBOL_UPLOAD_FORMAT_VERSION_RANGES = 1;
/** Ranges, then return pads. */
export const SYMBOL_UPLOAD_FORMAT_VERSION_PADS = 2;
export const SYMBOL_UPLOAD_FORMAT_VERSIONS: readonly number[] = [
  SYMBOL_UPLOAD_FORMAT_VERSION_RANGES,
  SYMBOL_UPLOAD_FORMAT_VERSION_PADS,
];
/** First bytes of the decompressed stream: tells our format from anything else before any parsing. */
export const SYMBOL_UPLOAD_MAGIC = Buffer.from('UPSYMBOL', 'ascii');
export const SYMBOL_UPLOAD_CONTENT_TYPE = 'application/vnd.uniprof.symbols+gzip';

/** Field numbers, shared by the hand-written decoder. */
export const Field = {
  message: { header: 1, chunk: 2, trailer: 3, pads: 4 },
  header: { formatVersion: 1, fileId: 2, buildId: 3, fileName: 4 },
  chunk: { strings: 1, ranges: 2 },
  range: {
    startDelta: 1,
    length: 2,
    depth: 3,
    functionName: 4,
    functionLine: 5,
    fileName: 6,
    callFileName: 7,
    callLine: 8,
    lineOffsetDeltas: 9,
    lineDeltas: 10,
  },
  padChunk: { strings: 1, pads: 2 },
  pad: { addressDelta: 1, frames: 2 },
  trailer: { ranges: 1, chunks: 2, pads: 3, padChunks: 4 },
} as const;

export interface UploadLimits {
  /** Decompressed bytes of one upload (and compressed bytes: a stream of empty deflate blocks is no excuse). */
  maxUploadBytes: number;
  /** One framed message (a chunk, the header or the trailer). */
  maxMessageBytes: number;
  /** One string of a chunk's string table, in bytes. */
  maxStringBytes: number;
  /** Ranges over the whole upload. */
  maxRanges: number;
  /** Inline depth (the symbolizer gives up at the same depth when reading DWARF); a pad's chain has at most maxDepth + 1 frames. */
  maxDepth: number;
  /** Return pads over the whole upload. */
  maxPads: number;
  /** Longest wait for the next bytes of the body before the upload is given up (408). */
  idleTimeoutMs: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxUploadBytes: 512 * 1024 * 1024,
  maxMessageBytes: 16 * 1024 * 1024,
  maxStringBytes: 256 * 1024,
  maxRanges: 100_000_000,
  maxDepth: 512,
  maxPads: 100_000_000,
  idleTimeoutMs: 60_000,
};

export interface UploadHeader {
  formatVersion: number;
  /** base64url, as the model keeps file IDs. */
  fileId: string;
  buildId?: string;
  fileName?: string;
}

function loadSchema(): protobuf.Root {
  const protoDir = join(dirname(fileURLToPath(import.meta.url)), '../../protocol/proto');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync('uniprof/symbol_upload.proto', { keepCase: false });
  root.resolveAll();
  return root;
}

const root = loadSchema();
export const uploadSchema = {
  message: root.lookupType('uniprof.symbols.v1.UploadMessage'),
  header: root.lookupType('uniprof.symbols.v1.UploadHeader'),
  chunk: root.lookupType('uniprof.symbols.v1.RangeChunk'),
  trailer: root.lookupType('uniprof.symbols.v1.UploadTrailer'),
};

/** A message with its varint length prefix. */
export function frame(message: Uint8Array): Buffer {
  const prefix = protobuf.Writer.create().uint32(message.length).finish();
  return Buffer.concat([prefix, message]);
}

export function encodeHeader(header: UploadHeader): Buffer {
  return frame(
    uploadSchema.message
      .encode({
        header: {
          formatVersion: header.formatVersion,
          fileId: Buffer.from(header.fileId, 'base64url'),
          buildId: header.buildId ?? '',
          fileName: header.fileName ?? '',
        },
      })
      .finish(),
  );
}

export function encodeTrailer(ranges: number, chunks: number, pads = 0, padChunks = 0): Buffer {
  return frame(uploadSchema.message.encode({ trailer: { ranges, chunks, pads, padChunks } }).finish());
}

interface RangeMessage {
  startDelta: number;
  length: number;
  depth: number;
  functionName: number;
  functionLine: number;
  fileName: number;
  callFileName: number;
  callLine: number;
  lineOffsetDeltas: number[];
  lineDeltas: number[];
}

/** Ranges per chunk, and the estimated size at which a chunk is sent early (well under maxMessageBytes). */
const CHUNK_RANGES = 8192;
const CHUNK_BYTES = 2 * 1024 * 1024;

/** Collects ranges into chunks with a per-chunk string table. */
class ChunkBuilder {
  private strings = new Map<string, number>();
  private list: string[] = [];
  private ranges: RangeMessage[] = [];
  private previousStart = 0;
  private estimate = 0;

  get size(): number {
    return this.ranges.length;
  }

  get full(): boolean {
    return this.ranges.length >= CHUNK_RANGES || this.estimate >= CHUNK_BYTES;
  }

  private index(text: string): number {
    if (text === '') return 0;
    let i = this.strings.get(text);
    if (i === undefined) {
      this.list.push(text);
      i = this.list.length;
      this.strings.set(text, i);
      this.estimate += Buffer.byteLength(text) + 3;
    }
    return i;
  }

  add(range: SymbolRange): void {
    const lineOffsetDeltas = new Array<number>(range.lineOffsets.length);
    const lineDeltas = new Array<number>(range.lines.length);
    for (let i = 0; i < range.lineOffsets.length; i++) {
      lineOffsetDeltas[i] = range.lineOffsets[i] - (i === 0 ? 0 : range.lineOffsets[i - 1]);
      lineDeltas[i] = range.lines[i] - (i === 0 ? 0 : range.lines[i - 1]);
    }
    this.ranges.push({
      startDelta: range.start - this.previousStart,
      length: range.end - range.start,
      depth: range.depth,
      functionName: this.index(range.functionName),
      functionLine: range.functionLine,
      fileName: this.index(range.fileName),
      callFileName: this.index(range.callFileName),
      callLine: range.callLine,
      lineOffsetDeltas,
      lineDeltas,
    });
    this.previousStart = range.start;
    this.estimate += 24 + 4 * range.lines.length;
  }

  finish(): Buffer {
    const bytes = uploadSchema.message
      .encode({ chunk: { strings: this.list, ranges: this.ranges } })
      .finish();
    this.strings = new Map();
    this.list = [];
    this.ranges = [];
    this.previousStart = 0;
    this.estimate = 0;
    return frame(bytes);
  }
}

/** Pads per chunk; a pad is ~10 bytes and a few names, so chunks stay far under maxMessageBytes. */
const PAD_CHUNK_PADS = 16384;

/** Collects return pads into chunks with a per-chunk string table (a function's calls share its names). */
class PadChunkBuilder {
  private strings = new Map<string, number>();
  private list: string[] = [];
  private pads: Array<{ addressDelta: number; frames: number[] }> = [];
  private previousAddress = 0;

  get size(): number {
    return this.pads.length;
  }

  get full(): boolean {
    return this.pads.length >= PAD_CHUNK_PADS;
  }

  private index(text: string): number {
    if (text === '') return 0;
    let i = this.strings.get(text);
    if (i === undefined) {
      this.list.push(text);
      i = this.list.length;
      this.strings.set(text, i);
    }
    return i;
  }

  add(pad: ReturnPad): void {
    const frames = new Array<number>(pad.frames.length * 4);
    pad.frames.forEach((f, i) => {
      frames[4 * i] = this.index(f.functionName);
      frames[4 * i + 1] = this.index(f.fileName);
      frames[4 * i + 2] = f.line;
      frames[4 * i + 3] = f.startLine;
    });
    this.pads.push({ addressDelta: pad.address - this.previousAddress, frames });
    this.previousAddress = pad.address;
  }

  finish(): Buffer {
    const bytes = uploadSchema.message.encode({ pads: { strings: this.list, pads: this.pads } }).finish();
    this.strings = new Map();
    this.list = [];
    this.pads = [];
    this.previousAddress = 0;
    return frame(bytes);
  }
}

export interface EncodeProgress {
  ranges: number;
  chunks: number;
  pads: number;
  padChunks: number;
  /** Pads left out because their address did not follow the previous pad's (overlapping functions). */
  padsSkipped: number;
}

/**
 * The decompressed upload stream for a file's ranges, lazily: each yielded buffer is produced only when the
 * consumer asks for it, so extraction, compression and sending proceed at the pace of the network. With
 * `pads`, the stream is format version 2 and `pads()` is called once every range is encoded (pads are made
 * from the ranges); pads must come in increasing address order, one not above the previous is left out.
 */
export function* encodeSymbolUpload(
  header: Omit<UploadHeader, 'formatVersion'>,
  batches: Iterable<readonly SymbolRange[]>,
  onProgress?: (progress: EncodeProgress, batch: readonly SymbolRange[]) => void,
  pads?: () => Iterable<readonly ReturnPad[]>,
): Generator<Buffer> {
  const formatVersion = pads ? SYMBOL_UPLOAD_FORMAT_VERSION_PADS : SYMBOL_UPLOAD_FORMAT_VERSION_RANGES;
  yield Buffer.concat([SYMBOL_UPLOAD_MAGIC, encodeHeader({ ...header, formatVersion })]);
  const progress: EncodeProgress = { ranges: 0, chunks: 0, pads: 0, padChunks: 0, padsSkipped: 0 };
  const chunk = new ChunkBuilder();
  for (const batch of batches) {
    for (const range of batch) {
      chunk.add(range);
      progress.ranges++;
      if (chunk.full) {
        progress.chunks++;
        yield chunk.finish();
      }
    }
    onProgress?.(progress, batch);
  }
  if (chunk.size > 0) {
    progress.chunks++;
    yield chunk.finish();
  }
  if (pads) {
    const padChunk = new PadChunkBuilder();
    let previous = -1;
    for (const batch of pads()) {
      for (const pad of batch) {
        // The server wants strictly increasing addresses (its duplicate check costs no memory that way).
        // The generator gives them in order except where depth-0 ranges overlap (inconsistent DWARF); such a
        // pad is left out and counted, and its frame is answered from the ranges as without pads.
        if (pad.address <= previous) {
          progress.padsSkipped++;
          continue;
        }
        previous = pad.address;
        padChunk.add(pad);
        progress.pads++;
        if (padChunk.full) {
          progress.padChunks++;
          yield padChunk.finish();
        }
      }
      onProgress?.(progress, []);
    }
    if (padChunk.size > 0) {
      progress.padChunks++;
      yield padChunk.finish();
    }
  }
  yield encodeTrailer(progress.ranges, progress.chunks, progress.pads, progress.padChunks);
}
