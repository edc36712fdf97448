import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { Logger } from 'pino';
import { EXPORT_METHOD_PATH, encodeExportResponse } from '../protocol/otlp-profiles.ts';
import { failureFromError, invalidArgument, type Failure } from './failure.ts';
import type { IngestPipeline } from './ingest.ts';
import { CertificateWatcher, type CertificatePair } from './certificates.ts';
import type { CollectorMetrics } from './metrics.ts';
import { logListening } from './listening.ts';
import type { GrpcReceiverOptions } from './options.ts';

/**
 * The OTLP profiles gRPC receiver. The service is declared by hand with pass-through (de)serializers: the
 * handler gets the raw message bytes, so decoding happens in the shared pipeline where a malformed message
 * becomes INVALID_ARGUMENT naming the problem (a throwing deserializer would make grpc-js answer a vague
 * INTERNAL). grpc-js does the HTTP/2 framing, gzip decompression and the message-size limit.
 */

const passThrough = (bytes: Buffer): Buffer => bytes;

const profilesService: grpc.ServiceDefinition = {
  Export: {
    path: EXPORT_METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};

const EMPTY_RESPONSE = Buffer.from(encodeExportResponse({}));

export interface GrpcReceiver {
  /** Binds and resolves with `host:port`. */
  start(): Promise<string>;
  /** Stops accepting; in-flight calls finish unless `timeoutMs` passes first. */
  stop(timeoutMs: number): Promise<void>;
  readonly listening: boolean;
}

export function createGrpcReceiver(
  options: GrpcReceiverOptions,
  pipeline: IngestPipeline,
  metrics: CollectorMetrics,
  logger: Logger,
): GrpcReceiver {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    interceptors: [namingTransportErrors(options.maxMessageBytes, pipeline)],
  });
  server.addService(profilesService, { Export: exportHandler(pipeline, metrics) });
  let listening = false;
  let certificates: CertificateWatcher | undefined;

  return {
    get listening() {
      return listening;
    },
    async start() {
      let credentials = grpc.ServerCredentials.createInsecure();
      if (options.tls) {
        certificates = new CertificateWatcher(options.tls, 'collector.grpc.tls', logger);
        credentials = new WatchedServerCredentials(certificates);
      }
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${options.host}:${options.port}`, credentials, (error, bound) =>
          error
            ? reject(new Error(`cannot listen for gRPC on ${options.host}:${options.port}: ${error.message}`))
            : resolve(bound),
        ),
      );
      listening = true;
      const address = `${formatHost(options.host)}:${port}`;
      logListening(logger, 'collector.grpc', { host: options.host, port, tls: Boolean(options.tls) });
      return address;
    },
    async stop(timeoutMs) {
      certificates?.close();
      if (!listening) return;
      listening = false;
      const graceful = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const timer = setTimeout(() => {
        logger.warn({ timeoutMs }, 'gRPC calls still running at the shutdown deadline; cancelling them');
        server.forceShutdown();
      }, timeoutMs);
      await graceful;
      clearTimeout(timer);
    },
  };
}

function exportHandler(
  pipeline: IngestPipeline,
  metrics: CollectorMetrics,
): grpc.handleUnaryCall<Buffer, Buffer> {
  return (call, callback) => {
    const startedAt = performance.now();
    metrics.receivedBytes.inc({ transport: 'grpc' }, call.request.byteLength);
    const authorization = call.metadata.get('authorization').find((value) => typeof value === 'string');
    void pipeline
      .handle({
        transport: 'grpc',
        body: call.request,
        format: 'protobuf',
        authorization,
        startedAt,
        peerIp: peerIp(call.getPeer()),
        abandoned: () => call.cancelled,
        deadline: deadlineOf(call.getDeadline()),
      })
      .then((result) => {
        if (result.ok) callback(null, EMPTY_RESPONSE);
        else callback(statusOf(result.failure));
      })
      .catch((error: unknown) => callback(statusOf(failureFromError(error))));
  };
}

/** A call's deadline as a Date.now() time; undefined when the client set none (grpc-js says Infinity). */
function deadlineOf(deadline: grpc.Deadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/** grpc-js names the peer `1.2.3.4:port` or `[::1]:port`; the host part is what translation wants. */
function peerIp(peer: string): string | undefined {
  const match = /^(?:ipv[46]:)?\[?([^\]]*?)\]?:\d+$/.exec(peer);
  return match?.[1] || undefined;
}

function statusOf(failure: Failure): grpc.ServerErrorResponse {
  const error: grpc.ServerErrorResponse = Object.assign(new Error(failure.message), {
    code: failure.grpcCode,
    details: failure.message,
  });
  if (failure.retryAfterSeconds !== undefined) {
    // OTLP exporters retry RESOURCE_EXHAUSTED only when the status carries a RetryInfo; without it they drop.
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', retryStatusDetails(failure));
    error.metadata = metadata;
  }
  return error;
}

/** google.rpc.Status { code, message, details: [Any(google.rpc.RetryInfo { retry_delay })] }, hand-encoded. */
function retryStatusDetails(failure: Failure): Buffer {
  const tag = (field: number, wireType: number) => (field << 3) | wireType;
  const duration = protobuf.Writer.create()
    .uint32(tag(1, 0))
    .int64(failure.retryAfterSeconds ?? 0)
    .finish();
  const retryInfo = protobuf.Writer.create().uint32(tag(1, 2)).bytes(duration).finish();
  const any = protobuf.Writer.create()
    .uint32(tag(1, 2))
    .string('type.googleapis.com/google.rpc.RetryInfo')
    .uint32(tag(2, 2))
    .bytes(retryInfo)
    .finish();
  const status = protobuf.Writer.create()
    .uint32(tag(1, 0))
    .int32(failure.grpcCode)
    .uint32(tag(2, 2))
    .string(failure.message)
    .uint32(tag(3, 2))
    .bytes(any)
    .finish();
  return Buffer.from(status);
}

/**
 * grpc-js refuses oversized and undecompressable messages itself, before any handler runs, with terse
 * statuses (RESOURCE_EXHAUSTED "Received message larger than max", INTERNAL "Failed to decompress message").
 * This interceptor sits on each call's own status path — the base call sends those statuses through the
 * method we wrap — and turns them into answers that name the problem, counted like every other refusal.
 *
 * The size limit stays grpc-js' own (`grpc.max_receive_message_length` = our limit) because it is enforced
 * with bounded memory: the 5-byte frame header's declared length is checked before any of the message is
 * buffered, and gunzip output is counted chunk by chunk and abandoned once past the limit (no zip bomb).
 * Checking in our handler instead would need the limit off (-1), i.e. unbounded buffering and inflation.
 */
function namingTransportErrors(maxBytes: number, pipeline: IngestPipeline): grpc.ServerInterceptor {
  return (_method, call) => {
    const startedAt = performance.now();
    let answered = false;
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      const failure = answered ? undefined : transportFailure(status, maxBytes);
      answered = true;
      if (!failure) return sendStatus(status);
      pipeline.rejected('grpc', startedAt, failure);
      sendStatus({ ...status, code: failure.grpcCode, details: failure.message });
    };
    return new grpc.ServerInterceptingCall(call);
  };
}

type CallStatus = Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0];

/** Recognises grpc-js' own refusals by their texts (grpc-js 1.14; the tests fail if they change). */
function transportFailure(status: CallStatus, maxBytes: number): Failure | undefined {
  const details = status.details ?? '';
  if (status.code === grpc.status.INTERNAL && details.startsWith('Failed to decompress')) {
    return invalidArgument(
      'bad_compression',
      'request body could not be decompressed: it is not valid data for its grpc-encoding (gzip)',
    );
  }
  if (status.code === grpc.status.RESOURCE_EXHAUSTED && details.startsWith('Received message')) {
    return tooLarge(details, maxBytes);
  }
  if (status.code === grpc.status.UNIMPLEMENTED && details.includes('unsupported encoding')) {
    return {
      ...invalidArgument('unsupported_encoding', `${details}; use gzip or none`),
      grpcCode: grpc.status.UNIMPLEMENTED,
    };
  }
  return undefined;
}

/**
 * Bad input like any other, so INVALID_ARGUMENT / 400 as on OTLP/HTTP (not grpc-js' RESOURCE_EXHAUSTED, which
 * reads as "busy, retry later"). A frame over the limit has its declared size; a message that inflates past
 * the limit was abandoned there, so only "more than" the limit is known.
 */
function tooLarge(details: string, maxBytes: number): Failure {
  const declared = /larger than max \((\d+) vs/.exec(details)?.[1];
  const size = declared ? `the message is ${declared} bytes as sent, over` : 'it decompresses to more than';
  return invalidArgument(
    'too_large',
    `export request too large: ${size} the collector's limit of ${maxBytes} bytes ` +
      '(collector.grpc.maxMessageBytes); send smaller batches',
  );
}

/**
 * TLS credentials that follow the certificate files: grpc-js re-reads the secure context of credentials whose
 * options change (its documented extension point, `updateSecureContextOptions`), so new connections get a renewed
 * certificate without a restart.
 */
class WatchedServerCredentials extends grpc.ServerCredentials {
  constructor(certificates: CertificateWatcher) {
    super({}, contextOptions(certificates.current));
    certificates.subscribe((pair) => this.updateSecureContextOptions(contextOptions(pair)));
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return this === other;
  }
}

function contextOptions(pair: CertificatePair): { cert: Buffer[]; key: Buffer[] } {
  return { cert: [pair.cert], key: [pair.key] };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
