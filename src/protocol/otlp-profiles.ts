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
  const view = decodeExportRequestView(bytes);
  return { request: lazyRequest(bytes, view), revision: view.revision };
}

/**
 * The columnar decoding of a binary request, in the given wire revision or else the one its samples show:
 * read as the current one, and read again as the previous one if the first sample field that tells them
 * apart says so (a request of the previous revision may not even parse as the current one). Throws
 * InvalidRequestError for malformed bytes.
 */
export function decodeExportRequestView(bytes: Uint8Array, revision?: WireRevision): RequestView {
  if (revision) return new ViewDecoder(bytes, revision, schema).decode();
  const decoder = new ViewDecoder(bytes, 'current', schema);
  try {
    const view = decoder.decode();
    if (decoder.revisionSeen !== 'previous') return view;
  } catch (error) {
    if (decoder.revisionSeen !== 'previous') throw error;
  }
  return new ViewDecoder(bytes, 'previous', schema).decode();
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
