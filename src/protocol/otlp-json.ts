/**
 * OTLP/JSON → the plain-object form protobufjs's fromObject takes, checking every value on the way.
 * fromObject alone coerces silently ("abc" becomes 0), so bad JSON would be stored as zeros; here each field
 * is checked against the schema and the first wrong one is named by its path.
 *
 * OTLP/JSON rules applied: lowerCamelCase names (the proto names are accepted too), 64-bit integers as decimal
 * strings (or numbers when exact), bytes as base64 except trace, span and profile IDs, which are hex;
 * unknown fields are ignored so newer senders still get through.
 */
import protobuf from 'protobufjs';
import { InvalidRequestError } from './errors.ts';

type Plain = Record<string, unknown>;

const HEX_BYTES_FIELDS = new Set(['traceId', 'spanId', 'profileId']);
const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32_TYPES = new Set(['uint32', 'fixed32']);
const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64_TYPES = new Set(['uint64', 'fixed64']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function fail(path: string, problem: string): never {
  throw new InvalidRequestError('bad_json', `invalid OTLP/JSON at ${path || '(root)'}: ${problem}`);
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return typeof value;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Deepest message nesting accepted. The schema's own nesting is a dozen levels; only attribute values
 * (arrays and key-value lists of values) nest without end, and a request nesting them thousands deep would
 * exhaust the stack of this recursive conversion (and of protobufjs after it).
 */
export const MAX_JSON_DEPTH = 64;

export function jsonToMessageObject(type: protobuf.Type, json: unknown, path: string, depth = 0): Plain {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    fail(path, `expected an object, got ${show(json)}`);
  }
  if (depth > MAX_JSON_DEPTH) fail(path, `messages nested more than ${MAX_JSON_DEPTH} levels deep`);
  const out: Plain = {};
  const oneofSeen = new Map<string, string>();
  for (const [rawKey, value] of Object.entries(json as Plain)) {
    const key = rawKey.includes('_') ? camelCase(rawKey) : rawKey;
    const field = type.fields[key];
    if (!field || value === null) continue;
    const fieldPath = path ? `${path}.${key}` : key;
    if (field.partOf) {
      const other = oneofSeen.get(field.partOf.name);
      if (other) fail(fieldPath, `only one of ${other} and ${key} may be set`);
      oneofSeen.set(field.partOf.name, key);
    }
    out[key] = field.repeated
      ? convertList(field, value, fieldPath, depth)
      : convertValue(field, value, fieldPath, depth);
  }
  return out;
}

function convertList(field: protobuf.Field, value: unknown, path: string, depth: number): unknown[] {
  if (!Array.isArray(value)) fail(path, `expected an array, got ${show(value)}`);
  const result = new Array<unknown>(value.length);
  for (let i = 0; i < value.length; i++) result[i] = convertValue(field, value[i], `${path}[${i}]`, depth);
  return result;
}

function convertValue(field: protobuf.Field, value: unknown, path: string, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return jsonToMessageObject(resolved, value, path, depth + 1);
  if (resolved instanceof protobuf.Enum) return convertEnum(resolved, value, path);
  const type = field.type;
  if (INT32_TYPES.has(type)) return integer(value, path, -(2 ** 31), 2 ** 31 - 1);
  if (UINT32_TYPES.has(type)) return integer(value, path, 0, 2 ** 32 - 1);
  if (INT64_TYPES.has(type)) return integer64(value, path, INT64_MIN, INT64_MAX);
  if (UINT64_TYPES.has(type)) return integer64(value, path, 0n, UINT64_MAX);
  switch (type) {
    case 'bool':
      if (typeof value !== 'boolean') fail(path, `expected true or false, got ${show(value)}`);
      return value;
    case 'string':
      if (typeof value !== 'string') fail(path, `expected a string, got ${show(value)}`);
      return value;
    case 'double':
    case 'float':
      return floating(value, path);
    case 'bytes':
      return bytes(value, path, HEX_BYTES_FIELDS.has(field.name));
    default:
      return fail(path, `unsupported field type ${type}`);
  }
}

function convertEnum(type: protobuf.Enum, value: unknown, path: string): number {
  if (typeof value === 'string' && value in type.values) return type.values[value];
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  return fail(path, `expected a ${type.name} value, got ${show(value)}`);
}

function integer(value: unknown, path: string, min: number, max: number): number {
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    fail(path, `expected an integer in [${min}, ${max}], got ${show(value)}`);
  }
  return number;
}

/** Kept as a decimal string: protobufjs turns it into a Long without losing bits. */
function integer64(value: unknown, path: string, min: bigint, max: bigint): string {
  let big: bigint | undefined;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) big = BigInt(value);
  else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
  if (big === undefined) {
    fail(path, `expected a 64-bit integer (decimal string, or a number below 2^53), got ${show(value)}`);
  }
  if (big < min || big > max) fail(path, `${show(value)} is out of range`);
  return big.toString();
}

function floating(value: unknown, path: string): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return fail(path, `expected a number, got ${show(value)}`);
}

function bytes(value: unknown, path: string, hexAllowed: boolean): Uint8Array {
  if (typeof value !== 'string') fail(path, `expected a base64 string, got ${show(value)}`);
  if (hexAllowed && /^(?:[0-9a-fA-F]{2})*$/.test(value) && (value.length === 32 || value.length === 16)) {
    return Buffer.from(value, 'hex');
  }
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value) || value.replace(/=+$/, '').length % 4 === 1) {
    fail(path, `expected base64, got ${show(value)}`);
  }
  return Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
}
