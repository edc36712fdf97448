import { MAX_SAMPLING_LEVEL } from '../../model/index.ts';
import { SYMBOLIZATION_SCHEMA_SQL } from './symbolization-schema.ts';

/** 3: events name their stack trace by `stack_no` (see stack-numbers.ts), no longer by its text ID. */
export const SCHEMA_VERSION = 3;

/** One events table per downsampling level, named like the Elasticsearch indices they mirror. */
export function eventsTable(level: number): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_SAMPLING_LEVEL) {
    throw new Error(`sampling level must be 0..${MAX_SAMPLING_LEVEL}, got ${level}`);
  }
  return level === 0 ? 'events_all' : `events_5pow${String(level).padStart(2, '0')}`;
}

export const EVENT_LEVELS = Array.from({ length: MAX_SAMPLING_LEVEL + 1 }, (_, level) => level);

/**
 * Events stay narrow (time, stack, count, dimensions key) because they are most of the rows: everything that
 * describes where a sample came from lives once in `event_dims`, which filters and group-bys join.
 */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS uniprof_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
-- Server-wide settings by name (see SettingsStore); the record is the StoredSetting as JSON.
CREATE TABLE IF NOT EXISTS settings (name VARCHAR PRIMARY KEY, record VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS event_dims (
  id UINTEGER PRIMARY KEY,
  host_id VARCHAR NOT NULL,
  host_name VARCHAR,
  host_ip VARCHAR,
  process_name VARCHAR,
  thread_name VARCHAR,
  container_id VARCHAR,
  container_name VARCHAR,
  pod_name VARCHAR,
  k8s_namespace VARCHAR,
  service_name VARCHAR,
  tags VARCHAR[] NOT NULL,
  project_id INTEGER NOT NULL,
  agent_version VARCHAR,
  os_kernel VARCHAR
);
${EVENT_LEVELS.map(
  (level) =>
    `CREATE TABLE IF NOT EXISTS ${eventsTable(level)} (ts UINTEGER NOT NULL, stack_no UINTEGER NOT NULL, count UINTEGER NOT NULL, dims_id UINTEGER NOT NULL);`,
).join('\n')}
CREATE TABLE IF NOT EXISTS stack_numbers (no UINTEGER NOT NULL, id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS stacktraces (id VARCHAR PRIMARY KEY, frame_ids VARCHAR NOT NULL, frame_types VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS stackframes (
  id VARCHAR PRIMARY KEY,
  function_names VARCHAR[] NOT NULL,
  file_names VARCHAR[] NOT NULL,
  line_numbers INTEGER[] NOT NULL,
  function_offsets INTEGER[] NOT NULL
);
CREATE TABLE IF NOT EXISTS executables (file_id VARCHAR PRIMARY KEY, build_id VARCHAR, file_name VARCHAR NOT NULL, last_seen UINTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
  host_id VARCHAR PRIMARY KEY,
  ts UINTEGER NOT NULL,
  host_name VARCHAR,
  host_ip VARCHAR,
  arch VARCHAR,
  os_kernel VARCHAR,
  agent_version VARCHAR,
  project_id INTEGER NOT NULL,
  attributes VARCHAR NOT NULL
);
CREATE TEMP TABLE IF NOT EXISTS stage_stacktraces (id VARCHAR, frame_ids VARCHAR, frame_types VARCHAR);
CREATE TEMP TABLE IF NOT EXISTS stage_stackframes (
  id VARCHAR, idx UINTEGER, entries UINTEGER, function_name VARCHAR, file_name VARCHAR, line_number INTEGER, function_offset INTEGER
);
${SYMBOLIZATION_SCHEMA_SQL}`;

/** The event fields a filter or group-by may name, as `event_dims` columns. */
export const DIMENSION_COLUMNS = {
  'host.id': 'host_id',
  'host.name': 'host_name',
  'host.ip': 'host_ip',
  'process.executable.name': 'process_name',
  'process.thread.name': 'thread_name',
  'container.id': 'container_id',
  'container.name': 'container_name',
  'orchestrator.resource.name': 'pod_name',
  'k8s.namespace.name': 'k8s_namespace',
  'service.name': 'service_name',
  tags: 'tags',
  'profiling.project.id': 'project_id',
} as const;
