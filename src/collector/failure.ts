import { status as GrpcStatus } from '@grpc/grpc-js';
import { InvalidRequestError } from '../protocol/errors.ts';
import { StoreBusyError, StoreUnavailableError } from '../store/store.ts';

/**
 * Why an export request was not acknowledged, in the terms both transports answer with. One table keeps the
 * gRPC code, the HTTP status and the metrics label of each kind of failure in step.
 */
export interface Failure {
  grpcCode: GrpcStatus;
  httpStatus: number;
  /** Stable label for `rejects_total{reason}`. */
  reason: string;
  /** Sent to the client: says what was wrong. */
  message: string;
  /** For busy / unavailable: when the client should try again. */
  retryAfterSeconds?: number;
}

const RETRY_AFTER_SECONDS = 5;

export function invalidArgument(reason: string, message: string): Failure {
  return { grpcCode: GrpcStatus.INVALID_ARGUMENT, httpStatus: 400, reason, message };
}

export function unauthenticated(message: string): Failure {
  return { grpcCode: GrpcStatus.UNAUTHENTICATED, httpStatus: 401, reason: 'unauthenticated', message };
}

export function shuttingDown(): Failure {
  return {
    grpcCode: GrpcStatus.UNAVAILABLE,
    httpStatus: 503,
    reason: 'shutting_down',
    message: 'the collector is shutting down; retry against another instance or after restart',
    retryAfterSeconds: RETRY_AFTER_SECONDS,
  };
}

/** The client gave up (its deadline passed, or it went away) while the request waited to be admitted. */
export function abandoned(): Failure {
  return {
    grpcCode: GrpcStatus.DEADLINE_EXCEEDED,
    httpStatus: 408,
    reason: 'abandoned',
    message: 'the client stopped waiting before the request was admitted; nothing was stored',
  };
}

/** Maps anything the decode → translate → store pipeline threw. */
export function failureFromError(error: unknown): Failure {
  if (error instanceof InvalidRequestError) return invalidArgument(error.reason, error.message);
  if (error instanceof StoreBusyError) {
    return {
      grpcCode: GrpcStatus.RESOURCE_EXHAUSTED,
      httpStatus: 429,
      reason: 'store_busy',
      message: `store busy: ${error.message}`,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    };
  }
  if (error instanceof StoreUnavailableError) {
    return {
      grpcCode: GrpcStatus.UNAVAILABLE,
      httpStatus: 503,
      reason: 'store_unavailable',
      message: `store unavailable: ${error.message}`,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return {
    grpcCode: GrpcStatus.INTERNAL,
    httpStatus: 500,
    reason: 'internal',
    message: `internal error: ${detail}`,
  };
}

/** Lower-case gRPC status name (`invalid_argument`), the `status` label of `requests_total`. */
export function statusLabel(code: GrpcStatus): string {
  return (GrpcStatus[code] ?? `code_${code}`).toLowerCase();
}
