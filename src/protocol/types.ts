/**
 * The decoded shape of an OTLP profiles export request (current wire revision; the previous revision decodes
 * into the same shape). Field names are protobufjs's lowerCamelCase forms of the proto names. Absent message
 * fields read as null or undefined, absent scalars as their zero value, absent repeated fields as [].
 */
import type { Int64 } from './int64.ts';

export interface AnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: Int64 | null;
  doubleValue?: number | null;
  arrayValue?: ArrayValue | null;
  kvlistValue?: KeyValueList | null;
  bytesValue?: Uint8Array | null;
  stringValueStrindex?: number | null;
}

export interface ArrayValue {
  values?: AnyValue[];
}

export interface KeyValueList {
  values?: KeyValue[];
}

export interface KeyValue {
  key?: string;
  value?: AnyValue | null;
  keyStrindex?: number;
}

export interface InstrumentationScope {
  name?: string;
  version?: string;
  attributes?: KeyValue[];
  droppedAttributesCount?: number;
}

export interface EntityRef {
  schemaUrl?: string;
  type?: string;
  idKeys?: string[];
  descriptionKeys?: string[];
}

export interface Resource {
  attributes?: KeyValue[];
  droppedAttributesCount?: number;
  entityRefs?: EntityRef[];
}

export interface ValueType {
  typeStrindex?: number;
  unitStrindex?: number;
}

export interface Sample {
  stackIndex?: number;
  attributeIndices?: number[];
  linkIndex?: number;
  values?: Int64[];
  timestampsUnixNano?: Int64[];
}

export interface Mapping {
  memoryStart?: Int64;
  memoryLimit?: Int64;
  fileOffset?: Int64;
  filenameStrindex?: number;
  attributeIndices?: number[];
}

export interface Stack {
  locationIndices?: number[];
}

export interface Line {
  functionIndex?: number;
  line?: Int64;
  column?: Int64;
}

export interface Location {
  mappingIndex?: number;
  address?: Int64;
  lines?: Line[];
  attributeIndices?: number[];
}

export interface ProfileFunction {
  nameStrindex?: number;
  systemNameStrindex?: number;
  filenameStrindex?: number;
  startLine?: Int64;
}

export interface Link {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
}

export interface KeyValueAndUnit {
  keyStrindex?: number;
  value?: AnyValue | null;
  unitStrindex?: number;
}

export interface ProfilesDictionary {
  mappingTable?: Mapping[];
  locationTable?: Location[];
  functionTable?: ProfileFunction[];
  linkTable?: Link[];
  stringTable?: string[];
  attributeTable?: KeyValueAndUnit[];
  stackTable?: Stack[];
}

export interface Profile {
  sampleType?: ValueType | null;
  samples?: Sample[];
  timeUnixNano?: Int64;
  durationNano?: Int64;
  periodType?: ValueType | null;
  period?: Int64;
  profileId?: Uint8Array;
  droppedAttributesCount?: number;
  originalPayloadFormat?: string;
  originalPayload?: Uint8Array;
  attributeIndices?: number[];
}

export interface ScopeProfiles {
  scope?: InstrumentationScope | null;
  profiles?: Profile[];
  schemaUrl?: string;
}

export interface ResourceProfiles {
  resource?: Resource | null;
  scopeProfiles?: ScopeProfiles[];
  schemaUrl?: string;
}

export interface ExportProfilesServiceRequest {
  resourceProfiles?: ResourceProfiles[];
  dictionary?: ProfilesDictionary | null;
}

export interface ExportProfilesPartialSuccess {
  rejectedProfiles?: Int64;
  errorMessage?: string;
}

export interface ExportProfilesServiceResponse {
  partialSuccess?: ExportProfilesPartialSuccess | null;
}

/** Which wire revision a binary request was decoded as. */
export type WireRevision = 'current' | 'previous';
