/**
 * The authenticated symbol upload endpoint of the symbolizer service:
 *
 * - `POST /api/v1/symbols/{fileId}`: a symbol upload (format.ts) for the executable with that file ID
 *   (base64url or 32 hex digits). The body is decoded as it arrives and streamed into `putSymbols`, so
 *   memory does not grow with the upload and a rejected upload leaves nothing stored. Return pads in the
 *   upload (format version 2) are checked and kept on disk (pad-spool.ts) while the ranges are written, so a
 *   bad pad rolls the ranges back too, and stored with `putReturnPads` once the ranges are.
 * - `GET /api/v1/symbols/{fileId}`: whether the store holds symbols for the file.
 *
 * Both want `Authorization: Bearer <symbolizer.uploadToken>`, a token of its own: the agents' secret token
 * only works if it is configured to be the same string.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { FILE_ID_BYTES, fileIdToHex } from '../../model/ids.ts';
import type { SymbolRange } from '../../model/symbols.ts';
import type { SymbolizationStore } from '../../store/symbolization.ts';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './format.ts';
import { SymbolUploadDecoder, SymbolUploadError, type UploadStats } from './decode.ts';
import { PadSpool } from './pad-spool.ts';

export const SYMBOLS_PATH = '/api/v1/symbols';

/** What one upload request came to, for metrics and logs. */
export interface SymbolUploadEvent {
  fileId?: string;
  outcome: 'stored' | 'rejected' | 'failed';
  status: number;
  /** Rejections: a short label (`unauthorized`, `truncated`, `too_large`, `bad_utf8`, ...). */
  reason?: string;
  stats: UploadStats;
  durationMs: number;
}

export interface SymbolUploadDeps {
  symbolization: SymbolizationStore;
  uploadToken: string;
  /** symbolizer.maxUploadBytes: decompressed (and compressed) bytes of one upload. */
  maxUploadBytes: number;
  logger: Logger;
  /** Called once per upload request, whatever its outcome. */
  onUpload?: (event: SymbolUploadEvent) => void;
  /** Other limits, mostly for tests (defaults in format.ts). */
  limits?: Partial<UploadLimits>;
  /** Where an upload's return pads wait while its ranges are stored (default: the system's temp directory). */
  spoolDirectory?: string;
}

/** The file ID in a path: base64url (22 characters) or the agent's 32 hex digits. */
export function parseFileIdParam(text: string): string | undefined {
  if (/^[0-9a-fA-F]{32}$/.test(text)) return Buffer.from(text, 'hex').toString('base64url');
  if (/^[A-Za-z0-9_-]{22}$/.test(text)) {
    const bytes = Buffer.from(text, 'base64url');
    // Reject non-canonical spellings (stray low bits in the last character), so one file has one ID.
    if (bytes.length === FILE_ID_BYTES && bytes.toString('base64url') === text) return text;
  }
  return undefined;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time check of `Authorization: Bearer <token>` (hashing first makes the lengths equal). */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]), expected);
}

const emptyStats = (): UploadStats => ({
  compressedBytes: 0,
  decompressedBytes: 0,
  chunks: 0,
  ranges: 0,
  strings: 0,
  pads: 0,
  padChunks: 0,
});

/** How much of a refused body is read and dropped after the answer, so the client can read the answer. */
const DRAIN_BYTES = 16 * 1024 * 1024;
const DRAIN_MS = 5_000;

/**
 * Answers an error. When the body is not all read, the connection is not closed at once: a client still
 * sending would get a reset that can destroy the answer it has not read yet, and see only a broken pipe.
 * What it still sends is read and dropped, up to DRAIN_BYTES or DRAIN_MS, then the connection is closed.
 */
function reject(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  reason: string,
  message: string,
): FastifyReply {
  const raw = request.raw;
  if (!raw.complete && !raw.destroyed) {
    let dropped = 0;
    const close = () => raw.socket?.destroy();
    const timer = setTimeout(close, DRAIN_MS).unref();
    raw.on('data', (data: Buffer) => {
      dropped += data.length;
      if (dropped > DRAIN_BYTES) close();
    });
    raw.once('close', () => clearTimeout(timer));
    raw.resume();
  }
  return reply.code(status).send({ error: message, reason });
}

export async function registerSymbolUploadRoutes(
  app: FastifyInstance,
  deps: SymbolUploadDeps,
): Promise<void> {
  if (!deps.uploadToken) throw new Error('registerSymbolUploadRoutes: an upload token is required');
  const expected = digest(deps.uploadToken);
  const limits: Partial<UploadLimits> = {
    ...DEFAULT_UPLOAD_LIMITS,
    ...deps.limits,
    maxUploadBytes: deps.maxUploadBytes,
  };

  await app.register(async (scope) => {
    // Every body reaches the handler as the raw stream: it is decoded while it arrives, and what it is (our
    // format or not) is decided from its bytes, whatever Content-Type the client claimed.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (authorized(request.headers.authorization, expected)) return;
      const message = request.headers.authorization
        ? 'the symbol upload token is not valid'
        : 'symbol upload needs "Authorization: Bearer <token>" (symbolizer.uploadToken)';
      deps.onUpload?.({
        outcome: 'rejected',
        status: 401,
        reason: 'unauthorized',
        stats: emptyStats(),
        durationMs: 0,
      });
      return reject(request, reply.header('www-authenticate', 'Bearer'), 401, 'unauthorized', message);
    });

    scope.get<{ Params: { fileId: string } }>(`${SYMBOLS_PATH}/:fileId`, async (request, reply) => {
      const fileId = parseFileIdParam(request.params.fileId);
      if (!fileId) return reject(request, reply, 400, 'bad_file_id', fileIdProblem(request.params.fileId));
      const has = await deps.symbolization.filesWithSymbols([fileId]);
      return { fileId, fileIdHex: fileIdToHex(fileId), hasSymbols: has.has(fileId) };
    });

    scope.post<{ Params: { fileId: string } }>(`${SYMBOLS_PATH}/:fileId`, async (request, reply) => {
      const started = performance.now();
      const fileId = parseFileIdParam(request.params.fileId);
      const event = (
        outcome: SymbolUploadEvent['outcome'],
        status: number,
        stats: UploadStats,
        reason?: string,
      ) =>
        deps.onUpload?.({ fileId, outcome, status, reason, stats, durationMs: performance.now() - started });
      if (!fileId) {
        event('rejected', 400, emptyStats(), 'bad_file_id');
        return reject(request, reply, 400, 'bad_file_id', fileIdProblem(request.params.fileId));
      }
      const body = request.body as Readable | undefined;
      if (!body) {
        event('rejected', 400, emptyStats(), 'empty');
        return reject(request, reply, 400, 'empty', 'the upload has no body');
      }
      const decoder = new SymbolUploadDecoder(body, limits);
      // The decoder's error, if the store passes it on wrapped or replaced.
      let uploadError: SymbolUploadError | undefined;
      let spool: PadSpool | undefined;
      // The ranges end where the pads begin, but the ranges' write stays open until the pads are read to the
      // trailer: a bad pad or a truncated end rolls the ranges back as well.
      async function* checked(): AsyncGenerator<SymbolRange[]> {
        try {
          yield* decoder.chunks();
          for await (const { message } of decoder.padChunks()) {
            spool ??= await PadSpool.create(deps.spoolDirectory);
            await spool.write(message);
          }
          if (decoder.stats.ranges === 0) {
            throw new SymbolUploadError(400, 'no_ranges', 'the upload holds no symbol ranges');
          }
        } catch (error) {
          if (error instanceof SymbolUploadError) uploadError = error;
          throw error;
        }
      }
      try {
        const header = await decoder.readHeader();
        if (header.fileId !== fileId) {
          throw new SymbolUploadError(
            400,
            'file_id_mismatch',
            `the upload is for file ID ${fileIdToHex(header.fileId)}, the request path names ${fileIdToHex(fileId)}`,
          );
        }
        const result = await deps.symbolization.putSymbols(fileId, checked(), {
          source: 'upload',
          buildId: header.buildId,
          fileName: header.fileName,
        });
        let pads = 0;
        if (spool) {
          try {
            pads = (await deps.symbolization.putReturnPads(fileId, spool.pads(limits))).pads;
          } catch (error) {
            // The ranges are stored (frames get their names from them); uploading again stores both.
            throw new PadStoreError((error as Error).message);
          }
        }
        const stats = decoder.stats;
        event('stored', 200, stats);
        deps.logger.info(
          { fileId, buildId: header.buildId, fileName: header.fileName, ...stats },
          'symbols uploaded',
        );
        return {
          fileId,
          fileIdHex: fileIdToHex(fileId),
          ranges: result.ranges,
          chunks: stats.chunks,
          pads,
          padChunks: stats.padChunks,
          strings: stats.strings,
          compressedBytes: stats.compressedBytes,
          decompressedBytes: stats.decompressedBytes,
        };
      } catch (error) {
        decoder.destroy();
        const problem = uploadError ?? (error instanceof SymbolUploadError ? error : undefined);
        if (problem) {
          event('rejected', problem.status, decoder.stats, problem.reason);
          deps.logger.warn(
            { fileId, reason: problem.reason, err: problem.message },
            'symbol upload rejected',
          );
          return reject(request, reply, problem.status, problem.reason, problem.message);
        }
        if (error instanceof PadStoreError) {
          event('failed', 500, decoder.stats, 'store_pads');
          deps.logger.error({ err: error, fileId }, 'storing uploaded return pads failed');
          return reject(
            request,
            reply,
            500,
            'store_pads',
            `the symbols were stored but their return pads were not (${error.message}); upload again to store both`,
          );
        }
        event('failed', 500, decoder.stats, 'store');
        deps.logger.error({ err: error, fileId }, 'symbol upload failed');
        return reject(
          request,
          reply,
          500,
          'store',
          `storing the symbols failed: ${(error as Error).message}`,
        );
      } finally {
        await spool?.close();
      }
    });
  });
}

class PadStoreError extends Error {
  override readonly name = 'PadStoreError';
}

function fileIdProblem(text: string): string {
  return `"${text}" is not a file ID: expected 32 hex digits (as \`uniprof symbtool file-id\` prints) or 22 characters of base64url`;
}

/**
 * What the symbolizer service hands its route sets (`SymbolRoutesContext` in src/symbolizer/service/routes.ts),
 * stated structurally here so this module does not depend on the service.
 */
export interface SymbolUploadRouteContext {
  store: SymbolizationStore;
  uploadToken: string;
  maxUploadBytes: number;
  logger: Logger;
  metrics: { recordUpload(bytes: number): void; recordUploadRejection(reason: string): void };
  /** Tells the worker to look at the queue now: frames already queued for the file can get names. */
  wakeWorker(): void;
}

/** The upload routes as a route set of the symbolizer service: counts uploads, wakes the worker. */
export function symbolUploadRoutes(app: FastifyInstance, context: SymbolUploadRouteContext): Promise<void> {
  return registerSymbolUploadRoutes(app, {
    symbolization: context.store,
    uploadToken: context.uploadToken,
    maxUploadBytes: context.maxUploadBytes,
    logger: context.logger,
    onUpload: (event) => {
      if (event.outcome === 'stored') {
        context.metrics.recordUpload(event.stats.compressedBytes);
        context.wakeWorker();
      } else {
        context.metrics.recordUploadRejection(event.reason ?? event.outcome);
      }
    },
  });
}
