import type { Logger } from 'pino';
import type { RequestRecorder } from './recorder.ts';
import { InvalidRequestError } from '../protocol/errors.ts';
import {
  decodeExportRequest,
  decodeExportRequestJson,
  encodeExportRequest,
} from '../protocol/otlp-profiles.ts';
import type { ExportProfilesServiceRequest } from '../protocol/types.ts';
import { eventCount, type ProfileBatch } from '../model/index.ts';
import type { Admission, AdmissionGate } from './admission.ts';
import type { AgentAuthenticator } from './auth.ts';
import {
  abandoned,
  failureFromError,
  shuttingDown,
  statusLabel,
  unauthenticated,
  type Failure,
} from './failure.ts';
import type { StoredIds } from './dedup.ts';
import type { CollectorMetrics, Transport } from './metrics.ts';
import type { WriteQueue } from './write-queue.ts';

export type BodyFormat = 'protobuf' | 'json';

/**
 * OTLP → model translation, keeping its dedup caches between requests (ProfileTranslator in translate.ts).
 * `commit()` tells it the batch is durable, so later batches may leave out what this one carried.
 */
export interface Translator {
  translate(
    request: ExportProfilesServiceRequest,
    context: { peer?: { hostIp?: string } },
  ): { batch: ProfileBatch; samples: number; commit(): void };
  /** Forgets that these rows are stored: later batches carry them again where they name them. */
  forget?(ids: StoredIds): void;
}

/** One export request as a receiver hands it over, whatever the transport. */
export interface ExportCall {
  transport: Transport;
  /** The decompressed message. */
  body: Uint8Array;
  format: BodyFormat;
  /** The `authorization` header / metadata value, if the client sent one. */
  authorization: string | undefined;
  /** performance.now() when the request arrived, for the latency histogram. */
  startedAt: number;
  /** The client's IP address: the host's address when the request names no host (the standalone agent). */
  peerIp?: string;
  /** True once nobody waits for the answer any more (the call's deadline passed, the client went away). */
  abandoned?: () => boolean;
  /** When the client stops waiting for the answer (Date.now() time: its gRPC deadline), if it said. */
  deadline?: number;
}

/** Time kept back from a request's deadline for translating and storing it once admitted. */
const STORE_TIME_MS = 1000;

export type ExportResult = { ok: true; samples: number } | { ok: false; failure: Failure };

/**
 * decode → translate → store, shared by the gRPC and HTTP receivers so that both answer the same input the
 * same way and every outcome is counted once. A request is acknowledged only after the store reported its
 * batch durable; anything wrong with it rejects the whole request before the store sees any of it.
 */
export class IngestPipeline {
  private stopping = false;
  /** Requests between translation and commit: they may leave out what the translator believed stored. */
  private readonly translated = new Set<Promise<unknown>>();

  constructor(
    private readonly deps: {
      auth: AgentAuthenticator;
      translator: Translator;
      /** Waits a request's translation while batches full of new stacks are on their way to the store. */
      admission: AdmissionGate;
      queue: WriteQueue;
      metrics: CollectorMetrics;
      logger: Logger;
      /** Keeps a copy of each acknowledged request (collector.record); absent unless configured. */
      recorder?: RequestRecorder;
    },
  ) {}

  /** From now on every request is refused with UNAVAILABLE (the receivers are closing). */
  beginShutdown(): void {
    this.stopping = true;
  }

  /**
   * Before the store deletes rows no event references (retention): forgets that they are stored and waits for
   * the requests translated before, so that no batch written afterwards leaves out a row the store deleted.
   */
  async forgetStored(ids: StoredIds): Promise<void> {
    this.deps.translator.forget?.(ids);
    await Promise.allSettled([...this.translated]);
  }

  /** Checks the token alone: HTTP calls this before reading the body. */
  authenticate(authorization: string | undefined): Failure | undefined {
    const verdict = this.deps.auth.verify(authorization);
    return verdict.ok ? undefined : unauthenticated(verdict.message);
  }

  async handle(call: ExportCall): Promise<ExportResult> {
    const refused = this.stopping ? shuttingDown() : this.authenticate(call.authorization);
    if (refused) return this.rejected(call.transport, call.startedAt, refused);
    let admission: Admission | undefined;
    try {
      admission = await this.deps.admission.admit(
        call.deadline === undefined ? undefined : call.deadline - Date.now() - STORE_TIME_MS,
      );
      // Shutdown may have begun while the request waited for its turn.
      if (this.stopping) return this.rejected(call.transport, call.startedAt, shuttingDown());
      // The agent drops the data of a call past its deadline: translating and storing it would only delay the
      // requests behind it until they expire too (a backlog of dead requests never drains).
      if (call.abandoned?.()) return this.rejected(call.transport, call.startedAt, abandoned());
      const request = decode(call.body, call.format);
      const peer = call.peerIp ? { hostIp: call.peerIp } : undefined;
      const { batch, samples, commit } = this.deps.translator.translate(request, { peer });
      admission.charge(newItems(batch));
      const stored = this.deps.queue.submit(batch).then(
        // Only now may later batches leave out what this one carried: it is durable.
        () => commit(),
      );
      this.translated.add(stored);
      try {
        await stored;
      } finally {
        this.translated.delete(stored);
      }
      // Recorded as protobuf whatever the transport sent, so a recording is one format to replay.
      this.deps.recorder?.record(call.format === 'protobuf' ? call.body : encodeExportRequest(request));
      this.deps.metrics.samples.inc(samples);
      this.deps.metrics.events.inc(eventCount(batch));
      this.deps.metrics.recordRequest(call.transport, 'ok', secondsSince(call.startedAt));
      this.deps.logger.debug(
        { transport: call.transport, samples, events: eventCount(batch), bytes: call.body.byteLength },
        'export stored',
      );
      return { ok: true, samples };
    } catch (error) {
      return this.rejected(call.transport, call.startedAt, failureFromError(error), error);
    } finally {
      admission?.release();
    }
  }

  /** Counts and logs a refusal, whichever layer found it. */
  rejected(transport: Transport, startedAt: number, failure: Failure, cause?: unknown): ExportResult {
    const { metrics, logger } = this.deps;
    metrics.recordReject(transport, failure.reason);
    metrics.recordRequest(transport, statusLabel(failure.grpcCode), secondsSince(startedAt));
    const fields = { transport, reason: failure.reason, status: statusLabel(failure.grpcCode) };
    if (failure.reason === 'internal') logger.error({ ...fields, err: cause }, failure.message);
    else logger.warn(fields, `export refused: ${failure.message}`);
    return { ok: false, failure };
  }
}

function decode(body: Uint8Array, format: BodyFormat): ExportProfilesServiceRequest {
  if (format === 'protobuf') return decodeExportRequest(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (error) {
    throw new InvalidRequestError('bad_json', `request body is not JSON: ${(error as Error).message}`);
  }
  return decodeExportRequestJson(parsed);
}

/** What a batch carries that the store does not hold yet: the cold path's cost, in items. */
function newItems(batch: ProfileBatch): number {
  return (
    batch.stackTraces.length +
    batch.stackFrames.length +
    batch.executables.length +
    (batch.pendingFrames?.length ?? 0)
  );
}

function secondsSince(startedAt: number): number {
  return (performance.now() - startedAt) / 1000;
}
