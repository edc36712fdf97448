/**
 * Documents of symbolization: the queue (`profiling-sq-executables`, `profiling-sq-leafframes`) and symbol
 * ranges (`profiling-symbols-private` / `-global`), in the fields of the profiling plugin's templates.
 *
 * Encodings (the plugin's templates name the fields but no public code defines their content, so these are
 * ours, chosen to be what the field types naturally hold):
 * - `Symbol.exec.pcrange` is an `ip_range`: an address is the 128-bit number of an IPv6 address, the 64-bit
 *   ELF address in its low half (0x401000 → `::0:0:40:1000`), the range `{gte: start, lt: end}`. Addresses
 *   from 0xffff00000000 to 0xffffffffffff fall in the IPv4-mapped block; Elasticsearch stores every `ip` as
 *   16 bytes, so they still compare as numbers.
 * - `Symbol.linetable.base` / `.length`: the range's start and length as numbers (read back instead of
 *   parsing the ip_range, which is not returned in a normalised form).
 * - `Symbol.linetable.offsets` / `.lines`: each value ULEB128-encoded, concatenated, the bytes as unpadded
 *   base64url (a keyword holds text, not bytes). Offsets are relative to `base`.
 */
import { parseFrameId, type PendingFrame, type ProfileBatch, type SymbolRange } from '../../model/index.ts';
import { sourceField } from './documents.ts';
import { ECS_VERSION, SQ_EXECUTABLES, SQ_FRAMESETS, SQ_LEAFFRAMES } from './layout.ts';

type Document = Record<string, unknown>;

/** Our own fields of a symbols document (unmapped: the symbols indices keep their whole _source). */
export const GENERATION_FIELD = 'uniprof.symbols.generation';
/**
 * Our lookup key of a range document (a keyword, indexed): the aligned buckets its range touches at its size
 * level L, the smallest with 2^L ≥ its length, so at most two. An address's candidates are the ranges in its
 * bucket at each level the file has (the marker lists them): one `terms` query for thousands of addresses,
 * where an `ip_range` query per address cost Elasticsearch about 0.3 ms each (a BKD walk per address).
 * Exact containment is checked locally; the extra candidates are the few same-size neighbours sharing a bucket.
 */
export const BUCKETS_FIELD = 'uniprof.symbols.buckets';
/** On the marker: the size levels of the file's ranges. Absent on symbols stored before buckets existed. */
export const LEVELS_FIELD = 'uniprof.symbols.levels';

/** The smallest L with 2^L ≥ length. */
export function bucketLevel(length: number): number {
  let level = 0;
  while (2 ** level < length) level++;
  return level;
}

function bucketKey(level: number, address: number): string {
  return `${level.toString(36)}:${Math.floor(address / 2 ** level).toString(36)}`;
}

export function rangeBuckets(start: number, end: number): string[] {
  const level = bucketLevel(end - start);
  const first = bucketKey(level, start);
  const last = bucketKey(level, end - 1);
  return first === last ? [first] : [first, last];
}

/** The buckets in which ranges containing `address` are, one per level. */
export function addressBuckets(address: number, levels: readonly number[]): string[] {
  return levels.map((level) => bucketKey(level, address));
}

const MAX_ADDRESS = 2n ** 64n - 1n;

/** An address as an IPv6 address whose low 64 bits it is. */
export function addressToIp(address: number | bigint): string {
  const value = BigInt(address);
  if (value < 0n || value > MAX_ADDRESS) throw new RangeError(`address ${address} is not a 64-bit address`);
  const groups: string[] = [];
  for (let shift = 48n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  return `::${groups.join(':')}`;
}

/** The 128-bit number of an IPv6 (or IPv4) address, as Elasticsearch may print it back. */
export function ipToBigInt(ip: string): bigint {
  let text = ip.trim();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    text = text.includes(':') ? text.slice(0, dotted.index) + hex : `::ffff:${hex}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g)))
    throw new Error(`"${ip}" is not an IP address`);
  return groups.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

export function encodeUleb128(values: readonly number[]): string {
  const bytes: number[] = [];
  for (const value of values) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${value} is not a ULEB128 value`);
    let rest = value;
    // Division rather than shifts: values may exceed 32 bits.
    while (rest >= 0x80) {
      bytes.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    bytes.push(rest);
  }
  return Buffer.from(bytes).toString('base64url');
}

export function decodeUleb128(text: string): number[] {
  const bytes = Buffer.from(text, 'base64url');
  const values: number[] = [];
  let value = 0;
  let scale = 1;
  for (const byte of bytes) {
    value += (byte & 0x7f) * scale;
    if (byte & 0x80) {
      scale *= 0x80;
    } else {
      values.push(value);
      value = 0;
      scale = 1;
    }
  }
  return values;
}

/** Throws for a range that could not have come from a consistent file; the whole upload is then undone. */
export function checkRange(range: SymbolRange): void {
  const where = `symbol range ${range.functionName} [${range.start}, ${range.end})`;
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0)
    throw new Error(`${where}: addresses must be non-negative integers`);
  if (range.end <= range.start) throw new Error(`${where}: empty or reversed`);
  if (!Number.isInteger(range.depth) || range.depth < 0)
    throw new Error(`${where}: bad depth ${range.depth}`);
  if (range.lineOffsets.length !== range.lines.length)
    throw new Error(`${where}: ${range.lineOffsets.length} line offsets but ${range.lines.length} lines`);
}

export function rangeDocument(fileId: string, generation: string, range: SymbolRange): Document {
  const doc: Document = {
    'ecs.version': ECS_VERSION,
    'Symbol.file.id': fileId,
    'Symbol.exec.pcrange': { gte: addressToIp(range.start), lt: addressToIp(range.end) },
    'Symbol.depth': range.depth,
    'Symbol.function.name': range.functionName,
    'Symbol.linetable.base': range.start,
    'Symbol.linetable.length': range.end - range.start,
    [GENERATION_FIELD]: generation,
    [BUCKETS_FIELD]: rangeBuckets(range.start, range.end),
  };
  // Unknowns are left out rather than written as '' / 0: most ranges lack some of them.
  if (range.functionLine > 0) doc['Symbol.function.line'] = range.functionLine;
  if (range.fileName !== '') doc['Symbol.file.name'] = range.fileName;
  if (range.callFileName !== '') doc['Symbol.call.file.name'] = range.callFileName;
  if (range.callLine > 0) doc['Symbol.call.line'] = range.callLine;
  if (range.lines.length > 0) {
    doc['Symbol.linetable.offsets'] = encodeUleb128(range.lineOffsets);
    doc['Symbol.linetable.lines'] = encodeUleb128(range.lines);
  }
  return doc;
}

/** A keyword field's text ('' when absent or not text). */
export const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const whole = (value: unknown): number => (typeof value === 'number' ? value : Number(value ?? 0) || 0);

export function rangeFromSource(source: unknown): SymbolRange {
  let start = whole(sourceField(source, 'Symbol.linetable.base'));
  let length = whole(sourceField(source, 'Symbol.linetable.length'));
  const pcrange = sourceField(source, 'Symbol.exec.pcrange') as { gte?: string; lt?: string } | undefined;
  if (length === 0 && pcrange?.gte && pcrange.lt) {
    // Written by someone else: only the ip_range says where it is.
    start = Number(ipToBigInt(pcrange.gte));
    length = Number(ipToBigInt(pcrange.lt)) - start;
  }
  return {
    start,
    end: start + length,
    depth: whole(sourceField(source, 'Symbol.depth')),
    functionName: text(sourceField(source, 'Symbol.function.name')),
    functionLine: whole(sourceField(source, 'Symbol.function.line')),
    fileName: text(sourceField(source, 'Symbol.file.name')),
    callFileName: text(sourceField(source, 'Symbol.call.file.name')),
    callLine: whole(sourceField(source, 'Symbol.call.line')),
    lineOffsets: decodeUleb128(text(sourceField(source, 'Symbol.linetable.offsets'))),
    lines: decodeUleb128(text(sourceField(source, 'Symbol.linetable.lines'))),
  };
}

/**
 * A document with dotted field names as nested objects. Partial updates must be written this way: an update
 * merges object by object into the stored source, which synthetic source returns nested, so a flat
 * `a.b` key would sit beside `a: {b}` and the field would end up holding both values.
 */
export function nested(doc: Document): Document {
  const result: Document = {};
  for (const [key, value] of Object.entries(doc)) {
    const parts = key.split('.');
    let target = result;
    for (const part of parts.slice(0, -1)) {
      const next = target[part];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) target[part] = {};
      target = target[part] as Document;
    }
    const leaf = parts[parts.length - 1];
    const nestedValue =
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? nested(value as Document)
        : value;
    const existing = target[leaf];
    target[leaf] =
      existing !== null &&
      typeof existing === 'object' &&
      nestedValue !== null &&
      typeof nestedValue === 'object'
        ? { ...(existing as Document), ...(nestedValue as Document) }
        : nestedValue;
  }
  return result;
}

/** A date as the queue documents return it: epoch millis, or ISO text from synthetic source. */
export function dateMillis(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value !== '') {
    const parsed = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

export function pendingFrameFromSource(id: string, source: unknown): PendingFrame {
  const frameId = text(sourceField(source, 'Stacktrace.frame.id')) || id;
  const { fileId, addressOrLine } = parseFrameId(frameId);
  return { frameId, fileId, address: Number(addressOrLine) };
}

/** The executable's queue document as it is first created. */
export function queuedExecutableDocument(
  fileId: string,
  now: number,
  names: { fileName?: string; buildId?: string },
): Document {
  return {
    'ecs.version': ECS_VERSION,
    'Executable.file.id': fileId,
    'Time.created': now,
    'Symbolization.time.next': now,
    'Symbolization.retries': 0,
    [FRAMES_QUEUED_FIELD]: true,
    'uniprof.queued': now,
    ...nameFields(names),
  };
}

function nameFields(names: { fileName?: string; buildId?: string }): Document {
  const doc: Document = {};
  if (names.fileName) doc['Executable.file.name'] = names.fileName;
  if (names.buildId) doc['Executable.build.id'] = names.buildId;
  return doc;
}

/**
 * Set by collectors of layout version 4 and before whenever they queued frames of an executable, cleared when
 * a worker has answered them; still honoured for queue documents they wrote. Frames now make their executable
 * due by their frame-set documents (see symbolization.ts).
 */
export const FRAMES_QUEUED_FIELD = 'uniprof.frames_queued';

/**
 * Symbols were stored: the executable is due now whatever it waited for, its failed attempts forgotten
 * (created if the file was never queued).
 */
export function symbolsStoredUpdate(
  fileId: string,
  now: number,
  names: { fileName?: string; buildId?: string },
): { action: Document; body: Document } {
  const fields = { 'Symbolization.time.next': now, 'Symbolization.retries': 0, 'uniprof.reason': null };
  return {
    action: { update: { _index: SQ_EXECUTABLES, _id: fileId, retry_on_conflict: 5 } },
    body: {
      doc: nested({ ...fields, ...nameFields(names) }),
      upsert: nested({ ...queuedExecutableDocument(fileId, now, names), ...fields }),
      detect_noop: false,
    },
  };
}

/** The executables this writer created a queue document for (bounded; forgetting one costs a create). */
export interface QueuedExecutables {
  has(fileId: string): boolean;
  add(fileId: string): void;
}

/** A frame set's `_id`: the written batch and the file, so a resent spool record conflicts harmlessly. */
export function frameSetId(batchId: string, fileId: string): string {
  return `${batchId}.${fileId}`;
}

/**
 * Bulk lines queueing a batch's pending frames, all `create`s (a resend or a frame queued twice conflicts
 * harmlessly, and nothing is read back as an `update` would):
 * - one `profiling-sq-frameset` document per file: all of the batch's frames of that file, which is what
 *   our symbolizer reads and what makes the executable due;
 * - one `profiling-sq-leafframes` document per stack leaf, the frames Elastic's own symbolizer reads;
 * - the file's `profiling-sq-executables` document, unless this writer created it before.
 */
export function queueLines(
  batch: ProfileBatch,
  now: number,
  batchId: string,
  queuedExecutables: QueuedExecutables,
): string[] {
  const frames = batch.pendingFrames ?? [];
  if (frames.length === 0) return [];
  const lines: string[] = [];
  const files = new Map<string, { addresses: number[]; leafAddresses: number[] }>();
  for (const frame of frames) {
    let set = files.get(frame.fileId);
    if (!set) files.set(frame.fileId, (set = { addresses: [], leafAddresses: [] }));
    set.addresses.push(frame.address);
    if (!frame.leaf) continue;
    set.leafAddresses.push(frame.address);
    lines.push(
      JSON.stringify({ create: { _index: SQ_LEAFFRAMES, _id: frame.frameId } }),
      JSON.stringify({
        // Flat names are fine here: leaf frame documents are created, never updated.
        'ecs.version': ECS_VERSION,
        'Stacktrace.frame.id': frame.frameId,
        'Executable.file.id': frame.fileId,
        'Time.created': now,
        'Symbolization.time.next': now,
        'Symbolization.retries': 0,
      }),
    );
  }
  const executables = new Map(batch.executables.map((e) => [e.fileId, e]));
  for (const [fileId, set] of files) {
    lines.push(
      JSON.stringify({ create: { _index: SQ_FRAMESETS, _id: frameSetId(batchId, fileId) } }),
      JSON.stringify(frameSetDocument(fileId, now, set)),
    );
    if (queuedExecutables.has(fileId)) continue;
    queuedExecutables.add(fileId);
    const executable = executables.get(fileId);
    lines.push(
      JSON.stringify({ create: { _index: SQ_EXECUTABLES, _id: fileId } }),
      // Nested like every later partial update of it, so merged fields never end up both flat and nested.
      JSON.stringify(
        nested(
          queuedExecutableDocument(fileId, now, {
            fileName: executable?.fileName,
            buildId: executable?.buildId,
          }),
        ),
      ),
    );
  }
  return lines;
}

/**
 * A frame set: its frames' addresses in the file as one string (8 bytes big-endian each, base64url), the
 * frame IDs being the file ID and the address. One value instead of a frame ID string per frame: the set is
 * a quarter of the bytes for Elasticsearch to parse and keep.
 */
export function frameSetDocument(
  fileId: string,
  now: number,
  set: { addresses: readonly number[]; leafAddresses: readonly number[] },
): Document {
  return {
    'ecs.version': ECS_VERSION,
    'Executable.file.id': fileId,
    'Time.created': now,
    'uniprof.addresses': packAddresses(set.addresses),
    'uniprof.leaf_addresses': packAddresses(set.leafAddresses),
    'uniprof.frame_count': set.addresses.length,
    'uniprof.leaf_count': set.leafAddresses.length,
  };
}

const ADDRESS_BYTES = 8;

export function packAddresses(addresses: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(addresses.length * ADDRESS_BYTES);
  addresses.forEach((address, i) => bytes.writeBigUInt64BE(BigInt(address), i * ADDRESS_BYTES));
  return bytes.toString('base64url');
}

/** The addresses of `packAddresses`; a malformed value (not ours) gives none. */
export function unpackAddresses(value: unknown): number[] {
  if (typeof value !== 'string') return [];
  const bytes = Buffer.from(value, 'base64url');
  const addresses: number[] = [];
  for (let offset = 0; offset + ADDRESS_BYTES <= bytes.length; offset += ADDRESS_BYTES) {
    const address = Number(bytes.readBigUInt64BE(offset));
    if (Number.isSafeInteger(address)) addresses.push(address);
  }
  return addresses;
}
