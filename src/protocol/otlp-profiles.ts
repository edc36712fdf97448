/**
 * OTLP profiles export messages: binary protobuf and OTLP/JSON decoding, and encoding for the load generator
 * and tests. The schema is our own .proto transcription under ./proto, loaded once with protobufjs.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { InvalidRequestError } from './errors.ts';
import type { ExportProfilesServiceRequest, ExportProfilesServiceResponse, WireRevision } from './types.ts';
import { jsonToMessageObject } from './otlp-json.ts';
import { ViewDecoder, type RequestView } from './view.ts';

/** The gRPC method the agent calls. */
export const EXPORT_METHOD_PATH =
  '/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export';
export const PROFILES_SERVICE_NAME = 'opentelemetry.proto.collector.profiles.v1development.ProfilesService';
/** The OTLP/HTTP path for profiles (the OTLP convention for development signals). */
export const OTLP_HTTP_PROFILES_PATH = '/v1development/profiles';

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'proto');
const PROTO_FILES = [
  'opentelemetry/proto/collector/profiles/v1development/profiles_service.proto',
  'uniprof/previous_revision.proto',
];

function loadSchema(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync(PROTO_FILES, { keepCase: false });
  root.resolveAll();
  return root;
}

const root = loadSchema();
const collectorPackage = 'opentelemetry.proto.collector.profiles.v1development';
export const schema = {
  root,
  request: root.lookupType(`${collectorPackage}.ExportProfilesServiceRequest`),
  response: root.lookupType(`${collectorPackage}.ExportProfilesServiceResponse`),
  previousRequest: root.lookupType('uniprof.previous_revision.ExportProfilesServiceRequest'),
  anyValue: root.lookupType('opentelemetry.proto.common.v1.AnyValue'),
  resource: root.lookupType('opentelemetry.proto.resource.v1.Resource'),
  scope: root.lookupType('opentelemetry.proto.common.v1.InstrumentationScope'),
};

const VIEW = Symbol('uniprof.requestView');

export interface DecodedRequest {
  request: ExportProfilesServiceRequest;
  revision: WireRevision;
}

/**
 * Decodes a binary ExportProfilesServiceRequest. Throws InvalidRequestError (reason `malformed_protobuf`) when
 * the bytes are not a valid message.
 */
export function decodeExportRequest(bytes: Uint8Array): ExportProfilesServiceRequest {
  return decodeExportRequestWithRevision(bytes).request;
}

/**
 * Like decodeExportRequest, and also says which wire revision the request was sent in.
 *
 * The bytes are decoded once into the columnar view the translator reads (see view.ts), which also checks the
 * whole wire format. The returned object materializes its nested fields with protobufjs only when they are
 * first read, so the ingest path (decode, then translate) never builds per-sample objects.
 */
export function decodeExportRequestWithRevision(bytes: Uint8Array): DecodedRequest {
  const revision = detectWireRevision(bytes);
  const view = decodeExportRequestView(bytes, revision);
  return { request: lazyRequest(bytes, view), revision };
}

/** The columnar decoding of a binary request. Throws InvalidRequestError for malformed bytes. */
export function decodeExportRequestView(
  bytes: Uint8Array,
  revision = detectWireRevision(bytes),
): RequestView {
  return new ViewDecoder(bytes, revision, schema).decode();
}

/**
 * The columnar view of a request: the one decoded with it when the request came from decodeExportRequest,
 * otherwise (JSON, requests built in code) made by encoding and decoding it again.
 */
export function requestView(request: ExportProfilesServiceRequest): RequestView {
  const attached = (request as { [VIEW]?: RequestView })[VIEW];
  if (attached) return attached;
  return decodeExportRequestView(encodeExportRequest(request), 'current');
}

function lazyRequest(bytes: Uint8Array, view: RequestView): ExportProfilesServiceRequest {
  let decoded: ExportProfilesServiceRequest | undefined;
  const full = (): ExportProfilesServiceRequest => {
    if (!decoded) {
      const type = view.revision === 'previous' ? schema.previousRequest : schema.request;
      try {
        decoded = type.decode(bytes) as unknown as ExportProfilesServiceRequest;
      } catch (error) {
        throw new InvalidRequestError('malformed_protobuf', `malformed protobuf: ${describe(error)}`);
      }
    }
    return decoded;
  };
  const request = {} as ExportProfilesServiceRequest;
  Object.defineProperty(request, VIEW, { value: view, enumerable: false });
  Object.defineProperty(request, 'resourceProfiles', {
    get: () => full().resourceProfiles,
    enumerable: true,
  });
  Object.defineProperty(request, 'dictionary', { get: () => full().dictionary, enumerable: true });
  return request;
}

/**
 * Decodes an OTLP/JSON request body that has already been parsed with JSON.parse. Throws InvalidRequestError
 * (reason `bad_json`) naming the path of the first offending field.
 */
export function decodeExportRequestJson(json: unknown): ExportProfilesServiceRequest {
  const plain = jsonToMessageObject(schema.request, json, '');
  try {
    return schema.request.fromObject(plain) as unknown as ExportProfilesServiceRequest;
  } catch (error) {
    throw new InvalidRequestError('bad_json', `invalid OTLP/JSON: ${describe(error)}`);
  }
}

/** Encodes a request (current revision unless told otherwise; the previous one is for compatibility tests). */
export function encodeExportRequest(
  request: ExportProfilesServiceRequest,
  revision: WireRevision = 'current',
): Uint8Array {
  const type = revision === 'previous' ? schema.previousRequest : schema.request;
  return type.encode(request as protobuf.Message).finish();
}

export function encodeExportResponse(response: ExportProfilesServiceResponse = {}): Uint8Array {
  return schema.response.encode(response as protobuf.Message).finish();
}

export function decodeExportResponse(bytes: Uint8Array): ExportProfilesServiceResponse {
  try {
    return schema.response.decode(bytes) as unknown as ExportProfilesServiceResponse;
  } catch (error) {
    throw new InvalidRequestError('malformed_protobuf', `malformed protobuf response: ${describe(error)}`);
  }
}

/** The OTLP/JSON form of a response (64-bit integers as strings). */
export function exportResponseJson(response: ExportProfilesServiceResponse = {}): Record<string, unknown> {
  const partial = response.partialSuccess;
  if (!partial) return {};
  return {
    partialSuccess: {
      rejectedProfiles: String(partial.rejectedProfiles ?? 0),
      errorMessage: partial.errorMessage ?? '',
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/**
 * The previous revision numbered Sample's fields differently (values = 2, attribute_indices = 3,
 * link_index = 4; now attribute_indices = 2, link_index = 3, values = 4). Both packed lists share wire type 2,
 * so the wire types of fields 3 and 4 tell the revisions apart: the first sample that has either decides.
 * A request where no sample has them is read as the current revision. Malformed input is left for the real
 * decoder to reject.
 */
export function detectWireRevision(bytes: Uint8Array): WireRevision {
  try {
    return scanFields(protobuf.Reader.create(bytes), bytes.length, 0) ?? 'current';
  } catch {
    return 'current';
  }
}

/** Field numbers to descend through: request → resource_profiles(1) → scope_profiles(2) → profiles(2) → samples(2). */
const PATH_TO_SAMPLES = [1, 2, 2, 2];

function scanFields(reader: protobuf.Reader, end: number, depth: number): WireRevision | undefined {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (depth === PATH_TO_SAMPLES.length) {
      const verdict = sampleFieldVerdict(field, wireType);
      if (verdict) return verdict;
      reader.skipType(wireType);
      continue;
    }
    if (field === PATH_TO_SAMPLES[depth] && wireType === WIRE_LEN) {
      const length = reader.uint32();
      const verdict = scanFields(reader, reader.pos + length, depth + 1);
      if (verdict) return verdict;
      continue;
    }
    reader.skipType(wireType);
  }
  return undefined;
}

function sampleFieldVerdict(field: number, wireType: number): WireRevision | undefined {
  if (field === 3)
    return wireType === WIRE_LEN ? 'previous' : wireType === WIRE_VARINT ? 'current' : undefined;
  if (field === 4)
    return wireType === WIRE_VARINT ? 'previous' : wireType === WIRE_LEN ? 'current' : undefined;
  return undefined;
}
