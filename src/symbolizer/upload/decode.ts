/**
 * Streaming, bounded decoder of symbol uploads (format in format.ts and symbol_upload.proto). It inflates the
 * gzip body as it is read and never holds more than one framed message: memory is bounded by
 * `maxMessageBytes` whatever the upload's size, and a gzip bomb stops at `maxUploadBytes` of output, not
 * after inflating it. Every problem is a SymbolUploadError naming it, with the HTTP status to answer.
 */
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FILE_ID_BYTES } from '../../model/ids.ts';
import type { ReturnPad, SymbolizedFrame, SymbolRange } from '../../model/symbols.ts';
import { InvalidRequestError } from '../../protocol/errors.ts';
import { WireCursor, WireType } from '../../protocol/wire.ts';
import {
  DEFAULT_UPLOAD_LIMITS,
  Field,
  SYMBOL_UPLOAD_FORMAT_VERSIONS,
  SYMBOL_UPLOAD_FORMAT_VERSION_PADS,
  SYMBOL_UPLOAD_MAGIC,
  type UploadHeader,
  type UploadLimits,
} from './format.ts';

/**
 * A rejected upload: `status` is 400 (bad input), 408 (the client stopped sending) or 413 (over a size
 * limit); `reason` is a metrics label.
 */
export class SymbolUploadError extends InvalidRequestError {
  readonly status: 400 | 408 | 413;

  constructor(status: 400 | 408 | 413, reason: string, message: string) {
    super(reason, message);
    this.status = status;
  }
}

const bad = (reason: string, message: string) => new SymbolUploadError(400, reason, message);

export interface UploadStats {
  compressedBytes: number;
  decompressedBytes: number;
  chunks: number;
  ranges: number;
  strings: number;
  pads: number;
  padChunks: number;
}

const TWO_POW_32 = 4294967296;
/** Addresses and lengths are numbers: user-space addresses are far below 2^53. */
const MAX_ADDRESS = Number.MAX_SAFE_INTEGER;
/** Lines as both stores keep them (32-bit signed). */
const MAX_LINE = 2 ** 31 - 1;
/** Line offsets within a range as the stores keep them (32-bit unsigned). */
const MAX_LINE_OFFSET = 2 ** 32 - 1;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Counts and checks the compressed bytes on their way into gunzip. */
class CompressedGate extends Transform {
  bytes = 0;
  private readonly first: number[] = [];

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let i = 0; i < chunk.length && this.first.length < 2; i++) {
      this.first.push(chunk[i]);
      if (this.first.length === 2 && (this.first[0] !== 0x1f || this.first[1] !== 0x8b)) {
        callback(
          bad(
            'not_gzip',
            'not a uniprof symbol upload: the body must be gzip-compressed (it does not start with 1f 8b)',
          ),
        );
        return;
      }
    }
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(tooLarge(`compressed body exceeds the upload limit of ${this.maxBytes} bytes`));
      return;
    }
    callback(null, chunk);
  }
}

function tooLarge(message: string): SymbolUploadError {
  return new SymbolUploadError(413, 'too_large', message);
}

/** Turns stream errors (zlib, the client going away) into upload errors. */
function streamError(error: unknown): SymbolUploadError {
  if (error instanceof SymbolUploadError) return error;
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/.test(e.message))
    return bad('truncated', 'truncated upload: the gzip stream ends early');
  if (e.code?.startsWith('Z_')) return bad('bad_gzip', `not a valid gzip stream: ${e.message}`);
  if (e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' || /aborted/.test(e.message))
    return bad('truncated', 'truncated upload: the connection closed before the end of the body');
  return bad('bad_stream', `could not read the upload: ${e.message}`);
}

/**
 * Reads one upload. Call `readHeader()` first, then iterate `chunks()` to the end (it checks the trailer and
 * that nothing follows); on any error, or if the caller stops early, call `destroy()`.
 */
export class SymbolUploadDecoder {
  readonly stats: UploadStats = {
    compressedBytes: 0,
    decompressedBytes: 0,
    chunks: 0,
    ranges: 0,
    strings: 0,
    pads: 0,
    padChunks: 0,
  };
  private readonly limits: UploadLimits;
  private readonly gate: CompressedGate;
  private readonly source: Readable;
  private readonly gunzip: ReturnType<typeof createGunzip>;
  private readonly output: AsyncIterator<Buffer>;
  private pieces: Buffer[] = [];
  private available = 0;
  private ended = false;
  private failure: SymbolUploadError | undefined;
  private formatVersion = 0;
  /** The first pad chunk, read by `chunks()` where the ranges end. */
  private firstPads: Buffer | undefined;
  /** The trailer has been read and checked, and nothing followed it. */
  private complete = false;
  private readonly padOrder: PadOrder = { previous: -1 };

  constructor(compressed: Readable | AsyncIterable<Uint8Array>, limits: Partial<UploadLimits> = {}) {
    this.limits = { ...DEFAULT_UPLOAD_LIMITS, ...limits };
    this.gate = new CompressedGate(this.limits.maxUploadBytes);
    this.gunzip = createGunzip();
    this.source = compressed instanceof Readable ? compressed : Readable.from(compressed);
    // The source (an HTTP request) is piped, not put in the pipeline: on an error the pipeline is torn down
    // but the request stays open, so the server can still answer with the reason before closing.
    pipeline(this.gate, this.gunzip, (error) => {
      if (error && !this.failure) this.failure = streamError(error);
    });
    this.source.on('error', (error) => this.gate.destroy(streamError(error)));
    this.source.on('close', () => {
      if (!this.source.readableEnded) {
        this.gate.destroy(
          bad('truncated', 'truncated upload: the connection closed before the end of the body'),
        );
      }
    });
    this.source.pipe(this.gate);
    this.output = this.gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Stops reading; the source is left paused (not destroyed) for its owner to close. */
  destroy(): void {
    this.source.unpipe(this.gate);
    this.source.pause();
    this.gunzip.destroy();
    this.gate.destroy();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    let next: IteratorResult<Buffer>;
    let timer: NodeJS.Timeout | undefined;
    try {
      // A client that stops sending must not hold the store's write open forever.
      const idle = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new SymbolUploadError(
                408,
                'timeout',
                `the upload stalled: no data for ${this.limits.idleTimeoutMs / 1000} s`,
              ),
            ),
          this.limits.idleTimeoutMs,
        );
      });
      next = await Promise.race([this.output.next(), idle]);
    } catch (error) {
      if (error instanceof SymbolUploadError && error.reason === 'timeout') {
        this.destroy();
        throw error;
      }
      throw this.failure ?? streamError(error);
    } finally {
      clearTimeout(timer);
    }
    this.stats.compressedBytes = this.gate.bytes;
    if (next.done) {
      // pipeline reports some failures (e.g. the client going away) only through its callback.
      if (this.failure) throw this.failure;
      this.ended = true;
      return false;
    }
    this.stats.decompressedBytes += next.value.length;
    if (this.stats.decompressedBytes > this.limits.maxUploadBytes) {
      this.destroy();
      throw tooLarge(`upload exceeds the limit of ${this.limits.maxUploadBytes} bytes once decompressed`);
    }
    this.pieces.push(next.value);
    this.available += next.value.length;
    return true;
  }

  /** Exactly n bytes, or undefined when the stream ends first (with `available` bytes left over). */
  private async read(n: number): Promise<Buffer | undefined> {
    while (this.available < n) if (!(await this.pull())) return undefined;
    const all = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pieces = rest.length > 0 ? [rest] : [];
    this.available = rest.length;
    return out;
  }

  private async atEnd(): Promise<boolean> {
    while (this.available === 0) if (!(await this.pull())) return true;
    return false;
  }

  /** The next framed message's bytes, or undefined at a clean end of stream. */
  private async message(what: string): Promise<Buffer | undefined> {
    if (await this.atEnd()) return undefined;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = await this.read(1);
      if (!byte) throw bad('truncated', `truncated upload: the stream ends inside the length of ${what}`);
      if (shift === 28 && byte[0] > 0x0f) throw bad('too_large_message', `${what}: length prefix over 2^32`);
      length += (byte[0] & 0x7f) * 2 ** shift;
      if (byte[0] < 0x80) break;
    }
    if (length > this.limits.maxMessageBytes) {
      throw bad(
        'message_too_large',
        `${what} claims ${length} bytes, over the per-message limit of ${this.limits.maxMessageBytes}`,
      );
    }
    const body = await this.read(length);
    if (!body) {
      throw bad('truncated', `truncated upload: ${what} claims ${length} bytes, the stream ends before them`);
    }
    return body;
  }

  async readHeader(): Promise<UploadHeader> {
    const magic = await this.read(SYMBOL_UPLOAD_MAGIC.length);
    if (!magic || !magic.equals(SYMBOL_UPLOAD_MAGIC)) {
      throw bad(
        'not_symbol_upload',
        'not a uniprof symbol upload: the decompressed body does not start with "UPSYMBOL"',
      );
    }
    const bytes = await this.message('the header');
    if (!bytes) throw bad('truncated', 'truncated upload: no header after the magic bytes');
    const { kind, start, end } = messageKind(bytes, 'the first message');
    if (kind !== Field.message.header)
      throw bad('no_header', 'the first message of an upload must be its header');
    const header = parseHeader(bytes, start, end);
    this.formatVersion = header.formatVersion;
    return header;
  }

  /** The next message after the header, or a `truncated` error naming what was read. */
  private async next(): Promise<{ what: string; bytes: Buffer; kind: number; start: number; end: number }> {
    const what = `message ${this.stats.chunks + this.stats.padChunks + 2}`;
    const bytes = await this.message(what);
    if (!bytes) {
      throw bad(
        'truncated',
        `truncated upload: the stream ends after ${this.stats.chunks} chunks (${this.stats.ranges} ranges) and ${this.stats.padChunks} pad chunks (${this.stats.pads} pads) without its trailer`,
      );
    }
    const { kind, start, end } = messageKind(bytes, what);
    if (kind === Field.message.header) throw bad('bad_sequence', `${what} is a second header`);
    return { what, bytes, kind, start, end };
  }

  private async finish(bytes: Buffer, start: number, end: number): Promise<void> {
    this.checkTrailer(bytes, start, end);
    if (!(await this.atEnd())) throw bad('trailing_data', 'data follows the upload trailer');
    this.complete = true;
  }

  /**
   * Batches of ranges as they arrive. Ends after a valid trailer and the end of the stream, or at the first
   * pad chunk: then `padChunks()` reads the rest.
   */
  async *chunks(): AsyncGenerator<SymbolRange[]> {
    if (this.formatVersion === 0) throw new Error('readHeader() first');
    for (;;) {
      const { what, bytes, kind, start, end } = await this.next();
      if (kind === Field.message.trailer) {
        await this.finish(bytes, start, end);
        return;
      }
      if (kind === Field.message.pads) {
        if (this.formatVersion < SYMBOL_UPLOAD_FORMAT_VERSION_PADS) {
          throw bad(
            'bad_sequence',
            `${what} holds return pads, which need format version ${SYMBOL_UPLOAD_FORMAT_VERSION_PADS} (the header says ${this.formatVersion})`,
          );
        }
        this.firstPads = bytes;
        return;
      }
      const ranges = parseChunk(bytes, start, end, this.stats.chunks + 1, this.limits, this.stats);
      this.stats.chunks++;
      yield ranges;
    }
  }

  /**
   * After `chunks()`: the return pads, a chunk at a time, each with its message's bytes (to keep without
   * decoding it twice over: `decodePadMessage` reads them back); ends after a valid trailer and the end of the
   * stream. Nothing when the upload has no pads.
   */
  async *padChunks(): AsyncGenerator<{ pads: ReturnPad[]; message: Buffer }> {
    for (;;) {
      if (this.complete) return;
      let message = this.firstPads;
      this.firstPads = undefined;
      if (message === undefined) {
        const next = await this.next();
        if (next.kind === Field.message.trailer) {
          await this.finish(next.bytes, next.start, next.end);
          return;
        }
        if (next.kind === Field.message.chunk) {
          throw bad(
            'bad_sequence',
            `${next.what} is a range chunk after return pads: ranges must all come first`,
          );
        }
        message = next.bytes;
      }
      const index = this.stats.padChunks + 1;
      const { start, end } = messageKind(message, `pad chunk ${index}`);
      const pads = parsePadChunk(
        message,
        start,
        end,
        `pad chunk ${index}`,
        this.limits,
        this.stats,
        this.padOrder,
      );
      this.stats.padChunks++;
      yield { pads, message };
    }
  }

  private checkTrailer(bytes: Buffer, start: number, end: number): void {
    const cursor = wireCursor(bytes, start);
    let ranges = 0;
    let chunks = 0;
    let pads = 0;
    let padChunks = 0;
    wrap('the trailer', () => {
      while (cursor.pos < end) {
        const tag = cursor.varint32(end);
        const field = tag >>> 3;
        if ((tag & 7) !== WireType.Varint) cursor.skip(tag & 7, end, field);
        else if (field === Field.trailer.ranges) ranges = unsigned(cursor, end);
        else if (field === Field.trailer.chunks) chunks = unsigned(cursor, end);
        else if (field === Field.trailer.pads) pads = unsigned(cursor, end);
        else if (field === Field.trailer.padChunks) padChunks = unsigned(cursor, end);
        else cursor.skip(tag & 7, end, field);
      }
    });
    if (ranges !== this.stats.ranges || chunks !== this.stats.chunks) {
      throw bad(
        'count_mismatch',
        `the trailer counts ${ranges} ranges in ${chunks} chunks, the upload held ${this.stats.ranges} in ${this.stats.chunks}`,
      );
    }
    if (pads !== this.stats.pads || padChunks !== this.stats.padChunks) {
      throw bad(
        'count_mismatch',
        `the trailer counts ${pads} return pads in ${padChunks} chunks, the upload held ${this.stats.pads} in ${this.stats.padChunks}`,
      );
    }
  }
}

function wireCursor(bytes: Uint8Array, start: number): WireCursor {
  return new WireCursor(bytes, start);
}

/** Runs a parse step and names where a wire-level error happened. */
function wrap<T>(where: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof SymbolUploadError) throw error;
    if (error instanceof InvalidRequestError) throw bad('malformed_protobuf', `${where}: ${error.message}`);
    throw error;
  }
}

/** The last varint as an unsigned number; values over 2^53 are refused rather than rounded. */
function unsigned(cursor: WireCursor, end: number): number {
  cursor.varint64(end);
  if (cursor.hi >= 0x200000) cursor.fail('value over 2^53');
  return cursor.hi * TWO_POW_32 + cursor.lo;
}

function zigzag64(cursor: WireCursor, end: number): number {
  const n = unsigned(cursor, end);
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

function messageKind(bytes: Buffer, what: string): { kind: number; start: number; end: number } {
  return wrap(what, () => {
    const cursor = wireCursor(bytes, 0);
    let found: { kind: number; start: number; end: number } | undefined;
    while (cursor.pos < bytes.length) {
      const tag = cursor.varint32(bytes.length);
      const field = tag >>> 3;
      if (field >= 1 && field <= 4 && (tag & 7) === WireType.Len) {
        if (found)
          throw bad('bad_sequence', `${what} holds more than one of header, chunk, pad chunk and trailer`);
        const end = cursor.delimited(bytes.length);
        found = { kind: field, start: cursor.pos, end };
        cursor.pos = end;
      } else cursor.skip(tag & 7, bytes.length, field);
    }
    if (!found) throw bad('bad_sequence', `${what} is neither a header, a chunk, a pad chunk nor a trailer`);
    return found;
  });
}

function text(bytes: Uint8Array, start: number, end: number, maxBytes: number, what: string): string {
  if (end - start > maxBytes) {
    throw bad('string_too_long', `${what} is ${end - start} bytes long, over the limit of ${maxBytes}`);
  }
  let decoded: string;
  try {
    decoded = utf8.decode(bytes.subarray(start, end));
  } catch {
    throw bad('bad_utf8', `${what} is not valid UTF-8`);
  }
  // The embedded store packs a range's names into one text with U+0001 between them.
  if (decoded.includes('\u0001')) throw bad('bad_string', `${what} contains the control character U+0001`);
  return decoded;
}

function parseHeader(bytes: Buffer, start: number, end: number): UploadHeader {
  const header: UploadHeader = { formatVersion: 0, fileId: '' };
  wrap('the header', () => {
    const cursor = wireCursor(bytes, start);
    while (cursor.pos < end) {
      const tag = cursor.varint32(end);
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === Field.header.formatVersion && wire === WireType.Varint) {
        header.formatVersion = unsigned(cursor, end);
      } else if (field === Field.header.fileId && wire === WireType.Len) {
        const stop = cursor.delimited(end);
        if (stop - cursor.pos !== FILE_ID_BYTES) {
          throw bad(
            'bad_file_id',
            `the header's file ID is ${stop - cursor.pos} bytes, not ${FILE_ID_BYTES}`,
          );
        }
        header.fileId = bytes.subarray(cursor.pos, stop).toString('base64url');
        cursor.pos = stop;
      } else if (field === Field.header.buildId && wire === WireType.Len) {
        const stop = cursor.delimited(end);
        header.buildId = text(bytes, cursor.pos, stop, 1024, "the header's build ID") || undefined;
        cursor.pos = stop;
      } else if (field === Field.header.fileName && wire === WireType.Len) {
        const stop = cursor.delimited(end);
        header.fileName = text(bytes, cursor.pos, stop, 4096, "the header's file name") || undefined;
        cursor.pos = stop;
      } else cursor.skip(wire, end, field);
    }
  });
  if (!SYMBOL_UPLOAD_FORMAT_VERSIONS.includes(header.formatVersion)) {
    throw bad(
      'bad_version',
      `upload format version ${header.formatVersion} is not supported (this server reads versions ${SYMBOL_UPLOAD_FORMAT_VERSIONS.join(' and ')})`,
    );
  }
  if (!header.fileId) throw bad('bad_file_id', 'the header has no file ID');
  if (header.buildId !== undefined && !/^[0-9a-f]+$/.test(header.buildId)) {
    throw bad('bad_build_id', `the header's build ID "${header.buildId}" is not lower-case hex`);
  }
  return header;
}

/** Repeated uint32 / sint32 fields, packed or not (a proto3 reader must take both). */
function repeatedVarint32(
  cursor: WireCursor,
  wire: number,
  end: number,
  out: number[],
  signed: boolean,
): void {
  const one = () => {
    const v = cursor.varint32(end);
    out.push(signed ? (v >>> 1) ^ -(v & 1) : v >>> 0);
  };
  if (wire === WireType.Len) {
    const stop = cursor.delimited(end);
    while (cursor.pos < stop) {
      const v = cursor.varint32(stop);
      out.push(signed ? (v >>> 1) ^ -(v & 1) : v >>> 0);
    }
  } else if (wire === WireType.Varint) one();
  else cursor.fail(`wire type ${wire} for a repeated varint field`);
}

/**
 * A chunk's string table and the [start, end) spans of its items, whose fields may come in any order
 * (items are decoded after, against the whole table). `checkCount` sees the running number of items.
 */
function scanChunk(
  bytes: Buffer,
  start: number,
  end: number,
  where: string,
  limits: UploadLimits,
  fields: { strings: number; items: number },
  checkCount: (items: number) => void,
): { strings: string[]; spans: number[] } {
  const strings: string[] = [''];
  const spans: number[] = [];
  wrap(where, () => {
    const cursor = wireCursor(bytes, start);
    while (cursor.pos < end) {
      const tag = cursor.varint32(end);
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === fields.strings && wire === WireType.Len) {
        const stop = cursor.delimited(end);
        strings.push(
          text(bytes, cursor.pos, stop, limits.maxStringBytes, `${where}, string ${strings.length}`),
        );
        cursor.pos = stop;
      } else if (field === fields.items && wire === WireType.Len) {
        const stop = cursor.delimited(end);
        spans.push(cursor.pos, stop);
        cursor.pos = stop;
        checkCount(spans.length / 2);
      } else cursor.skip(wire, end, field);
    }
  });
  return { strings, spans };
}

function parseChunk(
  bytes: Buffer,
  start: number,
  end: number,
  index: number,
  limits: UploadLimits,
  stats: UploadStats,
): SymbolRange[] {
  const where = `chunk ${index}`;
  const { strings, spans: rangeSpans } = scanChunk(
    bytes,
    start,
    end,
    where,
    limits,
    { strings: Field.chunk.strings, items: Field.chunk.ranges },
    (count) => {
      if (stats.ranges + count > limits.maxRanges)
        throw new SymbolUploadError(
          413,
          'too_many_ranges',
          `upload holds more than ${limits.maxRanges} ranges, the limit for one file`,
        );
    },
  );
  stats.strings += strings.length - 1;
  const ranges: SymbolRange[] = [];
  let previousStart = 0;
  for (let i = 0; i < rangeSpans.length; i += 2) {
    const range = parseRange(
      bytes,
      rangeSpans[i],
      rangeSpans[i + 1],
      strings,
      previousStart,
      limits,
      `${where}, range ${i / 2 + 1}`,
    );
    previousStart = range.start;
    ranges.push(range);
  }
  stats.ranges += ranges.length;
  return ranges;
}

function parseRange(
  bytes: Buffer,
  start: number,
  end: number,
  strings: readonly string[],
  previousStart: number,
  limits: UploadLimits,
  where: string,
): SymbolRange {
  let startDelta = 0;
  let length = 0;
  let depth = 0;
  const names = [0, 0, 0]; // function, file, call file
  let functionLine = 0;
  let callLine = 0;
  const offsetDeltas: number[] = [];
  const lineDeltas: number[] = [];
  wrap(where, () => {
    const cursor = wireCursor(bytes, start);
    const f = Field.range;
    while (cursor.pos < end) {
      const tag = cursor.varint32(end);
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === f.lineOffsetDeltas) repeatedVarint32(cursor, wire, end, offsetDeltas, false);
      else if (field === f.lineDeltas) repeatedVarint32(cursor, wire, end, lineDeltas, true);
      else if (wire !== WireType.Varint) cursor.skip(wire, end, field);
      else if (field === f.startDelta) startDelta = zigzag64(cursor, end);
      else if (field === f.length) length = unsigned(cursor, end);
      else if (field === f.depth) depth = cursor.varint32(end) >>> 0;
      else if (field === f.functionName) names[0] = cursor.varint32(end) >>> 0;
      else if (field === f.fileName) names[1] = cursor.varint32(end) >>> 0;
      else if (field === f.callFileName) names[2] = cursor.varint32(end) >>> 0;
      else if (field === f.functionLine) functionLine = cursor.varint32(end) >>> 0;
      else if (field === f.callLine) callLine = cursor.varint32(end) >>> 0;
      else cursor.skip(wire, end, field);
    }
  });
  const rangeStart = previousStart + startDelta;
  if (rangeStart < 0 || rangeStart > MAX_ADDRESS)
    throw bad('bad_range', `${where}: start address ${rangeStart} is out of range`);
  if (length <= 0) throw bad('bad_range', `${where}: empty range (length 0)`);
  if (rangeStart + length > MAX_ADDRESS) throw bad('bad_range', `${where}: end address beyond 2^53`);
  if (depth > limits.maxDepth)
    throw bad('bad_range', `${where}: inline depth ${depth} over the limit of ${limits.maxDepth}`);
  if (functionLine > MAX_LINE || callLine > MAX_LINE)
    throw bad('bad_range', `${where}: a function or call line over ${MAX_LINE}`);
  for (const n of names) {
    if (n >= strings.length) {
      throw bad(
        'bad_string_index',
        `${where}: string index ${n} outside the chunk's table of ${strings.length - 1} strings`,
      );
    }
  }
  if (offsetDeltas.length !== lineDeltas.length) {
    throw bad(
      'bad_line_table',
      `${where}: ${offsetDeltas.length} line offsets but ${lineDeltas.length} lines`,
    );
  }
  const lineOffsets = new Array<number>(offsetDeltas.length);
  const lines = new Array<number>(lineDeltas.length);
  let offset = 0;
  let line = 0;
  for (let i = 0; i < offsetDeltas.length; i++) {
    offset += offsetDeltas[i];
    line += lineDeltas[i];
    if (offset >= length)
      throw bad('bad_line_table', `${where}: line offset ${offset} outside the range's ${length} bytes`);
    if (offset > MAX_LINE_OFFSET)
      throw bad('bad_line_table', `${where}: line offset ${offset} over ${MAX_LINE_OFFSET}`);
    if (line < 0 || line > MAX_LINE) throw bad('bad_line_table', `${where}: line ${line} out of range`);
    lineOffsets[i] = offset;
    lines[i] = line;
  }
  return {
    start: rangeStart,
    end: rangeStart + length,
    depth,
    functionName: strings[names[0]],
    functionLine,
    fileName: strings[names[1]],
    callFileName: strings[names[2]],
    callLine,
    lineOffsets,
    lines,
  };
}

/** The last pad address of an upload: addresses must strictly increase, so none is stored twice. */
interface PadOrder {
  previous: number;
}

/**
 * One pad chunk, checked against the limits: string table and index bounds, chain depth, addresses in
 * strictly increasing order over the whole upload, the number of pads.
 */
function parsePadChunk(
  bytes: Buffer,
  start: number,
  end: number,
  where: string,
  limits: UploadLimits,
  stats: Pick<UploadStats, 'pads' | 'strings'>,
  order: PadOrder,
): ReturnPad[] {
  const { strings, spans: padSpans } = scanChunk(
    bytes,
    start,
    end,
    where,
    limits,
    { strings: Field.padChunk.strings, items: Field.padChunk.pads },
    (count) => {
      if (stats.pads + count > limits.maxPads)
        throw new SymbolUploadError(
          413,
          'too_many_pads',
          `upload holds more than ${limits.maxPads} return pads, the limit for one file`,
        );
    },
  );
  stats.strings += strings.length - 1;
  const pads: ReturnPad[] = [];
  let previousAddress = 0;
  const maxFrames = limits.maxDepth + 1;
  for (let i = 0; i < padSpans.length; i += 2) {
    const what = `${where}, pad ${i / 2 + 1}`;
    let addressDelta = 0;
    const numbers: number[] = [];
    wrap(what, () => {
      const cursor = wireCursor(bytes, padSpans[i]);
      const stop = padSpans[i + 1];
      while (cursor.pos < stop) {
        const tag = cursor.varint32(stop);
        const field = tag >>> 3;
        const wire = tag & 7;
        if (field === Field.pad.addressDelta && wire === WireType.Varint)
          addressDelta = zigzag64(cursor, stop);
        else if (field === Field.pad.frames) {
          // Packed or not; checked number by number, so a hostile chain costs no more than the limit.
          const one = (limit: number) => {
            numbers.push(cursor.varint32(limit) >>> 0);
            if (numbers.length > 4 * maxFrames) {
              throw bad(
                'pad_too_deep',
                `${what}: a chain of more than ${maxFrames} frames (inline depth limit ${limits.maxDepth})`,
              );
            }
          };
          if (wire === WireType.Len) {
            const packedEnd = cursor.delimited(stop);
            while (cursor.pos < packedEnd) one(packedEnd);
          } else if (wire === WireType.Varint) one(stop);
          else cursor.fail(`wire type ${wire} for a repeated varint field`);
        } else cursor.skip(wire, stop, field);
      }
    });
    const address = previousAddress + addressDelta;
    if (!Number.isSafeInteger(address) || address < 0 || address > MAX_ADDRESS)
      throw bad('bad_pad', `${what}: address ${address} is out of range`);
    if (address <= order.previous) {
      throw bad(
        'bad_pad',
        `${what}: address 0x${address.toString(16)} does not follow the previous pad's 0x${order.previous.toString(16)} (pads must come in increasing address order, each address once)`,
      );
    }
    if (numbers.length === 0) throw bad('bad_pad', `${what}: a pad without frames`);
    if (numbers.length % 4 !== 0)
      throw bad('bad_pad', `${what}: ${numbers.length} frame numbers, not four per frame`);
    const frames: SymbolizedFrame[] = [];
    for (let n = 0; n < numbers.length; n += 4) {
      for (const index of [numbers[n], numbers[n + 1]]) {
        if (index >= strings.length) {
          throw bad(
            'bad_string_index',
            `${what}: string index ${index} outside the chunk's table of ${strings.length - 1} strings`,
          );
        }
      }
      if (numbers[n + 2] > MAX_LINE || numbers[n + 3] > MAX_LINE)
        throw bad('bad_pad', `${what}: frame ${n / 4 + 1} has a line over ${MAX_LINE}`);
      frames.push({
        functionName: strings[numbers[n]],
        fileName: strings[numbers[n + 1]],
        line: numbers[n + 2],
        startLine: numbers[n + 3],
      });
    }
    previousAddress = address;
    order.previous = address;
    pads.push({ address, frames });
  }
  stats.pads += pads.length;
  return pads;
}

/** A pad chunk's message as `padChunks()` gave it, decoded again (it was checked then). */
export function decodePadMessage(message: Buffer, limits: Partial<UploadLimits> = {}): ReturnPad[] {
  const { start, end } = messageKind(message, 'a kept pad chunk');
  return parsePadChunk(
    message,
    start,
    end,
    'a kept pad chunk',
    { ...DEFAULT_UPLOAD_LIMITS, ...limits },
    { pads: 0, strings: 0 },
    { previous: -1 },
  );
}
