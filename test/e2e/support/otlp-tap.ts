/**
 * A byte-for-byte TCP relay between the agent and the collector that also reads along: it splits the
 * plain-text HTTP/2 stream into frames, collects each gRPC request's DATA, and notes when the collector
 * ends the response stream (the acknowledgement). The agent still talks gRPC to the collector unchanged
 * (grpc-go, gzip); the test gets its own, independent view of what the agent sent, to hold the store to.
 */
import net from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface TappedRequest {
  streamId: number;
  /** Wall-clock ms when the request's last byte passed through. */
  sentAt: number;
  /** Wall-clock ms when the collector closed the response stream. */
  answeredAt?: number;
  /** The gRPC message, decompressed. */
  message: Buffer;
}

const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const FRAME_HEADER_BYTES = 9;
const FRAME_DATA = 0;
const FRAME_HEADERS = 1;
const FLAG_END_STREAM = 0x1;
const FLAG_PADDED = 0x8;

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Splits one direction of an HTTP/2 connection into frames as bytes arrive. */
class FrameReader {
  private buffered = Buffer.alloc(0);
  private prefaceLeft: number;

  constructor(
    expectPreface: boolean,
    private readonly onFrame: (frame: Frame) => void,
  ) {
    this.prefaceLeft = expectPreface ? CLIENT_PREFACE.length : 0;
  }

  push(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    if (this.prefaceLeft > 0) {
      const skip = Math.min(this.prefaceLeft, this.buffered.length);
      this.buffered = this.buffered.subarray(skip);
      this.prefaceLeft -= skip;
    }
    while (this.buffered.length >= FRAME_HEADER_BYTES) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < FRAME_HEADER_BYTES + length) return;
      this.onFrame({
        type: this.buffered[3],
        flags: this.buffered[4],
        streamId: this.buffered.readUInt32BE(5) & 0x7fffffff,
        payload: this.buffered.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length),
      });
      this.buffered = this.buffered.subarray(FRAME_HEADER_BYTES + length);
    }
  }
}

function dataOf(frame: Frame): Buffer {
  if (!(frame.flags & FLAG_PADDED)) return frame.payload;
  const padding = frame.payload[0];
  return frame.payload.subarray(1, frame.payload.length - padding);
}

/** gRPC length-prefixed messages: 1 byte compressed flag, 4 bytes length, the message. */
function grpcMessages(body: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  for (let offset = 0; offset + 5 <= body.length;) {
    const compressed = body[offset] === 1;
    const length = body.readUInt32BE(offset + 1);
    const message = body.subarray(offset + 5, offset + 5 + length);
    messages.push(compressed ? gunzipSync(message) : Buffer.from(message));
    offset += 5 + length;
  }
  return messages;
}

export class GrpcTap {
  readonly requests: TappedRequest[] = [];
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: { host: string; port: number }) {}

  /** Listens on 127.0.0.1 and resolves with the port. */
  async listen(): Promise<number> {
    const server = net.createServer((client) => this.relay(client));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  private relay(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client).add(upstream);
    const bodies = new Map<number, Buffer[]>();
    const byStream = new Map<number, TappedRequest[]>();
    const fromAgent = new FrameReader(true, (frame) => {
      if (frame.type === FRAME_DATA) {
        bodies.set(frame.streamId, [...(bodies.get(frame.streamId) ?? []), dataOf(frame)]);
      }
      if ((frame.type === FRAME_DATA || frame.type === FRAME_HEADERS) && frame.flags & FLAG_END_STREAM) {
        const sentAt = Date.now();
        const requests = grpcMessages(Buffer.concat(bodies.get(frame.streamId) ?? [])).map((message) => ({
          streamId: frame.streamId,
          sentAt,
          message,
        }));
        bodies.delete(frame.streamId);
        byStream.set(frame.streamId, requests);
        this.requests.push(...requests);
      }
    });
    const fromCollector = new FrameReader(false, (frame) => {
      if (frame.flags & FLAG_END_STREAM && frame.streamId !== 0) {
        for (const request of byStream.get(frame.streamId) ?? []) request.answeredAt = Date.now();
        byStream.delete(frame.streamId);
      }
    });
    client.on('data', (chunk: Buffer) => fromAgent.push(chunk));
    upstream.on('data', (chunk: Buffer) => fromCollector.push(chunk));
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** One frame of a sample's stack, in the terms of the Universal Profiling model. */
export interface TappedFrame {
  /** The `profile.frame.type` text, e.g. native, kernel, cpython, v8js. */
  frameType: string;
  /** The mapping's htlhash (32 hex digits); absent for interpreted frames. */
  fileIdHex?: string;
  /** The location's address when it has one, else the line of its last line entry. */
  addressOrLine: bigint;
}

/** One OTLP sample as the test reads it: enough to check counts, threads, processes, times and stacks. */
export interface TappedSample {
  sampleType: string;
  threadName?: string;
  executableName?: string;
  timestampsNs: bigint[];
  /** Leaf first. */
  frames: TappedFrame[];
}

type Fields = Map<number, Array<bigint | Uint8Array>>;

/** Reads a base-128 varint at `offset`; returns the value and the offset after it. */
function varint(bytes: Uint8Array, offset: number): [bigint, number] {
  let value = 0n;
  for (let shift = 0n, i = offset; i < bytes.length; shift += 7n, i++) {
    value |= BigInt(bytes[i] & 0x7f) << shift;
    if (!(bytes[i] & 0x80)) return [value, i + 1];
  }
  throw new Error('tap decoder: truncated varint');
}

/**
 * A deliberately small protobuf walk over the fields the test needs (field numbers of the OTLP profiles
 * revision the agent speaks, see docs/agent-protocol.md), written apart from src/protocol on purpose.
 * Fields named in `fixed64Fields` may come packed; they are unpacked into one entry per value.
 */
function fields(bytes: Uint8Array, fixed64Fields: ReadonlySet<number> = new Set()): Fields {
  const out: Fields = new Map();
  const add = (field: number, value: bigint | Uint8Array) =>
    out.set(field, [...(out.get(field) ?? []), value]);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < bytes.length) {
    const [tag, afterTag] = varint(bytes, offset);
    const field = Number(tag >> 3n);
    offset = afterTag;
    switch (Number(tag & 7n)) {
      case 0: {
        const [value, next] = varint(bytes, offset);
        add(field, value);
        offset = next;
        break;
      }
      case 1:
        add(field, view.readBigUInt64LE(offset));
        offset += 8;
        break;
      case 2: {
        const [length, start] = varint(bytes, offset);
        const value = bytes.subarray(start, start + Number(length));
        offset = start + Number(length);
        if (fixed64Fields.has(field)) {
          const packed = Buffer.from(value);
          for (let i = 0; i + 8 <= packed.length; i += 8) add(field, packed.readBigUInt64LE(i));
        } else add(field, value);
        break;
      }
      case 5:
        add(field, BigInt(view.readUInt32LE(offset)));
        offset += 4;
        break;
      default:
        throw new Error(`tap decoder: unsupported wire type ${tag & 7n} for field ${field}`);
    }
  }
  return out;
}

const bytesOf = (f: Fields, n: number) =>
  (f.get(n) ?? []).filter((v): v is Uint8Array => v instanceof Uint8Array);
const numbersOf = (f: Fields, n: number): number[] =>
  (f.get(n) ?? []).flatMap((v) => {
    if (typeof v === 'bigint') return [Number(v)];
    // A packed varint list.
    const values: number[] = [];
    for (let offset = 0; offset < v.length;) {
      const [value, next] = varint(v, offset);
      values.push(Number(value));
      offset = next;
    }
    return values;
  });
const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/** Decodes the samples of one ExportProfilesServiceRequest. */
export function tappedSamples(message: Buffer): TappedSample[] {
  const request = fields(message);
  const dictionary = fields(bytesOf(request, 2)[0] ?? new Uint8Array());
  const strings = bytesOf(dictionary, 5).map((b) => text(b) ?? '');
  const attributes = bytesOf(dictionary, 6).map((b) => {
    const entry = fields(b);
    const value = fields(bytesOf(entry, 2)[0] ?? new Uint8Array());
    return { key: strings[numbersOf(entry, 1)[0] ?? 0], value: text(bytesOf(value, 1)[0]) };
  });
  const attributeOf = (indices: number[], key: string) =>
    indices.map((index) => attributes[index]).find((a) => a?.key === key)?.value;
  const mappingFileIds = bytesOf(dictionary, 1).map((b) =>
    attributeOf(numbersOf(fields(b), 5), 'process.executable.build_id.htlhash'),
  );
  const locations: TappedFrame[] = bytesOf(dictionary, 2).map((b) => {
    const location = fields(b);
    const address = (location.get(2)?.[0] as bigint | undefined) ?? 0n;
    const lines = bytesOf(location, 3).map((line) => (fields(line).get(2)?.[0] as bigint | undefined) ?? 0n);
    return {
      frameType: attributeOf(numbersOf(location, 4), 'profile.frame.type') ?? '',
      fileIdHex: mappingFileIds[numbersOf(location, 1)[0] ?? 0],
      addressOrLine: address !== 0n ? address : (lines.at(-1) ?? 0n),
    };
  });
  const stacks = bytesOf(dictionary, 7).map((b) => numbersOf(fields(b), 1).map((index) => locations[index]));
  const samples: TappedSample[] = [];
  for (const resourceBytes of bytesOf(request, 1)) {
    const resourceProfiles = fields(resourceBytes);
    const resource = fields(bytesOf(resourceProfiles, 1)[0] ?? new Uint8Array());
    let executableName: string | undefined;
    for (const kv of bytesOf(resource, 1)) {
      const pair = fields(kv);
      if (text(bytesOf(pair, 1)[0]) === 'process.executable.name') {
        executableName = text(bytesOf(fields(bytesOf(pair, 2)[0] ?? new Uint8Array()), 1)[0]);
      }
    }
    for (const scopeBytes of bytesOf(resourceProfiles, 2)) {
      for (const profileBytes of bytesOf(fields(scopeBytes), 2)) {
        const profile = fields(profileBytes);
        const sampleType = strings[numbersOf(fields(bytesOf(profile, 1)[0] ?? new Uint8Array()), 1)[0] ?? 0];
        for (const sampleBytes of bytesOf(profile, 2)) {
          const sample = fields(sampleBytes, new Set([5]));
          const threadName = attributeOf(numbersOf(sample, 2), 'thread.name');
          const timestampsNs = (sample.get(5) ?? []).filter((v): v is bigint => typeof v === 'bigint');
          const frames = stacks[numbersOf(sample, 1)[0] ?? 0] ?? [];
          samples.push({ sampleType, threadName, executableName, timestampsNs, frames });
        }
      }
    }
  }
  return samples;
}
