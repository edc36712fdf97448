/**
 * The client side of symbol upload (`uniprof symbtool push-symbols`): extract ranges from the debug info on
 * this machine, encode and gzip them as they come, and stream them to the symbolizer service. Nothing is
 * staged on disk: extraction runs only as fast as the network takes the bytes. Return pads, when the caller
 * gives them, follow the ranges (they are made from them: the caller keeps the ranges for that).
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { ReturnPad, SymbolRange } from '../../model/symbols.ts';
import { SYMBOL_UPLOAD_CONTENT_TYPE, encodeSymbolUpload, type EncodeProgress } from './format.ts';
import { SYMBOLS_PATH } from './routes.ts';

export interface PushProgress {
  ranges: number;
  /** Return pads encoded so far (they follow the ranges). */
  pads: number;
  /** Compressed bytes handed to the network so far. */
  bytesSent: number;
  /** Sum of the lengths of depth-0 ranges: how much code is covered so far. */
  bytesCovered: number;
}

export interface PushResult {
  status: number;
  fileId: string;
  ranges: number;
  chunks: number;
  /** Return pads the server stored (0 for an upload without pads). */
  pads: number;
  /** Pads the client left out: addresses out of order where functions overlap. */
  padsSkipped: number;
  compressedBytes: number;
  decompressedBytes: number;
}

/** The server refused (4xx/5xx) or could not be reached; the message is what to show the user. */
export class PushError extends Error {
  override readonly name = 'PushError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface PushOptions {
  /** Base URL of the symbolizer service, e.g. http://127.0.0.1:4319 */
  url: string;
  token: string;
  fileId: string;
  buildId?: string;
  fileName?: string;
  ranges: Iterable<readonly SymbolRange[]>;
  /** Return pads, asked for once every range is sent (format version 2); without it, ranges only. */
  pads?: () => Iterable<readonly ReturnPad[]>;
  onProgress?: (progress: PushProgress) => void;
}

function endpoint(base: string, fileId: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new PushError(`"${base}" is not a URL (expected e.g. http://symbolizer:4319)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PushError(`"${base}": only http and https URLs are supported`);
  }
  return new URL(`${url.pathname.replace(/\/$/, '')}${SYMBOLS_PATH}/${fileId}`, url);
}

function send(url: URL, method: string, headers: Record<string, string>): ClientRequest {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return request(url, { method, headers });
}

async function readBody(response: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of response) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function serverMessage(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    const message = parsed.error ?? parsed.message;
    if (typeof message === 'string') return `server answered ${status}: ${message}`;
  } catch {
    // Not JSON: show the text.
  }
  return `server answered ${status}: ${text.trim().slice(0, 500) || '(no message)'}`;
}

/** Whether the server already holds symbols for the file. */
export async function hasSymbols(base: string, token: string, fileId: string): Promise<boolean> {
  const url = endpoint(base, fileId);
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(url, 'GET', { authorization: `Bearer ${token}` });
    req.once('response', resolve);
    req.once('error', (error) => reject(new PushError(`cannot reach ${url.origin}: ${error.message}`)));
    req.end();
  });
  const text = await readBody(response);
  if (response.statusCode !== 200)
    throw new PushError(serverMessage(response.statusCode ?? 0, text), response.statusCode);
  return (JSON.parse(text) as { hasSymbols: boolean }).hasSymbols;
}

class Counter extends Transform {
  bytes = 0;
  constructor(private readonly onBytes: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    callback(null, chunk);
  }
}

/** Streams the upload; resolves with the server's counts, rejects with a PushError naming the problem. */
export async function pushSymbols(options: PushOptions): Promise<PushResult> {
  const url = endpoint(options.url, options.fileId);
  const progress: PushProgress = { ranges: 0, pads: 0, bytesSent: 0, bytesCovered: 0 };
  let padsSkipped = 0;
  const onEncoded = (encoded: EncodeProgress, batch: readonly SymbolRange[]) => {
    progress.ranges = encoded.ranges;
    progress.pads = encoded.pads;
    padsSkipped = encoded.padsSkipped;
    for (const range of batch) if (range.depth === 0) progress.bytesCovered += range.end - range.start;
    options.onProgress?.(progress);
  };
  const body = Readable.from(
    encodeSymbolUpload(
      { fileId: options.fileId, buildId: options.buildId, fileName: options.fileName },
      options.ranges,
      onEncoded,
      options.pads,
    ),
  );
  const counter = new Counter((bytes) => {
    progress.bytesSent = bytes;
  });
  const req = send(url, 'POST', {
    authorization: `Bearer ${options.token}`,
    'content-type': SYMBOL_UPLOAD_CONTENT_TYPE,
    'transfer-encoding': 'chunked',
  });
  // The server may answer before the body is complete (a bad token, a refusal mid-stream): its answer is
  // what the user needs, not the broken pipe that follows it.
  const responded = new Promise<IncomingMessage>((resolve) => req.once('response', resolve));
  let sendError: Error | undefined;
  const sent = pipeline(body, createGzip(), counter, req).catch((error: Error) => {
    sendError = error;
  });
  const first = await Promise.race([responded, sent.then(() => undefined)]);
  const response = first ?? (await Promise.race([responded, failedWithoutAnswer(req, () => sendError, url)]));
  const text = await readBody(response);
  body.destroy();
  const status = response.statusCode ?? 0;
  if (status !== 200) throw new PushError(serverMessage(status, text), status);
  const parsed = JSON.parse(text) as Omit<PushResult, 'status' | 'padsSkipped'>;
  options.onProgress?.(progress);
  // A server from before return pads answers without a count.
  return { status, ...parsed, pads: parsed.pads ?? 0, padsSkipped };
}

/** After the body ended (or failed): wait for the answer, unless the connection is already gone. */
function failedWithoutAnswer(
  req: ClientRequest,
  sendError: () => Error | undefined,
  url: URL,
): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    const fail = (error?: Error) => {
      const e = error ?? sendError();
      // An error while extracting (a damaged debug file) is the user's problem to see as it is.
      if (e && !('code' in e)) reject(e);
      else
        reject(
          new PushError(
            `upload to ${url.origin} failed: ${e?.message ?? 'connection closed without an answer'}`,
          ),
        );
    };
    if (sendError() && req.destroyed) {
      // Give a response that is already on its way a moment to arrive.
      setTimeout(() => fail(), 200);
      return;
    }
    req.once('error', fail);
    req.once('close', () => setTimeout(() => fail(), 200));
  });
}
