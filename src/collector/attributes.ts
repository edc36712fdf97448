/**
 * Attribute names the agent uses (OpenTelemetry semantic conventions) and the value → text rules the
 * Universal Profiling documents need.
 */
import { InvalidRequestError } from '../protocol/errors.ts';
import { toInt64 } from '../protocol/int64.ts';
import type { AnyValue } from '../protocol/types.ts';

export const Attr = {
  frameType: 'profile.frame.type',
  fileId: 'process.executable.build_id.htlhash',
  gnuBuildId: 'process.executable.build_id.gnu',
  goBuildId: 'process.executable.build_id.go',
  threadName: 'thread.name',
  threadId: 'thread.id',
  cpu: 'cpu.logical_number',
  processPid: 'process.pid',
  executableName: 'process.executable.name',
  executablePath: 'process.executable.path',
  containerId: 'container.id',
  containerName: 'container.name',
  podName: 'k8s.pod.name',
  namespace: 'k8s.namespace.name',
  serviceName: 'service.name',
  hostId: 'host.id',
  hostName: 'host.name',
  hostIp: 'host.ip',
  hostArch: 'host.arch',
  osKernel: 'os.kernel',
  osVersion: 'os.version',
  osDescription: 'os.description',
  osType: 'os.type',
  projectId: 'profiling.project.id',
  /** Prefix of the custom labels a process attaches to its samples (e.g. Go pprof labels): become tags. */
  labelPrefix: 'process.context.label.',
} as const;

/** Resource attributes that describe the host rather than the process: they go into host metadata. */
export const HOST_ATTRIBUTE_PREFIXES = ['host.', 'os.', 'cloud.', 'k8s.node.', 'k8s.cluster.', 'profiling.'];

/**
 * An attribute value as text. Strings may be given by reference into the string table (`string_value_strindex`),
 * which is checked here like every other index.
 */
export function anyValueText(
  value: AnyValue | null | undefined,
  strings: readonly string[],
  where: string,
): string {
  if (!value) return '';
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue;
  if (value.stringValueStrindex !== undefined && value.stringValueStrindex !== null) {
    return stringAt(strings, value.stringValueStrindex, `${where}.string_value_strindex`);
  }
  if (value.intValue !== undefined && value.intValue !== null) return toInt64(value.intValue).toString();
  if (value.boolValue !== undefined && value.boolValue !== null) return String(value.boolValue);
  if (value.doubleValue !== undefined && value.doubleValue !== null) return String(value.doubleValue);
  if (value.bytesValue) return Buffer.from(value.bytesValue).toString('base64');
  if (value.arrayValue) {
    const items = value.arrayValue.values ?? [];
    return items.map((item, i) => anyValueText(item, strings, `${where}.array_value[${i}]`)).join(',');
  }
  if (value.kvlistValue) {
    const items = value.kvlistValue.values ?? [];
    return items
      .map((kv, i) => `${kv.key ?? ''}=${anyValueText(kv.value, strings, `${where}.kvlist[${i}]`)}`)
      .join(',');
  }
  return '';
}

/** Reads a string table entry or rejects the request naming the field that pointed at it. */
export function stringAt(strings: readonly string[], index: number, where: string): string {
  const text = strings[index];
  if (text === undefined || !Number.isInteger(index)) {
    throw missingEntry('string_table', strings.length, index, where);
  }
  return text;
}

/** The error for an index that points past the end of (or before) a dictionary table. */
export function missingEntry(
  table: string,
  length: number,
  index: number,
  where: string,
): InvalidRequestError {
  if (length === 0) {
    return new InvalidRequestError(
      'missing_dictionary_entry',
      `${where} refers to dictionary.${table}[${index}], but the request has no ${table}`,
    );
  }
  return new InvalidRequestError(
    'index_out_of_range',
    `${where} = ${index} is out of range: dictionary.${table} has ${length} entries`,
  );
}
