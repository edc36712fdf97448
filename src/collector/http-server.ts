import type { Server as HttpsServer } from 'node:https';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import protobuf from 'protobufjs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidRequestError } from '../protocol/errors.ts';
import {
  OTLP_HTTP_PROFILES_PATH,
  encodeExportResponse,
  exportResponseJson,
} from '../protocol/otlp-profiles.ts';
import { failureFromError, invalidArgument, type Failure } from './failure.ts';
import type { BodyFormat, IngestPipeline } from './ingest.ts';
import type { CollectorMetrics } from './metrics.ts';
import { CertificateWatcher } from './certificates.ts';
import type { TlsFiles } from './options.ts';

const gunzipAsync = promisify(gunzip);

const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];
const JSON_TYPE = 'application/json';

/** Per-request lines at debug level: agents export every few seconds and would drown the log at info. */
class QuietRequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: request.url }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const fields = { url: request.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.debug(fields, 'request completed');
  }
}

export interface HttpAppOptions {
  /** Serve HTTPS with these PEM files, reloaded when they change. */
  tls?: TlsFiles;
  /** The configuration key of `tls`, for messages (e.g. `api.http.tls`). */
  setting?: string;
  /**
   * Believe X-Forwarded-For/-Proto from these proxies (Fastify's `trustProxy`: `true`, or their addresses and
   * CIDRs): the client address and scheme are then the proxy's report, not the proxy itself.
   */
  trustProxy?: boolean | string;
}

/**
 * The HTTP server every HTTP-facing module (OTLP/HTTP, health, metrics, query API, UI) registers on.
 */
export function createHttpApp(logger: Logger, options: HttpAppOptions = {}): FastifyInstance {
  const { tls, setting = 'tls', trustProxy = false } = options;
  const certificates = tls ? new CertificateWatcher(tls, setting, logger) : undefined;
  const app = Fastify({
    loggerInstance: logger,
    ...(certificates ? { https: certificates.current } : {}),
    logController: new QuietRequestLog(),
    trustProxy,
    // Idle keep-alive connections would otherwise hold `close()` open until they time out.
    forceCloseConnections: 'idle',
  }) as unknown as FastifyInstance;
  if (certificates) {
    certificates.subscribe((pair) => (app.server as HttpsServer).setSecureContext(pair));
    app.addHook('onClose', async () => certificates.close());
  }
  return app;
}

/** Closes a server, cutting connections still busy after `timeoutMs` (a stuck client cannot hold a stop). */
export async function closeHttp(http: FastifyInstance, timeoutMs: number, log: Logger): Promise<void> {
  const timer = setTimeout(() => {
    log.warn(
      { timeoutMs },
      'HTTP requests still running at the shutdown deadline; closing their connections',
    );
    http.server.closeAllConnections();
  }, timeoutMs);
  try {
    await http.close();
  } finally {
    clearTimeout(timer);
  }
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
  /** Why the store takes no writes, when it knows (disk full, read-only file system). */
  storeProblem?: string;
  /** What is not well behind a store that still takes writes (an Elasticsearch cluster that lost a node). */
  storeDegraded?: string;
}

/** `/health`, `/ready` and Prometheus `/metrics`: every service of ours serves these the same way. */
export function registerOperationalRoutes(
  app: FastifyInstance,
  metrics: { readonly registry: Registry },
  readiness: () => Readiness,
): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const report = readiness();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}

/**
 * `POST /v1development/profiles` (OTLP/HTTP): protobuf or JSON bodies, optionally gzip-encoded. It lives in
 * its own plugin scope so that its raw-body parsers and error handler leave the other routes' JSON alone.
 */
export function registerOtlpHttpRoute(
  app: FastifyInstance,
  pipeline: IngestPipeline,
  metrics: CollectorMetrics,
  maxBytes: number,
): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      [...PROTOBUF_TYPES, JSON_TYPE],
      { parseAs: 'buffer', bodyLimit: maxBytes },
      (_request, body, done) => done(null, body),
    );

    // The token is checked before the body is read: an unauthenticated client cannot make us buffer 32 MiB.
    scope.addHook('onRequest', async (request, reply) => {
      const failure = pipeline.authenticate(request.headers.authorization);
      if (!failure) return;
      pipeline.rejected('http', startedAt(reply), failure);
      return sendFailure(reply, failure, responseFormat(request));
    });

    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const failure = failureFromFrameworkError(error, maxBytes);
      pipeline.rejected('http', startedAt(reply), failure, error);
      return sendFailure(reply, failure, responseFormat(request));
    });

    scope.post(OTLP_HTTP_PROFILES_PATH, async (request, reply) => {
      const format = responseFormat(request);
      // A POST without a body reaches here with none: it decodes as an empty message.
      const raw = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
      const body = await decompress(raw, request.headers['content-encoding'], maxBytes).catch(
        (error: unknown) => error as InvalidRequestError,
      );
      if (body instanceof Error) {
        const failure = failureFromError(body);
        pipeline.rejected('http', startedAt(reply), failure);
        return sendFailure(reply, failure, format);
      }
      metrics.receivedBytes.inc({ transport: 'http' }, body.byteLength);
      const result = await pipeline.handle({
        transport: 'http',
        body,
        format,
        authorization: request.headers.authorization,
        startedAt: startedAt(reply),
        peerIp: request.ip,
        // An HTTP client that gives up closes its connection.
        abandoned: () => request.socket.destroyed,
      });
      if (!result.ok) return sendFailure(reply, result.failure, format);
      return format === 'json'
        ? reply.code(200).type(JSON_TYPE).send(exportResponseJson({}))
        : reply
            .code(200)
            .type(PROTOBUF_TYPES[0])
            .send(Buffer.from(encodeExportResponse({})));
    });
  });
}

function responseFormat(request: FastifyRequest): BodyFormat {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return PROTOBUF_TYPES.includes(type) ? 'protobuf' : 'json';
}

function startedAt(reply: FastifyReply): number {
  return performance.now() - reply.elapsedTime;
}

async function decompress(body: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const coding = (encoding ?? 'identity').trim().toLowerCase();
  if (coding === 'identity' || coding === '') return body;
  if (coding !== 'gzip' && coding !== 'x-gzip') {
    throw new InvalidRequestError(
      'unsupported_encoding',
      `unsupported Content-Encoding "${encoding}": send gzip or an uncompressed body`,
    );
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InvalidRequestError(
        'too_large',
        `export request too large: it decompresses to more than the collector's limit of ${maxBytes} bytes ` +
          '(collector.http.maxBodyBytes); send smaller batches',
      );
    }
    throw new InvalidRequestError(
      'bad_compression',
      `request body is not valid gzip (Content-Encoding: gzip): ${(error as Error).message}`,
    );
  }
}

function failureFromFrameworkError(error: FastifyError, maxBytes: number): Failure {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return invalidArgument(
        'too_large',
        `export request too large: the body exceeds the collector's limit of ${maxBytes} bytes ` +
          '(collector.http.maxBodyBytes); send smaller batches',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        ...invalidArgument(
          'unsupported_media_type',
          `unsupported Content-Type: send ${PROTOBUF_TYPES[0]} or ${JSON_TYPE}`,
        ),
        httpStatus: 415,
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidArgument(
        'bad_request',
        `request body does not match its Content-Length: ${error.message}`,
      );
    default:
      if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
        return { ...invalidArgument('bad_request', error.message), httpStatus: error.statusCode };
      }
      return failureFromError(error);
  }
}

/** An OTLP/HTTP error answer: google.rpc.Status in the request's own encoding. */
function sendFailure(reply: FastifyReply, failure: Failure, format: BodyFormat): FastifyReply {
  reply.code(failure.httpStatus);
  if (failure.retryAfterSeconds !== undefined) reply.header('retry-after', String(failure.retryAfterSeconds));
  if (failure.httpStatus === 401) reply.header('www-authenticate', 'Bearer');
  if (format === 'json') {
    return reply.type(JSON_TYPE).send({ code: failure.grpcCode, message: failure.message });
  }
  const status = protobuf.Writer.create()
    .uint32((1 << 3) | 0)
    .int32(failure.grpcCode)
    .uint32((2 << 3) | 2)
    .string(failure.message)
    .finish();
  return reply.type(PROTOBUF_TYPES[0]).send(Buffer.from(status));
}
